//! Fuzz-ish loops with a fixed-seed PRNG: decryption, parsing and request checks never panic.

use base64::Engine as _;
use wechat::callback::crypto::{decrypt, decrypt_message, encrypt_with_random};
use wechat::callback::signature::{msg_signature, signature};
use wechat::callback::{
    open_message, parse_event, AccountConfig, AesKey, CallbackPolicy, CallbackQuery,
};

/// xorshift64*: small, deterministic, good enough to shake inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
    fn bytes_upto(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max);
        self.bytes(len)
    }
    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const APPID: &str = "wx2c2769f8efd9abc2";
const TOKEN: &str = "spamtest";

const SAMPLES: &[&str] = &[
    "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName><CreateTime>1395658920</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>3428411849815982087</MsgID><Status><![CDATA[failed:user block]]></Status></xml>",
    "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1610969440</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe_msg_popup_event]]></Event><SubscribeMsgPopupEvent><List><TemplateId><![CDATA[A]]></TemplateId><SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString><PopupScene>2</PopupScene></List><List><TemplateId>B</TemplateId><SubscribeStatusString>reject</SubscribeStatusString></List></SubscribeMsgPopupEvent></xml>",
    "<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe_msg_sent_event</Event><SubscribeMsgSentEvent><List><TemplateId>T</TemplateId><MsgID>1700827132819554304</MsgID><ErrorCode>0</ErrorCode><ErrorStatus>success</ErrorStatus></List></SubscribeMsgSentEvent></xml>",
    "<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType><Event>subscribe</Event><EventKey>qrscene_1</EventKey></xml>",
    r#"{"ToUserName":"gh_1","FromUserName":"o1","CreateTime":"1620973045","MsgType":"event","Event":"subscribe_msg_change_event","List":[{"TemplateId":"T","SubscribeStatusString":"reject"}]}"#,
];

const XML_PIECES: &[&str] = &[
    "<xml>",
    "</xml>",
    "<List>",
    "</List>",
    "<MsgType>",
    "</MsgType>",
    "event",
    "<Event>",
    "</Event>",
    "subscribe",
    "TEMPLATESENDJOBFINISH",
    "<MsgID>",
    "</MsgID>",
    "<![CDATA[",
    "]]>",
    "&amp;",
    "&#x1F600;",
    "&bad;",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<a/>",
    "\"",
    "'",
    "=",
    " ",
    "\n",
    "9999999999999999999999",
    "-1",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"List\"",
    "\u{feff}",
    "\u{0}",
    "é",
    "<!DOCTYPE x [<!ENTITY e \"e\">]>",
];

#[test]
fn decrypt_random_input_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let key = AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    for i in 0..3000 {
        // Random ciphertext of random length (often block-aligned, to reach unpadding).
        let len = if i % 2 == 0 {
            16 * rng.below(12)
        } else {
            rng.below(200)
        };
        let ct = b64.encode(rng.bytes(len));
        let _ = decrypt(&key, &ct, APPID);
        let _ = decrypt_message(&key, &ct);
        // Random text (not base64 at all).
        let junk = String::from_utf8_lossy(&rng.bytes_upto(64)).into_owned();
        let _ = decrypt(&key, &junk, APPID);
        // A valid ciphertext with a random byte flipped or cut.
        let msg = rng.pick(SAMPLES);
        let random: [u8; 16] = rng.bytes(16).try_into().unwrap();
        let good = encrypt_with_random(&key, &random, msg, APPID);
        let mut raw = b64.decode(&good).unwrap();
        let at = rng.below(raw.len());
        raw[at] ^= 1 << rng.below(8);
        let cut = rng.below(raw.len() + 1);
        let _ = decrypt(&key, &b64.encode(&raw), APPID);
        let _ = decrypt(&key, &b64.encode(&raw[..cut]), APPID);
        let _ = decrypt(&key, &good[..rng.below(good.len() + 1)], APPID);
    }
}

#[test]
fn random_keys_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let len = 40 + rng.below(6);
        let s = String::from_utf8_lossy(&rng.bytes(len)).into_owned();
        let _ = AesKey::from_encoding_aes_key(&s);
        let alnum: String = (0..43)
            .map(|_| {
                let set = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
                char::from(set[rng.below(set.len())])
            })
            .collect();
        let key = AesKey::from_encoding_aes_key(&alnum).expect("any 43 alphanumerics are a key");
        assert_eq!(key.as_bytes().len(), 32);
    }
}

#[test]
fn parse_random_and_truncated_documents_never_panics() {
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for sample in SAMPLES {
        assert!(parse_event(sample).is_ok(), "{sample}");
        for cut in 0..=sample.len() {
            if sample.is_char_boundary(cut) {
                let _ = parse_event(&sample[..cut]);
                let _ = parse_event(&sample[cut..]);
            }
        }
    }
    for _ in 0..5000 {
        // Random bytes.
        let junk = String::from_utf8_lossy(&rng.bytes_upto(120)).into_owned();
        let _ = parse_event(&junk);
        // Random soup of XML/JSON pieces.
        let soup: String = (0..rng.below(40)).map(|_| rng.pick(XML_PIECES)).collect();
        let _ = parse_event(&soup);
        // A valid sample with one random byte changed.
        let mut bytes = rng.pick(SAMPLES).as_bytes().to_vec();
        let at = rng.below(bytes.len());
        bytes[at] = rng.next() as u8;
        let _ = parse_event(&String::from_utf8_lossy(&bytes));
        // A valid sample with a random piece inserted.
        let sample = rng.pick(SAMPLES);
        let mut at = rng.below(sample.len());
        while !sample.is_char_boundary(at) {
            at -= 1;
        }
        let spliced = format!("{}{}{}", &sample[..at], rng.pick(XML_PIECES), &sample[at..]);
        let _ = parse_event(&spliced);
    }
}

#[test]
fn open_message_with_random_bodies_never_panics() {
    let mut rng = Rng(7);
    let key = AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
    let account = AccountConfig {
        token: TOKEN,
        appid: APPID,
        aes_key: Some(&key),
    };
    let policy = CallbackPolicy {
        now_unix_secs: 1_700_000_000,
        max_skew_secs: 300,
        max_body_bytes: 4096,
    };
    let ts = "1700000000";
    let b64 = base64::engine::general_purpose::STANDARD;
    for i in 0..2000 {
        // A correctly signed random Encrypt, so decryption itself is exercised.
        let encrypt = if i % 3 == 0 {
            String::from_utf8_lossy(&rng.bytes_upto(80)).replace(['<', '&', ']'], "")
        } else {
            {
                let blocks = rng.below(10);
                b64.encode(rng.bytes(16 * blocks))
            }
        };
        let nonce = rng.next().to_string();
        let q = CallbackQuery {
            signature: Some(signature(TOKEN, ts, &nonce)),
            timestamp: Some(ts.into()),
            nonce: Some(nonce.clone()),
            encrypt_type: Some(rng.pick(&["aes", "raw", "", "AES", "x"]).into()),
            msg_signature: Some(msg_signature(TOKEN, ts, &nonce, encrypt.trim())),
            ..CallbackQuery::default()
        };
        let body = if i % 2 == 0 {
            format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
        } else {
            serde_json::json!({ "Encrypt": encrypt }).to_string()
        };
        let _ = open_message(&q, body.as_bytes(), &account, &policy);
        // Random body bytes of random size around the limit.
        let junk = rng.bytes_upto(5000);
        let _ = open_message(&q, &junk, &account, &policy);
    }
}

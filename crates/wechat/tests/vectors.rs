//! Every vector of the verified callback crypto vectors (`tests/data/wechat-crypto-vectors.json`,
//! a copy of the project's shared file, so a clone anywhere runs them) and the WeCom vectors of
//! wechat-api.md §7 V5, as tests.

use serde_json::Value;
use wechat::callback::crypto::{decrypt, decrypt_message, encrypt_with_random, EncryptedReply};
use wechat::callback::signature::{
    msg_signature, signature, verify_msg_signature, verify_signature,
};
use wechat::callback::{
    open_message, verify_url, AccountConfig, AesKey, CallbackError, CallbackPolicy, CallbackQuery,
};

const VECTORS_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/wechat-crypto-vectors.json"
);

fn vectors() -> Value {
    let text = std::fs::read_to_string(VECTORS_PATH)
        .unwrap_or_else(|e| panic!("cannot read {VECTORS_PATH}: {e}"));
    serde_json::from_str(&text).expect("vectors file is valid JSON")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing string `{key}` in {v}"))
}

fn random16(v: &Value) -> [u8; 16] {
    s(v, "random")
        .as_bytes()
        .try_into()
        .expect("random is 16 bytes")
}

fn key_of(v: &Value) -> AesKey {
    AesKey::from_encoding_aes_key(s(v, "encoding_aes_key")).expect("vector key parses")
}

fn policy_at(ts: &str) -> CallbackPolicy {
    CallbackPolicy::new(ts.parse().unwrap())
}

fn query(pairs: &[(&str, &str)]) -> CallbackQuery {
    let mut q = CallbackQuery::default();
    for (k, v) in pairs {
        let v = Some((*v).to_owned());
        match *k {
            "signature" => q.signature = v,
            "timestamp" => q.timestamp = v,
            "nonce" => q.nonce = v,
            "openid" => q.openid = v,
            "encrypt_type" => q.encrypt_type = v,
            "msg_signature" => q.msg_signature = v,
            "echostr" => q.echostr = v,
            other => panic!("unknown query key {other}"),
        }
    }
    q
}

/// Guard: a vector group added to the file without a test here fails the build.
#[test]
fn every_vector_group_is_covered() {
    let v = vectors();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "_note",
            "easywechat_oa_decrypt",
            "official_message_push_doc",
            "plain_signatures",
            "tencent_wxbizmsgcrypt_sample",
            "wxjava_deterministic",
        ],
        "a vector group was added or removed: write its test"
    );
    let doc = &v["official_message_push_doc"];
    let mut doc_keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    doc_keys.sort_unstable();
    assert_eq!(
        doc_keys,
        [
            "appid",
            "encoding_aes_key",
            "encrypted_reply",
            "plain_post",
            "safe_post",
            "source",
            "token",
            "url_verify"
        ]
    );
}

#[test]
fn official_doc_url_verify() {
    let doc = &vectors()["official_message_push_doc"];
    let uv = &doc["url_verify"];
    let token = s(doc, "token");
    assert_eq!(
        signature(token, s(uv, "timestamp"), s(uv, "nonce")),
        s(uv, "signature")
    );
    verify_signature(
        token,
        s(uv, "timestamp"),
        s(uv, "nonce"),
        s(uv, "signature"),
    )
    .unwrap();

    let q = query(&[
        ("signature", s(uv, "signature")),
        ("timestamp", s(uv, "timestamp")),
        ("nonce", s(uv, "nonce")),
        ("echostr", s(uv, "echostr")),
    ]);
    let account = AccountConfig {
        token,
        appid: s(doc, "appid"),
        aes_key: None,
    };
    let echo = verify_url(&q, &account, &policy_at(s(uv, "timestamp"))).unwrap();
    assert_eq!(echo, "4375120948345356249");
    assert_eq!(echo, s(uv, "echostr"));

    // Wrong token, or a tampered nonce → BadSignature.
    let wrong = AccountConfig {
        token: "AAAAB",
        ..account
    };
    assert_eq!(
        verify_url(&q, &wrong, &policy_at(s(uv, "timestamp"))),
        Err(CallbackError::BadSignature)
    );
}

#[test]
fn official_doc_plain_post() {
    let doc = &vectors()["official_message_push_doc"];
    let pp = &doc["plain_post"];
    let token = s(doc, "token");
    assert_eq!(
        signature(token, s(pp, "timestamp"), s(pp, "nonce")),
        s(pp, "signature")
    );
    let q = query(&[
        ("signature", s(pp, "signature")),
        ("timestamp", s(pp, "timestamp")),
        ("nonce", s(pp, "nonce")),
    ]);
    let account = AccountConfig {
        token,
        appid: s(doc, "appid"),
        aes_key: None,
    };
    let body = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName></xml>";
    let opened = open_message(
        &q,
        body.as_bytes(),
        &account,
        &policy_at(s(pp, "timestamp")),
    )
    .unwrap();
    assert_eq!(opened.body, body);
    assert!(!opened.encrypted);
}

#[test]
fn official_doc_safe_post() {
    let doc = &vectors()["official_message_push_doc"];
    let sp = &doc["safe_post"];
    let (token, appid) = (s(doc, "token"), s(doc, "appid"));
    let key = key_of(doc);
    assert_eq!(key.as_bytes(), &[0u8; 32], "43 × 'A' is the all-zero key");
    let (ts, nonce, encrypt) = (s(sp, "timestamp"), s(sp, "nonce"), s(sp, "encrypt"));

    // The 3-item signature is still sent and still valid.
    assert_eq!(signature(token, ts, nonce), s(sp, "signature"));
    assert_eq!(
        msg_signature(token, ts, nonce, encrypt),
        s(sp, "msg_signature")
    );
    verify_msg_signature(token, ts, nonce, encrypt, s(sp, "msg_signature")).unwrap();

    let full = decrypt_message(&key, encrypt).unwrap();
    assert_eq!(full.random, random16(sp));
    assert_eq!(full.msg, s(sp, "msg"));
    assert_eq!(full.msg.len(), 167);
    assert_eq!(full.appid, appid);
    assert_eq!(decrypt(&key, encrypt, appid).unwrap(), s(sp, "msg"));
    // Deterministic re-encryption reproduces the vector byte for byte.
    assert_eq!(
        encrypt_with_random(&key, &random16(sp), s(sp, "msg"), appid),
        encrypt
    );

    // End to end, JSON body (the doc's format) and XML body.
    let q = query(&[
        ("signature", s(sp, "signature")),
        ("timestamp", ts),
        ("nonce", nonce),
        ("openid", s(sp, "openid")),
        ("encrypt_type", "aes"),
        ("msg_signature", s(sp, "msg_signature")),
    ]);
    let account = AccountConfig {
        token,
        appid,
        aes_key: Some(&key),
    };
    let json_body = serde_json::json!({"ToUserName": "gh_97417a04a28d", "Encrypt": encrypt});
    let opened = open_message(
        &q,
        json_body.to_string().as_bytes(),
        &account,
        &policy_at(ts),
    )
    .unwrap();
    assert_eq!(opened.body, s(sp, "msg"));
    assert!(opened.encrypted);
    let xml_body = format!(
        "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    );
    let opened = open_message(&q, xml_body.as_bytes(), &account, &policy_at(ts)).unwrap();
    assert_eq!(opened.body, s(sp, "msg"));

    // Wrong appid configured → AppIdMismatch (after a valid signature).
    let other_app = AccountConfig {
        appid: "wx0000000000000000",
        ..account
    };
    assert_eq!(
        open_message(&q, xml_body.as_bytes(), &other_app, &policy_at(ts)),
        Err(CallbackError::AppIdMismatch)
    );
}

#[test]
fn official_doc_encrypted_reply() {
    let doc = &vectors()["official_message_push_doc"];
    let er = &doc["encrypted_reply"];
    let key = key_of(doc);
    let reply = EncryptedReply::with_random(
        &key,
        s(doc, "token"),
        s(doc, "appid"),
        s(er, "msg"),
        s(er, "timestamp"),
        s(er, "nonce"),
        &random16(er),
    );
    assert_eq!(reply.encrypt, s(er, "encrypt"));
    assert_eq!(reply.msg_signature, s(er, "msg_signature"));
    assert_eq!(
        reply.to_xml(),
        format!(
            "<xml><Encrypt><![CDATA[{}]]></Encrypt><MsgSignature><![CDATA[{}]]></MsgSignature><TimeStamp>{}</TimeStamp><Nonce><![CDATA[{}]]></Nonce></xml>",
            s(er, "encrypt"),
            s(er, "msg_signature"),
            s(er, "timestamp"),
            s(er, "nonce")
        )
    );
    assert_eq!(
        decrypt(&key, &reply.encrypt, s(doc, "appid")).unwrap(),
        s(er, "msg")
    );
}

#[test]
fn tencent_wxbizmsgcrypt_sample() {
    let t = &vectors()["tencent_wxbizmsgcrypt_sample"];
    let (token, appid) = (s(t, "token"), s(t, "appid"));
    let key = key_of(t);
    let (ts, nonce, encrypt) = (s(t, "timestamp"), s(t, "nonce"), s(t, "encrypt"));
    assert_eq!(
        msg_signature(token, ts, nonce, encrypt),
        s(t, "msg_signature")
    );
    let full = decrypt_message(&key, encrypt).unwrap();
    assert_eq!(full.random, random16(t));
    assert_eq!(full.msg, s(t, "msg"));
    assert_eq!(full.appid, appid);
    assert_eq!(
        encrypt_with_random(&key, &random16(t), s(t, "msg"), appid),
        encrypt
    );

    // The sample's body is compat mode: plaintext fields and Encrypt side by side.
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n</xml>"
    );
    let q = query(&[
        ("timestamp", ts),
        ("nonce", nonce),
        ("encrypt_type", "aes"),
        ("msg_signature", s(t, "msg_signature")),
    ]);
    let account = AccountConfig {
        token,
        appid,
        aes_key: Some(&key),
    };
    let opened = open_message(&q, body.as_bytes(), &account, &policy_at(ts)).unwrap();
    assert_eq!(opened.body, s(t, "msg"));
    assert!(matches!(
        wechat::callback::parse_event(&opened.body).unwrap(),
        wechat::callback::Event::Other { ref msg_type, event: None } if msg_type == "text"
    ));
}

#[test]
fn wxjava_deterministic_cases() {
    let w = &vectors()["wxjava_deterministic"];
    let (token, appid) = (s(w, "token"), s(w, "appid"));
    let key = key_of(w);
    let hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, s(w, "aes_key_hex"));
    let cases = w["cases"].as_array().unwrap();
    assert!(!cases.is_empty());
    let mut derived_checked = 0;
    for case in cases {
        let enc = encrypt_with_random(&key, &random16(w), s(case, "msg"), appid);
        assert_eq!(enc, s(case, "encrypt"));
        assert_eq!(decrypt(&key, &enc, appid).unwrap(), s(case, "msg"));
        for (name, expected) in case.as_object().unwrap() {
            let Some(rest) = name.strip_prefix("derived_msg_signature_ts") else {
                continue;
            };
            let (ts, nonce) = rest.split_once("_nonce_").expect("ts…_nonce_… key");
            let expected = expected.as_str().unwrap();
            assert_eq!(msg_signature(token, ts, nonce, &enc), expected);
            verify_msg_signature(token, ts, nonce, &enc, expected).unwrap();
            derived_checked += 1;
        }
    }
    assert!(derived_checked >= 1);
}

#[test]
fn wxjava_second_case_from_the_reference() {
    // wechat-api.md §7 V3, second message (not in the JSON file).
    let w = &vectors()["wxjava_deterministic"];
    let key = key_of(w);
    let msg = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>";
    let expected = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb";
    let enc = encrypt_with_random(&key, &random16(w), msg, s(w, "appid"));
    assert_eq!(enc, expected);
    assert_eq!(
        msg_signature(s(w, "token"), "1409304348", "xxxxxx", &enc),
        "ea88b765074e41eb8c7a75b449db34fa2fd560d5"
    );
}

#[test]
fn easywechat_oa_decrypt() {
    let e = &vectors()["easywechat_oa_decrypt"];
    let (token, appid) = (s(e, "token"), s(e, "appid"));
    let key = key_of(e);
    let (ts, nonce, encrypt) = (s(e, "timestamp"), s(e, "nonce"), s(e, "encrypt"));
    assert_eq!(
        msg_signature(token, ts, nonce, encrypt),
        s(e, "msg_signature")
    );
    let full = decrypt_message(&key, encrypt).unwrap();
    assert_eq!(full.msg, s(e, "msg"));
    assert_eq!(&full.random, b"d43123b161a4ba84");
    assert_eq!(full.appid, appid);
    assert_eq!(
        encrypt_with_random(&key, &full.random, &full.msg, appid),
        encrypt
    );

    let q = query(&[
        ("timestamp", ts),
        ("nonce", nonce),
        ("encrypt_type", "aes"),
        ("msg_signature", s(e, "msg_signature")),
    ]);
    let account = AccountConfig {
        token,
        appid,
        aes_key: Some(&key),
    };
    let body = format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
    assert_eq!(
        open_message(&q, body.as_bytes(), &account, &policy_at(ts))
            .unwrap()
            .body,
        s(e, "msg")
    );
    // The file's negative cases: invalid signature, appid mismatch.
    let bad_sig = CallbackQuery {
        msg_signature: Some("invalid-signature".into()),
        ..q.clone()
    };
    assert_eq!(
        open_message(&bad_sig, body.as_bytes(), &account, &policy_at(ts)),
        Err(CallbackError::BadSignature)
    );
    assert_eq!(
        decrypt(&key, encrypt, "wx0000000000000000"),
        Err(CallbackError::AppIdMismatch)
    );
}

#[test]
fn plain_signatures_list() {
    let v = vectors();
    let list = v["plain_signatures"].as_array().unwrap();
    assert!(list.len() >= 2);
    for item in list {
        let (token, ts, nonce, sig) = (
            s(item, "token"),
            s(item, "timestamp"),
            s(item, "nonce"),
            s(item, "signature"),
        );
        assert_eq!(signature(token, ts, nonce), sig, "{}", s(item, "source"));
        verify_signature(token, ts, nonce, sig).unwrap();
        // Flip the last hex digit: must fail.
        let mut flipped = sig.to_owned();
        let last = flipped.pop().unwrap();
        flipped.push(if last == 'e' { 'f' } else { 'e' });
        assert_eq!(
            verify_signature(token, ts, nonce, &flipped),
            Err(CallbackError::BadSignature)
        );
    }
}

/// wechat-api.md §7 V5 (WeCom, receive-id = corp id): same algorithm.
#[test]
fn wecom_vectors_from_reference() {
    let key = AesKey::from_encoding_aes_key("kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR").unwrap();
    let (token, corp) = ("123456", "wx49f0ab532d5d035a");

    // Encrypted echostr.
    let echostr =
        "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";
    verify_msg_signature(
        token,
        "1411443780",
        "437374425",
        echostr,
        "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
    )
    .unwrap();
    assert_eq!(
        verify_msg_signature(
            token,
            "1411443780",
            "437374424",
            echostr,
            "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96"
        ),
        Err(CallbackError::BadSignature)
    );
    assert_eq!(decrypt(&key, echostr, corp).unwrap(), "5927782489442352469");

    // Deterministic encrypted reply.
    let msg = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
    let reply = EncryptedReply::with_random(
        &key,
        token,
        corp,
        msg,
        "1411525903",
        "461056294",
        b"1234567890123456",
    );
    assert_eq!(reply.encrypt, "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3");
    assert_eq!(
        reply.msg_signature,
        "407518b7649e86ef23978113f92d27afa9296533"
    );

    // Decrypt.
    let enc = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";
    verify_msg_signature(
        token,
        "1411525903",
        "461056294",
        enc,
        "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
    )
    .unwrap();
    let msg = decrypt(&key, enc, corp).unwrap();
    assert!(msg.contains("<Content><![CDATA[test]]></Content>"), "{msg}");
    assert!(
        msg.contains("<FromUserName><![CDATA[messense]]></FromUserName>"),
        "{msg}"
    );
}

//! Fuzzes the callback path in its three modes with a known token and key: signature checks, XML/JSON parsing, AES decryption (arbitrary ciphertext and arbitrary plaintext under a valid signature), `parse_event` and `read_push` (the downgrade refusal, the sender check, the de-duplication keys); in compat mode the plaintext fields never win over the encrypted message.
#![no_main]

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes256;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use wechat::callback::crypto::{decrypt_message, encrypt_with_random};
use wechat::callback::signature::{msg_signature, signature};
use wechat::callback::{
    open_message, parse_event, read_push, verify_url, AccountConfig, AesKey, CallbackError,
    CallbackPolicy, CallbackQuery, Event, PushError,
};

const TOKEN: &str = "cbtoken2024";
const APPID: &str = "wx5e1a00000000a001";
const ENCODING_AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const NOW: i64 = 1_700_000_000;
const TIMESTAMP: &str = "1700000000";
const NONCE: &str = "4242";

/// AES-256-CBC with WeChat's IV (the key's first 16 bytes) over `plain`, zero-padded to a
/// block: a ciphertext that decrypts to exactly these bytes.
fn cbc_encrypt(key: &AesKey, plain: &[u8]) -> Vec<u8> {
    let mut data = plain.to_vec();
    data.resize(data.len().div_ceil(16).max(1) * 16, 0);
    let cipher = Aes256::new(GenericArray::from_slice(key.as_bytes()));
    let mut prev = [0u8; 16];
    prev.copy_from_slice(&key.as_bytes()[..16]);
    for chunk in data.chunks_exact_mut(16) {
        for (b, p) in chunk.iter_mut().zip(prev.iter()) {
            *b ^= p;
        }
        let block = GenericArray::from_mut_slice(chunk);
        cipher.encrypt_block(block);
        prev.copy_from_slice(chunk);
    }
    data
}

fn query(encrypted: bool, msg_sig: Option<String>) -> CallbackQuery {
    CallbackQuery {
        signature: Some(signature(TOKEN, TIMESTAMP, NONCE)),
        timestamp: Some(TIMESTAMP.into()),
        nonce: Some(NONCE.into()),
        openid: None,
        encrypt_type: encrypted.then(|| "aes".to_owned()),
        msg_signature: msg_sig,
        echostr: Some("echo".into()),
    }
}

fn open_and_parse(q: &CallbackQuery, body: &[u8], account: &AccountConfig<'_>) {
    let policy = CallbackPolicy::new(NOW);
    if let Ok(opened) = open_message(q, body, account, &policy) {
        let _ = parse_event(&opened.body);
    }
    if let Ok(push) = read_push(q, body, account, &policy) {
        if let Some(from) = push.event.from_user() {
            assert!(
                (20..=64).contains(&from.len())
                    && from.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "a push from {from:?} was taken"
            );
        }
        assert!(push.nonce_key.starts_with(TIMESTAMP));
    }
}

/// A follow event of a valid openid.
const FOLLOW: &str = "<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName><![CDATA[oFuzzFollower000000000000001]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[unsubscribe]]></Event></xml>";

fuzz_target!(|data: &[u8]| {
    let Ok(key) = AesKey::from_encoding_aes_key(ENCODING_AES_KEY) else {
        return;
    };
    let account = AccountConfig {
        token: TOKEN,
        appid: APPID,
        aes_key: Some(&key),
    };
    let plain_account = AccountConfig {
        aes_key: None,
        ..account
    };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match mode % 7 {
        // Plain mode: the body as WeChat would send it, correctly signed, to an account in
        // plain mode; to an account with a key the same push is a downgrade and refused.
        0 => {
            open_and_parse(&query(false, None), rest, &plain_account);
            let refused = read_push(&query(false, None), rest, &account, &CallbackPolicy::new(NOW));
            assert!(
                matches!(
                    refused,
                    Err(PushError::Refused(CallbackError::PlaintextRefused))
                        | Err(PushError::Refused(CallbackError::BodyTooLarge { .. }))
                ),
                "a plaintext push to an account with a key: {refused:?}"
            );
        }
        // Compat mode: the input as the plaintext fields beside a valid Encrypt; only the
        // encrypted message counts.
        5 => {
            let encrypt = encrypt_with_random(&key, &[9u8; 16], FOLLOW, APPID);
            let body = format!("<xml>{text}<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
            let sig = msg_signature(TOKEN, TIMESTAMP, NONCE, &encrypt);
            let policy = CallbackPolicy::new(NOW);
            match read_push(&query(true, Some(sig)), body.as_bytes(), &account, &policy) {
                Ok(push) => assert!(
                    matches!(push.event, Event::Unsubscribe { ref from_user, .. } if from_user == "oFuzzFollower000000000000001"),
                    "compat mode took {:?}",
                    push.event
                ),
                Err(e) => assert!(
                    matches!(e, PushError::Refused(_)),
                    "the encrypted event is valid, so only the body around it can fail: {e}"
                ),
            }
        }
        // Any query and body against a plain-mode account.
        6 => {
            let (q, b) = text.split_once('\n').unwrap_or((&text, ""));
            let mut fields = q.split('&').map(|s| Some(s.to_owned()));
            let q = CallbackQuery {
                signature: fields.next().flatten(),
                timestamp: fields.next().flatten(),
                nonce: fields.next().flatten(),
                openid: None,
                encrypt_type: fields.next().flatten(),
                msg_signature: fields.next().flatten(),
                echostr: None,
            };
            open_and_parse(&q, b.as_bytes(), &plain_account);
        }
        // Safe mode, `Encrypt` is the input (mostly not base64), correctly signed.
        1 => {
            let body = format!("<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{text}]]></Encrypt></xml>");
            let sig = msg_signature(TOKEN, TIMESTAMP, NONCE, text.trim());
            open_and_parse(&query(true, Some(sig)), body.as_bytes(), &account);
        }
        // Safe mode, the ciphertext decrypts to the input bytes (padding, length, appid).
        2 => {
            let encrypt = STANDARD.encode(cbc_encrypt(&key, rest));
            let _ = decrypt_message(&key, &encrypt);
            let body = format!(r#"{{"ToUserName":"gh_x","Encrypt":"{encrypt}"}}"#);
            let sig = msg_signature(TOKEN, TIMESTAMP, NONCE, &encrypt);
            open_and_parse(&query(true, Some(sig)), body.as_bytes(), &account);
        }
        // Safe mode, a well-formed encryption of the input as the message.
        3 => {
            let encrypt = encrypt_with_random(&key, &[7u8; 16], &text, APPID);
            let body = format!("<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>");
            let sig = msg_signature(TOKEN, TIMESTAMP, NONCE, &encrypt);
            let policy = CallbackPolicy::new(NOW);
            let q = query(true, Some(sig));
            match open_message(&q, body.as_bytes(), &account, &policy) {
                Ok(opened) => {
                    assert_eq!(opened.body, text, "decryption must round-trip");
                    let _ = parse_event(&opened.body);
                }
                Err(e) => {
                    assert!(
                        body.len() > policy.max_body_bytes,
                        "refused a valid push: {e}"
                    )
                }
            }
        }
        // The query itself: URL verification and a push with arbitrary query fields.
        _ => {
            let mut fields = text.split('&').map(|s| Some(s.to_owned()));
            let q = CallbackQuery {
                signature: fields.next().flatten(),
                timestamp: fields.next().flatten(),
                nonce: fields.next().flatten(),
                openid: None,
                encrypt_type: fields.next().flatten(),
                msg_signature: fields.next().flatten(),
                echostr: fields.next().flatten(),
            };
            let _ = verify_url(&q, &account, &CallbackPolicy::new(NOW));
            open_and_parse(&q, rest, &account);
            let _ = parse_event(&text);
        }
    }
});

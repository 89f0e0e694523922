//! Request checks: plain/safe/compat modes, URL verification, stale timestamps, size limits, missing fields.

use wechat::callback::crypto::EncryptedReply;
use wechat::callback::signature::signature;
use wechat::callback::{
    open_message, parse_event, verify_url, AccountConfig, AesKey, CallbackError, CallbackPolicy,
    CallbackQuery, DeliveryStatus, Event,
};

const TOKEN: &str = "spamtest";
const APPID: &str = "wx2c2769f8efd9abc2";
const KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const NOW: i64 = 1_714_112_445;

fn key() -> AesKey {
    AesKey::from_encoding_aes_key(KEY).unwrap()
}

fn plain_query(ts: i64, nonce: &str) -> CallbackQuery {
    let ts = ts.to_string();
    CallbackQuery {
        signature: Some(signature(TOKEN, &ts, nonce)),
        timestamp: Some(ts),
        nonce: Some(nonce.into()),
        ..CallbackQuery::default()
    }
}

const RECEIPT: &str = "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName><CreateTime>1714112445</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>3428411849815982087</MsgID><Status><![CDATA[failed: system failed]]></Status></xml>";

/// What WeChat would send in safe mode for `msg`.
fn safe_request(key: &AesKey, msg: &str, ts: i64, nonce: &str) -> (CallbackQuery, String) {
    let ts = ts.to_string();
    let sealed = EncryptedReply::new(key, TOKEN, APPID, msg, &ts, nonce);
    let query = CallbackQuery {
        signature: Some(signature(TOKEN, &ts, nonce)),
        timestamp: Some(ts),
        nonce: Some(nonce.into()),
        openid: Some("oia2TjuEGTNoeX76QEjQNrcURxG8".into()),
        encrypt_type: Some("aes".into()),
        msg_signature: Some(sealed.msg_signature),
        echostr: None,
    };
    let body = format!(
        "<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt></xml>",
        sealed.encrypt
    );
    (query, body)
}

#[test]
fn safe_mode_receipt_end_to_end() {
    let key = key();
    let account = AccountConfig {
        token: TOKEN,
        appid: APPID,
        aes_key: Some(&key),
    };
    let (q, body) = safe_request(&key, RECEIPT, NOW, "415670741");
    let opened = open_message(&q, body.as_bytes(), &account, &CallbackPolicy::new(NOW)).unwrap();
    assert!(opened.encrypted);
    assert_eq!(opened.body, RECEIPT);
    assert_eq!(
        parse_event(&opened.body).unwrap(),
        Event::TemplateSendJobFinish {
            to_user: "gh_7f083739789a".into(),
            from_user: "oia2TjuEGTNoeX76QEjQNrcURxG8".into(),
            create_time: 1714112445,
            msg_id: 3428411849815982087,
            status: DeliveryStatus::SystemFailed,
        }
    );

    // Tampered ciphertext: the msg_signature no longer matches.
    let tampered = body.replacen("<![CDATA[", "<![CDATA[A", 2);
    assert_eq!(
        open_message(&q, tampered.as_bytes(), &account, &CallbackPolicy::new(NOW)),
        Err(CallbackError::BadSignature)
    );
    // A different token.
    let wrong_token = AccountConfig {
        token: "other",
        ..account
    };
    assert_eq!(
        open_message(&q, body.as_bytes(), &wrong_token, &CallbackPolicy::new(NOW)),
        Err(CallbackError::BadSignature)
    );
    // A correctly signed message for another appid.
    let other = AccountConfig {
        appid: "wx0000000000000000",
        ..account
    };
    assert_eq!(
        open_message(&q, body.as_bytes(), &other, &CallbackPolicy::new(NOW)),
        Err(CallbackError::AppIdMismatch)
    );
}

/// With an EncodingAESKey the account is in compat or safe mode: a plaintext push, even with a
/// valid signature, is a downgrade (its signature covers no body) and is refused.
#[test]
fn plaintext_to_an_account_with_a_key_is_refused() {
    let key = key();
    let account = AccountConfig {
        token: TOKEN,
        appid: APPID,
        aes_key: Some(&key),
    };
    for encrypt_type in [None, Some("raw"), Some("")] {
        let q = CallbackQuery {
            encrypt_type: encrypt_type.map(str::to_owned),
            ..plain_query(NOW, "486452656")
        };
        assert_eq!(
            open_message(&q, RECEIPT.as_bytes(), &account, &CallbackPolicy::new(NOW)),
            Err(CallbackError::PlaintextRefused),
            "{encrypt_type:?}"
        );
    }
}

#[test]
fn plain_mode() {
    let account = AccountConfig {
        token: TOKEN,
        appid: APPID,
        aes_key: None,
    };
    let q = plain_query(NOW, "486452656");
    let opened = open_message(&q, RECEIPT.as_bytes(), &account, &CallbackPolicy::new(NOW)).unwrap();
    assert_eq!(opened.body, RECEIPT);
    assert!(!opened.encrypted);
    // `encrypt_type=raw` is plain too.
    let raw = CallbackQuery {
        encrypt_type: Some("raw".into()),
        ..q.clone()
    };
    assert!(open_message(
        &raw,
        RECEIPT.as_bytes(),
        &account,
        &CallbackPolicy::new(NOW)
    )
    .is_ok());
    // Bad signature.
    let bad = CallbackQuery {
        signature: Some("0".repeat(40)),
        ..q.clone()
    };
    assert_eq!(
        open_message(
            &bad,
            RECEIPT.as_bytes(),
            &account,
            &CallbackPolicy::new(NOW)
        ),
        Err(CallbackError::BadSignature)
    );
    // Missing signature.
    let missing = CallbackQuery {
        signature: None,
        ..q.clone()
    };
    assert_eq!(
        open_message(
            &missing,
            RECEIPT.as_bytes(),
            &account,
            &CallbackPolicy::new(NOW)
        ),
        Err(CallbackError::MissingField("signature"))
    );
    // Invalid UTF-8 body.
    assert_eq!(
        open_message(&q, &[0x3c, 0xff, 0xfe], &account, &CallbackPolicy::new(NOW)),
        Err(CallbackError::BadUtf8)
    );
}

#[test]
fn url_verification() {
    let account = AccountConfig {
        token: TOKEN,
        appid: APPID,
        aes_key: None,
    };
    let q = CallbackQuery {
        echostr: Some("4375120948345356249".into()),
        ..plain_query(NOW, "1514711492")
    };
    assert_eq!(
        verify_url(&q, &account, &CallbackPolicy::new(NOW)).unwrap(),
        "4375120948345356249"
    );
    let no_echo = CallbackQuery {
        echostr: None,
        ..q.clone()
    };
    assert_eq!(
        verify_url(&no_echo, &account, &CallbackPolicy::new(NOW)),
        Err(CallbackError::MissingField("echostr"))
    );
    let bad = CallbackQuery {
        nonce: Some("1514711493".into()),
        ..q.clone()
    };
    assert_eq!(
        verify_url(&bad, &account, &CallbackPolicy::new(NOW)),
        Err(CallbackError::BadSignature)
    );
    let stale = CallbackPolicy::new(NOW + 301);
    assert!(matches!(
        verify_url(&q, &account, &stale),
        Err(CallbackError::StaleTimestamp { .. })
    ));
}

#[test]
fn stale_and_bad_timestamps_are_rejected() {
    let account = AccountConfig {
        token: TOKEN,
        appid: APPID,
        aes_key: None,
    };
    let q = plain_query(NOW, "1");
    let policy = |now: i64| CallbackPolicy {
        now_unix_secs: now,
        max_skew_secs: 300,
        max_body_bytes: 4096,
    };
    // Exactly at the edge: accepted, both ways.
    assert!(open_message(&q, RECEIPT.as_bytes(), &account, &policy(NOW + 300)).is_ok());
    assert!(open_message(&q, RECEIPT.as_bytes(), &account, &policy(NOW - 300)).is_ok());
    assert_eq!(
        open_message(&q, RECEIPT.as_bytes(), &account, &policy(NOW + 301)),
        Err(CallbackError::StaleTimestamp {
            timestamp: NOW,
            now: NOW + 301,
            max_skew_secs: 300
        })
    );
    assert!(matches!(
        open_message(&q, RECEIPT.as_bytes(), &account, &policy(NOW - 301)),
        Err(CallbackError::StaleTimestamp { .. })
    ));
    // A replay a day later, even with a valid signature.
    assert!(matches!(
        open_message(&q, RECEIPT.as_bytes(), &account, &policy(NOW + 86_400)),
        Err(CallbackError::StaleTimestamp { .. })
    ));
    // Extreme values must not overflow.
    let extreme = plain_query(i64::MIN, "1");
    assert!(matches!(
        open_message(&extreme, b"<xml/>", &account, &policy(i64::MAX)),
        Err(CallbackError::StaleTimestamp { .. })
    ));
    for bad in ["", "abc", "1.5", "99999999999999999999", " 1"] {
        let q = CallbackQuery {
            timestamp: Some(bad.into()),
            ..q.clone()
        };
        let err = open_message(&q, b"<xml/>", &account, &policy(NOW)).unwrap_err();
        assert!(
            matches!(
                err,
                CallbackError::BadTimestamp | CallbackError::MissingField("timestamp")
            ),
            "{bad:?}: {err:?}"
        );
    }
    let no_nonce = CallbackQuery {
        nonce: None,
        ..q.clone()
    };
    assert_eq!(
        open_message(&no_nonce, b"<xml/>", &account, &policy(NOW)),
        Err(CallbackError::MissingField("nonce"))
    );
}

#[test]
fn oversized_bodies_are_rejected() {
    // A plain-mode account: no EncodingAESKey.
    let account = AccountConfig {
        token: TOKEN,
        appid: APPID,
        aes_key: None,
    };
    let limit = RECEIPT.len();
    let policy = CallbackPolicy {
        now_unix_secs: NOW,
        max_skew_secs: 300,
        max_body_bytes: limit,
    };
    let q = plain_query(NOW, "1");
    assert!(open_message(&q, RECEIPT.as_bytes(), &account, &policy).is_ok());
    let big = format!("{RECEIPT} ");
    assert_eq!(
        open_message(&q, big.as_bytes(), &account, &policy),
        Err(CallbackError::BodyTooLarge {
            len: limit + 1,
            limit
        })
    );
    // 16 MiB of junk with the default policy, in safe mode: rejected before any parsing.
    let huge = vec![b'<'; 16 * 1024 * 1024];
    let (safe_q, _) = safe_request(&key(), "x", NOW, "1");
    assert!(matches!(
        open_message(&safe_q, &huge, &account, &CallbackPolicy::new(NOW)),
        Err(CallbackError::BodyTooLarge { .. })
    ));
    // Even when the signature is wrong, size is checked first.
    let unsigned = CallbackQuery::default();
    assert!(matches!(
        open_message(&unsigned, &huge, &account, &CallbackPolicy::new(NOW)),
        Err(CallbackError::BodyTooLarge { .. })
    ));
}

#[test]
fn safe_mode_configuration_and_body_errors() {
    let key = key();
    let with_key = AccountConfig {
        token: TOKEN,
        appid: APPID,
        aes_key: Some(&key),
    };
    let without_key = AccountConfig {
        aes_key: None,
        ..with_key
    };
    let policy = CallbackPolicy::new(NOW);
    let (q, body) = safe_request(&key, RECEIPT, NOW, "7");
    assert_eq!(
        open_message(&q, body.as_bytes(), &without_key, &policy),
        Err(CallbackError::NoAesKey)
    );
    let odd = CallbackQuery {
        encrypt_type: Some("des".into()),
        ..q.clone()
    };
    assert_eq!(
        open_message(&odd, body.as_bytes(), &with_key, &policy),
        Err(CallbackError::UnsupportedEncryptType("des".into()))
    );
    let upper = CallbackQuery {
        encrypt_type: Some("AES".into()),
        ..q.clone()
    };
    assert!(open_message(&upper, body.as_bytes(), &with_key, &policy).is_ok());
    let no_msg_sig = CallbackQuery {
        msg_signature: None,
        ..q.clone()
    };
    assert_eq!(
        open_message(&no_msg_sig, body.as_bytes(), &with_key, &policy),
        Err(CallbackError::MissingField("msg_signature"))
    );
    assert_eq!(
        open_message(
            &q,
            b"<xml><ToUserName>x</ToUserName></xml>",
            &with_key,
            &policy
        ),
        Err(CallbackError::MissingField("Encrypt"))
    );
    assert!(matches!(
        open_message(&q, b"<xml><Encrypt>", &with_key, &policy),
        Err(CallbackError::BadXml(_))
    ));
    assert!(matches!(
        open_message(&q, b"{\"Encrypt\":", &with_key, &policy),
        Err(CallbackError::BadJson(_))
    ));
    // Signed, but not base64 / not a whole number of blocks.
    for encrypt in ["!!!notbase64!!!", "YWJj"] {
        let ts = NOW.to_string();
        let q = CallbackQuery {
            msg_signature: Some(wechat::callback::signature::msg_signature(
                TOKEN, &ts, "7", encrypt,
            )),
            ..q.clone()
        };
        let body = format!("<xml><Encrypt>{encrypt}</Encrypt></xml>");
        let err = open_message(&q, body.as_bytes(), &with_key, &policy).unwrap_err();
        assert!(
            matches!(err, CallbackError::BadBase64 | CallbackError::Truncated),
            "{encrypt}: {err:?}"
        );
    }
}

#[test]
fn query_deserializes_from_a_query_map() {
    let q: CallbackQuery = serde_json::from_value(serde_json::json!({
        "signature": "6c5c811b55cc85e0e1b54100749188c20beb3f5d",
        "timestamp": "1714112445",
        "nonce": "415670741",
        "openid": "o9AgO5Kd5ggOC-bXrbNODIiE3bGY",
        "encrypt_type": "aes",
        "msg_signature": "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3",
        "unknown": "ignored"
    }))
    .unwrap();
    assert_eq!(q.encrypt_type.as_deref(), Some("aes"));
    assert_eq!(q.echostr, None);
}

#[test]
fn errors_do_not_leak_the_key() {
    let key = key();
    let shown = format!(
        "{:?} {:?}",
        key,
        AccountConfig {
            token: TOKEN,
            appid: APPID,
            aes_key: Some(&key)
        }
    );
    assert!(
        !shown.contains("69b71d79") && !shown.contains("105, 183") && !shown.contains(TOKEN),
        "{shown}"
    );
    let err =
        AesKey::from_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEF+").unwrap_err();
    assert!(!err.to_string().contains("abcdef"), "{err}");
}

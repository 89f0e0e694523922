//! Receipts and follow events pushed to a local callback server: plain signatures, safe-mode
//! encryption, blocked users, retries against a failing server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::post as route_post;
use axum::Router;
use common::*;
use parking_lot::Mutex;
use serde_json::json;
use wechat::callback::crypto::decrypt;
use wechat::callback::signature::{msg_signature, signature};
use wechat::callback::{parse_event, AesKey, DeliveryStatus, Event};
use wechat_sim::SimHandle;

#[derive(Default)]
struct Inbox {
    requests: Mutex<Vec<(std::collections::HashMap<String, String>, String)>>,
    fail_first: Mutex<u32>,
}

async fn receive(
    State(inbox): State<Arc<Inbox>>,
    RawQuery(q): RawQuery,
    body: String,
) -> (StatusCode, &'static str) {
    let params = q
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    inbox.requests.lock().push((params, body));
    let mut fail = inbox.fail_first.lock();
    if *fail > 0 {
        *fail -= 1;
        return (StatusCode::INTERNAL_SERVER_ERROR, "");
    }
    (StatusCode::OK, "success")
}

async fn callback_server(fail_first: u32) -> (String, Arc<Inbox>) {
    let inbox = Arc::new(Inbox::default());
    *inbox.fail_first.lock() = fail_first;
    let app = Router::new()
        .route("/wx/callback", route_post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wx/callback", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, inbox)
}

async fn send_one(h: &SimHandle, index: u32) -> i64 {
    let token = oa_token(h).await;
    let v = post(
        h,
        &format!("/cgi-bin/message/template/send?access_token={token}"),
        &json!({"touser": h.follower_openid(index).unwrap(), "template_id": template_id(h, "购买成功通知"), "data": {"keyword1": {"value": "巧克力"}}}),
    )
    .await;
    v["msgid"].as_i64().unwrap()
}

#[tokio::test]
async fn plain_receipt_is_signed_and_parses() {
    let (url, inbox) = callback_server(0).await;
    let h = small().await;
    let r = post(
        &h,
        "/sim/accounts/oa/callback",
        &json!({"url": url, "token": "AAAAA", "mode": "plain"}),
    )
    .await;
    assert_eq!(r["callback"]["mode"], "plain");
    let msgid = send_one(&h, 4).await;
    assert!(h.wait_receipts_idle(Duration::from_secs(5)).await);
    let requests = inbox.requests.lock().clone();
    assert_eq!(requests.len(), 1);
    let (q, body) = &requests[0];
    assert_eq!(
        q["signature"],
        signature("AAAAA", &q["timestamp"], &q["nonce"])
    );
    let openid = h.follower_openid(4).unwrap();
    assert_eq!(q["openid"], openid);
    assert!(!q.contains_key("encrypt_type"));
    assert!(body.contains("<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>"));
    assert!(body.contains(&format!("<MsgID>{msgid}</MsgID>")));
    match parse_event(body).unwrap() {
        Event::TemplateSendJobFinish {
            to_user,
            from_user,
            msg_id,
            status,
            ..
        } => {
            assert_eq!(to_user, h.config().oa_gh_id);
            assert_eq!(from_user, openid);
            assert_eq!(msg_id, msgid);
            assert_eq!(status, DeliveryStatus::Success);
        }
        other => panic!("unexpected event {other:?}"),
    }
    assert_eq!(h.receipt_stats().pushed, 1);
}

#[tokio::test]
async fn safe_mode_receipt_decrypts_and_blocked_users_fail() {
    let (url, inbox) = callback_server(0).await;
    let h = small().await;
    let key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    post(
        &h,
        "/sim/accounts/oa/callback",
        &json!({"url": url, "token": "spamtest", "encoding_aes_key": key, "mode": "safe"}),
    )
    .await;
    let blocked = h.follower_openid(8).unwrap();
    post(&h, "/sim/followers/block", &json!({"openid": blocked})).await;
    let msgid = send_one(&h, 8).await;
    assert!(h.wait_receipts_idle(Duration::from_secs(5)).await);
    let (q, body) = inbox.requests.lock()[0].clone();
    assert_eq!(q["encrypt_type"], "aes");
    assert_eq!(
        q["signature"],
        signature("spamtest", &q["timestamp"], &q["nonce"])
    );
    assert!(body.contains(&format!(
        "<ToUserName><![CDATA[{}]]></ToUserName>",
        h.config().oa_gh_id
    )));
    assert!(
        !body.contains("TEMPLATESENDJOBFINISH"),
        "safe mode hides the event"
    );
    let encrypt = body
        .split("<Encrypt><![CDATA[")
        .nth(1)
        .unwrap()
        .split("]]>")
        .next()
        .unwrap();
    assert_eq!(
        q["msg_signature"],
        msg_signature("spamtest", &q["timestamp"], &q["nonce"], encrypt)
    );
    let aes = AesKey::from_encoding_aes_key(key).unwrap();
    let xml = decrypt(&aes, encrypt, &h.config().oa_appid).unwrap();
    match parse_event(&xml).unwrap() {
        Event::TemplateSendJobFinish { msg_id, status, .. } => {
            assert_eq!(msg_id, msgid);
            assert_eq!(status, DeliveryStatus::UserBlock);
        }
        other => panic!("unexpected event {other:?}"),
    }
    assert!(xml.contains("<Status><![CDATA[failed:user block]]></Status>"));
}

#[tokio::test]
async fn follow_events_and_duplicates_push_nothing_twice() {
    let (url, inbox) = callback_server(0).await;
    let h = small().await;
    post(
        &h,
        "/sim/accounts/oa/callback",
        &json!({"url": url, "token": "t0ken"}),
    )
    .await;
    let openid = h.follower_openid(12).unwrap();
    post(&h, "/sim/followers/unsubscribe", &json!({"openid": openid})).await;
    post(
        &h,
        "/sim/followers/subscribe",
        &json!({"openid": openid, "push_event": true}),
    )
    .await;
    post(
        &h,
        "/sim/followers/unsubscribe",
        &json!({"index": 13, "push_event": false}),
    )
    .await;
    let token = oa_token(&h).await;
    let body = json!({"touser": openid, "template_id": template_id(&h, "购买成功通知"), "client_msg_id": "c1", "data": {}});
    let url = format!("/cgi-bin/message/template/send?access_token={token}");
    post(&h, &url, &body).await;
    post(&h, &url, &body).await;
    assert!(h.wait_receipts_idle(Duration::from_secs(5)).await);
    let requests = inbox.requests.lock().clone();
    let events: Vec<Event> = requests
        .iter()
        .map(|(_, b)| parse_event(b).unwrap())
        .collect();
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Unsubscribe { from_user, .. } if *from_user == openid)));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Subscribe { from_user, .. } if *from_user == openid)));
    let receipts = events
        .iter()
        .filter(|e| matches!(e, Event::TemplateSendJobFinish { .. }))
        .count();
    assert_eq!(receipts, 1);
}

#[tokio::test]
async fn failing_callback_is_retried_three_times_then_dropped() {
    let (url, inbox) = callback_server(2).await;
    let mut config = wechat_sim::SimConfig::default();
    config.receipts.retry_delay_ms = 10;
    let h = sim(config).await;
    h.set_callback(Some(wechat_sim::CallbackConfig {
        url: url.clone(),
        token: "t".into(),
        encoding_aes_key: None,
        mode: Default::default(),
    }))
    .unwrap();
    send_one(&h, 1).await;
    assert!(h.wait_receipts_idle(Duration::from_secs(5)).await);
    assert_eq!(inbox.requests.lock().len(), 3, "two failures then success");
    assert_eq!(h.receipt_stats().pushed, 1);
    *inbox.fail_first.lock() = 10;
    send_one(&h, 2).await;
    assert!(h.wait_receipts_idle(Duration::from_secs(5)).await);
    assert_eq!(inbox.requests.lock().len(), 6, "3 attempts in total");
    let stats = h.receipt_stats();
    assert_eq!((stats.pushed, stats.failed), (1, 1));
    // Unreachable URL: logged, never fatal.
    h.set_callback(Some(wechat_sim::CallbackConfig {
        url: "http://127.0.0.1:9/nope".into(),
        token: "t".into(),
        encoding_aes_key: None,
        mode: Default::default(),
    }))
    .unwrap();
    send_one(&h, 3).await;
    assert!(h.wait_receipts_idle(Duration::from_secs(5)).await);
    assert_eq!(h.receipt_stats().failed, 2);
    // No callback → no push.
    h.set_callback(None).unwrap();
    send_one(&h, 4).await;
    assert_eq!(h.receipt_stats().pending, 0);
}

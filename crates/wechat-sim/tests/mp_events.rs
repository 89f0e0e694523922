//! Mini Program pushes to the MP's own callback: subscribe popup and settings changes from the
//! control API, and a sent event for every delivered subscribe/send.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::routing::post as route_post;
use axum::Router;
use common::*;
use parking_lot::Mutex;
use serde_json::{json, Value};
use wechat::callback::crypto::decrypt;
use wechat::callback::signature::{msg_signature, signature};
use wechat::callback::{parse_event, AesKey, Event, SubscribeStatus};
use wechat_sim::SimHandle;

const KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";

type Inbox = Arc<Mutex<Vec<(HashMap<String, String>, String)>>>;

async fn receive(State(inbox): State<Inbox>, RawQuery(q): RawQuery, body: String) -> &'static str {
    let params = q
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    inbox.lock().push((params, body));
    "success"
}

async fn callback_server() -> (String, Inbox) {
    let inbox = Inbox::default();
    let app = Router::new()
        .route("/cb", route_post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, inbox)
}

/// Waits for the pushes, then checks and opens each one as wxpush would (safe mode).
async fn opened(h: &SimHandle, inbox: &Inbox) -> Vec<Event> {
    assert!(h.wait_receipts_idle(Duration::from_secs(5)).await);
    let key = AesKey::from_encoding_aes_key(KEY).unwrap();
    let requests = std::mem::take(&mut *inbox.lock());
    requests
        .into_iter()
        .map(|(q, body)| {
            assert_eq!(
                q["signature"],
                signature("mptoken", &q["timestamp"], &q["nonce"])
            );
            assert!(!q.contains_key("openid"), "MP pushes carry no openid");
            assert_eq!(q["encrypt_type"], "aes");
            let enc = body
                .split("<Encrypt><![CDATA[")
                .nth(1)
                .unwrap()
                .split("]]>")
                .next()
                .unwrap();
            assert_eq!(
                q["msg_signature"],
                msg_signature("mptoken", &q["timestamp"], &q["nonce"], enc)
            );
            assert!(body.contains(&format!(
                "<ToUserName><![CDATA[{}]]></ToUserName>",
                h.config().mp_gh_id
            )));
            let xml =
                decrypt(&key, enc, &h.config().mp_appid).expect("encrypted with the MP appid");
            parse_event(&xml).unwrap()
        })
        .collect()
}

async fn setup() -> (SimHandle, Inbox, Inbox) {
    let h = small().await;
    let (mp_url, mp_inbox) = callback_server().await;
    let (oa_url, oa_inbox) = callback_server().await;
    let r = post(
        &h,
        "/sim/mp/callback",
        &json!({"url": mp_url, "token": "mptoken", "encoding_aes_key": KEY, "mode": "safe"}),
    )
    .await;
    assert_eq!(r["callback"]["mode"], "safe");
    post(
        &h,
        "/sim/accounts/oa/callback",
        &json!({"url": oa_url, "token": "oatoken"}),
    )
    .await;
    let accounts = get(&h, "/sim/accounts").await;
    assert_eq!(accounts["mp"]["callback"]["url"], mp_url);
    assert_eq!(accounts["mp"]["gh_id"], h.config().mp_gh_id);
    (h, mp_inbox, oa_inbox)
}

async fn answer(h: &SimHandle, what: &str, openid: &str, template_id: &str, status: &str) -> Value {
    post(
        h,
        &format!("/sim/mp/{what}"),
        &json!({"openid": openid, "template_id": template_id, "status": status}),
    )
    .await
}

#[tokio::test]
async fn popups_and_changes_are_pushed_to_the_mp_callback() {
    let (h, mp_inbox, oa_inbox) = setup().await;
    let openid = h.mp_openid(2).unwrap();
    let one_time = mp_template_id(&h, "报名结果通知");
    let long_term = mp_template_id(&h, "设备状态提醒");

    let r = answer(&h, "popup", &openid, &one_time, "accept").await;
    assert_eq!(r["credit"]["one_time"], 1);
    let r = answer(&h, "popup", &openid, &one_time, "accept").await;
    assert_eq!(r["credit"]["one_time"], 2);
    let r = answer(&h, "popup", &openid, &long_term, "accept").await;
    assert_eq!(r["credit"]["long_term"], true);
    // A rejected popup keeps what was granted before.
    let r = answer(&h, "popup", &openid, &one_time, "reject").await;
    assert_eq!(r["credit"]["one_time"], 2);

    let events = opened(&h, &mp_inbox).await;
    assert_eq!(events.len(), 4);
    let mut seen = Vec::new();
    for e in &events {
        match e {
            Event::SubscribeMsgPopupEvent {
                to_user,
                from_user,
                items,
                ..
            } => {
                assert_eq!(to_user, &h.config().mp_gh_id);
                assert_eq!(from_user, &openid);
                assert_eq!(items.len(), 1);
                assert_eq!(items[0].popup_scene.as_deref(), Some("0"));
                seen.push((
                    items[0].template_id.clone(),
                    items[0].subscribe_status.clone(),
                ));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    let accepted = |t: &str| {
        seen.iter()
            .filter(|(id, s)| id == t && *s == SubscribeStatus::Accept)
            .count()
    };
    assert_eq!(accepted(&one_time), 2);
    assert_eq!(accepted(&long_term), 1);
    assert!(seen
        .iter()
        .any(|(id, s)| id == &one_time && *s == SubscribeStatus::Reject));

    // Switched off in the settings: nothing left; switched on: long-term resumes.
    let r = answer(&h, "change", &openid, &one_time, "reject").await;
    assert_eq!(r["credit"]["one_time"], 0);
    let r = answer(&h, "change", &openid, &long_term, "reject").await;
    assert_eq!(r["credit"]["long_term"], false);
    let r = answer(&h, "change", &openid, &long_term, "accept").await;
    assert_eq!(r["credit"]["long_term"], true);
    let events = opened(&h, &mp_inbox).await;
    assert_eq!(events.len(), 3);
    for e in &events {
        assert!(
            matches!(e, Event::SubscribeMsgChangeEvent { from_user, items, .. }
                if from_user == &openid && items.len() == 1),
            "{e:?}"
        );
    }
    assert_eq!(h.credits_of(&openid, &one_time).unwrap().one_time, 0);
    assert!(oa_inbox.lock().is_empty(), "MP events never reach the OA");

    // Refusals of the control API.
    let resp = client()
        .post(format!("{}/sim/mp/popup", h.base_url))
        .json(&json!({"openid": openid, "template_id": "nope", "status": "accept"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let resp = client()
        .post(format!("{}/sim/mp/popup", h.base_url))
        .json(&json!({"openid": openid, "template_id": one_time, "status": "maybe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let resp = client()
        .post(format!("{}/sim/mp/change", h.base_url))
        .json(&json!({"openid": h.follower_openid(0).unwrap(), "template_id": one_time, "status": "reject"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn every_delivered_subscribe_send_pushes_a_sent_event() {
    let (h, mp_inbox, oa_inbox) = setup().await;
    let token = mp_token(&h).await;
    let openid = h.mp_openid(7).unwrap();
    let tpl = mp_template_id(&h, "报名结果通知");
    answer(&h, "popup", &openid, &tpl, "accept").await;
    assert_eq!(opened(&h, &mp_inbox).await.len(), 1);

    let body = json!({"touser": openid, "template_id": tpl,
        "data": {"thing1": {"value": "TIT会议室"}, "date2": {"value": "2016年8月8日"}}});
    let path = format!("/cgi-bin/message/subscribe/send?access_token={token}");
    let sent = post(&h, &path, &body).await;
    assert_eq!(sent["errcode"], 0);
    let msgid = sent["msgid"].as_i64().unwrap();
    // The credit is used up: 43101, and nothing is pushed for it.
    assert_eq!(post(&h, &path, &body).await["errcode"], 43101);

    let events = opened(&h, &mp_inbox).await;
    assert_eq!(events.len(), 1);
    match &events[0] {
        Event::SubscribeMsgSentEvent {
            to_user,
            from_user,
            items,
            ..
        } => {
            assert_eq!(to_user, &h.config().mp_gh_id);
            assert_eq!(from_user, &openid);
            assert_eq!(items.len(), 1);
            assert_eq!(items[0].template_id, tpl);
            assert_eq!(items[0].msg_id, msgid, "the msgid, exact beyond 2^53");
            assert_eq!(items[0].error_code, 0);
            assert_eq!(items[0].error_status, "success");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(oa_inbox.lock().is_empty());

    // Without an MP callback nothing is pushed.
    let r = client()
        .delete(format!("{}/sim/mp/callback", h.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    answer(&h, "popup", &openid, &tpl, "accept").await;
    assert_eq!(post(&h, &path, &body).await["errcode"], 0);
    assert!(h.wait_receipts_idle(Duration::from_secs(5)).await);
    assert!(mp_inbox.lock().is_empty());
}

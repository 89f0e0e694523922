//! Shared helpers of the integration tests: start a simulator, raw HTTP calls, error checks.
#![allow(dead_code)]

use std::net::SocketAddr;

use serde_json::Value;
use wechat_sim::{start, SimConfig, SimHandle};

pub const ANY: &str = "127.0.0.1:0";

pub async fn sim(config: SimConfig) -> SimHandle {
    start(config, ANY.parse::<SocketAddr>().unwrap())
        .await
        .unwrap()
}

pub async fn small() -> SimHandle {
    sim(SimConfig::default()).await
}

pub fn client() -> reqwest::Client {
    reqwest::Client::new()
}

pub async fn get(h: &SimHandle, path_and_query: &str) -> Value {
    let text = get_text(h, path_and_query).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub async fn get_text(h: &SimHandle, path_and_query: &str) -> String {
    let resp = client()
        .get(format!("{}{}", h.base_url, path_and_query))
        .send()
        .await
        .unwrap();
    resp.text().await.unwrap()
}

pub async fn post(h: &SimHandle, path_and_query: &str, body: &Value) -> Value {
    post_raw(h, path_and_query, body.to_string()).await
}

pub async fn post_raw(h: &SimHandle, path_and_query: &str, body: String) -> Value {
    let text = post_text(h, path_and_query, body).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

pub async fn post_text(h: &SimHandle, path_and_query: &str, body: String) -> String {
    let resp = client()
        .post(format!("{}{}", h.base_url, path_and_query))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        200,
        "WeChat answers HTTP 200 (path {path_and_query})"
    );
    resp.text().await.unwrap()
}

/// Asserts `{"errcode":code,"errmsg":"<prefix> rid: xxxxxxxx-xxxxxxxx-xxxxxxxx"}`.
pub fn assert_err(v: &Value, code: i64, prefix: &str) {
    assert_eq!(v["errcode"], code, "body: {v}");
    let msg = v["errmsg"]
        .as_str()
        .unwrap_or_else(|| panic!("no errmsg: {v}"));
    let (text, rid) = msg
        .rsplit_once(" rid: ")
        .unwrap_or_else(|| panic!("no rid in {msg}"));
    assert!(
        text.starts_with(prefix),
        "errmsg `{msg}` should start with `{prefix}`"
    );
    let groups: Vec<&str> = rid.split('-').collect();
    assert_eq!(groups.len(), 3, "{rid}");
    for g in groups {
        assert_eq!(g.len(), 8, "{rid}");
        assert!(
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{rid}"
        );
    }
    assert_eq!(
        v.as_object().unwrap().len(),
        2,
        "only errcode and errmsg: {v}"
    );
}

pub async fn oa_token(h: &SimHandle) -> String {
    let c = h.config();
    let v = post(
        h,
        "/cgi-bin/stable_token",
        &serde_json::json!({"grant_type": "client_credential", "appid": c.oa_appid, "secret": c.oa_secret}),
    )
    .await;
    v["access_token"].as_str().unwrap().to_owned()
}

pub async fn mp_token(h: &SimHandle) -> String {
    let c = h.config();
    let v = post(
        h,
        "/cgi-bin/stable_token",
        &serde_json::json!({"grant_type": "client_credential", "appid": c.mp_appid, "secret": c.mp_secret}),
    )
    .await;
    v["access_token"].as_str().unwrap().to_owned()
}

/// The template with this title.
pub fn template_id(h: &SimHandle, title: &str) -> String {
    h.oa_templates()
        .into_iter()
        .find(|t| t.title == title)
        .unwrap_or_else(|| panic!("no template {title}"))
        .template_id
}

pub fn mp_template_id(h: &SimHandle, title: &str) -> String {
    h.mp_templates()
        .into_iter()
        .find(|t| t.title == title)
        .unwrap_or_else(|| panic!("no MP template {title}"))
        .pri_tmpl_id
}

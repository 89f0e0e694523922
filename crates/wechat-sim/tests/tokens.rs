//! Token rules: stable_token idempotence and force_refresh, cgi-bin/token rotation with grace,
//! expiry, credential errors, and the token errors of other APIs.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

fn creds(h: &wechat_sim::SimHandle) -> (String, String) {
    (h.config().oa_appid.clone(), h.config().oa_secret.clone())
}

async fn user_get(h: &wechat_sim::SimHandle, token: &str) -> serde_json::Value {
    get(h, &format!("/cgi-bin/user/get?access_token={token}")).await
}

#[tokio::test]
async fn stable_token_is_idempotent_and_reports_remaining_life() {
    let h = small().await;
    let (appid, secret) = creds(&h);
    let body = json!({"grant_type": "client_credential", "appid": appid, "secret": secret});
    let first = post(&h, "/cgi-bin/stable_token", &body).await;
    assert!(
        first.get("errcode").is_none(),
        "no errcode on success: {first}"
    );
    assert_eq!(first.as_object().unwrap().len(), 2);
    assert_eq!(first["expires_in"], 7200);
    let token = first["access_token"].as_str().unwrap();
    assert!(token.starts_with("92_") && token.len() > 100, "{token}");
    h.advance_clock(Duration::from_secs(600));
    let again = post(&h, "/cgi-bin/stable_token", &body).await;
    assert_eq!(again["access_token"], first["access_token"]);
    let left = again["expires_in"].as_i64().unwrap();
    assert!((6599..=6600).contains(&left), "remaining life, got {left}");
    // In the last 5 minutes: a new token; the old one keeps working until its expiry.
    h.advance_clock(Duration::from_secs(6400));
    let rotated = post(&h, "/cgi-bin/stable_token", &body).await;
    assert_ne!(rotated["access_token"], first["access_token"]);
    assert_eq!(rotated["expires_in"], 7200);
    assert!(user_get(&h, token).await.get("errcode").is_none());
    h.advance_clock(Duration::from_secs(200));
    assert_err(&user_get(&h, token).await, 42001, "access_token expired");
    assert!(user_get(&h, rotated["access_token"].as_str().unwrap())
        .await
        .get("total")
        .is_some());
}

#[tokio::test]
async fn force_refresh_rotates_and_kills_the_old_token() {
    let h = small().await;
    let (appid, secret) = creds(&h);
    let old = oa_token(&h).await;
    let forced = post(
        &h,
        "/cgi-bin/stable_token",
        &json!({"grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": true}),
    )
    .await;
    let new = forced["access_token"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(forced["expires_in"], 7200);
    assert_err(&user_get(&h, &old).await, 40001, "invalid credential");
    assert!(user_get(&h, new).await.get("errcode").is_none());
    // Normal calls now return the new token.
    assert_eq!(oa_token(&h).await, new);
}

#[tokio::test]
async fn cgi_bin_token_rotates_on_every_call_with_five_minute_grace() {
    let h = small().await;
    let (appid, secret) = creds(&h);
    let url = format!("/cgi-bin/token?grant_type=client_credential&appid={appid}&secret={secret}");
    let a = get(&h, &url).await;
    assert_eq!(a.as_object().unwrap().len(), 2, "{a}");
    let b = get(&h, &url).await;
    let (a, b) = (
        a["access_token"].as_str().unwrap().to_owned(),
        b["access_token"].as_str().unwrap().to_owned(),
    );
    assert_ne!(a, b);
    // The stable family is untouched by cgi-bin/token and vice versa.
    let stable = oa_token(&h).await;
    h.advance_clock(Duration::from_secs(299));
    assert!(
        user_get(&h, &a).await.get("errcode").is_none(),
        "old token works within the grace"
    );
    h.advance_clock(Duration::from_secs(2));
    assert_err(
        &user_get(&h, &a).await,
        40001,
        "invalid credential, access_token is invalid or not latest",
    );
    assert!(user_get(&h, &b).await.get("errcode").is_none());
    assert!(user_get(&h, &stable).await.get("errcode").is_none());
}

#[tokio::test]
async fn credential_errors() {
    let h = small().await;
    let (appid, secret) = creds(&h);
    let v = get(
        &h,
        &format!("/cgi-bin/token?grant_type=client_credential&appid={appid}&secret=wrong"),
    )
    .await;
    assert_err(&v, 40125, "invalid appsecret");
    let v = get(
        &h,
        &format!(
            "/cgi-bin/token?grant_type=client_credential&appid=wx0000000000000000&secret={secret}"
        ),
    )
    .await;
    assert_err(&v, 40013, "invalid appid");
    let v = get(
        &h,
        &format!("/cgi-bin/token?grant_type=password&appid={appid}&secret={secret}"),
    )
    .await;
    assert_err(&v, 40002, "invalid grant_type");
    // A form-encoded stable_token body: 41002 even though appid was sent.
    let v = post_raw(
        &h,
        "/cgi-bin/stable_token",
        format!("grant_type=client_credential&appid={appid}&secret={secret}"),
    )
    .await;
    assert_err(&v, 41002, "appid missing");
    let v = post(
        &h,
        "/cgi-bin/stable_token",
        &json!({"grant_type": "client_credential", "appid": appid, "secret": "nope"}),
    )
    .await;
    assert_err(&v, 40125, "invalid appsecret");
    let v = get_text(&h, "/cgi-bin/stable_token").await;
    assert_err(
        &serde_json::from_str(&v).unwrap(),
        43002,
        "require POST method",
    );
}

#[tokio::test]
async fn token_errors_on_other_apis() {
    let h = small().await;
    assert_err(
        &get(&h, "/cgi-bin/user/get").await,
        41001,
        "access_token missing",
    );
    assert_err(
        &user_get(&h, "92_garbage").await,
        40014,
        "invalid access_token",
    );
    let mp = mp_token(&h).await;
    assert_err(&user_get(&h, &mp).await, 48001, "api unauthorized");
    let oa = oa_token(&h).await;
    h.advance_clock(Duration::from_secs(7200));
    assert_err(&user_get(&h, &oa).await, 42001, "access_token expired");
}

#[tokio::test]
async fn forced_invalidation_makes_every_token_40001() {
    let h = small().await;
    let stable = oa_token(&h).await;
    let v = post(&h, "/sim/tokens/invalidate", &json!({})).await;
    assert_eq!(v["ok"], true);
    assert_err(&user_get(&h, &stable).await, 40001, "invalid credential");
    let fresh = oa_token(&h).await;
    assert_ne!(fresh, stable);
    assert!(user_get(&h, &fresh).await.get("errcode").is_none());
}

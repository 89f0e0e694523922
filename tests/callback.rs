//! The WeChat callback URL end to end: the simulator pushes signed (and encrypted) follow events
//! to the real server, which updates the follower between syncs; forged pushes are refused.

mod common;

use common::{add_user, call, create_account, login, wait_for, NewAccount, Server, TestDb};
use engine::on_both_databases;
use reqwest::StatusCode;
use serde_json::{json, Value};

const ADMIN_PW: &str = "admin-password-1";
const CB_TOKEN: &str = "cbtoken2024";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";

async fn json_of(r: reqwest::Response) -> Value {
    r.json().await.unwrap()
}

async fn follow_events_reach_followers(db: TestDb) {
    let sim = wechat_sim::start(
        wechat_sim::SimConfig {
            followers: 300,
            ..wechat_sim::SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);
    let client = server.client();
    login(&client, &server, "admin", ADMIN_PW).await;
    let cfg = sim.config().clone();
    create_account(
        &client,
        &server,
        NewAccount {
            kind: "oa",
            name: "回调测试号",
            appid: &cfg.oa_appid,
            secret: &cfg.oa_secret,
            callback_token: CB_TOKEN,
            encoding_aes_key: AES_KEY,
            api_base: &sim.base_url,
        },
    )
    .await;
    let callback_url = server.url(&format!("/wechat/callback/{}", cfg.oa_appid));

    // URL verification with WeChat's signature, and a forged one.
    let (ts, nonce) = ((engine::now_ms() / 1000).to_string(), "4242".to_owned());
    let sig = wechat::callback::signature::signature(CB_TOKEN, &ts, &nonce);
    let ok = client
        .get(format!(
            "{callback_url}?signature={sig}&timestamp={ts}&nonce={nonce}&echostr=hello123"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.text().await.unwrap(), "hello123");
    let forged = client
        .get(format!(
            "{callback_url}?signature=deadbeef&timestamp={ts}&nonce={nonce}&echostr=x"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let forged_post = client
        .post(format!(
            "{callback_url}?signature=deadbeef&timestamp={ts}&nonce={nonce}"
        ))
        .body("<xml><Event><![CDATA[unsubscribe]]></Event></xml>")
        .send()
        .await
        .unwrap();
    assert_eq!(forged_post.status(), StatusCode::FORBIDDEN);

    // Sync, so the followers are known.
    assert_eq!(
        call(&client, &server, "start_follower_sync", &[])
            .await
            .status(),
        StatusCode::OK
    );
    wait_for("the sync finishes", 20, async || {
        let s = json_of(call(&client, &server, "sync_status", &[]).await).await;
        s["progress"]["state"] == "done"
    })
    .await;
    let subscribed_before = json_of(call(&client, &server, "dashboard", &[]).await).await
        ["subscribed"]
        .as_i64()
        .unwrap();
    assert_eq!(subscribed_before, 300);

    // WeChat pushes an encrypted unsubscribe event to our callback URL.
    let raw = reqwest::Client::new();
    let r = raw
        .post(format!("{}/sim/accounts/oa/callback", sim.base_url))
        .json(&json!({ "url": callback_url, "token": CB_TOKEN, "encoding_aes_key": AES_KEY, "mode": "safe" }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let openid = sim.follower_openid(7).unwrap();
    let r = raw
        .post(format!("{}/sim/followers/unsubscribe", sim.base_url))
        .json(&json!({ "openid": openid, "push_event": true }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    let filter = |subscribed: &'static str| {
        [
            ("filter[search]", openid.clone()),
            ("filter[subscribed]", subscribed.to_owned()),
            ("after", String::new()),
        ]
    };
    wait_for("the follower is marked unsubscribed", 20, async || {
        let f = filter("false");
        let form: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        json_of(call(&client, &server, "list_followers", &form).await).await["total"] == 1
    })
    .await;
    let after = json_of(call(&client, &server, "dashboard", &[]).await).await["subscribed"]
        .as_i64()
        .unwrap();
    assert_eq!(
        after,
        subscribed_before - 1,
        "the dashboard follows the event without a sync"
    );

    // The same event again changes nothing; a re-follow brings them back.
    let r = raw
        .post(format!("{}/sim/followers/subscribe", sim.base_url))
        .json(&json!({ "openid": openid, "push_event": true }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    wait_for("the follower is back", 20, async || {
        let f = filter("true");
        let form: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        json_of(call(&client, &server, "list_followers", &form).await).await["total"] == 1
    })
    .await;
    let back = json_of(call(&client, &server, "dashboard", &[]).await).await["subscribed"]
        .as_i64()
        .unwrap();
    assert_eq!(back, subscribed_before);
}
on_both_databases!(follow_events_reach_followers);

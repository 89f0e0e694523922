//! Subscription credits through the real binary: the MP backend's report API
//! (`/api/mp/{appid}/subscriptions`) and encrypted subscribe events the simulator pushes to the
//! Mini Program's callback URL; the dashboard's figures.

mod common;

use std::time::Duration;

use common::{add_user, call, login, wait_for, Server, TestDb};
use engine::on_both_databases;
use reqwest::StatusCode;
use serde_json::{json, Value};

const ADMIN_PW: &str = "admin-password-1";
const CB_TOKEN: &str = "mptoken2024";
const AES_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";

#[allow(clippy::too_many_arguments)]
async fn add_account(
    client: &reqwest::Client,
    server: &Server,
    kind: &str,
    name: &str,
    appid: &str,
    secret: &str,
    api_base: &str,
    linked: &str,
) -> i64 {
    let r = call(
        client,
        server,
        "create_account",
        &[
            ("kind", kind),
            ("name", name),
            ("appid", appid),
            ("secret", secret),
            ("callback_token", CB_TOKEN),
            ("encoding_aes_key", AES_KEY),
            ("api_base", api_base),
            ("linked_account_id", linked),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK, "create_account {kind}");
    r.json().await.unwrap()
}

/// The dashboard's credit row of one template.
async fn dashboard_row(client: &reqwest::Client, server: &Server, template_id: &str) -> Value {
    let d: Value = call(client, server, "dashboard", &[])
        .await
        .json()
        .await
        .unwrap();
    d["subscription_credits"]
        .as_array()
        .unwrap_or_else(|| panic!("no credits in {d}"))
        .iter()
        .find(|t| t["template_id"] == template_id)
        .cloned()
        .unwrap_or_else(|| panic!("no row for {template_id} in {d}"))
}

async fn reports_and_events_change_credits(db: TestDb) {
    let sim = wechat_sim::start(
        wechat_sim::SimConfig {
            followers: 50,
            mp_users: 20,
            ..wechat_sim::SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    let cfg = sim.config().clone();
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);
    let admin = server.client();
    login(&admin, &server, "admin", ADMIN_PW).await;
    let oa_id = add_account(
        &admin,
        &server,
        "oa",
        "公众号",
        &cfg.oa_appid,
        &cfg.oa_secret,
        &sim.base_url,
        "",
    )
    .await;
    let mp_id = add_account(
        &admin,
        &server,
        "mp",
        "订阅小程序",
        &cfg.mp_appid,
        &cfg.mp_secret,
        &sim.base_url,
        &oa_id.to_string(),
    )
    .await;
    let r = call(&admin, &server, "sync_templates", &[("kind", "mp")]).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let tpl = |title: &str| {
        sim.mp_templates()
            .into_iter()
            .find(|t| t.title == title)
            .unwrap()
            .pri_tmpl_id
    };
    let (one_time, long_term) = (tpl("报名结果通知"), tpl("设备状态提醒"));
    let r = call(
        &admin,
        &server,
        "create_mp_api_key",
        &[("account_id", &mp_id.to_string())],
    )
    .await;
    let key = r.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();

    let api = reqwest::Client::new();
    let login_url = server.url(&format!("/api/mp/{}/login", cfg.mp_appid));
    let url = server.url(&format!("/api/mp/{}/subscriptions", cfg.mp_appid));
    let report = |key: Option<&str>, body: String| {
        let mut req = api
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send()
    };
    let user = sim.mp_openid(1).unwrap();
    let code = sim.mint_code(1, false).unwrap();
    let r = api
        .post(&login_url)
        .bearer_auth(&key)
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Authentication comes first.
    let good = json!({"openid": user, "result": {"errMsg": "requestSubscribeMessage:ok", one_time.clone(): "accept"}}).to_string();
    let r = report(None, good.clone()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = report(Some(&format!("wxp_{}", "0".repeat(64))), good.clone())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // 400s name the field, in English and Chinese.
    let bad_status = format!("\"result.{one_time}\"");
    let many: serde_json::Map<String, Value> = (0..11)
        .map(|i| (format!("tpl{i}"), json!("accept")))
        .collect();
    for (body, needle) in [
        ("not json".to_owned(), "JSON"),
        (
            json!({"result": {one_time.clone(): "accept"}}).to_string(),
            "\"openid\"",
        ),
        (
            json!({"openid": 42, "result": {}}).to_string(),
            "\"openid\"",
        ),
        (json!({"openid": user}).to_string(), "\"result\""),
        (
            json!({"openid": user, "result": "accept"}).to_string(),
            "\"result\"",
        ),
        (
            json!({"openid": user, "result": {one_time.clone(): "yes"}}).to_string(),
            bad_status.as_str(),
        ),
        (
            json!({"openid": user, "result": {"errMsg": "requestSubscribeMessage:ok"}}).to_string(),
            "\"result\"",
        ),
        (
            json!({"openid": user, "result": many}).to_string(),
            "at most 10",
        ),
    ] {
        let r = report(Some(&key), body.clone()).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let v: Value = r.json().await.unwrap();
        assert!(v["error"].as_str().unwrap().contains(needle), "{body}: {v}");
        assert!(v["error_zh"].is_string(), "{v}");
    }
    // A user the backend never logged in.
    let stranger = sim.mp_openid(2).unwrap();
    let r = report(
        Some(&key),
        json!({"openid": stranger, "result": {one_time.clone(): "accept"}}).to_string(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains(&format!("/api/mp/{}/login", cfg.mp_appid)),
        "{v}"
    );

    // A report changes the credits and answers them.
    let r = report(
        Some(&key),
        json!({"openid": user, "result": {"errMsg": "requestSubscribeMessage:ok", one_time.clone(): "accept", long_term.clone(): "accept"}}).to_string(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["openid"], user.as_str());
    assert_eq!(
        v["credits"][&one_time],
        json!({"one_time": 1, "long_term": false, "refused": false})
    );
    assert_eq!(v["credits"][&long_term]["long_term"], true);
    let row = dashboard_row(&admin, &server, &one_time).await;
    assert_eq!(row["holders"], 1);
    assert_eq!(row["one_time_total"], 1);
    assert_eq!(row["long_term"], false);
    assert_eq!(
        dashboard_row(&admin, &server, &long_term).await["long_term_users"],
        1
    );

    // WeChat pushes encrypted popup events to the Mini Program's callback URL.
    let callback_url = server.url(&format!("/wechat/callback/{}", cfg.mp_appid));
    let raw = reqwest::Client::new();
    let r = raw
        .post(format!("{}/sim/mp/callback", sim.base_url))
        .json(&json!({ "url": callback_url, "token": CB_TOKEN, "encoding_aes_key": AES_KEY, "mode": "safe" }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let other = sim.mp_openid(3).unwrap();
    for _ in 0..2 {
        let r = raw
            .post(format!("{}/sim/mp/popup", sim.base_url))
            .json(&json!({ "openid": other, "template_id": one_time, "status": "accept" }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        // Two clicks in the same second would be one push repeated; real clicks are apart.
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    wait_for("the popup events count", 20, async || {
        dashboard_row(&admin, &server, &one_time).await["one_time_total"] == 3
    })
    .await;
    assert!(sim.wait_receipts_idle(Duration::from_secs(10)).await);
    assert_eq!(sim.receipt_stats().failed, 0);
    assert_eq!(
        dashboard_row(&admin, &server, &one_time).await["holders"],
        2
    );

    // The MP backend sends a subscribe message itself: WeChat's sent event uses the credit.
    let token = raw
        .post(format!("{}/cgi-bin/stable_token", sim.base_url))
        .json(&json!({"grant_type": "client_credential", "appid": cfg.mp_appid, "secret": cfg.mp_secret}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sent: Value = raw
        .post(format!(
            "{}/cgi-bin/message/subscribe/send?access_token={token}",
            sim.base_url
        ))
        .json(&json!({"touser": other, "template_id": one_time,
            "data": {"thing1": {"value": "TIT会议室"}, "date2": {"value": "2016年8月8日"}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sent["errcode"], 0, "{sent}");
    wait_for("the sent event spends a credit", 20, async || {
        dashboard_row(&admin, &server, &one_time).await["one_time_total"] == 2
    })
    .await;

    // The user switches the template off in the settings: nothing left.
    let r = raw
        .post(format!("{}/sim/mp/change", sim.base_url))
        .json(&json!({ "openid": other, "template_id": one_time, "status": "reject" }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    wait_for("the change event clears the credit", 20, async || {
        let row = dashboard_row(&admin, &server, &one_time).await;
        row["one_time_total"] == 1 && row["refused_users"] == 1 && row["holders"] == 1
    })
    .await;

    // The ledger says why.
    let engine = engine::Engine::open(&db.url).await.unwrap();
    let credit = engine.credit(mp_id, &other, &one_time).await.unwrap();
    assert_eq!((credit.one_time, credit.refused), (0, true));
    let ledger = engine.subscription_ledger(mp_id, &other, 10).await.unwrap();
    let sources: Vec<&str> = ledger.iter().map(|e| e.source.as_str()).collect();
    assert_eq!(sources, vec!["change", "sent", "popup", "popup"]);
    server.stop();
}
on_both_databases!(reports_and_events_change_credits);

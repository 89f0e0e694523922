//! Control API and fault injection over HTTP.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;
use wechat_sim::{FaultConfig, SimConfig};

#[tokio::test]
async fn accounts_templates_and_ledger_reset() {
    let h = small().await;
    let acc = get(&h, "/sim/accounts").await;
    let c = h.config();
    assert_eq!(acc["oa"]["appid"], json!(c.oa_appid));
    assert_eq!(acc["oa"]["secret"], json!(c.oa_secret));
    assert!(acc["oa"]["gh_id"].as_str().unwrap().starts_with("gh_"));
    assert_eq!(acc["mp"]["appid"], json!(c.mp_appid));
    assert_eq!(acc["oa"]["followers"], 1000);
    assert!(c.oa_appid.starts_with("wx") && c.oa_appid.len() == 18);

    let token = oa_token(&h).await;
    let list = get(
        &h,
        &format!("/cgi-bin/template/get_all_private_template?access_token={token}"),
    )
    .await;
    let tpls = list["template_list"].as_array().unwrap();
    assert_eq!(tpls.len(), 6);
    assert!(tpls.iter().any(|t| t["primary_industry"].is_null()
        && t["content"].as_str().unwrap().contains("{{thing1.DATA}}")));
    assert!(tpls.iter().any(|t| t["primary_industry"] == "IT科技"
        && t["content"].as_str().unwrap().starts_with("{{first.DATA}}")));
    assert!(tpls[0].get("enums").is_none());
    // Add, update, remove (for a 3-way merge).
    let added = post(&h, "/sim/templates", &json!({"title": "预约成功通知", "content": "预约项目:{{thing1.DATA}}\n预约时间:{{time2.DATA}}", "example": "预约项目:体检\n预约时间:2023-10-20 09:30"})).await;
    let id = added["template_id"].as_str().unwrap().to_owned();
    assert_eq!(added["category"], true);
    let updated = client()
        .put(format!("{}/sim/templates/{id}", h.base_url))
        .json(
            &json!({"title": "预约成功提醒", "content": "预约项目:{{thing1.DATA}}", "example": ""}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    let list = get(
        &h,
        &format!("/cgi-bin/template/get_all_private_template?access_token={token}"),
    )
    .await;
    assert_eq!(list["template_list"][6]["title"], "预约成功提醒");
    let del = post(
        &h,
        &format!("/cgi-bin/template/del_private_template?access_token={token}"),
        &json!({"template_id": id}),
    )
    .await;
    assert_eq!(del, json!({"errcode": 0, "errmsg": "ok"}));
    let again = post(
        &h,
        &format!("/cgi-bin/template/del_private_template?access_token={token}"),
        &json!({"template_id": id}),
    )
    .await;
    assert_err(&again, 40037, "invalid template_id");
    let removed = client()
        .delete(format!(
            "{}/sim/templates/{}",
            h.base_url,
            template_id(&h, "会员积分变动提醒")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200);
    assert_eq!(h.oa_templates().len(), 5);

    // Ledger reset.
    let v = post(&h, &format!("/cgi-bin/message/template/send?access_token={token}"), &json!({"touser": h.follower_openid(0).unwrap(), "template_id": template_id(&h, "购买成功通知"), "data": {}})).await;
    assert_eq!(v["errcode"], 0);
    assert_eq!(get(&h, "/sim/ledger/summary").await["accepted"], 1);
    post(&h, "/sim/reset-ledger", &json!({})).await;
    assert_eq!(get(&h, "/sim/ledger/summary").await["accepted"], 0);
    let bad = client()
        .get(format!("{}/sim/ledger", h.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let users = get(&h, "/sim/mp/users?offset=0&limit=50").await;
    assert_eq!(users["users"].as_array().unwrap().len(), 50);
    let followers = get(&h, "/sim/followers?offset=995&limit=10").await;
    assert_eq!(followers["users"].as_array().unwrap().len(), 10);
    assert_eq!(followers["users"][9]["subscribed"], false);
}

#[tokio::test]
async fn injected_errors_5xx_and_lost_responses() {
    let h = small().await;
    let token = oa_token(&h).await;
    let url = format!("/cgi-bin/message/template/send?access_token={token}");
    let tpl = template_id(&h, "购买成功通知");
    let body =
        |i: u32| json!({"touser": h.follower_openid(i).unwrap(), "template_id": tpl, "data": {}});
    post(&h, "/sim/faults", &json!({"errors": {"45011": 1.0}})).await;
    assert_err(
        &post(&h, &url, &body(0)).await,
        45011,
        "api minute-quota reach limit",
    );
    // Scope "send": other endpoints are unaffected.
    assert!(get(&h, &format!("/cgi-bin/user/get?access_token={token}"))
        .await
        .get("total")
        .is_some());
    post(
        &h,
        "/sim/faults",
        &json!({"errors": {"-1": 1.0}, "error_scope": "all"}),
    )
    .await;
    assert_err(
        &get(&h, &format!("/cgi-bin/user/get?access_token={token}")).await,
        -1,
        "system error",
    );
    post(&h, "/sim/faults", &json!({"http_5xx_rate": 1.0})).await;
    let resp = client()
        .post(format!("{}{url}", h.base_url))
        .json(&body(1))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_server_error());
    assert_eq!(h.ledger_summary().accepted, 0, "nothing processed so far");
    // Lost response: processed and recorded, but the client sees a 504.
    post(&h, "/sim/faults", &json!({"lost_response_rate": 1.0})).await;
    let resp = client()
        .post(format!("{}{url}", h.base_url))
        .json(&body(2))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    assert_eq!(h.ledger_received(&h.follower_openid(2).unwrap()), 1);
    // Latency.
    post(
        &h,
        "/sim/faults",
        &json!({"latency_ms": 150, "jitter_ms": 20}),
    )
    .await;
    let t0 = Instant::now();
    post(&h, &url, &body(3)).await;
    assert!(t0.elapsed() >= Duration::from_millis(150));
    let faults = get(&h, "/sim/faults").await;
    assert_eq!(faults["latency_ms"], 150);
    let cleared = client()
        .delete(format!("{}/sim/faults", h.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200);
    assert_eq!(h.faults(), FaultConfig::default());
    let bad = client()
        .post(format!("{}/sim/faults", h.base_url))
        .json(&json!({"slow_rate": 2.0}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn error_rates_follow_the_seeded_rng() {
    let mut config = SimConfig::default();
    config.faults.errors.insert(-1, 0.3);
    let h = sim(config).await;
    let token = oa_token(&h).await;
    let url = format!("/cgi-bin/message/template/send?access_token={token}");
    let tpl = template_id(&h, "购买成功通知");
    let mut errors = 0;
    for i in 0..200 {
        let v = post(
            &h,
            &url,
            &json!({"touser": h.follower_openid(i).unwrap(), "template_id": tpl, "data": {}}),
        )
        .await;
        if v["errcode"] == -1 {
            errors += 1;
        }
    }
    assert!((30..=90).contains(&errors), "about 30 % injected: {errors}");
    assert_eq!(h.ledger_summary().accepted, 200 - errors);
}

#[tokio::test]
async fn unknown_paths_and_withdrawn_apis() {
    let h = small().await;
    let resp = client()
        .get(format!("{}/cgi-bin/nope", h.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let token = mp_token(&h).await;
    let v = post(
        &h,
        &format!("/cgi-bin/message/wxopen/template/uniform_send?access_token={token}"),
        &json!({}),
    )
    .await;
    assert_err(&v, 45109, "This API has been unsupported");
    let clock = post(&h, "/sim/clock/advance", &json!({"secs": 60})).await;
    assert!(clock["offset_ms"].as_u64().unwrap() >= 60_000);
    h.shutdown().await;
}

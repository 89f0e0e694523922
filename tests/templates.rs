//! Templates and presets over HTTP: every server function checks the session and the role
//! itself, the server refuses what the editor would refuse, and a test send answers with
//! WeChat's msgid.

mod common;

use common::{add_user, call, create_account, login, page_text, NewAccount, Server, TestDb};
use engine::on_both_databases;
use reqwest::StatusCode;
use serde_json::{json, Value};

const ADMIN_PW: &str = "admin-password-1";
const OPERATOR_PW: &str = "operator-password-1";

fn order_body(thing: &str) -> String {
    json!({
        "values": {
            "thing1": { "value": thing, "color": "#FF0000" },
            "character_string2": { "value": "20231018123456" },
            "time3": { "value": "2023年10月18日 14:30" },
            "amount4": { "value": "¥199.00" },
            "const5": { "value": "已发货" }
        },
        "url": "",
        "miniprogram": null
    })
    .to_string()
}

async fn presets_are_guarded_and_checked_on_the_server(db: TestDb) {
    let sim = wechat_sim::start(
        wechat_sim::SimConfig {
            followers: 20,
            ..wechat_sim::SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    add_user(&db, "admin", "admin", ADMIN_PW);
    add_user(&db, "operator", "operator", OPERATOR_PW);
    let server = Server::start(&db);

    let anon = server.client();
    // Well-formed arguments, so each function's own session check is what answers.
    let body = order_body("x");
    for (endpoint, form) in [
        ("templates_page", vec![]),
        ("sync_templates", vec![("kind", "oa")]),
        ("preset_editor", vec![("id", "0")]),
        (
            "save_preset",
            vec![
                ("id", "0"),
                ("name", "n"),
                ("template_ref", "1"),
                ("body", body.as_str()),
            ],
        ),
        ("duplicate_preset", vec![("id", "1")]),
        ("delete_preset", vec![("id", "1")]),
        ("test_send_preset", vec![("id", "1")]),
        ("my_test_openids", vec![]),
        (
            "set_my_test_openid",
            vec![("account_id", "1"), ("openid", "")],
        ),
    ] {
        let r = call(&anon, &server, endpoint, &form).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{endpoint} without a session"
        );
    }

    let admin = server.client();
    login(&admin, &server, "admin", ADMIN_PW).await;
    let cfg = sim.config().clone();
    let account = create_account(
        &admin,
        &server,
        NewAccount {
            kind: "oa",
            name: "模板测试号",
            appid: &cfg.oa_appid,
            secret: &cfg.oa_secret,
            callback_token: "",
            encoding_aes_key: "",
            api_base: &sim.base_url,
        },
    )
    .await;
    let r = call(&admin, &server, "sync_templates", &[("kind", "oa")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let report: Value = r.json().await.unwrap();
    assert_eq!(report["added"], 6);

    let page: Value = call(&admin, &server, "templates_page", &[])
        .await
        .json()
        .await
        .unwrap();
    let order = page["oa_templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["title"] == "订单状态通知")
        .unwrap();
    assert_eq!(order["category"], true);
    assert_eq!(order["fields"][0]["ty"], "thing");
    let template_ref = order["id"].as_i64().unwrap().to_string();

    // The editor refuses a 21-character thing; so does the server, with the same issue.
    let long = "一二三四五六七八九十一二三四五六七八九十一";
    let r = call(
        &admin,
        &server,
        "save_preset",
        &[
            ("id", "0"),
            ("name", "发货通知"),
            ("template_ref", &template_ref),
            ("body", &order_body(long)),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: Value = r.json().await.unwrap();
    assert_eq!(
        err,
        json!({ "InvalidPreset": [{ "field": "value.thing1", "problem": { "TooLong": 20 } }] })
    );
    let r = call(
        &admin,
        &server,
        "save_preset",
        &[
            ("id", "0"),
            ("name", "发货通知"),
            ("template_ref", &template_ref),
            ("body", "{not json"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "a malformed request");

    let r = call(
        &admin,
        &server,
        "save_preset",
        &[
            ("id", "0"),
            ("name", "发货通知"),
            ("template_ref", &template_ref),
            ("body", &order_body("无线蓝牙耳机")),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let preset_id: i64 = r.json().await.unwrap();
    let id = preset_id.to_string();

    // Operators read and test-send presets but change nothing.
    let operator = server.client();
    login(&operator, &server, "operator", OPERATOR_PW).await;
    for (endpoint, form) in [
        ("sync_templates", vec![("kind", "oa")]),
        (
            "save_preset",
            vec![
                ("id", id.as_str()),
                ("name", "改名"),
                ("template_ref", template_ref.as_str()),
                ("body", "{}"),
            ],
        ),
        ("duplicate_preset", vec![("id", id.as_str())]),
        ("delete_preset", vec![("id", id.as_str())]),
    ] {
        let r = call(&operator, &server, endpoint, &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{endpoint} as operator");
    }
    let editor: Value = call(&operator, &server, "preset_editor", &[("id", &id)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(editor["preset"]["name"], "发货通知");
    assert!(editor["test_openid"].is_null());

    let r = call(&operator, &server, "test_send_preset", &[("id", &id)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json::<Value>().await.unwrap(), json!("NoTestOpenid"));

    let account_id = account.to_string();
    let r = call(
        &operator,
        &server,
        "set_my_test_openid",
        &[("account_id", &account_id), ("openid", "too short")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let me = sim.state().follower_view(3).unwrap().openid;
    let r = call(
        &operator,
        &server,
        "set_my_test_openid",
        &[("account_id", &account_id), ("openid", &me)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = call(&operator, &server, "test_send_preset", &[("id", &id)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let sent: Value = r.json().await.unwrap();
    let msgid = sent["msgid"].as_i64().expect("a msgid");
    assert_eq!(sent["openid"], me.as_str());
    let ledger = sim.state().messages(5, Some(&me));
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0].msgid, msgid);
    assert_eq!(ledger[0].payload["data"]["thing1"]["value"], "无线蓝牙耳机");

    // The admin never sees the operator's binding as their own.
    let mine: Value = call(&admin, &server, "my_test_openids", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine[0]["openid"], "");

    // Pages render on the server with the preset; secrets never reach the HTML.
    let html = page_text(&admin, &server, &format!("/templates/presets/{id}")).await;
    assert!(html.contains("发货通知"));
    assert!(html.contains("无线蓝牙耳机"));
    assert!(!html.contains(&cfg.oa_secret));
    let html = page_text(&admin, &server, "/templates").await;
    assert!(html.contains("订单状态通知") && html.contains("发货通知"));
}
on_both_databases!(presets_are_guarded_and_checked_on_the_server);

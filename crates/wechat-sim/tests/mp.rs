//! Mini Program: jscode2session codes (single use, expiry, blocked) and subscribe messages
//! with subscription credits.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use wechat_sim::SimHandle;

async fn login(h: &SimHandle, code: &str) -> Value {
    let c = h.config();
    get(
        h,
        &format!(
            "/sns/jscode2session?appid={}&secret={}&js_code={code}&grant_type=authorization_code",
            c.mp_appid, c.mp_secret
        ),
    )
    .await
}

#[tokio::test]
async fn jscode2session_codes() {
    let h = small().await;
    // A matched user: MP unionid = the follower's unionid.
    let matched = (0..400).find(|&i| h.mp_follower(i).is_some()).unwrap();
    let minted = post(&h, "/sim/mp/code", &json!({"index": matched})).await;
    let code = minted["code"].as_str().unwrap();
    assert_eq!(code.len(), 32);
    let v = login(&h, code).await;
    assert!(v.get("errcode").is_none(), "no errcode on success: {v}");
    assert_eq!(v["openid"], minted["openid"]);
    assert_eq!(v["session_key"].as_str().unwrap().len(), 24);
    let follower = h.mp_follower(matched).unwrap();
    assert_eq!(v["unionid"], json!(h.follower_unionid(follower).unwrap()));
    assert_ne!(
        v["openid"],
        json!(h.follower_openid(follower).unwrap()),
        "openids differ per app"
    );
    // Single use.
    assert_err(&login(&h, code).await, 40163, "code been used");
    assert_err(
        &login(&h, "0123456789abcdef0123456789abcdef").await,
        40029,
        "invalid code",
    );
    // Expiry after 5 minutes.
    let code = h.mint_code(matched, false).unwrap();
    h.advance_clock(Duration::from_secs(301));
    assert_err(&login(&h, &code).await, 40029, "invalid code");
    // Blocked (high-risk) user.
    let openid = h.mp_openid(matched).unwrap();
    let blocked = post(
        &h,
        "/sim/mp/code",
        &json!({"openid": openid, "blocked": true}),
    )
    .await;
    assert_err(
        &login(&h, blocked["code"].as_str().unwrap()).await,
        40226,
        "code blocked",
    );
    // A user without unionid gets no unionid key.
    let lone = (0..400).find(|&i| h.mp_unionid(i).is_none()).unwrap();
    let v = login(&h, &h.mint_code(lone, false).unwrap()).await;
    assert!(v.get("unionid").is_none(), "{v}");
    assert_eq!(v.as_object().unwrap().len(), 2);
    // Credential errors.
    let c = h.config().clone();
    let code = h.mint_code(0, false).unwrap();
    let bad = get(
        &h,
        &format!(
            "/sns/jscode2session?appid={}&secret=x&js_code={code}&grant_type=authorization_code",
            c.mp_appid
        ),
    )
    .await;
    assert_err(&bad, 40125, "invalid appsecret");
    let oa = get(
        &h,
        &format!(
            "/sns/jscode2session?appid={}&secret={}&js_code={code}&grant_type=authorization_code",
            c.oa_appid, c.oa_secret
        ),
    )
    .await;
    assert_err(&oa, 40013, "invalid appid");
    // The failed calls did not burn the code.
    assert!(login(&h, &code).await.get("openid").is_some());
}

async fn sub_send(h: &SimHandle, token: &str, body: Value) -> Value {
    post(
        h,
        &format!("/cgi-bin/message/subscribe/send?access_token={token}"),
        &body,
    )
    .await
}

#[tokio::test]
async fn subscribe_send_consumes_credits() {
    let h = small().await;
    let token = mp_token(&h).await;
    let list = get(
        &h,
        &format!("/wxaapi/newtmpl/gettemplate?access_token={token}"),
    )
    .await;
    assert_eq!(list["errcode"], 0);
    let templates = list["data"].as_array().unwrap();
    assert!(templates
        .iter()
        .any(|t| t["keywordEnumValueList"][0]["keywordCode"] == "enum_string2.DATA"));
    assert!(templates
        .iter()
        .all(|t| t["priTmplId"].as_str().unwrap().len() == 43));
    let tpl = mp_template_id(&h, "报名结果通知");
    let openid = h.mp_openid(3).unwrap();
    let body = json!({"touser": openid, "template_id": tpl, "page": "pages/index/index?from=msg", "miniprogram_state": "formal", "lang": "zh_CN",
        "data": {"thing1": {"value": "TIT会议室"}, "date2": {"value": "2016年8月8日"}}});
    assert_err(
        &sub_send(&h, &token, body.clone()).await,
        43101,
        "user refuse to accept the msg",
    );
    let g = post(
        &h,
        "/sim/mp/credits",
        &json!({"openid": openid, "template_id": tpl, "kind": "one_time", "count": 2}),
    )
    .await;
    assert_eq!(g["credit"]["one_time"], 2);
    let first = sub_send(&h, &token, body.clone()).await;
    assert_eq!(first["errcode"], 0);
    assert_eq!(first["errmsg"], "ok");
    assert!(first["msgid"].as_i64().unwrap() > (1i64 << 53));
    assert_eq!(sub_send(&h, &token, body.clone()).await["errcode"], 0);
    assert_err(
        &sub_send(&h, &token, body.clone()).await,
        43101,
        "user refuse to accept the msg",
    );
    assert_eq!(h.ledger_received(&openid), 2);
    assert_eq!(h.ledger_summary().subscribe_sends, 2);
    // Errors that do not consume credits.
    h.grant_credits(&openid, &tpl, wechat_sim::CreditKind::OneTime, 1)
        .unwrap();
    let mut bad = body.clone();
    bad["data"]["thing1"] = json!({"value": "一二三四五六七八九十一二三四五六七八九十一"});
    assert_err(
        &sub_send(&h, &token, bad).await,
        47003,
        "argument invalid! data.thing1.value invalid",
    );
    let mut bad = body.clone();
    bad["page"] = json!("/pages/index/index");
    assert_err(&sub_send(&h, &token, bad).await, 41030, "invalid page");
    let mut bad = body.clone();
    bad["touser"] = json!(h.follower_openid(3).unwrap());
    assert_err(&sub_send(&h, &token, bad).await, 40003, "invalid openid");
    let mut bad = body.clone();
    bad["template_id"] = json!(template_id(&h, "订单状态通知"));
    assert_err(
        &sub_send(&h, &token, bad).await,
        40037,
        "invalid template_id",
    );
    assert_err(
        &sub_send(&h, &oa_token(&h).await, body.clone()).await,
        48001,
        "api unauthorized",
    );
    assert_eq!(h.credits_of(&openid, &tpl).unwrap().one_time, 1);
    assert_eq!(sub_send(&h, &token, body).await["errcode"], 0);
}

#[tokio::test]
async fn long_term_credits_and_typed_values() {
    let h = small().await;
    let token = mp_token(&h).await;
    let openid = h.mp_openid(5).unwrap();
    let enum_tpl = mp_template_id(&h, "设备状态提醒");
    // Long-term only for type-3 templates, one-time only for type-2 ones.
    let wrong = client()
        .post(format!("{}/sim/mp/credits", h.base_url))
        .json(&json!({"openid": openid, "template_id": enum_tpl, "kind": "one_time", "count": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
    post(
        &h,
        "/sim/mp/credits",
        &json!({"openid": openid, "template_id": enum_tpl, "kind": "long_term"}),
    )
    .await;
    let body = |loc: &str| {
        json!({"touser": openid, "template_id": enum_tpl, "data": {
        "time1": {"value": "2021年10月21日 12:00:00"}, "enum_string2": {"value": loc}, "thing3": {"value": "设备发生故障"}}})
    };
    for _ in 0..3 {
        assert_eq!(sub_send(&h, &token, body("客厅")).await["errcode"], 0);
    }
    assert_err(
        &sub_send(&h, &token, body("地下室")).await,
        47003,
        "argument invalid! data.enum_string2.value invalid",
    );
    // The twelve-type template.
    let all = mp_template_id(&h, "预约服务提醒");
    h.grant_credits(&openid, &all, wechat_sim::CreditKind::OneTime, 5)
        .unwrap();
    let mut data = json!({
        "thing1": {"value": "汽车保养"}, "number2": {"value": "2"}, "date3": {"value": "2023-10-20"},
        "phrase4": {"value": "已确认"}, "character_string5": {"value": "RSV20231018001"}, "time6": {"value": "09:30"},
        "amount7": {"value": "¥368.00"}, "name8": {"value": "张三"}, "letter9": {"value": "VIP"},
        "symbol10": {"value": "★★"}, "phone_number11": {"value": "0755-86013388"}, "car_number12": {"value": "粤B12345"}
    });
    let ok = sub_send(
        &h,
        &token,
        json!({"touser": openid, "template_id": all, "data": data}),
    )
    .await;
    assert_eq!(ok["errcode"], 0, "{ok}");
    for (key, value) in [
        ("number2", "两个"),
        ("letter9", "V1P"),
        ("name8", "R2D2"),
        ("amount7", "¥12345678901"),
        ("date3", "09:30"),
    ] {
        let saved = data[key].clone();
        data[key] = json!({"value": value});
        let v = sub_send(
            &h,
            &token,
            json!({"touser": openid, "template_id": all, "data": data}),
        )
        .await;
        assert_err(
            &v,
            47003,
            &format!("argument invalid! data.{key}.value invalid"),
        );
        data[key] = saved;
    }
}

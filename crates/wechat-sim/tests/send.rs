//! Template messages: validation errors, category value rules, de-dup, quota, exact msgids.

mod common;

use common::*;
use serde_json::{json, Value};
use wechat_sim::SimConfig;

fn order_data(thing: &str) -> Value {
    json!({
        "thing1": {"value": thing},
        "character_string2": {"value": "20231018123456"},
        "time3": {"value": "2023年10月18日 14:30"},
        "amount4": {"value": "¥199.00"},
        "const5": {"value": "已发货"}
    })
}

async fn send(h: &wechat_sim::SimHandle, token: &str, body: Value) -> Value {
    post(
        h,
        &format!("/cgi-bin/message/template/send?access_token={token}"),
        &body,
    )
    .await
}

#[tokio::test]
async fn accepted_send_returns_an_exact_19_digit_msgid_and_is_recorded() {
    let h = small().await;
    let token = oa_token(&h).await;
    let openid = h.follower_openid(1).unwrap();
    let tpl = template_id(&h, "订单状态通知");
    let text = post_text(
        &h,
        &format!("/cgi-bin/message/template/send?access_token={token}"),
        json!({"touser": openid, "template_id": tpl, "url": "https://example.com", "data": order_data("无线蓝牙耳机")}).to_string(),
    )
    .await;
    assert!(
        text.starts_with(r#"{"errcode":0,"errmsg":"ok","msgid":"#),
        "{text}"
    );
    let digits = text.trim_end_matches('}').rsplit(':').next().unwrap();
    assert_eq!(digits.len(), 19);
    let msgid: i64 = digits.parse().unwrap();
    assert!(msgid > (1i64 << 53));
    // The control API reports it as an exact JSON number.
    let raw = get_text(&h, &format!("/sim/messages?limit=5&openid={openid}")).await;
    assert!(raw.contains(&format!("\"msgid\":{digits}")), "{raw}");
    let msgs: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        msgs["messages"][0]["payload"]["data"]["thing1"]["value"],
        "无线蓝牙耳机"
    );
    assert_eq!(msgs["messages"][0]["channel"], "template");
    assert_eq!(h.ledger_received(&openid), 1);
    let ledger = get(&h, &format!("/sim/ledger?openid={openid}")).await;
    assert_eq!(ledger, json!({"openid": openid, "received": 1}));
    // msgids increase.
    let second = send(
        &h,
        &token,
        json!({"touser": openid, "template_id": tpl, "data": order_data("耳机")}),
    )
    .await;
    assert!(second["msgid"].as_i64().unwrap() > msgid);
}

#[tokio::test]
async fn category_values_are_validated_by_type() {
    let h = small().await;
    let token = oa_token(&h).await;
    let openid = h.follower_openid(2).unwrap();
    let tpl = template_id(&h, "订单状态通知");
    let long_thing = "一二三四五六七八九十一二三四五六七八九十一";
    assert_eq!(long_thing.chars().count(), 21);
    let v = send(
        &h,
        &token,
        json!({"touser": openid, "template_id": tpl, "data": order_data(long_thing)}),
    )
    .await;
    assert_err(&v, 47003, "argument invalid! data.thing1.value invalid");
    let mut data = order_data("耳机");
    data["amount4"] = json!({"value": "10000元"});
    assert_err(
        &send(
            &h,
            &token,
            json!({"touser": openid, "template_id": tpl, "data": data}),
        )
        .await,
        47003,
        "argument invalid! data.amount4.value invalid",
    );
    let mut data = order_data("耳机");
    data["const5"] = json!({"value": "已签收"});
    assert_err(
        &send(
            &h,
            &token,
            json!({"touser": openid, "template_id": tpl, "data": data}),
        )
        .await,
        47003,
        "argument invalid! data.const5.value invalid",
    );
    let mut data = order_data("耳机");
    data["character_string2"] = json!({"value": "订单123"});
    assert_err(
        &send(
            &h,
            &token,
            json!({"touser": openid, "template_id": tpl, "data": data}),
        )
        .await,
        47003,
        "argument invalid! data.character_string2.value invalid",
    );
    let mut data = order_data("耳机");
    data.as_object_mut().unwrap().remove("time3");
    assert_err(
        &send(
            &h,
            &token,
            json!({"touser": openid, "template_id": tpl, "data": data}),
        )
        .await,
        47003,
        "argument invalid! data.time3.value invalid",
    );
    // The 8-key template: phrase, phone number and car number.
    let all = template_id(&h, "服务进度提醒");
    let mut data = json!({
        "thing1": {"value": "汽车保养"}, "character_string2": {"value": "WO20231018001"},
        "time3": {"value": "2023-10-20 09:30"}, "amount4": {"value": "¥368.00"},
        "const5": {"value": ""}, "phrase6": {"value": "待取车"},
        "phone_number7": {"value": "0755-86013388"}, "car_number8": {"value": "粤B12345"}
    });
    assert_eq!(
        send(
            &h,
            &token,
            json!({"touser": openid, "template_id": all, "data": data})
        )
        .await["errcode"],
        0
    );
    data["phrase6"] = json!({"value": "正在处理请稍候"});
    assert_err(
        &send(
            &h,
            &token,
            json!({"touser": openid, "template_id": all, "data": data}),
        )
        .await,
        47003,
        "argument invalid! data.phrase6.value invalid",
    );
    // Legacy templates never reject length; missing keys are fine.
    let legacy = template_id(&h, "购买成功通知");
    let v = send(&h, &token, json!({"touser": openid, "template_id": legacy, "data": {
        "first": {"value": "x".repeat(300)}, "keyword1": {"value": "巧克力".repeat(40), "color": "#173177"}
    }})).await;
    assert_eq!(v["errcode"], 0, "{v}");
    assert_eq!(h.ledger_received(&openid), 2);
}

#[tokio::test]
async fn recipient_and_template_errors() {
    let h = small().await;
    let token = oa_token(&h).await;
    let openid = h.follower_openid(5).unwrap();
    let tpl = template_id(&h, "订单状态通知");
    let ok = |to: &str| json!({"touser": to, "template_id": tpl, "data": order_data("耳机")});
    assert_err(
        &send(&h, &token, ok(&h.mp_openid(0).unwrap())).await,
        40003,
        "invalid openid",
    );
    assert_err(&send(&h, &token, ok("")).await, 40003, "invalid openid");
    h.unsubscribe(&openid, false).unwrap();
    assert_err(
        &send(&h, &token, ok(&openid)).await,
        43004,
        "require subscribe",
    );
    let other = h.follower_openid(6).unwrap();
    assert_err(
        &send(
            &h,
            &token,
            json!({"touser": other, "template_id": "", "data": {}}),
        )
        .await,
        40036,
        "invalid template_id size",
    );
    assert_err(
        &send(
            &h,
            &token,
            json!({"touser": other, "template_id": "nope", "data": {}}),
        )
        .await,
        40037,
        "invalid template_id",
    );
    assert_err(
        &send(
            &h,
            &token,
            json!({"touser": other, "template_id": mp_template_id(&h, "报名结果通知"), "data": {}}),
        )
        .await,
        40037,
        "invalid template_id",
    );
    let mut body = ok(&other);
    body["miniprogram"] = json!({"appid": "wx1111111111111111", "pagepath": "pages/index/index"});
    assert_err(
        &send(&h, &token, body.clone()).await,
        40013,
        "invalid appid",
    );
    body["miniprogram"] = json!({"appid": h.config().mp_appid, "pagepath": "pages/nope/index"});
    assert_err(
        &send(&h, &token, body.clone()).await,
        40165,
        "invalid weapp pagepath",
    );
    body["miniprogram"] =
        json!({"appid": h.config().mp_appid, "pagepath": "pages/order/detail?id=42"});
    assert_eq!(send(&h, &token, body).await["errcode"], 0);
    let url = format!("/cgi-bin/message/template/send?access_token={token}");
    assert_err(
        &post_raw(&h, &url, "{\"touser\":".into()).await,
        47001,
        "data format error",
    );
    assert_err(
        &post_raw(&h, &url, String::new()).await,
        44002,
        "empty post data",
    );
    assert_err(
        &serde_json::from_str(&get_text(&h, &url).await).unwrap(),
        43002,
        "require POST method",
    );
    assert_err(
        &send(&h, &mp_token(&h).await, ok(&other)).await,
        48001,
        "api unauthorized",
    );
    h.set_blacklisted(&other, true).unwrap();
    assert_err(
        &send(&h, &token, ok(&other)).await,
        43019,
        "require remove blacklist",
    );
    assert_eq!(h.ledger_summary().accepted, 1);
}

#[tokio::test]
async fn client_msg_id_dedups_within_ten_minutes() {
    let h = small().await;
    let token = oa_token(&h).await;
    let openid = h.follower_openid(9).unwrap();
    let tpl = template_id(&h, "订单发货提醒");
    let body = json!({"touser": openid, "template_id": tpl, "client_msg_id": "job7-row9", "data": {"keyword1": {"value": "A1"}}});
    let first = send(&h, &token, body.clone()).await;
    let second = send(&h, &token, body.clone()).await;
    assert_eq!(first["errcode"], 0);
    assert_eq!(second, first, "same response, same msgid");
    assert_eq!(h.ledger_received(&openid), 1);
    let s = get(&h, "/sim/ledger/summary").await;
    assert_eq!(s["accepted"], 1);
    assert_eq!(s["duplicates_suppressed"], 1);
    assert_eq!(s["duplicates_delivered"], 0);
    assert_eq!(s["duplicate_recipients"], 0);
    assert_eq!(s["max_received"], 1);
    // Another recipient with the same client_msg_id is a different message.
    let other = json!({"touser": h.follower_openid(10).unwrap(), "template_id": tpl, "client_msg_id": "job7-row9", "data": {}});
    assert_ne!(send(&h, &token, other).await["msgid"], first["msgid"]);
    // After 10 minutes the window is over: delivered again, and the ledger says so.
    h.advance_clock(std::time::Duration::from_secs(601));
    let token = oa_token(&h).await;
    let third = send(&h, &token, body).await;
    assert_ne!(third["msgid"], first["msgid"]);
    let s = h.ledger_summary();
    assert_eq!(
        (s.duplicates_delivered, s.duplicate_recipients, s.accepted),
        (1, 1, 3)
    );
}

#[tokio::test]
async fn daily_quota_45009_at_quota_plus_one() {
    let h = sim(SimConfig {
        template_send_quota: 5,
        ..SimConfig::default()
    })
    .await;
    let token = oa_token(&h).await;
    let tpl = template_id(&h, "购买成功通知");
    for i in 0..5 {
        let v = send(
            &h,
            &token,
            json!({"touser": h.follower_openid(i).unwrap(), "template_id": tpl, "data": {}}),
        )
        .await;
        assert_eq!(v["errcode"], 0, "send {i}: {v}");
    }
    let v = send(
        &h,
        &token,
        json!({"touser": h.follower_openid(5).unwrap(), "template_id": tpl, "data": {}}),
    )
    .await;
    assert_err(&v, 45009, "reach max api daily quota limit");
    // Raised at runtime through the faults API, then back to the configured value.
    post(&h, "/sim/faults", &json!({"quota": 6})).await;
    assert_eq!(
        send(
            &h,
            &token,
            json!({"touser": h.follower_openid(5).unwrap(), "template_id": tpl, "data": {}})
        )
        .await["errcode"],
        0
    );
    let cleared = client()
        .delete(format!("{}/sim/faults", h.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), 200);
    assert_eq!(
        send(
            &h,
            &token,
            json!({"touser": h.follower_openid(6).unwrap(), "template_id": tpl, "data": {}})
        )
        .await["errcode"],
        45009
    );
    // A new Beijing day resets the count.
    h.advance_clock(std::time::Duration::from_secs(24 * 3600));
    let token = oa_token(&h).await;
    assert_eq!(
        send(
            &h,
            &token,
            json!({"touser": h.follower_openid(6).unwrap(), "template_id": tpl, "data": {}})
        )
        .await["errcode"],
        0
    );
}

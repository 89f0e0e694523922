//! The real `wechat::api::Client` against the real simulator: every endpoint and every error class.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wechat::api::{
    ApiError, Client, ErrorClass, MiniProgram, SubscribeMessage, SubscribeValue, TemplateMessage,
    TemplateValue, BATCH_MAX,
};
use wechat_sim::{start, Channel, CreditKind, FaultConfig, SimConfig, SimHandle};

/// 2^53: the largest integer an f64 (a JavaScript number) holds exactly.
const TWO_POW_53: i64 = 1 << 53;

async fn sim(config: SimConfig) -> SimHandle {
    start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator starts")
}

/// 300 followers (+ 20 former), 100 MP users: starts in microseconds.
fn small() -> SimConfig {
    SimConfig {
        followers: 300,
        mp_users: 100,
        ..SimConfig::default()
    }
}

fn client() -> Client {
    Client::new().expect("client builds")
}

async fn oa_token(c: &Client, sim: &SimHandle) -> String {
    let cfg = sim.config();
    c.stable_token(&sim.base_url, &cfg.oa_appid, &cfg.oa_secret, false)
        .await
        .expect("OA stable token")
        .access_token
}

async fn mp_token(c: &Client, sim: &SimHandle) -> String {
    let cfg = sim.config();
    c.stable_token(&sim.base_url, &cfg.mp_appid, &cfg.mp_secret, false)
        .await
        .expect("MP stable token")
        .access_token
}

/// Asserts a WeChat errcode and its class, and returns the error.
fn wechat_error<T: Debug>(result: Result<T, ApiError>, code: i64, class: ErrorClass) -> ApiError {
    let err = result.expect_err(&format!("expected errcode {code}"));
    assert_eq!(err.code(), Some(code), "{err:?}");
    assert!(
        matches!(&err, ApiError::WeChat { code: c, .. } if *c == code),
        "{err:?}"
    );
    assert_eq!(err.class(), class, "class of {err:?}");
    let errmsg = err.errmsg().expect("errmsg");
    assert!(errmsg.contains(" rid: "), "errmsg kept verbatim: {errmsg}");
    err
}

/// A cheap authorised call (the OA template list): `Ok` when `token` works.
async fn token_works(c: &Client, sim: &SimHandle, token: &str) -> Result<(), ApiError> {
    let list = c.templates(&sim.base_url, token).await?;
    assert_eq!(list.len(), 6);
    Ok(())
}

fn template_id(sim: &SimHandle, title: &str) -> String {
    sim.oa_templates()
        .into_iter()
        .find(|t| t.title == title)
        .unwrap_or_else(|| panic!("no OA template {title}"))
        .template_id
}

fn mp_template_id(sim: &SimHandle, title: &str) -> String {
    sim.mp_templates()
        .into_iter()
        .find(|t| t.title == title)
        .unwrap_or_else(|| panic!("no MP template {title}"))
        .pri_tmpl_id
}

/// A valid message for the category template 订单状态通知 (thing1, character_string2, time3,
/// amount4, const5).
fn order_message(sim: &SimHandle, touser: &str, thing: &str) -> TemplateMessage {
    let data: BTreeMap<String, TemplateValue> = [
        ("thing1", thing),
        ("character_string2", "20231018123456"),
        ("time3", "2023年10月18日 14:30"),
        ("amount4", "¥199.00"),
        ("const5", "已发货"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), TemplateValue::new(v)))
    .collect();
    TemplateMessage {
        touser: touser.to_owned(),
        template_id: template_id(sim, "订单状态通知"),
        url: None,
        miniprogram: None,
        client_msg_id: None,
        data,
    }
}

/// A valid message for the one-time MP template 报名结果通知 (date2, thing1).
fn signup_message(sim: &SimHandle, touser: &str) -> SubscribeMessage {
    SubscribeMessage {
        touser: touser.to_owned(),
        template_id: mp_template_id(sim, "报名结果通知"),
        page: Some("pages/index/index?from=test".to_owned()),
        miniprogram_state: Some("formal".to_owned()),
        lang: Some("zh_CN".to_owned()),
        data: [("date2", "2016年8月8日"), ("thing1", "TIT会议室")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), SubscribeValue::new(v)))
            .collect(),
    }
}

/// The first follower (index < followers) with / without a unionid.
fn follower_where(sim: &SimHandle, with_unionid: bool) -> (u32, String) {
    (0..sim.config().followers)
        .find(|&i| sim.follower_unionid(i).is_some() == with_unionid)
        .map(|i| (i, sim.follower_openid(i).unwrap()))
        .expect("such a follower")
}

// ---------------------------------------------------------------------------------------------
// Endpoints, success paths
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn stable_token_is_shared_and_force_refresh_kills_the_old_one() {
    let sim = sim(small()).await;
    let c = client();
    let cfg = sim.config().clone();
    let first = c
        .stable_token(&sim.base_url, &cfg.oa_appid, &cfg.oa_secret, false)
        .await
        .unwrap();
    assert!(first.access_token.starts_with("92_"), "{first:?}");
    assert_eq!(first.access_token.len(), 136);
    assert_eq!(first.expires_in, 7200);
    // Debug never shows the token.
    let shown = format!("{first:?}");
    assert!(shown.contains("<redacted>") && !shown.contains(&first.access_token));

    let second = c
        .stable_token(&sim.base_url, &cfg.oa_appid, &cfg.oa_secret, false)
        .await
        .unwrap();
    assert_eq!(second.access_token, first.access_token);
    assert!((7199..=7200).contains(&second.expires_in), "{second:?}");

    let forced = c
        .stable_token(&sim.base_url, &cfg.oa_appid, &cfg.oa_secret, true)
        .await
        .unwrap();
    assert_ne!(forced.access_token, first.access_token);
    assert_eq!(forced.expires_in, 7200);

    let err = wechat_error(
        c.templates(&sim.base_url, &first.access_token).await,
        40001,
        ErrorClass::Token,
    );
    assert!(!err.is_retryable());
    assert_eq!(
        c.templates(&sim.base_url, &forced.access_token)
            .await
            .unwrap()
            .len(),
        6
    );
    // The MP has its own stable token.
    let mp = mp_token(&c, &sim).await;
    assert_ne!(mp, forced.access_token);
}

#[tokio::test]
async fn cgi_bin_token_rotates_on_every_call() {
    let sim = sim(small()).await;
    let c = client();
    let cfg = sim.config().clone();
    let one = c
        .token(&sim.base_url, &cfg.oa_appid, &cfg.oa_secret)
        .await
        .unwrap();
    let two = c
        .token(&sim.base_url, &cfg.oa_appid, &cfg.oa_secret)
        .await
        .unwrap();
    assert_ne!(one.access_token, two.access_token);
    assert_eq!((one.expires_in, two.expires_in), (7200, 7200));
    // The previous token keeps working for 5 minutes, then gives 40001.
    assert_eq!(token_works(&c, &sim, &one.access_token).await, Ok(()));
    sim.advance_clock(Duration::from_secs(301));
    wechat_error(
        c.templates(&sim.base_url, &one.access_token).await,
        40001,
        ErrorClass::Token,
    );
    assert_eq!(token_works(&c, &sim, &two.access_token).await, Ok(()));
}

#[tokio::test]
async fn user_get_pages_through_25001_followers() {
    let sim = sim(SimConfig {
        followers: 25_001,
        mp_users: 10,
        ..SimConfig::default()
    })
    .await;
    let c = client();
    let token = oa_token(&c, &sim).await;

    let mut all: Vec<String> = Vec::new();
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = c
            .user_get(&sim.base_url, &token, cursor.as_deref())
            .await
            .unwrap();
        assert_eq!(page.total, 25_001);
        assert_eq!(page.count, page.openids.len() as i64);
        all.extend(page.openids.iter().cloned());
        let last = page.is_last(all.len() as i64);
        cursor = page.next_openid.clone();
        pages.push(page);
        if last {
            break;
        }
        assert!(pages.len() < 3, "is_last must stop after the third page");
    }
    assert_eq!(pages.len(), 3);
    let counts: Vec<i64> = pages.iter().map(|p| p.count).collect();
    assert_eq!(counts, [10_000, 10_000, 5_001]);
    for page in &pages {
        // WeChat quirk: next_openid is the page's last openid, even on the last page.
        assert_eq!(page.next_openid.as_ref(), page.openids.last());
    }
    let last_page = pages.last().unwrap();
    assert!(
        last_page.next_openid.is_some(),
        "last page keeps next_openid"
    );
    assert!(!pages[0].is_last(10_000) && !pages[1].is_last(20_000));
    assert!(last_page.is_last(25_001));

    assert_eq!(all.len(), 25_001);
    let distinct: HashSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), 25_001, "no duplicate openids");
    let expected: HashSet<String> = sim.followers_openids(0..25_001).into_iter().collect();
    assert_eq!(all.iter().cloned().collect::<HashSet<_>>(), expected);

    // One more call past the end: count 0, no data, empty next_openid.
    let past = c
        .user_get(&sim.base_url, &token, last_page.next_openid.as_deref())
        .await
        .unwrap();
    assert_eq!((past.total, past.count), (25_001, 0));
    assert!(past.openids.is_empty());
    assert_eq!(past.next_openid, None);
    assert!(past.is_last(25_001));
}

#[tokio::test]
async fn user_info_of_a_follower_and_of_former_followers() {
    let sim = sim(small()).await;
    let c = client();
    let token = oa_token(&c, &sim).await;

    let (index, openid) = follower_where(&sim, true);
    let info = c
        .user_info(&sim.base_url, &token, &openid, Some("zh_CN"))
        .await
        .unwrap();
    assert!(info.subscribe);
    assert_eq!(info.openid, openid);
    assert_eq!(info.unionid, sim.follower_unionid(index));
    assert!(info.unionid.is_some());
    assert!(
        info.subscribe_time.is_some_and(|t| t > 1_500_000_000),
        "{info:?}"
    );
    assert!(
        info.language.is_some() && info.subscribe_scene.is_some(),
        "{info:?}"
    );

    let (_, no_union) = follower_where(&sim, false);
    let info = c
        .user_info(&sim.base_url, &token, &no_union, None)
        .await
        .unwrap();
    assert!(info.subscribe);
    assert_eq!(info.unionid, None);

    // A former follower (unsubscribed before start).
    let former = sim.follower_openid(sim.config().followers).unwrap();
    let info = c
        .user_info(&sim.base_url, &token, &former, None)
        .await
        .unwrap();
    assert!(!info.subscribe);
    assert_eq!(info.openid, former);
    assert_eq!((info.unionid, info.subscribe_time), (None, None));
    assert!(info.tagid_list.is_empty());

    // A follower who unsubscribes now.
    assert!(sim.unsubscribe(&openid, false).unwrap());
    let info = c
        .user_info(&sim.base_url, &token, &openid, None)
        .await
        .unwrap();
    assert!(!info.subscribe);
    assert_eq!(info.openid, openid);
    assert_eq!(info.unionid, None);
}

#[tokio::test]
async fn user_info_batch_of_100_and_101() {
    let sim = sim(small()).await;
    let c = client();
    let token = oa_token(&c, &sim).await;
    let followers = sim.config().followers;

    // 95 followers and 5 former followers, in that order.
    let mut input = sim.followers_openids(100..195);
    input.extend(sim.followers_openids(followers..followers + 5));
    assert_eq!(input.len(), BATCH_MAX);
    let infos = c
        .user_info_batch(&sim.base_url, &token, &input)
        .await
        .unwrap();
    assert_eq!(infos.len(), 100);
    let ids: Vec<&String> = infos.iter().map(|i| &i.openid).collect();
    assert_eq!(ids, input.iter().collect::<Vec<_>>());
    assert!(infos[..95].iter().all(|i| i.subscribe));
    assert!(infos[95..].iter().all(|i| !i.subscribe));
    for (offset, info) in infos[..95].iter().enumerate() {
        assert_eq!(info.unionid, sim.follower_unionid(100 + offset as u32));
    }

    // 101 are refused before sending: even with every request answered 5xx, the error is
    // Request, so nothing went out.
    let mut too_many = sim.followers_openids(0..100);
    too_many.push(sim.follower_openid(100).unwrap());
    sim.set_faults(FaultConfig {
        http_5xx_rate: 1.0,
        ..FaultConfig::default()
    })
    .unwrap();
    let err = c
        .user_info_batch(&sim.base_url, &token, &too_many)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApiError::Request(m) if m.contains("101")),
        "{err:?}"
    );
    assert_eq!(err.class(), ErrorClass::BadRequest);
    assert_eq!(err.code(), None);
    sim.clear_faults();

    // The simulator itself answers 40032 for 101 entries.
    let body = json!({
        "user_list": too_many
            .iter()
            .map(|o| json!({"openid": o, "lang": "zh_CN"}))
            .collect::<Vec<_>>()
    });
    let raw: Value = reqwest::Client::new()
        .post(format!(
            "{}/cgi-bin/user/info/batchget?access_token={token}",
            sim.base_url
        ))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(raw["errcode"], 40032, "{raw}");
    assert!(raw["errmsg"]
        .as_str()
        .unwrap()
        .starts_with("invalid openid list size rid: "));
}

#[tokio::test]
async fn tags_lists_the_tags_followers_carry() {
    let sim = sim(small()).await;
    let c = client();
    let token = oa_token(&c, &sim).await;
    let infos = c
        .user_info_batch(&sim.base_url, &token, &sim.followers_openids(0..100))
        .await
        .unwrap();
    let carried: HashSet<i64> = infos.iter().flat_map(|i| i.tagid_list.clone()).collect();
    assert!(!carried.is_empty(), "followers carry tags 2 / 100–103");

    let tags = c
        .tags(&sim.base_url, &token)
        .await
        .expect("cgi-bin/tags/get answers");
    let listed: HashSet<i64> = tags.iter().map(|t| t.id).collect();
    assert!(
        listed.contains(&2),
        "tag 2 (星标组) is always listed: {tags:?}"
    );
    for id in &carried {
        assert!(
            listed.contains(id),
            "tag {id} carried by a follower is listed: {tags:?}"
        );
    }
    for tag in tags.iter().filter(|t| carried.contains(&t.id)) {
        assert!(!tag.name.is_empty());
        assert!(tag.count > 0, "{tag:?}");
    }
}

#[tokio::test]
async fn templates_lists_legacy_and_category_templates() {
    let sim = sim(small()).await;
    let c = client();
    let token = oa_token(&c, &sim).await;
    let list = c.templates(&sim.base_url, &token).await.unwrap();
    let truth = sim.oa_templates();
    assert_eq!(list.len(), 6);
    for (got, want) in list.iter().zip(&truth) {
        assert_eq!(got.template_id, want.template_id);
        assert_eq!(got.template_id.len(), 43);
        assert_eq!(got.title, want.title);
        assert_eq!(got.content, want.content);
        assert_eq!(got.example, want.example);
        assert_eq!(got.primary_industry, want.primary_industry);
        assert_eq!(got.deputy_industry, want.deputy_industry);
    }
    let legacy = list.iter().find(|t| t.title == "购买成功通知").unwrap();
    assert_eq!(legacy.primary_industry.as_deref(), Some("IT科技"));
    assert_eq!(legacy.deputy_industry.as_deref(), Some("互联网|电子商务"));
    assert_eq!(
        legacy.content,
        "{{first.DATA}}\n商品名称：{{keyword1.DATA}}\n商品价格：{{keyword2.DATA}}\n购买时间：{{keyword3.DATA}}\n{{remark.DATA}}"
    );
    let category = list.iter().find(|t| t.title == "订单状态通知").unwrap();
    assert_eq!(category.primary_industry, None);
    assert_eq!(category.deputy_industry, None);
    assert_eq!(
        category.content,
        "商品名称:{{thing1.DATA}}\n订单编号:{{character_string2.DATA}}\n下单时间:{{time3.DATA}}\n订单金额:{{amount4.DATA}}\n订单状态:{{const5.DATA}}"
    );
    assert_eq!(
        list.iter().filter(|t| t.primary_industry.is_none()).count(),
        3
    );
}

#[tokio::test]
async fn mp_templates_decode_keyword_enum_values() {
    let sim = sim(small()).await;
    let c = client();
    let token = mp_token(&c, &sim).await;
    let list = c.mp_templates(&sim.base_url, &token).await.unwrap();
    let truth = sim.mp_templates();
    assert_eq!(list.len(), 4);
    for (got, want) in list.iter().zip(&truth) {
        assert_eq!(got.pri_tmpl_id, want.pri_tmpl_id);
        assert_eq!(got.title, want.title);
        assert_eq!(got.content, want.content);
        assert_eq!(got.kind, i64::from(want.kind));
    }
    let device = list.iter().find(|t| t.title == "设备状态提醒").unwrap();
    assert_eq!(device.kind, 3);
    assert_eq!(device.keyword_enum_value_list.len(), 1);
    let enums = &device.keyword_enum_value_list[0];
    assert_eq!(enums.keyword_code, "enum_string2.DATA");
    assert_eq!(enums.enum_value_list, ["客厅", "卧室", "阳台", "厨房"]);
    let others: Vec<_> = list.iter().filter(|t| t.title != "设备状态提醒").collect();
    assert_eq!(others.len(), 3);
    assert!(others
        .iter()
        .all(|t| t.kind == 2 && t.keyword_enum_value_list.is_empty()));

    // The OA token is not authorised on the MP API (48001, BadRequest).
    let oa = oa_token(&c, &sim).await;
    wechat_error(
        c.mp_templates(&sim.base_url, &oa).await,
        48001,
        ErrorClass::BadRequest,
    );
}

#[tokio::test]
async fn send_template_returns_the_exact_msgid_and_deduplicates() {
    let sim = sim(small()).await;
    let c = client();
    let token = oa_token(&c, &sim).await;
    let openid = sim.follower_openid(7).unwrap();
    let mut message = order_message(&sim, &openid, "无线蓝牙耳机");
    message.url = Some("https://example.com/order/42".to_owned());
    message.miniprogram = Some(MiniProgram {
        appid: sim.config().mp_appid.clone(),
        pagepath: "pages/order/detail?id=42".to_owned(),
    });
    message.client_msg_id = Some("order-42-shipped".to_owned());

    let msgid = c
        .send_template(&sim.base_url, &token, &message)
        .await
        .unwrap();
    assert!(msgid > TWO_POW_53, "{msgid}");
    assert_eq!(msgid.to_string().len(), 19);

    let kept = sim.messages(10, Some(&openid));
    assert_eq!(kept.len(), 1);
    assert_eq!(
        kept[0].msgid, msgid,
        "client msgid == ledger msgid, exactly"
    );
    assert_eq!(kept[0].channel, Channel::Template);
    assert_eq!(kept[0].template_id, message.template_id);
    assert_eq!(kept[0].client_msg_id.as_deref(), Some("order-42-shipped"));
    assert_eq!(kept[0].payload, message.to_json());
    assert_eq!(sim.ledger_received(&openid), 1);
    // The control API shows the same digits.
    let raw = reqwest::get(format!(
        "{}/sim/messages?limit=1&openid={openid}",
        sim.base_url
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(raw.contains(&format!("\"msgid\":{msgid}")), "{raw}");

    // Same client_msg_id again: the same msgid, nothing delivered.
    let again = c
        .send_template(&sim.base_url, &token, &message)
        .await
        .unwrap();
    assert_eq!(again, msgid);
    assert_eq!(sim.ledger_received(&openid), 1);
    assert_eq!(sim.messages(10, Some(&openid)).len(), 1);
    let summary = sim.ledger_summary();
    assert_eq!(
        (summary.accepted, summary.duplicates_suppressed),
        (1, 1),
        "{summary:?}"
    );

    // Another client_msg_id is another message with a larger msgid.
    message.client_msg_id = Some("order-43-shipped".to_owned());
    let next = c
        .send_template(&sim.base_url, &token, &message)
        .await
        .unwrap();
    assert!(next > msgid);
    assert_eq!(sim.ledger_received(&openid), 2);

    // A legacy template takes any values.
    let legacy = TemplateMessage {
        touser: openid.clone(),
        template_id: template_id(&sim, "购买成功通知"),
        url: None,
        miniprogram: None,
        client_msg_id: None,
        data: [("first", "您好"), ("keyword1", "巧克力"), ("remark", "")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), TemplateValue::new(v)))
            .collect(),
    };
    let third = c
        .send_template(&sim.base_url, &token, &legacy)
        .await
        .unwrap();
    assert!(third > next);
    assert_eq!(sim.messages(1, Some(&openid))[0].payload, legacy.to_json());
}

#[tokio::test]
async fn send_subscribe_uses_a_one_time_credit() {
    let sim = sim(small()).await;
    let c = client();
    let token = mp_token(&c, &sim).await;
    let openid = sim.mp_openid(3).unwrap();
    let message = signup_message(&sim, &openid);
    let credit = sim
        .grant_credits(&openid, &message.template_id, CreditKind::OneTime, 1)
        .unwrap();
    assert_eq!(credit.one_time, 1);

    let msgid = c
        .send_subscribe(&sim.base_url, &token, &message)
        .await
        .unwrap()
        .expect("the simulator returns a msgid");
    assert!(msgid > TWO_POW_53);
    assert_eq!(sim.ledger_received(&openid), 1);
    let kept = sim.messages(1, Some(&openid));
    assert_eq!(kept[0].msgid, msgid);
    assert_eq!(kept[0].channel, Channel::Subscribe);
    assert_eq!(kept[0].payload, message.to_json());
    assert_eq!(
        sim.credits_of(&openid, &message.template_id)
            .unwrap()
            .one_time,
        0
    );

    // The credit is used up.
    let err = wechat_error(
        c.send_subscribe(&sim.base_url, &token, &message).await,
        43101,
        ErrorClass::RecipientCannotReceive,
    );
    assert!(err
        .errmsg()
        .unwrap()
        .starts_with("user refuse to accept the msg"));
    assert_eq!(sim.ledger_received(&openid), 1);
}

#[tokio::test]
async fn jscode2session_exchanges_a_code_once() {
    let sim = sim(small()).await;
    let c = client();
    let cfg = sim.config().clone();
    let index = (0..cfg.mp_users)
        .find(|&i| sim.mp_unionid(i).is_some())
        .expect("an MP user with a unionid");
    let openid = sim.mp_openid(index).unwrap();
    let code = sim.mint_code_for_openid(&openid, false).unwrap();
    assert_eq!(code.len(), 32);

    let session = c
        .jscode2session(&sim.base_url, &cfg.mp_appid, &cfg.mp_secret, &code)
        .await
        .unwrap();
    assert_eq!(session.openid, openid);
    assert_eq!(session.unionid, sim.mp_unionid(index));
    let key = session.session_key.expose_secret().to_owned();
    assert_eq!(key.len(), 24, "16 bytes in base64: {}", key.len());
    assert!(key.ends_with("=="));
    let shown = format!("{session:?}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(
        !shown.contains(&key),
        "Debug leaks the session key: {shown}"
    );

    // A user without a unionid (10 % of MP users) gets none.
    let plain = (0..cfg.mp_users)
        .find(|&i| sim.mp_unionid(i).is_none())
        .expect("an MP user without a unionid");
    let other_code = sim.mint_code(plain, false).unwrap();
    let session = c
        .jscode2session(&sim.base_url, &cfg.mp_appid, &cfg.mp_secret, &other_code)
        .await
        .unwrap();
    assert_eq!(session.openid, sim.mp_openid(plain).unwrap());
    assert_eq!(session.unionid, None);

    // The same code again: 40163, a bad request (ask for a new code).
    wechat_error(
        c.jscode2session(&sim.base_url, &cfg.mp_appid, &cfg.mp_secret, &code)
            .await,
        40163,
        ErrorClass::BadRequest,
    );
}

// ---------------------------------------------------------------------------------------------
// Error classes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn token_class_errors() {
    let sim = sim(small()).await;
    let c = client();
    let openid = sim.follower_openid(0).unwrap();

    // 40014: a token the simulator never issued.
    let garbage = format!("92_{}", "x".repeat(133));
    let err = wechat_error(
        c.user_info(&sim.base_url, &garbage, &openid, None).await,
        40014,
        ErrorClass::Token,
    );
    assert!(err.errmsg().unwrap().starts_with("invalid access_token"));

    // 40001: every token invalidated.
    let token = oa_token(&c, &sim).await;
    c.user_info(&sim.base_url, &token, &openid, None)
        .await
        .unwrap();
    sim.invalidate_tokens();
    wechat_error(
        c.user_info(&sim.base_url, &token, &openid, None).await,
        40001,
        ErrorClass::Token,
    );
    // Refresh, then the call works again.
    let fresh = oa_token(&c, &sim).await;
    assert_ne!(fresh, token);
    assert!(
        c.user_info(&sim.base_url, &fresh, &openid, None)
            .await
            .unwrap()
            .subscribe
    );

    // 42001: past the lifetime.
    sim.advance_clock(Duration::from_secs(7201));
    let err = wechat_error(
        c.user_info(&sim.base_url, &fresh, &openid, None).await,
        42001,
        ErrorClass::Token,
    );
    assert!(err.errmsg().unwrap().starts_with("access_token expired"));
    assert!(!err.is_retryable());
    let renewed = oa_token(&c, &sim).await;
    assert_ne!(renewed, fresh);
    assert!(
        c.user_info(&sim.base_url, &renewed, &openid, None)
            .await
            .unwrap()
            .subscribe
    );
}

#[tokio::test]
async fn retry_later_injected_errcodes() {
    let sim = sim(small()).await;
    let c = client();
    let token = oa_token(&c, &sim).await;
    let openid = sim.follower_openid(1).unwrap();
    let message = order_message(&sim, &openid, "耳机");

    // -1 on the send endpoints (default scope).
    sim.set_faults(FaultConfig {
        errors: [(-1, 1.0)].into_iter().collect(),
        ..FaultConfig::default()
    })
    .unwrap();
    let err = wechat_error(
        c.send_template(&sim.base_url, &token, &message).await,
        -1,
        ErrorClass::RetryLater,
    );
    assert!(err.is_retryable());
    assert!(err.errmsg().unwrap().starts_with("system error"));
    // Other endpoints are outside the default scope.
    assert!(
        c.user_info(&sim.base_url, &token, &openid, None)
            .await
            .unwrap()
            .subscribe
    );

    // 45011 on every endpoint.
    sim.set_faults(FaultConfig {
        errors: [(45011, 1.0)].into_iter().collect(),
        error_scope: wechat_sim::ErrorScope::All,
        ..FaultConfig::default()
    })
    .unwrap();
    let err = wechat_error(
        c.send_template(&sim.base_url, &token, &message).await,
        45011,
        ErrorClass::RetryLater,
    );
    assert!(err.is_retryable());
    wechat_error(
        c.user_info(&sim.base_url, &token, &openid, None).await,
        45011,
        ErrorClass::RetryLater,
    );

    // Nothing was processed: no delivery, no quota used.
    assert_eq!(sim.ledger_received(&openid), 0);
    assert_eq!(sim.template_sends_today(), 0);
    sim.clear_faults();
    let msgid = c
        .send_template(&sim.base_url, &token, &message)
        .await
        .unwrap();
    assert!(msgid > TWO_POW_53);
    assert_eq!(sim.ledger_received(&openid), 1);
}

#[tokio::test]
async fn retry_later_http_5xx() {
    let sim = sim(small()).await;
    let c = client();
    let token = oa_token(&c, &sim).await;
    let openid = sim.follower_openid(2).unwrap();
    let message = order_message(&sim, &openid, "耳机");
    sim.set_faults(FaultConfig {
        http_5xx_rate: 1.0,
        ..FaultConfig::default()
    })
    .unwrap();
    let mut seen = HashSet::new();
    for _ in 0..6 {
        let err = c
            .send_template(&sim.base_url, &token, &message)
            .await
            .unwrap_err();
        match err {
            ApiError::Http { status } => {
                assert!(status == 502 || status == 503, "{status}");
                seen.insert(status);
            }
            other => panic!("expected ApiError::Http, got {other:?}"),
        }
        assert_eq!(err.class(), ErrorClass::RetryLater);
        assert!(err.is_retryable());
        assert_eq!(err.code(), None);
    }
    assert!(!seen.is_empty());
    // A 5xx on a token endpoint too (every WeChat endpoint is behind the fault layer).
    let cfg = sim.config().clone();
    let err = c
        .stable_token(&sim.base_url, &cfg.oa_appid, &cfg.oa_secret, false)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Http { status: 502 | 503 }),
        "{err:?}"
    );
    assert_eq!(sim.ledger_received(&openid), 0);
    assert_eq!(sim.template_sends_today(), 0);
}

#[tokio::test]
async fn retry_later_timeout() {
    let sim = sim(small()).await;
    let c = client();
    let token = oa_token(&c, &sim).await;
    let short = Client::with_timeouts(Duration::from_secs(2), Duration::from_millis(300)).unwrap();
    assert_eq!(token_works(&short, &sim, &token).await, Ok(()));

    sim.set_faults(FaultConfig {
        slow_rate: 1.0,
        slow_ms: 5_000,
        ..FaultConfig::default()
    })
    .unwrap();
    let started = Instant::now();
    let err = short.templates(&sim.base_url, &token).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err, ApiError::Timeout);
    assert_eq!(err.class(), ErrorClass::RetryLater);
    assert!(err.is_retryable());
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "gave up after {took:?}"
    );
    sim.clear_faults();
    assert_eq!(token_works(&short, &sim, &token).await, Ok(()));
}

#[tokio::test]
async fn retry_later_connection_refused() {
    // A port that was just free: nothing listens there any more.
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let base = format!("http://127.0.0.1:{port}");
    let c = client();
    let err = c
        .token(&base, "wx5e1a00000000a001", "secret-that-must-not-leak")
        .await
        .unwrap_err();
    let ApiError::Transport(detail) = &err else {
        panic!("expected ApiError::Transport, got {err:?}");
    };
    assert!(!detail.contains("secret-that-must-not-leak"), "{detail}");
    assert!(!err.to_string().contains("secret-that-must-not-leak"));
    assert_eq!(err.class(), ErrorClass::RetryLater);
    assert!(err.is_retryable());
}

#[tokio::test]
async fn daily_quota_45009() {
    let sim = sim(SimConfig {
        template_send_quota: 2,
        ..small()
    })
    .await;
    let c = client();
    let token = oa_token(&c, &sim).await;
    let openid = sim.follower_openid(4).unwrap();
    for n in 0..2 {
        c.send_template(
            &sim.base_url,
            &token,
            &order_message(&sim, &openid, &format!("耳机{n}")),
        )
        .await
        .unwrap();
    }
    let err = wechat_error(
        c.send_template(&sim.base_url, &token, &order_message(&sim, &openid, "耳机"))
            .await,
        45009,
        ErrorClass::DailyQuota,
    );
    assert!(!err.is_retryable());
    assert!(err
        .errmsg()
        .unwrap()
        .starts_with("reach max api daily quota limit"));
    assert_eq!(sim.ledger_received(&openid), 2);
    // The refused call is not counted: the day's count stays at the quota.
    assert_eq!(sim.template_sends_today(), 2);
    // Tomorrow (Beijing time) the quota is back.
    sim.advance_clock(Duration::from_secs(24 * 3600));
    let token = oa_token(&c, &sim).await;
    c.send_template(&sim.base_url, &token, &order_message(&sim, &openid, "耳机"))
        .await
        .unwrap();
    assert_eq!(sim.ledger_received(&openid), 3);
    assert_eq!(sim.template_sends_today(), 1);
}

#[tokio::test]
async fn recipient_cannot_receive() {
    let sim = sim(small()).await;
    let c = client();
    let token = oa_token(&c, &sim).await;

    // 43004: unsubscribed.
    let gone = sim.follower_openid(5).unwrap();
    assert!(sim.unsubscribe(&gone, false).unwrap());
    let err = wechat_error(
        c.send_template(&sim.base_url, &token, &order_message(&sim, &gone, "耳机"))
            .await,
        43004,
        ErrorClass::RecipientCannotReceive,
    );
    assert!(err.errmsg().unwrap().starts_with("require subscribe"));
    // A former follower too.
    let former = sim.follower_openid(sim.config().followers + 1).unwrap();
    wechat_error(
        c.send_template(&sim.base_url, &token, &order_message(&sim, &former, "耳机"))
            .await,
        43004,
        ErrorClass::RecipientCannotReceive,
    );

    // 40003: not an openid of this account (garbage, and an MP openid).
    let garbage = format!("o{}", "A".repeat(27));
    wechat_error(
        c.send_template(
            &sim.base_url,
            &token,
            &order_message(&sim, &garbage, "耳机"),
        )
        .await,
        40003,
        ErrorClass::RecipientCannotReceive,
    );
    let mp_openid = sim.mp_openid(0).unwrap();
    let err = wechat_error(
        c.send_template(
            &sim.base_url,
            &token,
            &order_message(&sim, &mp_openid, "耳机"),
        )
        .await,
        40003,
        ErrorClass::RecipientCannotReceive,
    );
    assert!(err.errmsg().unwrap().starts_with("invalid openid"));

    // 43101: no subscription credit at all.
    let mp = mp_token(&c, &sim).await;
    wechat_error(
        c.send_subscribe(&sim.base_url, &mp, &signup_message(&sim, &mp_openid))
            .await,
        43101,
        ErrorClass::RecipientCannotReceive,
    );
    assert_eq!(sim.ledger_summary().accepted, 0);
}

#[tokio::test]
async fn bad_request() {
    let sim = sim(small()).await;
    let c = client();
    let token = oa_token(&c, &sim).await;
    let openid = sim.follower_openid(6).unwrap();

    // 40037: unknown template.
    let mut unknown = order_message(&sim, &openid, "耳机");
    unknown.template_id = "x".repeat(43);
    let err = wechat_error(
        c.send_template(&sim.base_url, &token, &unknown).await,
        40037,
        ErrorClass::BadRequest,
    );
    assert!(err.errmsg().unwrap().starts_with("invalid template_id"));

    // 47003: a 21-character thing; the error names the field and the data key.
    let long = "一二三四五六七八九十一二三四五六七八九十一";
    assert_eq!(long.chars().count(), 21);
    let err = wechat_error(
        c.send_template(&sim.base_url, &token, &order_message(&sim, &openid, long))
            .await,
        47003,
        ErrorClass::BadRequest,
    );
    assert_eq!(err.field().as_deref(), Some("data.thing1.value"));
    assert_eq!(err.data_key().as_deref(), Some("thing1"));
    assert!(
        err.explain(false).contains("data.thing1.value"),
        "{}",
        err.explain(false)
    );
    assert!(
        err.explain(true).contains("data.thing1.value"),
        "{}",
        err.explain(true)
    );
    // 20 characters pass.
    let twenty: String = long.chars().take(20).collect();
    c.send_template(
        &sim.base_url,
        &token,
        &order_message(&sim, &openid, &twenty),
    )
    .await
    .unwrap();

    // 40165: a page the Mini Program does not have.
    let mut bad_page = order_message(&sim, &openid, "耳机");
    bad_page.miniprogram = Some(MiniProgram {
        appid: sim.config().mp_appid.clone(),
        pagepath: "pages/nowhere/index?id=1".to_owned(),
    });
    let err = wechat_error(
        c.send_template(&sim.base_url, &token, &bad_page).await,
        40165,
        ErrorClass::BadRequest,
    );
    assert!(err.errmsg().unwrap().starts_with("invalid weapp pagepath"));

    assert_eq!(
        sim.ledger_received(&openid),
        1,
        "only the valid send arrived"
    );
}

#[tokio::test]
async fn credentials() {
    let sim = sim(small()).await;
    let c = client();
    let cfg = sim.config().clone();

    // 40013: unknown appid, on both token endpoints.
    let err = wechat_error(
        c.stable_token(&sim.base_url, "wx00000000000000ff", &cfg.oa_secret, false)
            .await,
        40013,
        ErrorClass::Credentials,
    );
    assert!(err.errmsg().unwrap().starts_with("invalid appid"));
    assert!(err.explain(true).contains("AppID"), "{}", err.explain(true));
    assert!(
        err.explain(false).contains("AppID"),
        "{}",
        err.explain(false)
    );
    wechat_error(
        c.token(&sim.base_url, "wx00000000000000ff", &cfg.oa_secret)
            .await,
        40013,
        ErrorClass::Credentials,
    );

    // 40125: wrong secret.
    let wrong = "0".repeat(32);
    let err = wechat_error(
        c.stable_token(&sim.base_url, &cfg.oa_appid, &wrong, false)
            .await,
        40125,
        ErrorClass::Credentials,
    );
    assert!(err.errmsg().unwrap().starts_with("invalid appsecret"));
    assert!(!err.is_retryable());
    let zh = err.explain(true);
    assert!(zh.contains("AppSecret") && zh.contains("40125"), "{zh}");
    assert!(err.explain(false).contains("AppSecret"));
    assert!(!err.to_string().contains(&wrong));
    wechat_error(
        c.token(&sim.base_url, &cfg.oa_appid, &cfg.mp_secret).await,
        40125,
        ErrorClass::Credentials,
    );

    // jscode2session: the OA appid is not a Mini Program (40013); a wrong secret (40125) does
    // not use the code up.
    let code = sim.mint_code(0, false).unwrap();
    wechat_error(
        c.jscode2session(&sim.base_url, &cfg.oa_appid, &cfg.oa_secret, &code)
            .await,
        40013,
        ErrorClass::Credentials,
    );
    wechat_error(
        c.jscode2session(&sim.base_url, &cfg.mp_appid, &wrong, &code)
            .await,
        40125,
        ErrorClass::Credentials,
    );
    let session = c
        .jscode2session(&sim.base_url, &cfg.mp_appid, &cfg.mp_secret, &code)
        .await
        .unwrap();
    assert_eq!(session.openid, sim.mp_openid(0).unwrap());
}

//! Subscribe-message presets against the WeChat simulator: an Official Account's preset on a
//! subscribe template of its linked Mini Program, refused with the editor's issues, test-sent
//! with the Mini Program's token to the staff member's MP openid (the exact JSON, 43101 without a
//! subscription), flagged when the template goes, and a cross-check that every value the
//! `message` crate accepts is accepted by the simulator too: a 47003 never reaches WeChat.

mod common;

use std::collections::BTreeMap;

use engine::accounts::{Account, AccountKind, NewAccount, Secret};
use engine::audit::Actor;
use engine::templates::presets::PresetInput;
use engine::testing::TestDb;
use engine::{on_both_databases, Engine, Error, Role};
use message::{FieldType, Flavor, MiniProgramLink, PresetBody, Problem};
use serde_json::json;
use wechat::api::{SubscribeMessage, SubscribeValue};
use wechat_sim::{CreditKind, SimConfig, SimHandle};

use common::{admin, linked_accounts, template_ref, values};

async fn sim() -> SimHandle {
    wechat_sim::start(
        SimConfig {
            followers: 30,
            mp_users: 10,
            ..SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .expect("simulator starts")
}

/// The simulator's 预约服务提醒 (every subscribe type but enum), filled in validly.
const BOOKING_VALUES: [(&str, &str); 12] = [
    ("thing1", "汽车保养"),
    ("number2", "2"),
    ("date3", "2023年10月20日"),
    ("phrase4", "已确认"),
    ("character_string5", "RSV20231018001"),
    ("time6", "09:30"),
    ("amount7", "¥368.00"),
    ("name8", "张三"),
    ("letter9", "VIP"),
    ("symbol10", "★★"),
    ("phone_number11", "0755-86013388"),
    ("car_number12", "粤B12345"),
];

fn booking() -> PresetBody {
    PresetBody {
        page: "pages/order/detail?id=42".into(),
        miniprogram_state: "trial".into(),
        lang: "zh_CN".into(),
        ..values(&BOOKING_VALUES)
    }
}

async fn synced(db: &TestDb) -> (SimHandle, Engine, Account, Account) {
    let sim = sim().await;
    let engine = Engine::open(&db.url).await.unwrap();
    let (oa, mp) = linked_accounts(&engine, &sim).await;
    engine.sync_templates(&admin(), &oa).await.unwrap();
    engine.sync_templates(&admin(), &mp).await.unwrap();
    (sim, engine, oa, mp)
}

async fn an_mp_preset_is_owned_by_the_oa(db: TestDb) {
    let (_sim, engine, oa, mp) = synced(&db).await;
    let booking_ref = template_ref(&engine, &mp, "预约服务提醒").await;
    let mut body = booking();
    // Not part of a subscribe message: cleared on save, never refused.
    body.values.get_mut("thing1").unwrap().color = "#FF0000".into();
    body.url = "https://example.com".into();
    body.miniprogram = Some(MiniProgramLink {
        appid: mp.appid.clone(),
        pagepath: "pages/index/index".into(),
    });
    let saved = engine
        .create_preset(
            &admin(),
            &oa,
            PresetInput {
                name: "预约提醒".into(),
                template_ref: booking_ref,
                body,
            },
        )
        .await
        .unwrap();
    assert_eq!(saved.account_id, oa.id, "the OA owns the preset");
    assert_eq!(
        saved.body,
        booking(),
        "colors, url and Mini Program cleared"
    );
    assert_eq!(engine.preset_kind(&saved).await.unwrap(), AccountKind::Mp);

    // An OA preset next to it; the list tells the two kinds apart.
    let order_ref = template_ref(&engine, &oa, "订单状态通知").await;
    let mut oa_body = values(&[
        ("thing1", "无线蓝牙耳机"),
        ("character_string2", "20231018123456"),
        ("time3", "2023年10月18日 14:30"),
        ("amount4", "¥199.00"),
        ("const5", "已发货"),
    ]);
    oa_body.page = "pages/index/index".into();
    oa_body.lang = "en_US".into();
    let oa_preset = engine
        .create_preset(
            &admin(),
            &oa,
            PresetInput {
                name: "发货通知".into(),
                template_ref: order_ref,
                body: oa_body,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        oa_preset.body.page, "",
        "subscribe options reset on a template message"
    );
    assert_eq!(oa_preset.body.lang, "zh_CN");
    assert_eq!(
        engine.preset_kind(&oa_preset).await.unwrap(),
        AccountKind::Oa
    );

    let list = engine.presets(oa.id).await.unwrap();
    let kinds: Vec<(&str, AccountKind, &str, usize)> = list
        .iter()
        .map(|p| {
            (
                p.preset.name.as_str(),
                p.template_kind,
                p.template_title.as_str(),
                p.issues.len(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("发货通知", AccountKind::Oa, "订单状态通知", 0),
            ("预约提醒", AccountKind::Mp, "预约服务提醒", 0),
        ]
    );
    assert!(list.iter().all(|p| !p.template_removed));
    assert!(
        engine.presets(mp.id).await.unwrap().is_empty(),
        "the MP owns none"
    );

    // Each payload only for its own kind.
    let wrong = engine
        .preset_payload(&oa, &saved, "o", None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            wrong,
            Error::Refused(ref r) if r.field == "template"
        ),
        "{wrong:?}"
    );
    let wrong = engine
        .preset_subscribe_payload(&oa, &oa_preset, "o")
        .await
        .unwrap_err();
    assert!(
        matches!(
            wrong,
            Error::Refused(ref r) if r.field == "template"
        ),
        "{wrong:?}"
    );
    let payload = engine
        .preset_subscribe_payload(&oa, &saved, "oUSER")
        .await
        .unwrap();
    let typed: SubscribeMessage = serde_json::from_value(payload.to_json()).unwrap();
    assert_eq!(typed.touser, "oUSER");
    assert_eq!(typed.page.as_deref(), Some("pages/order/detail?id=42"));
    assert_eq!(typed.miniprogram_state.as_deref(), Some("trial"));
    assert_eq!(typed.data.len(), 12);

    // Another account cannot use the MP's templates: only the OA linked to it.
    let other = engine
        .create_account(
            &Actor::cli(),
            NewAccount {
                kind: AccountKind::Oa,
                name: "另一个公众号".into(),
                appid: "wx00000000000000aa".into(),
                secret: Secret::new("0".repeat(32)),
                callback_token: Secret::default(),
                encoding_aes_key: Secret::default(),
                api_base: "http://127.0.0.1:9".into(),
                linked_account_id: None,
                sandbox: false,
            },
        )
        .await
        .unwrap();
    let refused = engine
        .create_preset(
            &admin(),
            &other,
            PresetInput {
                name: "借用".into(),
                template_ref: booking_ref,
                body: booking(),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            Error::Refused(ref r) if r.field == "template"
        ),
        "{refused:?}"
    );

    // Moving a preset between kinds re-checks it with the other table.
    let moved = engine
        .update_preset(
            &admin(),
            &oa,
            saved.id,
            PresetInput {
                name: "预约提醒".into(),
                template_ref: order_ref,
                body: booking(),
            },
        )
        .await
        .unwrap_err();
    let Error::InvalidPreset(issues) = moved else {
        panic!("{moved:?}");
    };
    assert!(
        issues.iter().any(|i| i.field == "value.character_string2"),
        "{issues:?}"
    );
}
on_both_databases!(an_mp_preset_is_owned_by_the_oa);

async fn invalid_values_are_refused_with_the_editors_issues(db: TestDb) {
    let (_sim, engine, oa, mp) = synced(&db).await;
    let booking_ref = template_ref(&engine, &mp, "预约服务提醒").await;
    let device_ref = template_ref(&engine, &mp, "设备状态提醒").await;
    let mut body = booking();
    let set = |b: &mut PresetBody, k: &str, v: &str| {
        b.values.get_mut(k).unwrap().value = v.into();
    };
    set(&mut body, "thing1", &"一".repeat(21));
    set(&mut body, "number2", "2人");
    set(&mut body, "time6", "9:30");
    set(&mut body, "amount7", "368元");
    set(&mut body, "car_number12", "粤B1234567");
    body.page = "/pages/order/detail".into();
    body.miniprogram_state = "beta".into();
    body.lang = "fr_FR".into();
    let err = engine
        .create_preset(
            &admin(),
            &oa,
            PresetInput {
                name: String::new(),
                template_ref: booking_ref,
                body,
            },
        )
        .await
        .unwrap_err();
    let Error::InvalidPreset(issues) = err else {
        panic!("refused with the editor's issues, got {err:?}");
    };
    let got: Vec<(&str, &Problem)> = issues
        .iter()
        .map(|i| (i.field.as_str(), &i.problem))
        .collect();
    let states = Problem::OneOf(vec!["formal".into(), "trial".into(), "developer".into()]);
    let langs = Problem::OneOf(vec![
        "zh_CN".into(),
        "en_US".into(),
        "zh_HK".into(),
        "zh_TW".into(),
    ]);
    assert_eq!(
        got,
        [
            ("name", &Problem::Required),
            ("value.thing1", &Problem::TooLong(20)),
            ("value.number2", &Problem::DigitsOnly),
            ("value.time6", &Problem::TimeFormat),
            ("value.amount7", &Problem::AmountFormat(10)),
            ("value.car_number12", &Problem::TooLong(8)),
            ("page", &Problem::PagePathFormat),
            ("miniprogram_state", &states),
            ("lang", &langs),
        ]
    );

    // Enum values come from the template's list, which WeChat publishes.
    let err = engine
        .create_preset(
            &admin(),
            &oa,
            PresetInput {
                name: "设备".into(),
                template_ref: device_ref,
                body: values(&[
                    ("time1", "2021年10月21日 12:00:00"),
                    ("enum_string2", "书房"),
                    ("thing3", "设备发生故障,请及时查看"),
                ]),
            },
        )
        .await
        .unwrap_err();
    let Error::InvalidPreset(issues) = err else {
        panic!("{err:?}");
    };
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].field, "value.enum_string2");
    assert_eq!(
        issues[0].problem,
        Problem::NotInList(vec![
            "客厅".into(),
            "卧室".into(),
            "阳台".into(),
            "厨房".into()
        ])
    );
    assert!(engine.presets(oa.id).await.unwrap().is_empty());
}
on_both_databases!(invalid_values_are_refused_with_the_editors_issues);

async fn test_send_reaches_the_simulator_with_the_exact_json(db: TestDb) {
    let (sim, engine, oa, mp) = synced(&db).await;
    let staff = engine
        .create_staff(
            &Actor::cli(),
            "li.lei",
            "correct horse battery",
            Role::Operator,
        )
        .await
        .unwrap();
    let actor = Actor::staff(staff.id, "li.lei", "127.0.0.1");
    let booking_ref = template_ref(&engine, &mp, "预约服务提醒").await;
    let preset = engine
        .create_preset(
            &admin(),
            &oa,
            PresetInput {
                name: "预约提醒".into(),
                template_ref: booking_ref,
                body: booking(),
            },
        )
        .await
        .unwrap();

    // Bound only for the OA: a subscribe message needs the MP openid.
    let state = sim.state();
    let follower = state.follower_view(0).unwrap();
    engine
        .set_staff_openid(&actor, staff.id, &oa, &follower.openid)
        .await
        .unwrap();
    let unbound = engine
        .test_send(&actor, &oa, staff.id, preset.id)
        .await
        .unwrap_err();
    assert!(matches!(unbound, Error::NoTestOpenid), "{unbound:?}");

    let me = state.mp_openid(0).unwrap();
    engine
        .set_staff_openid(&actor, staff.id, &mp, &me)
        .await
        .unwrap();
    assert_eq!(
        engine.staff_openids(staff.id).await.unwrap(),
        BTreeMap::from([(oa.id, follower.openid.clone()), (mp.id, me.clone())])
    );

    // Not subscribed: WeChat's 43101, as it is.
    let Error::WeChat(e) = engine
        .test_send(&actor, &oa, staff.id, preset.id)
        .await
        .unwrap_err()
    else {
        panic!("a WeChat error");
    };
    assert_eq!(e.code(), Some(43101));

    let template_id = engine
        .template(booking_ref)
        .await
        .unwrap()
        .unwrap()
        .remote
        .template_id;
    state
        .grant_credits(&me, &template_id, CreditKind::OneTime, 1)
        .unwrap();
    let msgid = engine
        .test_send(&actor, &oa, staff.id, preset.id)
        .await
        .unwrap();
    let sent = state.messages(10, Some(&me));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].msgid, msgid);
    assert_eq!(sent[0].channel, wechat_sim::Channel::Subscribe);
    assert_eq!(
        sent[0].payload,
        json!({
            "touser": me,
            "template_id": template_id,
            "page": "pages/order/detail?id=42",
            "miniprogram_state": "trial",
            "lang": "zh_CN",
            "data": {
                "thing1": { "value": "汽车保养" },
                "number2": { "value": "2" },
                "date3": { "value": "2023年10月20日" },
                "phrase4": { "value": "已确认" },
                "character_string5": { "value": "RSV20231018001" },
                "time6": { "value": "09:30" },
                "amount7": { "value": "¥368.00" },
                "name8": { "value": "张三" },
                "letter9": { "value": "VIP" },
                "symbol10": { "value": "★★" },
                "phone_number11": { "value": "0755-86013388" },
                "car_number12": { "value": "粤B12345" }
            }
        })
    );
    assert!(
        state.messages(10, Some(&follower.openid)).is_empty(),
        "nothing went to the OA openid"
    );

    // The one-time subscription is used up.
    let Error::WeChat(e) = engine
        .test_send(&actor, &oa, staff.id, preset.id)
        .await
        .unwrap_err()
    else {
        panic!("a WeChat error");
    };
    assert_eq!(e.code(), Some(43101));

    let audit = engine
        .audit_recent(Some("preset.test_send"), 10)
        .await
        .unwrap();
    assert_eq!(
        audit.len(),
        3,
        "sends are audited, refusals before sending are not"
    );
    assert!(audit[0].detail.contains("43101"));
    assert!(audit[1].detail.contains(&format!("\"msgid\":{msgid}")));
    assert!(audit[1].detail.contains(&me));
    assert!(audit[2].detail.contains("43101"));
}
on_both_databases!(test_send_reaches_the_simulator_with_the_exact_json);

async fn a_removed_subscribe_template_flags_its_presets(db: TestDb) {
    let (sim, engine, oa, mp) = synced(&db).await;
    let device_ref = template_ref(&engine, &mp, "设备状态提醒").await;
    let preset = engine
        .create_preset(
            &admin(),
            &oa,
            PresetInput {
                name: "设备告警".into(),
                template_ref: device_ref,
                body: values(&[
                    ("time1", "2021年10月21日 12:00:00"),
                    ("enum_string2", "客厅"),
                    ("thing3", "设备发生故障,请及时查看"),
                ]),
            },
        )
        .await
        .unwrap();
    let template_id = engine
        .template(device_ref)
        .await
        .unwrap()
        .unwrap()
        .remote
        .template_id;
    assert!(sim.state().remove_mp_template(&template_id));
    let report = engine.sync_templates(&admin(), &mp).await.unwrap();
    assert_eq!((report.removed, report.flagged_presets), (1, 1));
    let list = engine.presets(oa.id).await.unwrap();
    assert_eq!(list.len(), 1, "a re-sync never deletes a preset");
    assert!(list[0].template_removed);
    assert_eq!(list[0].template_kind, AccountKind::Mp);
    let err = engine
        .preset_subscribe_payload(&oa, &preset, "o")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TemplateRemoved), "{err:?}");
}
on_both_databases!(a_removed_subscribe_template_flags_its_presets);

/// Values worth trying for each type: the limits, one past them, and look-alikes.
fn corpus(ty: FieldType) -> Vec<String> {
    let mut out: Vec<String> = [
        "",
        " ",
        "a",
        "A1",
        "1",
        "0",
        "3.14",
        "中",
        "配送中",
        "★",
        "!!",
        "a b",
        "a\u{2028}b",
        "x\ty",
        "ＡＢ",
        "é",
        "-1",
        "1e5",
        "15:01",
        "09:05",
        "9:05",
        "24:00",
        "2019年10月1日",
        "2019年10月1日 15:01",
        "2019年10月1日15:01",
        "2019年10月1日  15:01",
        "2018-01-01",
        "2018/01/01 08:00~2018/01/01 09:30",
        " 15:01",
        "15:01 ",
        "10月1日 ~ 10月7日",
        "¥1234567890",
        "¥12345678901",
        "$0.5元",
        "¥1.234",
        "10000元",
        "+86-0766-66888866",
        "(020) 123#45*6",
        "粤A8Z888挂",
        "粤A8Z888挂1",
        "AB",
        "张三",
        "John Smith",
        "Jean-Luc O'Neil",
        "阿沛·阿旺",
        "R2D2",
        "客厅",
        "书房",
        "客厅 ",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for (unit, limits) in [
        ("一", [5, 10, 20, 32]),
        ("a", [5, 10, 20, 32]),
        ("9", [5, 10, 17, 32]),
        ("★", [5, 6, 20, 33]),
    ] {
        for n in limits {
            for m in [n, n + 1] {
                out.push(unit.repeat(m));
            }
        }
    }
    if ty == FieldType::Name {
        out.push("张a".repeat(5));
        out.push("张a".repeat(6));
    }
    out
}

/// The simulator's key for a type, in the template used to try it.
fn probe(ty: FieldType) -> Option<(&'static str, &'static str)> {
    let key = match ty {
        FieldType::Thing => "thing1",
        FieldType::Number => "number2",
        FieldType::Date => "date3",
        FieldType::Phrase => "phrase4",
        FieldType::CharacterString => "character_string5",
        FieldType::Time => "time6",
        FieldType::Amount => "amount7",
        FieldType::Name => "name8",
        FieldType::Letter => "letter9",
        FieldType::Symbol => "symbol10",
        FieldType::PhoneNumber => "phone_number11",
        FieldType::CarNumber => "car_number12",
        FieldType::Enum => return Some(("设备状态提醒", "enum_string2")),
        _ => return None,
    };
    Some(("预约服务提醒", key))
}

/// Every value `message` accepts under `Flavor::Subscribe` is accepted by the simulator's
/// `subscribe/send` (which answers 43101, not 47003, since nobody subscribed): the editor and
/// the server never let through a value WeChat would refuse.
async fn whatever_message_accepts_the_simulator_accepts(db: TestDb) {
    let (sim, engine, _oa, mp) = synced(&db).await;
    let templates = engine.templates_of(mp.id, false).await.unwrap();
    let me = sim.state().mp_openid(0).unwrap();
    let device_defaults = [
        ("time1", "2021年10月21日 12:00:00"),
        ("enum_string2", "客厅"),
        ("thing3", "设备发生故障,请及时查看"),
    ];
    let mut accepted = 0;
    let mut stricter = Vec::new();
    for ty in [
        FieldType::Thing,
        FieldType::Number,
        FieldType::Letter,
        FieldType::Symbol,
        FieldType::CharacterString,
        FieldType::Time,
        FieldType::Date,
        FieldType::Amount,
        FieldType::PhoneNumber,
        FieldType::CarNumber,
        FieldType::Name,
        FieldType::Phrase,
        FieldType::Enum,
    ] {
        let (title, key) = probe(ty).unwrap();
        let template = templates.iter().find(|t| t.remote.title == title).unwrap();
        let enums = template.remote.enums.get(key).cloned().unwrap_or_default();
        let defaults: &[(&str, &str)] = if title == "设备状态提醒" {
            &device_defaults
        } else {
            &BOOKING_VALUES
        };
        for value in corpus(ty) {
            let ours = message::check_value(ty, &value, &enums, Flavor::Subscribe);
            let mut data: BTreeMap<String, SubscribeValue> = defaults
                .iter()
                .map(|(k, v)| ((*k).to_owned(), SubscribeValue::new(*v)))
                .collect();
            data.insert(key.to_owned(), SubscribeValue::new(value.clone()));
            let message = SubscribeMessage {
                touser: me.clone(),
                template_id: template.remote.template_id.clone(),
                page: None,
                miniprogram_state: None,
                lang: None,
                data,
            };
            let client = engine.wechat();
            let base = mp.api_base.as_str();
            let message = &message;
            let answer = engine
                .with_token(&mp, |token| async move {
                    client.send_subscribe(base, &token, message).await
                })
                .await;
            let code = match answer {
                Err(Error::WeChat(e)) => e.code(),
                other => panic!("{ty:?} {value:?}: expected a WeChat refusal, got {other:?}"),
            };
            if ours.is_ok() {
                accepted += 1;
                assert_eq!(
                    code,
                    Some(43101),
                    "{ty:?} {value:?}: accepted by message, refused by the simulator"
                );
            } else if code == Some(43101) {
                stricter.push(format!("{ty:?} {value:?}: {ours:?}"));
            } else {
                assert_eq!(code, Some(47003), "{ty:?} {value:?}");
            }
        }
    }
    assert!(
        accepted > 100,
        "the corpus exercises acceptance too ({accepted})"
    );
    // Where `message` is stricter than the simulator, on purpose (see the README of message).
    eprintln!(
        "message is stricter than the simulator for:\n{}",
        stricter.join("\n")
    );
}
on_both_databases!(whatever_message_accepts_the_simulator_accepts);

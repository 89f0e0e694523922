//! Templates and presets against the WeChat simulator: the 3-way merge of a re-sync, presets
//! flagged (never deleted) when their template goes or changes, the editor's rules enforced on
//! save, and a test send that reaches WeChat with the exact payload.

mod common;

use engine::audit::Actor;
use engine::templates::presets::PresetInput;
use engine::testing::TestDb;
use engine::{on_both_databases, Engine, Error, Role};
use message::{FieldValue, MiniProgramLink, Problem};
use serde_json::json;
use wechat_sim::{NewOaTemplate, SimConfig, SimHandle};

use common::{admin, linked_accounts, order_status_values, template_ref, values};

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

async fn resync_merges_and_flags_presets(db: TestDb) {
    let sim = sim().await;
    let engine = Engine::open(&db.url).await.unwrap();
    let (oa, mp) = linked_accounts(&engine, &sim).await;

    let first = engine.sync_templates(&admin(), &oa).await.unwrap();
    assert_eq!((first.added, first.changed, first.removed), (6, 0, 0));
    let stored = engine.templates_of(oa.id, false).await.unwrap();
    let order = stored
        .iter()
        .find(|t| t.remote.title == "订单状态通知")
        .unwrap();
    let keys: Vec<&str> = order.fields.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        keys,
        ["thing1", "character_string2", "time3", "amount4", "const5"]
    );
    assert_eq!(order.fields[0].label, "商品名称");
    assert!(order.remote.primary_industry.is_none());

    let again = engine.sync_templates(&admin(), &oa).await.unwrap();
    assert_eq!(
        (again.added, again.changed, again.removed, again.unchanged),
        (0, 0, 0, 6)
    );

    let order_ref = template_ref(&engine, &oa, "订单状态通知").await;
    let bought_ref = template_ref(&engine, &oa, "购买成功通知").await;
    let on_order = engine
        .create_preset(
            &admin(),
            &oa,
            PresetInput {
                name: "发货通知".into(),
                template_ref: order_ref,
                body: order_status_values(),
            },
        )
        .await
        .unwrap();
    let on_bought = engine
        .create_preset(
            &admin(),
            &oa,
            PresetInput {
                name: "购买成功".into(),
                template_ref: bought_ref,
                body: values(&[("keyword1", "巧克力"), ("keyword2", "39.8元")]),
            },
        )
        .await
        .unwrap();

    // In WeChat: 订单状态通知 deleted, 购买成功通知 turned into a typed template, one added.
    let state = sim.state();
    let wx = state.oa_templates();
    let order_wx = wx
        .iter()
        .find(|t| t.title == "订单状态通知")
        .unwrap()
        .clone();
    let bought_wx = wx
        .iter()
        .find(|t| t.title == "购买成功通知")
        .unwrap()
        .clone();
    assert!(state.remove_oa_template(&order_wx.template_id));
    state
        .update_oa_template(
            &bought_wx.template_id,
            NewOaTemplate {
                title: "购买成功通知".into(),
                content: "商品名称:{{thing1.DATA}}\n商品价格:{{amount2.DATA}}".into(),
                ..NewOaTemplate::default()
            },
        )
        .unwrap();
    state
        .add_oa_template(NewOaTemplate {
            title: "退款成功通知".into(),
            content: "退款金额:{{amount1.DATA}}\n退款时间:{{time2.DATA}}".into(),
            ..NewOaTemplate::default()
        })
        .unwrap();

    let report = engine.sync_templates(&admin(), &oa).await.unwrap();
    assert_eq!(
        (
            report.added,
            report.changed,
            report.removed,
            report.unchanged
        ),
        (1, 1, 1, 4)
    );
    assert_eq!(report.flagged_presets, 1);

    let presets = engine.presets(oa.id).await.unwrap();
    assert_eq!(presets.len(), 2, "a re-sync never deletes a preset");
    let order_p = presets.iter().find(|p| p.preset.id == on_order.id).unwrap();
    assert!(order_p.template_removed);
    assert_eq!(
        order_p.preset.body,
        order_status_values(),
        "kept as written"
    );
    let bought_p = presets
        .iter()
        .find(|p| p.preset.id == on_bought.id)
        .unwrap();
    assert!(!bought_p.template_removed);
    let fields: Vec<&str> = bought_p.issues.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(
        fields,
        ["value.thing1", "value.amount2"],
        "the changed template no longer fits"
    );
    let removed = engine.template(order_ref).await.unwrap().unwrap();
    assert!(removed.removed && removed.removed_ms.is_some());

    // A removed template's preset cannot be saved or sent as it is.
    let err = engine
        .update_preset(
            &admin(),
            &oa,
            on_order.id,
            PresetInput {
                name: "发货通知".into(),
                template_ref: order_ref,
                body: order_status_values(),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TemplateRemoved), "{err:?}");

    // Back in WeChat under the same id: active again and the preset no longer flagged.
    state
        .add_oa_template(NewOaTemplate {
            template_id: Some(order_wx.template_id.clone()),
            title: order_wx.title.clone(),
            content: order_wx.content.clone(),
            example: order_wx.example.clone(),
            enums: order_wx.enums.clone(),
            ..NewOaTemplate::default()
        })
        .unwrap();
    let back = engine.sync_templates(&admin(), &oa).await.unwrap();
    assert_eq!((back.added, back.changed, back.flagged_presets), (0, 1, 0));
    let presets = engine.presets(oa.id).await.unwrap();
    assert!(presets
        .iter()
        .all(|p| p.preset.id != on_order.id || !p.template_removed));

    // The Mini Program's subscribe templates, with type and enum values.
    let mp_report = engine.sync_templates(&admin(), &mp).await.unwrap();
    assert_eq!(mp_report.added, 4);
    let mp_templates = engine.templates_of(mp.id, false).await.unwrap();
    let device = mp_templates
        .iter()
        .find(|t| t.remote.title == "设备状态提醒")
        .unwrap();
    assert_eq!(device.remote.sub_type, Some(3));
    assert_eq!(device.remote.enums["enum_string2"].len(), 4);
    assert_eq!(device.fields[1].ty, message::FieldType::Enum);

    let audit = engine
        .audit_recent(Some("template.sync"), 10)
        .await
        .unwrap();
    assert_eq!(audit.len(), 5);
    assert!(audit.iter().any(|e| e.detail.contains("\"removed\":1")));
}
on_both_databases!(resync_merges_and_flags_presets);

async fn saving_applies_the_editor_rules(db: TestDb) {
    let sim = sim().await;
    let engine = Engine::open(&db.url).await.unwrap();
    let (oa, mp) = linked_accounts(&engine, &sim).await;
    engine.sync_templates(&admin(), &oa).await.unwrap();
    let order_ref = template_ref(&engine, &oa, "订单状态通知").await;

    let mut body = order_status_values();
    body.values.get_mut("thing1").unwrap().value =
        "一二三四五六七八九十一二三四五六七八九十一".into();
    body.values.get_mut("amount4").unwrap().color = "#12345".into();
    body.url = "ftp://example.com".into();
    body.miniprogram = Some(MiniProgramLink {
        appid: "wx0000000000000000".into(),
        pagepath: "/pages/index/index".into(),
    });
    let err = engine
        .create_preset(
            &admin(),
            &oa,
            PresetInput {
                name: " ".into(),
                template_ref: order_ref,
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
    assert_eq!(
        got,
        [
            ("name", &Problem::Required),
            ("value.thing1", &Problem::TooLong(20)),
            ("color.amount4", &Problem::ColorFormat),
            ("url", &Problem::UrlFormat),
            ("miniprogram.appid", &Problem::NotLinked),
            ("miniprogram.pagepath", &Problem::PagePathFormat),
        ]
    );
    assert!(
        engine.presets(oa.id).await.unwrap().is_empty(),
        "nothing stored"
    );

    let mut good = order_status_values();
    good.values.get_mut("thing1").unwrap().color = "#ff0000".into();
    good.miniprogram = Some(MiniProgramLink {
        appid: mp.appid.clone(),
        pagepath: "pages/order/detail?id=42".into(),
    });
    good.values.insert(
        "stale_key".into(),
        FieldValue {
            value: "dropped".into(),
            color: String::new(),
        },
    );
    let input = PresetInput {
        name: "发货通知".into(),
        template_ref: order_ref,
        body: good,
    };
    let saved = engine
        .create_preset(&admin(), &oa, input.clone())
        .await
        .unwrap();
    assert!(
        !saved.body.values.contains_key("stale_key"),
        "only the template's keys are stored"
    );
    let dup_name = engine
        .create_preset(&admin(), &oa, input)
        .await
        .unwrap_err();
    assert!(matches!(dup_name, Error::Conflict(_)), "{dup_name:?}");

    let copy = engine
        .duplicate_preset(&admin(), &oa, saved.id)
        .await
        .unwrap();
    let copy2 = engine
        .duplicate_preset(&admin(), &oa, saved.id)
        .await
        .unwrap();
    assert_eq!(copy.name, "发货通知 副本");
    assert_eq!(copy2.name, "发货通知 副本 2");
    assert_eq!(copy.body, saved.body);

    engine.delete_preset(&admin(), &oa, copy.id).await.unwrap();
    let names: Vec<String> = engine
        .presets(oa.id)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.preset.name)
        .collect();
    assert_eq!(names, ["发货通知", "发货通知 副本 2"]);
    let actions: Vec<String> = engine
        .audit_recent(None, 20)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a.starts_with("preset."))
        .collect();
    assert_eq!(
        actions,
        [
            "preset.delete",
            "preset.duplicate",
            "preset.duplicate",
            "preset.create"
        ]
    );
}
on_both_databases!(saving_applies_the_editor_rules);

async fn test_send_reaches_wechat_with_the_exact_payload(db: TestDb) {
    let sim = sim().await;
    let engine = Engine::open(&db.url).await.unwrap();
    let (oa, mp) = linked_accounts(&engine, &sim).await;
    engine.sync_templates(&admin(), &oa).await.unwrap();
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
    let order_ref = template_ref(&engine, &oa, "订单状态通知").await;
    let mut body = order_status_values();
    body.values.get_mut("thing1").unwrap().color = "#ff0000".into();
    body.url = "https://example.com/orders/42".into();
    body.miniprogram = Some(MiniProgramLink {
        appid: mp.appid.clone(),
        pagepath: "pages/order/detail?id=42".into(),
    });
    let preset = engine
        .create_preset(
            &admin(),
            &oa,
            PresetInput {
                name: "发货通知".into(),
                template_ref: order_ref,
                body,
            },
        )
        .await
        .unwrap();

    let unbound = engine
        .test_send(&actor, &oa, staff.id, preset.id)
        .await
        .unwrap_err();
    assert!(matches!(unbound, Error::NoTestOpenid), "{unbound:?}");
    let bad = engine
        .set_staff_openid(&actor, staff.id, &oa, "not an openid!")
        .await
        .unwrap_err();
    assert!(matches!(
        bad,
        Error::Refused(ref r) if r.field == "openid"
    ));

    let state = sim.state();
    let me = state.follower_view(0).unwrap();
    assert!(me.subscribed);
    engine
        .set_staff_openid(&actor, staff.id, &oa, &me.openid)
        .await
        .unwrap();
    let msgid = engine
        .test_send(&actor, &oa, staff.id, preset.id)
        .await
        .unwrap();
    let sent = state.messages(10, Some(&me.openid));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].msgid, msgid);
    let template_id = &engine
        .template(order_ref)
        .await
        .unwrap()
        .unwrap()
        .remote
        .template_id;
    assert_eq!(
        sent[0].payload,
        json!({
            "touser": me.openid,
            "template_id": template_id,
            "url": "https://example.com/orders/42",
            "miniprogram": { "appid": mp.appid, "pagepath": "pages/order/detail?id=42" },
            "data": {
                "thing1": { "value": "无线蓝牙耳机", "color": "#FF0000" },
                "character_string2": { "value": "20231018123456" },
                "time3": { "value": "2023年10月18日 14:30" },
                "amount4": { "value": "¥199.00" },
                "const5": { "value": "已发货" }
            }
        })
    );

    // WeChat's own answers come back as they are: a value outside the approved list (which
    // WeChat does not publish for OA templates) is 47003 naming the field.
    let mut off_list = order_status_values();
    off_list.values.get_mut("const5").unwrap().value = "已签收".into();
    engine
        .update_preset(
            &admin(),
            &oa,
            preset.id,
            PresetInput {
                name: "发货通知".into(),
                template_ref: order_ref,
                body: off_list,
            },
        )
        .await
        .unwrap();
    let Error::WeChat(e) = engine
        .test_send(&actor, &oa, staff.id, preset.id)
        .await
        .unwrap_err()
    else {
        panic!("a WeChat error");
    };
    assert_eq!(e.code(), Some(47003));
    assert_eq!(e.field().as_deref(), Some("data.const5.value"));

    let audit = engine
        .audit_recent(Some("preset.test_send"), 10)
        .await
        .unwrap();
    assert_eq!(audit.len(), 2);
    assert!(audit[0].detail.contains("47003"));
    assert!(audit[1].detail.contains(&msgid.to_string()));
}
on_both_databases!(test_send_reaches_wechat_with_the_exact_payload);

//! `validate_preset`: every problem, in form order, under its field name.

use std::collections::BTreeMap;

use message::{
    parse_fields, validate_preset, FieldValue, Flavor, Issue, MiniProgramLink, PresetBody, Problem,
    TemplateSpec,
};

const ORDER: &str = "商品名称:{{thing1.DATA}}\n订单编号:{{character_string2.DATA}}\n下单时间:{{time3.DATA}}\n订单金额:{{amount4.DATA}}\n订单状态:{{const5.DATA}}";

fn value(v: &str, color: &str) -> FieldValue {
    FieldValue {
        value: v.into(),
        color: color.into(),
    }
}

fn issue(field: &str, problem: Problem) -> Issue {
    Issue {
        field: field.into(),
        problem,
    }
}

fn enums() -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([(
        "const5".to_owned(),
        vec!["待付款".to_owned(), "已发货".to_owned()],
    )])
}

fn good_body() -> PresetBody {
    PresetBody {
        values: BTreeMap::from([
            ("thing1".to_owned(), value("无线蓝牙耳机", "#173177")),
            ("character_string2".to_owned(), value("20231018123456", "")),
            ("time3".to_owned(), value("2023年10月18日 14:30", "")),
            ("amount4".to_owned(), value("¥199.00", "#ff0000")),
            ("const5".to_owned(), value("已发货", "")),
        ]),
        url: "https://example.com/order/1".into(),
        miniprogram: Some(MiniProgramLink {
            appid: "wx0123456789abcdef".into(),
            pagepath: "pages/order/detail?id=1".into(),
        }),
    }
}

fn check(body: &PresetBody, flavor: Flavor) -> Vec<Issue> {
    let fields = parse_fields(ORDER);
    let enums = enums();
    let linked = vec!["wx0123456789abcdef".to_owned()];
    validate_preset(
        body,
        &TemplateSpec {
            fields: &fields,
            enums: &enums,
            flavor,
            linked_appids: &linked,
        },
    )
}

#[test]
fn a_good_preset_has_no_issue() {
    assert_eq!(check(&good_body(), Flavor::Template), []);
    assert_eq!(check(&good_body(), Flavor::Subscribe), []);
}

#[test]
fn issues_come_in_form_order() {
    let body = PresetBody {
        values: BTreeMap::from([
            ("thing1".to_owned(), value(&"长".repeat(21), "red")),
            ("character_string2".to_owned(), value("订单123", "#12345G")),
            // time3 missing: counts as empty.
            ("amount4".to_owned(), value("10000元", "")),
            ("const5".to_owned(), value("已签收", "#000000")),
            // Not in the template: ignored.
            ("thing9".to_owned(), value("", "nonsense")),
        ]),
        url: "weixin.qq.com".into(),
        miniprogram: Some(MiniProgramLink {
            appid: "wxnotlinked".into(),
            pagepath: "/pages/index".into(),
        }),
    };
    assert_eq!(
        check(&body, Flavor::Template),
        [
            issue("value.thing1", Problem::TooLong(20)),
            issue("color.thing1", Problem::ColorFormat),
            issue("value.character_string2", Problem::NoCjk),
            issue("color.character_string2", Problem::ColorFormat),
            issue("value.time3", Problem::Required),
            issue("value.amount4", Problem::AmountFormat(12)),
            issue(
                "value.const5",
                Problem::NotInList(vec!["待付款".into(), "已发货".into()])
            ),
            issue("url", Problem::UrlFormat),
            issue("miniprogram.appid", Problem::NotLinked),
            issue("miniprogram.pagepath", Problem::PagePathFormat),
        ]
    );
}

#[test]
fn amount_limit_follows_the_flavor() {
    let mut body = good_body();
    body.values
        .insert("amount4".into(), value("¥123456789012", ""));
    assert_eq!(check(&body, Flavor::Template), []);
    assert_eq!(
        check(&body, Flavor::Subscribe),
        [issue("value.amount4", Problem::AmountFormat(10))]
    );
}

#[test]
fn empty_miniprogram_counts_as_none() {
    let mut body = good_body();
    body.miniprogram = Some(MiniProgramLink::default());
    body.url.clear();
    assert_eq!(check(&body, Flavor::Template), []);
    body.miniprogram = None;
    assert_eq!(check(&body, Flavor::Template), []);
}

#[test]
fn half_filled_miniprogram() {
    let mut body = good_body();
    body.miniprogram = Some(MiniProgramLink {
        appid: String::new(),
        pagepath: "pages/index/index".into(),
    });
    assert_eq!(
        check(&body, Flavor::Template),
        [issue("miniprogram.appid", Problem::MiniProgramIncomplete)]
    );
    body.miniprogram = Some(MiniProgramLink {
        appid: "wx0123456789abcdef".into(),
        pagepath: String::new(),
    });
    assert_eq!(
        check(&body, Flavor::Template),
        [issue(
            "miniprogram.pagepath",
            Problem::MiniProgramIncomplete
        )]
    );
    body.miniprogram = Some(MiniProgramLink {
        appid: "wxother".into(),
        pagepath: String::new(),
    });
    assert_eq!(
        check(&body, Flavor::Template),
        [
            issue("miniprogram.appid", Problem::NotLinked),
            issue("miniprogram.pagepath", Problem::MiniProgramIncomplete),
        ]
    );
}

#[test]
fn no_linked_mini_programs_means_none_allowed() {
    let fields = parse_fields(ORDER);
    let enums = enums();
    let issues = validate_preset(
        &good_body(),
        &TemplateSpec {
            fields: &fields,
            enums: &enums,
            flavor: Flavor::Template,
            linked_appids: &[],
        },
    );
    assert_eq!(issues, [issue("miniprogram.appid", Problem::NotLinked)]);
}

#[test]
fn legacy_templates_only_check_control_chars_and_colors() {
    let fields = parse_fields("{{first.DATA}}\n商品名称：{{keyword1.DATA}}\n{{remark.DATA}}");
    let body = PresetBody {
        values: BTreeMap::from([
            ("first".to_owned(), value("", "")),
            ("keyword1".to_owned(), value(&"长".repeat(50), "#ABCDEF")),
            ("remark".to_owned(), value("第一行\n第二行", "#12")),
        ]),
        url: String::new(),
        miniprogram: None,
    };
    let issues = validate_preset(
        &body,
        &TemplateSpec {
            fields: &fields,
            enums: &BTreeMap::new(),
            flavor: Flavor::Template,
            linked_appids: &[],
        },
    );
    assert_eq!(
        issues,
        [
            issue("value.remark", Problem::ControlChars),
            issue("color.remark", Problem::ColorFormat),
        ]
    );
}

#[test]
fn preset_body_json_round_trip_and_defaults() {
    let body = good_body();
    let json = serde_json::to_string(&body).unwrap();
    let back: PresetBody = serde_json::from_str(&json).unwrap();
    assert_eq!(back, body);
    let empty: PresetBody = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, PresetBody::default());
    let partial: PresetBody =
        serde_json::from_str(r#"{"values":{"thing1":{"value":"x"}}}"#).unwrap();
    assert_eq!(partial.values["thing1"], value("x", ""));
}

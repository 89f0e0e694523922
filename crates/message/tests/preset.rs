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
        ..PresetBody::default()
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
        ..PresetBody::default()
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
        ..PresetBody::default()
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

const BOOKING: &str = "服务项目:{{thing1.DATA}}\n预约人数:{{number2.DATA}}\n预约日期:{{date3.DATA}}\n预约状态:{{phrase4.DATA}}\n预约单号:{{character_string5.DATA}}\n到店时间:{{time6.DATA}}\n订单金额:{{amount7.DATA}}\n预约人:{{name8.DATA}}\n座位区域:{{letter9.DATA}}\n会员等级:{{symbol10.DATA}}\n联系电话:{{phone_number11.DATA}}\n车牌号码:{{car_number12.DATA}}\n所在位置:{{enum_string13.DATA}}";

fn booking_body() -> PresetBody {
    let pairs = [
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
        ("enum_string13", "客厅"),
    ];
    PresetBody {
        values: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), value(v, "")))
            .collect(),
        page: "pages/order/detail?id=42".into(),
        ..PresetBody::default()
    }
}

fn check_subscribe(body: &PresetBody) -> Vec<Issue> {
    let fields = parse_fields(BOOKING);
    let enums = BTreeMap::from([(
        "enum_string13".to_owned(),
        vec!["客厅".to_owned(), "卧室".to_owned()],
    )]);
    validate_preset(
        body,
        &TemplateSpec {
            fields: &fields,
            enums: &enums,
            flavor: Flavor::Subscribe,
            linked_appids: &[],
        },
    )
}

#[test]
fn a_good_subscribe_preset_has_no_issue() {
    assert_eq!(check_subscribe(&booking_body()), []);
    let mut no_page = booking_body();
    no_page.page.clear();
    assert_eq!(check_subscribe(&no_page), []);
    for state in ["formal", "trial", "developer"] {
        for lang in ["zh_CN", "en_US", "zh_HK", "zh_TW"] {
            let mut b = booking_body();
            b.miniprogram_state = state.into();
            b.lang = lang.into();
            assert_eq!(check_subscribe(&b), [], "{state} {lang}");
        }
    }
}

#[test]
fn subscribe_presets_ignore_colors_url_and_miniprogram() {
    let mut b = booking_body();
    b.values.get_mut("thing1").unwrap().color = "red".into();
    b.url = "not a url".into();
    b.miniprogram = Some(MiniProgramLink {
        appid: "wxnotlinked".into(),
        pagepath: "/bad".into(),
    });
    assert_eq!(check_subscribe(&b), []);
}

#[test]
fn subscribe_issues_come_in_form_order() {
    let mut b = booking_body();
    let set = |b: &mut PresetBody, k: &str, v: &str| b.values.insert(k.into(), value(v, ""));
    set(&mut b, "thing1", &"长".repeat(21));
    set(&mut b, "number2", "两");
    set(&mut b, "time6", "9:30");
    set(&mut b, "amount7", "¥12345678901");
    set(&mut b, "enum_string13", "阳台");
    b.values.remove("name8");
    b.page = "/pages/index/index".into();
    b.miniprogram_state = "release".into();
    b.lang = "zh-CN".into();
    assert_eq!(
        check_subscribe(&b),
        [
            issue("value.thing1", Problem::TooLong(20)),
            issue("value.number2", Problem::DigitsOnly),
            issue("value.time6", Problem::TimeFormat),
            issue("value.amount7", Problem::AmountFormat(10)),
            issue("value.name8", Problem::Required),
            issue(
                "value.enum_string13",
                Problem::NotInList(vec!["客厅".into(), "卧室".into()])
            ),
            issue("page", Problem::PagePathFormat),
            issue(
                "miniprogram_state",
                Problem::OneOf(vec!["formal".into(), "trial".into(), "developer".into()])
            ),
            issue(
                "lang",
                Problem::OneOf(vec![
                    "zh_CN".into(),
                    "en_US".into(),
                    "zh_HK".into(),
                    "zh_TW".into()
                ])
            ),
        ]
    );
    b.page = "pages/index index".into();
    b.miniprogram_state = String::new();
    b.lang = String::new();
    let issues = check_subscribe(&b);
    let tail: Vec<(&str, &Problem)> = issues
        .iter()
        .filter(|i| !i.field.starts_with("value."))
        .map(|i| (i.field.as_str(), &i.problem))
        .collect();
    assert_eq!(tail[0], ("page", &Problem::PagePathFormat));
    assert_eq!(tail[1].0, "miniprogram_state");
    assert_eq!(tail[2].0, "lang");
    assert_eq!(tail.len(), 3);
}

#[test]
fn template_presets_ignore_the_subscribe_options() {
    let mut body = good_body();
    body.page = "/nonsense page".into();
    body.miniprogram_state = "x".into();
    body.lang = "x".into();
    assert_eq!(check(&body, Flavor::Template), []);
}

#[test]
fn subscribe_options_default_and_stay_out_of_old_json() {
    let old: PresetBody =
        serde_json::from_str(r#"{"values":{"thing1":{"value":"x","color":""}},"url":""}"#).unwrap();
    assert_eq!(old.page, "");
    assert_eq!(old.miniprogram_state, "formal");
    assert_eq!(old.lang, "zh_CN");
    let json = serde_json::to_value(good_body()).unwrap();
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["miniprogram", "url", "values"]);
    let mut b = booking_body();
    b.miniprogram_state = "trial".into();
    b.lang = "en_US".into();
    let json = serde_json::to_value(&b).unwrap();
    assert_eq!(json["page"], "pages/order/detail?id=42");
    assert_eq!(json["miniprogram_state"], "trial");
    assert_eq!(json["lang"], "en_US");
    let back: PresetBody = serde_json::from_value(json).unwrap();
    assert_eq!(back, b);
}

#[test]
fn values_with_variables_wait_for_their_row_but_a_links_fixed_part_is_checked_now() {
    let mut body = good_body();
    body.values.insert("amount4".into(), value("¥{{金额}}", ""));
    body.values
        .insert("character_string2".into(), value("{{订单号}}", ""));
    body.url = "https://example.com/order/{{订单号}}".into();
    assert_eq!(check(&body, Flavor::Template), vec![]);
    body.url = "example.com/{{订单号}}".into();
    assert_eq!(
        check(&body, Flavor::Template),
        vec![issue("url", Problem::UrlFormat)]
    );
    // Filled in, the row's value is checked like any other.
    body.url = "https://example.com/order/{{订单号}}".into();
    let row = BTreeMap::from([("金额", "很多"), ("订单号", "A1")]);
    let filled = message::fill_preset(&body, &row);
    assert_eq!(
        check(&filled, Flavor::Template),
        vec![issue("value.amount4", Problem::AmountFormat(12))]
    );
    assert_eq!(filled.url, "https://example.com/order/A1");
}

//! The send payload and the preview rendered from it.

use std::collections::BTreeMap;

use message::{
    parse_fields, preview, template_payload, FieldValue, Jump, MiniProgramLink, PresetBody,
    Preview, PreviewMode, PreviewRow,
};
use model::wechat_message::{MiniProgram, TemplateMessage, TemplateValue};
use serde_json::json;

const PURCHASE: &str = "{{first.DATA}}\n商品名称：{{keyword1.DATA}}\n商品价格：{{keyword2.DATA}}\n购买时间：{{keyword3.DATA}}\n{{remark.DATA}}";
const CATEGORY: &str =
    "商品名称:{{thing1.DATA}}\n订单编号:{{character_string2.DATA}}\n{{thing3.DATA}}";

fn body(values: &[(&str, &str, &str)]) -> PresetBody {
    PresetBody {
        values: values
            .iter()
            .map(|(k, v, c)| {
                (
                    (*k).to_owned(),
                    FieldValue {
                        value: (*v).into(),
                        color: (*c).into(),
                    },
                )
            })
            .collect(),
        ..PresetBody::default()
    }
}

#[test]
fn classic_send_example() {
    let fields = parse_fields("{{keyword1.DATA}}{{keyword2.DATA}}{{keyword3.DATA}}");
    let mut b = body(&[
        ("keyword1", "巧克力", ""),
        ("keyword2", "39.8元", ""),
        ("keyword3", "2014年9月22日", ""),
    ]);
    b.url = "http://weixin.qq.com/download".into();
    b.miniprogram = Some(MiniProgramLink {
        appid: "xiaochengxuappid12345".into(),
        pagepath: "index?foo=bar".into(),
    });
    let payload = template_payload(
        "OPENID",
        "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
        &fields,
        &b,
        Some("MSG_000001"),
    );
    assert_eq!(
        payload.to_json(),
        json!({
            "touser": "OPENID",
            "template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
            "url": "http://weixin.qq.com/download",
            "miniprogram": {"appid": "xiaochengxuappid12345", "pagepath": "index?foo=bar"},
            "client_msg_id": "MSG_000001",
            "data": {
                "keyword1": {"value": "巧克力"},
                "keyword2": {"value": "39.8元"},
                "keyword3": {"value": "2014年9月22日"}
            }
        })
    );
    let back: TemplateMessage = serde_json::from_value(payload.to_json()).unwrap();
    assert_eq!(back, payload);
}

#[test]
fn data_holds_exactly_the_template_keys() {
    let fields = parse_fields(PURCHASE);
    let b = body(&[
        ("first", "您好", "#ff0000"),
        ("keyword1", "  巧克力  ", "#00aaFF"),
        // keyword2, keyword3 and remark missing; extra key ignored.
        ("keyword9", "ignored", ""),
    ]);
    let payload = template_payload("o1", "T1", &fields, &b, None);
    assert_eq!(
        payload.to_json(),
        json!({
            "touser": "o1",
            "template_id": "T1",
            "data": {
                "first": {"value": "您好", "color": "#FF0000"},
                "keyword1": {"value": "  巧克力  ", "color": "#00AAFF"},
                "keyword2": {"value": ""},
                "keyword3": {"value": ""},
                "remark": {"value": ""}
            }
        })
    );
}

#[test]
fn url_and_miniprogram_only_when_set() {
    let fields = parse_fields(CATEGORY);
    let mut b = body(&[]);
    b.miniprogram = Some(MiniProgramLink {
        appid: String::new(),
        pagepath: "pages/index".into(),
    });
    let p = template_payload("o", "t", &fields, &b, Some(""));
    assert_eq!(p.url, None);
    assert_eq!(p.miniprogram, None);
    assert_eq!(p.client_msg_id.as_deref(), Some(""));
    assert_eq!(
        p.to_json(),
        json!({"touser": "o", "template_id": "t", "client_msg_id": "",
               "data": {"thing1": {"value": ""}, "character_string2": {"value": ""},
                        "thing3": {"value": ""}}})
    );
    b.url = "https://a.example".into();
    b.miniprogram = Some(MiniProgramLink {
        appid: "wxabc".into(),
        pagepath: String::new(),
    });
    let p = template_payload("o", "t", &fields, &b, None);
    assert_eq!(p.url.as_deref(), Some("https://a.example"));
    assert_eq!(
        p.miniprogram,
        Some(MiniProgram {
            appid: "wxabc".into(),
            pagepath: String::new()
        })
    );
}

fn row(key: &str, label: &str, text: &str, truncated: bool, color: Option<&str>) -> PreviewRow {
    PreviewRow {
        key: key.into(),
        label: label.into(),
        text: text.into(),
        truncated,
        color: color.map(str::to_owned),
    }
}

#[test]
fn current_mode_cuts_at_twenty_and_hides_first_remark_and_colors() {
    let fields = parse_fields(CATEGORY);
    let twenty = "一二三四五六七八九十一二三四五六七八九十";
    let b = body(&[
        ("thing1", &format!("{twenty}多"), "#FF0000"),
        ("character_string2", "A1234567890123456789", "#00ff00"),
        ("thing3", "第一行\n第二行", ""),
    ]);
    let payload = template_payload("o", "t", &fields, &b, None);
    assert_eq!(
        preview("订单状态通知", &fields, &payload, PreviewMode::Current),
        Preview {
            title: "订单状态通知".into(),
            first: None,
            rows: vec![
                row("thing1", "商品名称", &format!("{twenty}…"), true, None),
                row(
                    "character_string2",
                    "订单编号",
                    "A1234567890123456789",
                    false,
                    None
                ),
                row("thing3", "thing3", "第一行", true, None),
            ],
            remark: None,
            jump: Jump::None,
        }
    );
}

#[test]
fn legacy_mode_shows_first_remark_colors_and_full_text() {
    let fields = parse_fields(PURCHASE);
    let long = "这是一段超过二十个字符的很长很长很长很长的商品名称";
    let b = body(&[
        ("first", "您好，您已购买成功。", "#173177"),
        ("keyword1", long, "#ff0000"),
        ("keyword2", "39.8元\n优惠价", ""),
        ("remark", "欢迎再次购买！", ""),
    ]);
    let payload = template_payload("o", "t", &fields, &b, None);
    let legacy = preview("购买成功通知", &fields, &payload, PreviewMode::Legacy);
    assert_eq!(
        legacy.first,
        Some(row(
            "first",
            "first",
            "您好，您已购买成功。",
            false,
            Some("#173177")
        ))
    );
    assert_eq!(
        legacy.rows,
        [
            row("keyword1", "商品名称", long, false, Some("#FF0000")),
            row("keyword2", "商品价格", "39.8元", true, None),
            row("keyword3", "购买时间", "", false, None),
        ]
    );
    assert_eq!(
        legacy.remark,
        Some(row("remark", "remark", "欢迎再次购买！", false, None))
    );

    let current = preview("购买成功通知", &fields, &payload, PreviewMode::Current);
    assert_eq!(current.first, None);
    assert_eq!(current.remark, None);
    assert_eq!(current.rows.len(), 3);
    assert_eq!(current.rows[0].text.chars().count(), 21);
    assert!(current.rows[0].text.ends_with('…'));
    assert!(current.rows.iter().all(|r| r.color.is_none()));
}

#[test]
fn legacy_mode_without_first_or_remark_fields() {
    let fields = parse_fields(CATEGORY);
    let payload = template_payload("o", "t", &fields, &body(&[]), None);
    let p = preview("t", &fields, &payload, PreviewMode::Legacy);
    assert_eq!(p.first, None);
    assert_eq!(p.remark, None);
}

#[test]
fn a_missing_data_key_previews_empty() {
    let fields = parse_fields(CATEGORY);
    let payload = TemplateMessage {
        touser: "o".into(),
        template_id: "t".into(),
        url: None,
        miniprogram: None,
        client_msg_id: None,
        data: BTreeMap::from([(
            "thing1".to_owned(),
            TemplateValue {
                value: "x".into(),
                color: None,
            },
        )]),
    };
    let p = preview("t", &fields, &payload, PreviewMode::Current);
    assert_eq!(
        p.rows[1],
        row("character_string2", "订单编号", "", false, None)
    );
}

#[test]
fn jump_precedence() {
    let fields = parse_fields(CATEGORY);
    let mut b = body(&[]);
    let jump = |b: &PresetBody| {
        let payload = template_payload("o", "t", &fields, b, None);
        preview("t", &fields, &payload, PreviewMode::Current).jump
    };
    assert_eq!(jump(&b), Jump::None);
    b.url = "https://example.com".into();
    assert_eq!(jump(&b), Jump::Url("https://example.com".into()));
    b.miniprogram = Some(MiniProgramLink {
        appid: String::new(),
        pagepath: "pages/index".into(),
    });
    assert_eq!(jump(&b), Jump::Url("https://example.com".into()));
    b.miniprogram = Some(MiniProgramLink {
        appid: "wxabc".into(),
        pagepath: "pages/index".into(),
    });
    assert_eq!(
        jump(&b),
        Jump::MiniProgram {
            appid: "wxabc".into(),
            pagepath: "pages/index".into()
        }
    );
    b.url.clear();
    assert!(matches!(jump(&b), Jump::MiniProgram { .. }));
}

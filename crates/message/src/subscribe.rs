//! MP subscribe messages: the exact `cgi-bin/message/subscribe/send` body for a preset, and the
//! 服务通知 (service notification) card WeChat shows for it.

use serde::{Deserialize, Serialize};

use model::wechat_message::{SubscribeMessage, SubscribeValue};

use crate::fields::Field;
use crate::preset::PresetBody;
use crate::preview::PreviewRow;

/// The payload for one recipient: `data` holds exactly the template's keys (a missing value is
/// sent as ""); `page` and `miniprogram_state` only when a page is set (the state only says
/// which version that page opens in); `lang` only when non-empty. Colors, `url` and
/// `miniprogram` of the body are never sent.
pub fn subscribe_payload(
    touser: &str,
    template_id: &str,
    fields: &[Field],
    body: &PresetBody,
) -> SubscribeMessage {
    let data = fields
        .iter()
        .map(|field| {
            let value = body
                .values
                .get(&field.key)
                .map(|v| v.value.clone())
                .unwrap_or_default();
            (field.key.clone(), SubscribeValue { value })
        })
        .collect();
    let page = (!body.page.is_empty()).then(|| body.page.clone());
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    SubscribeMessage {
        touser: touser.to_owned(),
        template_id: template_id.to_owned(),
        miniprogram_state: page
            .as_ref()
            .and_then(|_| non_empty(&body.miniprogram_state)),
        page,
        lang: non_empty(&body.lang),
        data,
    }
}

/// The 服务通知 card: the Mini Program's name, the template title, one `label value` row per
/// keyword, and "进入小程序查看" at the bottom when a tap opens a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribePreview {
    /// Shown on the card's first line, next to the Mini Program's icon.
    pub mp_name: String,
    pub title: String,
    /// Keyword rows in template order, values as sent (never cut: the rules keep them short; no
    /// colors).
    pub rows: Vec<PreviewRow>,
    /// The page a tap opens; `None` = the card has no "进入小程序查看" footer.
    pub page: Option<String>,
}

/// Renders `payload` (as built by [`subscribe_payload`]) with the template's fields.
pub fn subscribe_preview(
    mp_name: &str,
    title: &str,
    fields: &[Field],
    payload: &SubscribeMessage,
) -> SubscribePreview {
    let rows = fields
        .iter()
        .map(|field| PreviewRow {
            key: field.key.clone(),
            label: if field.label.is_empty() {
                field.key.clone()
            } else {
                field.label.clone()
            },
            text: payload
                .data
                .get(&field.key)
                .map(|v| v.value.clone())
                .unwrap_or_default(),
            truncated: false,
            color: None,
        })
        .collect();
    SubscribePreview {
        mp_name: mp_name.to_owned(),
        title: title.to_owned(),
        rows,
        page: payload.page.clone().filter(|p| !p.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::parse_fields;
    use crate::preset::FieldValue;

    const BOOKING: &str =
        "服务项目:{{thing1.DATA}}\n预约人数:{{number2.DATA}}\n到店时间:{{time6.DATA}}\n";

    fn body(pairs: &[(&str, &str)]) -> PresetBody {
        PresetBody {
            values: pairs
                .iter()
                .map(|(k, v)| {
                    (
                        (*k).to_owned(),
                        FieldValue {
                            value: (*v).to_owned(),
                            color: "#FF0000".to_owned(),
                        },
                    )
                })
                .collect(),
            ..PresetBody::default()
        }
    }

    #[test]
    fn payload_json_is_exact() {
        let fields = parse_fields(BOOKING);
        let mut b = body(&[("thing1", "汽车保养"), ("number2", "2"), ("stale9", "x")]);
        b.url = "https://example.com".into();
        b.page = "pages/order/detail?id=42".into();
        b.miniprogram_state = "trial".into();
        b.lang = "en_US".into();
        let p = subscribe_payload("oMP1", "TPL", &fields, &b);
        assert_eq!(
            p.to_json(),
            serde_json::json!({
                "touser": "oMP1",
                "template_id": "TPL",
                "page": "pages/order/detail?id=42",
                "miniprogram_state": "trial",
                "lang": "en_US",
                "data": {
                    "thing1": { "value": "汽车保养" },
                    "number2": { "value": "2" },
                    "time6": { "value": "" }
                }
            })
        );
        let back: SubscribeMessage = serde_json::from_value(p.to_json()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn no_page_means_no_page_and_no_state() {
        let fields = parse_fields(BOOKING);
        let p = subscribe_payload("o", "t", &fields, &body(&[("thing1", "洗车")]));
        assert_eq!(
            p.to_json(),
            serde_json::json!({
                "touser": "o",
                "template_id": "t",
                "lang": "zh_CN",
                "data": {
                    "thing1": { "value": "洗车" },
                    "number2": { "value": "" },
                    "time6": { "value": "" }
                }
            })
        );
    }

    #[test]
    fn preview_is_the_service_notice_card() {
        let fields = parse_fields(BOOKING);
        let mut b = body(&[("thing1", "汽车保养"), ("number2", "2"), ("time6", "09:30")]);
        let card = |b: &PresetBody| {
            subscribe_preview(
                "沙箱小程序",
                "预约服务提醒",
                &fields,
                &subscribe_payload("o", "t", &fields, b),
            )
        };
        let p = card(&b);
        assert_eq!(p.mp_name, "沙箱小程序");
        assert_eq!(p.title, "预约服务提醒");
        let rows: Vec<(&str, &str)> = p
            .rows
            .iter()
            .map(|r| (r.label.as_str(), r.text.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                ("服务项目", "汽车保养"),
                ("预约人数", "2"),
                ("到店时间", "09:30")
            ]
        );
        assert!(p.rows.iter().all(|r| r.color.is_none() && !r.truncated));
        assert_eq!(p.page, None);
        b.page = "pages/index/index".into();
        assert_eq!(card(&b).page.as_deref(), Some("pages/index/index"));
    }
}

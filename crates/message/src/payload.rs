//! The exact JSON `cgi-bin/message/template/send` receives for a preset.

use model::wechat_message::{MiniProgram, TemplateMessage, TemplateValue};

use crate::fields::Field;
use crate::preset::PresetBody;

/// The payload for one recipient: `data` holds exactly the template's keys (a missing value is
/// sent as ""), `color` only when set (upper-cased `#RRGGBB`), `url` only when non-empty,
/// `miniprogram` only when its appid is non-empty.
pub fn template_payload(
    touser: &str,
    template_id: &str,
    fields: &[Field],
    body: &PresetBody,
    client_msg_id: Option<&str>,
) -> TemplateMessage {
    let data = fields
        .iter()
        .map(|field| {
            let entry = body.values.get(&field.key);
            let value = TemplateValue {
                value: entry.map(|v| v.value.clone()).unwrap_or_default(),
                color: entry
                    .filter(|v| !v.color.is_empty())
                    .map(|v| v.color.to_ascii_uppercase()),
            };
            (field.key.clone(), value)
        })
        .collect();
    TemplateMessage {
        touser: touser.to_owned(),
        template_id: template_id.to_owned(),
        url: (!body.url.is_empty()).then(|| body.url.clone()),
        miniprogram: body
            .miniprogram
            .as_ref()
            .filter(|mp| !mp.appid.is_empty())
            .map(|mp| MiniProgram {
                appid: mp.appid.clone(),
                pagepath: mp.pagepath.clone(),
            }),
        client_msg_id: client_msg_id.map(str::to_owned),
        data,
    }
}

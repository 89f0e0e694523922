//! The exact JSON `cgi-bin/message/template/send` receives for a preset.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fields::Field;
use crate::preset::PresetBody;

/// A template message as sent; `None` fields are left out of the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub touser: String,
    pub template_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgram>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    pub data: BTreeMap<String, PayloadValue>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiniProgram {
    pub appid: String,
    pub pagepath: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadValue {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

/// The payload for one recipient: `data` holds exactly the template's keys (a missing value is
/// sent as ""), `color` only when set (upper-cased `#RRGGBB`), `url` only when non-empty,
/// `miniprogram` only when its appid is non-empty.
pub fn template_payload(
    touser: &str,
    template_id: &str,
    fields: &[Field],
    body: &PresetBody,
    client_msg_id: Option<&str>,
) -> Payload {
    let data = fields
        .iter()
        .map(|field| {
            let entry = body.values.get(&field.key);
            let value = PayloadValue {
                value: entry.map(|v| v.value.clone()).unwrap_or_default(),
                color: entry
                    .filter(|v| !v.color.is_empty())
                    .map(|v| v.color.to_ascii_uppercase()),
            };
            (field.key.clone(), value)
        })
        .collect();
    Payload {
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

impl Payload {
    pub fn to_json(&self) -> serde_json::Value {
        // Cannot fail: plain structs with string map keys.
        serde_json::to_value(self).unwrap_or_default()
    }
}

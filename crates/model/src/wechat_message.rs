//! The messages wxpush sends through WeChat, one type each: the exact JSON bodies of
//! `cgi-bin/message/template/send` and `cgi-bin/message/subscribe/send`. The `message` crate
//! builds them from presets (and the editor previews them); the `wechat` client posts them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// An Official Account template message. `None` fields are left out of the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateMessage {
    /// The follower's openid.
    pub touser: String,
    pub template_id: String,
    /// Jump URL (fallback for old clients when `miniprogram` is also set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Jump into a Mini Program linked to the account (wins over `url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgram>,
    /// De-duplication id: for the same openid + client_msg_id WeChat sends once (10 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// Template keys (`thing1`, `keyword1`, `first`…) → values.
    pub data: BTreeMap<String, TemplateValue>,
}

/// The Mini Program a template message opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiniProgram {
    pub appid: String,
    /// Page path, may carry a query; must exist in the released Mini Program (else 40165).
    pub pagepath: String,
}

/// One value of a template message. `color` is no longer rendered by WeChat (since 2023).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateValue {
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

impl TemplateValue {
    /// A value without colour.
    pub fn new(value: impl Into<String>) -> TemplateValue {
        TemplateValue {
            value: value.into(),
            color: None,
        }
    }
}

/// A Mini Program subscribe message. `None` fields are left out of the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeMessage {
    /// The Mini Program user's openid.
    pub touser: String,
    pub template_id: String,
    /// Page to open (query allowed, no leading `/`); must exist in the released version (else
    /// 41030).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// `developer` | `trial` | `formal` (WeChat's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miniprogram_state: Option<String>,
    /// `zh_CN` (WeChat's default) | `en_US` | `zh_HK` | `zh_TW`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    /// Template keys (`thing1`, `time2`…) → values.
    pub data: BTreeMap<String, SubscribeValue>,
}

/// One value of a subscribe message: WeChat reads only `value` (no colours).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeValue {
    pub value: String,
}

impl SubscribeValue {
    pub fn new(value: impl Into<String>) -> SubscribeValue {
        SubscribeValue {
            value: value.into(),
        }
    }
}

impl TemplateMessage {
    /// The exact JSON body posted to `template/send`.
    pub fn to_json(&self) -> serde_json::Value {
        // Cannot fail: plain structs with string map keys.
        serde_json::to_value(self).unwrap_or_default()
    }
}

impl SubscribeMessage {
    /// The exact JSON body posted to `subscribe/send`.
    pub fn to_json(&self) -> serde_json::Value {
        // Cannot fail: plain structs with string map keys.
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_fields_are_left_out() {
        let m = TemplateMessage {
            touser: "o1".into(),
            template_id: "t".into(),
            url: None,
            miniprogram: None,
            client_msg_id: None,
            data: [("thing1".to_owned(), TemplateValue::new("耳机"))].into(),
        };
        assert_eq!(
            m.to_json().to_string(),
            r#"{"data":{"thing1":{"value":"耳机"}},"template_id":"t","touser":"o1"}"#
        );
        let s = SubscribeMessage {
            touser: "m1".into(),
            template_id: "t".into(),
            page: Some("pages/a".into()),
            miniprogram_state: None,
            lang: None,
            data: BTreeMap::new(),
        };
        assert_eq!(
            s.to_json().to_string(),
            r#"{"data":{},"page":"pages/a","template_id":"t","touser":"m1"}"#
        );
    }
}

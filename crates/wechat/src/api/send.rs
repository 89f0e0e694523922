//! Official Account template messages: `cgi-bin/message/template/send`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::client::{decode, Client};
use super::error::ApiError;

/// A template message. `None` fields are left out of the JSON.
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

impl TemplateMessage {
    /// The exact JSON body [`Client::send_template`] posts.
    pub fn to_json(&self) -> serde_json::Value {
        // Cannot fail: plain structs with string map keys.
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct SendResult {
    #[serde(default)]
    msgid: i64,
}

/// Decodes a `template/send` answer into the msgid (`{"errcode":0,"errmsg":"ok","msgid":…}`).
/// A success without `msgid` yields 0 rather than an error, so a delivered message is never
/// reported as failed (and retried).
pub fn parse_send_template(status: u16, body: &[u8]) -> Result<i64, ApiError> {
    decode::<SendResult>(status, body).map(|result| result.msgid)
}

impl Client {
    /// POST `cgi-bin/message/template/send`; returns the msgid (64-bit, exceeds 2^53) that the
    /// later `TEMPLATESENDJOBFINISH` event carries.
    pub async fn send_template(
        &self,
        base: &str,
        token: &str,
        message: &TemplateMessage,
    ) -> Result<i64, ApiError> {
        let (status, bytes) = self
            .post_json(
                base,
                "cgi-bin/message/template/send",
                &[("access_token", token)],
                message,
            )
            .await?;
        parse_send_template(status, &bytes)
    }
}

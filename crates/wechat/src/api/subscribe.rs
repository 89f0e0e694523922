//! Mini Program subscribe messages: `cgi-bin/message/subscribe/send`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::client::{decode, Client};
use super::error::ApiError;

/// A subscribe message. `None` fields are left out of the JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeMessage {
    /// The Mini Program user's openid.
    pub touser: String,
    pub template_id: String,
    /// Page to open (query allowed, no leading `/`); must exist in the released version (else 41030).
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

/// One value of a subscribe message (only `value` is used by WeChat).
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

impl SubscribeMessage {
    /// The exact JSON body [`Client::send_subscribe`] posts.
    pub fn to_json(&self) -> serde_json::Value {
        // Cannot fail: plain structs with string map keys.
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct SubscribeResult {
    #[serde(default)]
    msgid: Option<i64>,
}

/// Decodes a `subscribe/send` answer; `msgid` is sometimes present, sometimes not.
pub fn parse_send_subscribe(status: u16, body: &[u8]) -> Result<Option<i64>, ApiError> {
    decode::<SubscribeResult>(status, body).map(|result| result.msgid)
}

impl Client {
    /// POST `cgi-bin/message/subscribe/send`; the delivery result arrives later as a
    /// `subscribe_msg_sent_event` push.
    pub async fn send_subscribe(
        &self,
        base: &str,
        token: &str,
        message: &SubscribeMessage,
    ) -> Result<Option<i64>, ApiError> {
        let (status, bytes) = self
            .post_json(
                base,
                "cgi-bin/message/subscribe/send",
                &[("access_token", token)],
                message,
            )
            .await?;
        parse_send_subscribe(status, &bytes)
    }
}

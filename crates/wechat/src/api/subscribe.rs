//! Mini Program subscribe messages: `cgi-bin/message/subscribe/send`.

use serde::Deserialize;

use super::client::{decode, Client};
use super::error::ApiError;

pub use model::wechat_message::{SubscribeMessage, SubscribeValue};

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

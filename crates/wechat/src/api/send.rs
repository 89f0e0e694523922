//! Official Account template messages: `cgi-bin/message/template/send`.

use serde::Deserialize;

use super::client::{decode, Client};
use super::error::ApiError;

pub use model::wechat_message::{MiniProgram, TemplateMessage, TemplateValue};

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

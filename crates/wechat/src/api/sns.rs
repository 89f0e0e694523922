//! Mini Program login: `sns/jscode2session` (code2Session).

use std::fmt;

use serde::Deserialize;

use super::client::{decode_sensitive, Client};
use super::error::ApiError;

/// The result of exchanging a `wx.login` code. Success carries no `errcode`; an `expires_in`
/// (older responses) is ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Code2Session {
    pub openid: String,
    /// Only when the Mini Program is bound to an Open Platform account.
    #[serde(default)]
    pub unionid: Option<String>,
    pub session_key: SessionKey,
}

/// The user's session key: prints as `<redacted>` and is deliberately not `Serialize`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SessionKey(String);

impl SessionKey {
    pub fn new(key: impl Into<String>) -> SessionKey {
        SessionKey(key.into())
    }

    /// The key itself (base64), e.g. to decrypt `wx.getUserInfo` data.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Decodes a `jscode2session` answer.
pub fn parse_code2session(status: u16, body: &[u8]) -> Result<Code2Session, ApiError> {
    decode_sensitive(status, body)
}

impl Client {
    /// GET `sns/jscode2session`: exchanges a single-use `wx.login` code (valid ~5 min).
    pub async fn jscode2session(
        &self,
        base: &str,
        appid: &str,
        secret: &str,
        js_code: &str,
    ) -> Result<Code2Session, ApiError> {
        let query = [
            ("appid", appid),
            ("secret", secret),
            ("js_code", js_code),
            ("grant_type", "authorization_code"),
        ];
        let (status, bytes) = self.get(base, "sns/jscode2session", &query).await?;
        parse_code2session(status, &bytes)
    }
}

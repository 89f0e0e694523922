//! Access tokens: `cgi-bin/stable_token` (preferred) and `cgi-bin/token`.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::client::{decode_sensitive, Client};
use super::error::ApiError;

/// An access token and its remaining life in seconds (not always 7200: `stable_token` returns
/// the remaining validity, at least 300 s). `Debug` redacts the token.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct AccessToken {
    pub access_token: String,
    pub expires_in: i64,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// The JSON body of `stable_token` (it must be JSON: a form body yields 41002). `Debug` redacts
/// the secret.
#[derive(Serialize)]
struct StableTokenRequest<'a> {
    grant_type: &'static str,
    appid: &'a str,
    secret: &'a str,
    force_refresh: bool,
}

impl fmt::Debug for StableTokenRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StableTokenRequest")
            .field("grant_type", &self.grant_type)
            .field("appid", &self.appid)
            .field("secret", &"<redacted>")
            .field("force_refresh", &self.force_refresh)
            .finish()
    }
}

/// Decodes a token response (`stable_token` or `token`); success has no `errcode`.
pub fn parse_token(status: u16, body: &[u8]) -> Result<AccessToken, ApiError> {
    decode_sensitive(status, body)
}

impl Client {
    /// POST `cgi-bin/stable_token`. With `force_refresh = false` repeated calls return the same
    /// live token, so several services can share it; `true` invalidates the previous token
    /// (20/day, ≥ 30 s apart — only for a leaked token).
    pub async fn stable_token(
        &self,
        base: &str,
        appid: &str,
        secret: &str,
        force_refresh: bool,
    ) -> Result<AccessToken, ApiError> {
        let body = StableTokenRequest {
            grant_type: "client_credential",
            appid,
            secret,
            force_refresh,
        };
        let (status, bytes) = self
            .post_json(base, "cgi-bin/stable_token", &[], &body)
            .await?;
        parse_token(status, &bytes)
    }

    /// GET `cgi-bin/token`. Every call mints a new token and invalidates the previous one after
    /// 5 minutes; prefer [`Client::stable_token`].
    pub async fn token(
        &self,
        base: &str,
        appid: &str,
        secret: &str,
    ) -> Result<AccessToken, ApiError> {
        let query = [
            ("grant_type", "client_credential"),
            ("appid", appid),
            ("secret", secret),
        ];
        let (status, bytes) = self.get(base, "cgi-bin/token", &query).await?;
        parse_token(status, &bytes)
    }
}

//! Checks a push request (URL verification GET, message POST in plain, compat or safe mode) and yields its plaintext.

use serde::Deserialize;

use super::crypto::{decrypt, AesKey};
use super::doc::parse_document;
use super::error::CallbackError;
use super::signature::{verify_msg_signature, verify_signature};

/// The query string WeChat appends to the server URL. Every field is optional here so that a
/// missing one is reported as [`CallbackError::MissingField`]; deserialize it straight from
/// the request (e.g. axum's `Query<CallbackQuery>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CallbackQuery {
    pub signature: Option<String>,
    pub timestamp: Option<String>,
    pub nonce: Option<String>,
    /// OA pushes carry the sender's openid; informational only (not signed).
    pub openid: Option<String>,
    /// `aes` in safe and compat mode; absent (or `raw`) in plain mode.
    pub encrypt_type: Option<String>,
    pub msg_signature: Option<String>,
    /// Only on the URL-verification GET.
    pub echostr: Option<String>,
}

/// The account's callback settings. `Debug` hides the token and the key.
#[derive(Clone, Copy)]
pub struct AccountConfig<'a> {
    /// The callback Token configured in the WeChat console.
    pub token: &'a str,
    /// The account's appid (checked against the end of every decrypted message).
    pub appid: &'a str,
    /// Parsed EncodingAESKey; needed for safe and compat mode.
    pub aes_key: Option<&'a AesKey>,
}

impl std::fmt::Debug for AccountConfig<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("token", &"<redacted>")
            .field("appid", &self.appid)
            .field("aes_key", &self.aes_key)
            .finish()
    }
}

/// Limits applied to every request; the caller supplies the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackPolicy {
    /// The current time, in seconds since the Unix epoch.
    pub now_unix_secs: i64,
    /// Requests whose `timestamp` is further than this from now are rejected.
    pub max_skew_secs: u64,
    /// Bodies larger than this are rejected before any parsing.
    pub max_body_bytes: usize,
}

impl CallbackPolicy {
    /// Default allowed clock difference (5 minutes).
    pub const DEFAULT_MAX_SKEW_SECS: u64 = 300;
    /// Default body limit (64 KiB; WeChat pushes are a few KiB at most).
    pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

    /// A policy with the default limits at time `now_unix_secs`.
    pub fn new(now_unix_secs: i64) -> Self {
        Self {
            now_unix_secs,
            max_skew_secs: Self::DEFAULT_MAX_SKEW_SECS,
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// The verified plaintext of a POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedMessage {
    /// The plaintext body (XML, or JSON for Mini Programs using the JSON format).
    pub body: String,
    /// `true` in safe/compat mode (`encrypt_type=aes`): an active passive reply must then be
    /// encrypted; `success` / empty replies need no encryption.
    pub encrypted: bool,
}

/// URL verification (GET): checks `timestamp` freshness and `signature`, and returns the
/// `echostr` to be sent back verbatim as the response body. Same in all three modes.
pub fn verify_url(
    query: &CallbackQuery,
    account: &AccountConfig<'_>,
    policy: &CallbackPolicy,
) -> Result<String, CallbackError> {
    let echostr = field(&query.echostr, "echostr")?;
    let (timestamp, nonce) = fresh_timestamp_and_nonce(query, policy)?;
    let signature = field(&query.signature, "signature")?;
    verify_signature(account.token, timestamp, nonce, signature)?;
    Ok(echostr.to_owned())
}

/// Message/event POST: rejects bodies over `policy.max_body_bytes` and stale timestamps, then
/// - plain mode (no `encrypt_type`, or `raw`): refused when the account has an EncodingAESKey
///   (compat and safe mode encrypt every push), else checks `signature`, returns the body;
/// - safe/compat mode (`encrypt_type=aes`): reads `Encrypt` from the body (XML or JSON),
///   checks `msg_signature` over it, decrypts it and checks the appid; returns the decrypted
///   message (plaintext fields of a compat-mode body are ignored).
pub fn open_message(
    query: &CallbackQuery,
    body: &[u8],
    account: &AccountConfig<'_>,
    policy: &CallbackPolicy,
) -> Result<OpenedMessage, CallbackError> {
    if body.len() > policy.max_body_bytes {
        return Err(CallbackError::BodyTooLarge {
            len: body.len(),
            limit: policy.max_body_bytes,
        });
    }
    let (timestamp, nonce) = fresh_timestamp_and_nonce(query, policy)?;
    let encrypted = match query.encrypt_type.as_deref().map(str::trim) {
        None | Some("") => false,
        Some(t) if t.eq_ignore_ascii_case("raw") => false,
        Some(t) if t.eq_ignore_ascii_case("aes") => true,
        Some(other) => return Err(CallbackError::UnsupportedEncryptType(other.to_owned())),
    };

    if !encrypted {
        // With an EncodingAESKey the account is in compat or safe mode, where WeChat encrypts
        // every push: a plaintext one is a downgrade (its signature covers no body at all).
        if account.aes_key.is_some() {
            return Err(CallbackError::PlaintextRefused);
        }
        let signature = field(&query.signature, "signature")?;
        verify_signature(account.token, timestamp, nonce, signature)?;
        let body = std::str::from_utf8(body).map_err(|_| CallbackError::BadUtf8)?;
        return Ok(OpenedMessage {
            body: body.to_owned(),
            encrypted: false,
        });
    }

    let key = account.aes_key.ok_or(CallbackError::NoAesKey)?;
    let msg_signature = field(&query.msg_signature, "msg_signature")?;
    let body = std::str::from_utf8(body).map_err(|_| CallbackError::BadUtf8)?;
    let doc = parse_document(body)?;
    let encrypt = doc
        .text_of("Encrypt")
        .ok_or(CallbackError::MissingField("Encrypt"))?;
    verify_msg_signature(account.token, timestamp, nonce, encrypt, msg_signature)?;
    let msg = decrypt(key, encrypt, account.appid)?;
    Ok(OpenedMessage {
        body: msg,
        encrypted: true,
    })
}

fn field<'a>(value: &'a Option<String>, name: &'static str) -> Result<&'a str, CallbackError> {
    match value.as_deref() {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(CallbackError::MissingField(name)),
    }
}

fn fresh_timestamp_and_nonce<'a>(
    query: &'a CallbackQuery,
    policy: &CallbackPolicy,
) -> Result<(&'a str, &'a str), CallbackError> {
    let timestamp = field(&query.timestamp, "timestamp")?;
    let nonce = field(&query.nonce, "nonce")?;
    let ts: i64 = timestamp.parse().map_err(|_| CallbackError::BadTimestamp)?;
    if ts.abs_diff(policy.now_unix_secs) > policy.max_skew_secs {
        return Err(CallbackError::StaleTimestamp {
            timestamp: ts,
            now: policy.now_unix_secs,
            max_skew_secs: policy.max_skew_secs,
        });
    }
    Ok((timestamp, nonce))
}

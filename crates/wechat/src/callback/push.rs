//! A push as the callback URL takes it: opened under the account's mode (an account with an
//! EncodingAESKey takes encrypted pushes only), parsed, and its sender checked — and, when it
//! cannot be taken, whether WeChat sent it at all (refuse) or sent something no retry can fix
//! (acknowledge and log).

use super::error::CallbackError;
use super::events::{parse_event, Event};
use super::mode::{open_message, AccountConfig, CallbackPolicy, CallbackQuery};

/// A push that may be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    pub event: Event,
    /// The request's `timestamp:nonce`: a second request with it is a replay.
    pub nonce_key: String,
    /// See [`Event::dedup_key`].
    pub dedup_key: Option<String>,
}

/// Why a push is not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Not shown to come from WeChat (signature, timestamp, mode): answer 403.
    #[error("refused: {0}")]
    Refused(CallbackError),
    /// Signed by WeChat but never applicable (unreadable, a sender that is no openid):
    /// answer `success` so that WeChat stops retrying, and log it.
    #[error("unusable: {0}")]
    Unusable(String),
}

/// Opens, parses and checks one POST.
pub fn read_push(
    query: &CallbackQuery,
    body: &[u8],
    account: &AccountConfig<'_>,
    policy: &CallbackPolicy,
) -> Result<Push, PushError> {
    let opened = open_message(query, body, account, policy).map_err(PushError::Refused)?;
    let event = parse_event(&opened.body).map_err(|e| PushError::Unusable(e.to_string()))?;
    if let Some(from) = event.from_user() {
        if !model::openid::is_openid(from) {
            let shown: String = from
                .chars()
                .take(40)
                .flat_map(char::escape_default)
                .collect();
            return Err(PushError::Unusable(format!(
                "FromUserName {shown:?} is not an openid"
            )));
        }
    }
    // Both were checked by `open_message` (present, and the timestamp a number).
    let timestamp = query.timestamp.as_deref().unwrap_or_default();
    let nonce: String = query
        .nonce
        .as_deref()
        .unwrap_or_default()
        .chars()
        .take(64)
        .collect();
    Ok(Push {
        dedup_key: event.dedup_key(),
        event,
        nonce_key: format!("{timestamp}:{nonce}"),
    })
}

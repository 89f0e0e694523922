//! Status webhooks of the send API: the events a key's webhook receives, how they are signed,
//! and the state of their deliveries.

use serde::{Deserialize, Serialize};

use crate::send_api::{MessageState, MessageStatus};
use crate::Problem;

/// The header with the Unix time (seconds) a delivery was signed at.
pub const TIMESTAMP_HEADER: &str = "X-Wxpush-Timestamp";
/// The header with `sha256=<hex>`: HMAC-SHA256 of `<timestamp>.<body>` under the secret.
pub const SIGNATURE_HEADER: &str = "X-Wxpush-Signature";
/// The header naming the event (`message.sent`…), also in the body.
pub const EVENT_HEADER: &str = "X-Wxpush-Event";
/// A webhook URL is at most this long.
pub const URL_MAX: usize = 1000;
/// Deliveries are retried for this long after the event.
pub const RETRY_FOR_MS: i64 = 24 * 60 * 60 * 1000;
/// Every signing secret starts with this.
pub const SECRET_PREFIX: &str = "whsec_";

/// What a webhook is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum WebhookEvent {
    /// WeChat accepted the message (`msgid`).
    #[serde(rename = "message.sent")]
    Sent,
    /// WeChat refused it (`errcode`).
    #[serde(rename = "message.failed")]
    Failed,
    /// No answer within WeChat's de-dup window: it may or may not have arrived.
    #[serde(rename = "message.unknown")]
    Unknown,
    /// It will never be sent.
    #[serde(rename = "message.cancelled")]
    Cancelled,
    /// WeChat's receipt of a sent template message (`delivery`).
    #[serde(rename = "message.receipt")]
    Receipt,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 5] = [
        WebhookEvent::Sent,
        WebhookEvent::Failed,
        WebhookEvent::Unknown,
        WebhookEvent::Cancelled,
        WebhookEvent::Receipt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::Sent => "message.sent",
            WebhookEvent::Failed => "message.failed",
            WebhookEvent::Unknown => "message.unknown",
            WebhookEvent::Cancelled => "message.cancelled",
            WebhookEvent::Receipt => "message.receipt",
        }
    }

    pub fn parse(s: &str) -> Option<WebhookEvent> {
        WebhookEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// The event of a message that reached `state`; `None` while it is still on its way.
    pub fn of_final(state: MessageState) -> Option<WebhookEvent> {
        match state {
            MessageState::Queued | MessageState::Sending => None,
            MessageState::Sent => Some(WebhookEvent::Sent),
            MessageState::Failed => Some(WebhookEvent::Failed),
            MessageState::Unknown => Some(WebhookEvent::Unknown),
            MessageState::Cancelled => Some(WebhookEvent::Cancelled),
        }
    }
}

/// The JSON body a webhook receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookBody {
    /// `<message id>.<event>`: the same for every retry of one event, so a receiver can
    /// ignore a repeat.
    pub event_id: String,
    pub event: WebhookEvent,
    /// The message as `GET /api/v1/messages/{id}` answers when the event happened.
    pub message: MessageStatus,
}

/// Where a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not delivered yet: waiting for its next try.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up after 24 hours of retries.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Delivered,
            DeliveryState::Failed,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }

    pub fn label(self, lang: crate::Lang) -> &'static str {
        let (zh, en) = match self {
            DeliveryState::Pending => ("待投递", "Pending"),
            DeliveryState::Delivered => ("已投递", "Delivered"),
            DeliveryState::Failed => ("已放弃", "Gave up"),
        };
        lang.pick(zh, en)
    }
}

/// One event posted (or to be posted) to a key's webhook, as the console shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub id: i64,
    pub event: WebhookEvent,
    pub state: DeliveryState,
    pub attempts: i64,
    /// The receiver's last HTTP status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<i64>,
    /// Why the last try failed without a status (timeout, refused connection…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_ms: i64,
    pub next_try_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_ms: Option<i64>,
}

/// A webhook URL an admin may set: `http://` or `https://`, a host, no spaces, at most
/// [`URL_MAX`] characters.
pub fn check_url(url: &str) -> Result<(), Problem> {
    if url.chars().count() > URL_MAX {
        return Err(Problem::TooLong(URL_MAX));
    }
    crate::rules::api_base(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_and_write_as_documented() {
        for e in WebhookEvent::ALL {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.as_str()));
            assert_eq!(WebhookEvent::parse(e.as_str()), Some(e));
        }
        assert_eq!(WebhookEvent::of_final(MessageState::Queued), None);
        assert_eq!(
            WebhookEvent::of_final(MessageState::Failed),
            Some(WebhookEvent::Failed)
        );
    }

    #[test]
    fn urls() {
        assert_eq!(check_url("https://orders.example.com/wx/hook"), Ok(()));
        assert_eq!(check_url("http://10.0.0.5:8080/hook"), Ok(()));
        assert_eq!(check_url("ftp://x"), Err(Problem::UrlFormat));
        assert_eq!(check_url(""), Err(Problem::Required));
        let long = format!("https://x.cn/{}", "a".repeat(URL_MAX));
        assert_eq!(check_url(&long), Err(Problem::TooLong(URL_MAX)));
    }
}

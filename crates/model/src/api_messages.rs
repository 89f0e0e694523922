//! API messages as the console reads them: the filters of 接口消息, a message's detail, the
//! last 24 hours by outcome, and each send key's figures.

use serde::{Deserialize, Serialize};

use crate::send_api::{ApiMessageEntry, MessageState};
use crate::webhook::WebhookDelivery;
use crate::RowChannel;

/// The periods 接口消息 can look back over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Hour,
    Day,
    Week,
    #[default]
    All,
}

impl Period {
    pub const ALL: [Period; 4] = [Period::Hour, Period::Day, Period::Week, Period::All];

    pub fn as_str(self) -> &'static str {
        match self {
            Period::Hour => "1h",
            Period::Day => "24h",
            Period::Week => "7d",
            Period::All => "",
        }
    }

    pub fn parse(s: &str) -> Option<Period> {
        Period::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// How far back it reaches; `None`: no limit.
    pub fn span_ms(self) -> Option<i64> {
        match self {
            Period::Hour => Some(60 * 60 * 1000),
            Period::Day => Some(24 * 60 * 60 * 1000),
            Period::Week => Some(7 * 24 * 60 * 60 * 1000),
            Period::All => None,
        }
    }

    pub fn label(self, lang: crate::Lang) -> &'static str {
        let (zh, en) = match self {
            Period::Hour => ("最近 1 小时", "Last hour"),
            Period::Day => ("最近 24 小时", "Last 24 hours"),
            Period::Week => ("最近 7 天", "Last 7 days"),
            Period::All => ("全部时间", "Any time"),
        };
        lang.pick(zh, en)
    }
}

/// Which API messages to list; every field narrows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMessageFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<MessageState>,
    /// WeChat's errcode of a failed message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
    /// The send key's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<RowChannel>,
    /// The person as the request named them, or the openid the message went to (exactly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    #[serde(default)]
    pub period: Period,
}

/// One message with what the console's detail shows beyond its status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMessageDetail {
    pub entry: ApiMessageEntry,
    /// The message as sent to WeChat (JSON, `touser` filled in).
    pub payload: String,
    pub webhook_url: Option<String>,
    pub deliveries: Vec<WebhookDelivery>,
}

/// An hour of API messages by outcome (by the time they were accepted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourCounts {
    /// The hour's start, ms since the epoch.
    pub start_ms: i64,
    pub sent: i64,
    pub failed: i64,
    pub unknown: i64,
    /// Queued, sending or cancelled.
    pub other: i64,
}

impl HourCounts {
    pub fn total(&self) -> i64 {
        self.sent + self.failed + self.unknown + self.other
    }

    /// Counts `n` messages in `state`.
    pub fn add(&mut self, state: MessageState, n: i64) {
        match state {
            MessageState::Sent => self.sent += n,
            MessageState::Failed => self.failed += n,
            MessageState::Unknown => self.unknown += n,
            MessageState::Queued | MessageState::Sending | MessageState::Cancelled => {
                self.other += n
            }
        }
    }
}

/// A send key's figures on the keys page.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendKeyStats {
    pub key_id: i64,
    /// Messages accepted in the last 24 hours, and how they went.
    pub day_total: i64,
    pub day_sent: i64,
    pub day_failed: i64,
    /// Every message ever accepted with it.
    pub total: i64,
    /// Webhook deliveries waiting for a retry, and given up.
    pub webhook_pending: i64,
    pub webhook_failed: i64,
}

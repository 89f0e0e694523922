//! The send API's words: a business system's request for one person's message, the state of
//! an accepted message, and the keys it sends with.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::job::{Channel, Delivery, RecipientState, RowChannel};

/// The largest request body (`413` above it).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// An idempotency key is 1–128 printable ASCII characters.
pub const IDEMPOTENCY_KEY_MAX: usize = 128;
/// A key's name is 1–40 characters.
pub const KEY_NAME_MAX: usize = 40;
/// Messages per second a key may submit: 1 to this.
pub const KEY_RATE_MAX: i64 = 10_000;
/// The rate of a key created without one.
pub const KEY_RATE_DEFAULT: i64 = 100;

/// Who a message is for, as the business system knows them: `{"unionid": "…"}`,
/// `{"mp_openid": "…"}` (a user of the linked Mini Program) or `{"oa_openid": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Person {
    Unionid(String),
    MpOpenid(String),
    OaOpenid(String),
}

impl Person {
    /// The stored kind: `unionid`, `mp_openid` or `oa_openid`.
    pub fn kind(&self) -> &'static str {
        match self {
            Person::Unionid(_) => "unionid",
            Person::MpOpenid(_) => "mp_openid",
            Person::OaOpenid(_) => "oa_openid",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Person::Unionid(id) | Person::MpOpenid(id) | Person::OaOpenid(id) => id,
        }
    }

    pub fn from_stored(kind: &str, id: String) -> Option<Person> {
        match kind {
            "unionid" => Some(Person::Unionid(id)),
            "mp_openid" => Some(Person::MpOpenid(id)),
            "oa_openid" => Some(Person::OaOpenid(id)),
            _ => None,
        }
    }
}

/// `POST /api/v1/messages`: one person's message from a preset, with its own values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub to: Person,
    /// The preset by id (a template-message preset; a subscribe-message one with channel
    /// `subscribe`)…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<i64>,
    /// …or by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset_name: Option<String>,
    /// With channel `best`: the subscribe-message preset for a person who does not follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_preset: Option<i64>,
    /// `template`, `subscribe` or `best` (the default): the OA template message when the person
    /// follows, otherwise a subscribe message when they hold a subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// Keyword values (`thing1` → `无线蓝牙耳机`) over the preset's.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub values: BTreeMap<String, String>,
    /// The link a template message opens, over the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The Mini Program page the message opens, over the preset's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagepath: Option<String>,
    /// The same key and body within 24 hours (and longer) answer with the first message and
    /// send nothing more; the header `Idempotency-Key` says the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

impl SendRequest {
    pub fn channel(&self) -> Channel {
        self.channel.unwrap_or(Channel::Best)
    }
}

/// Where an API message is, as its sender sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Accepted, waiting for its turn (or for the account's sending to resume).
    Queued,
    /// Being sent now.
    Sending,
    /// WeChat accepted it (`msgid`); the receipt may follow.
    Sent,
    /// WeChat refused it (`errcode`).
    Failed,
    /// It may or may not have reached the person (no answer within WeChat's de-dup window).
    Unknown,
    /// Never sent: the account's API messages were cancelled.
    Cancelled,
}

impl MessageState {
    pub fn of(state: RecipientState) -> MessageState {
        match state {
            RecipientState::Pending => MessageState::Queued,
            RecipientState::Sending => MessageState::Sending,
            RecipientState::Sent => MessageState::Sent,
            RecipientState::Failed => MessageState::Failed,
            RecipientState::Unknown => MessageState::Unknown,
            RecipientState::Skipped | RecipientState::Cancelled => MessageState::Cancelled,
        }
    }
}

/// The answer to an accepted message (`202`), and to a replay of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accepted {
    pub id: String,
    pub state: MessageState,
    /// What it is sent as: `template` (OA) or `subscribe` (Mini Program).
    pub channel: RowChannel,
    /// The address it goes to: the OA openid (template) or the MP openid (subscribe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oa_openid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mp_openid: Option<String>,
    /// True when this answer repeats an earlier request's (same idempotency key and body).
    #[serde(default)]
    pub replayed: bool,
}

/// `GET /api/v1/messages/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageStatus {
    pub id: String,
    pub state: MessageState,
    pub channel: RowChannel,
    pub to: Person,
    /// The openid it goes to on its channel.
    pub openid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Send attempts so far.
    pub attempts: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msgid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errmsg: Option<String>,
    /// What the errcode means and what to do, in Chinese and English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_zh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation_en: Option<String>,
    /// WeChat's receipt of a template message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_ms: Option<i64>,
}

/// One API message as the console lists it: its status, and the names of its key and preset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMessageEntry {
    pub status: MessageStatus,
    pub key_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset_name: Option<String>,
}

impl MessageState {
    pub const ALL: [MessageState; 6] = [
        MessageState::Queued,
        MessageState::Sending,
        MessageState::Sent,
        MessageState::Failed,
        MessageState::Unknown,
        MessageState::Cancelled,
    ];

    /// The word in URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageState::Queued => "queued",
            MessageState::Sending => "sending",
            MessageState::Sent => "sent",
            MessageState::Failed => "failed",
            MessageState::Unknown => "unknown",
            MessageState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<MessageState> {
        MessageState::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// The recipient-row states it stands for.
    pub fn row_states(self) -> &'static [RecipientState] {
        match self {
            MessageState::Queued => &[RecipientState::Pending],
            MessageState::Sending => &[RecipientState::Sending],
            MessageState::Sent => &[RecipientState::Sent],
            MessageState::Failed => &[RecipientState::Failed],
            MessageState::Unknown => &[RecipientState::Unknown],
            MessageState::Cancelled => &[RecipientState::Cancelled, RecipientState::Skipped],
        }
    }

    pub fn label(self, lang: crate::Lang) -> &'static str {
        let (zh, en) = match self {
            MessageState::Queued => ("排队中", "Queued"),
            MessageState::Sending => ("发送中", "Sending"),
            MessageState::Sent => ("已发送", "Sent"),
            MessageState::Failed => ("失败", "Failed"),
            MessageState::Unknown => ("结果未知", "Unknown"),
            MessageState::Cancelled => ("已取消", "Cancelled"),
        };
        lang.pick(zh, en)
    }
}

/// Which presets a key may send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresetScope {
    All,
    Only(Vec<i64>),
}

impl PresetScope {
    pub fn allows(&self, preset_id: i64) -> bool {
        match self {
            PresetScope::All => true,
            PresetScope::Only(ids) => ids.contains(&preset_id),
        }
    }

    /// `all`, or preset ids separated by commas (the CLI's `--presets`).
    pub fn parse(text: &str) -> Option<PresetScope> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("all") {
            return Some(PresetScope::All);
        }
        let ids: Option<Vec<i64>> = text
            .split(',')
            .map(|p| p.trim().parse::<i64>().ok().filter(|&id| id > 0))
            .collect();
        ids.filter(|ids| !ids.is_empty()).map(PresetScope::Only)
    }
}

/// A send API key as admins see it (never the key itself, which is shown once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendKey {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub presets: PresetScope,
    /// Messages per second.
    pub rate: i64,
    pub created_by: String,
    pub created_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_ms: Option<i64>,
    /// Where the key's messages report their outcome (a signed POST); `None`: nowhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
}

/// Whether `key` is a usable idempotency key.
pub fn is_idempotency_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= IDEMPOTENCY_KEY_MAX
        && key.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reads_as_the_api_documents_it() {
        let r: SendRequest = serde_json::from_str(
            r#"{"to":{"unionid":"u1"},"preset":12,"channel":"template",
                "values":{"thing1":"耳机"},"idempotency_key":"order-A1023-shipped"}"#,
        )
        .unwrap();
        assert_eq!(r.to, Person::Unionid("u1".into()));
        assert_eq!(r.channel(), Channel::Template);
        assert_eq!(r.values["thing1"], "耳机");
        let bad = serde_json::from_str::<SendRequest>(r#"{"to":{"email":"x"},"preset":1}"#);
        assert!(bad.is_err(), "an unknown kind of person is refused");
        let extra = serde_json::from_str::<SendRequest>(r#"{"to":{"unionid":"u"},"presets":1}"#);
        assert!(extra.is_err(), "a misspelt field is refused, not ignored");
    }

    #[test]
    fn scopes_and_idempotency_keys() {
        assert_eq!(PresetScope::parse("all"), Some(PresetScope::All));
        assert_eq!(
            PresetScope::parse("3, 5"),
            Some(PresetScope::Only(vec![3, 5]))
        );
        assert_eq!(PresetScope::parse("3,x"), None);
        assert_eq!(PresetScope::parse(""), None);
        assert!(PresetScope::Only(vec![3]).allows(3));
        assert!(!PresetScope::Only(vec![3]).allows(4));
        assert!(is_idempotency_key("order-A1023-shipped"));
        assert!(!is_idempotency_key("has space"));
        assert!(!is_idempotency_key(&"k".repeat(129)));
        assert!(!is_idempotency_key(""));
    }
}

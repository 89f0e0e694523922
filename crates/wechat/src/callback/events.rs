//! Typed pushes: follow/unfollow, TEMPLATESENDJOBFINISH receipts, subscribe-message events; the rest as `Other`.

use super::doc::{parse_document, Node};
use super::error::CallbackError;

/// A push from WeChat, parsed from the plaintext body (XML, or JSON for Mini Programs
/// configured with the JSON data format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `Event=subscribe`: a user followed the account (`EventKey` = `qrscene_…` when via QR code).
    Subscribe {
        to_user: String,
        /// The follower's openid.
        from_user: String,
        create_time: i64,
        /// `None` when absent or empty.
        event_key: Option<String>,
    },
    /// `Event=unsubscribe`: a user unfollowed the account.
    Unsubscribe {
        to_user: String,
        from_user: String,
        create_time: i64,
    },
    /// `Event=TEMPLATESENDJOBFINISH`: delivery receipt of a template message.
    TemplateSendJobFinish {
        to_user: String,
        /// The recipient's openid.
        from_user: String,
        create_time: i64,
        /// `<MsgID>`, the msgid returned by `template/send` (read as an integer, never via f64).
        msg_id: i64,
        status: DeliveryStatus,
    },
    /// `Event=subscribe_msg_popup_event`: the user answered a subscribe-message popup.
    SubscribeMsgPopupEvent {
        to_user: String,
        from_user: String,
        create_time: i64,
        items: Vec<SubscribePopupItem>,
    },
    /// `Event=subscribe_msg_change_event`: the user changed a subscription in the service-notice settings.
    SubscribeMsgChangeEvent {
        to_user: String,
        from_user: String,
        create_time: i64,
        items: Vec<SubscribeChangeItem>,
    },
    /// `Event=subscribe_msg_sent_event`: result of sending a subscribe message.
    SubscribeMsgSentEvent {
        to_user: String,
        from_user: String,
        create_time: i64,
        items: Vec<SubscribeSentItem>,
    },
    /// Anything else: normal messages (`text`, `image`…) and other events.
    Other {
        msg_type: String,
        /// The `Event` value when present.
        event: Option<String>,
    },
}

/// `Status` of TEMPLATESENDJOBFINISH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// `success`
    Success,
    /// `failed:user block` (also `failed: user block`): the user refuses the account's messages.
    UserBlock,
    /// `failed: system failed` (also `failed:system failed`).
    SystemFailed,
    /// Any other value, e.g. `failed:freq limit`; always a failure. Holds the status as
    /// received (trimmed).
    Failed(String),
}

impl DeliveryStatus {
    /// Trims and compares case-insensitively; whitespace after `failed:` is ignored.
    pub fn parse(status: &str) -> Self {
        let trimmed = status.trim();
        let lower = trimmed.to_ascii_lowercase();
        if lower == "success" {
            return Self::Success;
        }
        match lower.strip_prefix("failed:").map(str::trim) {
            Some("user block") => Self::UserBlock,
            Some("system failed") => Self::SystemFailed,
            _ => Self::Failed(trimmed.to_owned()),
        }
    }

    /// `true` only for [`DeliveryStatus::Success`].
    pub fn is_success(&self) -> bool {
        matches!(self, Self::Success)
    }
}

/// `SubscribeStatusString` of subscribe-message events (compared case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeStatus {
    /// `accept`
    Accept,
    /// `acceptWithAudio`: accepted with voice reminder.
    AcceptWithAudio,
    /// `acceptWithAlert`: accepted with strong reminder (device messages).
    AcceptWithAlert,
    /// `reject`
    Reject,
    /// Any other value, as received (trimmed).
    Other(String),
}

impl SubscribeStatus {
    /// Parses a `SubscribeStatusString`.
    pub fn parse(status: &str) -> Self {
        let trimmed = status.trim();
        match trimmed.to_ascii_lowercase().as_str() {
            "accept" => Self::Accept,
            "acceptwithaudio" => Self::AcceptWithAudio,
            "acceptwithalert" => Self::AcceptWithAlert,
            "reject" => Self::Reject,
            _ => Self::Other(trimmed.to_owned()),
        }
    }

    /// `true` for the `accept*` values.
    pub fn is_accepted(&self) -> bool {
        matches!(
            self,
            Self::Accept | Self::AcceptWithAudio | Self::AcceptWithAlert
        )
    }
}

/// One `<List>` item of `subscribe_msg_popup_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribePopupItem {
    pub template_id: String,
    pub subscribe_status: SubscribeStatus,
    /// `PopupScene` as sent (`0` = Mini Program page; OA: `1` = H5 page, `2` = article).
    pub popup_scene: Option<String>,
}

/// One `<List>` item of `subscribe_msg_change_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeChangeItem {
    pub template_id: String,
    pub subscribe_status: SubscribeStatus,
}

/// One `<List>` item of `subscribe_msg_sent_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscribeSentItem {
    pub template_id: String,
    /// `<MsgID>` (read as an integer, never via f64).
    pub msg_id: i64,
    /// `0` = delivered.
    pub error_code: i64,
    /// `ErrorStatus` text (e.g. `success`); empty when absent.
    pub error_status: String,
}

/// Wrapper elements holding the `<List>` items. Any of them is accepted for any of the three
/// events: the OA doc's own `subscribe_msg_change_event` example uses `SubscribeMsgPopupEvent`.
/// In the JSON format the `List` items sit directly under the root.
const LIST_WRAPPERS: [&str; 3] = [
    "SubscribeMsgPopupEvent",
    "SubscribeMsgChangeEvent",
    "SubscribeMsgSentEvent",
];

/// Parses a plaintext push (XML or JSON). Malformed input gives an error, never a panic.
/// Limit the body size before calling this (see [`super::mode::open_message`]).
pub fn parse_event(body: &str) -> Result<Event, CallbackError> {
    let root = parse_document(body)?;
    Event::from_node(&root)
}

impl Event {
    fn from_node(root: &Node) -> Result<Self, CallbackError> {
        let msg_type = required(root, "MsgType")?;
        let event = root.text_of("Event");
        let other = || Event::Other {
            msg_type: msg_type.to_owned(),
            event: event.map(str::to_owned),
        };
        if !msg_type.eq_ignore_ascii_case("event") {
            return Ok(other());
        }
        let Some(event) = event else {
            return Ok(other());
        };
        let kind = event.to_ascii_lowercase();
        let known = matches!(
            kind.as_str(),
            "subscribe"
                | "unsubscribe"
                | "templatesendjobfinish"
                | "subscribe_msg_popup_event"
                | "subscribe_msg_change_event"
                | "subscribe_msg_sent_event"
        );
        if !known {
            return Ok(other());
        }

        let to_user = required(root, "ToUserName")?.to_owned();
        let from_user = required(root, "FromUserName")?.to_owned();
        let create_time = integer(root, "CreateTime")?;
        Ok(match kind.as_str() {
            "subscribe" => Event::Subscribe {
                to_user,
                from_user,
                create_time,
                event_key: root.text_of("EventKey").map(str::to_owned),
            },
            "unsubscribe" => Event::Unsubscribe {
                to_user,
                from_user,
                create_time,
            },
            "templatesendjobfinish" => Event::TemplateSendJobFinish {
                to_user,
                from_user,
                create_time,
                msg_id: integer(root, "MsgID")?,
                status: DeliveryStatus::parse(required(root, "Status")?),
            },
            "subscribe_msg_popup_event" => Event::SubscribeMsgPopupEvent {
                to_user,
                from_user,
                create_time,
                items: list_items(root)
                    .map(|item| {
                        Ok(SubscribePopupItem {
                            template_id: required(item, "TemplateId")?.to_owned(),
                            subscribe_status: SubscribeStatus::parse(required(
                                item,
                                "SubscribeStatusString",
                            )?),
                            popup_scene: item.text_of("PopupScene").map(str::to_owned),
                        })
                    })
                    .collect::<Result<_, CallbackError>>()?,
            },
            "subscribe_msg_change_event" => Event::SubscribeMsgChangeEvent {
                to_user,
                from_user,
                create_time,
                items: list_items(root)
                    .map(|item| {
                        Ok(SubscribeChangeItem {
                            template_id: required(item, "TemplateId")?.to_owned(),
                            subscribe_status: SubscribeStatus::parse(required(
                                item,
                                "SubscribeStatusString",
                            )?),
                        })
                    })
                    .collect::<Result<_, CallbackError>>()?,
            },
            _ => Event::SubscribeMsgSentEvent {
                to_user,
                from_user,
                create_time,
                items: list_items(root)
                    .map(|item| {
                        Ok(SubscribeSentItem {
                            template_id: required(item, "TemplateId")?.to_owned(),
                            msg_id: integer(item, "MsgID")?,
                            error_code: integer(item, "ErrorCode")?,
                            error_status: item.text_of("ErrorStatus").unwrap_or("").to_owned(),
                        })
                    })
                    .collect::<Result<_, CallbackError>>()?,
            },
        })
    }

    /// The sender's openid, when the variant has one.
    pub fn from_user(&self) -> Option<&str> {
        match self {
            Event::Subscribe { from_user, .. }
            | Event::Unsubscribe { from_user, .. }
            | Event::TemplateSendJobFinish { from_user, .. }
            | Event::SubscribeMsgPopupEvent { from_user, .. }
            | Event::SubscribeMsgChangeEvent { from_user, .. }
            | Event::SubscribeMsgSentEvent { from_user, .. } => Some(from_user),
            Event::Other { .. } => None,
        }
    }
}

impl Event {
    /// What identifies this push across WeChat's retries (which come with a fresh nonce): the
    /// sender and `CreateTime` with the event, as WeChat documents, plus the msgids of a
    /// receipt (two receipts to one person can share a second). `None` for pushes wxpush only
    /// acknowledges.
    pub fn dedup_key(&self) -> Option<String> {
        let (kind, from, time, extra) = match self {
            Event::Subscribe {
                from_user,
                create_time,
                ..
            } => ("subscribe", from_user, create_time, String::new()),
            Event::Unsubscribe {
                from_user,
                create_time,
                ..
            } => ("unsubscribe", from_user, create_time, String::new()),
            Event::TemplateSendJobFinish {
                from_user,
                create_time,
                msg_id,
                ..
            } => ("receipt", from_user, create_time, msg_id.to_string()),
            Event::SubscribeMsgPopupEvent {
                from_user,
                create_time,
                ..
            } => ("popup", from_user, create_time, String::new()),
            Event::SubscribeMsgChangeEvent {
                from_user,
                create_time,
                ..
            } => ("change", from_user, create_time, String::new()),
            Event::SubscribeMsgSentEvent {
                from_user,
                create_time,
                items,
                ..
            } => {
                let ids: Vec<String> = items.iter().map(|i| i.msg_id.to_string()).collect();
                ("sent", from_user, create_time, ids.join(","))
            }
            Event::Other { .. } => return None,
        };
        Some(format!("{kind}:{from}:{time}:{extra}"))
    }
}

fn list_items(root: &Node) -> impl Iterator<Item = &Node> {
    root.children
        .iter()
        .filter(|c| LIST_WRAPPERS.contains(&c.name.as_str()))
        .flat_map(|wrapper| wrapper.children_named("List"))
        .chain(root.children_named("List"))
}

fn required<'a>(node: &'a Node, name: &'static str) -> Result<&'a str, CallbackError> {
    node.text_of(name).ok_or(CallbackError::MissingField(name))
}

/// Parses a decimal integer field directly as i64 (msgids exceed 2^53).
fn integer(node: &Node, name: &'static str) -> Result<i64, CallbackError> {
    required(node, name)?
        .parse::<i64>()
        .map_err(|_| CallbackError::BadNumber(name))
}

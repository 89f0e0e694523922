//! The ledger of accepted messages: per-recipient counts, client_msg_id de-duplication (10
//! minutes), duplicate detection across all time, and a bounded list of full payloads.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;
use serde::Serialize;

use crate::ids::{hash2, hash_str};

/// How long WeChat de-duplicates `openid + client_msg_id`.
pub const DEDUP_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Which API delivered a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// `message/template/send`.
    Template,
    /// `message/subscribe/send`.
    Subscribe,
}

/// One accepted message.
#[derive(Debug, Clone, Serialize)]
pub struct SentMessage {
    /// As returned to the client (a JSON integer, exact).
    pub msgid: i64,
    pub channel: Channel,
    pub openid: String,
    pub template_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_msg_id: Option<String>,
    /// Simulated unix time of acceptance, milliseconds.
    pub at_ms: i64,
    /// The request body as sent.
    pub payload: serde_json::Value,
}

#[derive(Debug, Clone)]
struct Stored {
    msgid: i64,
    channel: Channel,
    openid: Box<str>,
    template_id: Box<str>,
    client_msg_id: Option<Box<str>>,
    at_ms: i64,
    body: Box<str>,
}

/// Totals for `/sim/ledger/summary`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct LedgerSummary {
    /// Accepted, delivered messages (both channels; de-duplicated calls not included).
    pub accepted: u64,
    pub template_sends: u64,
    pub subscribe_sends: u64,
    /// Recipients that received at least one message.
    pub distinct_recipients: u64,
    /// Deliveries of an `openid + client_msg_id` pair that had already been delivered (only
    /// possible after the 10-minute window). Must stay 0.
    pub duplicates_delivered: u64,
    /// Pairs `openid + client_msg_id` delivered more than once. Must stay 0.
    pub duplicate_recipients: u64,
    /// Calls answered from the de-dup window (same msgid, nothing delivered).
    pub duplicates_suppressed: u64,
    /// Most messages received by one recipient.
    pub max_received: u64,
    /// Messages currently kept with their payload.
    pub messages_kept: u64,
}

#[derive(Debug, Default)]
struct Inner {
    received: HashMap<Box<str>, u64>,
    /// hash(openid, client_msg_id) → deliveries.
    pairs: HashMap<u64, u32>,
    dedup: HashMap<(Box<str>, Box<str>), (i64, i64)>,
    dedup_order: VecDeque<(i64, Box<str>, Box<str>)>,
    messages: VecDeque<Stored>,
    summary: LedgerSummary,
}

/// Result of [`Ledger::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Delivered with this msgid.
    Delivered(i64),
    /// Same `openid + client_msg_id` within 10 minutes: this earlier msgid, nothing delivered.
    Duplicate(i64),
}

/// What to record.
#[derive(Debug)]
pub struct Delivery<'a> {
    pub channel: Channel,
    pub openid: &'a str,
    pub template_id: &'a str,
    pub client_msg_id: Option<&'a str>,
    pub body: &'a [u8],
}

/// The ledger. One short critical section per send.
#[derive(Debug)]
pub struct Ledger {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl Ledger {
    /// A ledger keeping at most `capacity` payloads.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity,
        }
    }

    /// Records a delivery unless it is a duplicate within the window; `msgid` is called only
    /// for a real delivery.
    pub fn record(&self, d: &Delivery<'_>, now_ms: i64, msgid: impl FnOnce() -> i64) -> Recorded {
        let mut inner = self.inner.lock();
        let inner = &mut *inner;
        while let Some((at, _, _)) = inner.dedup_order.front() {
            if now_ms - at < DEDUP_WINDOW_MS {
                break;
            }
            if let Some((at, openid, cid)) = inner.dedup_order.pop_front() {
                let key = (openid, cid);
                if inner.dedup.get(&key).is_some_and(|&(_, t)| t == at) {
                    inner.dedup.remove(&key);
                }
            }
        }
        if let Some(cid) = d.client_msg_id {
            let key: (Box<str>, Box<str>) = (d.openid.into(), cid.into());
            if let Some(&(earlier, at)) = inner.dedup.get(&key) {
                if now_ms - at < DEDUP_WINDOW_MS {
                    inner.summary.duplicates_suppressed += 1;
                    return Recorded::Duplicate(earlier);
                }
            }
        }
        let id = msgid();
        let s = &mut inner.summary;
        s.accepted += 1;
        match d.channel {
            Channel::Template => s.template_sends += 1,
            Channel::Subscribe => s.subscribe_sends += 1,
        }
        let count = match inner.received.get_mut(d.openid) {
            Some(count) => {
                *count += 1;
                *count
            }
            None => {
                inner.received.insert(d.openid.into(), 1);
                s.distinct_recipients += 1;
                1
            }
        };
        s.max_received = s.max_received.max(count);
        if let Some(cid) = d.client_msg_id {
            let pair = inner
                .pairs
                .entry(hash2(hash_str(d.openid), hash_str(cid)))
                .or_insert(0);
            *pair += 1;
            if *pair > 1 {
                s.duplicates_delivered += 1;
            }
            if *pair == 2 {
                s.duplicate_recipients += 1;
            }
            let key: (Box<str>, Box<str>) = (d.openid.into(), cid.into());
            inner.dedup.insert(key.clone(), (id, now_ms));
            inner.dedup_order.push_back((now_ms, key.0, key.1));
        }
        if self.capacity > 0 {
            if inner.messages.len() >= self.capacity {
                inner.messages.pop_front();
            }
            inner.messages.push_back(Stored {
                msgid: id,
                channel: d.channel,
                openid: d.openid.into(),
                template_id: d.template_id.into(),
                client_msg_id: d.client_msg_id.map(Into::into),
                at_ms: now_ms,
                body: String::from_utf8_lossy(d.body).into(),
            });
        }
        Recorded::Delivered(id)
    }

    /// Messages received by `openid`.
    pub fn received(&self, openid: &str) -> u64 {
        self.inner.lock().received.get(openid).copied().unwrap_or(0)
    }

    /// Totals.
    pub fn summary(&self) -> LedgerSummary {
        let inner = self.inner.lock();
        let mut s = inner.summary.clone();
        s.messages_kept = inner.messages.len() as u64;
        s
    }

    /// The most recent kept messages, newest first, optionally for one recipient.
    pub fn messages(&self, limit: usize, openid: Option<&str>) -> Vec<SentMessage> {
        let picked: Vec<Stored> = {
            let inner = self.inner.lock();
            inner
                .messages
                .iter()
                .rev()
                .filter(|m| openid.is_none_or(|o| &*m.openid == o))
                .take(limit)
                .cloned()
                .collect()
        };
        picked
            .into_iter()
            .map(|m| SentMessage {
                msgid: m.msgid,
                channel: m.channel,
                openid: m.openid.into(),
                template_id: m.template_id.into(),
                client_msg_id: m.client_msg_id.map(Into::into),
                at_ms: m.at_ms,
                payload: serde_json::from_str(&m.body).unwrap_or(serde_json::Value::Null),
            })
            .collect()
    }

    /// Forgets everything, de-dup window included.
    pub fn reset(&self) {
        *self.inner.lock() = Inner::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery<'a>(openid: &'a str, cid: Option<&'a str>) -> Delivery<'a> {
        Delivery {
            channel: Channel::Template,
            openid,
            template_id: "t",
            client_msg_id: cid,
            body: b"{\"touser\":\"o\"}",
        }
    }

    #[test]
    fn dedup_window_and_duplicate_counters() {
        let ledger = Ledger::new(10);
        let mut next = 100;
        let mut id = || {
            next += 1;
            next
        };
        assert_eq!(
            ledger.record(&delivery("a", Some("m1")), 0, &mut id),
            Recorded::Delivered(101)
        );
        assert_eq!(
            ledger.record(&delivery("a", Some("m1")), 1000, &mut id),
            Recorded::Duplicate(101)
        );
        assert_eq!(
            ledger.record(&delivery("b", Some("m1")), 1000, &mut id),
            Recorded::Delivered(102)
        );
        assert_eq!(ledger.received("a"), 1);
        let s = ledger.summary();
        assert_eq!(
            (s.accepted, s.duplicates_suppressed, s.duplicates_delivered),
            (2, 1, 0)
        );
        // After the window the pair is delivered again: a duplicate delivery.
        assert_eq!(
            ledger.record(&delivery("a", Some("m1")), DEDUP_WINDOW_MS + 1, &mut id),
            Recorded::Delivered(103)
        );
        let s = ledger.summary();
        assert_eq!(
            (
                s.duplicates_delivered,
                s.duplicate_recipients,
                s.max_received
            ),
            (1, 1, 2)
        );
        let msgs = ledger.messages(10, Some("a"));
        assert_eq!(msgs.len(), 2);
        assert_eq!(msgs[0].msgid, 103);
        assert_eq!(msgs[0].payload["touser"], "o");
    }
}

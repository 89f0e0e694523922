//! `cgi-bin/message/subscribe/send` (MP subscribe messages, each success pushed as a
//! `subscribe_msg_sent_event` to the MP's callback) and the users' subscription credits.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::errors::{wx_json, WxError};
use crate::ledger::{Channel, Delivery, Recorded};
use crate::quota::Api;
use crate::receipts::{push_to, subscribe_sent_xml};
use crate::rules::{key_type, value_ok, Flavor};
use crate::send::{data_map, page_ok, value_text};
use crate::state::{parse_params, AccountKind, SimState};
use crate::tokens::authorize;

/// Kind of subscription a user granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditKind {
    /// One message per accepted popup (template type 2).
    OneTime,
    /// Unlimited (template type 3).
    LongTerm,
}

/// A user's answer to a subscribe popup, or a switch in the service-notice settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubscribeAnswer {
    Accept,
    Reject,
}

impl SubscribeAnswer {
    /// The `SubscribeStatusString` WeChat pushes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Reject => "reject",
        }
    }
}

/// What a user may receive for one template.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Credit {
    /// One-time credits left.
    pub one_time: u32,
    /// Long-term subscription active.
    pub long_term: bool,
}

/// Credits per (MP user, template).
#[derive(Debug, Default)]
pub struct Credits {
    inner: Mutex<HashMap<(u32, String), Credit>>,
}

impl Credits {
    /// Adds `count` one-time credits, or switches the long-term subscription on (`count` 0 = off).
    pub fn grant(&self, user: u32, template_id: &str, kind: CreditKind, count: u32) -> Credit {
        let mut inner = self.inner.lock();
        let credit = inner.entry((user, template_id.to_owned())).or_default();
        match kind {
            CreditKind::OneTime => credit.one_time = credit.one_time.saturating_add(count),
            CreditKind::LongTerm => credit.long_term = count > 0,
        }
        *credit
    }

    /// The credit of a user for a template.
    pub fn get(&self, user: u32, template_id: &str) -> Credit {
        self.inner
            .lock()
            .get(&(user, template_id.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// Removes every credit of a user for a template (switched off in the settings).
    pub fn clear(&self, user: u32, template_id: &str) -> Credit {
        let mut inner = self.inner.lock();
        inner.remove(&(user, template_id.to_owned()));
        Credit::default()
    }

    /// Uses one credit: long-term is never used up, one-time is decremented.
    pub fn consume(&self, user: u32, template_id: &str) -> bool {
        let mut inner = self.inner.lock();
        let Some(credit) = inner.get_mut(&(user, template_id.to_owned())) else {
            return false;
        };
        if credit.long_term {
            return true;
        }
        if credit.one_time > 0 {
            credit.one_time -= 1;
            return true;
        }
        false
    }
}

/// Checks in order: touser 40003 → template 40037 → page 41030 → data 47001/47003.
fn validate(
    state: &SimState,
    req: &serde_json::Map<String, Value>,
) -> Result<(u32, String, String), WxError> {
    let openid = req
        .get("touser")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let user = state.mp.index_of(openid).ok_or(WxError::new(40003))?;
    let template_id = req
        .get("template_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let templates = state.mp_templates.read();
    let template = templates
        .iter()
        .find(|t| !template_id.is_empty() && t.pri_tmpl_id == template_id)
        .ok_or(WxError::new(40037))?;
    match req.get("page") {
        None | Some(Value::Null) => {}
        Some(Value::String(page)) if page.is_empty() || page_ok(state, page) => {}
        Some(_) => return Err(WxError::new(41030)),
    }
    let data = data_map(req)?;
    for key in template.keys() {
        let Some(ty) = key_type(&key) else { continue };
        let valid = value_text(data.and_then(|d| d.get(&key)))
            .is_some_and(|v| value_ok(ty, &v, template.enum_of(&key), Flavor::Mp));
        if !valid {
            return Err(WxError::argument_invalid(&key));
        }
    }
    Ok((user, openid.to_owned(), template_id.to_owned()))
}

/// `POST cgi-bin/message/subscribe/send` (MP token; an OA token → 48001).
pub async fn subscribe_send(
    State(state): State<Arc<SimState>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    match handle(&state, q.as_deref(), &body) {
        Ok(msgid) => wx_json(format!(
            "{{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":{msgid}}}"
        )),
        Err(e) => e.into_response(),
    }
}

fn handle(state: &Arc<SimState>, query: Option<&str>, body: &[u8]) -> Result<i64, WxError> {
    let params = parse_params(query);
    authorize(state, &params, AccountKind::Mp)?;
    let now = state.clock.now_ms();
    if !state.quotas.take(AccountKind::Mp, Api::SubscribeSend, now) {
        return Err(WxError::new(45009));
    }
    if body.is_empty() {
        return Err(WxError::new(44002));
    }
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return Err(WxError::new(47001));
    };
    let (user, openid, template_id) = validate(state, &req)?;
    if !state.credits.consume(user, &template_id) {
        return Err(WxError::new(43101));
    }
    let delivery = Delivery {
        channel: Channel::Subscribe,
        openid: &openid,
        template_id: &template_id,
        client_msg_id: None,
        body,
    };
    match state.ledger.record(&delivery, now, || state.next_msgid()) {
        Recorded::Duplicate(msgid) => Ok(msgid),
        Recorded::Delivered(msgid) => {
            let gh_id = state.config.mp_gh_id.clone();
            let who = openid.clone();
            push_to(state, AccountKind::Mp, openid, move |now_secs| {
                subscribe_sent_xml(&gh_id, &who, now_secs, &template_id, msgid, 0, "success")
            });
            Ok(msgid)
        }
    }
}

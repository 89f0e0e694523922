//! `cgi-bin/message/template/send`: validation in WeChat's order, client_msg_id de-dup, the
//! daily quota, the ledger and the asynchronous TEMPLATESENDJOBFINISH receipt.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use crate::errors::{wx_json, WxError};
use crate::ledger::{Channel, Delivery, Recorded};
use crate::quota::Api;
use crate::receipts::{push, template_finish_xml};
use crate::rules::{key_type, value_ok, Flavor};
use crate::state::{parse_params, AccountKind, SimState};
use crate::tokens::authorize;

/// `Status` of a delivered message whose recipient blocked the account.
pub const STATUS_USER_BLOCK: &str = "failed:user block";
/// `Status` of an injected delivery failure.
pub const STATUS_SYSTEM_FAILED: &str = "failed: system failed";

/// The text of a data value: strings as is, numbers in their JSON form, anything else `None`.
pub fn value_text(entry: Option<&Value>) -> Option<String> {
    match entry?.get("value")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `data` as a map: absent/null → `None` (no values); not an object, or an entry that is not
/// an object → 47001.
pub fn data_map(req: &Map<String, Value>) -> Result<Option<&Map<String, Value>>, WxError> {
    match req.get("data") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.values().all(Value::is_object) => Ok(Some(m)),
        Some(_) => Err(WxError::new(47001)),
    }
}

/// Whether `path` (query string allowed) is a page of the released Mini Program.
pub fn page_ok(state: &SimState, path: &str) -> bool {
    let page = path.split('?').next().unwrap_or_default();
    state.config.mp_pages.iter().any(|p| p == page)
}

/// `client_msg_id` as text (strings, or numbers), `None` when absent or empty.
fn client_msg_id(req: &Map<String, Value>) -> Option<String> {
    match req.get("client_msg_id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

struct Accepted {
    index: u32,
    openid: String,
    template_id: String,
    client_msg_id: Option<String>,
}

/// Checks in order: touser 40003 → template_id 40036/40037 → follows 43004 → blacklist 43019 →
/// miniprogram appid 40013 / pagepath 40165 → data 47001/47003.
fn validate(state: &SimState, req: &Map<String, Value>) -> Result<Accepted, WxError> {
    let openid = req
        .get("touser")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let index = state
        .population
        .index_of(openid)
        .ok_or(WxError::new(40003))?;
    let template_id = req
        .get("template_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if template_id.is_empty() {
        return Err(WxError::new(40036));
    }
    let templates = state.oa_templates.read();
    let template = templates
        .iter()
        .find(|t| t.template_id == template_id)
        .ok_or(WxError::new(40037))?;
    if !state.subs.read().is_subscribed(&state.population, index) {
        return Err(WxError::new(43004));
    }
    if state.blacklisted.read().contains(&index) {
        return Err(WxError::new(43019));
    }
    match req.get("miniprogram") {
        None | Some(Value::Null) => {}
        Some(Value::Object(mini)) => {
            let appid = mini
                .get("appid")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if appid != state.config.mp_appid {
                return Err(WxError::new(40013));
            }
            let path = mini
                .get("pagepath")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !path.is_empty() && !page_ok(state, path) {
                return Err(WxError::new(40165));
            }
        }
        Some(_) => return Err(WxError::new(47001)),
    }
    let data = data_map(req)?;
    let keys = template.keys();
    let category = !keys.is_empty() && keys.iter().all(|k| key_type(k).is_some());
    if category {
        for key in keys {
            let Some(ty) = key_type(&key) else { continue };
            let enums = template
                .enums
                .get(&key)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let valid = value_text(data.and_then(|d| d.get(&key)))
                .is_some_and(|v| value_ok(ty, &v, enums, Flavor::Oa));
            if !valid {
                return Err(WxError::argument_invalid(&key));
            }
        }
    }
    Ok(Accepted {
        index,
        openid: openid.to_owned(),
        template_id: template_id.to_owned(),
        client_msg_id: client_msg_id(req),
    })
}

/// `POST cgi-bin/message/template/send` (OA token). Every call with a valid token counts
/// against the daily quota.
pub async fn template_send(
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
    authorize(state, &params, AccountKind::Oa)?;
    let now = state.clock.now_ms();
    if !state.quotas.take(AccountKind::Oa, Api::TemplateSend, now) {
        return Err(WxError::new(45009));
    }
    if body.is_empty() {
        return Err(WxError::new(44002));
    }
    let Ok(Value::Object(req)) = serde_json::from_slice::<Value>(body) else {
        return Err(WxError::new(47001));
    };
    let accepted = validate(state, &req)?;
    let delivery = Delivery {
        channel: Channel::Template,
        openid: &accepted.openid,
        template_id: &accepted.template_id,
        client_msg_id: accepted.client_msg_id.as_deref(),
        body,
    };
    match state.ledger.record(&delivery, now, || state.next_msgid()) {
        Recorded::Duplicate(msgid) => Ok(msgid),
        Recorded::Delivered(msgid) => {
            let status = if state.is_blocked(accepted.index) {
                STATUS_USER_BLOCK
            } else {
                let rate = state.current_faults().receipt_failure_rate;
                if rate > 0.0 && state.faults.draw() < rate {
                    STATUS_SYSTEM_FAILED
                } else {
                    "success"
                }
            };
            let gh_id = state.config.oa_gh_id.clone();
            let openid = accepted.openid.clone();
            push(state, accepted.openid, move |now_secs| {
                template_finish_xml(&gh_id, &openid, now_secs, msgid, status)
            });
            Ok(msgid)
        }
    }
}

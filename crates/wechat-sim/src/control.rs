//! The control API under `/sim/` (JSON): inspect ground truth and the ledger, change the world
//! (callback, follows, templates, credits, codes), inject faults, move the clock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{CallbackConfig, FaultConfig};
use crate::error::SimError;
use crate::ops::{NewMpTemplate, NewOaTemplate};
use crate::quota::Api;
use crate::state::{parse_params, AccountKind, Params, SimState};
use crate::subscribe::{CreditKind, SubscribeAnswer};
use crate::templates::OaTemplate;

type St = State<Arc<SimState>>;

/// A control-API failure: HTTP 4xx with `{"error": …}`.
#[derive(Debug)]
pub struct ControlError(StatusCode, String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

impl From<SimError> for ControlError {
    fn from(e: SimError) -> Self {
        Self(StatusCode::BAD_REQUEST, e.to_string())
    }
}

fn bad(msg: impl Into<String>) -> ControlError {
    ControlError(StatusCode::BAD_REQUEST, msg.into())
}

fn not_found(msg: impl Into<String>) -> ControlError {
    ControlError(StatusCode::NOT_FOUND, msg.into())
}

type Res = Result<Response, ControlError>;

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ControlError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| bad(format!("bad JSON body: {e}")))
}

fn ok<T: Serialize>(value: T) -> Res {
    Ok(Json(value).into_response())
}

fn num_param<T: std::str::FromStr>(
    params: &Params,
    key: &str,
    default: T,
) -> Result<T, ControlError> {
    match params.get(key).filter(|s| !s.is_empty()) {
        Some(v) => v
            .parse()
            .map_err(|_| bad(format!("{key} must be a number"))),
        None => Ok(default),
    }
}

/// The control routes (mounted by [`crate::router`]).
pub fn routes() -> Router<Arc<SimState>> {
    Router::new()
        .route("/sim/accounts", get(accounts))
        .route(
            "/sim/accounts/oa/callback",
            post(set_callback).delete(clear_callback),
        )
        .route(
            "/sim/mp/callback",
            post(set_mp_callback).delete(clear_mp_callback),
        )
        .route("/sim/mp/popup", post(popup))
        .route("/sim/mp/change", post(change))
        .route("/sim/truth", get(truth))
        .route("/sim/ledger", get(ledger))
        .route("/sim/ledger/summary", get(ledger_summary))
        .route("/sim/messages", get(messages))
        .route("/sim/reset-ledger", post(reset_ledger))
        .route("/sim/followers", get(followers))
        .route("/sim/followers/unsubscribe", post(unsubscribe))
        .route("/sim/followers/subscribe", post(subscribe))
        .route("/sim/followers/block", post(block))
        .route("/sim/followers/blacklist", post(blacklist))
        .route("/sim/mp/users", get(mp_users))
        .route("/sim/mp/code", post(mint_code))
        .route("/sim/mp/credits", post(grant_credits).get(get_credits))
        .route("/sim/templates", get(templates).post(add_template))
        .route(
            "/sim/templates/{id}",
            delete(remove_template).put(update_template),
        )
        .route("/sim/mp/templates", post(add_mp_template))
        .route("/sim/mp/templates/{id}", delete(remove_mp_template))
        .route(
            "/sim/faults",
            get(get_faults).post(set_faults).delete(clear_faults),
        )
        .route("/sim/tokens/invalidate", post(invalidate_tokens))
        .route("/sim/clock", get(clock))
        .route("/sim/clock/advance", post(advance_clock))
        .route("/sim/quotas/reset", post(reset_quotas))
        .route("/sim/receipts", get(receipts))
}

async fn accounts(State(s): St) -> Res {
    let c = s.config();
    let now = s.now_ms();
    let truth = s.truth();
    ok(json!({
        "oa": {
            "appid": c.oa_appid,
            "secret": c.oa_secret,
            "gh_id": c.oa_gh_id,
            "followers": truth.followers,
            "former_followers": truth.unsubscribed,
            "callback": s.callback(),
        },
        "mp": {
            "appid": c.mp_appid,
            "secret": c.mp_secret,
            "users": truth.mp_users,
            "gh_id": c.mp_gh_id,
            "pages": c.mp_pages,
            "callback": s.mp_callback(),
        },
        "seed": c.seed,
        "token_lifetime_secs": c.token_lifetime_secs,
        "template_send_quota": s.quotas.limit(Api::TemplateSend),
        "template_sends_today": s.quotas.used(AccountKind::Oa, Api::TemplateSend, now),
    }))
}

async fn set_callback(State(s): St, body: Bytes) -> Res {
    let cb: CallbackConfig = parse(&body)?;
    s.set_callback(Some(cb))?;
    ok(json!({ "callback": s.callback() }))
}

async fn clear_callback(State(s): St) -> Res {
    s.set_callback(None)?;
    ok(json!({ "callback": null }))
}

async fn set_mp_callback(State(s): St, body: Bytes) -> Res {
    let cb: CallbackConfig = parse(&body)?;
    s.set_mp_callback(Some(cb))?;
    ok(json!({ "callback": s.mp_callback() }))
}

async fn clear_mp_callback(State(s): St) -> Res {
    s.set_mp_callback(None)?;
    ok(json!({ "callback": null }))
}

#[derive(Deserialize)]
struct Answer {
    openid: String,
    template_id: String,
    status: SubscribeAnswer,
}

async fn popup(State(s): St, body: Bytes) -> Res {
    let a: Answer = parse(&body)?;
    let credit = s
        .subscribe_popup(&a.openid, &a.template_id, a.status)
        .map_err(|e| not_found(e.to_string()))?;
    ok(
        json!({ "openid": a.openid, "template_id": a.template_id, "status": a.status, "credit": credit }),
    )
}

async fn change(State(s): St, body: Bytes) -> Res {
    let a: Answer = parse(&body)?;
    let credit = s
        .subscribe_change(&a.openid, &a.template_id, a.status)
        .map_err(|e| not_found(e.to_string()))?;
    ok(
        json!({ "openid": a.openid, "template_id": a.template_id, "status": a.status, "credit": credit }),
    )
}

async fn truth(State(s): St) -> Res {
    ok(s.truth())
}

async fn ledger(State(s): St, RawQuery(q): RawQuery) -> Res {
    let params = parse_params(q.as_deref());
    let openid = params
        .get("openid")
        .filter(|o| !o.is_empty())
        .ok_or_else(|| bad("openid is required"))?;
    ok(json!({ "openid": openid, "received": s.ledger_received(openid) }))
}

async fn ledger_summary(State(s): St) -> Res {
    ok(s.ledger_summary())
}

async fn messages(State(s): St, RawQuery(q): RawQuery) -> Res {
    let params = parse_params(q.as_deref());
    let limit: usize = num_param(&params, "limit", 100)?;
    let openid = params
        .get("openid")
        .map(String::as_str)
        .filter(|o| !o.is_empty());
    ok(json!({ "messages": s.messages(limit.min(100_000), openid) }))
}

async fn reset_ledger(State(s): St) -> Res {
    s.reset_ledger();
    ok(json!({ "ok": true }))
}

async fn followers(State(s): St, RawQuery(q): RawQuery) -> Res {
    let params = parse_params(q.as_deref());
    let offset: u32 = num_param(&params, "offset", 0)?;
    let limit: u32 = num_param(&params, "limit", 100)?;
    let end = offset.saturating_add(limit.min(10_000));
    let list: Vec<_> = (offset..end.min(s.population.total()))
        .filter_map(|i| s.follower_view(i))
        .collect();
    ok(json!({ "total_users": s.population.total(), "users": list }))
}

#[derive(Deserialize)]
struct Who {
    openid: Option<String>,
    index: Option<u32>,
    push_event: Option<bool>,
    blocked: Option<bool>,
    blacklisted: Option<bool>,
}

fn oa_openid(s: &SimState, who: &Who) -> Result<String, ControlError> {
    match (&who.openid, who.index) {
        (Some(o), _) => Ok(o.clone()),
        (None, Some(i)) => s
            .follower_openid(i)
            .ok_or_else(|| not_found(format!("no OA user {i}"))),
        (None, None) => Err(bad("openid or index is required")),
    }
}

async fn unsubscribe(State(s): St, body: Bytes) -> Res {
    let who: Who = parse(&body)?;
    let openid = oa_openid(&s, &who)?;
    let changed = s.unsubscribe(&openid, who.push_event.unwrap_or(true))?;
    ok(json!({ "openid": openid, "changed": changed, "truth": s.truth() }))
}

async fn subscribe(State(s): St, body: Bytes) -> Res {
    let who: Who = parse(&body)?;
    let openid = oa_openid(&s, &who)?;
    let changed = s.subscribe(&openid, who.push_event.unwrap_or(true))?;
    ok(json!({ "openid": openid, "changed": changed, "truth": s.truth() }))
}

async fn block(State(s): St, body: Bytes) -> Res {
    let who: Who = parse(&body)?;
    let openid = oa_openid(&s, &who)?;
    let blocked = who.blocked.unwrap_or(true);
    s.set_blocked(&openid, blocked)?;
    ok(json!({ "openid": openid, "blocked": blocked }))
}

async fn blacklist(State(s): St, body: Bytes) -> Res {
    let who: Who = parse(&body)?;
    let openid = oa_openid(&s, &who)?;
    let blacklisted = who.blacklisted.unwrap_or(true);
    s.set_blacklisted(&openid, blacklisted)?;
    ok(json!({ "openid": openid, "blacklisted": blacklisted }))
}

async fn mp_users(State(s): St, RawQuery(q): RawQuery) -> Res {
    let params = parse_params(q.as_deref());
    let offset: u32 = num_param(&params, "offset", 0)?;
    let limit: u32 = num_param(&params, "limit", 100)?;
    let end = offset.saturating_add(limit.min(10_000)).min(s.mp.count());
    let list: Vec<_> = (offset.min(end)..end)
        .filter_map(|i| s.mp_user_view(i))
        .collect();
    ok(json!({ "total": s.mp.count(), "users": list }))
}

async fn mint_code(State(s): St, body: Bytes) -> Res {
    let who: Who = parse(&body)?;
    let blocked = who.blocked.unwrap_or(false);
    let (code, index) = match (&who.openid, who.index) {
        (Some(o), _) => {
            let index = s
                .mp_index(o)
                .ok_or_else(|| not_found(format!("not an MP openid: {o}")))?;
            (s.mint_code(index, blocked)?, index)
        }
        (None, Some(i)) => (
            s.mint_code(i, blocked)
                .map_err(|e| not_found(e.to_string()))?,
            i,
        ),
        (None, None) => return Err(bad("openid or index is required")),
    };
    ok(json!({ "code": code, "openid": s.mp_openid(index), "index": index, "blocked": blocked }))
}

#[derive(Deserialize)]
struct CreditReq {
    openid: String,
    template_id: String,
    #[serde(default = "one_time")]
    kind: CreditKind,
    #[serde(default = "one")]
    count: u32,
}

fn one_time() -> CreditKind {
    CreditKind::OneTime
}

fn one() -> u32 {
    1
}

async fn grant_credits(State(s): St, body: Bytes) -> Res {
    let req: CreditReq = parse(&body)?;
    let credit = s.grant_credits(&req.openid, &req.template_id, req.kind, req.count)?;
    ok(json!({ "openid": req.openid, "template_id": req.template_id, "credit": credit }))
}

async fn get_credits(State(s): St, RawQuery(q): RawQuery) -> Res {
    let params = parse_params(q.as_deref());
    let (Some(openid), Some(template_id)) = (params.get("openid"), params.get("template_id"))
    else {
        return Err(bad("openid and template_id are required"));
    };
    let credit = s.credits_of(openid, template_id)?;
    ok(json!({ "openid": openid, "template_id": template_id, "credit": credit }))
}

#[derive(Serialize)]
struct TemplateView<'a> {
    #[serde(flatten)]
    template: &'a OaTemplate,
    category: bool,
    keys: Vec<String>,
    enums: &'a BTreeMap<String, Vec<String>>,
}

fn view(t: &OaTemplate) -> TemplateView<'_> {
    TemplateView {
        template: t,
        category: t.is_category(),
        keys: t.keys(),
        enums: &t.enums,
    }
}

async fn templates(State(s): St) -> Res {
    let oa = s.oa_templates();
    let views: Vec<_> = oa.iter().map(view).collect();
    ok(json!({ "oa": views, "mp": s.mp_templates() }))
}

async fn add_template(State(s): St, body: Bytes) -> Res {
    let new: NewOaTemplate = parse(&body)?;
    let t = s.add_oa_template(new)?;
    ok(view(&t))
}

async fn update_template(State(s): St, Path(id): Path<String>, body: Bytes) -> Res {
    let new: NewOaTemplate = parse(&body)?;
    let t = s
        .update_oa_template(&id, new)
        .map_err(|e| not_found(e.to_string()))?;
    ok(view(&t))
}

async fn remove_template(State(s): St, Path(id): Path<String>) -> Res {
    if s.remove_oa_template(&id) {
        ok(json!({ "removed": id }))
    } else {
        Err(not_found(format!("no template {id}")))
    }
}

async fn add_mp_template(State(s): St, body: Bytes) -> Res {
    let new: NewMpTemplate = parse(&body)?;
    ok(s.add_mp_template(new)?)
}

async fn remove_mp_template(State(s): St, Path(id): Path<String>) -> Res {
    if s.remove_mp_template(&id) {
        ok(json!({ "removed": id }))
    } else {
        Err(not_found(format!("no template {id}")))
    }
}

async fn get_faults(State(s): St) -> Res {
    ok(s.faults())
}

async fn set_faults(State(s): St, body: Bytes) -> Res {
    let faults: FaultConfig = parse(&body)?;
    s.set_faults(faults)?;
    ok(s.faults())
}

async fn clear_faults(State(s): St) -> Res {
    s.clear_faults();
    ok(s.faults())
}

async fn invalidate_tokens(State(s): St) -> Res {
    s.invalidate_tokens();
    ok(json!({ "ok": true }))
}

fn clock_body(s: &SimState) -> Value {
    json!({ "now_ms": s.now_ms(), "offset_ms": s.clock_offset().as_millis() as u64 })
}

async fn clock(State(s): St) -> Res {
    ok(clock_body(&s))
}

#[derive(Deserialize)]
struct Advance {
    #[serde(default)]
    secs: u64,
    #[serde(default)]
    ms: u64,
}

async fn advance_clock(State(s): St, body: Bytes) -> Res {
    let a: Advance = parse(&body)?;
    s.advance_clock(Duration::from_secs(a.secs) + Duration::from_millis(a.ms));
    ok(clock_body(&s))
}

async fn reset_quotas(State(s): St) -> Res {
    s.reset_quotas();
    ok(json!({ "ok": true }))
}

async fn receipts(State(s): St) -> Res {
    ok(s.receipt_stats())
}

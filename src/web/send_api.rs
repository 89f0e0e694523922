//! The send API for business systems: `POST /api/v1/messages` queues one person's message (by
//! unionid, Mini Program openid or OA openid, with its own values) and `GET
//! /api/v1/messages/{id}` tells where it is.
//!
//! Authenticated by a send key (`Authorization: Bearer wxs_…`) an admin created for one Official
//! Account; each key has its own rate (in-process token buckets, so N processes allow up to N
//! times as much). Refusals are `{"error": {"code", "field", "message_zh", "message_en",
//! "params"}}`: 400 for a body that is not the documented JSON, 422 for a value the rules
//! refuse, 404 for a person who cannot be reached (the code says why), 401 for a missing, wrong
//! or revoked key, 403 for a preset the key may not use, 409 for an idempotency key reused with
//! another body, 413 above 64 KiB, 429 with `Retry-After` above the key's rate. Nothing is
//! queued on any refusal. `GET /api/v1/openapi.json` describes it all ([`super::openapi`]), from
//! the types here and in `model::send_api` and the `#[utoipa::path]` of each handler.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{to_bytes, Body};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use model::send_api::{Accepted, MessageStatus, SendKey, SendRequest, MAX_BODY_BYTES};
use model::{Lang, Problem, Refusal};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use app::state::AppState;

use super::security::{retry_after_secs, RateLimiter};

/// Messages in one batch request, and its largest body.
const BATCH_MAX: usize = 1_000;
const BATCH_BODY_BYTES: usize = 4 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    let limits = Arc::new(RateLimiter::new(1.0, 1.0));
    Router::new()
        .route("/api/v1/messages", post(send))
        .route("/api/v1/messages/batch", post(send_batch))
        .route("/api/v1/messages/{id}", get(status))
        .layer(Extension(limits))
        .route("/api/v1/openapi.json", get(super::openapi::document))
}

/// The send API's own error codes, beside the engine's refusals (the codes of [`Problem`]).
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiCode {
    /// 400: the body is not the documented JSON (`field` names where, by its path).
    Malformed,
    /// 401: no `Authorization: Bearer` send key.
    MissingKey,
    /// 401: no such send key.
    InvalidKey,
    /// 401: the send key was revoked.
    KeyRevoked,
    /// 404: no message with this id was sent with this key.
    NotFound,
    /// 413: the body is above 64 KiB (a batch: 4 MiB).
    TooLarge,
    /// 422: the preset's template was removed from WeChat.
    TemplateRemoved,
    /// 429: over the key's rate; retry after `Retry-After` seconds.
    RateLimited,
    /// 500: see the server log.
    Internal,
}

/// A refusal's body (nothing was queued): `{"error": {"code", "params", "field", "message_zh",
/// "message_en"}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorAnswer {
    #[schema(schema_with = super::openapi::error_detail)]
    error: Value,
}

/// `POST /api/v1/messages/batch`: 1 to 1,000 messages, each as `POST /api/v1/messages` takes
/// it (read one by one, so one malformed message refuses only itself).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    #[schema(value_type = Vec<SendRequest>, min_items = 1, max_items = 1000)]
    messages: Vec<Value>,
}

/// The answer to a batch: one entry per message, in order.
#[derive(Serialize, ToSchema)]
pub struct BatchAnswer {
    #[schema(schema_with = super::openapi::batch_entries)]
    results: Vec<Value>,
}

/// A status and the JSON body that goes with it: a whole response, or one entry of a batch.
type Answer = (StatusCode, Value);

fn respond((status, body): Answer) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// An error: a code the client can branch on, the field, and words in both languages.
fn error(status: StatusCode, code: ApiCode, field: Option<&str>, zh: &str, en: &str) -> Answer {
    let error = json!({
        "code": code, "params": null, "field": field, "message_zh": zh, "message_en": en,
    });
    (status, json!(ErrorAnswer { error }))
}

/// The status a refusal is answered with.
fn status_of(problem: &Problem) -> StatusCode {
    match problem {
        Problem::UnknownPerson
        | Problem::NotFollowing
        | Problem::NoUnionid
        | Problem::NotAMpUser
        | Problem::NoSubscriptionCredit => StatusCode::NOT_FOUND,
        Problem::PresetNotAllowed => StatusCode::FORBIDDEN,
        Problem::IdempotencyConflict => StatusCode::CONFLICT,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// A refusal of the engine's, passed on unchanged with its words.
fn refused(r: &Refusal) -> Answer {
    let problem = serde_json::to_value(&r.problem).unwrap_or_default();
    let error = json!({
        "code": problem["code"],
        "params": problem.get("params"),
        "field": r.field,
        "message_zh": r.message(Lang::Zh),
        "message_en": r.message(Lang::En),
    });
    (status_of(&r.problem), json!(ErrorAnswer { error }))
}

fn unauthorized(code: ApiCode, zh: &str, en: &str) -> Response {
    let mut res = respond(error(StatusCode::UNAUTHORIZED, code, None, zh, en));
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"wxpush\""),
    );
    res
}

fn engine_error(e: engine::Error) -> Answer {
    match e {
        engine::Error::Refused(r) => refused(&r),
        engine::Error::TemplateRemoved => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            ApiCode::TemplateRemoved,
            Some("preset"),
            "该预设的模板已从微信删除：请在控制台为它换一个模板",
            "the preset's template was removed from WeChat: move the preset to another template in the console",
        ),
        engine::Error::NotFound => error(
            StatusCode::NOT_FOUND,
            ApiCode::NotFound,
            None,
            "找不到该消息",
            "no such message",
        ),
        other => {
            tracing::error!(error = %other, "send API");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                ApiCode::Internal,
                None,
                "服务器内部错误：请查看 wxpush 日志",
                "internal error: see the wxpush server log",
            )
        }
    }
}

/// Over the key's rate: the answer, and the seconds to wait.
fn rate_limited(key: &SendKey, wait: std::time::Duration) -> (Answer, u64) {
    let answer = error(
        StatusCode::TOO_MANY_REQUESTS,
        ApiCode::RateLimited,
        None,
        &format!(
            "超过该密钥的速率（每秒 {} 条）：请按 Retry-After 稍后重试",
            key.rate
        ),
        &format!(
            "over this key's rate ({} a second): retry after Retry-After seconds",
            key.rate
        ),
    );
    (answer, retry_after_secs(wait))
}

fn too_large(limit: &str) -> Response {
    respond(error(
        StatusCode::PAYLOAD_TOO_LARGE,
        ApiCode::TooLarge,
        None,
        &format!("请求体过大（最多 {limit}）"),
        &format!("the body is too large (at most {limit})"),
    ))
}

fn malformed(field: Option<&str>, detail: &str) -> Answer {
    error(
        StatusCode::BAD_REQUEST,
        ApiCode::Malformed,
        field,
        &format!("请求体不是本接口约定的 JSON：{detail}"),
        &format!("the body is not the JSON this API documents: {detail}"),
    )
}

/// The key a request presents, if it is a live one; else the answer.
async fn key_of(state: &AppState, headers: &HeaderMap) -> Result<SendKey, Response> {
    let Some(presented) = super::bearer_token(headers).filter(|k| !k.is_empty()) else {
        return Err(unauthorized(
            ApiCode::MissingKey,
            "缺少发送接口密钥：请发送请求头 \"Authorization: Bearer <密钥>\"；密钥由管理员在「设置」中创建",
            "missing send key: send \"Authorization: Bearer <key>\"; admins create keys under Settings",
        ));
    };
    match state.engine.send_key_by_secret(presented).await {
        Ok(Some(key)) if key.revoked_at_ms.is_none() => Ok(key),
        Ok(Some(_)) => Err(unauthorized(
            ApiCode::KeyRevoked,
            "该发送接口密钥已被吊销",
            "this send key was revoked",
        )),
        Ok(None) => Err(unauthorized(
            ApiCode::InvalidKey,
            "发送接口密钥无效",
            "invalid send key",
        )),
        Err(e) => Err(respond(engine_error(e))),
    }
}

/// One message: the request in `value` (or a 400 naming the field that is not as documented),
/// and the hash it is remembered by — of its JSON with the keys sorted and no spaces, so the same
/// message sent alone or in a batch, formatted either way, is the same message.
fn read_message(value: &Value) -> Result<(SendRequest, String), Answer> {
    let request: SendRequest = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        malformed(
            (path != ".").then_some(path.as_str()),
            &e.into_inner().to_string(),
        )
    })?;
    let canonical = serde_json::to_vec(value).unwrap_or_default();
    Ok((request, engine::send_api::body_hash(&canonical)))
}

/// The request of `POST /api/v1/messages` and its hash; the `Idempotency-Key` header says the
/// same as the field (a different value is refused).
fn parse(body: &[u8], headers: &HeaderMap) -> Result<(SendRequest, String), Answer> {
    let value: Value = serde_json::from_slice(body).map_err(|e| malformed(None, &e.to_string()))?;
    let (mut req, hash) = read_message(&value)?;
    let header = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned));
    match (header, &req.idempotency_key) {
        (None, _) => {}
        (Some(Ok(h)), None) => req.idempotency_key = Some(h),
        (Some(Ok(h)), Some(b)) if &h == b => {}
        _ => {
            return Err(refused(&Refusal::new(
                "idempotency_key",
                Problem::Malformed,
            )))
        }
    }
    Ok((req, hash))
}

#[utoipa::path(
    post,
    path = "/api/v1/messages",
    tag = "messages",
    operation_id = "send_message",
    summary = "Queue one person's message",
    description = "Resolves the person at once and queues the preset's message with the request's \
        values; nothing is queued on any refusal. The same key, idempotency key and body answer \
        with the first message (`replayed: true`) and send nothing more.",
    request_body = SendRequest,
    params(
        ("Idempotency-Key" = Option<String>, Header,
         description = "The same as the body's `idempotency_key` (1–128 printable ASCII \
             characters); both given and different: 422 `malformed` on `idempotency_key`."),
    ),
    responses(
        (status = 202, description = "Accepted (or a replay of an accepted message)", body = Accepted),
        (status = 400, description = "`malformed`: not the documented JSON; `field` is the path", body = ErrorAnswer),
        (status = 401, description = "`missing_key`, `invalid_key` or `key_revoked`", body = ErrorAnswer,
         headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"wxpush\"`"))),
        (status = 403, description = "`preset_not_allowed`: a preset this key may not use", body = ErrorAnswer),
        (status = 404, description = "The person cannot be reached, and why: `unknown_person`, \
            `not_following`, `no_unionid`, `not_a_mp_user`, `no_subscription_credit`", body = ErrorAnswer),
        (status = 409, description = "`idempotency_conflict`: the idempotency key was used with another body", body = ErrorAnswer),
        (status = 413, description = "`too_large`: the body is above 64 KiB", body = ErrorAnswer),
        (status = 422, description = "A value the rules refuse (`required`, `value` with its \
            `params`, `not_a_template_field`, `wrong_preset_kind`, `open_id_format`…)", body = ErrorAnswer),
        (status = 429, description = "`rate_limited`: over the key's rate", body = ErrorAnswer,
         headers(("Retry-After" = u64, description = "Seconds to wait before retrying"))),
        (status = 500, description = "`internal`: see the server log", body = ErrorAnswer),
    ),
    security(("send_key" = [])),
)]
pub(super) async fn send(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<RateLimiter>>,
    req: Request<Body>,
) -> Response {
    let (parts, body) = req.into_parts();
    let key = match key_of(&state, &parts.headers).await {
        Ok(key) => key,
        Err(res) => return res,
    };
    if let Err(wait) =
        limits.check_rate(&key.id.to_string(), key.rate.max(1) as f64, Instant::now())
    {
        let (answer, secs) = rate_limited(&key, wait);
        let mut res = respond(answer);
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return res;
    }
    let body = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return too_large("64 KiB"),
    };
    let (request, hash) = match parse(&body, &parts.headers) {
        Ok(r) => r,
        Err(answer) => return respond(answer),
    };
    respond(
        match state.engine.accept_message(&key, &request, &hash).await {
            // A replay answers as the first request did, with `replayed` set.
            Ok(accepted) => (StatusCode::ACCEPTED, json!(accepted)),
            Err(e) => engine_error(e),
        },
    )
}

/// `POST /api/v1/messages/batch`: `{"messages": [<a message request>, …]}`, at most
/// [`BATCH_MAX`]; each gets its own answer, in order: `{"status": 202, "message": {…}}` or
/// `{"status": 4xx, "error": {…}}`. Each message takes one of the key's rate.
#[utoipa::path(
    post,
    path = "/api/v1/messages/batch",
    tag = "messages",
    operation_id = "send_messages",
    summary = "Queue up to 1,000 messages",
    description = "Each message is answered on its own, in order, as `POST /api/v1/messages` \
        would answer it alone; each takes one of the key's rate (an entry over it is a 429 \
        entry with `retry_after`).",
    request_body = BatchRequest,
    responses(
        (status = 200, description = "One answer per message, in order", body = BatchAnswer),
        (status = 400, description = "`malformed`: not `{\"messages\": [...]}`", body = ErrorAnswer),
        (status = 401, description = "`missing_key`, `invalid_key` or `key_revoked`", body = ErrorAnswer,
         headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"wxpush\"`"))),
        (status = 413, description = "`too_large`: the body is above 4 MiB", body = ErrorAnswer),
        (status = 422, description = "`out_of_range` on `messages`: none, or more than 1,000", body = ErrorAnswer),
        (status = 500, description = "`internal`: see the server log", body = ErrorAnswer),
    ),
    security(("send_key" = [])),
)]
pub(super) async fn send_batch(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<RateLimiter>>,
    req: Request<Body>,
) -> Response {
    let (parts, body) = req.into_parts();
    let key = match key_of(&state, &parts.headers).await {
        Ok(key) => key,
        Err(res) => return res,
    };
    let body = match to_bytes(body, BATCH_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => return too_large("4 MiB"),
    };
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return respond(malformed(Some("messages"), &e.to_string())),
    };
    if batch.messages.is_empty() || batch.messages.len() > BATCH_MAX {
        return respond(refused(&Refusal::new(
            "messages",
            Problem::OutOfRange {
                min: 1,
                max: BATCH_MAX as i64,
            },
        )));
    }
    let (bucket, rate) = (key.id.to_string(), key.rate.max(1) as f64);
    let mut results = Vec::with_capacity(batch.messages.len());
    for message in &batch.messages {
        let (status, mut body) = match limits.check_rate(&bucket, rate, Instant::now()) {
            Err(wait) => {
                let ((status, mut body), secs) = rate_limited(&key, wait);
                body["retry_after"] = json!(secs);
                (status, body)
            }
            Ok(()) => match read_message(message) {
                Err(answer) => answer,
                Ok((request, hash)) => {
                    match state.engine.accept_message(&key, &request, &hash).await {
                        Ok(accepted) => (StatusCode::ACCEPTED, json!({ "message": accepted })),
                        Err(e) => engine_error(e),
                    }
                }
            },
        };
        body["status"] = json!(status.as_u16());
        results.push(body);
    }
    respond((StatusCode::OK, json!(BatchAnswer { results })))
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}",
    tag = "messages",
    operation_id = "message_status",
    summary = "Where a message is",
    params(("id" = String, Path, description = "The `id` of the 202 answer")),
    responses(
        (status = 200, description = "The message's state", body = MessageStatus),
        (status = 401, description = "`missing_key`, `invalid_key` or `key_revoked`", body = ErrorAnswer,
         headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"wxpush\"`"))),
        (status = 404, description = "`not_found`: no such message sent with this key", body = ErrorAnswer),
        (status = 500, description = "`internal`: see the server log", body = ErrorAnswer),
    ),
    security(("send_key" = [])),
)]
pub(super) async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let key = match key_of(&state, &headers).await {
        Ok(key) => key,
        Err(res) => return res,
    };
    let found = match id.parse::<i64>() {
        Ok(id) => state.engine.api_message(&key, id).await,
        Err(_) => Ok(None),
    };
    match found {
        Ok(Some(status)) => respond((StatusCode::OK, json!(status))),
        Ok(None) => respond(engine_error(engine::Error::NotFound)),
        Err(e) => respond(engine_error(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_status() {
        let status = |p: Problem| status_of(&p);
        assert_eq!(status(Problem::UnknownPerson), StatusCode::NOT_FOUND);
        assert_eq!(status(Problem::NoSubscriptionCredit), StatusCode::NOT_FOUND);
        assert_eq!(status(Problem::PresetNotAllowed), StatusCode::FORBIDDEN);
        assert_eq!(status(Problem::IdempotencyConflict), StatusCode::CONFLICT);
        assert_eq!(status(Problem::Required), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn a_malformed_body_names_its_field() {
        let headers = HeaderMap::new();
        let (status, body) = parse(br#"{"to":{"unionid":5},"preset":1}"#, &headers)
            .expect_err("a number is no unionid");
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["field"], "to.unionid");
        let mut headers = HeaderMap::new();
        headers.insert("idempotency-key", HeaderValue::from_static("a"));
        let body = br#"{"to":{"unionid":"u"},"preset":1,"idempotency_key":"b"}"#;
        let (status, _) = parse(body, &headers).expect_err("two different keys");
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let body = br#"{"to":{"unionid":"u"},"preset":1}"#;
        let (req, _) = parse(body, &headers).expect("the header's key");
        assert_eq!(req.idempotency_key.as_deref(), Some("a"));
        let hash = |body: &[u8]| parse(body, &HeaderMap::new()).expect("a message").1;
        assert_eq!(
            hash(br#"{"to": {"unionid": "u"}, "preset": 1}"#),
            hash(br#"{"preset":1,"to":{"unionid":"u"}}"#),
            "the same message however it is formatted"
        );
    }
}

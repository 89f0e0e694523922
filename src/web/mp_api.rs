//! The Mini Program backend's JSON API: `POST /api/mp/{appid}/login` turns a `wx.login` code into the user's openid/unionid.
//!
//! Authenticated by an API key created on the settings page (`Authorization: Bearer wxp_…` or
//! `X-Api-Key: wxp_…`). Rate limited by two in-process token buckets, one per client IP (before
//! the key is checked) and one per API key: the limits hold per `wxpush serve` process, so N
//! processes behind a load balancer allow up to N times as much. Every answer is JSON; errors
//! are `{"error": "…", "error_zh": "…", "errcode": N}` (errcode only when WeChat gave one).
//! The session key WeChat returns is never sent, stored or logged.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde_json::json;
use wechat::api::{ApiError, ErrorClass};

use app::auth::ssr::request_ip;
use app::state::AppState;

/// Requests per second and burst allowed per API key.
pub const KEY_RATE: f64 = 20.0;
pub const KEY_BURST: f64 = 40.0;
/// Requests per second and burst allowed per client IP, whatever the key.
pub const IP_RATE: f64 = 40.0;
pub const IP_BURST: f64 = 80.0;
/// A login body is `{"code":"…"}`: anything much larger is not one.
const MAX_BODY: usize = 16 * 1024;
/// Buckets kept before idle (full) ones are forgotten.
const MAX_TRACKED: usize = 10_000;

pub fn routes() -> Router<AppState> {
    let limits = Arc::new(Limits {
        per_ip: RateLimiter::new(IP_RATE, IP_BURST),
        per_key: RateLimiter::new(KEY_RATE, KEY_BURST),
    });
    Router::new()
        .route("/api/mp/{appid}/login", post(login))
        .layer(Extension(limits))
}

struct Limits {
    per_ip: RateLimiter,
    per_key: RateLimiter,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per key (client IP or API-key hash), in this process's memory.
struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.at = now;
    }

    /// Takes a token, or says how long until one is available.
    fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut map = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(key) {
            map.retain(|_, b| {
                self.refill(b, now);
                b.tokens < self.burst
            });
        }
        let bucket = map.entry(key.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        self.refill(bucket, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

/// A JSON error answer. `Cache-Control: no-store` is added to every answer by [`login`].
fn error(status: StatusCode, errcode: Option<i64>, en: &str, zh: &str) -> Response {
    let mut body = json!({ "error": en, "error_zh": zh });
    if let Some(code) = errcode {
        body["errcode"] = json!(code);
    }
    (status, Json(body)).into_response()
}

fn with_retry_after(mut res: Response, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

fn too_many(wait: Duration) -> Response {
    with_retry_after(
        error(
            StatusCode::TOO_MANY_REQUESTS,
            None,
            "Too many requests: slow down and retry after the number of seconds in Retry-After.",
            "请求过于频繁：请按 Retry-After 指示的秒数稍后重试。",
        ),
        wait,
    )
}

fn unauthorized(en: &str, zh: &str) -> Response {
    let mut res = error(StatusCode::UNAUTHORIZED, None, en, zh);
    res.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"wxpush\""),
    );
    res
}

/// The key from `Authorization: Bearer …` or `X-Api-Key: …`.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    let header_key = || {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    bearer
        .or_else(header_key)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
}

/// The `code` of a `{"code":"…"}` body (`wx.login` codes are short and alphanumeric), or what is
/// wrong with the body in English and Chinese.
fn parse_code(body: &[u8]) -> Result<String, (&'static str, &'static str)> {
    let bad = |en, zh| (en, zh);
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|_| {
        bad(
            "The body must be JSON: {\"code\":\"<the code from wx.login>\"}.",
            "请求体必须是 JSON：{\"code\":\"<wx.login 返回的 code>\"}。",
        )
    })?;
    let code = match value.get("code") {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => s.trim(),
        Some(_) => {
            return Err(bad(
                "\"code\" must be the non-empty string returned by wx.login.",
                "\"code\" 必须是 wx.login 返回的非空字符串。",
            ))
        }
        None => {
            return Err(bad(
                "The body has no \"code\": send {\"code\":\"<the code from wx.login>\"}.",
                "请求体缺少 \"code\"：请发送 {\"code\":\"<wx.login 返回的 code>\"}。",
            ))
        }
    };
    if code.len() > 128
        || !code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(bad(
            "\"code\" is not a wx.login code (letters, digits, '-' and '_' only).",
            "\"code\" 不是 wx.login 的 code（只含字母、数字、- 和 _）。",
        ));
    }
    Ok(code.to_owned())
}

/// WeChat's answer as the Mini Program backend should see it.
fn wechat_error(appid: &str, e: &ApiError) -> Response {
    let code = e.code();
    match (code, e) {
        (Some(40029), _) => error(
            StatusCode::BAD_REQUEST,
            code,
            "The code is invalid or has expired (40029): call wx.login again and send the new code within 5 minutes.",
            "code 无效或已过期（40029）：请重新调用 wx.login，并在 5 分钟内提交新的 code。",
        ),
        (Some(40163), _) => error(
            StatusCode::BAD_REQUEST,
            code,
            "This code has already been used (40163): a wx.login code can be exchanged only once; call wx.login again.",
            "该 code 已被使用（40163）：每个 wx.login 的 code 只能换取一次，请重新调用 wx.login。",
        ),
        (Some(40226), _) => error(
            StatusCode::BAD_REQUEST,
            code,
            "WeChat blocked this login (40226): WeChat flagged the user as high-risk, so the login cannot continue.",
            "微信拦截了此次登录（40226）：该用户被微信判定为高风险用户，无法继续登录。",
        ),
        (Some(45011), _) => with_retry_after(
            error(
                StatusCode::TOO_MANY_REQUESTS,
                code,
                "WeChat's per-minute limit for code2Session was reached (45011): retry in a minute.",
                "已达到微信 code2Session 每分钟调用上限（45011）：请一分钟后重试。",
            ),
            Duration::from_secs(60),
        ),
        (Some(-1), _) => with_retry_after(
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "WeChat is busy (-1): retry in a moment.",
                "微信系统繁忙（-1）：请稍后重试。",
            ),
            Duration::from_secs(1),
        ),
        (None, ApiError::Timeout) => with_retry_after(
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "WeChat did not answer in time: retry in a moment.",
                "微信接口响应超时：请稍后重试。",
            ),
            Duration::from_secs(5),
        ),
        (Some(c), _) if e.class() == ErrorClass::Credentials || matches!(c, 41004 | 40002) => {
            tracing::warn!(appid, errcode = c, "Mini Program login refused by WeChat: {}", e.explain(false));
            error(
                StatusCode::BAD_GATEWAY,
                code,
                &format!(
                    "wxpush cannot log users in to this Mini Program: its settings are wrong. Operator: {}",
                    e.explain(false)
                ),
                &format!(
                    "wxpush 无法为该小程序换取登录信息：账号配置有误。请管理员处理：{}",
                    e.explain(true)
                ),
            )
        }
        (Some(c), _) => {
            tracing::warn!(appid, errcode = c, "Mini Program login failed: {e}");
            error(
                StatusCode::BAD_GATEWAY,
                code,
                &format!("WeChat refused the login: {}", e.explain(false)),
                &format!("微信拒绝了此次登录：{}", e.explain(true)),
            )
        }
        (None, _) => {
            tracing::warn!(appid, "Mini Program login: WeChat unreachable: {e}");
            error(
                StatusCode::BAD_GATEWAY,
                None,
                &format!("wxpush could not reach WeChat: {}", e.explain(false)),
                &format!("wxpush 无法访问微信接口：{}", e.explain(true)),
            )
        }
    }
}

fn internal(what: &str, e: impl std::fmt::Display) -> Response {
    tracing::error!("Mini Program login: {what}: {e}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        None,
        "Internal error: see the wxpush server log.",
        "服务器内部错误：请查看 wxpush 日志。",
    )
}

async fn login(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<Limits>>,
    Path(appid): Path<String>,
    req: Request<Body>,
) -> Response {
    let mut res = answer(state, &limits, &appid, req).await;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn answer(state: AppState, limits: &Limits, appid: &str, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let ip = request_ip(&parts, state.trust_forwarded_for);
    if let Err(wait) = limits.per_ip.check(&ip, Instant::now()) {
        return too_many(wait);
    }
    let Some(key) = presented_key(&parts.headers) else {
        return unauthorized(
            "Missing API key: send \"Authorization: Bearer <key>\" (or \"X-Api-Key: <key>\"); admins create keys under Settings.",
            "缺少 API 密钥：请在请求头中发送 \"Authorization: Bearer <密钥>\"（或 \"X-Api-Key: <密钥>\"）；密钥由管理员在「设置」中创建。",
        );
    };
    let account = match state.engine.verify_mp_api_key(appid, &key).await {
        Ok(account) => account,
        Err(engine::Error::NotFound) => {
            return error(
                StatusCode::NOT_FOUND,
                None,
                "No Mini Program with this AppID is configured in wxpush.",
                "wxpush 中没有配置该 AppID 的小程序。",
            )
        }
        Err(engine::Error::InvalidCredentials) => {
            return unauthorized(
                "Invalid API key: it is wrong, revoked, or belongs to another Mini Program.",
                "API 密钥无效：密钥错误、已被吊销，或属于其他小程序。",
            )
        }
        Err(e) => return internal("checking the API key", e),
    };
    if let Err(wait) = limits
        .per_key
        .check(&engine::mp_users::hash_api_key(&key), Instant::now())
    {
        return too_many(wait);
    }
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                "The body is too large: send {\"code\":\"…\"} only.",
                "请求体过大：只需发送 {\"code\":\"…\"}。",
            )
        }
    };
    let code = match parse_code(&bytes) {
        Ok(code) => code,
        Err((en, zh)) => return error(StatusCode::BAD_REQUEST, None, en, zh),
    };
    match state.engine.mp_login(&account, &code).await {
        Ok(login) => {
            Json(json!({ "openid": login.openid, "unionid": login.unionid })).into_response()
        }
        Err(engine::Error::WeChat(e)) => wechat_error(appid, &e),
        Err(e) => internal("recording the user", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let limiter = RateLimiter::new(10.0, 3.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("k", t0).is_ok());
        }
        let wait = limiter.check("k", t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        assert!(limiter.check("other", t0).is_ok(), "buckets are per key");
        assert!(limiter.check("k", t0 + Duration::from_millis(100)).is_ok());
        assert!(limiter.check("k", t0 + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn keys_from_either_header() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_key(&h), None);
        h.insert("x-api-key", HeaderValue::from_static(" wxp_1 "));
        assert_eq!(presented_key(&h).as_deref(), Some("wxp_1"));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer wxp_2"),
        );
        assert_eq!(presented_key(&h).as_deref(), Some("wxp_2"));
    }

    #[test]
    fn codes() {
        assert_eq!(
            parse_code(br#"{"code":"0a1B2c"}"#).ok().as_deref(),
            Some("0a1B2c")
        );
        for bad in [
            &b"nope"[..],
            br#"{}"#,
            br#"{"code":""}"#,
            br#"{"code":7}"#,
            br#"{"code":"a b"}"#,
        ] {
            assert!(parse_code(bad).is_err());
        }
    }
}

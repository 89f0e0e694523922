//! The Mini Program backend's JSON API: `POST /api/mp/{appid}/login` turns a `wx.login` code into the user's openid/unionid; `POST /api/mp/{appid}/subscriptions` records what the user answered to `wx.requestSubscribeMessage`.
//!
//! Authenticated by an API key created on the settings page (`Authorization: Bearer wxp_…` or
//! `X-Api-Key: wxp_…`). Rate limited by two in-process token buckets shared by both routes, one
//! per client IP (before the key is checked) and one per API key: the limits hold per
//! `wxpush serve` process, so N processes behind a load balancer allow up to N times as much.
//! Every answer is JSON; errors are `{"error": "…", "error_zh": "…", "errcode": N}` (errcode
//! only when WeChat gave one). The session key WeChat returns is never sent, stored or logged.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use serde_json::json;
use wechat::api::{ApiError, ErrorClass};

use app::auth::ssr::request_ip;
use app::state::AppState;

use super::security::{retry_after_secs, RateLimiter};

/// A login body is `{"code":"…"}`, a report a few template ids: anything much larger is not one.
const MAX_BODY: usize = 16 * 1024;

/// The routes, with `per_ip_per_sec` and `per_key_per_sec` requests per second (bursts of twice
/// that) from the configuration (`WXPUSH_MP_API_PER_IP_PER_SEC`, `WXPUSH_MP_API_PER_KEY_PER_SEC`).
pub fn routes(per_ip_per_sec: u32, per_key_per_sec: u32) -> Router<AppState> {
    let (ip, key) = (f64::from(per_ip_per_sec), f64::from(per_key_per_sec));
    let limits = Arc::new(Limits {
        per_ip: RateLimiter::new(ip, 2.0 * ip),
        per_key: RateLimiter::new(key, 2.0 * key),
    });
    Router::new()
        .route("/api/mp/{appid}/login", post(login))
        .route("/api/mp/{appid}/subscriptions", post(subscriptions))
        .layer(Extension(limits))
}

struct Limits {
    per_ip: RateLimiter,
    per_key: RateLimiter,
}

/// A JSON error answer. `Cache-Control: no-store` is added to every answer by [`no_store`].
fn error(status: StatusCode, errcode: Option<i64>, en: &str, zh: &str) -> Response {
    let mut body = json!({ "error": en, "error_zh": zh });
    if let Some(code) = errcode {
        body["errcode"] = json!(code);
    }
    (status, Json(body)).into_response()
}

/// A refusal from the engine: its words in both languages and the refusal itself as data
/// (`field`, `problem.code`, `problem.params`).
fn refused(refusal: &model::Refusal) -> Response {
    let body = json!({
        "error": refusal.message(model::Lang::En),
        "error_zh": refusal.message(model::Lang::Zh),
        "refusal": refusal,
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

fn with_retry_after(mut res: Response, wait: Duration) -> Response {
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs(wait).to_string()) {
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
    let bearer = super::bearer_token(headers);
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
    tracing::error!("Mini Program API: {what}: {e}");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        None,
        "Internal error: see the wxpush server log.",
        "服务器内部错误：请查看 wxpush 日志。",
    )
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

async fn login(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<Limits>>,
    Path(appid): Path<String>,
    req: Request<Body>,
) -> Response {
    no_store(match authorized(&state, &limits, &appid, req).await {
        Ok((account, body)) => login_answer(&state, &account, &appid, &body).await,
        Err(res) => res,
    })
}

async fn subscriptions(
    State(state): State<AppState>,
    Extension(limits): Extension<Arc<Limits>>,
    Path(appid): Path<String>,
    req: Request<Body>,
) -> Response {
    no_store(match authorized(&state, &limits, &appid, req).await {
        Ok((account, body)) => subscriptions_answer(&state, &account, &appid, &body).await,
        Err(res) => res,
    })
}

/// What every route checks first: the per-IP limit, the API key of this Mini Program, the
/// per-key limit, then the body's size. Returns the Mini Program and the body.
async fn authorized(
    state: &AppState,
    limits: &Limits,
    appid: &str,
    req: Request<Body>,
) -> Result<(engine::accounts::Account, Bytes), Response> {
    let (parts, body) = req.into_parts();
    let ip = request_ip(&parts, state.trust_forwarded_for);
    if let Err(wait) = limits.per_ip.check(&ip, Instant::now()) {
        return Err(too_many(wait));
    }
    let Some(key) = presented_key(&parts.headers) else {
        return Err(unauthorized(
            "Missing API key: send \"Authorization: Bearer <key>\" (or \"X-Api-Key: <key>\"); admins create keys under Settings.",
            "缺少 API 密钥：请在请求头中发送 \"Authorization: Bearer <密钥>\"（或 \"X-Api-Key: <密钥>\"）；密钥由管理员在「设置」中创建。",
        ));
    };
    let account = match state.engine.verify_mp_api_key(appid, &key).await {
        Ok(account) => account,
        Err(engine::Error::NotFound) => {
            return Err(error(
                StatusCode::NOT_FOUND,
                None,
                "No Mini Program with this AppID is configured in wxpush.",
                "wxpush 中没有配置该 AppID 的小程序。",
            ))
        }
        Err(engine::Error::InvalidCredentials) => {
            return Err(unauthorized(
                "Invalid API key: it is wrong, revoked, or belongs to another Mini Program.",
                "API 密钥无效：密钥错误、已被吊销，或属于其他小程序。",
            ))
        }
        Err(e) => return Err(internal("checking the API key", e)),
    };
    if let Err(wait) = limits.per_key.check(
        &engine::followers::mp_users::hash_api_key(&key),
        Instant::now(),
    ) {
        return Err(too_many(wait));
    }
    match to_bytes(body, MAX_BODY).await {
        Ok(bytes) => Ok((account, bytes)),
        Err(_) => Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            None,
            "The body is too large (at most 16 KiB): send only the fields this API documents.",
            "请求体过大（最多 16 KiB）：只需发送本接口说明的字段。",
        )),
    }
}

async fn login_answer(
    state: &AppState,
    account: &engine::accounts::Account,
    appid: &str,
    body: &[u8],
) -> Response {
    let code = match parse_code(body) {
        Ok(code) => code,
        Err((en, zh)) => return error(StatusCode::BAD_REQUEST, None, en, zh),
    };
    match state.engine.mp_login(account, &code).await {
        Ok(login) => {
            Json(json!({ "openid": login.openid, "unionid": login.unionid })).into_response()
        }
        Err(engine::Error::WeChat(e)) => wechat_error(appid, &e),
        Err(e) => internal("recording the user", e),
    }
}

/// A report: the openid and each template id with its status, or what is wrong (en, zh).
type Report = (String, Vec<(String, String)>);

/// Reads `{"openid":"…","result":{"errMsg":"requestSubscribeMessage:ok","<template id>":
/// "accept"|"reject"|"ban"|"filter",…}}`: `result` is exactly what the success callback of
/// `wx.requestSubscribeMessage` gives (`errMsg` is ignored).
fn parse_report(body: &[u8]) -> Result<Report, (String, String)> {
    let bad = |en: &str, zh: &str| (en.to_owned(), zh.to_owned());
    let Ok(serde_json::Value::Object(value)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return Err(bad(
            "The body must be a JSON object: {\"openid\":\"<the user's openid>\",\"result\":{<what wx.requestSubscribeMessage's success callback gave>}}.",
            "请求体必须是 JSON 对象：{\"openid\":\"<用户的 openid>\",\"result\":{<wx.requestSubscribeMessage 成功回调的结果>}}。",
        ));
    };
    let openid = match value.get("openid") {
        None | Some(serde_json::Value::Null) => {
            return Err(bad(
                "The body has no \"openid\": send the openid /api/mp/{appid}/login returned for this user.",
                "请求体缺少 \"openid\"：请发送 /api/mp/{appid}/login 为该用户返回的 openid。",
            ))
        }
        Some(serde_json::Value::String(s)) if model::openid::is_openid(s.trim()) => {
            s.trim().to_owned()
        }
        Some(_) => {
            return Err(bad(
                "\"openid\" must be the user's openid: 20–64 letters, digits, '-' or '_'.",
                "\"openid\" 必须是用户的 openid：20–64 位字母、数字、- 或 _。",
            ))
        }
    };
    let result = match value.get("result") {
        Some(serde_json::Value::Object(map)) => map,
        None | Some(serde_json::Value::Null) => {
            return Err(bad(
                "The body has no \"result\": send the object wx.requestSubscribeMessage's success callback gave, as it is.",
                "请求体缺少 \"result\"：请原样发送 wx.requestSubscribeMessage 成功回调得到的对象。",
            ))
        }
        Some(_) => {
            return Err(bad(
                "\"result\" must be the object wx.requestSubscribeMessage's success callback gave: {\"errMsg\":\"requestSubscribeMessage:ok\",\"<template id>\":\"accept\",…}.",
                "\"result\" 必须是 wx.requestSubscribeMessage 成功回调得到的对象：{\"errMsg\":\"requestSubscribeMessage:ok\",\"<模板 id>\":\"accept\",…}。",
            ))
        }
    };
    let mut results = Vec::new();
    for (template_id, status) in result {
        if template_id == "errMsg" {
            continue;
        }
        if template_id.is_empty()
            || template_id.len() > 128
            || !template_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            let shown: String = template_id.chars().take(64).collect();
            return Err((
                format!("\"result\" has the key \"{shown}\", which is not a template id (letters, digits, '-' and '_')."),
                format!("\"result\" 中的键 \"{shown}\" 不是模板 id（只含字母、数字、- 和 _）。"),
            ));
        }
        match status
            .as_str()
            .map(engine::subscriptions::ReportStatus::parse)
        {
            Some(Some(s)) => results.push((template_id.clone(), s.as_str().to_owned())),
            _ => {
                let shown: String = status.to_string().chars().take(64).collect();
                return Err((
                    format!("\"result.{template_id}\" must be \"accept\", \"reject\", \"ban\" or \"filter\", not {shown}."),
                    format!("\"result.{template_id}\" 必须是 \"accept\"、\"reject\"、\"ban\" 或 \"filter\"，而不是 {shown}。"),
                ));
            }
        }
    }
    if results.is_empty() {
        return Err(bad(
            "\"result\" holds no template id: send it as wx.requestSubscribeMessage gave it, e.g. {\"errMsg\":\"requestSubscribeMessage:ok\",\"<template id>\":\"accept\"}.",
            "\"result\" 中没有模板 id：请按 wx.requestSubscribeMessage 的结果原样发送，例如 {\"errMsg\":\"requestSubscribeMessage:ok\",\"<模板 id>\":\"accept\"}。",
        ));
    }
    let max = engine::subscriptions::MAX_REPORT_TEMPLATES;
    if results.len() > max {
        return Err((
            format!("\"result\" holds {} templates: at most {max} per report (WeChat asks for at most 3 per wx.requestSubscribeMessage call).", results.len()),
            format!("\"result\" 含 {} 个模板：每次最多 {max} 个（微信每次 wx.requestSubscribeMessage 最多 3 个）。", results.len()),
        ));
    }
    Ok((openid, results))
}

async fn subscriptions_answer(
    state: &AppState,
    account: &engine::accounts::Account,
    appid: &str,
    body: &[u8],
) -> Response {
    let (openid, results) = match parse_report(body) {
        Ok(report) => report,
        Err((en, zh)) => return error(StatusCode::BAD_REQUEST, None, &en, &zh),
    };
    match state
        .engine
        .record_subscribe_report(account, &openid, &results)
        .await
    {
        Ok(credits) => {
            let credits: serde_json::Map<String, serde_json::Value> = credits
                .into_iter()
                .map(|c| {
                    let credit = json!({
                        "one_time": c.credit.one_time,
                        "long_term": c.credit.long_term,
                        "refused": c.credit.refused,
                    });
                    (c.template_id, credit)
                })
                .collect();
            Json(json!({ "openid": openid, "credits": credits })).into_response()
        }
        Err(engine::Error::NotFound) => error(
            StatusCode::NOT_FOUND,
            None,
            &format!("Unknown openid: log the user in through /api/mp/{appid}/login first."),
            &format!("未知的 openid：请先通过 /api/mp/{appid}/login 为该用户登录。"),
        ),
        Err(engine::Error::Refused(refusal)) => refused(&refusal),
        Err(e) => internal("recording a subscription report", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn reports() {
        let openid = "oAbCdEfGhIjKlMnOpQrStUvWxYz0";
        let body = format!(
            r#"{{"openid":"{openid}","result":{{"errMsg":"requestSubscribeMessage:ok","T1_a-b":"accept","T2":"ban"}}}}"#
        );
        let (o, mut r) = parse_report(body.as_bytes()).unwrap();
        r.sort();
        assert_eq!(o, openid);
        assert_eq!(
            r,
            vec![
                (String::from("T1_a-b"), String::from("accept")),
                (String::from("T2"), String::from("ban"))
            ]
        );
        let cases: [(String, &str); 9] = [
            ("nope".into(), "JSON"),
            ("[]".into(), "JSON"),
            (r#"{"result":{"T":"accept"}}"#.into(), "\"openid\""),
            (
                r#"{"openid":"short","result":{"T":"accept"}}"#.into(),
                "\"openid\"",
            ),
            (format!(r#"{{"openid":"{openid}"}}"#), "\"result\""),
            (
                format!(r#"{{"openid":"{openid}","result":[]}}"#),
                "\"result\"",
            ),
            (
                format!(r#"{{"openid":"{openid}","result":{{"T":"yes"}}}}"#),
                "\"result.T\"",
            ),
            (
                format!(r#"{{"openid":"{openid}","result":{{"errMsg":"x"}}}}"#),
                "no template",
            ),
            (
                format!(r#"{{"openid":"{openid}","result":{{"a b":"accept"}}}}"#),
                "not a template id",
            ),
        ];
        for (body, needle) in cases {
            let (en, zh) = parse_report(body.as_bytes()).unwrap_err();
            assert!(en.contains(needle), "{body}: {en}");
            assert!(!zh.is_empty());
        }
        let many: Vec<String> = (0..11).map(|i| format!(r#""T{i}":"accept""#)).collect();
        let body = format!(r#"{{"openid":"{openid}","result":{{{}}}}}"#, many.join(","));
        assert!(parse_report(body.as_bytes())
            .unwrap_err()
            .0
            .contains("at most 10"));
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

//! `/wechat/callback/{appid}`: the URL pasted into the WeChat admin. GET verifies the URL;
//! POST takes pushes in plain, compat and safe mode (encrypted only, once the account has an
//! EncodingAESKey); a request is taken once and an event once (WeChat's retries). Follow and unfollow events update the
//! follower between syncs; a Mini Program's subscribe-message events update its users'
//! credits and the delivery of subscribe messages; other events are acknowledged.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use engine::accounts::{Account, AccountKind};
use engine::followers::callbacks::Admission;
use wechat::callback::{
    read_push, verify_url, AccountConfig, AesKey, CallbackPolicy, CallbackQuery, Event, PushError,
};

use app::auth::ssr::request_ip;
use app::state::AppState;

use super::security::{retry_after_secs, RateLimiter};

/// The callback's limits (`WXPUSH_CALLBACK_PER_SEC`, `WXPUSH_CALLBACK_MAX_BODY_KB`): a token
/// bucket per AppID and client IP, checked before anything else, and the largest body read.
#[derive(Clone)]
struct CallbackLimits {
    per_appid_ip: Arc<RateLimiter>,
    max_body_bytes: usize,
}

/// `GET`/`POST /wechat/callback/{appid}`, with `per_sec` requests per second per AppID and
/// client IP (bursts of twice that: WeChat pushes and retries in bursts) and bodies of at most
/// `max_body_kb` KiB (413 beyond; WeChat's pushes are a few KiB).
pub fn routes(per_sec: u32, max_body_kb: u32) -> Router<AppState> {
    let rate = f64::from(per_sec);
    let max_body_bytes = usize::try_from(max_body_kb)
        .unwrap_or(usize::MAX / 1024)
        .saturating_mul(1024);
    let limits = CallbackLimits {
        per_appid_ip: Arc::new(RateLimiter::new(rate, 2.0 * rate)),
        max_body_bytes,
    };
    Router::new()
        .route("/wechat/callback/{appid}", get(verify).post(receive))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(Extension(limits))
}

/// 429 with `Retry-After` when this AppID and address are over the rate (WeChat retries).
fn rate_limited(
    state: &AppState,
    limits: &CallbackLimits,
    appid: &str,
    parts: &axum::http::request::Parts,
) -> Option<Response> {
    let ip = request_ip(parts, state.trust_forwarded_for);
    let appid: String = appid.chars().take(64).collect();
    let wait = limits
        .per_appid_ip
        .check(&format!("{appid} {ip}"), Instant::now())
        .err()?;
    tracing::warn!(appid, ip, "callback rate limit reached");
    let mut res = (StatusCode::TOO_MANY_REQUESTS, "too many requests").into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after_secs(wait).to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    Some(res)
}

/// The account and its decoded EncodingAESKey, or the response that refuses the request.
async fn account_for(state: &AppState, appid: &str) -> Result<(Account, Option<AesKey>), Response> {
    let account = match state.engine.account_by_appid(appid).await {
        Ok(Some(a)) if a.callback_token.is_set() => a,
        Ok(_) => {
            return Err((
                StatusCode::NOT_FOUND,
                "no callback configured for this AppID",
            )
                .into_response())
        }
        Err(e) => {
            tracing::error!("callback: {e}");
            return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
        }
    };
    let key = if account.encoding_aes_key.is_set() {
        match AesKey::from_encoding_aes_key(account.encoding_aes_key.expose()) {
            Ok(k) => Some(k),
            Err(e) => {
                tracing::error!(appid, "callback: stored EncodingAESKey is unusable: {e}");
                return Err(StatusCode::SERVICE_UNAVAILABLE.into_response());
            }
        }
    } else {
        None
    };
    Ok((account, key))
}

fn policy(limits: &CallbackLimits) -> CallbackPolicy {
    CallbackPolicy {
        max_body_bytes: limits.max_body_bytes,
        ..CallbackPolicy::new(engine::now_ms() / 1000)
    }
}

async fn verify(
    State(state): State<AppState>,
    Extension(limits): Extension<CallbackLimits>,
    Path(appid): Path<String>,
    Query(q): Query<CallbackQuery>,
    parts: axum::http::request::Parts,
) -> Response {
    if let Some(res) = rate_limited(&state, &limits, &appid, &parts) {
        return res;
    }
    let (account, key) = match account_for(&state, &appid).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let config = AccountConfig {
        token: account.callback_token.expose(),
        appid: &account.appid,
        aes_key: key.as_ref(),
    };
    match verify_url(&q, &config, &policy(&limits)) {
        Ok(echostr) => echostr.into_response(),
        Err(e) => {
            tracing::warn!(appid, "callback URL verification refused: {e}");
            (StatusCode::FORBIDDEN, "signature check failed").into_response()
        }
    }
}

async fn receive(
    State(state): State<AppState>,
    Extension(limits): Extension<CallbackLimits>,
    Path(appid): Path<String>,
    Query(q): Query<CallbackQuery>,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Response {
    if let Some(res) = rate_limited(&state, &limits, &appid, &parts) {
        return res;
    }
    let (account, key) = match account_for(&state, &appid).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let config = AccountConfig {
        token: account.callback_token.expose(),
        appid: &account.appid,
        aes_key: key.as_ref(),
    };
    let push = match read_push(&q, &body, &config, &policy(&limits)) {
        Ok(p) => p,
        Err(PushError::Refused(e)) => {
            tracing::warn!(appid, "callback refused: {e}");
            return (StatusCode::FORBIDDEN, "refused").into_response();
        }
        Err(PushError::Unusable(why)) => {
            // Signed by WeChat, but no retry can make it applicable: stop the retries.
            tracing::warn!(appid, "callback push acknowledged but not applied: {why}");
            return "success".into_response();
        }
    };
    let ticket = match state
        .engine
        .admit_push(account.id, &push.nonce_key, push.dedup_key.as_deref())
        .await
    {
        Ok(Admission::Fresh(ticket)) => ticket,
        Ok(Admission::Replayed) => {
            tracing::warn!(
                appid,
                nonce = push.nonce_key,
                "callback refused: a replayed request"
            );
            return (StatusCode::FORBIDDEN, "refused").into_response();
        }
        Ok(Admission::Duplicate) => {
            tracing::debug!(appid, event = ?push.dedup_key, "callback push already applied");
            return "success".into_response();
        }
        Err(e) => {
            tracing::error!(appid, "callback: {e}");
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    };
    let event = push.event;
    let applied = match &event {
        Event::Subscribe {
            from_user,
            create_time,
            ..
        } => {
            state
                .engine
                .apply_follow_event(account.id, from_user, true, *create_time)
                .await
        }
        Event::Unsubscribe {
            from_user,
            create_time,
            ..
        } => {
            state
                .engine
                .apply_follow_event(account.id, from_user, false, *create_time)
                .await
        }
        Event::SubscribeMsgPopupEvent { .. }
        | Event::SubscribeMsgChangeEvent { .. }
        | Event::SubscribeMsgSentEvent { .. }
            if account.kind == AccountKind::Mp =>
        {
            apply_subscribe_event(&state, &account, &event).await
        }
        Event::TemplateSendJobFinish { msg_id, status, .. } => state
            .engine
            .apply_receipt(
                account.id,
                *msg_id,
                engine::jobs::delivery_of_status(status),
            )
            .await
            .map(|_| ()),
        _ => Ok(()),
    };
    if let Err(e) = applied {
        // WeChat retries when we do not answer in time or fail; let it.
        tracing::error!(appid, "callback event not applied: {e}");
        if let Err(e) = state.engine.forget_push(&ticket).await {
            tracing::error!(appid, "callback: {e}");
        }
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    // WeChat expects "success" (or an empty body) for events it needs no reply to.
    "success".into_response()
}

/// A Mini Program's subscribe-message event: the credits first, then each sent item's delivery
/// on the job row that got its msgid. A failure is returned so WeChat retries; what was already
/// applied is not applied twice (the ledger and the receipts are idempotent).
async fn apply_subscribe_event(
    state: &AppState,
    mp: &Account,
    event: &Event,
) -> engine::Result<()> {
    state.engine.apply_subscribe_event(mp, event).await?;
    if let Event::SubscribeMsgSentEvent { items, .. } = event {
        for item in items {
            state
                .engine
                .apply_receipt(
                    mp.id,
                    item.msg_id,
                    engine::jobs::Delivery::from_subscribe(item.error_code, &item.error_status),
                )
                .await?;
        }
    }
    Ok(())
}

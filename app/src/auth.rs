//! Login, logout, first-admin setup and the language switch, as server functions. Each one does its
//! own checks: they are public HTTP endpoints.

use leptos::prelude::*;

use crate::error::AppError;

/// Session keys.
pub const SESSION_USER: &str = "uid";
pub const SESSION_LANG: &str = "lang";

#[server(prefix = "/api", endpoint = "login")]
pub async fn login(
    username: String,
    password: String,
    next: Option<String>,
) -> Result<String, AppError> {
    use ssr::*;
    let state = state()?;
    let session = session().await?;
    if username.trim().is_empty() || password.is_empty() {
        return fail(AppError::InvalidCredentials);
    }
    let ip = client_ip(&state);
    let username = username.trim();
    let device = device_cookie();
    // A browser this staff member logged in from before is throttled on its own failures only:
    // nobody else's failed attempts can keep them out of it.
    let trusted = state
        .engine
        .device_trusted(username, device.as_deref())
        .await
        .map_err(internal)?;
    // The per-IP and per-username rate limits come before the password is hashed.
    if !trusted {
        if let Some(wait) = login_rate_limited(&ip, username) {
            return throttled(wait);
        }
    }
    let source = engine::staff::auth::LoginSource {
        ip: &ip,
        device_token: device.as_deref(),
    };
    match state.engine.login_from(username, &password, &source).await {
        Ok(logged_in) => {
            if let Some(token) = &logged_in.new_device_token {
                set_device_cookie(token, state.cookie_secure);
            }
            let staff = logged_in.staff;
            start_session(&session, staff.id, staff.lang).await?;
            Ok(finish_with_redirect(&safe_next(next.as_deref())))
        }
        Err(engine::Error::Throttled { retry_after_secs }) => {
            throttled(u64::try_from(retry_after_secs).unwrap_or(1))
        }
        Err(e) => fail(from_engine(e)),
    }
}

#[server(prefix = "/api", endpoint = "logout")]
pub async fn logout() -> Result<String, AppError> {
    use ssr::*;
    let state = state()?;
    let session = session().await?;
    if let Some(user) = current_staff(&state, &session).await? {
        let actor = actor(&user, &state);
        state
            .engine
            .audit(
                &actor,
                model::AuditAction::Logout,
                &user.username,
                Default::default(),
            )
            .await
            .map_err(internal)?;
    }
    session.flush().await.map_err(internal)?;
    Ok(finish_with_redirect("/login"))
}

/// Whether a setup link may still create the first admin (public: it reveals nothing else).
#[server(prefix = "/api", endpoint = "setup_status")]
pub async fn setup_status(token: String) -> Result<bool, AppError> {
    use ssr::*;
    state()?
        .engine
        .setup_token_valid(&token)
        .await
        .map_err(internal)
}

#[server(prefix = "/api", endpoint = "setup_admin")]
pub async fn setup_admin(
    token: String,
    username: String,
    password: String,
    password_confirm: String,
) -> Result<String, AppError> {
    use ssr::*;
    let state = state()?;
    let session = session().await?;
    if let Err(e) = crate::validate::new_account(&username, &password, Some(&password_confirm)) {
        return fail(AppError::Refused(e));
    }
    let ip = client_ip(&state);
    match state
        .engine
        .complete_setup(&token, &username, &password, &ip)
        .await
    {
        Ok(staff) => {
            start_session(&session, staff.id, staff.lang).await?;
            Ok(finish_with_redirect("/"))
        }
        Err(e) => fail(from_engine(e)),
    }
}

/// Switches the interface language: remembered for the staff member, or for this browser's
/// session before login.
#[server(prefix = "/api", endpoint = "set_language")]
pub async fn set_language(lang: String) -> Result<String, AppError> {
    use ssr::*;
    let Some(parsed) = crate::i18n::Lang::parse(&lang) else {
        return fail(AppError::Refused(crate::validate::Refusal {
            field: "lang".into(),
            problem: crate::validate::Problem::Required,
        }));
    };
    let state = state()?;
    let session = session().await?;
    if let Some(user) = current_staff(&state, &session).await? {
        state
            .engine
            .set_staff_lang(&actor(&user, &state), user.id, parsed)
            .await
            .map_err(internal)?;
    }
    session
        .insert(SESSION_LANG, parsed.code())
        .await
        .map_err(internal)?;
    Ok(parsed.code().to_owned())
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Server-side helpers: session access, role checks, client address, status codes.

    use std::net::SocketAddr;

    use axum::extract::ConnectInfo;
    use engine::{Role, Staff};
    use http::request::Parts;
    use http::StatusCode;
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;
    use tower_sessions::Session;

    use super::{SESSION_LANG, SESSION_USER};
    use crate::dto::{CurrentUser, SessionInfo};
    use crate::error::AppError;
    use crate::i18n::Lang;
    use crate::state::AppState;

    pub fn state() -> Result<AppState, AppError> {
        use_context::<AppState>().ok_or(AppError::Internal)
    }

    pub async fn session() -> Result<Session, AppError> {
        leptos_axum::extract::<Session>().await.map_err(internal)
    }

    pub fn internal(e: impl std::fmt::Display) -> AppError {
        tracing::error!("server function failed: {e}");
        AppError::Internal
    }

    pub fn from_engine(e: engine::Error) -> AppError {
        match e {
            engine::Error::InvalidCredentials => AppError::InvalidCredentials,
            engine::Error::AccountDisabled => AppError::AccountDisabled,
            engine::Error::Throttled { retry_after_secs } => {
                AppError::Throttled { retry_after_secs }
            }
            engine::Error::SetupClosed => AppError::SetupClosed,
            engine::Error::Conflict(what) => AppError::Conflict(what),
            engine::Error::NotFound => AppError::NotFound,
            engine::Error::InvalidPreset(issues) => AppError::InvalidPreset(issues),
            engine::Error::NoTestOpenid => AppError::NoTestOpenid,
            engine::Error::TemplateRemoved => AppError::TemplateRemoved,
            engine::Error::Refused(refusal) => AppError::Refused(refusal),
            // Explained in the operator's words wherever it happens, never "internal error".
            engine::Error::WeChat(e) => AppError::WeChat {
                errcode: e.code(),
                explain_zh: e.explain(true),
                explain_en: e.explain(false),
            },
            other => internal(other),
        }
    }

    /// A plain HTML form post (no JavaScript) asks for text/html; a hydrated page asks for JSON.
    fn is_form_post() -> bool {
        use_context::<Parts>()
            .and_then(|p| p.headers.get(http::header::ACCEPT).cloned())
            .and_then(|v| v.to_str().map(|s| s.contains("text/html")).ok())
            .unwrap_or(false)
    }

    /// Returns `err`, with its HTTP status for JSON clients. A plain form post keeps the redirect
    /// back to the form (the error travels in the URL), so its status is left alone.
    pub fn fail<T>(err: AppError) -> Result<T, AppError> {
        if !is_form_post() {
            if let Some(opts) = use_context::<ResponseOptions>() {
                opts.set_status(
                    StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                );
            }
        }
        Err(err)
    }

    /// Sends a form post on to `path`; a hydrated page gets `path` back and loads it itself, so
    /// the whole page is rendered again for the new session.
    pub fn finish_with_redirect(path: &str) -> String {
        // `leptos_axum::redirect` panics on a path that is not a valid header value.
        let path = if http::HeaderValue::from_str(path).is_ok() {
            path
        } else {
            "/"
        };
        if is_form_post() {
            leptos_axum::redirect(path);
        }
        path.to_owned()
    }

    /// Where to go after login: `next` when it is a path of this site (parsed and normalised
    /// as a browser would, see `model::path::local_redirect`), else the dashboard.
    pub fn safe_next(next: Option<&str>) -> String {
        next.and_then(model::path::local_redirect)
            .filter(|p| p != "/login" && !p.starts_with("/login?"))
            .unwrap_or_else(|| "/".to_owned())
    }

    /// The staff member as the audit log names them, with this request's address.
    pub fn actor(staff: &Staff, state: &AppState) -> engine::audit::Actor {
        engine::audit::Actor::staff(staff.id, &staff.username, &client_ip(state))
    }

    /// The client address: the socket peer, or the last `X-Forwarded-For` hop when configured.
    pub fn client_ip(state: &AppState) -> String {
        let Some(parts) = use_context::<Parts>() else {
            return String::new();
        };
        request_ip(&parts, state.trust_forwarded_for)
    }

    pub fn request_ip(parts: &Parts, trust_forwarded_for: bool) -> String {
        if trust_forwarded_for {
            let forwarded = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .rfind(|s| !s.is_empty());
            if let Some(ip) = forwarded {
                return ip.to_owned();
            }
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_default()
    }

    /// The cookie that makes a browser a trusted device of the staff who logged in from it.
    pub const DEVICE_COOKIE: &str = "wxpush_device";
    /// How long the device cookie lives (the engine forgets devices unused for as long).
    const DEVICE_COOKIE_DAYS: i64 = 180;

    /// The device cookie this request carries, if any.
    pub fn device_cookie() -> Option<String> {
        let parts = use_context::<Parts>()?;
        parts
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(tower_sessions::cookie::Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == DEVICE_COOKIE)
            .map(|c| c.value().to_owned())
    }

    /// Gives the browser its device cookie (HttpOnly, SameSite=Strict, Secure when the
    /// session cookie is).
    pub fn set_device_cookie(token: &str, secure: bool) {
        let cookie = tower_sessions::cookie::Cookie::build((DEVICE_COOKIE, token.to_owned()))
            .path("/")
            .http_only(true)
            .same_site(tower_sessions::cookie::SameSite::Strict)
            .secure(secure)
            .max_age(tower_sessions::cookie::time::Duration::days(
                DEVICE_COOKIE_DAYS,
            ))
            .build();
        if let (Some(opts), Ok(v)) = (
            use_context::<ResponseOptions>(),
            http::HeaderValue::from_str(&cookie.to_string()),
        ) {
            opts.append_header(http::header::SET_COOKIE, v);
        }
    }

    /// Starts an authenticated session with a fresh id (no session fixation).
    pub async fn start_session(session: &Session, id: i64, lang: Lang) -> Result<(), AppError> {
        session.cycle_id().await.map_err(internal)?;
        session.insert(SESSION_USER, id).await.map_err(internal)?;
        session
            .insert(SESSION_LANG, lang.code())
            .await
            .map_err(internal)?;
        Ok(())
    }

    /// The staff member behind this session, if any and still active.
    pub async fn current_staff(
        state: &AppState,
        session: &Session,
    ) -> Result<Option<Staff>, AppError> {
        let Some(id) = session.get::<i64>(SESSION_USER).await.map_err(internal)? else {
            return Ok(None);
        };
        state.engine.active_staff(id).await.map_err(internal)
    }

    /// The login rate limits (per client IP, then per username), installed by the server as a
    /// request extension: given the IP and the username, the seconds to wait, or `None`.
    #[derive(Clone)]
    #[allow(clippy::type_complexity)]
    pub struct LoginRateLimit(pub std::sync::Arc<dyn Fn(&str, &str) -> Option<u64> + Send + Sync>);

    /// Whether this login attempt is over a rate limit, and for how many seconds.
    pub fn login_rate_limited(ip: &str, username: &str) -> Option<u64> {
        let parts = use_context::<Parts>()?;
        let limit = parts.extensions.get::<LoginRateLimit>()?;
        (limit.0)(ip, username)
    }

    /// 429 with `Retry-After` (the login page says how long to wait).
    pub fn throttled<T>(retry_after_secs: u64) -> Result<T, AppError> {
        let secs = retry_after_secs.max(1);
        if let Some(opts) = use_context::<ResponseOptions>() {
            if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
                opts.insert_header(http::header::RETRY_AFTER, v);
            }
        }
        fail(AppError::Throttled {
            retry_after_secs: i64::try_from(secs).unwrap_or(i64::MAX),
        })
    }

    /// For every server function that needs a login: the staff member, or 401.
    pub async fn require_staff() -> Result<Staff, AppError> {
        let state = state()?;
        let session = session().await?;
        match current_staff(&state, &session).await? {
            Some(s) => Ok(s),
            None => fail(AppError::Unauthenticated),
        }
    }

    /// For admin-only server functions: the admin, 401 without a login, 403 for an operator.
    pub async fn require_admin() -> Result<Staff, AppError> {
        let staff = require_staff().await?;
        if staff.role == Role::Admin {
            Ok(staff)
        } else {
            fail(AppError::Forbidden)
        }
    }

    /// What the page renders with: the user (if any) and the language.
    pub async fn session_info(
        state: &AppState,
        session: &Session,
    ) -> Result<SessionInfo, AppError> {
        let user = current_staff(state, session).await?;
        let lang = match &user {
            Some(s) => Some(s.lang),
            None => session
                .get::<String>(SESSION_LANG)
                .await
                .map_err(internal)?
                .and_then(|l| Lang::parse(&l)),
        }
        .unwrap_or_default();
        Ok(SessionInfo {
            user: user.map(|s| CurrentUser {
                id: s.id,
                username: s.username,
                role: s.role,
            }),
            lang,
        })
    }
}

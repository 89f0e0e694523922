//! The page guard: resolves the session once per request for the renderer, and sends anyone not
//! logged in to `/login` before a protected page renders.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

use app::auth::ssr::session_info;
use app::state::AppState;
use app::url::encode_component;

/// Paths any visitor may load. Server functions under /api check the session themselves, and
/// `/metrics` its bearer token.
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/login"
            | "/setup"
            | "/healthz"
            | "/readyz"
            | "/metrics"
            | "/favicon.ico"
            | "/favicon.svg"
            | "/robots.txt"
    ) || path.starts_with("/api/")
        || path.starts_with("/pkg/")
        || path.starts_with("/wechat/")
}

pub async fn guard(State(state): State<AppState>, mut req: Request<Body>, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let is_page_read = matches!(*req.method(), Method::GET | Method::HEAD);
    // `/pkg/../staff` is `/staff` to a browser: decide (and serve) only resolved paths, so a
    // public prefix cannot carry a protected page past this guard.
    if let Some(resolved) = model::path::resolve_dot_segments(&path) {
        let target = match req.uri().query() {
            Some(q) => format!("{resolved}?{q}"),
            None => resolved,
        };
        return match HeaderValue::from_str(&target) {
            Ok(location) => (
                axum::http::StatusCode::PERMANENT_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response(),
            Err(_) => axum::http::StatusCode::BAD_REQUEST.into_response(),
        };
    }
    if !is_page_read
        || path.starts_with("/api/")
        || path.starts_with("/pkg/")
        || path.starts_with("/wechat/")
    {
        return next.run(req).await;
    }
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        return next.run(req).await;
    };
    let info = match session_info(&state, &session).await {
        Ok(info) => info,
        Err(_) => {
            return (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "session store unavailable",
            )
                .into_response()
        }
    };
    let logged_in = info.user.is_some();
    if path == "/login" && logged_in {
        return Redirect::to("/").into_response();
    }
    if !logged_in && !is_public(&path) {
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let login = if target == "/" {
            "/login".to_owned()
        } else {
            format!("/login?next={}", encode_component(target))
        };
        return Redirect::to(&login).into_response();
    }
    req.extensions_mut().insert(info);
    let mut res = next.run(req).await;
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_paths() {
        assert!(is_public("/login"));
        assert!(is_public("/setup"));
        assert!(is_public("/pkg/wxpush.js"));
        assert!(!is_public("/"));
        assert!(!is_public("/followers"));
        assert!(!is_public("/loginx"));
        assert!(is_public("/wechat/callback/wx5e1a00000000a001"));
        assert!(!is_public("/events/sync"));
    }

    #[test]
    fn next_is_encoded() {
        assert_eq!(
            encode_component("/followers?tag=1&x=y"),
            "/followers%3Ftag%3D1%26x%3Dy"
        );
    }
}

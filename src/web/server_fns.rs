//! Server-function requests and answers: the arguments are kept so that a malformed one can be
//! named (`app::args`), every refusal travels with its own status however the function returned
//! it, and a server error never echoes internals.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use app::args::RequestBody;
use app::error::AppError;

use crate::server::MAX_BODY_BYTES;

/// Error answers are a few hundred bytes of JSON.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// `/api/<name>`: a server function (the Mini Program API lives under `/api/mp/`).
fn is_server_fn(path: &str) -> bool {
    path.strip_prefix("/api/")
        .is_some_and(|name| !name.is_empty() && !name.contains('/'))
}

pub async fn server_fn_errors(req: Request<Body>, next: Next) -> Response {
    if !is_server_fn(req.uri().path()) {
        return next.run(req).await;
    }
    let too_large = || {
        let err = AppError::PayloadTooLarge {
            max_bytes: MAX_BODY_BYTES,
        };
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_vec(&err).unwrap_or_default(),
        )
            .into_response()
    };
    // From the announced length, before anything reads the body.
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if announced.is_some_and(|n| n > MAX_BODY_BYTES) {
        return too_large();
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY_BYTES).await else {
        return too_large();
    };
    let mut req = Request::from_parts(parts, Body::from(bytes.clone()));
    req.extensions_mut().insert(RequestBody(bytes));
    let res = next.run(req).await;
    if !res.status().is_server_error() {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let err = match to_bytes(body, MAX_ERROR_BODY).await {
        Ok(b) => serde_json::from_slice::<AppError>(&b).unwrap_or(AppError::Internal),
        Err(_) => AppError::Internal,
    };
    // The browser's own words for a failed request are never the server's.
    let err = match err {
        AppError::Transport(_) => AppError::Internal,
        other => other,
    };
    parts.status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&err).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_fn_paths() {
        assert!(is_server_fn("/api/delete_account"));
        assert!(!is_server_fn("/api/"));
        assert!(!is_server_fn("/api/mp/wx123/login"));
        assert!(!is_server_fn("/followers"));
    }
}

//! `GET /metrics`: Prometheus text for a scraper holding `WXPUSH_METRICS_TOKEN` (off without it).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use app::state::AppState;

use crate::config::MetricsToken;

/// The token `/metrics` requires, `None` when metrics are off.
#[derive(Clone, Debug)]
pub struct MetricsAccess(pub Option<MetricsToken>);

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

pub async fn metrics(
    State(state): State<AppState>,
    Extension(MetricsAccess(token)): Extension<MetricsAccess>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = token else {
        return plain(
            StatusCode::NOT_FOUND,
            "metrics are off: set WXPUSH_METRICS_TOKEN and scrape with \"Authorization: Bearer <token>\"\n",
        );
    };
    if !super::bearer_token(&headers).is_some_and(|presented| token.matches(presented)) {
        let mut res = plain(
            StatusCode::UNAUTHORIZED,
            "send \"Authorization: Bearer <WXPUSH_METRICS_TOKEN>\"\n",
        );
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"wxpush metrics\""),
        );
        return res;
    }
    match state.engine.render_metrics().await {
        Ok(text) => (
            [(header::CONTENT_TYPE, engine::metrics::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the metrics gauges");
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "database unreachable: metrics unavailable\n",
            )
        }
    }
}

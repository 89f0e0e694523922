//! Server-sent events: the live progress of the current account's follower sync. Not a server
//! function, so it checks the session itself.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tower_sessions::Session;

use app::auth::ssr::current_staff;
use app::followers::ssr::{current_oa_of, progress};
use app::state::AppState;

/// How often a running sync's progress is sent.
const TICK: Duration = Duration::from_millis(400);

/// `GET /events/sync`: one `data:` line per tick (see `SyncProgress::encode`); the stream ends
/// after the sync does.
pub async fn sync_events(State(state): State<AppState>, session: Session) -> Response {
    if !matches!(current_staff(&state, &session).await, Ok(Some(_))) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Ok(Some(account)) = current_oa_of(&state, &session).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let stream = futures::stream::unfold(
        (state, account.id, true, false),
        |(state, id, first, ended)| async move {
            if ended {
                return None;
            }
            if !first {
                tokio::time::sleep(TICK).await;
            }
            let p = progress(&state, id).await.ok().flatten();
            let ended = p.as_ref().is_none_or(|p| p.is_finished());
            let event = Event::default().data(p.map(|p| p.encode()).unwrap_or_default());
            Some((Ok::<_, Infallible>(event), (state, id, false, ended)))
        },
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

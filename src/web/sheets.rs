//! `POST /jobs/sheets`: the upload of a spreadsheet of per-person values (multipart, field
//! `file`). A browser's form is sent back to 新建发送任务 with the upload (or the refusal) in the
//! URL, so it works without JavaScript; a client asking for JSON gets JSON and a 4xx status.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, State};
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use model::sheet::SHEET_BYTES_MAX;
use model::{Problem, Refusal};
use tower_sessions::Session;

use app::auth::ssr::current_staff;
use app::followers::ssr::current_oa_of;
use app::state::AppState;
use app::url::encode_component;

/// Room for the multipart framing around the largest file read.
const BODY_LIMIT: usize = SHEET_BYTES_MAX + 64 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/jobs/sheets", post(upload))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json") && !v.contains("text/html"))
}

/// Back to 新建发送任务 (a browser) or a JSON answer.
fn answer(json: bool, result: Result<(model::sheet::SheetSummary, String), Refusal>) -> Response {
    match (json, result) {
        (true, Ok((summary, _))) => (StatusCode::CREATED, Json(summary)).into_response(),
        (true, Err(refusal)) => {
            let status = match refusal.problem {
                Problem::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let body = serde_json::json!({
                "refusal": refusal,
                "message": refusal.message(model::Lang::Zh),
                "message_en": refusal.message(model::Lang::En),
            });
            (status, Json(body)).into_response()
        }
        (false, result) => {
            let target = match result {
                Ok((summary, preset)) => format!("/jobs/new?sheet={}&preset={preset}", summary.id),
                Err(refusal) => format!(
                    "/jobs/new?sheet_refused={}",
                    encode_component(&serde_json::to_string(&refusal).unwrap_or_default())
                ),
            };
            match HeaderValue::from_str(&target) {
                Ok(location) => {
                    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
                }
                Err(_) => StatusCode::BAD_REQUEST.into_response(),
            }
        }
    }
}

async fn upload(State(state): State<AppState>, session: Session, req: Request<Body>) -> Response {
    let json = wants_json(req.headers());
    let Ok(Some(staff)) = current_staff(&state, &session).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok(Some(account)) = current_oa_of(&state, &session).await else {
        return (StatusCode::NOT_FOUND, "no Official Account").into_response();
    };
    let too_large = || Refusal::new("file", Problem::TooLarge(SHEET_BYTES_MAX));
    // A declared size above the limit is refused before a byte of the body is read.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT) {
        return answer(json, Err(too_large()));
    }
    let mut multipart = match Multipart::from_request(req, &state).await {
        Ok(m) => m,
        Err(_) => return answer(json, Err(Refusal::new("file", Problem::Malformed))),
    };
    let mut file: Option<(String, Vec<u8>)> = None;
    let mut preset = String::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => match field.name() {
                Some("file") => {
                    let name = field.file_name().unwrap_or("").to_owned();
                    match field.bytes().await {
                        Ok(bytes) => file = Some((name, bytes.to_vec())),
                        // The body limit cut the stream: the file is too large.
                        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                            return answer(json, Err(too_large()))
                        }
                        Err(_) => {
                            return answer(json, Err(Refusal::new("file", Problem::Malformed)))
                        }
                    }
                }
                Some("preset") => {
                    let text = field.text().await.unwrap_or_default();
                    preset = text
                        .trim()
                        .parse::<i64>()
                        .map(|p| p.to_string())
                        .unwrap_or_default();
                }
                _ => {}
            },
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return answer(json, Err(too_large()))
            }
            Err(_) => return answer(json, Err(Refusal::new("file", Problem::Malformed))),
        }
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return answer(json, Err(Refusal::new("file", Problem::Required)));
    };
    match state
        .engine
        .upload_sheet(&account, &staff.username, &name, &bytes)
        .await
    {
        Ok(summary) => answer(json, Ok((summary, preset))),
        Err(engine::Error::Refused(refusal)) => answer(json, Err(refusal)),
        Err(engine::Error::NotFound) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => {
            tracing::error!("sheet upload: {e}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

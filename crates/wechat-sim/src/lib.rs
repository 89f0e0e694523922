//! A WeChat API simulator that behaves like WeChat, quirks and errors included.

mod api;
mod cli;
mod clock;
mod config;
mod control;
mod error;
mod errors;
mod faults;
mod followers;
mod handle;
mod ids;
mod ledger;
mod mp;
mod ops;
mod quota;
mod receipts;
mod rules;
mod send;
mod sns;
mod state;
mod subscribe;
mod tags;
mod templates;
mod tokens;
mod users;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};

pub use cli::{run_cli, SimArgs};
pub use config::{
    default_mp_pages, demo_config, ApiLimits, CallbackConfig, CallbackMode, ErrorScope,
    FaultConfig, ReceiptConfig, SimConfig,
};
pub use error::SimError;
pub use errors::{canonical_text, WxError};
pub use handle::{start, SimHandle};
pub use ledger::{Channel, LedgerSummary, SentMessage, DEDUP_WINDOW_MS};
pub use ops::{FollowerView, MpUserView, NewMpTemplate, NewOaTemplate, Truth};
pub use quota::Api;
pub use receipts::ReceiptStats;
pub use state::{AccountKind, SimState};
pub use subscribe::{Credit, CreditKind, SubscribeAnswer};
pub use templates::{KeywordEnum, MpTemplate, OaTemplate};

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({ "error": "no such endpoint in wechat-sim" })),
    )
        .into_response()
}

/// The whole simulator (WeChat endpoints and `/sim/` control API) as a router, for mounting in
/// another axum app. Create the state with [`SimState::new`].
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .merge(api::routes(Arc::clone(&state)))
        .merge(control::routes())
        .fallback(not_found)
        .with_state(state)
}

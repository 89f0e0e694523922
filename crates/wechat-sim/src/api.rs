//! The WeChat endpoints, at the same paths as on api.weixin.qq.com, behind the fault middleware.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::errors::WxError;
use crate::state::{parse_params, AccountKind, SimState};
use crate::tokens::authorize;
use crate::{faults, send, sns, subscribe, tags, templates, tokens, users};

/// A GET on a POST-only endpoint: 43002 `require POST method`.
async fn require_post() -> Response {
    WxError::new(43002).into_response()
}

/// `uniform_send` was withdrawn on 2023-09-20: every call → 45109.
async fn uniform_send(State(state): State<Arc<SimState>>, RawQuery(q): RawQuery) -> Response {
    let params = parse_params(q.as_deref());
    if let Err(e) = authorize(&state, &params, AccountKind::Mp) {
        if e.code != 48001 {
            return e.into_response();
        }
    }
    WxError::new(45109).into_response()
}

/// The WeChat routes with fault injection.
pub fn routes(state: Arc<SimState>) -> Router<Arc<SimState>> {
    Router::new()
        .route("/cgi-bin/token", get(tokens::token).post(tokens::token))
        .route(
            "/cgi-bin/stable_token",
            post(tokens::stable_token).get(require_post),
        )
        .route(
            "/cgi-bin/user/get",
            get(users::user_get).post(users::user_get),
        )
        .route(
            "/cgi-bin/user/info",
            get(users::user_info_one).post(users::user_info_one),
        )
        .route(
            "/cgi-bin/user/info/batchget",
            post(users::user_info_batch).get(require_post),
        )
        .route("/cgi-bin/tags/get", get(tags::tags_get))
        .route(
            "/cgi-bin/template/get_all_private_template",
            get(templates::get_all_private_template).post(templates::get_all_private_template),
        )
        .route(
            "/cgi-bin/template/del_private_template",
            post(templates::del_private_template).get(require_post),
        )
        .route(
            "/cgi-bin/message/template/send",
            post(send::template_send).get(require_post),
        )
        .route(
            "/cgi-bin/message/subscribe/send",
            post(subscribe::subscribe_send).get(require_post),
        )
        .route(
            "/cgi-bin/message/wxopen/template/uniform_send",
            post(uniform_send).get(require_post),
        )
        .route(
            "/wxaapi/newtmpl/gettemplate",
            get(templates::get_mp_templates),
        )
        .route(
            "/sns/jscode2session",
            get(sns::jscode2session).post(sns::jscode2session),
        )
        .layer(from_fn_with_state(state, faults::inject))
}

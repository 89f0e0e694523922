//! Follower endpoints: `cgi-bin/user/get` (pages of 10,000, last-page quirk), `user/info`,
//! `user/info/batchget` (≤ 100).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::errors::{wx_ok, WxError};
use crate::followers::{user_info, Cursor, UserInfoEntry, PAGE};
use crate::quota::Api;
use crate::state::{parse_params, AccountKind, SimState};
use crate::tokens::authorize;

#[derive(Serialize)]
struct OpenidList {
    openid: Vec<String>,
}

#[derive(Serialize)]
struct FollowerPage {
    total: u64,
    count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<OpenidList>,
    next_openid: String,
}

fn guard(state: &SimState, query: Option<&str>, api: Api) -> Result<crate::state::Params, WxError> {
    let params = parse_params(query);
    authorize(state, &params, AccountKind::Oa)?;
    if !state
        .quotas
        .take(AccountKind::Oa, api, state.clock.now_ms())
    {
        return Err(WxError::new(45009));
    }
    Ok(params)
}

/// `GET cgi-bin/user/get?next_openid=`: `next_openid` is the last openid of the page even on
/// the last page; past the end: `{"total":N,"count":0,"next_openid":""}` without `data`.
pub async fn user_get(State(state): State<Arc<SimState>>, RawQuery(q): RawQuery) -> Response {
    let params = match guard(&state, q.as_deref(), Api::UserGet) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let pop = &state.population;
    let indices = {
        let subs = state.subs.read();
        let cursor = match params.get("next_openid").map(String::as_str) {
            None | Some("") => Some(Cursor::Base(0)),
            Some(openid) => pop.index_of(openid).and_then(|i| subs.cursor_after(pop, i)),
        };
        let Some(cursor) = cursor else {
            return WxError::new(40003).into_response();
        };
        (subs.current, subs.page(pop, cursor, PAGE))
    };
    let (total, indices) = indices;
    let openids: Vec<String> = indices.iter().map(|&i| pop.openid(i)).collect();
    let page = FollowerPage {
        total,
        count: openids.len(),
        next_openid: openids.last().cloned().unwrap_or_default(),
        data: (!openids.is_empty()).then_some(OpenidList { openid: openids }),
    };
    wx_ok(&page)
}

/// `GET cgi-bin/user/info?openid=&lang=`.
pub async fn user_info_one(State(state): State<Arc<SimState>>, RawQuery(q): RawQuery) -> Response {
    let params = match guard(&state, q.as_deref(), Api::UserInfo) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let openid = params.get("openid").map(String::as_str).unwrap_or_default();
    let Some(index) = state.population.index_of(openid) else {
        return WxError::new(40003).into_response();
    };
    let entry = user_info(&state.population, &state.subs.read(), index);
    wx_ok(&entry)
}

#[derive(Serialize)]
struct BatchResponse {
    user_info_list: Vec<UserInfoEntry>,
}

/// `POST cgi-bin/user/info/batchget` `{"user_list":[{"openid":…,"lang":…}]}`: 1..=100
/// entries (else 40032); any openid not of this OA fails the whole call with 40003.
pub async fn user_info_batch(
    State(state): State<Arc<SimState>>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    if let Err(e) = guard(&state, q.as_deref(), Api::UserInfo) {
        return e.into_response();
    }
    if body.is_empty() {
        return WxError::new(44002).into_response();
    }
    let Ok(serde_json::Value::Object(req)) = serde_json::from_slice::<serde_json::Value>(&body)
    else {
        return WxError::new(47001).into_response();
    };
    let Some(serde_json::Value::Array(list)) = req.get("user_list") else {
        return WxError::new(47001).into_response();
    };
    if list.is_empty() || list.len() > 100 {
        return WxError::new(40032).into_response();
    }
    let pop = &state.population;
    let mut indices = Vec::with_capacity(list.len());
    for item in list {
        let openid = item
            .get("openid")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        match pop.index_of(openid) {
            Some(i) => indices.push(i),
            None => return WxError::new(40003).into_response(),
        }
    }
    let user_info_list = {
        let subs = state.subs.read();
        indices.iter().map(|&i| user_info(pop, &subs, i)).collect()
    };
    wx_ok(&BatchResponse { user_info_list })
}

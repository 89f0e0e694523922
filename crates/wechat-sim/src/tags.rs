//! `cgi-bin/tags/get`: the account's tags with the number of current followers carrying each.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::errors::wx_ok;
use crate::state::{parse_params, AccountKind, SimState};
use crate::tokens::authorize;

/// Tag 2 is WeChat's built-in 星标组; 100–103 are the account's own (the ids followers carry).
pub const TAGS: [(u32, &str); 5] = [
    (2, "星标组"),
    (100, "VIP客户"),
    (101, "活动报名"),
    (102, "华东地区"),
    (103, "老用户"),
];

#[derive(Serialize)]
struct Tag {
    id: u32,
    name: &'static str,
    count: u64,
}

#[derive(Serialize)]
struct TagList {
    tags: Vec<Tag>,
}

/// `GET cgi-bin/tags/get` → `{"tags":[{"id":2,"name":"星标组","count":…},…]}` (no errcode).
pub async fn tags_get(State(state): State<Arc<SimState>>, RawQuery(q): RawQuery) -> Response {
    let params = parse_params(q.as_deref());
    if let Err(e) = authorize(&state, &params, AccountKind::Oa) {
        return e.into_response();
    }
    let pop = &state.population;
    let mut counts = [0u64; TAGS.len()];
    {
        let subs = state.subs.read();
        for index in 0..pop.total() {
            if !subs.is_subscribed(pop, index) {
                continue;
            }
            for id in pop.profile(index).tagid_list {
                if let Some(slot) = TAGS.iter().position(|(t, _)| *t == id) {
                    counts[slot] += 1;
                }
            }
        }
    }
    let tags = TAGS
        .iter()
        .zip(counts)
        .map(|(&(id, name), count)| Tag { id, name, count })
        .collect();
    wx_ok(&TagList { tags })
}

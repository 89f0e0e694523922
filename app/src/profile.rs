//! The signed-in staff member's own settings: the openid each account sends their test messages
//! to — per Official Account for template messages, per Mini Program for subscribe messages.
//! Everyone may change only their own.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// One account with the openid bound for the caller (empty when none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOpenidDto {
    pub account_id: i64,
    pub kind: model::AccountKind,
    pub account_name: String,
    pub appid: String,
    pub openid: String,
}

#[server(prefix = "/api", endpoint = "my_test_openids")]
pub async fn my_test_openids() -> Result<Vec<TestOpenidDto>, AppError> {
    use crate::auth::ssr::*;
    let staff = require_staff().await?;
    let state = state()?;
    let bound = state
        .engine
        .staff_openids(staff.id)
        .await
        .map_err(internal)?;
    Ok(state
        .engine
        .accounts()
        .await
        .map_err(internal)?
        .into_iter()
        .map(|a| TestOpenidDto {
            openid: bound.get(&a.id).cloned().unwrap_or_default(),
            kind: a.kind,
            account_id: a.id,
            account_name: a.name,
            appid: a.appid,
        })
        .collect())
}

/// Binds the caller's openid for an account; an empty `openid` removes the binding.
#[server(prefix = "/api", endpoint = "set_my_test_openid")]
pub async fn set_my_test_openid(account_id: i64, openid: String) -> Result<(), AppError> {
    use crate::auth::ssr::*;
    let staff = require_staff().await?;
    let state = state()?;
    let Some(account) = state.engine.account(account_id).await.map_err(internal)? else {
        return fail(AppError::NotFound);
    };
    let actor = actor(&staff, &state);
    state
        .engine
        .set_staff_openid(&actor, staff.id, &account, &openid)
        .await
        .or_else(|e| fail(from_engine(e)))
}

//! The send API in the console, as server functions: admins create, list and revoke the send
//! keys of the session's Official Account; staff read its API messages.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use model::send_api::{ApiMessageEntry, MessageState, SendKey};

/// The keys of the session's Official Account, what they may use and where they send.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendKeysDto {
    /// False without an Official Account to send for.
    pub has_account: bool,
    pub account_name: String,
    /// `POST` here.
    pub endpoint: String,
    /// The account's presets (id, name), to limit a key to one.
    pub presets: Vec<(i64, String)>,
    pub keys: Vec<SendKey>,
}

/// A key just created: `key` is shown once and never again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSendKey {
    pub key: String,
    pub info: SendKey,
}

/// A page of API messages and the counts by state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMessagesDto {
    pub has_account: bool,
    pub counts: Vec<(MessageState, i64)>,
    pub messages: Vec<ApiMessageEntry>,
    /// The `before` of the next (older) page, when there is one.
    pub next_before: Option<i64>,
}

/// Messages per page of 接口消息.
pub const PAGE: i64 = 50;

#[server(prefix = "/api", endpoint = "list_send_keys")]
pub async fn list_send_keys() -> Result<SendKeysDto, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    require_admin().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return Ok(SendKeysDto::default());
    };
    let presets = state
        .engine
        .presets(account.id)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|p| (p.preset.id, p.preset.name))
        .collect();
    let keys = state.engine.send_keys(account.id).await.map_err(internal)?;
    Ok(SendKeysDto {
        has_account: true,
        account_name: account.name,
        endpoint: format!("{}/api/v1/messages", state.public_url),
        presets,
        keys,
    })
}

/// Creates a key for the session's Official Account. `preset` 0 lets it use every preset.
#[server(prefix = "/api", endpoint = "create_send_key")]
pub async fn create_send_key(name: String, preset: i64, rate: i64) -> Result<NewSendKey, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    use model::send_api::PresetScope;
    let admin = require_admin().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let scope = if preset == 0 {
        PresetScope::All
    } else {
        PresetScope::Only(vec![preset])
    };
    let actor = actor(&admin, &state);
    match state
        .engine
        .create_send_key(&actor, account.id, &name, scope, rate)
        .await
    {
        Ok((key, info)) => Ok(NewSendKey { key, info }),
        Err(e) => fail(from_engine(e)),
    }
}

#[server(prefix = "/api", endpoint = "revoke_send_key")]
pub async fn revoke_send_key(key_id: i64) -> Result<(), AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    let admin = require_admin().await?;
    let state = state()?;
    let account = current_oa(&state).await?;
    // Only a key of the account the admin works on.
    let own = match (
        &account,
        state.engine.send_key(key_id).await.map_err(internal)?,
    ) {
        (Some(a), Some(k)) => k.account_id == a.id,
        _ => false,
    };
    if !own {
        return fail(AppError::NotFound);
    }
    let actor = actor(&admin, &state);
    match state.engine.revoke_send_key(&actor, key_id).await {
        Ok(_) => Ok(()),
        Err(e) => fail(from_engine(e)),
    }
}

/// A page of the session's Official Account's API messages: in `state` (all without), older
/// than `before`.
#[server(prefix = "/api", endpoint = "api_messages")]
pub async fn api_messages(
    state: Option<MessageState>,
    before: Option<i64>,
) -> Result<ApiMessagesDto, AppError> {
    use crate::auth::ssr::{internal, require_staff, state as app_state};
    use crate::followers::ssr::current_oa;
    require_staff().await?;
    let app = app_state()?;
    let Some(account) = current_oa(&app).await? else {
        return Ok(ApiMessagesDto::default());
    };
    let mut messages = app
        .engine
        .api_messages(account.id, state, before, PAGE + 1)
        .await
        .map_err(internal)?;
    let next_before = if messages.len() as i64 > PAGE {
        messages.truncate(PAGE as usize);
        messages.last().and_then(|m| m.status.id.parse().ok())
    } else {
        None
    };
    let counts = app
        .engine
        .api_message_counts(account.id)
        .await
        .map_err(internal)?;
    Ok(ApiMessagesDto {
        has_account: true,
        counts,
        messages,
        next_before,
    })
}

//! The send API in the console, as server functions: admins create, list and revoke the send
//! keys of the session's Official Account; staff read its API messages.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use model::api_messages::{ApiMessageDetail, ApiMessageFilter, HourCounts, SendKeyStats};
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
    /// Each key's figures (keys without messages have none).
    pub stats: Vec<SendKeyStats>,
}

/// A webhook just set: `secret` (the signing secret) is shown once and never again; `None`
/// when the webhook was removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewWebhook {
    pub key: SendKey,
    pub secret: Option<String>,
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
    /// The last 24 hours by outcome, oldest first.
    pub hours: Vec<HourCounts>,
    /// The account's keys (id, name), to filter by.
    pub keys: Vec<(i64, String)>,
    pub messages: Vec<ApiMessageEntry>,
    /// The `before` of the next (older) page, when there is one.
    pub next_before: Option<i64>,
}

#[cfg(feature = "ssr")]
mod ssr {
    use crate::auth::ssr::internal;
    use crate::error::AppError;
    use crate::followers::ssr::current_oa;
    use crate::state::AppState;

    /// Whether send key `key_id` is one of the account the session works on (an admin changes
    /// only those).
    pub async fn own_key(state: &AppState, key_id: i64) -> Result<bool, AppError> {
        let account = current_oa(state).await?;
        let key = state.engine.send_key(key_id).await.map_err(internal)?;
        Ok(matches!((account, key), (Some(a), Some(k)) if k.account_id == a.id))
    }
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
    let stats = state
        .engine
        .send_key_stats(account.id, engine::now_ms())
        .await
        .map_err(internal)?;
    Ok(SendKeysDto {
        has_account: true,
        account_name: account.name,
        endpoint: format!("{}/api/v1/messages", state.public_url),
        presets,
        keys,
        stats,
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
    let admin = require_admin().await?;
    let state = state()?;
    if !ssr::own_key(&state, key_id).await? {
        return fail(AppError::NotFound);
    }
    let actor = actor(&admin, &state);
    match state.engine.revoke_send_key(&actor, key_id).await {
        Ok(_) => Ok(()),
        Err(e) => fail(from_engine(e)),
    }
}

/// A page of the session's Official Account's API messages that `filter` lets through, older
/// than `before`, with the counts per state, the last 24 hours and the keys to filter by.
#[server(prefix = "/api", endpoint = "api_messages")]
pub async fn api_messages(
    filter: ApiMessageFilter,
    before: Option<i64>,
) -> Result<ApiMessagesDto, AppError> {
    use crate::auth::ssr::{internal, require_staff, state as app_state};
    use crate::followers::ssr::current_oa;
    require_staff().await?;
    let app = app_state()?;
    let Some(account) = current_oa(&app).await? else {
        return Ok(ApiMessagesDto::default());
    };
    let engine = &app.engine;
    let mut messages = engine
        .api_messages(account.id, &filter, before, PAGE + 1)
        .await
        .map_err(internal)?;
    let next_before = if messages.len() as i64 > PAGE {
        messages.truncate(PAGE as usize);
        messages.last().and_then(|m| m.status.id.parse().ok())
    } else {
        None
    };
    let counts = engine
        .api_message_counts(account.id, &filter)
        .await
        .map_err(internal)?;
    let hours = engine
        .api_message_hours(account.id, engine::now_ms())
        .await
        .map_err(internal)?;
    let keys = engine.send_key_names(account.id).await.map_err(internal)?;
    Ok(ApiMessagesDto {
        has_account: true,
        counts,
        hours,
        keys,
        messages,
        next_before,
    })
}

/// One API message of the session's Official Account: its status, payload as sent and
/// webhook deliveries.
#[server(prefix = "/api", endpoint = "load_api_message")]
pub async fn load_api_message(id: i64) -> Result<ApiMessageDetail, AppError> {
    use crate::auth::ssr::{fail, internal, require_staff, state as app_state};
    use crate::followers::ssr::current_oa;
    require_staff().await?;
    let app = app_state()?;
    let Some(account) = current_oa(&app).await? else {
        return fail(AppError::NotFound);
    };
    match app
        .engine
        .api_message_detail(account.id, id)
        .await
        .map_err(internal)?
    {
        Some(detail) => Ok(detail),
        None => fail(AppError::NotFound),
    }
}

/// Sets the webhook of a key of the session's Official Account (an empty `url` removes it);
/// returns the new signing secret, shown once.
#[server(prefix = "/api", endpoint = "set_send_key_webhook")]
pub async fn set_send_key_webhook(key_id: i64, url: String) -> Result<NewWebhook, AppError> {
    use crate::auth::ssr::*;
    let admin = require_admin().await?;
    let state = state()?;
    if !ssr::own_key(&state, key_id).await? {
        return fail(AppError::NotFound);
    }
    let actor = actor(&admin, &state);
    let url = url.trim();
    let url = (!url.is_empty()).then_some(url);
    match state.engine.set_send_key_webhook(&actor, key_id, url).await {
        Ok((key, secret)) => Ok(NewWebhook { key, secret }),
        Err(e) => fail(from_engine(e)),
    }
}

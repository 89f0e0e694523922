//! Followers, their sync and the dashboard, as server functions. Any logged-in staff member may
//! read and sync; each function checks the session itself.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dto::{DashboardDto, FollowersPageDto};
use crate::error::AppError;
use model::sync::SyncProgress;
use model::FollowerFilter;

/// Rows per page of the followers table.
pub const PAGE_SIZE: i64 = 50;

#[server(prefix = "/api", endpoint = "list_followers")]
pub async fn list_followers(
    filter: FollowerFilter,
    after: String,
) -> Result<FollowersPageDto, AppError> {
    use crate::auth::ssr::*;
    require_staff().await?;
    let state = state()?;
    let Some(account) = ssr::current_oa(&state).await? else {
        return Ok(FollowersPageDto::default());
    };
    let after = (!after.is_empty()).then_some(after.as_str());
    let mut rows = state
        .engine
        .followers_page(account.id, &filter, after, PAGE_SIZE + 1)
        .await
        .map_err(internal)?;
    let has_more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let total = state
        .engine
        .count_followers(account.id, &filter)
        .await
        .map_err(internal)?;
    Ok(FollowersPageDto {
        next_after: has_more
            .then(|| rows.last().map(|r| r.openid.clone()))
            .flatten(),
        rows: rows.into_iter().map(ssr::follower_dto).collect(),
        total,
        account: Some(ssr::brief(&account)),
    })
}

/// How many followers a filter selects (the "all N matching" choice and the selection page).
#[server(prefix = "/api", endpoint = "count_followers")]
pub async fn count_followers(filter: FollowerFilter) -> Result<i64, AppError> {
    use crate::auth::ssr::*;
    require_staff().await?;
    let state = state()?;
    let Some(account) = ssr::current_oa(&state).await? else {
        return Ok(0);
    };
    state
        .engine
        .count_followers(account.id, &filter)
        .await
        .map_err(internal)
}

#[server(prefix = "/api", endpoint = "start_follower_sync")]
pub async fn start_follower_sync() -> Result<i64, AppError> {
    use crate::auth::ssr::*;
    let staff = require_staff().await?;
    let state = state()?;
    let Some(account) = ssr::current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let actor = actor(&staff, &state);
    state
        .engine
        .start_sync(&actor, account.id)
        .await
        .or_else(|e| fail(from_engine(e)))
}

#[server(prefix = "/api", endpoint = "cancel_follower_sync")]
pub async fn cancel_follower_sync() -> Result<(), AppError> {
    use crate::auth::ssr::*;
    let staff = require_staff().await?;
    let state = state()?;
    let Some(account) = ssr::current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let actor = actor(&staff, &state);
    state
        .engine
        .cancel_sync(&actor, account.id)
        .await
        .or_else(|e| fail(from_engine(e)))
}

/// The current Official Account's follower sync: whether there is such an account, and its
/// latest run (none before the first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatusDto {
    pub has_account: bool,
    pub progress: Option<SyncProgress>,
}

#[server(prefix = "/api", endpoint = "sync_status")]
pub async fn sync_status() -> Result<SyncStatusDto, AppError> {
    use crate::auth::ssr::*;
    require_staff().await?;
    let state = state()?;
    let Some(account) = ssr::current_oa(&state).await? else {
        return Ok(SyncStatusDto::default());
    };
    Ok(SyncStatusDto {
        has_account: true,
        progress: ssr::progress(&state, account.id).await?,
    })
}

#[server(prefix = "/api", endpoint = "dashboard")]
pub async fn dashboard() -> Result<DashboardDto, AppError> {
    use crate::auth::ssr::*;
    require_staff().await?;
    let state = state()?;
    let Some(account) = ssr::current_oa(&state).await? else {
        return Ok(DashboardDto::default());
    };
    let c = state
        .engine
        .dashboard_counts(account.id)
        .await
        .map_err(internal)?;
    let mp = state
        .engine
        .linked_mini_program(&account)
        .await
        .map_err(internal)?;
    let subscription_credits = match &mp {
        Some(mp) => state
            .engine
            .credits_by_template(mp.id)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|t| crate::dto::TemplateCreditsDto {
                template_id: t.template_id,
                title: t.title,
                long_term: t.long_term,
                holders: t.holders,
                one_time_total: t.one_time_total,
                long_term_users: t.long_term_users,
                refused_users: t.refused_users,
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(DashboardDto {
        account: Some(ssr::brief(&account)),
        synced: c.synced,
        followers: c.followers,
        subscribed: c.subscribed,
        with_unionid: c.with_unionid,
        without_unionid_subscribed: c.without_unionid_subscribed,
        without_unionid_unsubscribed: c.without_unionid_unsubscribed,
        matched: c.matched,
        mp_users: c.mp_users,
        mp_not_following: c.mp_not_following,
        has_linked_mp: c.has_linked_mp,
        last_sync: ssr::progress(&state, account.id).await?,
        mp_name: mp.map(|m| m.name),
        subscription_credits,
    })
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Shared by the server functions, the progress stream and the CSV export.

    use engine::accounts::{Account, AccountKind};
    use engine::followers::FollowerRow;
    use tower_sessions::Session;

    use crate::accounts::SESSION_ACCOUNT;
    use crate::auth::ssr::internal;
    use crate::dto::{format_time_ms, AccountBrief, FollowerDto};
    use crate::error::AppError;
    use crate::state::AppState;
    use model::sync::SyncProgress;

    /// The Official Account this session works on: the one chosen in the switcher, else the first.
    pub async fn current_oa(state: &AppState) -> Result<Option<Account>, AppError> {
        let session = crate::auth::ssr::session().await?;
        current_oa_of(state, &session).await
    }

    /// The Official Accounts and the index of the one this session works on: the one chosen in
    /// the switcher, else the first.
    pub async fn oa_accounts(
        state: &AppState,
        session: &Session,
    ) -> Result<(Vec<Account>, usize), AppError> {
        let chosen: Option<i64> = session.get(SESSION_ACCOUNT).await.map_err(internal)?;
        let oas: Vec<Account> = state
            .engine
            .accounts()
            .await
            .map_err(internal)?
            .into_iter()
            .filter(|a| a.kind == AccountKind::Oa)
            .collect();
        let pick = chosen
            .and_then(|id| oas.iter().position(|a| a.id == id))
            .unwrap_or(0);
        Ok((oas, pick))
    }

    pub async fn current_oa_of(
        state: &AppState,
        session: &Session,
    ) -> Result<Option<Account>, AppError> {
        // One account, one decryption: this runs on most server-function calls.
        let chosen: Option<i64> = session.get(SESSION_ACCOUNT).await.map_err(internal)?;
        state
            .engine
            .official_account(chosen)
            .await
            .map_err(internal)
    }

    pub fn brief(a: &Account) -> AccountBrief {
        AccountBrief {
            id: a.id,
            name: a.name.clone(),
            kind: a.kind,
            sandbox: a.sandbox,
        }
    }

    pub fn follower_dto(r: FollowerRow) -> FollowerDto {
        FollowerDto {
            tags: r.tags(),
            openid: r.openid,
            unionid: r.unionid,
            subscribed: r.subscribed,
            subscribe_time: r.subscribe_time.map(|s| format_time_ms(s * 1000)),
            mp_openid: r.mp_openid,
        }
    }

    pub async fn progress(
        state: &AppState,
        account_id: i64,
    ) -> Result<Option<SyncProgress>, AppError> {
        state
            .engine
            .sync_progress(account_id)
            .await
            .map_err(internal)
    }
}

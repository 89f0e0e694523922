//! WeChat account administration as server functions: admins only, secrets never leave the server.

// A form's fields arrive as server-function arguments (one per input), more than clippy's 7.
#![allow(clippy::too_many_arguments)]

use leptos::prelude::*;

use crate::dto::{AccountDto, ConnectionTest};
use crate::error::AppError;

#[server(prefix = "/api", endpoint = "list_accounts")]
pub async fn list_accounts() -> Result<Vec<AccountDto>, AppError> {
    use crate::auth::ssr::*;
    require_admin().await?;
    let state = state()?;
    let accounts = state.engine.accounts().await.map_err(internal)?;
    let mut out = Vec::with_capacity(accounts.len());
    for a in &accounts {
        let health = state.engine.token_health(a.id).await.map_err(internal)?;
        let footprint = state
            .engine
            .account_footprint(a.id)
            .await
            .map_err(internal)?;
        let mut dto = ssr::to_dto(&state, a, &accounts, health);
        dto.footprint = crate::dto::FootprintDto {
            followers: footprint.followers,
            mp_users: footprint.mp_users,
            presets: footprint.presets,
            jobs: footprint.jobs,
        };
        out.push(dto);
    }
    Ok(out)
}

#[server(prefix = "/api", endpoint = "create_account")]
pub async fn create_account(
    kind: String,
    name: String,
    appid: String,
    secret: String,
    callback_token: String,
    encoding_aes_key: String,
    api_base: String,
    linked_account_id: String,
) -> Result<i64, AppError> {
    use crate::auth::ssr::*;
    use engine::accounts::{AccountKind, NewAccount, Secret};
    let admin = require_admin().await?;
    let state = state()?;
    let form = crate::validate::AccountForm {
        kind,
        name: name.trim().to_owned(),
        appid: appid.trim().to_owned(),
        secret: secret.trim().to_owned(),
        callback_token: callback_token.trim().to_owned(),
        encoding_aes_key: encoding_aes_key.trim().to_owned(),
        api_base: api_base.trim().trim_end_matches('/').to_owned(),
    };
    if let Some(problem) = form.problems(false).into_iter().next() {
        return fail(AppError::Refused(problem));
    }
    let linked = ssr::parse_link(&linked_account_id)?;
    let new = NewAccount {
        kind: AccountKind::parse(&form.kind).unwrap_or(AccountKind::Oa),
        name: form.name,
        appid: form.appid,
        secret: Secret::new(form.secret),
        callback_token: Secret::new(form.callback_token),
        encoding_aes_key: Secret::new(form.encoding_aes_key),
        api_base: form.api_base,
        linked_account_id: linked,
        sandbox: false,
    };
    let actor = actor(&admin, &state);
    match state.engine.create_account(&actor, new).await {
        Ok(a) => Ok(a.id),
        Err(e) => fail(from_engine(e)),
    }
}

/// Deletes an account with everything that belongs to it. `confirm` must repeat its AppID: a
/// deletion is asked for, never a single click.
#[server(prefix = "/api", endpoint = "delete_account")]
pub async fn delete_account(id: i64, confirm: String) -> Result<(), AppError> {
    use crate::auth::ssr::*;
    let admin = require_admin().await?;
    let state = state()?;
    let Some(account) = state.engine.account(id).await.map_err(internal)? else {
        return fail(AppError::NotFound);
    };
    if !confirm.trim().eq_ignore_ascii_case(&account.appid) {
        return fail(AppError::Refused(crate::validate::Refusal {
            field: "confirm".into(),
            problem: crate::validate::Problem::ConfirmMismatch,
        }));
    }
    let actor = actor(&admin, &state);
    state
        .engine
        .delete_account(&actor, id)
        .await
        .or_else(|e| fail(from_engine(e)))
}

/// Fetches a token with the stored credentials and explains WeChat's answer.
#[server(prefix = "/api", endpoint = "test_account_connection")]
pub async fn test_account_connection(id: i64) -> Result<ConnectionTest, AppError> {
    use crate::auth::ssr::*;
    let admin = require_admin().await?;
    let state = state()?;
    let Some(account) = state.engine.account(id).await.map_err(internal)? else {
        return fail(AppError::NotFound);
    };
    let actor = actor(&admin, &state);
    let outcome = state.engine.test_connection(&actor, &account).await;
    let health = state.engine.token_health(id).await.map_err(internal)?;
    Ok(match outcome {
        Ok(_) => ConnectionTest {
            ok: true,
            errcode: None,
            explain_zh: "连接成功：已获取 access_token".into(),
            explain_en: "Connected: an access token was obtained".into(),
            health: ssr::health_dto(health),
        },
        Err(engine::Error::WeChat(e)) => ConnectionTest {
            ok: false,
            errcode: e.code(),
            explain_zh: e.explain(true),
            explain_en: e.explain(false),
            health: ssr::health_dto(health),
        },
        Err(other) => return Err(internal(other)),
    })
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Mapping engine accounts to what the browser may see.

    use engine::accounts::tokens::TokenHealth;
    use engine::accounts::Account;

    use crate::dto::{AccountDto, TokenHealthDto};
    use crate::error::AppError;
    use crate::state::AppState;
    use crate::validate::{Problem, Refusal};

    pub fn to_dto(
        state: &AppState,
        a: &Account,
        all: &[Account],
        health: TokenHealth,
    ) -> AccountDto {
        AccountDto {
            id: a.id,
            kind: a.kind,
            name: a.name.clone(),
            appid: a.appid.clone(),
            api_base: a.api_base.clone(),
            linked_account_id: a.linked_account_id,
            linked_name: a
                .linked_account_id
                .and_then(|id| all.iter().find(|o| o.id == id))
                .map(|o| o.name.clone()),
            sandbox: a.sandbox,
            secret_set: a.secret.is_set(),
            callback_token_set: a.callback_token.is_set(),
            encoding_aes_key_set: a.encoding_aes_key.is_set(),
            callback_url: format!("{}/wechat/callback/{}", state.public_url, a.appid),
            health: health_dto(health),
            footprint: Default::default(),
        }
    }

    pub fn health_dto(h: TokenHealth) -> TokenHealthDto {
        TokenHealthDto {
            valid: h.has_token && h.expires_at_ms > engine::now_ms(),
            obtained_at_ms: h.obtained_at_ms,
            expires_at_ms: h.expires_at_ms,
            refresh_count: h.refresh_count,
            last_error: h.last_error,
            last_error_at_ms: h.last_error_at_ms,
        }
    }

    pub fn parse_link(value: &str) -> Result<Option<i64>, AppError> {
        let v = value.trim();
        if v.is_empty() {
            return Ok(None);
        }
        v.parse().map(Some).map_err(|_| {
            AppError::Refused(Refusal {
                field: "linked_account_id".into(),
                problem: Problem::NotAnOption,
            })
        })
    }
}

/// Session key of the account the staff member works on.
pub const SESSION_ACCOUNT: &str = "account";

/// The Official Accounts any staff member may switch between, and the current one.
#[server(prefix = "/api", endpoint = "account_choice")]
pub async fn account_choice() -> Result<crate::dto::AccountChoice, AppError> {
    use crate::auth::ssr::*;
    require_staff().await?;
    let state = state()?;
    let session = session().await?;
    let (oas, pick) = crate::followers::ssr::oa_accounts(&state, &session).await?;
    let selected = oas.get(pick).map(|a| a.id);
    let accounts = oas.iter().map(crate::followers::ssr::brief).collect();
    Ok(crate::dto::AccountChoice { accounts, selected })
}

#[server(prefix = "/api", endpoint = "select_account")]
pub async fn select_account(id: i64) -> Result<i64, AppError> {
    use crate::auth::ssr::*;
    require_staff().await?;
    let state = state()?;
    if state.engine.account(id).await.map_err(internal)?.is_none() {
        return fail(AppError::NotFound);
    }
    session()
        .await?
        .insert(SESSION_ACCOUNT, id)
        .await
        .map_err(internal)?;
    Ok(id)
}

//! One access token per account for the whole deployment: stored with its expiry, refreshed
//! ahead of time by one process at a time (a lease row) and one task at a time (single flight).

use crate::audit::AuditAction;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wechat::api::{ApiError, ErrorClass};

use crate::accounts::Account;
use crate::audit::Actor;
use crate::{now_ms, on_db, Engine, Error, Result};

/// A token with less life left than this is refreshed. WeChat's `stable_token` hands out a new
/// token only in the last 5 minutes, so refreshing inside that window really renews it.
pub const REFRESH_AHEAD_MS: i64 = 4 * 60 * 1000;
/// How long one process may hold the refresh lease before another may take over.
const LEASE_MS: i64 = 15_000;
/// How long a caller waits for another process's refresh before giving up.
const WAIT_FOR_OTHER_MS: i64 = 30_000;

/// Per-account locks so that concurrent callers in this process share one refresh.
#[derive(Debug, Default)]
pub(crate) struct TokenLocks(Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>);

impl TokenLocks {
    fn for_account(&self, id: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(id).or_default().clone()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenHealth {
    /// A token is stored (credentials changes and restarts of the sandbox clear it).
    pub has_token: bool,
    pub obtained_at_ms: Option<i64>,
    pub expires_at_ms: i64,
    pub refresh_count: i64,
    pub last_error: Option<String>,
    pub last_error_at_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    access_token: Option<String>,
    expires_at_ms: i64,
}

impl TokenRow {
    /// The stored token when it has enough life left and is not the one that just failed.
    fn usable(&self, now: i64, failed: Option<&str>) -> Option<String> {
        let token = self.access_token.as_deref()?;
        (self.expires_at_ms - now > REFRESH_AHEAD_MS && Some(token) != failed)
            .then(|| token.to_owned())
    }
}

impl Engine {
    /// A valid access token for `account`, from the store or freshly obtained.
    pub async fn access_token(&self, account: &Account) -> Result<String> {
        if let Some(token) = self
            .token_row(account.id)
            .await?
            .and_then(|r| r.usable(now_ms(), None))
        {
            return Ok(token);
        }
        self.obtain_token(account, None, false).await
    }

    /// Runs `call` with a token; on a token error (40001, 40014, 42001) refreshes — only if the
    /// stored token is still the one that failed — and runs it once more.
    pub async fn with_token<T, F, Fut>(&self, account: &Account, call: F) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = std::result::Result<T, ApiError>>,
    {
        let token = self.access_token(account).await?;
        match call(token.clone()).await {
            Err(e) if e.class() == ErrorClass::Token => {
                tracing::info!(appid = %account.appid, code = ?e.code(), "access token rejected; refreshing once");
                let fresh = self.obtain_token(account, Some(&token), false).await?;
                call(fresh).await.map_err(Error::WeChat)
            }
            other => other.map_err(Error::WeChat),
        }
    }

    /// "Test connection": asks WeChat for a token with the stored credentials now, whatever is
    /// cached, and records the outcome.
    pub async fn test_connection(&self, actor: &Actor, account: &Account) -> Result<TokenHealth> {
        let outcome = self.obtain_token(account, None, true).await;
        let detail = match &outcome {
            Ok(_) => serde_json::json!({ "ok": true }),
            Err(Error::WeChat(e)) => serde_json::json!({ "ok": false, "errcode": e.code() }),
            Err(_) => serde_json::json!({ "ok": false }),
        };
        self.audit(
            actor,
            AuditAction::AccountTestConnection,
            &account.appid,
            detail,
        )
        .await?;
        outcome?;
        self.token_health(account.id).await
    }

    pub async fn token_health(&self, account_id: i64) -> Result<TokenHealth> {
        let row = on_db!(self.db(), |pool| {
            sqlx::query_as::<_, TokenHealth>(
            "SELECT (access_token IS NOT NULL) AS has_token, obtained_at_ms, expires_at_ms, refresh_count, \
             last_error, last_error_at_ms \
             FROM wechat_tokens WHERE account_id = $1"
        )
        .bind(account_id)
        .fetch_optional(pool)
        .await
        })?;
        Ok(row.unwrap_or_default())
    }

    async fn token_row(&self, account_id: i64) -> Result<Option<TokenRow>> {
        Ok(on_db!(self.db(), |pool| sqlx::query_as::<_, TokenRow>(
            "SELECT access_token, expires_at_ms FROM wechat_tokens WHERE account_id = $1"
        )
        .bind(account_id)
        .fetch_optional(pool)
        .await)?)
    }

    /// The refresh path: one task per account in this process, one process per account in the
    /// deployment. Whoever waits re-reads the store and takes the token the winner stored.
    async fn obtain_token(
        &self,
        account: &Account,
        failed: Option<&str>,
        force: bool,
    ) -> Result<String> {
        let lock = self.inner.token_locks.for_account(account.id);
        let _flight = lock.lock().await;
        on_db!(self.db(), |pool| {
            sqlx::query(
            "INSERT INTO wechat_tokens (account_id) VALUES ($1) ON CONFLICT (account_id) DO NOTHING"
        )
        .bind(account.id)
        .execute(pool)
        .await
        .map(|_| ())
        })?;

        let started = now_ms();
        loop {
            if !force {
                if let Some(token) = self
                    .token_row(account.id)
                    .await?
                    .and_then(|r| r.usable(now_ms(), failed))
                {
                    return Ok(token);
                }
            }
            if self.take_lease(account.id).await? {
                let stored = self.token_row(account.id).await?;
                if let Some(token) = stored
                    .and_then(|r| r.usable(now_ms(), failed))
                    .filter(|_| !force)
                {
                    self.release_lease(account.id).await?;
                    return Ok(token);
                }
                return self.refresh_under_lease(account).await;
            }
            if now_ms() - started > WAIT_FOR_OTHER_MS {
                return Err(Error::Internal(format!(
                    "timed out waiting for another process to refresh the token of {}",
                    account.appid
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn refresh_under_lease(&self, account: &Account) -> Result<String> {
        let result = self
            .inner
            .client
            .stable_token(
                &account.api_base,
                &account.appid,
                account.secret.expose(),
                false,
            )
            .await;
        let now = now_ms();
        self.metrics().token_refresh(&account.appid, result.is_ok());
        match result {
            Ok(t) => {
                let expires_at = now + t.expires_in.max(0) * 1000;
                on_db!(self.db(), |pool| {
                    sqlx::query(
                    "UPDATE wechat_tokens SET access_token = $1, expires_at_ms = $2, obtained_at_ms = $3, \
                     refresh_count = refresh_count + 1, last_error = NULL, last_error_at_ms = NULL, \
                     lease_until_ms = 0 WHERE account_id = $4"
                )
                .bind(&t.access_token)
                .bind(expires_at)
                .bind(now)
                .bind(account.id)
                .execute(pool)
                .await
                .map(|_| ())
                })?;
                tracing::info!(appid = %account.appid, expires_in = t.expires_in, "access token refreshed");
                Ok(t.access_token)
            }
            Err(e) => {
                on_db!(self.db(), |pool| {
                    sqlx::query(
                    "UPDATE wechat_tokens SET last_error = $1, last_error_at_ms = $2, lease_until_ms = 0 \
                     WHERE account_id = $3"
                )
                .bind(e.to_string())
                .bind(now)
                .bind(account.id)
                .execute(pool)
                .await
                .map(|_| ())
                })?;
                tracing::warn!(appid = %account.appid, error = %e, "access token refresh failed");
                Err(Error::WeChat(e))
            }
        }
    }

    async fn take_lease(&self, account_id: i64) -> Result<bool> {
        let now = now_ms();
        let taken = on_db!(self.db(), |pool| sqlx::query(
            "UPDATE wechat_tokens SET lease_owner = $1, lease_until_ms = $2 \
             WHERE account_id = $3 AND (lease_until_ms < $4 OR lease_owner = $1)"
        )
        .bind(&self.inner.instance_id)
        .bind(now + LEASE_MS)
        .bind(account_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(taken == 1)
    }

    async fn release_lease(&self, account_id: i64) -> Result<()> {
        on_db!(self.db(), |pool| {
            sqlx::query(
            "UPDATE wechat_tokens SET lease_until_ms = 0 WHERE account_id = $1 AND lease_owner = $2"
        )
        .bind(account_id)
        .bind(&self.inner.instance_id)
        .execute(pool)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }
}

//! Logging in (with throttling) and the one-time setup link that creates the first admin.

use sha2::{Digest, Sha256};

use crate::audit::Actor;
use crate::staff::StaffRow;
use crate::{now_ms, on_db, password, throttle, Engine, Error, Result, Role, Staff};

/// How long a setup link stays valid if nobody uses it.
const SETUP_TOKEN_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// Failure rows older than this are purged: only the last 15 minutes matter.
const FAILURE_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Engine {
    /// Checks a username and password. Refuses while the username or the IP is throttled; records
    /// every outcome in the audit log: `login.success`, or `login.failure` with the reason
    /// (`wrong_password`, `unknown_user`, `locked`, `disabled`) — never the password tried.
    pub async fn login(&self, username: &str, password: &str, ip: &str) -> Result<Staff> {
        let now = now_ms();
        let actor = Actor::anonymous(ip);
        if let Some(wait_ms) = self.throttled_for(username, ip, now).await? {
            let retry_after_secs = (wait_ms + 999) / 1000;
            self.audit(
                &actor,
                "login.failure",
                username,
                serde_json::json!({ "reason": "locked", "retry_after_secs": retry_after_secs }),
            )
            .await?;
            return Err(Error::Throttled { retry_after_secs });
        }

        let row: Option<StaffRow> = self.staff_row_by_username(username).await?;
        let stored = row
            .as_ref()
            .map(|r| r.password_hash.clone())
            .unwrap_or_else(|| password::decoy_hash().to_owned());
        let matches = password::verify(password.to_owned(), stored).await? && row.is_some();

        let known = row.is_some();
        let Some(row) = row.filter(|_| matches) else {
            self.record_failure(username, ip, now).await?;
            let reason = if known {
                "wrong_password"
            } else {
                "unknown_user"
            };
            self.audit(
                &actor,
                "login.failure",
                username,
                serde_json::json!({ "reason": reason }),
            )
            .await?;
            return Err(Error::InvalidCredentials);
        };
        let staff = row.into_staff();
        if staff.disabled {
            self.audit(
                &actor,
                "login.failure",
                username,
                serde_json::json!({ "reason": "disabled" }),
            )
            .await?;
            return Err(Error::AccountDisabled);
        }

        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM login_failures WHERE username = $1")
                .bind(username)
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE staff SET last_login_ms = $1 WHERE id = $2")
                .bind(now)
                .bind(staff.id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        self.audit(
            &Actor::staff(staff.id, &staff.username, ip),
            "login.success",
            username,
            serde_json::json!({}),
        )
        .await?;
        Ok(staff)
    }

    /// A staff member changes their own password, proving it with the current one. A wrong
    /// current password counts as a failed login (the same throttle, per username and per IP),
    /// so this form cannot be used to guess passwords faster than the login page. On success
    /// their other sessions end; `keep_session` (the caller's) stays. The caller has checked
    /// the new password against the password rules.
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        staff_id: i64,
        current: &str,
        new: &str,
        keep_session: Option<&str>,
    ) -> Result<()> {
        let now = now_ms();
        let Some(staff) = self.active_staff(staff_id).await? else {
            return Err(Error::NotFound);
        };
        let username = staff.username.as_str();
        if let Some(wait_ms) = self.throttled_for(username, &actor.ip, now).await? {
            let retry_after_secs = (wait_ms + 999) / 1000;
            self.audit(
                actor,
                "profile.password_change_failed",
                username,
                serde_json::json!({ "reason": "locked", "retry_after_secs": retry_after_secs }),
            )
            .await?;
            return Err(Error::Throttled { retry_after_secs });
        }
        let stored = self
            .staff_row_by_username(username)
            .await?
            .map(|r| r.password_hash)
            .unwrap_or_else(|| password::decoy_hash().to_owned());
        if !password::verify(current.to_owned(), stored).await? {
            self.record_failure(username, &actor.ip, now).await?;
            self.audit(
                actor,
                "profile.password_change_failed",
                username,
                serde_json::json!({ "reason": "wrong_password" }),
            )
            .await?;
            return Err(Error::InvalidCredentials);
        }
        let hash = password::hash(new.to_owned()).await?;
        on_db!(self.db(), |pool| sqlx::query(
            "UPDATE staff SET password_hash = $1, updated_at_ms = $2 WHERE id = $3"
        )
        .bind(&hash)
        .bind(now_ms())
        .bind(staff_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        let ended = self.end_staff_sessions(staff_id, keep_session).await?;
        self.audit(
            actor,
            "profile.password_change",
            username,
            serde_json::json!({ "other_sessions_ended": ended }),
        )
        .await?;
        Ok(())
    }

    async fn throttled_for(&self, username: &str, ip: &str, now: i64) -> Result<Option<i64>> {
        let since = now - throttle::WINDOW_MS;
        let limit = throttle::LIMIT as i64;
        let by_user: Vec<i64> = on_db!(self.db(), |pool| {
            sqlx::query_scalar(
            "SELECT at_ms FROM login_failures WHERE username = $1 AND at_ms > $2 ORDER BY at_ms DESC LIMIT $3"
        )
        .bind(username)
        .bind(since)
        .bind(limit)
        .fetch_all(pool)
        .await
        })?;
        let by_ip: Vec<i64> = on_db!(self.db(), |pool| {
            sqlx::query_scalar(
            "SELECT at_ms FROM login_failures WHERE ip = $1 AND at_ms > $2 ORDER BY at_ms DESC LIMIT $3"
        )
        .bind(ip)
        .bind(since)
        .bind(limit)
        .fetch_all(pool)
        .await
        })?;
        Ok(throttle::locked_for(&by_user, now).max(throttle::locked_for(&by_ip, now)))
    }

    async fn record_failure(&self, username: &str, ip: &str, now: i64) -> Result<()> {
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("INSERT INTO login_failures (at_ms, username, ip) VALUES ($1, $2, $3)")
                .bind(now)
                .bind(username)
                .bind(ip)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM login_failures WHERE at_ms < $1")
                .bind(now - FAILURE_RETENTION_MS)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// When nobody can log in yet (no staff at all), mints a fresh one-time setup token and
    /// returns it. Returns `None` once staff exist. Earlier tokens stay valid until they expire:
    /// several processes starting on one database each log a link that works (the first one
    /// used closes them all).
    pub async fn issue_setup_token(&self) -> Result<Option<String>> {
        if self.staff_count().await? > 0 {
            return Ok(None);
        }
        let token = hex::encode(rand::random::<[u8; 32]>());
        let hash = token_hash(&token);
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM setup_tokens WHERE created_at_ms <= $1")
                .bind(now_ms() - SETUP_TOKEN_TTL_MS)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO setup_tokens (token_hash, created_at_ms) VALUES ($1, $2)")
                .bind(&hash)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(Some(token))
    }

    /// True while `token` may still create the first admin.
    pub async fn setup_token_valid(&self, token: &str) -> Result<bool> {
        if token.is_empty() || self.staff_count().await? > 0 {
            return Ok(false);
        }
        let created: Option<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT created_at_ms FROM setup_tokens WHERE token_hash = $1"
        )
        .bind(token_hash(token))
        .fetch_optional(pool)
        .await)?;
        Ok(created.is_some_and(|c| c + SETUP_TOKEN_TTL_MS > now_ms()))
    }

    /// Uses the setup token to create the first admin. Works once: the token is deleted in the
    /// same transaction, and it is refused as soon as any staff exist.
    pub async fn complete_setup(
        &self,
        token: &str,
        username: &str,
        password: &str,
        ip: &str,
    ) -> Result<Staff> {
        let hash = password::hash(password.to_owned()).await?;
        let now = now_ms();
        let th = token_hash(token);
        let id: Option<i64> = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let created: Option<i64> = sqlx::query_scalar(
                "DELETE FROM setup_tokens WHERE token_hash = $1 RETURNING created_at_ms",
            )
            .bind(&th)
            .fetch_optional(&mut *tx)
            .await?;
            let staff: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM staff")
                .fetch_one(&mut *tx)
                .await?;
            match created {
                Some(c) if staff == 0 && c + SETUP_TOKEN_TTL_MS > now => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO staff (username, password_hash, role, created_at_ms, updated_at_ms, last_login_ms) \
                         VALUES ($1, $2, 'admin', $3, $3, $3) RETURNING id",
                    )
                    .bind(username)
                    .bind(&hash)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM setup_tokens")
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok::<_, sqlx::Error>(Some(id))
                }
                _ => {
                    tx.rollback().await?;
                    Ok(None)
                }
            }
        })?;
        let Some(id) = id else {
            self.audit(
                &Actor::anonymous(ip),
                "setup.refused",
                username,
                serde_json::json!({}),
            )
            .await?;
            return Err(Error::SetupClosed);
        };
        let staff = Staff {
            id,
            username: username.to_owned(),
            role: Role::Admin,
            disabled: false,
            lang: "zh".into(),
        };
        self.audit(
            &Actor::staff(id, username, ip),
            "setup.first_admin",
            username,
            serde_json::json!({ "role": "admin" }),
        )
        .await?;
        Ok(staff)
    }
}

//! Logging in (with throttling) and the one-time setup link that creates the first admin.

use crate::audit::AuditAction;
use sha2::{Digest, Sha256};

use crate::audit::{Actor, RecordAudit};
use crate::staff::sessions::EndSessions;
use crate::staff::StaffRow;
use crate::staff::{password, throttle};
use crate::{now_ms, on_db, Engine, Error, Result, Role, Staff};

/// How long a setup link stays valid if nobody uses it.
const SETUP_TOKEN_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// Failure rows older than this are purged: only the last 15 minutes matter.
const FAILURE_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// How long a trusted device stays trusted without a login from it.
const DEVICE_TTL_MS: i64 = 180 * 24 * 60 * 60 * 1000;

/// Where a login attempt comes from: the client address and the browser's device cookie.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoginSource<'a> {
    pub ip: &'a str,
    /// The device cookie's value, if the browser sent one.
    pub device_token: Option<&'a str>,
}

/// A login source's throttling.
struct Throttle {
    /// How long it must wait, when locked.
    wait_ms: Option<i64>,
    /// Whether it has failures on record (a success forgives them).
    has_failures: bool,
}

/// A successful login.
#[derive(Clone, Debug)]
pub struct LoggedIn {
    pub staff: Staff,
    /// The device cookie to give the browser: it was not yet trusted for this staff member.
    pub new_device_token: Option<String>,
}

/// A device cookie's value as we mint it: 64 hex characters (anything else is ignored).
fn device_hash(token: Option<&str>) -> Option<String> {
    token
        .filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(token_hash)
}

impl Engine {
    /// [`Engine::login_from`] for a client without a device cookie.
    pub async fn login(&self, username: &str, password: &str, ip: &str) -> Result<Staff> {
        let source = LoginSource {
            ip,
            device_token: None,
        };
        Ok(self.login_from(username, password, &source).await?.staff)
    }

    /// Whether `device_token` is a trusted device of `username` (it logged in from it before).
    /// Such a client is throttled on its own failures only.
    pub async fn device_trusted(&self, username: &str, device_token: Option<&str>) -> Result<bool> {
        Ok(self
            .trusted_device_hash(username, device_token)
            .await?
            .is_some())
    }

    async fn trusted_device_hash(
        &self,
        username: &str,
        device_token: Option<&str>,
    ) -> Result<Option<String>> {
        let Some(hash) = device_hash(device_token) else {
            return Ok(None);
        };
        let found: Option<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT d.staff_id FROM trusted_devices d JOIN staff s ON s.id = d.staff_id \
             WHERE d.token_hash = $1 AND s.username = $2 AND d.last_used_ms > $3"
        )
        .bind(&hash)
        .bind(username)
        .bind(now_ms() - DEVICE_TTL_MS)
        .fetch_optional(pool)
        .await)?;
        Ok(found.map(|_| hash))
    }

    /// Checks a username and password. Refuses while the attempt's source is throttled (see
    /// [`throttle`]); records every outcome in the audit log: `login.success`, or
    /// `login.failure` with the reason (`wrong_password`, `unknown_user`, `locked`,
    /// `disabled`) — never the password tried. A successful login trusts the browser's device.
    pub async fn login_from(
        &self,
        username: &str,
        password: &str,
        source: &LoginSource<'_>,
    ) -> Result<LoggedIn> {
        let now = now_ms();
        let ip = source.ip;
        let actor = Actor::anonymous(ip);
        let trusted = self
            .trusted_device_hash(username, source.device_token)
            .await?;
        // Both reads at once: a login under load pays for every round trip.
        let (throttle, row) = tokio::join!(
            self.throttled_for(username, ip, trusted.as_deref(), now),
            self.staff_row_by_username(username)
        );
        let (throttle, row): (Throttle, Option<StaffRow>) = (throttle?, row?);
        if let Some(wait_ms) = throttle.wait_ms {
            let retry_after_secs = (wait_ms + 999) / 1000;
            self.audit(
                &actor,
                AuditAction::LoginFailure,
                username,
                serde_json::json!({
                    "reason": "locked",
                    "retry_after_secs": retry_after_secs,
                    "trusted_device": trusted.is_some(),
                }),
            )
            .await?;
            return Err(Error::Throttled { retry_after_secs });
        }

        let stored = row
            .as_ref()
            .map(|r| r.password_hash.clone())
            .unwrap_or_else(|| password::decoy_hash().to_owned());
        let matches = password::verify(password.to_owned(), stored).await? && row.is_some();

        let known = row.is_some();
        let Some(row) = row.filter(|_| matches) else {
            self.record_failure(username, ip, trusted.as_deref(), now)
                .await?;
            let reason = if known {
                "wrong_password"
            } else {
                "unknown_user"
            };
            self.audit(
                &actor,
                AuditAction::LoginFailure,
                username,
                serde_json::json!({ "reason": reason, "trusted_device": trusted.is_some() }),
            )
            .await?;
            return Err(Error::InvalidCredentials);
        };
        let staff = row.into_staff();
        if staff.disabled {
            self.audit(
                &actor,
                AuditAction::LoginFailure,
                username,
                serde_json::json!({ "reason": "disabled" }),
            )
            .await?;
            return Err(Error::AccountDisabled);
        }

        // The browser's token is reused when we minted it (for another staff member here);
        // otherwise it gets a new one.
        let known_token = match device_hash(source.device_token) {
            Some(hash) => {
                let minted: Option<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(
                    "SELECT staff_id FROM trusted_devices WHERE token_hash = $1 LIMIT 1"
                )
                .bind(&hash)
                .fetch_optional(pool)
                .await)?;
                minted.map(|_| hash)
            }
            None => None,
        };
        let (device, new_device_token) = match known_token {
            Some(hash) => (hash, None),
            None => {
                let token = hex::encode(rand::random::<[u8; 32]>());
                (token_hash(&token), Some(token))
            }
        };
        let logged_in = Actor::staff(staff.id, &staff.username, ip);
        let turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            // Only this source's failures are forgiven: an attacker's stay counted.
            if throttle.has_failures {
                match trusted.as_deref() {
                    Some(device) => {
                        sqlx::query("DELETE FROM login_failures WHERE device = $1")
                            .bind(device)
                            .execute(&mut *tx)
                            .await?
                    }
                    None => {
                        sqlx::query(
                            "DELETE FROM login_failures WHERE username = $1 AND ip = $2 \
                             AND device IS NULL",
                        )
                        .bind(username)
                        .bind(ip)
                        .execute(&mut *tx)
                        .await?
                    }
                };
            }
            sqlx::query("UPDATE staff SET last_login_ms = $1 WHERE id = $2")
                .bind(now)
                .bind(staff.id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO trusted_devices (token_hash, staff_id, created_at_ms, last_used_ms) \
                 VALUES ($1, $2, $3, $3) ON CONFLICT (token_hash, staff_id) \
                 DO UPDATE SET last_used_ms = excluded.last_used_ms",
            )
            .bind(&device)
            .bind(staff.id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if new_device_token.is_some() {
                // Devices nobody logged in from for a long time are forgotten.
                sqlx::query("DELETE FROM trusted_devices WHERE last_used_ms <= $1")
                    .bind(now - DEVICE_TTL_MS)
                    .execute(&mut *tx)
                    .await?;
            }
            // The entry commits with the login it records.
            let detail = serde_json::json!({ "new_device": new_device_token.is_some() });
            tx.record_audit(&logged_in, AuditAction::LoginSuccess, username, &detail)
                .await?;
            tx.commit().await
        })?;
        drop(turn);
        Ok(LoggedIn {
            staff,
            new_device_token,
        })
    }

    /// A staff member changes their own password, proving it with the current one. A wrong
    /// current password counts as a failed login (the same throttle, per username and per IP),
    /// so this form cannot be used to guess passwords faster than the login page. On success
    /// their other sessions end; `keep_session` (the caller's) stays.
    pub async fn change_own_password(
        &self,
        actor: &Actor,
        staff_id: i64,
        current: &str,
        new: &str,
        keep_session: Option<&str>,
    ) -> Result<()> {
        model::rules::new_password(new).map_err(|p| Error::refused("password", p))?;
        let now = now_ms();
        let Some(staff) = self.active_staff(staff_id).await? else {
            return Err(Error::NotFound);
        };
        let username = staff.username.as_str();
        if let Some(wait_ms) = self
            .throttled_for(username, &actor.ip, None, now)
            .await?
            .wait_ms
        {
            let retry_after_secs = (wait_ms + 999) / 1000;
            self.audit(
                actor,
                AuditAction::ProfilePasswordChangeFailed,
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
            self.record_failure(username, &actor.ip, None, now).await?;
            self.audit(
                actor,
                AuditAction::ProfilePasswordChangeFailed,
                username,
                serde_json::json!({ "reason": "wrong_password" }),
            )
            .await?;
            return Err(Error::InvalidCredentials);
        }
        let hash = password::hash(new.to_owned()).await?;
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE staff SET password_hash = $1, updated_at_ms = $2 WHERE id = $3")
                .bind(&hash)
                .bind(now_ms())
                .bind(staff_id)
                .execute(&mut *tx)
                .await?;
            let others = self.staff_sessions(staff_id, keep_session).await?;
            let ended = tx.end_sessions(&others).await?;
            let detail = serde_json::json!({ "other_sessions_ended": ended });
            tx.record_audit(actor, AuditAction::ProfilePasswordChange, username, &detail)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// How long this source must wait, if it is locked (see [`throttle`]): in one query, the
    /// `limit`-th most recent failure of each source within the window (a source is locked
    /// until that one is [`throttle::WINDOW_MS`] old), and whether the source has failures.
    async fn throttled_for(
        &self,
        username: &str,
        ip: &str,
        trusted_device: Option<&str>,
        now: i64,
    ) -> Result<Throttle> {
        let since = now - throttle::WINDOW_MS;
        let nth = |filter: &str, param: usize, limit: usize| {
            format!(
                "(SELECT at_ms FROM login_failures WHERE {filter} AND at_ms > ${param} \
                 ORDER BY at_ms DESC LIMIT 1 OFFSET {})",
                limit.max(1) - 1
            )
        };
        let (nths, has_failures): (Vec<Option<i64>>, bool) = match trusted_device {
            Some(device) => {
                let sql = format!(
                    "SELECT {}, EXISTS (SELECT 1 FROM login_failures WHERE device = $1)",
                    nth("device = $1", 2, throttle::LIMIT)
                );
                let (t, any): (Option<i64>, bool) = on_db!(self.db(), |pool| sqlx::query_as(&sql)
                    .bind(device)
                    .bind(since)
                    .fetch_one(pool)
                    .await)?;
                (vec![t], any)
            }
            None => {
                let own = "username = $1 AND ip = $2 AND device IS NULL";
                let sql = format!(
                    "SELECT {}, {}, {}, EXISTS (SELECT 1 FROM login_failures WHERE {own})",
                    nth(own, 3, throttle::LIMIT),
                    nth("ip = $2 AND device IS NULL", 3, throttle::IP_LIMIT),
                    nth(
                        "username = $1 AND device IS NULL",
                        3,
                        throttle::UNTRUSTED_USER_LIMIT
                    )
                );
                let (a, b, c, any): (Option<i64>, Option<i64>, Option<i64>, bool) =
                    on_db!(self.db(), |pool| sqlx::query_as(&sql)
                        .bind(username)
                        .bind(ip)
                        .bind(since)
                        .fetch_one(pool)
                        .await)?;
                (vec![a, b, c], any)
            }
        };
        Ok(Throttle {
            wait_ms: nths
                .into_iter()
                .filter_map(|at| throttle::wait_after(at, now))
                .max(),
            has_failures,
        })
    }

    async fn record_failure(
        &self,
        username: &str,
        ip: &str,
        trusted_device: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO login_failures (at_ms, username, ip, device) VALUES ($1, $2, $3, $4)",
            )
            .bind(now)
            .bind(username)
            .bind(ip)
            .bind(trusted_device)
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
        crate::staff::check_new_staff(username, password)?;
        let hash = password::hash(password.to_owned()).await?;
        let now = now_ms();
        let th = token_hash(token);
        let turn = self.write_gate().await;
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
                    let actor = Actor::staff(id, username, ip);
                    let detail = serde_json::json!({ "role": "admin" });
                    tx.record_audit(&actor, AuditAction::SetupFirstAdmin, username, &detail)
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
        drop(turn);
        let Some(id) = id else {
            self.audit(
                &Actor::anonymous(ip),
                AuditAction::SetupRefused,
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
            lang: model::Lang::Zh,
        };
        Ok(staff)
    }
}

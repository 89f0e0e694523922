//! Staff accounts: who may log in, with which role and language.

pub mod auth;
pub mod password;
pub mod sessions;
pub mod throttle;

use crate::audit::AuditAction;

use crate::audit::{Actor, RecordAudit};
use crate::db::BeginWrite;
use crate::staff::sessions::EndSessions;
use crate::{now_ms, on_db, Db, Engine, Error, Result};
use model::Lang;

pub use model::staff::{Role, StaffMember, StaffRefusal};

/// A staff member as the rest of the system sees it: never carries the password hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staff {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub lang: Lang,
}

#[derive(sqlx::FromRow)]
pub(crate) struct StaffRow {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub lang: String,
}

impl StaffRow {
    pub(crate) fn into_staff(self) -> Staff {
        Staff {
            id: self.id,
            username: self.username,
            // The CHECK constraint keeps other values out; fall back to the weaker role.
            role: Role::parse(&self.role).unwrap_or(Role::Operator),
            disabled: self.disabled,
            // The CHECK constraint keeps other values out.
            lang: Lang::parse(&self.lang).unwrap_or_default(),
        }
    }
}

const SELECT_STAFF: &str = "SELECT id, username, password_hash, role, disabled, lang FROM staff";

#[derive(sqlx::FromRow)]
struct MemberRow {
    id: i64,
    username: String,
    role: String,
    disabled: bool,
    created_at_ms: i64,
    last_login_ms: Option<i64>,
}

impl From<MemberRow> for StaffMember {
    fn from(r: MemberRow) -> Self {
        StaffMember {
            id: r.id,
            username: r.username,
            role: Role::parse(&r.role).unwrap_or(Role::Operator),
            disabled: r.disabled,
            created_at_ms: r.created_at_ms,
            last_login_ms: r.last_login_ms,
        }
    }
}

const SELECT_MEMBER: &str =
    "SELECT id, username, role, disabled, created_at_ms, last_login_ms FROM staff";

/// A change that either happened or was refused for a reason the page explains.
pub type StaffOutcome<T> = std::result::Result<T, StaffRefusal>;

/// Characters of generated passwords: no 0/O, 1/l/I, so they can be read out and typed.
const GENERATED_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A random password for a reset: four groups of four (`xxxx-xxxx-xxxx-xxxx`, about 93 bits).
/// The username and password rules every way of creating staff goes through.
pub(crate) fn check_new_staff(username: &str, password: &str) -> Result<()> {
    model::rules::username(username).map_err(|p| Error::refused("username", p))?;
    model::rules::new_password(password).map_err(|p| Error::refused("password", p))?;
    Ok(())
}

pub fn generate_password() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..4)
        .map(|_| {
            (0..4)
                .map(|_| GENERATED_ALPHABET[rng.random_range(0..GENERATED_ALPHABET.len())] as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The first statement of every transaction that may remove an admin. On PostgreSQL it locks
/// the rows of all active admins (in id order, so two such transactions never deadlock); on
/// SQLite a write as the first statement takes the database's write lock before anything is
/// read. Either way two such transactions run one after the other, and the second counts the
/// admins the first left — two admins demoting each other at once cannot leave none.
fn lock_admins_sql(db: &Db) -> &'static str {
    match db {
        Db::Postgres(_) => {
            "SELECT id FROM staff WHERE role = 'admin' AND NOT disabled ORDER BY id FOR UPDATE"
        }
        Db::Sqlite(_) => {
            "UPDATE staff SET updated_at_ms = updated_at_ms WHERE role = 'admin' AND NOT disabled"
        }
    }
}

impl Engine {
    pub async fn staff_count(&self) -> Result<i64> {
        let n: i64 = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM staff"
        )
        .fetch_one(pool)
        .await)?;
        Ok(n)
    }

    pub(crate) async fn staff_row_by_username(&self, username: &str) -> Result<Option<StaffRow>> {
        let sql = format!("{SELECT_STAFF} WHERE username = $1");
        Ok(on_db!(self.db(), |pool| sqlx::query_as::<_, StaffRow>(
            &sql
        )
        .bind(username)
        .fetch_optional(pool)
        .await)?)
    }

    pub async fn staff_by_id(&self, id: i64) -> Result<Option<Staff>> {
        let sql = format!("{SELECT_STAFF} WHERE id = $1");
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, StaffRow>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(StaffRow::into_staff))
    }

    /// The staff member behind a session, if still allowed in (exists and not disabled).
    pub async fn active_staff(&self, id: i64) -> Result<Option<Staff>> {
        Ok(self.staff_by_id(id).await?.filter(|s| !s.disabled))
    }

    /// Adds a staff member. The caller has validated username and password.
    pub async fn create_staff(
        &self,
        actor: &Actor,
        username: &str,
        password: &str,
        role: Role,
    ) -> Result<Staff> {
        check_new_staff(username, password)?;
        let hash = password::hash(password.to_owned()).await?;
        let now = now_ms();
        let detail = serde_json::json!({ "role": role.as_str() });
        let turn = self.write_gate().await;
        let id = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query_scalar::<_, i64>(
                "INSERT INTO staff (username, password_hash, role, created_at_ms, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $4) RETURNING id",
            )
            .bind(username)
            .bind(&hash)
            .bind(role.as_str())
            .bind(now)
            .fetch_one(&mut *tx)
            .await;
            let id = match inserted {
                Ok(id) => id,
                Err(e) if Error::is_unique_violation(&e) => {
                    return Err(Error::Conflict(format!("username {username}")))
                }
                Err(e) => return Err(e.into()),
            };
            tx.record_audit(actor, AuditAction::StaffCreate, username, &detail)
                .await?;
            tx.commit().await?;
            id
        });
        drop(turn);
        Ok(Staff {
            id,
            username: username.to_owned(),
            role,
            disabled: false,
            lang: Lang::Zh,
        })
    }

    /// Every staff member, oldest first.
    pub async fn list_staff(&self) -> Result<Vec<StaffMember>> {
        let sql = format!("{SELECT_MEMBER} ORDER BY id");
        let rows = on_db!(self.db(), |pool| sqlx::query_as::<_, MemberRow>(&sql)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(StaffMember::from).collect())
    }

    pub async fn staff_member(&self, id: i64) -> Result<Option<StaffMember>> {
        let sql = format!("{SELECT_MEMBER} WHERE id = $1");
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, MemberRow>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(StaffMember::from))
    }

    /// Changes a staff member's role. Demoting the last active admin is refused, decided inside
    /// the transaction that demotes (see [`lock_admins_sql`]).
    pub async fn set_staff_role(
        &self,
        actor: &Actor,
        id: i64,
        role: Role,
    ) -> Result<StaffOutcome<StaffMember>> {
        let lock = lock_admins_sql(self.db());
        let now = now_ms();
        let turn = self.write_gate().await;
        let changed: StaffOutcome<Option<(String, String)>> = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(lock).execute(&mut *tx).await?;
            let target: Option<(String, String, bool)> =
                sqlx::query_as("SELECT username, role, disabled FROM staff WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let outcome = match target {
                None => Err(StaffRefusal::NotFound),
                Some((_, from, _)) if from == role.as_str() => Ok(None),
                Some((username, from, disabled)) => {
                    let others: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM staff WHERE role = 'admin' AND NOT disabled AND id <> $1",
                    )
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    if Role::parse(&from) == Some(Role::Admin) && !disabled && others == 0 {
                        Err(StaffRefusal::LastActiveAdmin)
                    } else {
                        sqlx::query("UPDATE staff SET role = $1, updated_at_ms = $2 WHERE id = $3")
                            .bind(role.as_str())
                            .bind(now)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        Ok(Some((username, from)))
                    }
                }
            };
            if let Ok(Some((username, from))) = &outcome {
                let detail = serde_json::json!({ "from": from, "to": role.as_str() });
                tx.record_audit(actor, AuditAction::StaffRole, username, &detail)
                    .await?;
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            Ok::<_, sqlx::Error>(outcome)
        })?;
        drop(turn);
        if let Err(refusal) = changed {
            return Ok(Err(refusal));
        }
        Ok(self.staff_member(id).await?.ok_or(StaffRefusal::NotFound))
    }

    /// Disables or enables a staff member. Disabling ends their sessions at once and stops
    /// their logins; an admin cannot disable themselves, and the last active admin cannot be
    /// disabled (decided inside the transaction, like demoting).
    pub async fn set_staff_disabled(
        &self,
        actor: &Actor,
        id: i64,
        disabled: bool,
    ) -> Result<StaffOutcome<StaffMember>> {
        if disabled && actor.id == Some(id) {
            return Ok(Err(StaffRefusal::OwnAccount));
        }
        let lock = lock_admins_sql(self.db());
        let now = now_ms();
        let turn = self.write_gate().await;
        let changed: StaffOutcome<()> = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(lock).execute(&mut *tx).await?;
            let target: Option<(String, String, bool)> =
                sqlx::query_as("SELECT username, role, disabled FROM staff WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let outcome = match target {
                None => Err(StaffRefusal::NotFound),
                Some((_, _, was)) if was == disabled => Ok(None),
                Some((username, role, _)) => {
                    let others: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM staff WHERE role = 'admin' AND NOT disabled AND id <> $1",
                    )
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    if disabled && Role::parse(&role) == Some(Role::Admin) && others == 0 {
                        Err(StaffRefusal::LastActiveAdmin)
                    } else {
                        sqlx::query(
                            "UPDATE staff SET disabled = $1, updated_at_ms = $2 WHERE id = $3",
                        )
                        .bind(disabled)
                        .bind(now)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                        Ok(Some(username))
                    }
                }
            };
            match &outcome {
                // Disabling ends their sessions with it.
                Ok(Some(username)) if disabled => {
                    let ended = tx
                        .end_sessions(&self.staff_sessions(id, None).await?)
                        .await?;
                    let detail = serde_json::json!({ "sessions_ended": ended });
                    tx.record_audit(actor, AuditAction::StaffDisable, username, &detail)
                        .await?;
                    tx.commit().await?;
                }
                Ok(Some(username)) => {
                    let detail = serde_json::json!({});
                    tx.record_audit(actor, AuditAction::StaffEnable, username, &detail)
                        .await?;
                    tx.commit().await?;
                }
                _ => tx.rollback().await?,
            }
            Ok::<_, Error>(outcome.map(|_| ()))
        })?;
        drop(turn);
        if let Err(refusal) = changed {
            return Ok(Err(refusal));
        }
        Ok(self.staff_member(id).await?.ok_or(StaffRefusal::NotFound))
    }

    /// Gives a staff member a new generated password, returned once (only its hash is stored).
    /// Their sessions end and their failed-login count is cleared. Admins change their own
    /// password with their current one instead.
    pub async fn reset_staff_password(
        &self,
        actor: &Actor,
        id: i64,
    ) -> Result<StaffOutcome<String>> {
        if actor.id == Some(id) {
            return Ok(Err(StaffRefusal::OwnAccount));
        }
        let Some(member) = self.staff_member(id).await? else {
            return Ok(Err(StaffRefusal::NotFound));
        };
        let generated = generate_password();
        let hash = password::hash(generated.clone()).await?;
        let turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "UPDATE staff SET password_hash = $1, updated_at_ms = $2 WHERE id = $3",
            )
            .bind(&hash)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                tx.rollback().await?;
                return Ok(Err(StaffRefusal::NotFound));
            }
            sqlx::query("DELETE FROM login_failures WHERE username = $1")
                .bind(&member.username)
                .execute(&mut *tx)
                .await?;
            let ended = tx
                .end_sessions(&self.staff_sessions(id, None).await?)
                .await?;
            let detail = serde_json::json!({ "sessions_ended": ended });
            tx.record_audit(
                actor,
                AuditAction::StaffPasswordReset,
                &member.username,
                &detail,
            )
            .await?;
            tx.commit().await?;
        });
        drop(turn);
        Ok(Ok(generated))
    }

    /// Remembers the interface language a staff member chose; a change is audited with it.
    pub async fn set_staff_lang(&self, actor: &Actor, id: i64, lang: Lang) -> Result<()> {
        let turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin_write().await?;
            let current: Option<(String, String)> =
                sqlx::query_as("SELECT username, lang FROM staff WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match current {
                Some((username, from)) if from != lang.code() => {
                    sqlx::query("UPDATE staff SET lang = $1, updated_at_ms = $2 WHERE id = $3")
                        .bind(lang.code())
                        .bind(now_ms())
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    let detail = serde_json::json!({ "from": from, "to": lang.code() });
                    tx.record_audit(actor, AuditAction::ProfileLang, &username, &detail)
                        .await?;
                    tx.commit().await
                }
                _ => tx.rollback().await,
            }
        })?;
        drop(turn);
        Ok(())
    }
}

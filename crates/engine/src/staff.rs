//! Staff accounts: who may log in, with which role and language.

use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::{now_ms, on_db, password, Engine, Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// A staff member as the rest of the system sees it: never carries the password hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Staff {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub lang: String,
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
            lang: self.lang,
        }
    }
}

const SELECT_STAFF: &str = "SELECT id, username, password_hash, role, disabled, lang FROM staff";

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
        let hash = password::hash(password.to_owned()).await?;
        let now = now_ms();
        let inserted = on_db!(self.db(), |pool| sqlx::query_scalar::<_, i64>(
            "INSERT INTO staff (username, password_hash, role, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id"
        )
        .bind(username)
        .bind(&hash)
        .bind(role.as_str())
        .bind(now)
        .fetch_one(pool)
        .await);
        let id = match inserted {
            Ok(id) => id,
            Err(e) if Error::is_unique_violation(&e) => {
                return Err(Error::Conflict(format!("username {username}")))
            }
            Err(e) => return Err(e.into()),
        };
        self.audit(
            actor,
            "staff.create",
            username,
            serde_json::json!({ "role": role.as_str() }),
        )
        .await?;
        Ok(Staff {
            id,
            username: username.to_owned(),
            role,
            disabled: false,
            lang: "zh".into(),
        })
    }

    /// Remembers the interface language a staff member chose.
    pub async fn set_staff_lang(&self, id: i64, lang: &str) -> Result<()> {
        if lang != "zh" && lang != "en" {
            return Err(Error::Invalid {
                field: "lang",
                message: "must be zh or en".into(),
            });
        }
        on_db!(self.db(), |pool| sqlx::query(
            "UPDATE staff SET lang = $1, updated_at_ms = $2 WHERE id = $3"
        )
        .bind(lang)
        .bind(now_ms())
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }
}

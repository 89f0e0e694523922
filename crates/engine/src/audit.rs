//! The append-only audit log: who did what, when, from where. Never holds a secret.

use serde::Serialize;

use crate::{now_ms, on_db, Engine, Result};

/// Who performed an action.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: Option<i64>,
    pub name: String,
    pub ip: String,
}

impl Actor {
    pub fn staff(id: i64, name: &str, ip: &str) -> Self {
        Self {
            id: Some(id),
            name: name.to_owned(),
            ip: ip.to_owned(),
        }
    }

    /// An action from the command line (`wxpush user add`).
    pub fn cli() -> Self {
        Self {
            id: None,
            name: "cli".into(),
            ip: String::new(),
        }
    }

    /// wxpush itself (the sandbox set-up).
    pub fn system() -> Self {
        Self {
            id: None,
            name: "system".into(),
            ip: String::new(),
        }
    }

    /// Someone not logged in (a login attempt, the setup page).
    pub fn anonymous(ip: &str) -> Self {
        Self {
            id: None,
            name: "anonymous".into(),
            ip: ip.to_owned(),
        }
    }
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    pub actor_id: Option<i64>,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip: String,
}

impl Engine {
    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        on_db!(self.db(), |pool| sqlx::query(
            "INSERT INTO audit_log (at_ms, actor_id, actor, action, target, detail, ip) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        )
        .bind(now_ms())
        .bind(actor.id)
        .bind(&actor.name)
        .bind(action)
        .bind(target)
        .bind(detail.to_string())
        .bind(&actor.ip)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The newest entries first, optionally only one action.
    pub async fn audit_recent(&self, action: Option<&str>, limit: i64) -> Result<Vec<AuditEntry>> {
        let rows = on_db!(self.db(), |pool| sqlx::query_as::<_, AuditEntry>(
            "SELECT id, at_ms, actor_id, actor, action, target, detail, ip FROM audit_log \
             WHERE ($1 IS NULL OR action = $1) ORDER BY id DESC LIMIT $2"
        )
        .bind(action)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        Ok(rows)
    }
}

//! The append-only audit log: who did what, when, from where. Never holds a secret. The database
//! refuses UPDATE and DELETE on it (triggers, migration 7). A change writes its entry inside its
//! own transaction ([`RecordAudit`]): both commit, or neither.

use serde::Serialize;

pub use model::AuditAction;

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

/// What the audit page and its CSV export filter on. Empty fields do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// An exact action (`login.failure`), or a prefix ending in `.` or `*` (`login.`, `login.*`,
    /// `*` for all).
    pub action: String,
    /// The actor's name, exactly (`admin`, `anonymous`, `system`, `cli`).
    pub actor: String,
    /// From this time on (inclusive), in ms since the epoch.
    pub from_ms: Option<i64>,
    /// Up to this time (exclusive).
    pub until_ms: Option<i64>,
    /// Text the target contains, ignoring ASCII case.
    pub target: String,
}

/// `%`, `_` and `\` match themselves in a `LIKE … ESCAPE '\'` pattern.
fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

enum Bind {
    Text(String),
    Int(i64),
}

impl AuditFilter {
    /// The WHERE clause (with `AND`s) and its values, for the filters that are set, keyset
    /// after `before_id`; placeholders are numbered from 1.
    fn clause(&self, before_id: Option<i64>) -> (String, Vec<Bind>) {
        let mut sql = Vec::new();
        let mut binds = Vec::new();
        let mut push = |cond: &str, b: Bind, binds: &mut Vec<Bind>| {
            binds.push(b);
            sql.push(cond.replace('?', &format!("${}", binds.len())));
        };
        let action = self.action.trim();
        if let Some(prefix) = action
            .strip_suffix('*')
            .or_else(|| action.ends_with('.').then_some(action))
        {
            if !prefix.is_empty() {
                push(
                    "action LIKE ? ESCAPE '\\'",
                    Bind::Text(format!("{}%", like_escape(prefix))),
                    &mut binds,
                );
            }
        } else if !action.is_empty() {
            push("action = ?", Bind::Text(action.to_owned()), &mut binds);
        }
        if !self.actor.trim().is_empty() {
            push(
                "actor = ?",
                Bind::Text(self.actor.trim().to_owned()),
                &mut binds,
            );
        }
        if let Some(from) = self.from_ms {
            push("at_ms >= ?", Bind::Int(from), &mut binds);
        }
        if let Some(until) = self.until_ms {
            push("at_ms < ?", Bind::Int(until), &mut binds);
        }
        if !self.target.trim().is_empty() {
            push(
                "LOWER(target) LIKE ? ESCAPE '\\'",
                Bind::Text(format!(
                    "%{}%",
                    like_escape(&self.target.trim().to_ascii_lowercase())
                )),
                &mut binds,
            );
        }
        if let Some(before) = before_id {
            push("id < ?", Bind::Int(before), &mut binds);
        }
        let clause = if sql.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", sql.join(" AND "))
        };
        (clause, binds)
    }
}

/// One audit entry. Binds: at_ms, actor_id, actor, action, target, detail (JSON), ip.
const INSERT_SQL: &str =
    "INSERT INTO audit_log (at_ms, actor_id, actor, action, target, detail, ip) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Writes an audit entry on a connection of either dialect: inside the transaction of the change
/// it records (`tx.record_audit(…)`, under the write gate that transaction already holds), so the
/// change and its entry commit or roll back together.
pub(crate) trait RecordAudit {
    async fn record_audit(
        &mut self,
        actor: &Actor,
        action: AuditAction,
        target: &str,
        detail: &serde_json::Value,
    ) -> std::result::Result<(), sqlx::Error>;
}

/// One implementation per dialect's connection (a generic one over `sqlx::Executor` makes the
/// callers' futures lose `Send`: rustc cannot prove its higher-ranked bounds).
macro_rules! record_audit_on {
    ($conn:ty) => {
        impl RecordAudit for $conn {
            async fn record_audit(
                &mut self,
                actor: &Actor,
                action: AuditAction,
                target: &str,
                detail: &serde_json::Value,
            ) -> std::result::Result<(), sqlx::Error> {
                sqlx::query(INSERT_SQL)
                    .bind(now_ms())
                    .bind(actor.id)
                    .bind(&actor.name)
                    .bind(action.code())
                    .bind(target)
                    .bind(detail.to_string())
                    .bind(&actor.ip)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }
        }
    };
}
record_audit_on!(sqlx::SqliteConnection);
record_audit_on!(sqlx::PgConnection);

impl Engine {
    /// One page of the audit log, newest first: entries matching `filter` with an id below
    /// `before_id` (the last id of the previous page), at most `limit`.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        let (clause, binds) = filter.clause(before_id);
        let sql = format!(
            "SELECT id, at_ms, actor_id, actor, action, target, detail, ip FROM audit_log \
             {clause} ORDER BY id DESC LIMIT {}",
            limit.clamp(1, 10_000)
        );
        let rows = on_db!(self.db(), |pool| {
            let mut q = sqlx::query_as::<_, AuditEntry>(&sql);
            for b in &binds {
                q = match b {
                    Bind::Text(t) => q.bind(t.as_str()),
                    Bind::Int(i) => q.bind(*i),
                };
            }
            q.fetch_all(pool).await
        })?;
        Ok(rows)
    }

    /// Records an entry in a statement of its own, for entries that record no change of the
    /// database (a refusal, a failure, an export, a call to WeChat). A change records its entry
    /// with [`RecordAudit::record_audit`] inside its own transaction instead.
    pub async fn audit(
        &self,
        actor: &Actor,
        action: AuditAction,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<()> {
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| pool
            .acquire()
            .await?
            .record_audit(actor, action, target, &detail)
            .await)?;
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

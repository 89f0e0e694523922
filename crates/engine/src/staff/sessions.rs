//! The tower-sessions store over either database, so sessions live beside the rest of the data.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use crate::db::WriteGate;
use crate::{Db, Engine, Error, Result};

/// The session key that holds the logged-in staff member's id (the app writes it at login).
pub const STAFF_ID_KEY: &str = "uid";

/// On SQLite, writes take the database's write gate: creating a session reads (is the id
/// free?) before it writes, and logins must not wait behind a follower sync's busy handler.
#[derive(Clone, Debug)]
pub enum Sessions {
    Sqlite(SqliteStore, WriteGate),
    Postgres(PostgresStore),
}

impl Sessions {
    /// Builds the store on `db` and creates its table when missing.
    pub async fn open(db: &Db) -> Result<Self> {
        Ok(match db {
            Db::Sqlite(pool) => {
                let store = SqliteStore::new(pool.clone());
                store.migrate().await?;
                Sessions::Sqlite(store, gate_of(db))
            }
            Db::Postgres(pool) => {
                let store = PostgresStore::new(pool.clone());
                store.migrate().await?;
                Sessions::Postgres(store)
            }
        })
    }
}

/// A SQLite database's write gate (always there for SQLite).
fn gate_of(db: &Db) -> WriteGate {
    db.write_gate().unwrap_or_default()
}

impl Sessions {
    /// The store over `db`, without creating its table.
    pub fn attach(db: &Db) -> Self {
        match db {
            Db::Sqlite(pool) => Sessions::Sqlite(SqliteStore::new(pool.clone()), gate_of(db)),
            Db::Postgres(pool) => Sessions::Postgres(PostgresStore::new(pool.clone())),
        }
    }

    /// The ids of every stored session (live or expired); none while the table does not exist
    /// yet (the command line never serves, so it never creates it).
    async fn ids(db: &Db) -> Result<Vec<String>> {
        Ok(match db {
            Db::Sqlite(pool) => {
                let exists: Option<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'tower_sessions'",
                )
                .fetch_optional(pool)
                .await?;
                if exists.is_none() {
                    return Ok(Vec::new());
                }
                sqlx::query_scalar("SELECT id FROM tower_sessions")
                    .fetch_all(pool)
                    .await?
            }
            Db::Postgres(pool) => {
                let exists: bool =
                    sqlx::query_scalar("SELECT to_regclass('tower_sessions.session') IS NOT NULL")
                        .fetch_one(pool)
                        .await?;
                if !exists {
                    return Ok(Vec::new());
                }
                sqlx::query_scalar("SELECT id FROM tower_sessions.session")
                    .fetch_all(pool)
                    .await?
            }
        })
    }
}

/// Sessions of one staff member that a change ends inside its own transaction (see
/// [`Engine::staff_sessions`]).
#[derive(Debug)]
pub(crate) struct StaffSessions {
    /// `DELETE … WHERE id IN (…)` for `ids`, in the dialect; `None` when there are none.
    sql: Option<String>,
    ids: Vec<String>,
}

/// Ends [`StaffSessions`] on a connection of either dialect: inside the change's transaction,
/// whose write gate covers it. Returns how many ended (one ended meanwhile is not counted).
pub(crate) trait EndSessions {
    async fn end_sessions(
        &mut self,
        sessions: &StaffSessions,
    ) -> std::result::Result<u64, sqlx::Error>;
}

macro_rules! end_sessions_on {
    ($conn:ty) => {
        impl EndSessions for $conn {
            async fn end_sessions(
                &mut self,
                sessions: &StaffSessions,
            ) -> std::result::Result<u64, sqlx::Error> {
                let Some(sql) = &sessions.sql else {
                    return Ok(0);
                };
                let mut q = sqlx::query(sql);
                for id in &sessions.ids {
                    q = q.bind(id);
                }
                Ok(q.execute(&mut *self).await?.rows_affected())
            }
        }
    };
}
end_sessions_on!(sqlx::SqliteConnection);
end_sessions_on!(sqlx::PgConnection);

impl Engine {
    /// The live sessions of staff member `staff_id`, except the session `keep`, as stored ids.
    /// Sessions are stored encoded by the session store, so each is loaded through it to read
    /// its owner; nothing is written.
    async fn staff_session_ids(&self, staff_id: i64, keep: Option<&str>) -> Result<Vec<String>> {
        let store = Sessions::attach(self.db());
        let mut owned = Vec::new();
        for raw in Sessions::ids(self.db()).await? {
            if keep == Some(raw.as_str()) {
                continue;
            }
            let Ok(id) = raw.parse::<Id>() else {
                continue;
            };
            let record = match store.load(&id).await {
                Ok(Some(record)) => record,
                // Expired, or ended meanwhile.
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!("skipping an unreadable session: {e}");
                    continue;
                }
            };
            let owner = record
                .data
                .get(STAFF_ID_KEY)
                .and_then(serde_json::Value::as_i64);
            if owner == Some(staff_id) {
                owned.push(raw);
            }
        }
        Ok(owned)
    }

    /// [`Engine::staff_session_ids`], to be ended inside a change's transaction with
    /// [`EndSessions::end_sessions`] (which takes no write gate: the transaction holds it).
    pub(crate) async fn staff_sessions(
        &self,
        staff_id: i64,
        keep: Option<&str>,
    ) -> Result<StaffSessions> {
        let ids = self.staff_session_ids(staff_id, keep).await?;
        let table = match self.db() {
            Db::Sqlite(_) => "tower_sessions",
            Db::Postgres(_) => "tower_sessions.session",
        };
        let sql = (!ids.is_empty()).then(|| {
            let list = (1..=ids.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!("DELETE FROM {table} WHERE id IN ({list})")
        });
        Ok(StaffSessions { sql, ids })
    }

    /// Ends every session of staff member `staff_id` at once, except the session `keep` (the
    /// caller's own, when they change their password). Returns how many ended.
    pub async fn end_staff_sessions(&self, staff_id: i64, keep: Option<&str>) -> Result<u64> {
        let store = Sessions::attach(self.db());
        let store_err = |e: session_store::Error| Error::Internal(format!("session store: {e}"));
        let mut ended = 0;
        for raw in self.staff_session_ids(staff_id, keep).await? {
            let Ok(id) = raw.parse::<Id>() else {
                continue;
            };
            store.delete(&id).await.map_err(store_err)?;
            ended += 1;
        }
        Ok(ended)
    }
}

#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(s, gate) => {
                let _turn = gate.turn().await;
                s.create(record).await
            }
            Sessions::Postgres(s) => s.create(record).await,
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(s, gate) => {
                let _turn = gate.turn().await;
                s.save(record).await
            }
            Sessions::Postgres(s) => s.save(record).await,
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self {
            Sessions::Sqlite(s, _) => s.load(id).await,
            Sessions::Postgres(s) => s.load(id).await,
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(s, gate) => {
                let _turn = gate.turn().await;
                s.delete(id).await
            }
            Sessions::Postgres(s) => s.delete(id).await,
        }
    }
}

#[async_trait]
impl ExpiredDeletion for Sessions {
    async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            Sessions::Sqlite(s, gate) => {
                let _turn = gate.turn().await;
                s.delete_expired().await
            }
            Sessions::Postgres(s) => s.delete_expired().await,
        }
    }
}

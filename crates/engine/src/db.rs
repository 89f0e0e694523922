//! One database handle over two dialects: SQLite (embedded default) and PostgreSQL.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use crate::write_gate::WriteGate;
use crate::{Error, Result};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of either dialect. The SQL inside must be
/// portable (`$1` placeholders, `RETURNING`, integer timestamps).
#[macro_export]
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Transactions that read before they write. On SQLite such a transaction starts with
/// `BEGIN IMMEDIATE`, taking the write lock at once (waiting under the busy timeout): a deferred
/// transaction that has read must later upgrade its read lock, and when another connection
/// wrote in between SQLite refuses the upgrade at once with "database is locked"
/// (`SQLITE_BUSY_SNAPSHOT`) — the busy timeout never applies to it. A transaction whose first
/// statement writes needs nothing: that statement takes the lock under the busy timeout.
/// PostgreSQL needs nothing special either.
pub trait BeginWrite {
    type Database: sqlx::Database;

    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = std::result::Result<sqlx::Transaction<'static, Self::Database>, sqlx::Error>,
    > + Send;
}

impl BeginWrite for SqlitePool {
    type Database = sqlx::Sqlite;

    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = std::result::Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error>,
    > + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Database = sqlx::Postgres;

    fn begin_write(
        &self,
    ) -> impl std::future::Future<
        Output = std::result::Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error>,
    > + Send {
        self.begin()
    }
}

/// One gate per database file for every pool of this process (two engines on one file, as in
/// tests, share it).
static GATES: OnceLock<std::sync::Mutex<HashMap<PathBuf, WriteGate>>> = OnceLock::new();

impl Db {
    /// This database's write gate: `None` on PostgreSQL, which needs none.
    pub fn write_gate(&self) -> Option<WriteGate> {
        let Db::Sqlite(pool) = self else {
            return None;
        };
        let file = pool.connect_options().get_filename().to_path_buf();
        let file = std::fs::canonicalize(&file).unwrap_or(file);
        let mut gates = GATES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Some(gates.entry(file).or_default().clone())
    }

    /// Opens `url`: `sqlite:PATH` (the file and its folder are created) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await?;
            Ok(Db::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            if let Some(dir) = Path::new(options.get_filename()).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        Error::Config(format!(
                            "cannot create database folder {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
            }
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Ok(Db::Sqlite(pool))
        } else {
            Err(Error::Config(
                "WXPUSH_DATABASE_URL must start with sqlite: or postgres://".into(),
            ))
        }
    }

    pub async fn migrate(&self) -> Result<()> {
        match self {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    pub async fn ping(&self) -> Result<()> {
        on_db!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    pub fn dialect(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    /// Migration 6 rebuilds the SQLite job tables (a CHECK cannot be altered): jobs sent before
    /// it keep every row, their 64-bit msgids, and the cascade from job to recipients.
    #[tokio::test]
    async fn sqlite_job_tables_survive_the_channel_rebuild() {
        let db = crate::testing::TestDb::sqlite();
        let Db::Sqlite(pool) = Db::connect(&db.url).await.unwrap() else {
            unreachable!("a sqlite url")
        };
        let before = Migrator {
            migrations: Cow::Owned(
                SQLITE_MIGRATIONS
                    .migrations
                    .iter()
                    .filter(|m| m.version <= 5)
                    .cloned()
                    .collect(),
            ),
            ..Migrator::DEFAULT
        };
        before.run(&pool).await.unwrap();
        for sql in [
            "INSERT INTO accounts (kind, name, appid, secret, api_base, created_at_ms, \
             updated_at_ms) VALUES ('oa', 'a', 'wx0000000000000001', 's', 'http://x', 0, 0)",
            "INSERT INTO jobs (account_id, name, preset_name, template_id, template_title, \
             payload, source, state, total, will_receive, rate_limit, created_by, created_ms, \
             updated_ms) VALUES (1, 'j', 'p', 't', 'tt', '{}', '{}', 'done', 2, 2, 10, 'me', 0, 0)",
            "INSERT INTO job_recipients (job_id, seq, openid, state, updated_ms, msgid) \
             VALUES (1, 1, 'o1', 'sent', 0, 3248682510344192008), \
             (1, 2, 'o2', 'skipped', 0, NULL)",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        SQLITE_MIGRATIONS.run(&pool).await.unwrap();
        let rows: Vec<(i64, String, String, Option<i64>)> = sqlx::query_as(
            "SELECT seq, openid, channel, msgid FROM job_recipients WHERE job_id = 1 ORDER BY seq",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            rows,
            vec![
                (
                    1,
                    "o1".into(),
                    "template".into(),
                    Some(3_248_682_510_344_192_008)
                ),
                (2, "o2".into(), "template".into(), None)
            ]
        );
        let channel: String = sqlx::query_scalar("SELECT channel FROM jobs WHERE id = 1")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(channel, "template");
        sqlx::query("DELETE FROM jobs WHERE id = 1")
            .execute(&pool)
            .await
            .unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_recipients")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(left, 0, "recipients still belong to their job");
    }

    /// Migration 14 rebuilds job_recipients (a new skip reason) and the tables that reference
    /// it: API messages and their webhook deliveries keep every row, their ids (a deleted
    /// message's id is not handed out again) and the cascades.
    #[tokio::test]
    async fn sqlite_api_messages_survive_the_skip_reason_rebuild() {
        let db = crate::testing::TestDb::sqlite();
        let Db::Sqlite(pool) = Db::connect(&db.url).await.unwrap() else {
            unreachable!("a sqlite url")
        };
        let before = Migrator {
            migrations: Cow::Owned(
                SQLITE_MIGRATIONS
                    .migrations
                    .iter()
                    .filter(|m| m.version <= 13)
                    .cloned()
                    .collect(),
            ),
            ..Migrator::DEFAULT
        };
        before.run(&pool).await.unwrap();
        for sql in [
            "INSERT INTO accounts (kind, name, appid, secret, api_base, created_at_ms, \
             updated_at_ms) VALUES ('oa', 'a', 'wx0000000000000001', 's', 'http://x', 0, 0)",
            "INSERT INTO jobs (account_id, name, preset_name, template_id, template_title, \
             payload, source, state, total, will_receive, rate_limit, created_by, created_ms, \
             updated_ms, kind) VALUES (1, 'j', 'p', 't', 'tt', '', '{}', 'running', 0, 0, 10, \
             'me', 0, 0, 'api')",
            "INSERT INTO job_recipients (job_id, seq, openid, state, updated_ms, payload) \
             VALUES (1, 1, 'o1', 'sent', 0, '{}'), (1, 2, 'o2', 'pending', 0, '{}')",
            "INSERT INTO send_keys (account_id, name, key_hash, prefix, rate, created_by, \
             created_at_ms) VALUES (1, 'k', 'h', 'p', 10, 'me', 0)",
            "INSERT INTO api_messages (key_id, account_id, body_hash, job_id, seq, to_kind, \
             to_id, created_ms) VALUES (1, 1, 'b', 1, 1, 'oa_openid', 'o1', 0), \
             (1, 1, 'b', 1, 2, 'oa_openid', 'o2', 0)",
            "INSERT INTO webhook_deliveries (key_id, message_id, event, body, next_try_ms, \
             created_ms) VALUES (1, 1, 'message.sent', '{}', 0, 0)",
            "DELETE FROM api_messages WHERE id = 2",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        SQLITE_MIGRATIONS.run(&pool).await.unwrap();
        let count = |sql: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(count("SELECT COUNT(*) FROM job_recipients").await, 2);
        assert_eq!(count("SELECT COUNT(*) FROM api_messages").await, 1);
        assert_eq!(count("SELECT COUNT(*) FROM webhook_deliveries").await, 1);
        sqlx::query(
            "UPDATE job_recipients SET state = 'skipped', skip_reason = 'daily_cap' WHERE seq = 2",
        )
        .execute(&pool)
        .await
        .unwrap();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_messages (key_id, account_id, body_hash, job_id, seq, to_kind, \
             to_id, created_ms) VALUES (1, 1, 'b', 1, 2, 'oa_openid', 'o2', 0) RETURNING id",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(id, 3, "ids are not handed out twice");
        sqlx::query("DELETE FROM jobs WHERE id = 1")
            .execute(&pool)
            .await
            .unwrap();
        assert_eq!(
            count("SELECT COUNT(*) FROM webhook_deliveries").await,
            0,
            "cascades"
        );
        let fk: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(fk.is_empty(), "{fk:?}");
    }
}

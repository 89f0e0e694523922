//! The resumable follower sync (user/get chain, batchget details, reconciliation) and follow events.
//!
//! A run is a `sync_runs` row that moves `listing` → `detailing` → `done` (or `failed` /
//! `cancelled`). Every step commits its data together with the run's progress, so a run picked
//! up after a crash continues where the last commit left it: the `user/get` chain from the stored
//! cursor, the details for the rows not detailed by this run yet. One process at a time works on
//! a run (a lease renewed by a heartbeat and checked by every commit); at most one unfinished run
//! per account exists (a partial unique index).
//!
//! Speed (1,000,000 followers, SQLite): fetching overlaps writing in both phases; a listing
//! transaction stores every page that is ready (one when WeChat is the slower side, several when
//! the database is), because each commit rewrites most pages of the two openid-ordered indexes;
//! details are written in rowid order, touching an index only when its column changes; the
//! SQLite statements with thousands of rows bind anonymous `?` parameters (sqlx resolves
//! `$N` names one by one, and SQLite finds each name by a linear walk: quadratic).
//!
//! The parts: `list` (phase 1, `user/get`), `detail` (phase 2, `batchget`), `finish`
//! (reconciling and ending a run), `events` (follow and unfollow callbacks).

mod detail;
mod events;
mod finish;
mod list;

use crate::audit::AuditAction;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPool;
use sqlx::Sqlite;
use wechat::api::{ApiError, ErrorClass};

use crate::accounts::{Account, AccountKind};
use crate::audit::{Actor, RecordAudit};
use crate::db::Db;

use crate::{now_ms, on_db, Engine, Error, Result};
use model::Problem;
pub use model::SyncState;

/// How long a run's lease lasts without renewal; after that another process may take the run.
pub const SYNC_LEASE_MS: i64 = 30_000;
/// How often a working runner renews its lease (besides every commit).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// The page cache of the connection a sync writes with on SQLite (KiB).
const SQLITE_SYNC_CACHE_KIB: i64 = 64 * 1024;

/// Pauses before retrying a call WeChat answered with a transient error (-1, 45011, 5xx…).
const RETRY_BACKOFF: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(2),
    Duration::from_secs(5),
];

/// The unfinished runs ([`SyncState::is_active`]), in SQL.
const ACTIVE: &str = "state IN ('listing', 'detailing')";

pub use model::sync::SyncProgress;

#[derive(sqlx::FromRow)]
struct RunRow {
    run_id: i64,
    account_id: i64,
    state: String,
    next_openid: String,
    total: i64,
    pages_done: i64,
    listed: i64,
    detailed: i64,
    unsubscribed: i64,
    error: Option<String>,
    cancel_requested: bool,
    started_at_ms: i64,
    updated_at_ms: i64,
    finished_at_ms: Option<i64>,
}

impl RunRow {
    /// The stored state. The CHECK constraint of `sync_runs.state` admits only
    /// [`SyncState`]'s words; should another ever be read, the run counts as `failed`: shown
    /// as failed, finished, and never worked on (as any unknown state was before it was typed).
    fn state(&self) -> SyncState {
        SyncState::parse(&self.state).unwrap_or_else(|| {
            tracing::warn!(run_id = self.run_id, state = %self.state, "unknown sync run state");
            SyncState::Failed
        })
    }

    fn progress(self) -> SyncProgress {
        SyncProgress {
            run_id: self.run_id,
            state: self.state(),
            total: self.total,
            pages_done: self.pages_done,
            listed: self.listed,
            detailed: self.detailed,
            unsubscribed: self.unsubscribed,
            error: self.error,
            cancel_requested: self.cancel_requested,
            started_at_ms: self.started_at_ms,
            updated_at_ms: self.updated_at_ms,
            finished_at_ms: self.finished_at_ms,
        }
    }
}

const SELECT_RUN: &str = "SELECT id AS run_id, account_id, state, next_openid, total, pages_done, \
     listed, detailed, unsubscribed, error, cancel_requested, started_at_ms, updated_at_ms, \
     finished_at_ms FROM sync_runs";

/// How a runner stopped without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Done,
    Cancelled,
    /// Another process took the run over (or it was cancelled while nobody ran it): stop quietly.
    LostLease,
}

/// What a commit learned about the run.
enum Commit {
    Go,
    CancelRequested,
    LostLease,
}

impl Commit {
    fn from_row(cancel: Option<bool>) -> Self {
        match cancel {
            None => Commit::LostLease,
            Some(true) => Commit::CancelRequested,
            Some(false) => Commit::Go,
        }
    }
}

/// The connection a runner writes with (see [`Engine::sync_writer`]).
enum Writer {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PgPool),
}

/// Tag ids as stored: `,2,100,` (empty without tags), so one tag matches `LIKE '%,100,%'`.
pub fn tag_list(ids: &[i64]) -> String {
    if ids.is_empty() {
        return String::new();
    }
    let mut out = String::from(",");
    for id in ids {
        out.push_str(&id.to_string());
        out.push(',');
    }
    out
}

/// Runs being worked on by this process, per engine instance: a second `run_sync` of the same
/// run in the same process waits for the first instead of running beside it.
type RunLocks = HashMap<(String, i64), Arc<tokio::sync::Mutex<()>>>;

fn local_runs() -> std::sync::MutexGuard<'static, RunLocks> {
    static RUNS: OnceLock<Mutex<RunLocks>> = OnceLock::new();
    RUNS.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The runs this process's sync watcher is working on.
fn lock_set(set: &Mutex<HashSet<i64>>) -> std::sync::MutexGuard<'_, HashSet<i64>> {
    set.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Engine {
    /// Starts a follower sync of an Official Account and returns the run id at once; the run
    /// goes on in a task of its own. A second start while one runs (in any process) is a
    /// [`Error::Conflict`].
    pub async fn start_sync(&self, actor: &Actor, account_id: i64) -> Result<i64> {
        let account = self.account(account_id).await?.ok_or(Error::NotFound)?;
        if account.kind != AccountKind::Oa {
            return Err(Error::refused("account_id", Problem::OfficialAccountOnly));
        }
        let now = now_ms();
        let turn = self.write_gate().await;
        let run_id = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query_scalar::<_, i64>(
                "INSERT INTO sync_runs (account_id, state, started_by, started_at_ms, \
                 updated_at_ms, lease_owner, lease_until_ms) \
                 VALUES ($1, 'listing', $2, $3, $3, $4, $5) RETURNING id",
            )
            .bind(account_id)
            .bind(&actor.name)
            .bind(now)
            .bind(&self.inner.instance_id)
            .bind(now + SYNC_LEASE_MS)
            .fetch_one(&mut *tx)
            .await;
            let run_id = match inserted {
                Ok(id) => id,
                Err(e) if Error::is_unique_violation(&e) => {
                    return Err(Error::Conflict("a follower sync in progress".into()))
                }
                Err(e) => return Err(e.into()),
            };
            let detail = serde_json::json!({ "run_id": run_id });
            tx.record_audit(
                actor,
                AuditAction::FollowersSyncStart,
                &account.appid,
                &detail,
            )
            .await?;
            tx.commit().await?;
            run_id
        });
        drop(turn);
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.run_sync(run_id).await {
                tracing::warn!(run_id, error = %e, "follower sync runner stopped");
            }
        });
        Ok(run_id)
    }

    /// Works on a run until it ends, and returns how it ended. Refuses ([`Error::Conflict`]) a
    /// run whose lease another live process holds; waits for a runner of the same engine
    /// working on it and then returns its result. A finished run is returned as it is.
    ///
    /// Errors — WeChat's after a token refresh and a few retries of transient ones — end the run
    /// as `failed` with the error in words. When even that cannot be written (the database is
    /// gone), the run stays unfinished and is resumed once its lease lapses.
    pub async fn run_sync(&self, run_id: i64) -> Result<SyncProgress> {
        let key = (self.inner.instance_id.clone(), run_id);
        let lock = local_runs().entry(key.clone()).or_default().clone();
        let guard = lock.lock().await;
        let result = self.run_locked(run_id).await;
        drop(guard);
        {
            let mut map = local_runs();
            // Nobody else holds or waits for this lock (clones are only made under the map lock).
            if Arc::strong_count(&lock) == 2 {
                map.remove(&key);
            }
        }
        result
    }

    async fn run_locked(&self, run_id: i64) -> Result<SyncProgress> {
        let run = self.run_row(run_id).await?.ok_or(Error::NotFound)?;
        if !run.state().is_active() {
            return Ok(run.progress());
        }
        if !self.take_sync_lease(run_id).await? {
            return Err(Error::Conflict(format!(
                "a runner of sync run {run_id} in another process"
            )));
        }
        let account_id = run.account_id;
        let outcome = tokio::select! {
            r = self.drive(run_id) => r,
            lost = self.heartbeat(run_id) => Ok(lost),
        };
        match outcome {
            Ok(End::Done) | Ok(End::Cancelled) => {}
            Ok(End::LostLease) => {
                tracing::info!(
                    run_id,
                    "follower sync taken over or ended elsewhere; stopping"
                );
            }
            Err(err) => {
                tracing::warn!(run_id, error = %err, "follower sync failed");
                if let Err(e) = self.fail_run(account_id, run_id, &err).await {
                    tracing::warn!(run_id, error = %e, "could not record the failed sync");
                    return Err(err);
                }
            }
        }
        self.run_row(run_id)
            .await?
            .map(RunRow::progress)
            .ok_or(Error::NotFound)
    }

    /// At server start: runners for every unfinished run. A run whose lease is still held
    /// (its process may be alive, or crashed moments ago) is taken over once the lease lapses.
    /// Returns how many runs are being resumed.
    pub async fn resume_syncs(&self) -> Result<usize> {
        let ids: Vec<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(&format!(
            "SELECT id FROM sync_runs WHERE {ACTIVE} ORDER BY id"
        ))
        .fetch_all(pool)
        .await)?;
        for &run_id in &ids {
            let engine = self.clone();
            tokio::spawn(async move { engine.resume_when_free(run_id).await });
        }
        if !ids.is_empty() {
            tracing::info!(runs = ids.len(), "resuming unfinished follower syncs");
        }
        Ok(ids.len())
    }

    /// Every `every`, runners for the unfinished runs whose lease lapsed (their process died or
    /// hung), so that with several processes a survivor finishes a sync without a restart.
    pub fn watch_syncs(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            let taken: Arc<Mutex<HashSet<i64>>> = Arc::default();
            loop {
                tokio::time::sleep(every).await;
                let lapsed: Vec<i64> = match on_db!(engine.db(), |pool| sqlx::query_scalar(
                    &format!("SELECT id FROM sync_runs WHERE {ACTIVE} AND lease_until_ms < $1")
                )
                .bind(now_ms())
                .fetch_all(pool)
                .await)
                {
                    Ok(ids) => ids,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot look for abandoned follower syncs");
                        continue;
                    }
                };
                for run_id in lapsed {
                    // One runner per run from this watcher, however long it takes.
                    if !lock_set(&taken).insert(run_id) {
                        continue;
                    }
                    tracing::info!(run_id, "taking over a follower sync whose process stopped");
                    let (engine, taken) = (engine.clone(), taken.clone());
                    tokio::spawn(async move {
                        match engine.run_sync(run_id).await {
                            Ok(_) | Err(Error::Conflict(_)) => {}
                            Err(e) => tracing::warn!(run_id, error = %e, "follower sync stopped"),
                        }
                        lock_set(&taken).remove(&run_id);
                    });
                }
            }
        })
    }

    async fn resume_when_free(&self, run_id: i64) {
        loop {
            match self.run_sync(run_id).await {
                Err(Error::Conflict(_)) => {
                    let wait = match self.run_lease_until(run_id).await {
                        Ok(Some(until)) => (until - now_ms()).clamp(200, SYNC_LEASE_MS) + 100,
                        Ok(None) => return,
                        Err(_) => SYNC_LEASE_MS,
                    };
                    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                }
                Ok(_) => return,
                Err(e) => {
                    tracing::warn!(run_id, error = %e, "resumed follower sync stopped");
                    return;
                }
            }
        }
    }

    /// Asks the account's unfinished run to stop (it ends as `cancelled` at its next commit,
    /// without reconciliation). A run nobody works on (lease lapsed) is cancelled at once.
    pub async fn cancel_sync(&self, actor: &Actor, account_id: i64) -> Result<()> {
        let account = self.account(account_id).await?.ok_or(Error::NotFound)?;
        let now = now_ms();
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let idle: Option<i64> = sqlx::query_scalar(&format!(
                "UPDATE sync_runs SET state = 'cancelled', cancel_requested = TRUE, \
                 finished_at_ms = $1, updated_at_ms = $1 \
                 WHERE account_id = $2 AND {ACTIVE} AND lease_until_ms < $1 RETURNING id"
            ))
            .bind(now)
            .bind(account_id)
            .fetch_optional(&mut *tx)
            .await?;
            let (run_id, immediate) = match idle {
                Some(id) => (id, true),
                None => {
                    let requested: Option<i64> = sqlx::query_scalar(&format!(
                        "UPDATE sync_runs SET cancel_requested = TRUE, updated_at_ms = $1 \
                         WHERE account_id = $2 AND {ACTIVE} RETURNING id"
                    ))
                    .bind(now)
                    .bind(account_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    (requested.ok_or(Error::NotFound)?, false)
                }
            };
            let detail = serde_json::json!({ "run_id": run_id, "immediate": immediate });
            tx.record_audit(
                actor,
                AuditAction::FollowersSyncCancel,
                &account.appid,
                &detail,
            )
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The account's latest run.
    pub async fn sync_progress(&self, account_id: i64) -> Result<Option<SyncProgress>> {
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, RunRow>(&format!(
            "{SELECT_RUN} WHERE account_id = $1 ORDER BY id DESC LIMIT 1"
        ))
        .bind(account_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(RunRow::progress))
    }

    /// One run by id.
    pub async fn sync_run(&self, run_id: i64) -> Result<Option<SyncProgress>> {
        Ok(self.run_row(run_id).await?.map(RunRow::progress))
    }

    /// The account's latest runs, newest first.
    pub async fn sync_history(&self, account_id: i64, limit: i64) -> Result<Vec<SyncProgress>> {
        let rows = on_db!(self.db(), |pool| sqlx::query_as::<_, RunRow>(&format!(
            "{SELECT_RUN} WHERE account_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(account_id)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(RunRow::progress).collect())
    }

    // ---- the runner ------------------------------------------------------------------------

    async fn run_row(&self, run_id: i64) -> Result<Option<RunRow>> {
        Ok(on_db!(self.db(), |pool| sqlx::query_as::<_, RunRow>(
            &format!("{SELECT_RUN} WHERE id = $1")
        )
        .bind(run_id)
        .fetch_optional(pool)
        .await)?)
    }

    async fn run_lease_until(&self, run_id: i64) -> Result<Option<i64>> {
        Ok(on_db!(self.db(), |pool| sqlx::query_scalar(&format!(
            "SELECT lease_until_ms FROM sync_runs WHERE id = $1 AND {ACTIVE}"
        ))
        .bind(run_id)
        .fetch_optional(pool)
        .await)?)
    }

    /// Takes (or renews) the run's lease for this process; `false` when another process holds it
    /// or the run has ended.
    async fn take_sync_lease(&self, run_id: i64) -> Result<bool> {
        let now = now_ms();
        let taken = on_db!(self.db(), |pool| sqlx::query(&format!(
            "UPDATE sync_runs SET lease_owner = $1, lease_until_ms = $2 \
             WHERE id = $3 AND {ACTIVE} AND (lease_until_ms < $4 OR lease_owner = $1)"
        ))
        .bind(&self.inner.instance_id)
        .bind(now + SYNC_LEASE_MS)
        .bind(run_id)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(taken == 1)
    }

    /// Renews the lease every few seconds while the run is worked on; returns when it is lost.
    async fn heartbeat(&self, run_id: i64) -> End {
        loop {
            tokio::time::sleep(HEARTBEAT_EVERY).await;
            let now = now_ms();
            let renewed = on_db!(self.db(), |pool| sqlx::query(&format!(
                "UPDATE sync_runs SET lease_until_ms = $1 \
                 WHERE id = $2 AND lease_owner = $3 AND {ACTIVE}"
            ))
            .bind(now + SYNC_LEASE_MS)
            .bind(run_id)
            .bind(&self.inner.instance_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()));
            match renewed {
                Ok(0) if !self.ended_by_me(run_id).await => return End::LostLease,
                // Our own run just ended: `drive` is writing its last words (the audit entry);
                // stopping it now would lose them.
                Ok(_) => {}
                Err(e) => tracing::warn!(run_id, error = %e, "could not renew the sync lease"),
            }
        }
    }

    /// Whether the run is still this process's (it ended here rather than being taken over).
    async fn ended_by_me(&self, run_id: i64) -> bool {
        let owner: std::result::Result<Option<Option<String>>, _> = on_db!(self.db(), |pool| {
            sqlx::query_scalar("SELECT lease_owner FROM sync_runs WHERE id = $1")
                .bind(run_id)
                .fetch_optional(pool)
                .await
        });
        matches!(owner, Ok(Some(Some(o))) if o == self.inner.instance_id)
    }

    async fn drive(&self, run_id: i64) -> Result<End> {
        let mut writer = self.sync_writer().await?;
        loop {
            let Some(run) = self.run_row(run_id).await? else {
                return Ok(End::LostLease);
            };
            let account = self.account(run.account_id).await?.ok_or(Error::NotFound)?;
            if run.cancel_requested {
                return self.end_cancelled(&account, run_id).await;
            }
            let commit = match run.state() {
                SyncState::Listing => self.list_followers(&mut writer, &account, &run).await?,
                SyncState::Detailing => {
                    return match self.detail_followers(&mut writer, &account, run_id).await? {
                        Commit::Go => self.finish(&mut writer, &account, &run).await,
                        Commit::CancelRequested => self.end_cancelled(&account, run_id).await,
                        Commit::LostLease => Ok(End::LostLease),
                    };
                }
                SyncState::Done | SyncState::Failed | SyncState::Cancelled => {
                    return Ok(End::LostLease)
                }
            };
            match commit {
                Commit::Go => continue,
                Commit::CancelRequested => return self.end_cancelled(&account, run_id).await,
                Commit::LostLease => return Ok(End::LostLease),
            }
        }
    }

    /// The connection a runner writes with. On SQLite: one connection for the whole run, with a
    /// page cache large enough to hold the followers' indexes (random openids touch index pages
    /// all over the file), closed afterwards so the memory goes with it.
    async fn sync_writer(&self) -> Result<Writer> {
        match self.db() {
            Db::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                conn.close_on_drop();
                sqlx::query(&format!("PRAGMA cache_size = -{SQLITE_SYNC_CACHE_KIB}"))
                    .execute(&mut *conn)
                    .await?;
                Ok(Writer::Sqlite(conn))
            }
            Db::Postgres(pool) => Ok(Writer::Postgres(pool.clone())),
        }
    }

    /// A WeChat call with the shared token, retried a few times on transient errors.
    async fn call_wechat<T, F, Fut>(&self, account: &Account, call: F) -> Result<T>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = std::result::Result<T, ApiError>>,
    {
        let mut attempt = 0;
        loop {
            match self.with_token(account, &call).await {
                Err(Error::WeChat(e))
                    if e.class() == ErrorClass::RetryLater && attempt < RETRY_BACKOFF.len() =>
                {
                    tracing::info!(appid = %account.appid, error = %e, attempt, "WeChat busy; retrying");
                    tokio::time::sleep(RETRY_BACKOFF[attempt]).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// Commits when the run is still ours, rolls back otherwise.
async fn finish_tx<DB: sqlx::Database>(tx: sqlx::Transaction<'_, DB>, keep: bool) -> Result<()> {
    if keep {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_fenced_by_commas() {
        assert_eq!(tag_list(&[]), "");
        assert_eq!(tag_list(&[2, 100]), ",2,100,");
    }

    #[test]
    fn active_in_sql_is_the_active_states() {
        for state in SyncState::ALL {
            let quoted = format!("'{}'", state.as_str());
            assert_eq!(ACTIVE.contains(&quoted), state.is_active(), "{state:?}");
        }
    }
}

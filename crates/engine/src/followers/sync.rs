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

use crate::audit::AuditAction;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPool;
use sqlx::{Connection, Sqlite};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use wechat::api::{ApiError, ErrorClass, UserInfo, UserPage, BATCH_MAX};

use crate::accounts::{Account, AccountKind};
use crate::audit::{Actor, RecordAudit};
use crate::db::Db;

use crate::{now_ms, on_db, Engine, Error, Result};
use model::Problem;

/// How long a run's lease lasts without renewal; after that another process may take the run.
pub const SYNC_LEASE_MS: i64 = 30_000;
/// How often a working runner renews its lease (besides every commit).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// `user/get` pages fetched ahead of the database, and the most stored in one transaction.
const LIST_PREFETCH_PAGES: usize = 8;
const LIST_GROUP_PAGES: usize = 10;
/// `user/info/batchget` calls in flight at once.
const DETAIL_CONCURRENCY: usize = 8;
/// Batchget answers queued for the writer, so fetching goes on while a batch is committed.
const DETAIL_QUEUE_BATCHES: usize = 256;
/// Detailed followers written per transaction. On SQLite big transactions pay: each one
/// writes every page it touched to the WAL once.
const SQLITE_DETAIL_WRITE_ROWS: usize = 50_000;
const PG_DETAIL_WRITE_ROWS: usize = 10_000;
/// At least this often details are committed (a slow WeChat fills a batch slowly).
const DETAIL_COMMIT_EVERY: Duration = Duration::from_secs(1);
/// The page cache of the connection a sync writes with on SQLite (KiB).
const SQLITE_SYNC_CACHE_KIB: i64 = 64 * 1024;
/// Undetailed openids read per query.
const PENDING_READ_ROWS: i64 = 2_000;
/// Rows per multi-row statement on SQLite (1 bound value per row while listing, 8 while
/// detailing: far below SQLite's 32,766 parameters).
const SQLITE_LIST_CHUNK: usize = 1_000;
const SQLITE_DETAIL_CHUNK: usize = 1_000;

/// Pauses before retrying a call WeChat answered with a transient error (-1, 45011, 5xx…).
const RETRY_BACKOFF: [Duration; 3] = [
    Duration::from_millis(500),
    Duration::from_secs(2),
    Duration::from_secs(5),
];

const ACTIVE: &str = "state IN ('listing', 'detailing')";

/// A sync run as the UI shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SyncProgress {
    pub run_id: i64,
    /// `listing`, `detailing`, `done`, `failed` or `cancelled`.
    pub state: String,
    /// Followers according to the last `user/get` page.
    pub total: i64,
    pub pages_done: i64,
    /// Openids listed so far (`user/get`).
    pub listed: i64,
    /// Followers detailed so far (`batchget`).
    pub detailed: i64,
    /// Followers no longer listed, marked as unsubscribed when the run finished.
    pub unsubscribed: i64,
    /// Why the run failed, in words.
    pub error: Option<String>,
    /// Someone asked to cancel; the runner stops at its next commit.
    pub cancel_requested: bool,
    pub started_at_ms: i64,
    pub updated_at_ms: i64,
    pub finished_at_ms: Option<i64>,
}

impl SyncProgress {
    /// `done`, `failed` or `cancelled`.
    pub fn is_finished(&self) -> bool {
        !matches!(self.state.as_str(), "listing" | "detailing")
    }
}

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
    fn progress(self) -> SyncProgress {
        SyncProgress {
            run_id: self.run_id,
            state: self.state,
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

/// One `user/get` page ready to be stored.
struct ListedPage {
    /// Sorted, without duplicates.
    openids: Vec<String>,
    /// The cursor to resume after this page.
    cursor: String,
    total: i64,
    last: bool,
}

/// The connection a runner writes with (see [`Engine::sync_writer`]).
enum Writer {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PgPool),
}

/// A follower listed by the run and not detailed by it yet, with what is stored about it.
/// `rid` is SQLite's rowid (the read and write order there), 0 on PostgreSQL.
#[derive(sqlx::FromRow)]
struct Pending {
    rid: i64,
    openid: String,
    unionid: Option<String>,
    subscribed: bool,
}

/// One follower's details as the detail phase writes them.
struct Detail {
    rid: i64,
    openid: String,
    /// The unionid WeChat sent (never empty).
    unionid: Option<String>,
    subscribed: bool,
    subscribe_time: Option<i64>,
    tagid_list: String,
    remark: String,
    language: Option<String>,
    subscribe_scene: Option<String>,
    shape: Shape,
}

impl Detail {
    fn new(stored: Pending, info: UserInfo) -> Self {
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        let unionid = non_empty(info.unionid);
        let shape = Shape {
            details: info.subscribe,
            unionid: unionid.is_some() && unionid != stored.unionid,
            subscribed: (info.subscribe != stored.subscribed).then_some(info.subscribe),
        };
        if !info.subscribe {
            // WeChat tells nothing else about someone who unfollowed: what is stored stays.
            return Detail {
                rid: stored.rid,
                openid: stored.openid,
                unionid,
                subscribed: false,
                subscribe_time: None,
                tagid_list: String::new(),
                remark: String::new(),
                language: None,
                subscribe_scene: None,
                shape,
            };
        }
        Detail {
            rid: stored.rid,
            openid: stored.openid,
            unionid,
            subscribed: true,
            subscribe_time: info.subscribe_time,
            tagid_list: tag_list(&info.tagid_list),
            remark: info.remark.unwrap_or_default(),
            language: non_empty(info.language),
            subscribe_scene: non_empty(info.subscribe_scene),
            shape,
        }
    }
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

/// The error text stored on a failed run: the explanation first, then what WeChat said.
fn error_text(err: &Error) -> String {
    match err {
        Error::WeChat(e) => {
            let explained = e.explain(false);
            if explained.contains(&e.to_string()) {
                explained
            } else {
                format!("{explained} ({e})")
            }
        }
        other => other.to_string(),
    }
}

/// A listing chunk of `rows` openids on SQLite. Binds: account, run, now, then the openids.
///
/// The SQLite statements with many rows use anonymous `?` parameters only: sqlx looks every
/// parameter up by name, and SQLite finds a name by walking the list of named parameters, which
/// makes thousands of `$N` parameters quadratic.
fn sqlite_list_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(LIST_INSERT.len() + LIST_CONFLICT.len() + 80 + rows * 4);
    sql.push_str(LIST_INSERT);
    sql.push_str("SELECT ?, v.column1, ?, TRUE, ? FROM (VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?)");
    }
    sql.push_str(") AS v WHERE TRUE");
    sql.push_str(LIST_CONFLICT);
    sql
}

const LIST_INSERT: &str =
    "INSERT INTO followers (account_id, openid, seen_run, subscribed, updated_at_ms) ";

/// A listed follower already stored only gets the run's mark: the details (and `subscribed`
/// for someone who came back) follow from `batchget`. Touching no other indexed column keeps
/// a re-sync cheap.
const LIST_CONFLICT: &str =
    " ON CONFLICT (account_id, openid) DO UPDATE SET seen_run = excluded.seen_run";

const PG_LIST_SELECT: &str =
    "SELECT $1::int8, t.o, $2::int8, TRUE, $3::int8 FROM UNNEST($4::text[]) AS t(o)";

/// Which columns a detail write changes. On SQLite rows are grouped by it so that an index is
/// only touched when its column really changes (a changed `subscribed` or `unionid` rewrites
/// an index entry far from the row, the most expensive part of a write).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Shape {
    /// WeChat sent details (the user follows): subscribe_time, tags, remark, language, scene.
    details: bool,
    /// A unionid that differs from the stored one (a known unionid is never cleared).
    unionid: bool,
    /// The new `subscribed`, when it differs from the stored one.
    subscribed: Option<bool>,
}

/// `UPDATE followers SET … FROM (VALUES …) AS v WHERE rowid and openid match` for `rows` rows of
/// `shape`. Binds (anonymous, see [`sqlite_list_sql`]): run, now, then per row: rowid, openid,
/// subscribe_time, tagid_list, remark, language, subscribe_scene, unionid. (The openid check
/// makes a stale rowid harmless.)
fn sqlite_detail_sql(shape: Shape, rows: usize) -> String {
    let mut sql = String::with_capacity(400 + rows * 18);
    sql.push_str("UPDATE followers SET detailed_run = ?, updated_at_ms = ?");
    if shape.details {
        sql.push_str(
            ", subscribe_time = v.column3, tagid_list = v.column4, remark = v.column5, \
             language = v.column6, subscribe_scene = v.column7",
        );
    }
    if shape.unionid {
        sql.push_str(", unionid = v.column8");
    }
    match shape.subscribed {
        Some(true) => sql.push_str(", subscribed = TRUE"),
        Some(false) => sql.push_str(", subscribed = FALSE"),
        None => {}
    }
    sql.push_str(" FROM (VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?,?)");
    }
    sql.push_str(") AS v WHERE followers.rowid = v.column1 AND followers.openid = v.column2");
    sql
}

/// PostgreSQL writes details by openid from arrays. Someone who unfollowed keeps their stored
/// details (WeChat sends none); a unionid is never forgotten (it does not change for a person).
const PG_DETAIL_SQL: &str = "UPDATE followers AS f SET \
     unionid = COALESCE(t.unionid, f.unionid), \
     subscribed = t.subscribed, \
     subscribe_time = CASE WHEN t.subscribed THEN t.subscribe_time ELSE f.subscribe_time END, \
     tagid_list = CASE WHEN t.subscribed THEN t.tagid_list ELSE f.tagid_list END, \
     remark = CASE WHEN t.subscribed THEN t.remark ELSE f.remark END, \
     language = CASE WHEN t.subscribed THEN t.language ELSE f.language END, \
     subscribe_scene = CASE WHEN t.subscribed THEN t.subscribe_scene ELSE f.subscribe_scene END, \
     detailed_run = $2, updated_at_ms = $3 \
     FROM UNNEST($4::text[], $5::text[], $6::bool[], $7::int8[], $8::text[], $9::text[], \
     $10::text[], $11::text[]) AS t(openid, unionid, subscribed, subscribe_time, tagid_list, \
     remark, language, subscribe_scene) \
     WHERE f.account_id = $1 AND f.openid = t.openid";

/// Marks followers not listed by a complete run as unsubscribed. Rows changed by a follow
/// event after the run started are left alone: the event is newer than the list. (`+` keeps
/// SQLite on the index holding `seen_run`, so only the unlisted rows are read.)
const SQLITE_RECONCILE_SQL: &str = "UPDATE followers SET subscribed = FALSE, updated_at_ms = $1 \
     WHERE account_id = $2 AND +subscribed = TRUE AND (seen_run IS NULL OR seen_run <> $3) \
     AND updated_at_ms < $4";
const PG_RECONCILE_SQL: &str = "UPDATE followers SET subscribed = FALSE, updated_at_ms = $1 \
     WHERE account_id = $2 AND subscribed = TRUE AND (seen_run IS NULL OR seen_run <> $3) \
     AND updated_at_ms < $4";

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
        if run.state != "listing" && run.state != "detailing" {
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

    /// A follow (`subscribed`) or unfollow event pushed by WeChat at `at_secs` (its
    /// `CreateTime`): stores the flag (adding an unknown follower) and moves the cached counts,
    /// only when something changed, so a repeated push changes nothing; an event older than the
    /// newest one applied to the follower (late, or replayed) changes nothing either.
    pub async fn apply_follow_event(
        &self,
        account_id: i64,
        openid: &str,
        subscribed: bool,
        at_secs: i64,
    ) -> Result<()> {
        if !model::openid::is_openid(openid) {
            return Err(Error::refused("openid", Problem::OpenIdFormat));
        }
        let linked = self
            .account(account_id)
            .await?
            .ok_or(Error::NotFound)?
            .linked_account_id;
        let now = now_ms();
        let subscribe_time = subscribed.then_some(at_secs);
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            // `Some(unionid)`: an existing row whose flag flipped; `None`: nothing flipped.
            let flipped: Option<Option<String>> = sqlx::query_scalar(
                "UPDATE followers SET subscribed = $3, \
                 subscribe_time = COALESCE($4, subscribe_time), updated_at_ms = $5, \
                 event_time = $6 \
                 WHERE account_id = $1 AND openid = $2 AND subscribed <> $3 \
                 AND (event_time IS NULL OR event_time <= $6) RETURNING unionid",
            )
            .bind(account_id)
            .bind(openid)
            .bind(subscribed)
            .bind(subscribe_time)
            .bind(now)
            .bind(at_secs)
            .fetch_optional(&mut *tx)
            .await?;
            if flipped.is_none() {
                // Nothing flipped: a newer event still moves the follower's clock forward.
                sqlx::query(
                    "UPDATE followers SET event_time = $3 WHERE account_id = $1 \
                     AND openid = $2 AND (event_time IS NULL OR event_time < $3)",
                )
                .bind(account_id)
                .bind(openid)
                .bind(at_secs)
                .execute(&mut *tx)
                .await?;
            }
            let sign: i64 = if subscribed { 1 } else { -1 };
            // (followers, subscribed, with_unionid, matched, without_unionid_sub, without_unionid_unsub)
            let delta: Option<[i64; 6]> = match flipped {
                Some(Some(unionid)) => {
                    let mp: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM mp_users WHERE account_id = $1 AND unionid = $2",
                    )
                    .bind(linked)
                    .bind(&unionid)
                    .fetch_one(&mut *tx)
                    .await?;
                    Some([0, sign, sign, sign * mp, 0, 0])
                }
                Some(None) => Some([0, sign, 0, 0, sign, -sign]),
                None => {
                    let added: Option<String> = sqlx::query_scalar(
                        "INSERT INTO followers (account_id, openid, subscribed, subscribe_time, \
                         updated_at_ms, event_time) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (account_id, openid) DO NOTHING RETURNING openid",
                    )
                    .bind(account_id)
                    .bind(openid)
                    .bind(subscribed)
                    .bind(subscribe_time)
                    .bind(now)
                    .bind(at_secs)
                    .fetch_optional(&mut *tx)
                    .await?;
                    added.map(|_| {
                        if subscribed {
                            [1, 1, 0, 0, 1, 0]
                        } else {
                            [1, 0, 0, 0, 0, 1]
                        }
                    })
                }
            };
            if let Some([f, s, u, m, wos, wou]) = delta {
                sqlx::query(
                    "INSERT INTO follower_stats (account_id, computed_at_ms) VALUES ($1, $2) \
                     ON CONFLICT (account_id) DO NOTHING",
                )
                .bind(account_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE follower_stats SET followers = followers + $2, event_seq = event_seq + 1, \
                     subscribed = subscribed + $3, with_unionid = with_unionid + $4, \
                     matched = matched + $5, mp_not_following = mp_not_following - $5, \
                     without_unionid_subscribed = without_unionid_subscribed + $6, \
                     without_unionid_unsubscribed = without_unionid_unsubscribed + $7 \
                     WHERE account_id = $1",
                )
                .bind(account_id)
                .bind(f)
                .bind(s)
                .bind(u)
                .bind(m)
                .bind(wos)
                .bind(wou)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })?;
        Ok(())
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
            let commit = match run.state.as_str() {
                "listing" => self.list_followers(&mut writer, &account, &run).await?,
                "detailing" => {
                    return match self.detail_followers(&mut writer, &account, run_id).await? {
                        Commit::Go => self.finish(&mut writer, &account, &run).await,
                        Commit::CancelRequested => self.end_cancelled(&account, run_id).await,
                        Commit::LostLease => Ok(End::LostLease),
                    };
                }
                _ => return Ok(End::LostLease),
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

    async fn user_get(&self, account: &Account, next: Option<&str>) -> Result<UserPage> {
        let client = self.wechat();
        let base = account.api_base.as_str();
        self.call_wechat(account, move |token| async move {
            client.user_get(base, &token, next).await
        })
        .await
    }

    /// Phase 1: the `user/get` chain from the stored cursor. Pages are fetched one after the
    /// other while earlier ones are stored; each transaction stores the pages that are ready
    /// (one, or a few when WeChat answers faster than the database writes) together with the
    /// cursor after them, so a page once committed is never fetched again. The last page moves
    /// the run to `detailing`.
    async fn list_followers(
        &self,
        writer: &mut Writer,
        account: &Account,
        run: &RunRow,
    ) -> Result<Commit> {
        let (tx, rx) = mpsc::channel::<ListedPage>(LIST_PREFETCH_PAGES);
        let (fetched, committed) = tokio::join!(
            self.fetch_pages(account, run, tx),
            self.commit_pages(writer, run, rx)
        );
        let committed = committed?;
        if !matches!(committed, Commit::Go) {
            return Ok(committed);
        }
        fetched?;
        Ok(Commit::Go)
    }

    async fn fetch_pages(
        &self,
        account: &Account,
        run: &RunRow,
        out: mpsc::Sender<ListedPage>,
    ) -> Result<()> {
        let mut cursor = (!run.next_openid.is_empty()).then(|| run.next_openid.clone());
        let mut listed = run.listed;
        loop {
            let page = self.user_get(account, cursor.as_deref()).await?;
            let new_cursor = page
                .next_openid
                .clone()
                .or_else(|| page.openids.last().cloned());
            let mut openids = page.openids.clone();
            openids.retain(|o| !o.is_empty());
            openids.sort_unstable();
            openids.dedup();
            listed += openids.len() as i64;
            // A cursor that does not move would loop forever: treat it as the end.
            let stalled = new_cursor.is_none() || new_cursor == cursor;
            let last = stalled || page.is_last(listed) || openids.is_empty();
            let listed_page = ListedPage {
                openids,
                cursor: new_cursor
                    .clone()
                    .or_else(|| cursor.clone())
                    .unwrap_or_default(),
                total: page.total,
                last,
            };
            if out.send(listed_page).await.is_err() || last {
                return Ok(());
            }
            cursor = new_cursor;
        }
    }

    async fn commit_pages(
        &self,
        writer: &mut Writer,
        run: &RunRow,
        mut pages_in: mpsc::Receiver<ListedPage>,
    ) -> Result<Commit> {
        while let Some(first) = pages_in.recv().await {
            let mut pages = vec![first];
            while pages.len() < LIST_GROUP_PAGES && !pages.iter().any(|p| p.last) {
                match pages_in.try_recv() {
                    Ok(page) => pages.push(page),
                    Err(_) => break,
                }
            }
            let started = std::time::Instant::now();
            let commit = self
                .commit_listed(writer, run.account_id, run.run_id, &pages)
                .await?;
            tracing::debug!(
                run_id = run.run_id,
                pages = pages.len(),
                ms = started.elapsed().as_millis() as u64,
                "user/get pages committed"
            );
            let last = pages.iter().any(|p| p.last);
            match commit {
                Commit::Go if !last => {}
                other => return Ok(other),
            }
        }
        Ok(Commit::Go)
    }

    /// Stores listed pages and the cursor after them in one transaction — on SQLite in several,
    /// at page boundaries, when another writer of this process waits for its turn.
    async fn commit_listed(
        &self,
        writer: &mut Writer,
        account_id: i64,
        run_id: i64,
        pages: &[ListedPage],
    ) -> Result<Commit> {
        if pages.is_empty() {
            return Ok(Commit::Go);
        }
        let now = now_ms();
        let me = &self.inner.instance_id;
        let progress_sql = "UPDATE sync_runs SET next_openid = $1, pages_done = pages_done + $2, \
             listed = listed + $3, total = $4, state = $5, updated_at_ms = $6, lease_until_ms = $7 \
             WHERE id = $8 AND lease_owner = $9 AND state = 'listing' RETURNING cancel_requested";
        // The progress of `slice`, in the transaction that stores it.
        macro_rules! progress {
            ($tx:expr, $slice:expr) => {{
                let slice: &[ListedPage] = $slice;
                let Some(end) = slice.last() else {
                    return Ok(Commit::Go);
                };
                let page_count = slice.iter().filter(|p| !p.openids.is_empty()).count() as i64;
                let listed: i64 = slice.iter().map(|p| p.openids.len() as i64).sum();
                let state = if end.last { "detailing" } else { "listing" };
                sqlx::query_scalar(progress_sql)
                    .bind(&end.cursor)
                    .bind(page_count)
                    .bind(listed)
                    .bind(end.total)
                    .bind(state)
                    .bind(now)
                    .bind(now + SYNC_LEASE_MS)
                    .bind(run_id)
                    .bind(me)
                    .fetch_optional(&mut *$tx)
                    .await?
            }};
        }
        let cancel: Option<bool> = match writer {
            Writer::Sqlite(conn) => {
                // Position: the page, and the chunk within it, to store next. A transaction
                // ends after any chunk when another writer waits; the cursor and counts move
                // only with whole pages (a page stored in part is listed again after a crash,
                // and upserted again: harmless).
                let (mut page, mut chunk) = (0, 0);
                loop {
                    let turn = self.write_gate().await;
                    let mut tx = conn.begin().await?;
                    let mut completed_from = None;
                    while let Some(current) = pages.get(page) {
                        let chunks: Vec<&[String]> =
                            current.openids.chunks(SQLITE_LIST_CHUNK).collect();
                        if let Some(rows) = chunks.get(chunk) {
                            let sql = sqlite_list_sql(rows.len());
                            let mut q = sqlx::query(&sql).bind(account_id).bind(run_id).bind(now);
                            for openid in rows.iter() {
                                q = q.bind(openid);
                            }
                            q.execute(&mut *tx).await?;
                            chunk += 1;
                        }
                        if chunk >= chunks.len() {
                            completed_from.get_or_insert(page);
                            page += 1;
                            chunk = 0;
                        }
                        if self.write_contended() {
                            break;
                        }
                    }
                    let cancel: Option<bool> = match completed_from {
                        Some(from) => progress!(tx, &pages[from..page]),
                        None => Some(false),
                    };
                    finish_tx(tx, cancel.is_some()).await?;
                    drop(turn);
                    if page >= pages.len() || cancel != Some(false) {
                        break cancel;
                    }
                }
            }
            Writer::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // One statement per page: a page holds no openid twice (an upsert may not touch
                // a row twice), two pages might.
                for page in pages.iter().filter(|p| !p.openids.is_empty()) {
                    sqlx::query(&format!("{LIST_INSERT}{PG_LIST_SELECT}{LIST_CONFLICT}"))
                        .bind(account_id)
                        .bind(run_id)
                        .bind(now)
                        .bind(&page.openids)
                        .execute(&mut *tx)
                        .await?;
                }
                let cancel = progress!(tx, pages);
                finish_tx(tx, cancel.is_some()).await?;
                cancel
            }
        };
        Ok(Commit::from_row(cancel))
    }

    /// Phase 2: `batchget` for every follower listed by this run and not detailed by it yet,
    /// [`DETAIL_CONCURRENCY`] calls at a time, written in big batches while the next ones are
    /// fetched.
    async fn detail_followers(
        &self,
        writer: &mut Writer,
        account: &Account,
        run_id: i64,
    ) -> Result<Commit> {
        let (tx, rx) = mpsc::channel::<Vec<Detail>>(DETAIL_QUEUE_BATCHES);
        let (fetched, written) = tokio::join!(
            self.fetch_details(account, run_id, tx),
            self.write_details(writer, account.id, run_id, rx)
        );
        let written = written?;
        if !matches!(written, Commit::Go) {
            return Ok(written);
        }
        fetched
    }

    /// Reads the undetailed followers, runs the batchgets and hands the results to the writer.
    /// Returns `CancelRequested` when a cancel was seen (what was fetched is still written).
    async fn fetch_details(
        &self,
        account: &Account,
        run_id: i64,
        out: mpsc::Sender<Vec<Detail>>,
    ) -> Result<Commit> {
        let mut calls: JoinSet<Result<Vec<Detail>>> = JoinSet::new();
        let (mut after_rid, mut after_openid) = (0_i64, String::new());
        loop {
            if self.cancel_requested(run_id).await? {
                return Ok(Commit::CancelRequested);
            }
            let rows = self
                .pending_followers(account.id, run_id, after_rid, &after_openid)
                .await?;
            let Some(last) = rows.last() else { break };
            (after_rid, after_openid) = (last.rid, last.openid.clone());
            let mut rows = rows.into_iter().peekable();
            while rows.peek().is_some() {
                let batch: Vec<Pending> = rows.by_ref().take(BATCH_MAX).collect();
                while calls.len() >= DETAIL_CONCURRENCY {
                    if !forward(&mut calls, &out).await? {
                        return Ok(Commit::Go);
                    }
                }
                let engine = self.clone();
                let account = account.clone();
                calls.spawn(async move { engine.batchget(&account, batch).await });
            }
        }
        while !calls.is_empty() {
            if !forward(&mut calls, &out).await? {
                break;
            }
        }
        Ok(Commit::Go)
    }

    async fn cancel_requested(&self, run_id: i64) -> Result<bool> {
        let flag: Option<bool> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT cancel_requested FROM sync_runs WHERE id = $1"
        )
        .bind(run_id)
        .fetch_optional(pool)
        .await)?;
        Ok(flag.unwrap_or(true))
    }

    /// One `batchget` for up to 100 followers; followers WeChat did not answer for are left
    /// undetailed.
    async fn batchget(&self, account: &Account, batch: Vec<Pending>) -> Result<Vec<Detail>> {
        let client = self.wechat();
        let base = account.api_base.as_str();
        let openids: Vec<String> = batch.iter().map(|p| p.openid.clone()).collect();
        let ids = &openids;
        let infos = self
            .call_wechat(account, move |token| async move {
                client.user_info_batch(base, &token, ids).await
            })
            .await?;
        let mut by_openid: HashMap<String, UserInfo> = infos
            .into_iter()
            .map(|info| (info.openid.clone(), info))
            .collect();
        Ok(batch
            .into_iter()
            .filter_map(|p| {
                let info = by_openid.remove(&p.openid)?;
                Some(Detail::new(p, info))
            })
            .collect())
    }

    /// The next undetailed followers of this run: on SQLite in rowid order (the table's own
    /// order, so writes stay local), on PostgreSQL in openid order (the primary key).
    async fn pending_followers(
        &self,
        account_id: i64,
        run_id: i64,
        after_rid: i64,
        after_openid: &str,
    ) -> Result<Vec<Pending>> {
        let rows =
            match self.db() {
                Db::Sqlite(pool) => {
                    sqlx::query_as::<_, Pending>(
                        "SELECT rowid AS rid, openid, unionid, subscribed FROM followers \
                     WHERE rowid > $1 AND +account_id = $2 AND +seen_run = $3 \
                     AND (detailed_run IS NULL OR detailed_run <> $3) ORDER BY rowid LIMIT $4",
                    )
                    .bind(after_rid)
                    .bind(account_id)
                    .bind(run_id)
                    .bind(PENDING_READ_ROWS)
                    .fetch_all(pool)
                    .await?
                }
                Db::Postgres(pool) => sqlx::query_as::<_, Pending>(
                    "SELECT CAST(0 AS BIGINT) AS rid, openid, unionid, subscribed FROM followers \
                     WHERE account_id = $1 AND openid > $2 AND +seen_run = $3 \
                     AND (detailed_run IS NULL OR detailed_run <> $3) ORDER BY openid LIMIT $4",
                )
                .bind(account_id)
                .bind(after_openid)
                .bind(run_id)
                .bind(PENDING_READ_ROWS)
                .fetch_all(pool)
                .await?,
            };
        Ok(rows)
    }

    async fn write_details(
        &self,
        writer: &mut Writer,
        account_id: i64,
        run_id: i64,
        mut rx: mpsc::Receiver<Vec<Detail>>,
    ) -> Result<Commit> {
        let batch_rows = match writer {
            Writer::Sqlite(_) => SQLITE_DETAIL_WRITE_ROWS,
            Writer::Postgres(_) => PG_DETAIL_WRITE_ROWS,
        };
        let mut buf: Vec<Detail> = Vec::with_capacity(batch_rows + BATCH_MAX);
        let mut last_commit = std::time::Instant::now();
        loop {
            let next = rx.recv().await;
            let closed = next.is_none();
            if let Some(details) = next {
                buf.extend(details);
            }
            let due = buf.len() >= batch_rows || last_commit.elapsed() >= DETAIL_COMMIT_EVERY;
            if !buf.is_empty() && (due || closed) {
                let started = std::time::Instant::now();
                let rows = buf.len();
                let commit = self
                    .commit_details(writer, account_id, run_id, &mut buf)
                    .await?;
                tracing::debug!(
                    run_id,
                    rows,
                    ms = started.elapsed().as_millis() as u64,
                    "details committed"
                );
                buf.clear();
                last_commit = std::time::Instant::now();
                if !matches!(commit, Commit::Go) {
                    return Ok(commit);
                }
            }
            if closed {
                return Ok(Commit::Go);
            }
        }
    }

    async fn commit_details(
        &self,
        writer: &mut Writer,
        account_id: i64,
        run_id: i64,
        rows: &mut Vec<Detail>,
    ) -> Result<Commit> {
        let now = now_ms();
        let me = &self.inner.instance_id;
        let progress_sql = "UPDATE sync_runs SET detailed = detailed + $1, updated_at_ms = $2, \
             lease_until_ms = $3 WHERE id = $4 AND lease_owner = $5 AND state = 'detailing' \
             RETURNING cancel_requested";
        // The run's progress by `written` rows, in the transaction that wrote them; `None` when
        // another process holds the run now.
        macro_rules! detail_progress {
            ($tx:expr, $written:expr) => {
                sqlx::query_scalar(progress_sql)
                    .bind($written as i64)
                    .bind(now)
                    .bind(now + SYNC_LEASE_MS)
                    .bind(run_id)
                    .bind(me)
                    .fetch_optional(&mut *$tx)
                    .await?
            };
        }
        let cancel: Option<bool> = match writer {
            Writer::Sqlite(conn) => {
                rows.sort_unstable_by_key(|d| (d.shape, d.rid));
                rows.dedup_by_key(|d| d.rid);
                let chunks: Vec<&[Detail]> = rows
                    .chunk_by(|a, b| a.shape == b.shape)
                    .flat_map(|group| group.chunks(SQLITE_DETAIL_CHUNK))
                    .collect();
                let mut next = 0;
                // Under the write gate, in as many transactions (each with its progress) as
                // other writers of this process ask for a turn: a login waits for one
                // statement, not the whole batch.
                loop {
                    let turn = self.write_gate().await;
                    let mut tx = conn.begin().await?;
                    let mut written = 0_u64;
                    while let Some(chunk) = chunks.get(next) {
                        let sql = sqlite_detail_sql(chunk[0].shape, chunk.len());
                        let mut q = sqlx::query(&sql).bind(run_id).bind(now);
                        for d in chunk.iter() {
                            q = q
                                .bind(d.rid)
                                .bind(&d.openid)
                                .bind(d.subscribe_time)
                                .bind(&d.tagid_list)
                                .bind(&d.remark)
                                .bind(&d.language)
                                .bind(&d.subscribe_scene)
                                .bind(&d.unionid);
                        }
                        written += q.execute(&mut *tx).await?.rows_affected();
                        next += 1;
                        if self.write_contended() {
                            break;
                        }
                    }
                    let cancel: Option<bool> = detail_progress!(tx, written);
                    finish_tx(tx, cancel.is_some()).await?;
                    drop(turn);
                    if next >= chunks.len() || cancel != Some(false) {
                        break cancel;
                    }
                }
            }
            Writer::Postgres(pool) => {
                rows.sort_unstable_by(|a, b| a.openid.cmp(&b.openid));
                rows.dedup_by(|a, b| a.openid == b.openid);
                let n = rows.len();
                let mut openid = Vec::with_capacity(n);
                let mut unionid = Vec::with_capacity(n);
                let mut subscribed = Vec::with_capacity(n);
                let mut subscribe_time = Vec::with_capacity(n);
                let mut tags = Vec::with_capacity(n);
                let mut remark = Vec::with_capacity(n);
                let mut language = Vec::with_capacity(n);
                let mut scene = Vec::with_capacity(n);
                for d in rows.drain(..) {
                    openid.push(d.openid);
                    unionid.push(d.unionid);
                    subscribed.push(d.subscribed);
                    subscribe_time.push(d.subscribe_time);
                    tags.push(d.tagid_list);
                    remark.push(d.remark);
                    language.push(d.language);
                    scene.push(d.subscribe_scene);
                }
                let mut tx = pool.begin().await?;
                let written = sqlx::query(PG_DETAIL_SQL)
                    .bind(account_id)
                    .bind(run_id)
                    .bind(now)
                    .bind(openid)
                    .bind(unionid)
                    .bind(subscribed)
                    .bind(subscribe_time)
                    .bind(tags)
                    .bind(remark)
                    .bind(language)
                    .bind(scene)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                let cancel = detail_progress!(tx, written);
                finish_tx(tx, cancel.is_some()).await?;
                cancel
            }
        };
        Ok(Commit::from_row(cancel))
    }

    /// After a complete scan: followers this run did not list become unsubscribed (kept), then
    /// the counts are recomputed (read outside the write lock: a long read) and the run is
    /// `done`. Each write is short and under the write gate, so logins do not wait for the
    /// counting.
    async fn finish(&self, writer: &mut Writer, account: &Account, run: &RunRow) -> Result<End> {
        let now = now_ms();
        let me = &self.inner.instance_id;
        let run_id = run.run_id;
        let started = std::time::Instant::now();
        let keep_lease = "UPDATE sync_runs SET lease_until_ms = $1, updated_at_ms = $2 \
             WHERE id = $3 AND lease_owner = $4 AND state = 'detailing'";
        macro_rules! reconcile_in {
            ($conn:expr, $reconcile:expr) => {{
                let mut tx = $conn.begin().await?;
                let unsubscribed = sqlx::query($reconcile)
                    .bind(now)
                    .bind(account.id)
                    .bind(run_id)
                    .bind(run.started_at_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected() as i64;
                let held = sqlx::query(keep_lease)
                    .bind(now + SYNC_LEASE_MS)
                    .bind(now)
                    .bind(run_id)
                    .bind(me)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                finish_tx(tx, held).await?;
                held.then_some(unsubscribed)
            }};
        }
        let turn = self.write_gate().await;
        let reconciled: Option<i64> = match writer {
            Writer::Sqlite(conn) => reconcile_in!(conn, SQLITE_RECONCILE_SQL),
            Writer::Postgres(pool) => reconcile_in!(pool, PG_RECONCILE_SQL),
        };
        drop(turn);
        let Some(unsubscribed) = reconciled else {
            return Ok(End::LostLease);
        };
        if !self
            .store_fresh_counts(account.id, account.linked_account_id)
            .await?
        {
            tracing::warn!(
                run_id,
                "follow events kept changing the counts; counts not stored"
            );
        }
        // The run is done with its entry (the run's own counts are read in its transaction).
        let stats = self.follower_stats(account.id).await?;
        let run_sql = format!("{SELECT_RUN} WHERE id = $1");
        let turn = self.write_gate().await;
        let marked = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let marked = sqlx::query(
                "UPDATE sync_runs SET state = 'done', unsubscribed = $1, finished_at_ms = $2, \
                 updated_at_ms = $2, lease_until_ms = 0 \
                 WHERE id = $3 AND lease_owner = $4 AND state = 'detailing'",
            )
            .bind(unsubscribed)
            .bind(now_ms())
            .bind(run_id)
            .bind(me)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if marked == 1 {
                let progress = sqlx::query_as::<_, RunRow>(&run_sql)
                    .bind(run_id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .map(RunRow::progress);
                let detail = serde_json::json!({
                    "run_id": run_id,
                    "total": progress.as_ref().map(|p| p.total),
                    "pages": progress.as_ref().map(|p| p.pages_done),
                    "listed": progress.as_ref().map(|p| p.listed),
                    "detailed": progress.as_ref().map(|p| p.detailed),
                    "unsubscribed": unsubscribed,
                    "followers": stats.as_ref().map(|s| s.followers),
                    "subscribed": stats.as_ref().map(|s| s.subscribed),
                    "with_unionid": stats.as_ref().map(|s| s.with_unionid),
                    "matched": stats.as_ref().map(|s| s.matched),
                    "duration_ms": now - run.started_at_ms,
                });
                tx.record_audit(
                    &Actor::system(),
                    AuditAction::FollowersSyncFinish,
                    &account.appid,
                    &detail,
                )
                .await?;
            }
            tx.commit().await?;
            marked
        });
        drop(turn);
        let done = (marked == 1).then_some(unsubscribed);
        // A sync changes the followers' shape wholesale: statistics from before it lead the
        // planners astray (after the commit, so no write waits for it; a failure only costs
        // the new statistics).
        let turn = self.write_gate().await;
        let analyzed = match writer {
            Writer::Sqlite(conn) => sqlx::query("PRAGMA analysis_limit = 1000; PRAGMA optimize")
                .execute(&mut **conn)
                .await
                .map(|_| ()),
            Writer::Postgres(pool) => sqlx::query("ANALYZE followers, mp_users")
                .execute(&*pool)
                .await
                .map(|_| ()),
        };
        drop(turn);
        if let Err(e) = analyzed {
            tracing::warn!(run_id, error = %e, "could not refresh the planner's statistics");
        }
        tracing::debug!(
            run_id,
            ms = started.elapsed().as_millis() as u64,
            "reconciled and counted"
        );
        let Some(unsubscribed) = done else {
            return Ok(End::LostLease);
        };
        tracing::info!(run_id, appid = %account.appid, unsubscribed, "follower sync done");
        Ok(End::Done)
    }

    async fn end_cancelled(&self, account: &Account, run_id: i64) -> Result<End> {
        let now = now_ms();
        let run_sql = format!("{SELECT_RUN} WHERE id = $1");
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let ended = sqlx::query(&format!(
                "UPDATE sync_runs SET state = 'cancelled', finished_at_ms = $1, \
                 updated_at_ms = $1, lease_until_ms = 0 \
                 WHERE id = $2 AND lease_owner = $3 AND {ACTIVE}"
            ))
            .bind(now)
            .bind(run_id)
            .bind(&self.inner.instance_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if ended == 0 {
                tx.rollback().await?;
                return Ok(End::LostLease);
            }
            let progress = sqlx::query_as::<_, RunRow>(&run_sql)
                .bind(run_id)
                .fetch_optional(&mut *tx)
                .await?
                .map(RunRow::progress);
            let detail = serde_json::json!({
                "run_id": run_id,
                "pages": progress.as_ref().map(|p| p.pages_done),
                "listed": progress.as_ref().map(|p| p.listed),
                "detailed": progress.as_ref().map(|p| p.detailed),
            });
            tx.record_audit(
                &Actor::system(),
                AuditAction::FollowersSyncCancelled,
                &account.appid,
                &detail,
            )
            .await?;
            tx.commit().await?;
        });
        Ok(End::Cancelled)
    }

    async fn fail_run(&self, account_id: i64, run_id: i64, err: &Error) -> Result<()> {
        let now = now_ms();
        let text = error_text(err);
        let appid = self
            .account(account_id)
            .await?
            .map(|a| a.appid)
            .unwrap_or_default();
        let errcode = match err {
            Error::WeChat(e) => e.code(),
            _ => None,
        };
        let detail = serde_json::json!({ "run_id": run_id, "errcode": errcode, "error": text });
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let ended = sqlx::query(&format!(
                "UPDATE sync_runs SET state = 'failed', error = $1, finished_at_ms = $2, \
                 updated_at_ms = $2, lease_until_ms = 0 \
                 WHERE id = $3 AND lease_owner = $4 AND {ACTIVE}"
            ))
            .bind(&text)
            .bind(now)
            .bind(run_id)
            .bind(&self.inner.instance_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if ended == 0 {
                tx.rollback().await?;
                return Ok(());
            }
            tx.record_audit(
                &Actor::system(),
                AuditAction::FollowersSyncFail,
                &appid,
                &detail,
            )
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }
}

/// Waits for one batchget and passes its result on; `false` when the writer has stopped.
async fn forward(
    calls: &mut JoinSet<Result<Vec<Detail>>>,
    out: &mpsc::Sender<Vec<Detail>>,
) -> Result<bool> {
    match calls.join_next().await {
        Some(Ok(Ok(details))) => Ok(out.send(details).await.is_ok()),
        Some(Ok(Err(e))) => Err(e),
        Some(Err(join)) => Err(Error::Internal(format!("batchget task: {join}"))),
        None => Ok(true),
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
    fn sqlite_statements_bind_anonymous_parameters() {
        let list = sqlite_list_sql(2);
        assert!(list.contains("SELECT ?, v.column1, ?, TRUE, ? FROM (VALUES (?),(?)) AS v"));
        assert!(!list.contains('$'));
        let quiet = Shape {
            details: true,
            unionid: false,
            subscribed: None,
        };
        let detail = sqlite_detail_sql(quiet, 2);
        assert_eq!(detail.matches('?').count(), 2 + 2 * 8);
        assert!(!detail.contains("unionid =") && !detail.contains("subscribed ="));
        let back = sqlite_detail_sql(
            Shape {
                details: false,
                unionid: true,
                subscribed: Some(true),
            },
            1,
        );
        assert!(back.contains(", unionid = v.column8, subscribed = TRUE FROM"));
        assert!(!back.contains("tagid_list"));
    }
}

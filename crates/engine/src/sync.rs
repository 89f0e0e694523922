//! The resumable follower sync (user/get chain, batchget details, reconciliation) and follow events.
//!
//! A run is a `sync_runs` row that moves `listing` → `detailing` → `done` (or `failed` /
//! `cancelled`). Every step commits its data together with the run's progress, so a run picked
//! up after a crash continues where the last commit left it: the `user/get` chain from the stored
//! cursor, the details for the rows not detailed by this run yet. One process at a time works on
//! a run (a lease renewed by a heartbeat and checked by every commit); at most one unfinished run
//! per account exists (a partial unique index).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use wechat::api::{ApiError, ErrorClass, UserInfo, BATCH_MAX};

use crate::accounts::{Account, AccountKind};
use crate::audit::Actor;
use crate::db::Db;
use crate::stats::RECOMPUTE_STATS_SQL;
use crate::{now_ms, on_db, Engine, Error, Result};

/// How long a run's lease lasts without renewal; after that another process may take the run.
pub const SYNC_LEASE_MS: i64 = 30_000;
/// How often a working runner renews its lease (besides every commit).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// `user/info/batchget` calls in flight at once.
const DETAIL_CONCURRENCY: usize = 8;
/// Detailed followers written per transaction.
const DETAIL_WRITE_ROWS: usize = 5_000;
/// Undetailed openids read per query.
const PENDING_READ_ROWS: i64 = 2_000;
/// Rows per multi-row statement on SQLite (1 bound value per row while listing, 8 while
/// detailing: far below SQLite's 32,766 parameters).
const SQLITE_LIST_CHUNK: usize = 2_000;
const SQLITE_DETAIL_CHUNK: usize = 500;
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

/// One follower's details as written by the detail phase.
struct Detail {
    openid: String,
    unionid: Option<String>,
    subscribed: bool,
    subscribe_time: Option<i64>,
    tagid_list: String,
    remark: String,
    language: Option<String>,
    subscribe_scene: Option<String>,
}

impl Detail {
    fn from_info(info: UserInfo) -> Self {
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        if !info.subscribe {
            // WeChat tells nothing else about someone who unfollowed: keep what is stored.
            return Detail {
                openid: info.openid,
                unionid: non_empty(info.unionid),
                subscribed: false,
                subscribe_time: None,
                tagid_list: String::new(),
                remark: String::new(),
                language: None,
                subscribe_scene: None,
            };
        }
        Detail {
            openid: info.openid,
            unionid: non_empty(info.unionid),
            subscribed: true,
            subscribe_time: info.subscribe_time,
            tagid_list: tag_list(&info.tagid_list),
            remark: info.remark.unwrap_or_default(),
            language: non_empty(info.language),
            subscribe_scene: non_empty(info.subscribe_scene),
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

/// `($1,$4,$2,TRUE,$3),($1,$5,$2,TRUE,$3),…` for a listing chunk of `rows` openids.
fn sqlite_list_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(64 + rows * 24);
    sql.push_str(
        "INSERT INTO followers (account_id, openid, seen_run, subscribed, updated_at_ms) VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&format!("($1,${},$2,TRUE,$3)", 4 + i));
    }
    sql.push_str(LIST_CONFLICT);
    sql
}

const LIST_CONFLICT: &str = " ON CONFLICT (account_id, openid) DO UPDATE SET \
     seen_run = excluded.seen_run, subscribed = TRUE";

const DETAIL_COLUMNS: &str = "INSERT INTO followers (account_id, openid, unionid, subscribed, \
     subscribe_time, tagid_list, remark, language, subscribe_scene, seen_run, detailed_run, \
     updated_at_ms) ";

/// What a detail row changes. Someone who unfollowed keeps their stored details (WeChat sends
/// none); a unionid is never forgotten (it does not change for a person).
const DETAIL_CONFLICT: &str = " ON CONFLICT (account_id, openid) DO UPDATE SET \
     unionid = COALESCE(excluded.unionid, followers.unionid), \
     subscribed = excluded.subscribed, \
     subscribe_time = CASE WHEN excluded.subscribed THEN excluded.subscribe_time ELSE followers.subscribe_time END, \
     tagid_list = CASE WHEN excluded.subscribed THEN excluded.tagid_list ELSE followers.tagid_list END, \
     remark = CASE WHEN excluded.subscribed THEN excluded.remark ELSE followers.remark END, \
     language = CASE WHEN excluded.subscribed THEN excluded.language ELSE followers.language END, \
     subscribe_scene = CASE WHEN excluded.subscribed THEN excluded.subscribe_scene ELSE followers.subscribe_scene END, \
     detailed_run = excluded.detailed_run, updated_at_ms = excluded.updated_at_ms";

fn sqlite_detail_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(DETAIL_COLUMNS.len() + DETAIL_CONFLICT.len() + rows * 64);
    sql.push_str(DETAIL_COLUMNS);
    sql.push_str("VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        let b = 4 + 8 * i;
        sql.push_str(&format!(
            "($1,${},${},${},${},${},${},${},${},$2,$2,$3)",
            b,
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7
        ));
    }
    sql.push_str(DETAIL_CONFLICT);
    sql
}

const PG_LIST_SQL: &str =
    "INSERT INTO followers (account_id, openid, seen_run, subscribed, updated_at_ms) \
     SELECT $1::int8, t.o, $2::int8, TRUE, $3::int8 FROM UNNEST($4::text[]) AS t(o)";

const PG_DETAIL_SELECT: &str =
    "SELECT $1::int8, t.openid, t.unionid, t.subscribed, t.subscribe_time, \
     t.tagid_list, t.remark, t.language, t.subscribe_scene, $2::int8, $2::int8, $3::int8 \
     FROM UNNEST($4::text[], $5::text[], $6::bool[], $7::int8[], $8::text[], $9::text[], \
     $10::text[], $11::text[]) AS t(openid, unionid, subscribed, subscribe_time, tagid_list, \
     remark, language, subscribe_scene)";

impl Engine {
    /// Starts a follower sync of an Official Account and returns the run id at once; the run
    /// goes on in a task of its own. A second start while one runs (in any process) is a
    /// [`Error::Conflict`].
    pub async fn start_sync(&self, actor: &Actor, account_id: i64) -> Result<i64> {
        let account = self.account(account_id).await?.ok_or(Error::NotFound)?;
        if account.kind != AccountKind::Oa {
            return Err(Error::Invalid {
                field: "account_id",
                message: "followers are synced for Official Accounts only".into(),
            });
        }
        let now = now_ms();
        let inserted = on_db!(self.db(), |pool| {
            sqlx::query_scalar::<_, i64>(
            "INSERT INTO sync_runs (account_id, state, started_by, started_at_ms, updated_at_ms, \
             lease_owner, lease_until_ms) VALUES ($1, 'listing', $2, $3, $3, $4, $5) RETURNING id"
        )
        .bind(account_id)
        .bind(&actor.name)
        .bind(now)
        .bind(&self.inner.instance_id)
        .bind(now + SYNC_LEASE_MS)
        .fetch_one(pool)
        .await
        });
        let run_id = match inserted {
            Ok(id) => id,
            Err(e) if Error::is_unique_violation(&e) => {
                return Err(Error::Conflict("a follower sync in progress".into()))
            }
            Err(e) => return Err(e.into()),
        };
        self.audit(
            actor,
            "followers.sync.start",
            &account.appid,
            serde_json::json!({ "run_id": run_id }),
        )
        .await?;
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
    /// WeChat errors (after a token refresh and a few retries of transient ones) end the run as
    /// `failed` with the error in words; database errors leave it unfinished for a later resume.
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
        let idle: Option<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(&format!(
            "UPDATE sync_runs SET state = 'cancelled', cancel_requested = TRUE, \
             finished_at_ms = $1, updated_at_ms = $1 \
             WHERE account_id = $2 AND {ACTIVE} AND lease_until_ms < $1 RETURNING id"
        ))
        .bind(now)
        .bind(account_id)
        .fetch_optional(pool)
        .await)?;
        let (run_id, immediate) = match idle {
            Some(id) => (id, true),
            None => {
                let requested: Option<i64> =
                    on_db!(self.db(), |pool| sqlx::query_scalar(&format!(
                        "UPDATE sync_runs SET cancel_requested = TRUE, updated_at_ms = $1 \
                         WHERE account_id = $2 AND {ACTIVE} RETURNING id"
                    ))
                    .bind(now)
                    .bind(account_id)
                    .fetch_optional(pool)
                    .await)?;
                (requested.ok_or(Error::NotFound)?, false)
            }
        };
        self.audit(
            actor,
            "followers.sync.cancel",
            &account.appid,
            serde_json::json!({ "run_id": run_id, "immediate": immediate }),
        )
        .await
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

    /// A follow (`subscribed`) or unfollow event pushed by WeChat at `at_secs`: stores the flag
    /// (adding an unknown follower) and moves the cached counts, only when something changed,
    /// so a repeated push changes nothing.
    pub async fn apply_follow_event(
        &self,
        account_id: i64,
        openid: &str,
        subscribed: bool,
        at_secs: i64,
    ) -> Result<()> {
        if openid.is_empty() || openid.len() > 128 {
            return Err(Error::Invalid {
                field: "openid",
                message: "empty or too long".into(),
            });
        }
        let linked = self
            .account(account_id)
            .await?
            .ok_or(Error::NotFound)?
            .linked_account_id;
        let now = now_ms();
        let subscribe_time = subscribed.then_some(at_secs);
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            // `Some(unionid)`: an existing row whose flag flipped; `None`: nothing flipped.
            let flipped: Option<Option<String>> = sqlx::query_scalar(
                "UPDATE followers SET subscribed = $3, \
                 subscribe_time = COALESCE($4, subscribe_time), updated_at_ms = $5 \
                 WHERE account_id = $1 AND openid = $2 AND subscribed <> $3 RETURNING unionid",
            )
            .bind(account_id)
            .bind(openid)
            .bind(subscribed)
            .bind(subscribe_time)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
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
                         updated_at_ms) VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (account_id, openid) DO NOTHING RETURNING openid",
                    )
                    .bind(account_id)
                    .bind(openid)
                    .bind(subscribed)
                    .bind(subscribe_time)
                    .bind(now)
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
                    "UPDATE follower_stats SET followers = followers + $2, \
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
                Ok(0) => return End::LostLease,
                Ok(_) => {}
                Err(e) => tracing::warn!(run_id, error = %e, "could not renew the sync lease"),
            }
        }
    }

    async fn drive(&self, run_id: i64) -> Result<End> {
        loop {
            let Some(run) = self.run_row(run_id).await? else {
                return Ok(End::LostLease);
            };
            let account = self.account(run.account_id).await?.ok_or(Error::NotFound)?;
            if run.cancel_requested {
                return self.end_cancelled(&account, run_id).await;
            }
            let commit = match run.state.as_str() {
                "listing" => self.list_followers(&account, &run).await?,
                "detailing" => {
                    return match self.detail_followers(&account, run_id).await? {
                        Commit::Go => self.finish(&account, &run).await,
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

    /// Phase 1: the `user/get` chain from the stored cursor. Each page's openids and the new
    /// cursor are committed together; the last page moves the run to `detailing`.
    async fn list_followers(&self, account: &Account, run: &RunRow) -> Result<Commit> {
        let client = self.wechat();
        let base = account.api_base.as_str();
        let mut cursor = (!run.next_openid.is_empty()).then(|| run.next_openid.clone());
        let mut listed = run.listed;
        loop {
            let next = cursor.as_deref();
            let page = self
                .call_wechat(account, move |token| async move {
                    client.user_get(base, &token, next).await
                })
                .await?;
            let mut openids = page.openids.clone();
            openids.sort_unstable();
            openids.dedup();
            openids.retain(|o| !o.is_empty());
            listed += openids.len() as i64;
            let new_cursor = page
                .next_openid
                .clone()
                .or_else(|| page.openids.last().cloned());
            let stalled = new_cursor.is_none() || new_cursor == cursor;
            let last = page.is_last(listed) || stalled;
            let stored_cursor = new_cursor.clone().or(cursor.clone()).unwrap_or_default();
            let commit = self
                .commit_page(
                    run.account_id,
                    run.run_id,
                    &openids,
                    &stored_cursor,
                    page.total,
                    last,
                )
                .await?;
            match commit {
                Commit::Go if !last => cursor = new_cursor,
                other => return Ok(other),
            }
        }
    }

    async fn commit_page(
        &self,
        account_id: i64,
        run_id: i64,
        openids: &[String],
        cursor: &str,
        total: i64,
        last: bool,
    ) -> Result<Commit> {
        let now = now_ms();
        let me = &self.inner.instance_id;
        let pages = i64::from(!openids.is_empty());
        let progress_sql = "UPDATE sync_runs SET next_openid = $1, pages_done = pages_done + $2, \
             listed = listed + $3, total = $4, state = $5, updated_at_ms = $6, lease_until_ms = $7 \
             WHERE id = $8 AND lease_owner = $9 AND state = 'listing' RETURNING cancel_requested";
        let cancel: Option<bool> = match self.db() {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for chunk in openids.chunks(SQLITE_LIST_CHUNK) {
                    let sql = sqlite_list_sql(chunk.len());
                    let mut q = sqlx::query(&sql).bind(account_id).bind(run_id).bind(now);
                    for openid in chunk {
                        q = q.bind(openid);
                    }
                    q.execute(&mut *tx).await?;
                }
                let cancel = sqlx::query_scalar(progress_sql)
                    .bind(cursor)
                    .bind(pages)
                    .bind(openids.len() as i64)
                    .bind(total)
                    .bind(if last { "detailing" } else { "listing" })
                    .bind(now)
                    .bind(now + SYNC_LEASE_MS)
                    .bind(run_id)
                    .bind(me)
                    .fetch_optional(&mut *tx)
                    .await?;
                finish_tx(tx, cancel.is_some()).await?;
                cancel
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                if !openids.is_empty() {
                    sqlx::query(&format!("{PG_LIST_SQL}{LIST_CONFLICT}"))
                        .bind(account_id)
                        .bind(run_id)
                        .bind(now)
                        .bind(openids)
                        .execute(&mut *tx)
                        .await?;
                }
                let cancel = sqlx::query_scalar(progress_sql)
                    .bind(cursor)
                    .bind(pages)
                    .bind(openids.len() as i64)
                    .bind(total)
                    .bind(if last { "detailing" } else { "listing" })
                    .bind(now)
                    .bind(now + SYNC_LEASE_MS)
                    .bind(run_id)
                    .bind(me)
                    .fetch_optional(&mut *tx)
                    .await?;
                finish_tx(tx, cancel.is_some()).await?;
                cancel
            }
        };
        Ok(Commit::from_row(cancel))
    }

    /// Phase 2: `batchget` for every follower listed by this run and not detailed by it yet,
    /// [`DETAIL_CONCURRENCY`] calls at a time, written in batches while the next ones are fetched.
    async fn detail_followers(&self, account: &Account, run_id: i64) -> Result<Commit> {
        let (tx, rx) = mpsc::channel::<Vec<UserInfo>>(DETAIL_CONCURRENCY * 2);
        let (fetched, written) = tokio::join!(
            self.fetch_details(account, run_id, tx),
            self.write_details(account.id, run_id, rx)
        );
        let written = written?;
        if !matches!(written, Commit::Go) {
            return Ok(written);
        }
        fetched?;
        Ok(Commit::Go)
    }

    async fn fetch_details(
        &self,
        account: &Account,
        run_id: i64,
        out: mpsc::Sender<Vec<UserInfo>>,
    ) -> Result<()> {
        let mut calls: JoinSet<Result<Vec<UserInfo>>> = JoinSet::new();
        let mut after = String::new();
        loop {
            let ids = self.pending_openids(account.id, run_id, &after).await?;
            let Some(last) = ids.last() else { break };
            after = last.clone();
            for batch in ids.chunks(BATCH_MAX) {
                while calls.len() >= DETAIL_CONCURRENCY {
                    if !forward(&mut calls, &out).await? {
                        return Ok(());
                    }
                }
                let engine = self.clone();
                let account = account.clone();
                let batch = batch.to_vec();
                calls.spawn(async move { engine.batchget(&account, batch).await });
            }
        }
        while !calls.is_empty() {
            if !forward(&mut calls, &out).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    async fn batchget(&self, account: &Account, openids: Vec<String>) -> Result<Vec<UserInfo>> {
        let client = self.wechat();
        let base = account.api_base.as_str();
        let ids = &openids;
        let mut infos = self
            .call_wechat(account, move |token| async move {
                client.user_info_batch(base, &token, ids).await
            })
            .await?;
        let wanted: HashSet<&str> = openids.iter().map(String::as_str).collect();
        infos.retain(|info| wanted.contains(info.openid.as_str()));
        Ok(infos)
    }

    /// The next undetailed openids of this run after `after`, in primary-key order. (`+seen_run`
    /// keeps SQLite on the primary key, which walks in openid order without sorting.)
    async fn pending_openids(
        &self,
        account_id: i64,
        run_id: i64,
        after: &str,
    ) -> Result<Vec<String>> {
        Ok(on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT openid FROM followers WHERE account_id = $1 AND openid > $2 \
             AND +seen_run = $3 AND (detailed_run IS NULL OR detailed_run <> $3) \
             ORDER BY openid LIMIT $4"
        )
        .bind(account_id)
        .bind(after)
        .bind(run_id)
        .bind(PENDING_READ_ROWS)
        .fetch_all(pool)
        .await)?)
    }

    async fn write_details(
        &self,
        account_id: i64,
        run_id: i64,
        mut rx: mpsc::Receiver<Vec<UserInfo>>,
    ) -> Result<Commit> {
        let mut buf: Vec<Detail> = Vec::with_capacity(DETAIL_WRITE_ROWS + BATCH_MAX);
        loop {
            let next = rx.recv().await;
            let closed = next.is_none();
            if let Some(infos) = next {
                buf.extend(infos.into_iter().map(Detail::from_info));
            }
            if buf.len() >= DETAIL_WRITE_ROWS || (closed && !buf.is_empty()) {
                let commit = self.commit_details(account_id, run_id, &mut buf).await?;
                buf.clear();
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
        account_id: i64,
        run_id: i64,
        rows: &mut Vec<Detail>,
    ) -> Result<Commit> {
        rows.sort_unstable_by(|a, b| a.openid.cmp(&b.openid));
        rows.dedup_by(|a, b| a.openid == b.openid);
        let now = now_ms();
        let me = &self.inner.instance_id;
        let progress_sql = "UPDATE sync_runs SET detailed = detailed + $1, updated_at_ms = $2, \
             lease_until_ms = $3 WHERE id = $4 AND lease_owner = $5 AND state = 'detailing' \
             RETURNING cancel_requested";
        let cancel: Option<bool> = match self.db() {
            Db::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                for chunk in rows.chunks(SQLITE_DETAIL_CHUNK) {
                    let sql = sqlite_detail_sql(chunk.len());
                    let mut q = sqlx::query(&sql).bind(account_id).bind(run_id).bind(now);
                    for d in chunk {
                        q = q
                            .bind(&d.openid)
                            .bind(&d.unionid)
                            .bind(d.subscribed)
                            .bind(d.subscribe_time)
                            .bind(&d.tagid_list)
                            .bind(&d.remark)
                            .bind(&d.language)
                            .bind(&d.subscribe_scene);
                    }
                    q.execute(&mut *tx).await?;
                }
                let cancel = sqlx::query_scalar(progress_sql)
                    .bind(rows.len() as i64)
                    .bind(now)
                    .bind(now + SYNC_LEASE_MS)
                    .bind(run_id)
                    .bind(me)
                    .fetch_optional(&mut *tx)
                    .await?;
                finish_tx(tx, cancel.is_some()).await?;
                cancel
            }
            Db::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                if !rows.is_empty() {
                    let mut openid = Vec::with_capacity(rows.len());
                    let mut unionid = Vec::with_capacity(rows.len());
                    let mut subscribed = Vec::with_capacity(rows.len());
                    let mut subscribe_time = Vec::with_capacity(rows.len());
                    let mut tags = Vec::with_capacity(rows.len());
                    let mut remark = Vec::with_capacity(rows.len());
                    let mut language = Vec::with_capacity(rows.len());
                    let mut scene = Vec::with_capacity(rows.len());
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
                    let n = openid.len();
                    sqlx::query(&format!(
                        "{DETAIL_COLUMNS}{PG_DETAIL_SELECT}{DETAIL_CONFLICT}"
                    ))
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
                    .await?;
                    let cancel = sqlx::query_scalar(progress_sql)
                        .bind(n as i64)
                        .bind(now)
                        .bind(now + SYNC_LEASE_MS)
                        .bind(run_id)
                        .bind(me)
                        .fetch_optional(&mut *tx)
                        .await?;
                    finish_tx(tx, cancel.is_some()).await?;
                    cancel
                } else {
                    Some(false)
                }
            }
        };
        Ok(Commit::from_row(cancel))
    }

    /// After a complete scan: followers this run did not list become unsubscribed (kept), the
    /// counts are recomputed and the run is `done` — all in one transaction.
    async fn finish(&self, account: &Account, run: &RunRow) -> Result<End> {
        let now = now_ms();
        let me = &self.inner.instance_id;
        let run_id = run.run_id;
        let done: Option<i64> = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            // Rows touched by a follow event after the run started are not the run's to judge.
            let unsubscribed = sqlx::query(
                "UPDATE followers SET subscribed = FALSE, updated_at_ms = $1 \
                 WHERE account_id = $2 AND subscribed = TRUE \
                 AND (seen_run IS NULL OR seen_run <> $3) AND updated_at_ms < $4",
            )
            .bind(now)
            .bind(account.id)
            .bind(run_id)
            .bind(run.started_at_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected() as i64;
            sqlx::query(RECOMPUTE_STATS_SQL)
                .bind(account.id)
                .bind(account.linked_account_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let marked = sqlx::query(
                "UPDATE sync_runs SET state = 'done', unsubscribed = $1, finished_at_ms = $2, \
                 updated_at_ms = $2, lease_until_ms = 0 \
                 WHERE id = $3 AND lease_owner = $4 AND state = 'detailing'",
            )
            .bind(unsubscribed)
            .bind(now)
            .bind(run_id)
            .bind(me)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            finish_tx(tx, marked == 1).await?;
            Ok::<_, sqlx::Error>((marked == 1).then_some(unsubscribed))
        })?;
        let Some(unsubscribed) = done else {
            return Ok(End::LostLease);
        };
        let progress = self.run_row(run_id).await?.map(RunRow::progress);
        let stats = self.follower_stats(account.id).await?;
        self.audit(
            &Actor::system(),
            "followers.sync.finish",
            &account.appid,
            serde_json::json!({
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
            }),
        )
        .await?;
        tracing::info!(run_id, appid = %account.appid, unsubscribed, "follower sync done");
        Ok(End::Done)
    }

    async fn end_cancelled(&self, account: &Account, run_id: i64) -> Result<End> {
        let now = now_ms();
        let ended = on_db!(self.db(), |pool| sqlx::query(&format!(
            "UPDATE sync_runs SET state = 'cancelled', finished_at_ms = $1, updated_at_ms = $1, \
             lease_until_ms = 0 WHERE id = $2 AND lease_owner = $3 AND {ACTIVE}"
        ))
        .bind(now)
        .bind(run_id)
        .bind(&self.inner.instance_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if ended == 0 {
            return Ok(End::LostLease);
        }
        let progress = self.run_row(run_id).await?.map(RunRow::progress);
        self.audit(
            &Actor::system(),
            "followers.sync.cancelled",
            &account.appid,
            serde_json::json!({
                "run_id": run_id,
                "pages": progress.as_ref().map(|p| p.pages_done),
                "listed": progress.as_ref().map(|p| p.listed),
                "detailed": progress.as_ref().map(|p| p.detailed),
            }),
        )
        .await?;
        Ok(End::Cancelled)
    }

    async fn fail_run(&self, account_id: i64, run_id: i64, err: &Error) -> Result<()> {
        let now = now_ms();
        let text = error_text(err);
        let ended = on_db!(self.db(), |pool| sqlx::query(&format!(
            "UPDATE sync_runs SET state = 'failed', error = $1, finished_at_ms = $2, \
             updated_at_ms = $2, lease_until_ms = 0 WHERE id = $3 AND lease_owner = $4 AND {ACTIVE}"
        ))
        .bind(&text)
        .bind(now)
        .bind(run_id)
        .bind(&self.inner.instance_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if ended == 0 {
            return Ok(());
        }
        let appid = self
            .account(account_id)
            .await?
            .map(|a| a.appid)
            .unwrap_or_default();
        let errcode = match err {
            Error::WeChat(e) => e.code(),
            _ => None,
        };
        self.audit(
            &Actor::system(),
            "followers.sync.fail",
            &appid,
            serde_json::json!({ "run_id": run_id, "errcode": errcode, "error": text }),
        )
        .await
    }
}

/// Waits for one batchget and passes its result on; `false` when the writer has stopped.
async fn forward(
    calls: &mut JoinSet<Result<Vec<UserInfo>>>,
    out: &mpsc::Sender<Vec<UserInfo>>,
) -> Result<bool> {
    match calls.join_next().await {
        Some(Ok(Ok(infos))) => Ok(out.send(infos).await.is_ok()),
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
    fn sqlite_statements_number_their_parameters() {
        let list = sqlite_list_sql(2);
        assert!(list.contains("($1,$4,$2,TRUE,$3),($1,$5,$2,TRUE,$3) ON CONFLICT"));
        let detail = sqlite_detail_sql(2);
        assert!(detail.contains("($1,$4,$5,$6,$7,$8,$9,$10,$11,$2,$2,$3),($1,$12,"));
        assert!(detail.contains("$19,$2,$2,$3) ON CONFLICT"));
    }
}

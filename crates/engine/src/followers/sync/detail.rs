//! The detail phase: `batchget`, the rows pending details, writing details, and their SQL.

use std::collections::HashMap;
use std::time::Duration;

use sqlx::Connection;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use wechat::api::{UserInfo, BATCH_MAX};

use super::{finish_tx, tag_list, Commit, Writer, SYNC_LEASE_MS};
use crate::accounts::Account;
use crate::db::Db;
use crate::{now_ms, on_db, Engine, Error, Result};

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
/// Undetailed openids read per query.
const PENDING_READ_ROWS: i64 = 2_000;
/// Rows per multi-row statement on SQLite (1 bound value per row while listing, 8 while
/// detailing: far below SQLite's 32,766 parameters).
const SQLITE_DETAIL_CHUNK: usize = 1_000;

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
/// `shape`. Binds (anonymous, see `list::sqlite_list_sql`): run, now, then per row: rowid,
/// openid, subscribe_time, tagid_list, remark, language, subscribe_scene, unionid. (The openid
/// check makes a stale rowid harmless.)
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

impl Engine {
    /// Phase 2: `batchget` for every follower listed by this run and not detailed by it yet,
    /// [`DETAIL_CONCURRENCY`] calls at a time, written in big batches while the next ones are
    /// fetched.
    pub(super) async fn detail_followers(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_statements_bind_anonymous_parameters() {
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

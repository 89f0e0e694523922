//! The dispatcher's SQL: claiming pending rows under a lease (SKIP LOCKED on PostgreSQL), writing
//! results back in batches, and ending finished jobs; renewing and reaping leases: leases.rs.
//!
//! On SQLite every write here holds the engine's dispatch write lock, statements with many rows
//! bind anonymous `?` parameters (see `sync.rs`) and come in a few fixed sizes (prepared once),
//! and the partial indexes are named with `INDEXED BY` so that a query never falls back to
//! scanning a job's rows.

use crate::audit::AuditAction;
use crate::audit::{Actor, RecordAudit};
use crate::db::Db;
use crate::{now_ms, on_db, Engine, Result};

use super::{JobState, PauseReason, RecipientState, RowChannel};

/// Result rows per UPDATE on SQLite (11 bound values each). A statement is padded (with rows
/// that match nothing) to one of these sizes, so that a few prepared statements are reused
/// instead of a new one being parsed for every batch size.
const SQLITE_RESULT_SIZES: [usize; 4] = [16, 64, 256, 1_024];

/// A row claimed by this worker.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct Claimed {
    pub seq: i64,
    pub openid: String,
    /// Attempts including this one.
    pub attempts: i64,
    /// Start of the earliest earlier attempt that may have been delivered.
    pub uncertain_ms: Option<i64>,
    /// template | subscribe (see [`Claimed::row_channel`]).
    pub channel: String,
    /// The row's own send body (an API message); `None`: the job's.
    pub payload: Option<String>,
    /// The local day the row was counted against the daily cap, once it was.
    pub cap_day: Option<String>,
}

impl Claimed {
    /// Which id `openid` is; the CHECK constraint keeps other values out of the column.
    pub fn row_channel(&self) -> RowChannel {
        RowChannel::parse(&self.channel).unwrap_or(RowChannel::Template)
    }
}

/// What becomes of a claimed row.
#[derive(Clone, Debug)]
pub(crate) struct RowResult {
    pub job_id: i64,
    pub seq: i64,
    /// Pending (to be tried again), sent, failed or unknown.
    pub state: RecipientState,
    pub msgid: Option<i64>,
    pub errcode: Option<i64>,
    pub errmsg: Option<String>,
    pub next_try_ms: i64,
    /// This attempt may have been delivered: remember its start (`uncertain_ms`).
    pub uncertain: bool,
    /// -1 for an attempt that did not count (released unsent, daily quota).
    pub attempts_delta: i64,
    pub sent_ms: Option<i64>,
    pub completed_ms: Option<i64>,
}

impl RowResult {
    /// Back to the queue unsent (the job stopped before the row's turn).
    pub(crate) fn release(job_id: i64, seq: i64) -> RowResult {
        RowResult {
            job_id,
            seq,
            state: RecipientState::Pending,
            msgid: None,
            errcode: None,
            errmsg: None,
            next_try_ms: 0,
            uncertain: false,
            attempts_delta: -1,
            sent_ms: None,
            completed_ms: None,
        }
    }
}

/// A job's frozen messages: the template/send body (empty for a subscribe-only job) and the
/// subscribe/send body with its Mini Program.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct JobPayloads {
    /// `batch`, or `api`: an account's API messages, each row with its own message.
    pub kind: String,
    pub payload: String,
    pub mp_payload: Option<String>,
    pub mp_account_id: Option<i64>,
    pub mp_template_id: Option<String>,
}

/// What a job runner needs to start.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct RunningJob {
    pub id: i64,
    pub account_id: i64,
    pub rate_limit: i64,
}

/// SQLite claims without RETURNING: sqlx hands every returned row to the async side on its
/// own (a thread wake-up each); the claimed rows come back as one JSON row instead
/// ([`SQLITE_CLAIMED`]), found by owner and claim time (unique per engine).
const SQLITE_CLAIM: &str = "UPDATE job_recipients SET state = 'sending', lease_owner = $1, \
     lease_until_ms = $2, attempts = attempts + 1, first_try_ms = COALESCE(first_try_ms, $3), \
     claimed_ms = $3, departed_ms = NULL, updated_ms = $3 \
     WHERE job_id = $4 AND seq IN (SELECT seq FROM job_recipients INDEXED BY job_recipients_pending \
     WHERE job_id = $4 AND state = 'pending' AND next_try_ms <= $3 \
     AND EXISTS (SELECT 1 FROM jobs WHERE id = $4 AND state = 'running') ORDER BY seq LIMIT $5)";
const SQLITE_CLAIMED: &str = "SELECT COALESCE(json_group_array(json_array(seq, openid, attempts, \
     uncertain_ms, channel, payload, cap_day)), '[]') FROM job_recipients INDEXED BY job_recipients_sending \
     WHERE job_id = $1 AND state = 'sending' AND lease_owner = $2 AND claimed_ms = $3";

const PG_CLAIM: &str = "UPDATE job_recipients r SET state = 'sending', lease_owner = $1, \
     lease_until_ms = $2, attempts = r.attempts + 1, first_try_ms = COALESCE(r.first_try_ms, $3), \
     claimed_ms = $3, departed_ms = NULL, updated_ms = $3 \
     FROM (SELECT seq FROM job_recipients WHERE job_id = $4 AND state = 'pending' \
     AND next_try_ms <= $3 AND EXISTS (SELECT 1 FROM jobs WHERE id = $4 AND state = 'running') \
     ORDER BY seq LIMIT $5 FOR UPDATE SKIP LOCKED) c \
     WHERE r.job_id = $4 AND r.seq = c.seq \
     RETURNING r.seq, r.openid, r.attempts, r.uncertain_ms, r.channel, r.payload, r.cap_day";

/// A result applies to a row this worker still holds — or marks as sent a row somebody else
/// gave up on (reaped to pending or unknown): the message did go out.
const RESULT_GUARD_SQLITE: &str =
    "(job_recipients.state = 'sending' AND job_recipients.lease_owner = ?) \
     OR (job_recipients.state IN ('pending', 'unknown') AND v.column3 = 'sent')";

const PG_RESULTS: &str = "UPDATE job_recipients r SET state = v.state, \
     msgid = COALESCE(v.msgid, r.msgid), errcode = v.errcode, errmsg = v.errmsg, \
     next_try_ms = v.next_try_ms, \
     uncertain_ms = CASE WHEN v.uncertain THEN COALESCE(r.uncertain_ms, r.claimed_ms) ELSE r.uncertain_ms END, \
     attempts = r.attempts + v.attempts_delta, sent_ms = COALESCE(v.sent_ms, r.sent_ms), \
     completed_ms = v.completed_ms, lease_owner = NULL, lease_until_ms = 0, updated_ms = $1 \
     FROM UNNEST($2::int8[], $3::int8[], $4::text[], $5::int8[], $6::int8[], $7::text[], \
     $8::int8[], $9::bool[], $10::int8[], $11::int8[], $12::int8[]) \
     AS v(job_id, seq, state, msgid, errcode, errmsg, next_try_ms, uncertain, attempts_delta, \
     sent_ms, completed_ms) \
     WHERE r.job_id = v.job_id AND r.seq = v.seq \
     AND ((r.state = 'sending' AND r.lease_owner = $13) \
     OR (r.state IN ('pending', 'unknown') AND v.state = 'sent'))";

fn sqlite_results_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(900 + rows * 24);
    sql.push_str(
        "UPDATE job_recipients SET state = v.column3, \
         msgid = COALESCE(v.column4, job_recipients.msgid), errcode = v.column5, \
         errmsg = v.column6, next_try_ms = v.column7, \
         uncertain_ms = CASE WHEN v.column8 = 1 \
         THEN COALESCE(job_recipients.uncertain_ms, job_recipients.claimed_ms) \
         ELSE job_recipients.uncertain_ms END, \
         attempts = job_recipients.attempts + v.column9, \
         sent_ms = COALESCE(v.column10, job_recipients.sent_ms), completed_ms = v.column11, \
         lease_owner = NULL, lease_until_ms = 0, updated_ms = ? FROM (VALUES ",
    );
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?,?,?,?,?,?,?,?,?,?,?)");
    }
    sql.push_str(
        ") AS v WHERE job_recipients.job_id = v.column1 AND job_recipients.seq = v.column2 AND (",
    );
    sql.push_str(RESULT_GUARD_SQLITE);
    sql.push(')');
    sql
}

const ANY_OPEN: &str = "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM job_recipients {pending} \
     WHERE job_id = $1 AND state = 'pending') OR EXISTS (SELECT 1 FROM job_recipients {sending} \
     WHERE job_id = $1 AND state = 'sending') THEN 1 ELSE 0 END AS BIGINT)";
/// An `api` job never finishes: it takes the account's next API message.
const FINISH: &str = "UPDATE jobs SET state = 'done', finished_ms = $1, updated_ms = $1 \
     WHERE id = $2 AND state = 'running' AND kind = 'batch' \
     AND NOT EXISTS (SELECT 1 FROM job_recipients {pending} WHERE job_id = $2 AND state = 'pending') \
     AND NOT EXISTS (SELECT 1 FROM job_recipients {sending} WHERE job_id = $2 AND state = 'sending')";
const ANY_PENDING: &str = "SELECT seq FROM job_recipients {pending} \
     WHERE job_id = $1 AND state = 'pending' LIMIT 1";
const SWEEP_CANCELLED: &str = "UPDATE job_recipients {pending} SET state = 'cancelled', \
     updated_ms = $1 WHERE job_id = $2 AND state = 'pending'";

/// Names the partial indexes on SQLite (PostgreSQL's planner finds them by itself).
pub(super) fn dialect(db: &Db, sql: &str) -> String {
    let (pending, sending) = match db {
        Db::Sqlite(_) => (
            "INDEXED BY job_recipients_pending",
            "INDEXED BY job_recipients_sending",
        ),
        Db::Postgres(_) => ("", ""),
    };
    sql.replace("{pending}", pending)
        .replace("{sending}", sending)
}

/// Explains an `unknown` row whose attempt may have been delivered too long ago to resend.
pub(crate) const UNKNOWN_STALE: &str = "An earlier attempt may have been delivered (its worker \
     stopped or WeChat did not answer) and WeChat only de-duplicates a resend for 10 minutes: \
     not resent. Check with the recipient before sending again.";
/// Explains an `unknown` subscribe row: subscribe/send has no de-dup, so an attempt that may
/// have been delivered is never repeated.
pub(crate) const UNKNOWN_NO_DEDUP: &str = "WeChat did not answer a subscribe message (or its \
     worker stopped) and subscribe/send has no de-duplication: not resent, so that nobody gets \
     it twice. Check with the recipient before sending again.";
/// Explains an `unknown` row of a job cancelled while its worker was gone.
pub(crate) const UNKNOWN_ENDED: &str = "The job ended while the worker sending this message \
     was gone: it may or may not have been delivered.";

impl Engine {
    /// Claims up to `n` due pending rows of a running job of `account_id` for `owner` (none
    /// once the job was paused or cancelled, whoever did it). Returns the claim time
    /// (the attempts' start) and the rows in seq order — without the rows over the account's
    /// daily cap, which become skipped.
    pub(crate) async fn claim_rows(
        &self,
        job_id: i64,
        account_id: i64,
        owner: &str,
        n: i64,
        lease_ms: i64,
    ) -> Result<(i64, Vec<Claimed>)> {
        // A batch all over the cap claims the next one at once (a few times at most).
        let mut last = 0;
        for _ in 0..8 {
            let (now, rows) = self.claim_batch(job_id, owner, n, lease_ms).await?;
            last = now;
            if rows.is_empty() {
                break;
            }
            let rows = self
                .count_against_cap(job_id, account_id, owner, now, rows)
                .await?;
            if !rows.is_empty() {
                return Ok((now, rows));
            }
        }
        Ok((last, Vec::new()))
    }

    /// One claim of up to `n` rows, before the daily cap.
    async fn claim_batch(
        &self,
        job_id: i64,
        owner: &str,
        n: i64,
        lease_ms: i64,
    ) -> Result<(i64, Vec<Claimed>)> {
        let now = self.jobs_shared().claim_time(now_ms());
        let mut rows = {
            let _write = self.write_gate().await;
            match self.db() {
                Db::Sqlite(pool) => {
                    let claimed = sqlx::query(SQLITE_CLAIM)
                        .bind(owner)
                        .bind(now + lease_ms)
                        .bind(now)
                        .bind(job_id)
                        .bind(n)
                        .execute(pool)
                        .await?
                        .rows_affected();
                    if claimed == 0 {
                        Vec::new()
                    } else {
                        let json: String = sqlx::query_scalar(SQLITE_CLAIMED)
                            .bind(job_id)
                            .bind(owner)
                            .bind(now)
                            .fetch_one(pool)
                            .await?;
                        type Row = (
                            i64,
                            String,
                            i64,
                            Option<i64>,
                            String,
                            Option<String>,
                            Option<String>,
                        );
                        let rows: Vec<Row> = serde_json::from_str(&json)
                            .map_err(|e| crate::Error::Internal(format!("claim: {e}")))?;
                        rows.into_iter()
                            .map(
                                |(
                                    seq,
                                    openid,
                                    attempts,
                                    uncertain_ms,
                                    channel,
                                    payload,
                                    cap_day,
                                )| {
                                    Claimed {
                                        seq,
                                        openid,
                                        attempts,
                                        uncertain_ms,
                                        channel,
                                        payload,
                                        cap_day,
                                    }
                                },
                            )
                            .collect()
                    }
                }
                Db::Postgres(pool) => {
                    sqlx::query_as::<_, Claimed>(PG_CLAIM)
                        .bind(owner)
                        .bind(now + lease_ms)
                        .bind(now)
                        .bind(job_id)
                        .bind(n)
                        .fetch_all(pool)
                        .await?
                }
            }
        };
        rows.sort_unstable_by_key(|r| r.seq);
        Ok((now, rows))
    }

    /// Writes a batch of results of rows `owner` holds: on SQLite one statement per 1,024 rows
    /// (in a transaction when there are more), on PostgreSQL one statement from arrays.
    pub(crate) async fn write_results(&self, owner: &str, results: &[RowResult]) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let _write = self.write_gate().await;
        match self.db() {
            Db::Sqlite(pool) => {
                let largest = SQLITE_RESULT_SIZES[SQLITE_RESULT_SIZES.len() - 1];
                let chunks: Vec<&[RowResult]> = results.chunks(largest).collect();
                // One statement needs no transaction (and its two round trips).
                let mut tx = if chunks.len() > 1 {
                    Some(pool.begin().await?)
                } else {
                    None
                };
                for chunk in chunks {
                    let size = SQLITE_RESULT_SIZES
                        .into_iter()
                        .find(|s| *s >= chunk.len())
                        .unwrap_or(largest);
                    let sql = sqlite_results_sql(size);
                    let mut q = sqlx::query(&sql).bind(now);
                    for r in chunk {
                        q = q
                            .bind(r.job_id)
                            .bind(r.seq)
                            .bind(r.state.as_str())
                            .bind(r.msgid)
                            .bind(r.errcode)
                            .bind(r.errmsg.as_deref())
                            .bind(r.next_try_ms)
                            .bind(i64::from(r.uncertain))
                            .bind(r.attempts_delta)
                            .bind(r.sent_ms)
                            .bind(r.completed_ms);
                    }
                    for _ in chunk.len()..size {
                        // Job 0 does not exist: the padding matches no row.
                        q = q
                            .bind(0_i64)
                            .bind(0_i64)
                            .bind(RecipientState::Pending.as_str())
                            .bind(None::<i64>)
                            .bind(None::<i64>)
                            .bind(None::<&str>)
                            .bind(0_i64)
                            .bind(0_i64)
                            .bind(0_i64)
                            .bind(None::<i64>)
                            .bind(None::<i64>);
                    }
                    let q = q.bind(owner);
                    match tx.as_mut() {
                        Some(tx) => q.execute(&mut **tx).await?,
                        None => q.execute(pool).await?,
                    };
                }
                if let Some(tx) = tx {
                    tx.commit().await?;
                }
            }
            Db::Postgres(pool) => {
                let n = results.len();
                let mut job_id = Vec::with_capacity(n);
                let mut seq = Vec::with_capacity(n);
                let mut state = Vec::with_capacity(n);
                let mut msgid = Vec::with_capacity(n);
                let mut errcode = Vec::with_capacity(n);
                let mut errmsg = Vec::with_capacity(n);
                let mut next_try = Vec::with_capacity(n);
                let mut uncertain = Vec::with_capacity(n);
                let mut delta = Vec::with_capacity(n);
                let mut sent_ms = Vec::with_capacity(n);
                let mut completed_ms = Vec::with_capacity(n);
                for r in results {
                    job_id.push(r.job_id);
                    seq.push(r.seq);
                    state.push(r.state.as_str());
                    msgid.push(r.msgid);
                    errcode.push(r.errcode);
                    errmsg.push(r.errmsg.as_deref());
                    next_try.push(r.next_try_ms);
                    uncertain.push(r.uncertain);
                    delta.push(r.attempts_delta);
                    sent_ms.push(r.sent_ms);
                    completed_ms.push(r.completed_ms);
                }
                sqlx::query(PG_RESULTS)
                    .bind(now)
                    .bind(job_id)
                    .bind(seq)
                    .bind(state)
                    .bind(msgid)
                    .bind(errcode)
                    .bind(errmsg)
                    .bind(next_try)
                    .bind(uncertain)
                    .bind(delta)
                    .bind(sent_ms)
                    .bind(completed_ms)
                    .bind(owner)
                    .execute(pool)
                    .await?;
            }
        }
        Ok(())
    }

    /// Records that the attempts of `rows` (job, seq) `owner` holds are about to leave for
    /// WeChat, in one statement; returns the rows recorded (a row no longer held is not, and
    /// must not be sent).
    pub(crate) async fn record_departures(
        &self,
        owner: &str,
        rows: &[(i64, i64)],
    ) -> Result<Vec<(i64, i64)>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = String::from(
            "UPDATE job_recipients SET departed_ms = $1 \
             WHERE state = 'sending' AND lease_owner = $2 AND (job_id, seq) IN (VALUES ",
        );
        for i in 0..rows.len() {
            if i > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("(${}, ${})", 3 + 2 * i, 4 + 2 * i));
        }
        sql.push_str(") RETURNING job_id, seq");
        let now = now_ms();
        let _write = self.write_gate().await;
        let recorded: Vec<(i64, i64)> = on_db!(self.db(), |pool| {
            let mut q = sqlx::query_as(&sql).bind(now).bind(owner);
            for (job_id, seq) in rows {
                q = q.bind(*job_id).bind(*seq);
            }
            q.fetch_all(pool).await
        })?;
        Ok(recorded)
    }

    /// Running jobs, for the dispatcher loop.
    pub(crate) async fn running_jobs(&self) -> Result<Vec<RunningJob>> {
        Ok(on_db!(self.db(), |pool| sqlx::query_as::<_, RunningJob>(
            "SELECT id, account_id, rate_limit FROM jobs WHERE state = 'running' ORDER BY id"
        )
        .fetch_all(pool)
        .await)?)
    }

    pub(crate) async fn job_state(&self, job_id: i64) -> Result<Option<JobState>> {
        let s: Option<String> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT state FROM jobs WHERE id = $1"
        )
        .bind(job_id)
        .fetch_optional(pool)
        .await)?;
        Ok(s.as_deref().and_then(JobState::parse))
    }

    /// The frozen messages of a job and where its subscribe messages go.
    pub(crate) async fn job_payloads(&self, job_id: i64) -> Result<Option<JobPayloads>> {
        Ok(on_db!(self.db(), |pool| {
            sqlx::query_as::<_, JobPayloads>(
            "SELECT kind, payload, mp_payload, mp_account_id, mp_template_id FROM jobs WHERE id = $1"
        )
        .bind(job_id)
        .fetch_optional(pool)
        .await
        })?)
    }

    /// Pauses a running job for a reason of the dispatcher's (the daily quota, credentials, a
    /// message WeChat refuses, a payload or Mini Program it cannot use).
    pub(crate) async fn pause_for(&self, job_id: i64, reason: PauseReason) -> Result<bool> {
        let stored = reason.to_stored();
        let detail = serde_json::json!({ "id": job_id, "reason": stored });
        let changed = {
            let _write = self.write_gate().await;
            on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                let name: Option<String> = sqlx::query_scalar(
                    "UPDATE jobs SET state = 'paused', pause_reason = $1, updated_ms = $2 \
                     WHERE id = $3 AND state = 'running' RETURNING name",
                )
                .bind(&stored)
                .bind(now_ms())
                .bind(job_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(name) = &name {
                    tx.record_audit(&Actor::system(), AuditAction::JobPause, name, &detail)
                        .await?;
                }
                tx.commit().await?;
                name.is_some()
            })
        };
        self.jobs_shared().set_state(job_id, JobState::Paused);
        if changed {
            tracing::warn!(job_id, reason = %stored, "send job paused");
        }
        Ok(changed)
    }

    /// After results were written: a running job without pending or sending rows is `done`;
    /// a cancelled job's rows put back meanwhile become `cancelled`.
    pub(crate) async fn settle_job(&self, job_id: i64) -> Result<Option<JobState>> {
        let Some(state) = self.job_state(job_id).await? else {
            return Ok(None);
        };
        match state {
            JobState::Running => {
                let open: i64 = on_db!(self.db(), |pool| sqlx::query_scalar(&dialect(
                    self.db(),
                    ANY_OPEN
                ))
                .bind(job_id)
                .fetch_one(pool)
                .await)?;
                if open != 0 {
                    return Ok(Some(state));
                }
                let sql = dialect(self.db(), FINISH);
                let done = {
                    let _write = self.write_gate().await;
                    on_db!(self.db(), |pool| {
                        let mut tx = pool.begin().await?;
                        let done = sqlx::query(&sql)
                            .bind(now_ms())
                            .bind(job_id)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                        if done > 0 {
                            // The entry of a job that ended by itself, with its final counts.
                            let name: String =
                                sqlx::query_scalar("SELECT name FROM jobs WHERE id = $1")
                                    .bind(job_id)
                                    .fetch_one(&mut *tx)
                                    .await?;
                            let counts: Vec<(String, i64)> = sqlx::query_as(
                                "SELECT state, COUNT(*) FROM job_recipients WHERE job_id = $1 \
                                 GROUP BY state",
                            )
                            .bind(job_id)
                            .fetch_all(&mut *tx)
                            .await?;
                            let count = |state: &str| {
                                counts
                                    .iter()
                                    .filter(|(s, _)| s == state)
                                    .map(|(_, n)| n)
                                    .sum::<i64>()
                            };
                            let detail = serde_json::json!({
                                "id": job_id,
                                "sent": count("sent"),
                                "failed": count("failed"),
                                "skipped": count("skipped"),
                                "unknown": count("unknown"),
                            });
                            tx.record_audit(
                                &Actor::system(),
                                AuditAction::JobFinish,
                                &name,
                                &detail,
                            )
                            .await?;
                        }
                        tx.commit().await?;
                        done
                    })
                };
                if done > 0 {
                    tracing::info!(job_id, "send job done");
                    self.jobs_shared().set_state(job_id, JobState::Done);
                    return Ok(Some(JobState::Done));
                }
                Ok(self.job_state(job_id).await?)
            }
            JobState::Cancelled => {
                let any: Option<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(&dialect(
                    self.db(),
                    ANY_PENDING
                ))
                .bind(job_id)
                .fetch_optional(pool)
                .await)?;
                if any.is_some() {
                    let sql = dialect(self.db(), SWEEP_CANCELLED);
                    let _write = self.write_gate().await;
                    on_db!(self.db(), |pool| sqlx::query(&sql)
                        .bind(now_ms())
                        .bind(job_id)
                        .execute(pool)
                        .await
                        .map(|r| r.rows_affected()))?;
                }
                Ok(Some(state))
            }
            other => Ok(Some(other)),
        }
    }
}

//! A job's live progress (counts by state, receipts, rate, ETA, errors by errcode, skips) in one
//! pass over its rows, and the keyset-paged recipients table.

use std::collections::BTreeMap;

use crate::{now_ms, on_db, Engine, Result};

use super::{
    errmsg_without_rid, ChannelCounts, Delivery, EarlierFailure, ErrcodeCount, JobProgress,
    JobState, RecipientFilter, RecipientRow, RecipientState, RowChannel, SkipReason,
};

/// The window `rate_per_s` is measured over.
const RATE_WINDOW_MS: i64 = 10_000;
/// Sending for less than this gives no rate and no estimate: a job's first second says little
/// (and a 50-recipient job is done before an estimate could help).
const RATE_MIN_MS: i64 = 3_000;

#[derive(sqlx::FromRow)]
struct Group {
    channel: String,
    state: String,
    skip_reason: Option<String>,
    errcode: Option<i64>,
    delivery: Option<String>,
    errmsg: Option<String>,
    n: i64,
    recent: i64,
    first_try_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    openid: String,
    unionid: Option<String>,
    state: String,
    attempts: i64,
    errcode: Option<i64>,
    errmsg: Option<String>,
    skip_reason: Option<String>,
    msgid: Option<i64>,
    delivery: Option<String>,
    sent_ms: Option<i64>,
    updated_ms: i64,
    channel: String,
    vars: Option<String>,
    line: Option<i64>,
    issues: Option<String>,
}

impl Engine {
    /// The job with its live counts; `None` for an unknown id.
    pub async fn job_progress(&self, id: i64) -> Result<Option<JobProgress>> {
        let Some(job) = self.job(id).await? else {
            return Ok(None);
        };
        let now = now_ms();
        let groups = on_db!(self.db(), |pool| {
            sqlx::query_as::<_, Group>(
                "SELECT channel, state, skip_reason, errcode, delivery, MAX(errmsg) AS errmsg, \
             COUNT(*) AS n, \
             COALESCE(SUM(CASE WHEN completed_ms >= $2 AND state IN ('sent', 'failed') \
             THEN 1 ELSE 0 END), 0) AS recent, MIN(first_try_ms) AS first_try_ms \
             FROM job_recipients WHERE job_id = $1 \
             GROUP BY channel, state, skip_reason, errcode, delivery",
            )
            .bind(id)
            .bind(now - RATE_WINDOW_MS)
            .fetch_all(pool)
            .await
        })?;
        let mut p = JobProgress {
            job,
            pending: 0,
            sending: 0,
            sent: 0,
            failed: 0,
            skipped: 0,
            unknown: 0,
            cancelled: 0,
            delivered: 0,
            user_blocked: 0,
            system_failed: 0,
            rate_per_s: 0.0,
            eta_secs: None,
            errors: Vec::new(),
            skip_reasons: Vec::new(),
            by_channel: Vec::new(),
            retried_failures: on_db!(self.db(), |pool| sqlx::query_scalar(
                "SELECT COUNT(DISTINCT seq) FROM recipient_failures WHERE job_id = $1"
            )
            .bind(id)
            .fetch_one(pool)
            .await)?,
        };
        let mut channels: BTreeMap<RowChannel, ChannelCounts> = BTreeMap::new();
        let mut recent = 0;
        let mut first_try: Option<i64> = None;
        let mut errors: BTreeMap<i64, (String, i64)> = BTreeMap::new();
        let mut skips: BTreeMap<SkipReason, i64> = BTreeMap::new();
        for g in groups {
            recent += g.recent;
            first_try = match (first_try, g.first_try_ms) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // The CHECK constraints keep other values out of these columns.
            let state = RecipientState::parse(&g.state);
            let delivery = g.delivery.as_deref().and_then(Delivery::parse);
            if state != Some(RecipientState::Skipped) {
                let channel = RowChannel::parse(&g.channel).unwrap_or(RowChannel::Template);
                let c = channels.entry(channel).or_insert(ChannelCounts {
                    channel,
                    planned: 0,
                    sent: 0,
                    failed: 0,
                    delivered: 0,
                });
                c.planned += g.n;
                match state {
                    Some(RecipientState::Sent) => c.sent += g.n,
                    Some(RecipientState::Failed) => c.failed += g.n,
                    _ => {}
                }
                if delivery == Some(Delivery::Delivered) {
                    c.delivered += g.n;
                }
            }
            match state {
                Some(RecipientState::Pending) => p.pending += g.n,
                Some(RecipientState::Sending) => p.sending += g.n,
                Some(RecipientState::Sent) => p.sent += g.n,
                Some(RecipientState::Failed) => {
                    p.failed += g.n;
                    let entry = errors
                        .entry(g.errcode.unwrap_or(0))
                        .or_insert_with(|| (String::new(), 0));
                    if entry.0.is_empty() {
                        entry.0 =
                            errmsg_without_rid(g.errmsg.as_deref().unwrap_or_default()).to_owned();
                    }
                    entry.1 += g.n;
                }
                Some(RecipientState::Skipped) => {
                    p.skipped += g.n;
                    if let Some(r) = g.skip_reason.as_deref().and_then(SkipReason::parse) {
                        *skips.entry(r).or_default() += g.n;
                    }
                }
                Some(RecipientState::Unknown) => p.unknown += g.n,
                Some(RecipientState::Cancelled) => p.cancelled += g.n,
                None => {}
            }
            match delivery {
                Some(Delivery::Delivered) => p.delivered += g.n,
                Some(Delivery::UserBlock) => p.user_blocked += g.n,
                Some(Delivery::SystemFailed) => p.system_failed += g.n,
                None => {}
            }
        }
        // Over the last 10 s, or since the first attempt when that is more recent.
        let measured_ms = first_try.map_or(0, |f| (now - f).clamp(0, RATE_WINDOW_MS));
        if measured_ms >= RATE_MIN_MS {
            p.rate_per_s = recent as f64 * 1000.0 / measured_ms as f64;
        }
        if p.rate_per_s > 0.0 && p.job.state == JobState::Running {
            p.eta_secs = Some(((p.pending + p.sending) as f64 / p.rate_per_s).ceil() as i64);
        }
        let mut errors: Vec<ErrcodeCount> = errors
            .into_iter()
            .map(|(errcode, (errmsg, count))| ErrcodeCount {
                errcode,
                errmsg,
                count,
            })
            .collect();
        errors.sort_by(|a, b| b.count.cmp(&a.count).then(a.errcode.cmp(&b.errcode)));
        p.errors = errors;
        p.skip_reasons = skips.into_iter().collect();
        p.by_channel = channels.into_values().collect();
        Ok(Some(p))
    }

    /// Rows of a job after `after_seq`, in seq order (keyset paging).
    pub async fn job_recipients(
        &self,
        id: i64,
        filter: &RecipientFilter,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<RecipientRow>> {
        let rows = on_db!(self.db(), |pool| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT seq, openid, unionid, state, attempts, errcode, errmsg, skip_reason, msgid, \
                 delivery, sent_ms, updated_ms, channel, vars, line, issues FROM job_recipients \
                 WHERE job_id = ",
            );
            qb.push_bind(id);
            qb.push(" AND seq > ").push_bind(after_seq);
            if let Some(state) = filter.state {
                qb.push(" AND state = ").push_bind(state.as_str());
            }
            if let Some(code) = filter.errcode {
                qb.push(" AND errcode = ").push_bind(code);
            }
            let search = filter.search.trim();
            if !search.is_empty() {
                qb.push(" AND (openid = ")
                    .push_bind(search.to_owned())
                    .push(" OR unionid = ")
                    .push_bind(search.to_owned())
                    .push(")");
            }
            qb.push(" ORDER BY seq LIMIT ").push_bind(limit.max(0));
            qb.build_query_as::<Row>().fetch_all(pool).await
        })?;
        let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
        let mut earlier: BTreeMap<i64, Vec<EarlierFailure>> = BTreeMap::new();
        if let (Some(first), Some(last)) = (seqs.first(), seqs.last()) {
            let failures = on_db!(self.db(), |pool| sqlx::query_as::<_, EarlierFailure>(
                "SELECT seq, failed_ms, retried_ms, attempts, errcode, errmsg \
                 FROM recipient_failures WHERE job_id = $1 AND seq >= $2 AND seq <= $3 \
                 ORDER BY seq, retried_ms"
            )
            .bind(id)
            .bind(first)
            .bind(last)
            .fetch_all(pool)
            .await)?;
            for f in failures {
                earlier.entry(f.seq).or_default().push(f);
            }
        }
        Ok(rows
            .into_iter()
            .map(|r| RecipientRow {
                earlier_failures: earlier.remove(&r.seq).unwrap_or_default(),
                seq: r.seq,
                openid: r.openid,
                // The CHECK constraints keep other values out of these columns.
                state: RecipientState::parse(&r.state).unwrap_or(RecipientState::Unknown),
                attempts: r.attempts,
                errcode: r.errcode,
                errmsg: r.errmsg,
                skip_reason: r.skip_reason.as_deref().and_then(SkipReason::parse),
                msgid: r.msgid,
                delivery: r.delivery.as_deref().and_then(Delivery::parse),
                updated_ms: r.updated_ms,
                unionid: r.unionid,
                sent_ms: r.sent_ms,
                channel: RowChannel::parse(&r.channel).unwrap_or(RowChannel::Template),
                values: r
                    .vars
                    .and_then(|v| serde_json::from_str(&v).ok())
                    .unwrap_or_default(),
                line: r.line,
                issues: r
                    .issues
                    .and_then(|v| serde_json::from_str(&v).ok())
                    .unwrap_or_default(),
            })
            .collect())
    }
}

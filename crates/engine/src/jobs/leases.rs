//! Leases on claimed rows: renewed while their worker lives, and taken over when it died —
//! resent within WeChat's de-dup window, `unknown` after it (see queue.rs for the dialects).

use crate::{now_ms, on_db, Engine, Result};

use super::queue::{dialect, UNKNOWN_ENDED, UNKNOWN_STALE};

/// Counts of a lease reaping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Reaped {
    /// Back to pending, to be resent with the same client_msg_id.
    pub resend: u64,
    /// Past WeChat's de-dup window (or their job ended): `unknown`.
    pub unknown: u64,
}

/// Expired leases of subscribe rows whose attempt never left its process (no `departed_ms`):
/// nothing reached WeChat, so the row is simply sent (or, its job ended, cancelled). Template
/// rows record no departure; their resend is covered by client_msg_id.
const REAP_UNDEPARTED: &str = "UPDATE job_recipients {sending} SET \
     state = CASE WHEN job_id IN (SELECT id FROM jobs WHERE state IN ('cancelled', 'done')) \
     THEN 'cancelled' ELSE 'pending' END, \
     next_try_ms = 0, attempts = attempts - 1, lease_owner = NULL, lease_until_ms = 0, \
     updated_ms = $1 \
     WHERE state = 'sending' AND lease_until_ms < $1 AND lease_owner <> $2 \
     AND channel = 'subscribe' AND departed_ms IS NULL";
/// Expired leases of other workers whose attempt began before `$4`: never resent.
const REAP_STALE: &str = "UPDATE job_recipients {sending} SET state = 'unknown', errmsg = $1, \
     completed_ms = $2, uncertain_ms = COALESCE(uncertain_ms, claimed_ms), lease_owner = NULL, \
     lease_until_ms = 0, updated_ms = $2 \
     WHERE state = 'sending' AND lease_until_ms < $2 AND lease_owner <> $3 \
     AND COALESCE(uncertain_ms, claimed_ms) < $4";
/// Expired leases of a job that ended meanwhile (cancelled): not resent either.
const REAP_ENDED: &str = "UPDATE job_recipients {sending} SET state = 'unknown', errmsg = $1, \
     completed_ms = $2, uncertain_ms = COALESCE(uncertain_ms, claimed_ms), lease_owner = NULL, \
     lease_until_ms = 0, updated_ms = $2 \
     WHERE state = 'sending' AND lease_until_ms < $2 AND lease_owner <> $3 \
     AND job_id IN (SELECT id FROM jobs WHERE state IN ('cancelled', 'done'))";
/// The other expired leases: resent with the same client_msg_id (WeChat de-duplicates).
const REAP_RESEND: &str =
    "UPDATE job_recipients {sending} SET state = 'pending', next_try_ms = 0, \
     uncertain_ms = COALESCE(uncertain_ms, claimed_ms), lease_owner = NULL, lease_until_ms = 0, \
     updated_ms = $1 \
     WHERE state = 'sending' AND lease_until_ms < $1 AND lease_owner <> $2";
const ANY_EXPIRED: &str = "SELECT seq FROM job_recipients {sending} \
     WHERE state = 'sending' AND lease_until_ms < $1 AND lease_owner <> $2 LIMIT 1";
const RENEW: &str = "UPDATE job_recipients {sending} SET lease_until_ms = $1 \
     WHERE state = 'sending' AND lease_owner = $2";

impl Engine {
    /// Extends the leases of the rows `owner` holds.
    pub(crate) async fn renew_leases(&self, owner: &str, lease_ms: i64) -> Result<u64> {
        let sql = dialect(self.db(), RENEW);
        let _write = self.write_gate().await;
        Ok(on_db!(self.db(), |pool| sqlx::query(&sql)
            .bind(now_ms() + lease_ms)
            .bind(owner)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Rows of other workers whose lease lapsed (the worker died): resent when their first
    /// possibly delivered attempt began less than `window_ms` ago, else `unknown`.
    pub(crate) async fn reap_leases(&self, owner: &str, window_ms: i64) -> Result<Reaped> {
        let now = now_ms();
        let any: Option<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(&dialect(
            self.db(),
            ANY_EXPIRED
        ))
        .bind(now)
        .bind(owner)
        .fetch_optional(pool)
        .await)?;
        if any.is_none() {
            return Ok(Reaped::default());
        }
        let (undeparted, stale, ended, resend) = (
            dialect(self.db(), REAP_UNDEPARTED),
            dialect(self.db(), REAP_STALE),
            dialect(self.db(), REAP_ENDED),
            dialect(self.db(), REAP_RESEND),
        );
        let _write = self.write_gate().await;
        let reaped = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let undeparted = sqlx::query(&undeparted)
                .bind(now)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let stale = sqlx::query(&stale)
                .bind(UNKNOWN_STALE)
                .bind(now)
                .bind(owner)
                .bind(now - window_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let ended = sqlx::query(&ended)
                .bind(UNKNOWN_ENDED)
                .bind(now)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let resend = sqlx::query(&resend)
                .bind(now)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok::<_, sqlx::Error>(Reaped {
                resend: resend + undeparted,
                unknown: stale + ended,
            })
        })?;
        if reaped != Reaped::default() {
            tracing::info!(
                resend = reaped.resend,
                unknown = reaped.unknown,
                "took over send rows of a worker that stopped"
            );
        }
        Ok(reaped)
    }
}

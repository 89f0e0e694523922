//! Ending a run: reconciling and counting after a complete scan, cancelling, failing.

use crate::audit::AuditAction;
use sqlx::Connection;

use super::{finish_tx, End, RunRow, Writer, ACTIVE, SELECT_RUN, SYNC_LEASE_MS};
use crate::accounts::Account;
use crate::audit::{Actor, RecordAudit};
use crate::{now_ms, on_db, Engine, Error, Result};

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
    /// After a complete scan: followers this run did not list become unsubscribed (kept), then
    /// the counts are recomputed (read outside the write lock: a long read) and the run is
    /// `done`. Each write is short and under the write gate, so logins do not wait for the
    /// counting.
    pub(super) async fn finish(
        &self,
        writer: &mut Writer,
        account: &Account,
        run: &RunRow,
    ) -> Result<End> {
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

    pub(super) async fn end_cancelled(&self, account: &Account, run_id: i64) -> Result<End> {
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

    pub(super) async fn fail_run(&self, account_id: i64, run_id: i64, err: &Error) -> Result<()> {
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

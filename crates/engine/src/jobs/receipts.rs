//! Delivery receipts (TEMPLATESENDJOBFINISH, subscribe_msg_sent_event) joined to recipient rows by msgid (an i64, never a float); a
//! receipt that beats the worker's write waits in a backlog until the row has its msgid.

use crate::{now_ms, on_db, Engine, Result};

use super::Delivery;

/// Receipts whose msgid never shows up are dropped after a day (sends of other systems).
const BACKLOG_KEEP_MS: i64 = 24 * 60 * 60 * 1000;
/// Backlogged receipts handled per pass.
const BACKLOG_BATCH: i64 = 1_000;

impl Engine {
    /// Records a receipt on the row that got `msgid` from `account_id`: an OA's
    /// TEMPLATESENDJOBFINISH, or a Mini Program's subscribe_msg_sent_event item. The first receipt counts; a repeat changes nothing. Returns whether a row
    /// changed. A msgid not stored yet (the receipt was faster than the worker's write) is kept
    /// and applied once it is; msgid 0 is ignored.
    pub async fn apply_receipt(
        &self,
        account_id: i64,
        msgid: i64,
        delivery: Delivery,
    ) -> Result<bool> {
        if msgid == 0 {
            return Ok(false);
        }
        let now = now_ms();
        let _write = self.write_gate().await;
        let changed = on_db!(self.db(), |pool| sqlx::query(
            "UPDATE job_recipients SET delivery = $1, delivery_ms = $2, updated_ms = $2 \
             WHERE msgid = $3 AND delivery IS NULL \
             AND job_id IN (SELECT id FROM jobs WHERE account_id = $4 OR mp_account_id = $4)"
        )
        .bind(delivery.as_str())
        .bind(now)
        .bind(msgid)
        .bind(account_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if changed > 0 {
            return Ok(true);
        }
        // Nothing changed: a repeat (the row has its delivery already), or a msgid not stored
        // yet — the worker's write may land any moment, so keep the receipt for later.
        let settled: Option<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT r.seq FROM job_recipients r JOIN jobs j ON j.id = r.job_id \
             WHERE r.msgid = $1 AND (j.account_id = $2 OR j.mp_account_id = $2) \
             AND r.delivery IS NOT NULL LIMIT 1"
        )
        .bind(msgid)
        .bind(account_id)
        .fetch_optional(pool)
        .await)?;
        if settled.is_none() {
            on_db!(self.db(), |pool| sqlx::query(
                "INSERT INTO receipt_backlog (account_id, msgid, delivery, received_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, msgid) DO NOTHING"
            )
            .bind(account_id)
            .bind(msgid)
            .bind(delivery.as_str())
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()))?;
        }
        Ok(false)
    }

    /// Applies backlogged receipts whose rows now have their msgid; forgets old ones.
    /// Returns how many rows changed.
    pub(crate) async fn apply_receipt_backlog(&self) -> Result<u64> {
        let any: Option<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT msgid FROM receipt_backlog LIMIT 1"
        )
        .fetch_optional(pool)
        .await)?;
        if any.is_none() {
            return Ok(0);
        }
        let pending: Vec<(i64, i64, String, i64)> = on_db!(self.db(), |pool| sqlx::query_as(
            "SELECT account_id, msgid, delivery, received_ms FROM receipt_backlog \
             ORDER BY received_ms LIMIT $1"
        )
        .bind(BACKLOG_BATCH)
        .fetch_all(pool)
        .await)?;
        let now = now_ms();
        let _write = self.write_gate().await;
        let changed = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let mut changed = 0;
            for (account_id, msgid, delivery, received_ms) in &pending {
                changed += sqlx::query(
                    "UPDATE job_recipients SET delivery = $1, delivery_ms = $2, updated_ms = $3 \
                     WHERE msgid = $4 AND delivery IS NULL \
                     AND job_id IN (SELECT id FROM jobs WHERE account_id = $5 OR mp_account_id = $5)",
                )
                .bind(delivery)
                .bind(received_ms)
                .bind(now)
                .bind(msgid)
                .bind(account_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                // Applied, or the row got a receipt meanwhile, or it never will: forget it.
                sqlx::query(
                    "DELETE FROM receipt_backlog WHERE account_id = $1 AND msgid = $2 \
                     AND (received_ms < $3 OR EXISTS (SELECT 1 FROM job_recipients r \
                     JOIN jobs j ON j.id = r.job_id WHERE r.msgid = $2 \
                     AND (j.account_id = $1 OR j.mp_account_id = $1) \
                     AND r.delivery IS NOT NULL))",
                )
                .bind(account_id)
                .bind(msgid)
                .bind(now - BACKLOG_KEEP_MS)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(changed)
        })?;
        Ok(changed)
    }
}

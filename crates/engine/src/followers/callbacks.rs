//! Pushes the callback URL has taken: a request's timestamp and nonce are taken once (a replayed
//! signature is refused) and an event once (WeChat's retries come with a fresh nonce), for a
//! while longer than the timestamp window.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::{now_ms, on_db, Engine, Result};

/// Entries older than this are forgotten: the callback refuses timestamps more than 5 minutes
/// off, and WeChat retries within seconds.
const KEEP_MS: i64 = 15 * 60 * 1000;
/// Forgotten entries are deleted at most this often by each process.
const PRUNE_EVERY_MS: i64 = 60 * 1000;

static LAST_PRUNE_MS: AtomicI64 = AtomicI64::new(0);

/// Whether a push may be applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// First time: apply it; on failure call [`Engine::forget_push`] so WeChat's retry is
    /// taken.
    Fresh(Ticket),
    /// This timestamp and nonce were taken before: a replay of a seen request.
    Replayed,
    /// This event was taken before (a retry of WeChat's): acknowledge, apply nothing.
    Duplicate,
}

/// What [`Engine::admit_push`] recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    account_id: i64,
    nonce_key: String,
    event_key: Option<String>,
}

impl Engine {
    /// Records the push's nonce and event for `account_id`, in one transaction, unless either
    /// was seen.
    pub async fn admit_push(
        &self,
        account_id: i64,
        nonce_key: &str,
        event_key: Option<&str>,
    ) -> Result<Admission> {
        let now = now_ms();
        self.prune_seen_pushes(now).await;
        let _turn = self.write_gate().await;
        let admission = on_db!(self.db(), |pool| async {
            let mut tx = pool.begin().await?;
            let insert = "INSERT INTO callback_seen (account_id, kind, key, seen_ms) \
                          VALUES ($1, $2, $3, $4) ON CONFLICT (account_id, kind, key) DO NOTHING";
            let fresh_nonce = sqlx::query(insert)
                .bind(account_id)
                .bind("nonce")
                .bind(nonce_key)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            if !fresh_nonce {
                tx.rollback().await?;
                return Ok::<_, sqlx::Error>(Admission::Replayed);
            }
            if let Some(key) = event_key {
                let fresh_event = sqlx::query(insert)
                    .bind(account_id)
                    .bind("event")
                    .bind(key)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                    == 1;
                if !fresh_event {
                    // The nonce stays taken: this request is used up either way.
                    tx.commit().await?;
                    return Ok(Admission::Duplicate);
                }
            }
            tx.commit().await?;
            Ok(Admission::Fresh(Ticket {
                account_id,
                nonce_key: nonce_key.to_owned(),
                event_key: event_key.map(str::to_owned),
            }))
        }
        .await)?;
        Ok(admission)
    }

    /// Forgets a push that could not be applied, so that WeChat's retry (same request, or the
    /// same event under a new nonce) is taken.
    pub async fn forget_push(&self, ticket: &Ticket) -> Result<()> {
        on_db!(self.db(), |pool| sqlx::query(
            "DELETE FROM callback_seen WHERE account_id = $1 \
             AND ((kind = 'nonce' AND key = $2) OR (kind = 'event' AND key = $3))"
        )
        .bind(ticket.account_id)
        .bind(&ticket.nonce_key)
        .bind(ticket.event_key.as_deref())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Deletes entries past [`KEEP_MS`], at most every [`PRUNE_EVERY_MS`] per process; a
    /// failure only delays it.
    async fn prune_seen_pushes(&self, now: i64) {
        let last = LAST_PRUNE_MS.load(Ordering::Relaxed);
        if now - last < PRUNE_EVERY_MS
            || LAST_PRUNE_MS
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let pruned = on_db!(self.db(), |pool| sqlx::query(
            "DELETE FROM callback_seen WHERE seen_ms < $1"
        )
        .bind(now - KEEP_MS)
        .execute(pool)
        .await
        .map(|_| ()));
        if let Err(e) = pruned {
            tracing::warn!(error = %e, "could not prune the callback's seen pushes");
        }
    }
}

//! Each account's send rate, shared by every process: sends reserved in the database.
//!
//! The table `send_rate` holds the account's theoretical arrival time (`tat_us`, GCRA) for the
//! whole deployment. A process reserves a run of send slots with one upsert that moves it on,
//! then sends each no earlier than its slot. Runs of different processes never overlap, so
//! together they keep the rate. A run is sized by what the process used of its last one (at most
//! a tenth of a second's worth), so a process that cannot send fast (few in flight, a slow
//! WeChat) does not hold sending time the others could use, and adding processes adds throughput
//! up to the rate. A process holds at most one run ahead of time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::JobControl;
use crate::{on_db, Db, Engine, Result};

/// How far ahead of now a reservation may start: a `tat_us` further ahead (left by a host whose
/// clock ran ahead) costs one wait of this long, not more. N processes sending legitimately
/// hold it at most N runs ahead (N × 0.1 s, or N s at 1 message per second).
const MAX_AHEAD_US: i64 = 10_000_000;
/// How late a reserved send may still go (a burst of a tenth of a second's worth at most).
const LATE_US: i64 = 100_000;
/// The next run is reserved this long before the current one ends, so that its first send is
/// not late by the database round trip.
const LEAD_US: i64 = 10_000;
/// The wait before retrying a reservation the database failed.
const RETRY: Duration = Duration::from_secs(1);

/// Microseconds since the Unix epoch.
fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// The interval between sends at `rate` per second in microseconds (rounded up: never faster
/// than the rate) and the most sends one reservation takes (a tenth of a second's worth,
/// rounded up, so at most 10 reservations a second per process at full speed).
fn spacing(rate: i64) -> (i64, i64) {
    let rate = rate.max(1);
    ((1_000_000 + rate - 1) / rate, (rate + 9) / 10)
}

/// The size of the next reservation: twice what the last one delivered (it grows while the
/// process uses all it gets), at least the sends waiting now, at most `max`.
fn next_run(last_taken: i64, waiting: i64, max: i64) -> i64 {
    (2 * last_taken).max(waiting).clamp(1, max.max(1))
}

/// The slots this process reserved: one every interval from `next_us` up to `end_us`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Window {
    next_us: i64,
    end_us: i64,
    /// Slots taken from this run.
    taken: i64,
}

impl Window {
    /// The run of `slots` sends at `interval_us` that moved the arrival time to `tat_us`.
    fn granted(tat_us: i64, slots: i64, interval_us: i64) -> Window {
        Window {
            next_us: tat_us - slots * interval_us,
            end_us: tat_us,
            taken: 0,
        }
    }

    /// The time of the next send, unless the run is used up or ended more than [`LATE_US`]
    /// before `now_us`. A slot whose time is past goes at once.
    fn take(&mut self, interval_us: i64, now_us: i64) -> Option<i64> {
        if self.next_us + interval_us > self.end_us || now_us > self.end_us + LATE_US {
            return None;
        }
        let at = self.next_us;
        self.next_us += interval_us;
        self.taken += 1;
        Some(at)
    }
}

/// The send rate of one account in this process.
#[derive(Debug)]
pub(crate) struct Limiter {
    account_id: i64,
    window: tokio::sync::Mutex<Window>,
    /// Sends waiting in [`Limiter::acquire`].
    waiting: AtomicI64,
}

/// Counts a send waiting for its slot until dropped (also when the wait is cancelled).
struct Waiting<'a>(&'a AtomicI64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Limiter {
    pub(crate) fn new(account_id: i64) -> Self {
        Limiter {
            account_id,
            window: tokio::sync::Mutex::new(Window::default()),
            waiting: AtomicI64::new(0),
        }
    }

    /// Waits for a send at `rate` per second across every process. While the database fails it
    /// waits and retries; it returns without a send only when `control`'s job stopped meanwhile.
    pub(crate) async fn acquire(&self, engine: &Engine, rate: i64, control: &JobControl) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        let (interval_us, max_slots) = spacing(rate);
        let at = {
            let mut window = self.window.lock().await;
            loop {
                let now = now_us();
                if let Some(at) = window.take(interval_us, now) {
                    break at;
                }
                let early = window.end_us - LEAD_US - now;
                if early > 0 {
                    // One run ahead at most: the next is reserved as this one ends.
                    tokio::time::sleep(Duration::from_micros(early as u64)).await;
                    continue;
                }
                let slots = next_run(
                    window.taken,
                    self.waiting.load(Ordering::Relaxed),
                    max_slots,
                );
                match engine
                    .reserve_sends(self.account_id, now_us, slots * interval_us)
                    .await
                {
                    Ok(tat_us) => *window = Window::granted(tat_us, slots, interval_us),
                    Err(e) => {
                        tracing::warn!(
                            account_id = self.account_id,
                            error = %e,
                            "could not reserve sends; waiting"
                        );
                        tokio::time::sleep(RETRY).await;
                        if !control.running() {
                            return;
                        }
                    }
                }
            }
        };
        let wait = at - now_us();
        if wait > 0 {
            tokio::time::sleep(Duration::from_micros(wait as u64)).await;
        }
    }
}

impl Engine {
    /// Reserves `len_us` of the account's sending time, from its arrival time or now (by
    /// `clock`) when that is past (at most [`MAX_AHEAD_US`] ahead), and returns the new arrival
    /// time.
    async fn reserve_sends(
        &self,
        account_id: i64,
        clock: impl FnOnce() -> i64,
        len_us: i64,
    ) -> Result<i64> {
        let _write = self.write_gate().await;
        // Now is when this writer has its turn, not when it asked: a run that started before a
        // long wait for the gate (other writers queued) would have ended by the time it is
        // granted, and if every wait is longer than a run, nothing is ever sent.
        let now_us = clock();
        // The arrival time, no earlier than now and at most MAX_AHEAD_US ahead of it.
        let clamped = match self.db() {
            Db::Sqlite(_) => "min(max(send_rate.tat_us, $2), $2 + $4)",
            Db::Postgres(_) => "LEAST(GREATEST(send_rate.tat_us, $2), $2 + $4)",
        };
        let sql = format!(
            "INSERT INTO send_rate (account_id, tat_us) VALUES ($1, $2 + $3) \
             ON CONFLICT (account_id) DO UPDATE SET tat_us = {clamped} + $3 \
             RETURNING tat_us"
        );
        let tat = on_db!(self.db(), |pool| sqlx::query_scalar(&sql)
            .bind(account_id)
            .bind(now_us)
            .bind(len_us)
            .bind(MAX_AHEAD_US)
            .fetch_one(pool)
            .await)?;
        Ok(tat)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    use super::*;

    #[test]
    fn slots_are_spaced_at_the_rate_rounded_up() {
        assert_eq!(spacing(200), (5_000, 20));
        assert_eq!(spacing(10), (100_000, 1));
        assert_eq!(spacing(1), (1_000_000, 1));
        // Rounded up, never faster than the rate.
        assert_eq!(spacing(3), (333_334, 1));
        assert_eq!(spacing(15), (66_667, 2));
        assert_eq!(spacing(100_000), (10, 10_000));
        assert_eq!(spacing(0), (1_000_000, 1));
    }

    #[test]
    fn a_run_is_sized_by_what_the_last_one_delivered() {
        // It doubles while everything is used, up to a tenth of a second's worth…
        assert_eq!(next_run(0, 1, 1_000), 1);
        assert_eq!(next_run(0, 64, 1_000), 64);
        assert_eq!(next_run(64, 3, 1_000), 128);
        assert_eq!(next_run(800, 3, 1_000), 1_000);
        // …and shrinks to what a slow process uses, leaving the rest of the rate to others.
        assert_eq!(next_run(30, 1, 1_000), 60);
        assert_eq!(next_run(0, 0, 0), 1);
    }

    #[test]
    fn spaces_sends_at_the_rate() {
        // 10/s: one slot, then the next run.
        let (interval, _) = spacing(10);
        let mut w = Window::granted(1_000_000 + interval, 1, interval);
        assert_eq!(w.take(interval, 1_000_000), Some(1_000_000));
        assert_eq!(w.take(interval, 1_000_000), None);
        assert_eq!(w.taken, 1);
        // 200/s: 20 sends 5 ms apart over the run that ends at the returned time.
        let (interval, max) = spacing(200);
        let mut w = Window::granted(2_000_000, max, interval);
        let at: Vec<i64> = std::iter::from_fn(|| w.take(interval, 1_900_000)).collect();
        assert_eq!(at.len(), 20);
        assert_eq!(at[0], 1_900_000);
        assert_eq!(at[19], 1_995_000);
        assert!(at.windows(2).all(|p| p[1] - p[0] == 5_000));
    }

    #[test]
    fn late_slots_go_at_once_for_a_tenth_of_a_second_then_are_given_up() {
        let (interval, max) = spacing(200);
        let mut w = Window::granted(2_000_000, max, interval);
        assert_eq!(w.take(interval, 1_950_000), Some(1_900_000));
        assert_eq!(w.take(interval, 2_000_000 + LATE_US), Some(1_905_000));
        assert_eq!(w.take(interval, 2_000_001 + LATE_US), None);
        assert_eq!(Window::default().take(interval, 1), None);
    }

    async fn engine_with_account() -> (crate::testing::TestDb, Engine, i64) {
        let db = crate::testing::TestDb::sqlite();
        let engine = Engine::open(&db.url).await.unwrap();
        let Db::Sqlite(pool) = engine.db() else {
            unreachable!("a sqlite url")
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (kind, name, appid, secret, api_base, created_at_ms, \
             updated_at_ms) VALUES ('oa', 'a', 'wx0000000000000001', 's', 'http://x', 0, 0) \
             RETURNING id",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        (db, engine, id)
    }

    #[tokio::test]
    async fn reservations_follow_each_other_start_now_when_stale_and_wait_at_most_the_cap() {
        let (_db, engine, account) = engine_with_account().await;
        let len = 100_000;
        let t = 1_000_000_000;
        // The first starts now; the next (any process) right after it, even if asked earlier.
        assert_eq!(
            engine.reserve_sends(account, || t, len).await.unwrap(),
            t + len
        );
        assert_eq!(
            engine.reserve_sends(account, || t, len).await.unwrap(),
            t + 2 * len
        );
        assert_eq!(
            engine
                .reserve_sends(account, || t + 50_000, len)
                .await
                .unwrap(),
            t + 3 * len
        );
        // A past arrival time (nobody sent for a while): from now, not from then.
        let later = t + 60_000_000;
        assert_eq!(
            engine.reserve_sends(account, || later, len).await.unwrap(),
            later + len
        );
        // An arrival time an hour ahead (a clock that ran ahead): waits the cap, not the hour.
        let Db::Sqlite(pool) = engine.db() else {
            unreachable!("a sqlite url")
        };
        sqlx::query("UPDATE send_rate SET tat_us = $1")
            .bind(later + 3_600_000_000)
            .execute(pool)
            .await
            .unwrap();
        assert_eq!(
            engine.reserve_sends(account, || later, len).await.unwrap(),
            later + MAX_AHEAD_US + len
        );
        // Accounts are independent.
        let other: i64 = sqlx::query_scalar(
            "INSERT INTO accounts (kind, name, appid, secret, api_base, created_at_ms, \
             updated_at_ms) VALUES ('mp', 'b', 'wx0000000000000002', 's', 'http://x', 0, 0) \
             RETURNING id",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(
            engine.reserve_sends(other, || later, len).await.unwrap(),
            later + len
        );
    }

    #[tokio::test]
    async fn a_reservation_starts_when_its_writer_has_the_turn() {
        let (_db, engine, account) = engine_with_account().await;
        let turn = engine.write_gate().await;
        let read = Arc::new(AtomicBool::new(false));
        let (r, e) = (read.clone(), engine.clone());
        let waiting = tokio::spawn(async move {
            let clock = move || {
                r.store(true, Ordering::SeqCst);
                5_000_000_000
            };
            e.reserve_sends(account, clock, 100_000).await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !read.load(Ordering::SeqCst),
            "the time is read once the gate is passed, not while waiting for it"
        );
        drop(turn);
        assert_eq!(waiting.await.unwrap().unwrap(), 5_000_100_000);
        assert!(read.load(Ordering::SeqCst));
    }
}

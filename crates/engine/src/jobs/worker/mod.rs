//! The dispatcher of one process: a loop that reaps lapsed leases, renews its own and starts a
//! runner per running job. Runners claim batches of rows into one queue; `concurrency` send
//! workers take rows from it (at each account's rate, shared by every process) and leave results
//! for one writer that stores them in batches. Long-lived workers and batched hand-offs keep the
//! cost per message close to the HTTP call itself.
//!
//! Everything a dispatcher spawns lives in its task's `JoinSet`s: aborting the handle
//! [`Engine::start_dispatcher`] returns stops every send at once (like a crash), leaving the
//! rows `sending` until their lease lapses and another worker takes them over.
//!
//! The parts: `runner` (a job's runner: what it needs, claiming batches into the queue) and
//! `send` (the send workers, one attempt per row, and the writers of departures and results).

mod runner;
mod send;

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;
use wechat::api::{SubscribeMessage, TemplateMessage};

use crate::accounts::Account;
use crate::Engine;

use super::limiter::Limiter;
use super::queue::{Claimed, RowResult};
use super::{DispatchConfig, JobControl, JobState};

/// A runner claims again when less than this many batches of its job wait in the queue, so a
/// claim delayed by a write never leaves the send workers idle.
const QUEUED_BATCHES: usize = 2;
/// Attempts of a row that keeps meeting transient errors before it is given up.
pub const MAX_ATTEMPTS: i64 = 12;

/// How often backlogged receipts are matched.
const BACKLOG_EVERY: Duration = Duration::from_secs(1);
/// How often quiet hours are applied (jobs paused as a window starts, resumed as it ends).
const QUIET_EVERY: Duration = Duration::from_secs(1);

/// The window within which a resend is de-duplicated by WeChat, less a margin for the time a
/// request takes to arrive.
pub(crate) fn safe_window(dedup_window_ms: i64) -> i64 {
    let margin = (dedup_window_ms / 10).min(30_000);
    (dedup_window_ms - margin).max(0)
}

/// A row (job, seq) about to leave for WeChat, and who waits to hear that it was recorded.
type Departure = ((i64, i64), oneshot::Sender<bool>);

/// What the runners, send workers and writer of one dispatcher share.
struct Dispatcher {
    engine: Engine,
    config: DispatchConfig,
    /// Names this dispatcher in leases.
    owner: String,
    window_ms: i64,
    /// Claimed rows waiting for a send worker, in claim order (jobs interleave by batch).
    queue: Mutex<VecDeque<(Arc<JobRun>, Claimed)>>,
    /// Wakes idle send workers when rows were queued.
    work_ready: Notify,
    /// Results waiting for the writer.
    results: Mutex<Vec<RowResult>>,
    /// Wakes the writer when the first result of a batch arrives.
    results_ready: Notify,
    /// Subscribe attempts waiting for their departure to be recorded (see
    /// [`Dispatcher::depart`]), each with the sender that tells its worker.
    departures: Mutex<Vec<Departure>>,
    /// Wakes the departure recorder.
    departures_ready: Notify,
}

/// One running job as its runner and the send workers see it.
struct JobRun {
    job_id: i64,
    account: Account,
    rate: i64,
    /// The OA template message (`None` for a subscribe-only job, and for API messages).
    message: Option<TemplateMessage>,
    /// An account's API messages: each row has its own message, a message WeChat refuses
    /// fails its row only, and the job never finishes.
    per_row: bool,
    /// The OA's access token (empty without a template message).
    token: RwLock<String>,
    /// The subscribe side of channels subscribe and best.
    mp: Option<MpRun>,
    control: Arc<JobControl>,
    limiter: Arc<Limiter>,
    /// Rows claimed per batch.
    want: usize,
    /// Rows of this job in the queue; the runner claims again when less than
    /// [`QUEUED_BATCHES`] batches are left.
    queued: AtomicUsize,
    /// Wakes the runner when the job's queue fell below [`QUEUED_BATCHES`] batches.
    room: Notify,
}

/// The Mini Program a job sends subscribe messages from.
struct MpRun {
    account: Account,
    /// The job's subscribe message (`None` for API messages, whose rows hold theirs).
    message: Option<SubscribeMessage>,
    token: RwLock<String>,
    limiter: Arc<Limiter>,
}

fn set_token(slot: &RwLock<String>, fresh: String) {
    match slot.write() {
        Ok(mut t) => *t = fresh,
        Err(p) => *p.into_inner() = fresh,
    }
}

fn read_token(slot: &RwLock<String>) -> String {
    slot.read()
        .map(|t| t.clone())
        .unwrap_or_else(|p| p.into_inner().clone())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// The background dispatcher of this process: claims work of running jobs until the handle
    /// is aborted. Jobs survive restarts: their state is all in the database.
    pub fn start_dispatcher(&self, config: DispatchConfig) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move { engine.dispatch(config).await })
    }

    /// A clean stop of this process's dispatchers: no more claims; rows claimed but not sent
    /// yet go back to `pending` at once for the other processes (instead of waiting for the
    /// lease, and instead of subscribe rows ending `unknown`); sends in flight finish and their
    /// results are stored. Waits for that at most `grace`; returns the rows still unsettled.
    pub async fn stop_dispatching(&self, grace: Duration) -> i64 {
        let shared = self.jobs_shared();
        shared.stopping.store(true, Ordering::Release);
        shared.wake.notify_waiters();
        let deadline = Instant::now() + grace;
        loop {
            let left = shared.outstanding.load(Ordering::Acquire);
            if left <= 0 || Instant::now() >= deadline {
                return left.max(0);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether this process may still claim and send rows of `control`'s job.
    fn may_send(&self, control: &JobControl) -> bool {
        control.running() && !self.jobs_shared().stopping.load(Ordering::Acquire)
    }

    async fn dispatch(self, config: DispatchConfig) {
        let n = self
            .jobs_shared()
            .dispatchers
            .fetch_add(1, Ordering::Relaxed)
            + 1;
        let owner = format!("{}-{n}", self.inner.instance_id);
        let lease_ms = config.lease_ms.max(100);
        let tick = Duration::from_millis(config.poll_ms.clamp(10, (lease_ms / 3) as u64));
        let renew_every = Duration::from_millis((lease_ms / 3) as u64);
        let d = Arc::new(Dispatcher {
            engine: self.clone(),
            window_ms: safe_window(config.dedup_window_ms),
            config: DispatchConfig {
                lease_ms,
                batch: config.batch.max(1),
                concurrency: config.concurrency.max(1),
                ..config
            },
            owner,
            queue: Mutex::new(VecDeque::new()),
            work_ready: Notify::new(),
            results: Mutex::new(Vec::new()),
            results_ready: Notify::new(),
            departures: Mutex::new(Vec::new()),
            departures_ready: Notify::new(),
        });
        tracing::info!(owner = %d.owner, concurrency = d.config.concurrency, "send dispatcher started");
        let mut tasks: JoinSet<Option<i64>> = JoinSet::new();
        {
            let d = d.clone();
            tasks.spawn(async move {
                d.write_loop().await;
                None
            });
        }
        {
            let d = d.clone();
            tasks.spawn(async move {
                d.departure_loop().await;
                None
            });
        }
        for _ in 0..d.config.concurrency {
            let d = d.clone();
            tasks.spawn(async move {
                d.send_loop().await;
                None
            });
        }
        let mut runners: HashSet<i64> = HashSet::new();
        let mut last_renew = Instant::now();
        let mut last_backlog = Instant::now();
        let mut last_quiet: Option<Instant> = None;
        // A recurring send's run plans a whole job: it runs beside this loop, one at a time.
        let schedules_busy = Arc::new(AtomicBool::new(false));
        loop {
            while let Some(finished) = tasks.try_join_next() {
                if let Ok(Some(job_id)) = finished {
                    runners.remove(&job_id);
                }
            }
            if last_renew.elapsed() >= renew_every {
                last_renew = Instant::now();
                if let Err(e) = self.renew_leases(&d.owner, d.config.lease_ms).await {
                    tracing::warn!(error = %e, "could not renew send leases");
                }
            }
            if let Err(e) = self.reap_leases(&d.owner, d.window_ms).await {
                tracing::warn!(error = %e, "could not take over lapsed send leases");
            }
            if last_quiet.is_none_or(|t| t.elapsed() >= QUIET_EVERY) {
                last_quiet = Some(Instant::now());
                let now = crate::now_ms();
                // Scheduled jobs first: one due inside quiet hours is then paused for them.
                if let Err(e) = self.start_due_jobs(now).await {
                    tracing::warn!(error = %e, "could not start scheduled jobs");
                }
                if !schedules_busy.swap(true, Ordering::AcqRel) {
                    let (engine, busy) = (self.clone(), schedules_busy.clone());
                    tokio::spawn(async move {
                        if let Err(e) = engine.run_due_schedules(now).await {
                            tracing::warn!(error = %e, "could not run recurring sends");
                        }
                        busy.store(false, Ordering::Release);
                    });
                }
                if let Err(e) = self.apply_quiet_hours(now).await {
                    tracing::warn!(error = %e, "could not apply quiet hours");
                }
                if let Err(e) = self.prune_daily_sends(now).await {
                    tracing::warn!(error = %e, "could not delete old daily-cap counts");
                }
            }
            let snapshots = self.jobs_shared().snapshots();
            match self.running_jobs().await {
                Ok(jobs) => {
                    let running: HashSet<i64> = jobs.iter().map(|j| j.id).collect();
                    for job in jobs {
                        let control = match snapshots.get(&job.id) {
                            // A control that acted since the read wins (it is newer).
                            Some((control, snap)) => {
                                control.set_if(*snap, JobState::Running);
                                control.clone()
                            }
                            None => self.jobs_shared().control(job.id, JobState::Running),
                        };
                        if runners.insert(job.id) {
                            let d = d.clone();
                            let id = job.id;
                            tasks.spawn(async move {
                                d.run_job(job, control).await;
                                Some(id)
                            });
                        }
                    }
                    for id in runners.iter().filter(|id| !running.contains(id)) {
                        if let Some((control, snap)) = snapshots.get(id) {
                            let state = self.job_state(*id).await.ok().flatten();
                            control.set_if(*snap, state.unwrap_or(JobState::Done));
                        }
                    }
                    for id in snapshots.keys() {
                        if !running.contains(id) && !runners.contains(id) {
                            self.jobs_shared().forget(*id);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not list running send jobs"),
            }
            if last_backlog.elapsed() >= BACKLOG_EVERY {
                last_backlog = Instant::now();
                if let Err(e) = self.apply_receipt_backlog().await {
                    tracing::warn!(error = %e, "could not apply early receipts");
                }
            }
            let wake = self.jobs_shared().wake.notified();
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = wake => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resends_stop_before_the_window_ends() {
        assert_eq!(safe_window(600_000), 570_000);
        assert_eq!(safe_window(1_000), 900);
    }
}

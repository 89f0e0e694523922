//! The dispatcher of one process: a loop that reaps lapsed leases, renews its own and starts a
//! runner per running job. Runners claim batches of rows into one queue; `concurrency` send
//! workers take rows from it (at each account's rate, shared by every process) and leave results
//! for one writer that stores them in batches. Long-lived workers and batched hand-offs keep the
//! cost per message close to the HTTP call itself.
//!
//! Everything a dispatcher spawns lives in its task's `JoinSet`s: aborting the handle
//! [`Engine::start_dispatcher`] returns stops every send at once (like a crash), leaving the
//! rows `sending` until their lease lapses and another worker takes them over.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::Rng;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinSet;
use tokio::time::Instant;
use wechat::api::{ApiError, ErrorClass, SubscribeMessage, TemplateMessage};

use crate::accounts::Account;
use crate::{now_ms, Engine, Error};

use super::limiter::Limiter;
use super::queue::{Claimed, RowResult, RunningJob, UNKNOWN_NO_DEDUP, UNKNOWN_STALE};
use super::{client_msg_id, DispatchConfig, JobControl, JobState, PauseReason};

/// A runner claims again when less than this many batches of its job wait in the queue, so a
/// claim delayed by a write never leaves the send workers idle.
const QUEUED_BATCHES: usize = 2;
/// Results waiting for the writer before send workers wait (backpressure).
const RESULT_QUEUE: usize = 50_000;
/// The writer lets results gather this long after the first before writing them.
const WRITE_GATHER: Duration = Duration::from_millis(10);
/// Retry backoff of transient errors: 0.5 s doubling up to 30 s.
const BACKOFF_FIRST_MS: i64 = 500;
const BACKOFF_MAX_MS: i64 = 30_000;
/// Attempts of a row that keeps meeting transient errors before it is given up.
pub const MAX_ATTEMPTS: i64 = 12;
/// How often a runner re-reads the shared access token.
const TOKEN_REREAD: Duration = Duration::from_secs(60);
/// Errors about the message itself or the account's permission, not the recipient (template
/// gone or banned, a value or page WeChat refuses, no permission): the job pauses with the
/// errcode instead of failing every recipient.
const JOB_WIDE_ERRORS: &[i64] = &[40036, 40037, 40165, 41030, 43116, 47001, 47003, 48001];
/// subscribe/send: the user holds no subscription (any more) for the template.
const NO_SUBSCRIPTION: i64 = 43101;

/// How often backlogged receipts are matched.
const BACKLOG_EVERY: Duration = Duration::from_secs(1);

/// The window within which a resend is de-duplicated by WeChat, less a margin for the time a
/// request takes to arrive.
pub(crate) fn safe_window(dedup_window_ms: i64) -> i64 {
    let margin = (dedup_window_ms / 10).min(30_000);
    (dedup_window_ms - margin).max(0)
}

/// Backoff before attempt `attempts + 1`, with ±20 % jitter.
fn backoff_ms(attempts: i64) -> i64 {
    let exp = (attempts - 1).clamp(0, 16) as u32;
    let base = (BACKOFF_FIRST_MS.saturating_mul(1_i64 << exp)).min(BACKOFF_MAX_MS);
    let jitter = rand::rng().random_range(0.8..1.2);
    (base as f64 * jitter) as i64
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
    /// The OA template message (`None` for a subscribe-only job).
    message: Option<TemplateMessage>,
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
    template_id: String,
    message: SubscribeMessage,
    token: RwLock<String>,
    limiter: Arc<Limiter>,
}

/// How a send ended, before it becomes a row result (subscribe/send may give no msgid).
enum Sent {
    Ok(Option<i64>),
    Err(Error),
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

impl Dispatcher {
    /// The runner of one job: claims batches while the job runs and less than
    /// [`QUEUED_BATCHES`] batches of it wait in the queue; settles the job when nothing is left
    /// to claim.
    async fn run_job(self: Arc<Self>, job: RunningJob, control: Arc<JobControl>) {
        let Some(run) = self.prepare(&job, control).await else {
            return;
        };
        let run = Arc::new(run);
        let engine = &self.engine;
        let poll = Duration::from_millis(self.config.poll_ms.max(10));
        let mut token_read = Instant::now();
        while engine.may_send(&run.control) {
            if token_read.elapsed() >= TOKEN_REREAD {
                // Pick up a token another process renewed ahead of expiry.
                token_read = Instant::now();
                if run.message.is_some() {
                    if let Ok(fresh) = engine.access_token(&run.account).await {
                        set_token(&run.token, fresh);
                    }
                }
                if let Some(mp) = &run.mp {
                    if let Ok(fresh) = engine.access_token(&mp.account).await {
                        set_token(&mp.token, fresh);
                    }
                }
            }
            if run.queued.load(Ordering::Acquire) >= QUEUED_BATCHES * run.want {
                let room = run.room.notified();
                tokio::select! {
                    _ = room => {}
                    _ = tokio::time::sleep(poll) => {}
                }
                continue;
            }
            let claimed = engine
                .claim_rows(
                    run.job_id,
                    &self.owner,
                    run.want as i64,
                    self.config.lease_ms,
                )
                .await;
            match claimed {
                Ok((_, rows)) if rows.is_empty() => {
                    run.control.set_drained(true);
                    match engine.settle_job(run.job_id).await {
                        Ok(Some(JobState::Running)) => {}
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(job_id = run.job_id, error = %e, "could not settle send job")
                        }
                    }
                    let wake = engine.jobs_shared().wake.notified();
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = wake => {}
                    }
                }
                Ok((_, rows)) => {
                    run.control.set_drained(false);
                    engine
                        .jobs_shared()
                        .outstanding
                        .fetch_add(rows.len() as i64, Ordering::AcqRel);
                    run.queued.fetch_add(rows.len(), Ordering::AcqRel);
                    {
                        let mut queue = lock(&self.queue);
                        queue.extend(rows.into_iter().map(|row| (run.clone(), row)));
                    }
                    self.work_ready.notify_waiters();
                }
                Err(e) => {
                    tracing::warn!(job_id = run.job_id, error = %e, "could not claim send rows");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// One of `concurrency` send workers: takes queued rows and sends them, one at a time.
    async fn send_loop(self: Arc<Self>) {
        loop {
            let (run, row) = loop {
                let ready = self.work_ready.notified();
                tokio::pin!(ready);
                ready.as_mut().enable();
                let next = lock(&self.queue).pop_front();
                if let Some(work) = next {
                    break work;
                }
                ready.await;
            };
            if run.queued.fetch_sub(1, Ordering::AcqRel) == QUEUED_BATCHES * run.want {
                run.room.notify_one();
            }
            let result = if self.engine.may_send(&run.control) {
                let limiter = match &run.mp {
                    Some(mp) if row.channel == "subscribe" => &mp.limiter,
                    _ => &run.limiter,
                };
                limiter.acquire(&self.engine, run.rate, &run.control).await;
                if self.engine.may_send(&run.control) {
                    let _in_flight = self.engine.metrics().in_flight();
                    let result = self.attempt(&run, &row).await;
                    self.engine.metrics().count_send(&row.channel, &result);
                    result
                } else {
                    RowResult::release(run.job_id, row.seq)
                }
            } else {
                // The job or the process stopped before this row's turn: back unsent.
                RowResult::release(run.job_id, row.seq)
            };
            self.push_result(result).await;
        }
    }

    /// Hands a result to the writer; waits while the writer is far behind.
    async fn push_result(&self, result: RowResult) {
        let len = {
            let mut results = lock(&self.results);
            results.push(result);
            results.len()
        };
        if len == 1 {
            self.results_ready.notify_one();
        }
        while lock(&self.results).len() > RESULT_QUEUE {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Loads what the runner needs; pauses the job when its message or credentials are broken.
    async fn prepare(&self, job: &RunningJob, control: Arc<JobControl>) -> Option<JobRun> {
        let engine = &self.engine;
        let loaded = async {
            let account = engine
                .account(job.account_id)
                .await?
                .ok_or(Error::NotFound)?;
            let payloads = engine.job_payloads(job.id).await?.ok_or(Error::NotFound)?;
            Ok::<_, Error>((account, payloads))
        }
        .await;
        let (account, payloads) = match loaded {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(job_id = job.id, error = %e, "cannot start send job");
                tokio::time::sleep(Duration::from_secs(1)).await;
                return None;
            }
        };
        let message: Option<TemplateMessage> = if payloads.payload.is_empty() {
            None
        } else {
            match serde_json::from_str(&payloads.payload) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::error!(job_id = job.id, error = %e, "send job payload unreadable");
                    let _ = engine.pause_for(job.id, PauseReason::Payload).await;
                    return None;
                }
            }
        };
        let token = match &message {
            Some(_) => self.token_for(job.id, &account).await?,
            None => String::new(),
        };
        let mp = match (
            payloads.mp_payload,
            payloads.mp_account_id,
            payloads.mp_template_id,
        ) {
            (Some(body), mp_id, Some(template_id)) => {
                let mp_account = match mp_id {
                    Some(id) => engine.account(id).await.ok().flatten(),
                    None => None,
                };
                let Some(mp_account) = mp_account else {
                    tracing::warn!(job_id = job.id, "the job's Mini Program is gone");
                    let _ = engine.pause_for(job.id, PauseReason::MpAccount).await;
                    return None;
                };
                let message: SubscribeMessage = match serde_json::from_str(&body) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::error!(job_id = job.id, error = %e, "subscribe payload unreadable");
                        let _ = engine.pause_for(job.id, PauseReason::Payload).await;
                        return None;
                    }
                };
                let token = self.token_for(job.id, &mp_account).await?;
                Some(MpRun {
                    limiter: engine.jobs_shared().limiter(mp_account.id),
                    account: mp_account,
                    template_id,
                    message,
                    token: RwLock::new(token),
                })
            }
            _ => None,
        };
        Some(JobRun {
            job_id: job.id,
            limiter: engine.jobs_shared().limiter(account.id),
            account,
            rate: job.rate_limit.max(1),
            message,
            token: RwLock::new(token),
            mp,
            control,
            // A second's worth at the job's rate at most: claimed rows wait a few seconds at most.
            want: self.config.batch.min(job.rate_limit).max(1) as usize,
            queued: AtomicUsize::new(0),
            room: Notify::new(),
        })
    }

    /// An access token of `account` for a job; pauses the job when its credentials are refused.
    async fn token_for(&self, job_id: i64, account: &Account) -> Option<String> {
        match self.engine.access_token(account).await {
            Ok(t) => Some(t),
            Err(Error::WeChat(e)) if e.class() == ErrorClass::Credentials => {
                let code = e.code().unwrap_or_default();
                tracing::warn!(job_id, appid = %account.appid, error = %e, "account credentials refused");
                let _ = self
                    .engine
                    .pause_for(job_id, PauseReason::WeChat(code))
                    .await;
                None
            }
            Err(e) => {
                tracing::warn!(job_id, error = %e, "no access token for the send job yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
                None
            }
        }
    }

    /// One attempt of one row, as the row result to store.
    async fn attempt(&self, run: &JobRun, row: &Claimed) -> RowResult {
        let now = now_ms();
        let mut result = RowResult {
            job_id: run.job_id,
            seq: row.seq,
            state: "pending",
            msgid: None,
            errcode: None,
            errmsg: None,
            next_try_ms: 0,
            uncertain: false,
            attempts_delta: 0,
            sent_ms: None,
            completed_ms: None,
        };
        let subscribe = row.channel == "subscribe";
        // An earlier attempt may have been delivered: resend only while WeChat de-duplicates
        // (subscribe/send has no de-dup at all).
        if subscribe && row.uncertain_ms.is_some() {
            result.state = "unknown";
            result.errmsg = Some(UNKNOWN_NO_DEDUP.into());
            result.completed_ms = Some(now);
            return result;
        }
        if row.uncertain_ms.is_some_and(|u| now - u >= self.window_ms) {
            result.state = "unknown";
            result.errmsg = Some(UNKNOWN_STALE.into());
            result.completed_ms = Some(now);
            return result;
        }
        // subscribe/send has no de-duplication: the attempt is recorded as leaving before it
        // does, so that after a crash only attempts that may have reached WeChat are unknown.
        if subscribe && !self.depart(run.job_id, row.seq).await {
            result.errmsg = Some("could not record the attempt; nothing was sent".into());
            result.attempts_delta = -1;
            result.next_try_ms = now + backoff_ms(row.attempts);
            return result;
        }
        let outcome = if subscribe {
            self.send_subscribe(run, row).await
        } else {
            self.send(run, row).await
        };
        let now = now_ms();
        let err = match outcome {
            Sent::Ok(msgid) => {
                result.state = "sent";
                result.msgid = msgid;
                result.sent_ms = Some(now);
                result.completed_ms = Some(now);
                if let Some(mp) = run.mp.as_ref().filter(|_| subscribe) {
                    let spent = self
                        .engine
                        .spend_credit(
                            mp.account.id,
                            &row.openid,
                            &mp.template_id,
                            msgid,
                            Some((run.job_id, row.seq)),
                        )
                        .await;
                    if let Err(e) = spent {
                        tracing::warn!(job_id = run.job_id, seq = row.seq, error = %e, "could not record the spent subscription");
                    }
                }
                return result;
            }
            Sent::Err(err) => err,
        };
        let retry = |result: &mut RowResult, uncertain: bool| {
            result.uncertain = uncertain;
            if uncertain && subscribe {
                // Nothing would stop WeChat from delivering a resend twice.
                result.state = "unknown";
                result.errmsg = Some(UNKNOWN_NO_DEDUP.into());
                result.completed_ms = Some(now);
            } else if row.attempts >= MAX_ATTEMPTS {
                result.state = if uncertain || row.uncertain_ms.is_some() {
                    "unknown"
                } else {
                    "failed"
                };
                result.completed_ms = Some(now);
            } else {
                result.next_try_ms = now + backoff_ms(row.attempts);
            }
        };
        match err {
            Error::WeChat(e) => {
                result.errcode = e.code();
                result.errmsg = Some(match e.errmsg() {
                    Some(m) => m.to_owned(),
                    None => e.to_string(),
                });
                match e.code().map(|c| (c, ErrorClass::of_code(c))) {
                    // The same payload goes to everyone: the whole job would fail the same way.
                    Some((code, _)) if JOB_WIDE_ERRORS.contains(&code) => {
                        result.attempts_delta = -1;
                        if run.control.running() {
                            let _ = self
                                .engine
                                .pause_for(run.job_id, PauseReason::WeChat(code))
                                .await;
                        }
                    }
                    Some((_, ErrorClass::Token)) | Some((_, ErrorClass::RetryLater)) => {
                        retry(&mut result, false)
                    }
                    Some((_, ErrorClass::DailyQuota)) => {
                        result.attempts_delta = -1;
                        if run.control.running() {
                            let _ = self
                                .engine
                                .pause_for(run.job_id, PauseReason::WeChat(45009))
                                .await;
                        }
                    }
                    Some((code, ErrorClass::Credentials)) => {
                        result.attempts_delta = -1;
                        if run.control.running() {
                            let _ = self
                                .engine
                                .pause_for(run.job_id, PauseReason::WeChat(code))
                                .await;
                        }
                    }
                    Some((code, _)) => {
                        result.state = "failed";
                        result.completed_ms = Some(now);
                        if let Some(mp) = run.mp.as_ref().filter(|_| subscribe) {
                            if code == NO_SUBSCRIPTION {
                                let cleared = self
                                    .engine
                                    .clear_credit(
                                        mp.account.id,
                                        &row.openid,
                                        &mp.template_id,
                                        Some((run.job_id, row.seq)),
                                    )
                                    .await;
                                if let Err(e) = cleared {
                                    tracing::warn!(job_id = run.job_id, error = %e, "could not clear the refused subscription");
                                }
                            }
                        }
                    }
                    None => match &e {
                        // No answer, or one we could not read: it may have been delivered.
                        ApiError::Timeout | ApiError::Transport(_) | ApiError::Decode(_) => {
                            retry(&mut result, true)
                        }
                        ApiError::Http { status } if (500..=599).contains(status) => {
                            retry(&mut result, true)
                        }
                        _ => {
                            result.state = "failed";
                            result.completed_ms = Some(now);
                        }
                    },
                }
            }
            other => {
                // The database or the token store: nothing was sent.
                result.errmsg = Some(other.to_string());
                retry(&mut result, false);
            }
        }
        result
    }

    /// Sends with the runner's token; on a token error `with_token` refreshes once and retries.
    async fn send(&self, run: &JobRun, row: &Claimed) -> Sent {
        let Some(template) = &run.message else {
            return Sent::Err(Error::Internal("the job has no template message".into()));
        };
        let mut message = template.clone();
        message.touser.clone_from(&row.openid);
        message.client_msg_id = Some(client_msg_id(run.job_id, row.seq));
        let client = self.engine.wechat();
        let base = run.account.api_base.as_str();
        let token = read_token(&run.token);
        match client.send_template(base, &token, &message).await {
            Ok(msgid) => Sent::Ok(Some(msgid)),
            Err(e) if e.class() == ErrorClass::Token => {
                let message = &message;
                let outcome = self
                    .engine
                    .with_token(&run.account, |token| async move {
                        client.send_template(base, &token, message).await
                    })
                    .await;
                if let Ok(fresh) = self.engine.access_token(&run.account).await {
                    set_token(&run.token, fresh);
                }
                match outcome {
                    Ok(msgid) => Sent::Ok(Some(msgid)),
                    Err(e) => Sent::Err(e),
                }
            }
            Err(e) => Sent::Err(Error::WeChat(e)),
        }
    }

    /// Sends the job's subscribe message to the row's MP openid with the Mini Program's token.
    async fn send_subscribe(&self, run: &JobRun, row: &Claimed) -> Sent {
        let Some(mp) = &run.mp else {
            return Sent::Err(Error::Internal("the job has no subscribe message".into()));
        };
        let mut message = mp.message.clone();
        message.touser.clone_from(&row.openid);
        let client = self.engine.wechat();
        let base = mp.account.api_base.as_str();
        let token = read_token(&mp.token);
        match client.send_subscribe(base, &token, &message).await {
            Ok(msgid) => Sent::Ok(msgid),
            Err(e) if e.class() == ErrorClass::Token => {
                let message = &message;
                let outcome = self
                    .engine
                    .with_token(&mp.account, |token| async move {
                        client.send_subscribe(base, &token, message).await
                    })
                    .await;
                if let Ok(fresh) = self.engine.access_token(&mp.account).await {
                    set_token(&mp.token, fresh);
                }
                match outcome {
                    Ok(msgid) => Sent::Ok(msgid),
                    Err(e) => Sent::Err(e),
                }
            }
            Err(e) => Sent::Err(Error::WeChat(e)),
        }
    }

    /// Records that row `seq` of `job_id` is about to leave for WeChat, together with the
    /// other send workers' rows waiting at the same moment (one statement for all); `false`
    /// when it could not be recorded and must not be sent.
    async fn depart(&self, job_id: i64, seq: i64) -> bool {
        let (tx, rx) = oneshot::channel();
        let first = {
            let mut waiting = lock(&self.departures);
            waiting.push(((job_id, seq), tx));
            waiting.len() == 1
        };
        if first {
            self.departures_ready.notify_one();
        }
        rx.await.unwrap_or(false)
    }

    /// Writes waiting departures, all at once, while the previous write was under way.
    async fn departure_loop(&self) {
        loop {
            loop {
                let ready = self.departures_ready.notified();
                if !lock(&self.departures).is_empty() {
                    break;
                }
                ready.await;
            }
            let batch = std::mem::take(&mut *lock(&self.departures));
            let rows: Vec<(i64, i64)> = batch.iter().map(|(row, _)| *row).collect();
            match self.engine.record_departures(&self.owner, &rows).await {
                Ok(recorded) => {
                    let recorded: HashSet<(i64, i64)> = recorded.into_iter().collect();
                    for (row, tx) in batch {
                        let _ = tx.send(recorded.contains(&row));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, rows = rows.len(), "could not record departing attempts");
                    for (_, tx) in batch {
                        let _ = tx.send(false);
                    }
                }
            }
        }
    }

    /// Stores results in batches; settles the jobs they belong to.
    async fn write_loop(&self) {
        loop {
            loop {
                let ready = self.results_ready.notified();
                if !lock(&self.results).is_empty() {
                    break;
                }
                ready.await;
            }
            // Let a batch gather.
            tokio::time::sleep(WRITE_GATHER).await;
            let buf = std::mem::take(&mut *lock(&self.results));
            let mut delay = Duration::from_millis(200);
            while let Err(e) = self.engine.write_results(&self.owner, &buf).await {
                // The rows stay `sending` under this worker's renewed lease: keep trying.
                tracing::warn!(error = %e, rows = buf.len(), "could not store send results; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            self.engine
                .jobs_shared()
                .outstanding
                .fetch_sub(buf.len() as i64, Ordering::AcqRel);
            let jobs: BTreeSet<i64> = buf.iter().map(|r| r.job_id).collect();
            for job_id in jobs {
                // Only a job that stopped running (rows put back after a cancel) or has nothing
                // left to claim (its last rows were just stored) can need settling.
                let settle = self
                    .engine
                    .jobs_shared()
                    .existing_control(job_id)
                    .is_none_or(|c| !c.running() || c.drained());
                if !settle {
                    continue;
                }
                if let Err(e) = self.engine.settle_job(job_id).await {
                    tracing::warn!(job_id, error = %e, "could not settle send job");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_half_a_second_to_thirty() {
        let within =
            |v: i64, base: i64| (base as f64 * 0.8) as i64 <= v && v <= (base as f64 * 1.2) as i64;
        assert!(within(backoff_ms(1), 500));
        assert!(within(backoff_ms(2), 1_000));
        assert!(within(backoff_ms(4), 4_000));
        assert!(within(backoff_ms(7), 30_000));
        assert!(within(backoff_ms(40), 30_000));
    }

    #[test]
    fn resends_stop_before_the_window_ends() {
        assert_eq!(safe_window(600_000), 570_000);
        assert_eq!(safe_window(1_000), 900);
    }
}

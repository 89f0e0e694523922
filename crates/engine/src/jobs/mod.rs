//! Send jobs: recipients frozen at creation, a leased queue of rows, and the dispatcher that
//! sends each row exactly once (WeChat's `client_msg_id` de-dup covers resends after a crash).
//!
//! A job sends on a [`Channel`]: OA template messages, MP subscribe messages, or per person the
//! best of both. Each row is frozen with its own [`RowChannel`] and address (OA or MP openid).
//!
//! - [`plan`]: who a [`RecipientSource`] reaches and why the others are skipped (the review step).
//! - [`store`]: creating jobs (one row per recipient) and the operator's controls.
//! - [`progress`]: live counts, rate, ETA, errors by errcode, the recipients table.
//! - [`queue`]: the SQL of the dispatcher — claims, results, lease reaping — per dialect.
//! - [`worker`]: the dispatcher: runners per job, bounded concurrency, a token bucket per account.
//! - [`receipts`]: TEMPLATESENDJOBFINISH joined to rows by msgid.
//!
//! How exactly-once works: a worker claims `pending` rows (→ `sending`, with a lease) and sends
//! each with `client_msg_id = wxp-{job}-{seq}`. A row whose worker died is claimed again once
//! the lease lapses and resent with the same id — WeChat answers a repeat within 10 minutes
//! with the first msgid and delivers nothing. An attempt whose outcome is unknown (timeout,
//! lost response, worker gone) is remembered (`uncertain_ms`); once WeChat's window has passed
//! since then the row is never resent blindly but becomes `unknown` for a person to decide.

mod controls;
mod id_list;
mod leases;
pub mod plan;
pub mod progress;
pub mod queue;
pub mod receipts;
pub mod schedule;
pub mod store;
pub mod worker;

mod limiter;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

/// WeChat's default daily template-message quota per account.
pub const DEFAULT_DAILY_QUOTA: i64 = 100_000;
/// How long WeChat de-duplicates `openid + client_msg_id`.
pub const WECHAT_DEDUP_WINDOW_MS: i64 = 10 * 60 * 1000;

pub use model::{FollowerFilter, RecipientSource};

/// What a new job sends, to whom, how fast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    pub name: String,
    pub channel: Channel,
    /// The OA template preset (channels template and best).
    pub preset_id: Option<i64>,
    /// The MP subscribe preset (channels subscribe and best).
    pub mp_preset_id: Option<i64>,
    pub source: RecipientSource,
    /// Messages per second (0 = [`model::rules::DEFAULT_RATE_LIMIT`]).
    pub rate_limit: i64,
    /// When to start (unix ms); `None`: at once.
    pub start_at_ms: Option<i64>,
}

pub use model::job::{
    Channel, ChannelCounts, Delivery, ErrcodeCount, JobState, LineError, PauseReason,
    RecipientPlan, RecipientState, RowChannel, SkipReason,
};

/// A state as the in-memory shared job table packs it (the low byte of an atomic).
fn state_code(state: JobState) -> u8 {
    match state {
        JobState::Running => 0,
        JobState::Paused => 1,
        JobState::Cancelled => 2,
        JobState::Done => 3,
    }
}

fn state_from_code(c: u8) -> JobState {
    match c {
        0 => JobState::Running,
        1 => JobState::Paused,
        2 => JobState::Cancelled,
        _ => JobState::Done,
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    /// `None` once the preset was deleted (the job keeps its own copy of the message).
    pub preset_id: Option<i64>,
    pub preset_name: String,
    pub template_title: String,
    pub state: JobState,
    pub pause_reason: Option<PauseReason>,
    /// Recipient rows, skipped ones included.
    pub total: i64,
    pub created_by: String,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
    /// Messages per second.
    pub rate_limit: i64,
    /// The WeChat template id the job sends.
    pub template_id: String,
    /// Rows that were to receive the message when the job was created.
    pub will_receive: i64,
    pub channel: Channel,
    /// The subscribe message of channels subscribe and best.
    pub mp: Option<JobMpMessage>,
    /// The second admin who let a job above the approval threshold start.
    pub approved_by: Option<String>,
    pub approved_ms: Option<i64>,
    /// A spreadsheet job's variable columns (each row has its own values); empty otherwise.
    pub columns: Vec<String>,
    /// The spreadsheet's file name.
    pub sheet_name: Option<String>,
    /// A scheduled job's start time (unix ms).
    pub start_at_ms: Option<i64>,
    /// The recurring send this job is a run of.
    pub schedule_id: Option<i64>,
}

impl Job {
    /// Created above the approval threshold and not approved yet (paused for `approval`).
    pub fn awaiting_approval(&self) -> bool {
        self.state == JobState::Paused && self.pause_reason == Some(PauseReason::Approval)
    }

    /// Waiting for its start time (已计划).
    pub fn scheduled(&self) -> bool {
        self.state == JobState::Paused && self.pause_reason == Some(PauseReason::Scheduled)
    }
}

/// The MP side of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobMpMessage {
    /// The Mini Program (`None` once its account was deleted).
    pub account_id: Option<i64>,
    pub preset_id: Option<i64>,
    pub preset_name: String,
    pub template_id: String,
    pub template_title: String,
}

/// A job with its live counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobProgress {
    pub job: Job,
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
    pub unknown: i64,
    pub cancelled: i64,
    /// Receipts (TEMPLATESENDJOBFINISH).
    pub delivered: i64,
    pub user_blocked: i64,
    pub system_failed: i64,
    /// Sends per second over the last 10 s (or since the first attempt, once 3 s old); 0 before.
    pub rate_per_s: f64,
    /// (pending + sending) / rate, when the rate is > 0 and the job is running.
    pub eta_secs: Option<i64>,
    /// Failed rows by errcode, largest first.
    pub errors: Vec<ErrcodeCount>,
    pub skip_reasons: Vec<(SkipReason, i64)>,
    /// Counts per row channel of the rows that were to receive (skipped rows count in neither).
    pub by_channel: Vec<ChannelCounts>,
    /// Recipients that failed and were sent again by "retry failed" (whatever they are now).
    pub retried_failures: i64,
}

/// One row of a job's recipients table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientRow {
    pub seq: i64,
    /// Empty for a unionid without follower (see `unionid`).
    pub openid: String,
    pub state: RecipientState,
    pub attempts: i64,
    pub errcode: Option<i64>,
    pub errmsg: Option<String>,
    pub skip_reason: Option<SkipReason>,
    pub msgid: Option<i64>,
    pub delivery: Option<Delivery>,
    pub updated_ms: i64,
    /// The unionid the row was listed by (CSV of unionids).
    pub unionid: Option<String>,
    pub sent_ms: Option<i64>,
    /// Which id `openid` is (OA or MP).
    pub channel: RowChannel,
    /// How it failed before each "retry failed" that sent it again, oldest first.
    pub earlier_failures: Vec<EarlierFailure>,
    /// A spreadsheet row's values in the job's column order, and its line in the file.
    pub values: Vec<String>,
    pub line: Option<i64>,
    /// Why a spreadsheet row was left out (`bad_values`).
    pub issues: Vec<model::sheet::RowIssue>,
}

/// A failure of a recipient that "retry failed" sent again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct EarlierFailure {
    pub seq: i64,
    /// When it failed (its attempt ended), if known.
    pub failed_ms: Option<i64>,
    /// When it was sent again.
    pub retried_ms: i64,
    pub attempts: i64,
    pub errcode: Option<i64>,
    pub errmsg: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientFilter {
    pub state: Option<RecipientState>,
    pub errcode: Option<i64>,
    /// An exact openid (or unionid); empty = any.
    pub search: String,
}

/// The delivery a TEMPLATESENDJOBFINISH receipt's `Status` reports: `success`;
/// `failed:user block`; any other `failed:…` (`failed: system failed`, `failed:freq limit`…) is a
/// system failure.
pub fn delivery_of_status(status: &wechat::callback::events::DeliveryStatus) -> Delivery {
    use wechat::callback::events::DeliveryStatus;
    match status {
        DeliveryStatus::Success => Delivery::Delivered,
        DeliveryStatus::UserBlock => Delivery::UserBlock,
        DeliveryStatus::SystemFailed | DeliveryStatus::Failed(_) => Delivery::SystemFailed,
    }
}

/// How the dispatcher of one process works.
#[derive(Clone, Debug)]
pub struct DispatchConfig {
    /// Sends in flight at once in this process.
    pub concurrency: usize,
    /// Rows claimed at once.
    pub batch: i64,
    /// How long a claimed row belongs to its worker without renewal (renewed while alive).
    pub lease_ms: i64,
    /// Idle poll for new work.
    pub poll_ms: u64,
    /// WeChat's de-dup window for `client_msg_id`: a row whose earlier attempt may have been
    /// delivered is resent only within it (less a safety margin).
    pub dedup_window_ms: i64,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            concurrency: 64,
            batch: 200,
            lease_ms: 60_000,
            poll_ms: 500,
            dedup_window_ms: WECHAT_DEDUP_WINDOW_MS,
        }
    }
}

/// The `client_msg_id` of a row: the same for every attempt, so WeChat de-duplicates resends.
pub fn client_msg_id(job_id: i64, seq: i64) -> String {
    format!("wxp-{job_id}-{seq}")
}

/// A job's state as this process's runners see it: set by the controls of this engine at once
/// and refreshed from the database by the dispatcher loop (controls in other processes). A
/// generation counter lets the loop's refresh lose against a control that acted meanwhile.
#[derive(Debug)]
pub(crate) struct JobControl {
    state: AtomicU64,
    /// A runner found nothing left to claim: the job may be about to finish.
    drained: AtomicBool,
    /// An API job's message was queued. One permit is kept while its runner is busy, so a
    /// message queued meanwhile is claimed on the runner's next turn.
    pub(crate) queued: tokio::sync::Notify,
}

impl JobControl {
    fn new(state: JobState) -> Self {
        JobControl {
            state: AtomicU64::new(u64::from(state_code(state))),
            drained: AtomicBool::new(false),
            queued: tokio::sync::Notify::new(),
        }
    }

    pub(crate) fn drained(&self) -> bool {
        self.drained.load(Ordering::Acquire)
    }

    pub(crate) fn set_drained(&self, drained: bool) {
        self.drained.store(drained, Ordering::Release);
    }

    pub(crate) fn get(&self) -> JobState {
        state_from_code((self.state.load(Ordering::Acquire) & 0xff) as u8)
    }

    pub(crate) fn set(&self, state: JobState) {
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                Some((((v >> 8) + 1) << 8) | u64::from(state_code(state)))
            });
    }

    /// The current generation and state, for [`JobControl::set_if`].
    pub(crate) fn snapshot(&self) -> u64 {
        self.state.load(Ordering::Acquire)
    }

    /// Sets `state` unless the control changed since `snapshot`.
    pub(crate) fn set_if(&self, snapshot: u64, state: JobState) -> bool {
        let new = (((snapshot >> 8) + 1) << 8) | u64::from(state_code(state));
        self.state
            .compare_exchange(snapshot, new, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    pub(crate) fn running(&self) -> bool {
        self.get() == JobState::Running
    }
}

/// What every dispatcher and control of one engine shares.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    controls: Mutex<HashMap<i64, Arc<JobControl>>>,
    limiters: Mutex<HashMap<i64, Arc<limiter::Limiter>>>,
    /// Wakes the dispatchers (a job was created, resumed or retried).
    wake: tokio::sync::Notify,
    dispatchers: AtomicU64,
    /// The last claim time handed out: claims of one engine never share a millisecond.
    last_claim_ms: AtomicI64,
    /// The process is stopping: no more claims, queued rows go back unsent.
    stopping: AtomicBool,
    /// Rows claimed by this engine's dispatchers whose result is not stored yet.
    outstanding: AtomicI64,
}

impl Shared {
    pub(crate) fn control(&self, job_id: i64, state: JobState) -> Arc<JobControl> {
        let mut map = self
            .controls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(job_id)
            .or_insert_with(|| Arc::new(JobControl::new(state)))
            .clone()
    }

    /// The control of a job, if this process has one.
    pub(crate) fn existing_control(&self, job_id: i64) -> Option<Arc<JobControl>> {
        let map = self
            .controls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(&job_id).cloned()
    }

    /// Tells this process's runners at once (others learn it from the database).
    pub(crate) fn set_state(&self, job_id: i64, state: JobState) {
        let map = self
            .controls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(c) = map.get(&job_id) {
            c.set(state);
        }
    }

    /// Every control with its snapshot, taken before the dispatcher reads the jobs' states.
    pub(crate) fn snapshots(&self) -> HashMap<i64, (Arc<JobControl>, u64)> {
        let map = self
            .controls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.iter()
            .map(|(id, c)| (*id, (c.clone(), c.snapshot())))
            .collect()
    }

    /// Drops the control of a job no runner works on.
    pub(crate) fn forget(&self, job_id: i64) {
        let mut map = self
            .controls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.remove(&job_id);
    }

    pub(crate) fn limiter(&self, account_id: i64) -> Arc<limiter::Limiter> {
        let mut map = self
            .limiters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(account_id)
            .or_insert_with(|| Arc::new(limiter::Limiter::new(account_id)))
            .clone()
    }

    /// `now`, or one past the last claim time if that is not later.
    pub(crate) fn claim_time(&self, now: i64) -> i64 {
        let mut prev = self.last_claim_ms.load(Ordering::Acquire);
        loop {
            let next = now.max(prev + 1);
            match self.last_claim_ms.compare_exchange(
                prev,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return next,
                Err(actual) => prev = actual,
            }
        }
    }

    pub(crate) fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// Wakes the runner of API job `job_id` in this process (a message was queued).
    pub(crate) fn wake_api(&self, job_id: i64) {
        if let Some(control) = self.existing_control(job_id) {
            control.queued.notify_one();
        }
    }
}

impl crate::Engine {
    pub(crate) fn jobs_shared(&self) -> &Shared {
        &self.inner.jobs
    }
}

/// Midnight Beijing time (UTC+8) before `now_ms`, in unix ms.
pub fn beijing_midnight_ms(now_ms: i64) -> i64 {
    const DAY: i64 = 24 * 60 * 60 * 1000;
    const OFFSET: i64 = 8 * 60 * 60 * 1000;
    (now_ms + OFFSET).div_euclid(DAY) * DAY - OFFSET
}

/// WeChat's errmsg without the `rid: …` suffix it ends with.
pub fn errmsg_without_rid(errmsg: &str) -> &str {
    let cut = errmsg
        .find(" rid:")
        .or_else(|| errmsg.find(", rid:"))
        .or_else(|| errmsg.find(",rid:"))
        .unwrap_or(errmsg.len());
    errmsg[..cut].trim_end_matches([',', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midnight_is_beijing_time() {
        // 2024-06-01 00:30 Beijing = 2024-05-31 16:30 UTC.
        let t = 1_717_173_000_000;
        assert_eq!(beijing_midnight_ms(t), 1_717_171_200_000);
        assert_eq!(beijing_midnight_ms(1_717_171_200_000), 1_717_171_200_000);
        assert_eq!(
            beijing_midnight_ms(1_717_171_199_999),
            1_717_171_200_000 - 86_400_000
        );
    }

    #[test]
    fn rid_suffix_is_dropped() {
        assert_eq!(
            errmsg_without_rid("require subscribe rid: 6650a1b2-12345678-1234abcd"),
            "require subscribe"
        );
        assert_eq!(
            errmsg_without_rid("invalid openid, rid: 1-2-3"),
            "invalid openid"
        );
        assert_eq!(errmsg_without_rid("system error"), "system error");
    }

    #[test]
    fn names_round_trip() {
        for &r in SkipReason::ALL {
            assert_eq!(SkipReason::parse(r.as_str()), Some(r));
        }
        for s in [
            JobState::Running,
            JobState::Paused,
            JobState::Cancelled,
            JobState::Done,
        ] {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
            assert_eq!(state_from_code(state_code(s)), s);
        }
        assert_eq!(
            serde_json::to_string(&SkipReason::NoOaOpenid).unwrap(),
            "\"no_oa_openid\""
        );
    }
}

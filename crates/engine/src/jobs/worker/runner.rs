//! The runner of one job: loading its message and tokens, claiming batches into the queue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use wechat::api::{ErrorClass, SubscribeMessage, TemplateMessage};

use super::{lock, set_token, Dispatcher, JobRun, MpRun, QUEUED_BATCHES};

/// After an API message wakes its runner, it waits this long so that the messages arriving
/// together are claimed in one statement.
const API_GATHER: Duration = Duration::from_millis(5);
use crate::accounts::Account;
use crate::jobs::queue::RunningJob;
use crate::jobs::{JobControl, JobState, PauseReason};
use crate::Error;

/// How often a runner re-reads the shared access token.
const TOKEN_REREAD: Duration = Duration::from_secs(60);

impl Dispatcher {
    /// The runner of one job: claims batches while the job runs and less than
    /// [`QUEUED_BATCHES`] batches of it wait in the queue; settles the job when nothing is left
    /// to claim.
    pub(super) async fn run_job(self: Arc<Self>, job: RunningJob, control: Arc<JobControl>) {
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
                    run.account.id,
                    &self.owner,
                    run.want as i64,
                    self.config.lease_ms,
                )
                .await;
            match claimed {
                Ok((_, rows)) if rows.is_empty() && run.per_row => {
                    // An account's API messages: the job stays open for the next one.
                    run.control.set_drained(true);
                    let wake = run.control.queued.notified();
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = wake => {
                            // Messages arriving together are claimed together.
                            tokio::time::sleep(API_GATHER).await;
                        }
                    }
                }
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
        let per_row = payloads.kind == "api";
        let token = match (&message, per_row) {
            (Some(_), _) | (None, true) => self.token_for(job.id, &account).await?,
            (None, false) => String::new(),
        };
        let mp = match (
            payloads.mp_payload,
            payloads.mp_account_id,
            payloads.mp_template_id,
        ) {
            // API messages: the Mini Program linked now, for the rows that are subscribe messages.
            _ if per_row => match engine.linked_mini_program(&account).await {
                Ok(Some(mp_account)) => {
                    let token = match engine.access_token(&mp_account).await {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::warn!(job_id = job.id, error = %e, "no Mini Program token for API messages yet");
                            String::new()
                        }
                    };
                    Some(MpRun {
                        limiter: engine.jobs_shared().limiter(mp_account.id),
                        account: mp_account,
                        message: None,
                        token: RwLock::new(token),
                    })
                }
                _ => None,
            },
            (Some(body), mp_id, Some(_)) => {
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
                    message: Some(message),
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
            per_row,
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
}

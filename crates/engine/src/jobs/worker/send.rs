//! The send workers (one attempt per row, its retries) and the writers of departures and results.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::oneshot;
use wechat::api::{ApiError, ErrorClass, SubscribeMessage, TemplateMessage};

use super::{lock, read_token, set_token, Dispatcher, JobRun, MAX_ATTEMPTS, QUEUED_BATCHES};
use crate::jobs::queue::{Claimed, RowResult, UNKNOWN_NO_DEDUP, UNKNOWN_STALE};
use crate::jobs::{client_msg_id, PauseReason, RecipientState, RowChannel};
use crate::{now_ms, Error};

/// Results waiting for the writer before send workers wait (backpressure).
const RESULT_QUEUE: usize = 50_000;
/// The writer lets results gather this long after the first before writing them.
const WRITE_GATHER: Duration = Duration::from_millis(10);
/// Retry backoff of transient errors: 0.5 s doubling up to 30 s.
const BACKOFF_FIRST_MS: i64 = 500;
const BACKOFF_MAX_MS: i64 = 30_000;
/// Errors about the message itself or the account's permission, not the recipient (template
/// gone or banned, a value or page WeChat refuses, no permission): the job pauses with the
/// errcode instead of failing every recipient.
const JOB_WIDE_ERRORS: &[i64] = &[40036, 40037, 40165, 41030, 43116, 47001, 47003, 48001];
/// Of those, WeChat's refusals of a message's values: with each row's own values, the row's.
const ROW_VALUE_ERRORS: &[i64] = &[47001, 47003];
/// subscribe/send: the user holds no subscription (any more) for the template.
const NO_SUBSCRIPTION: i64 = 43101;

/// Backoff before attempt `attempts + 1`, with ±20 % jitter.
fn backoff_ms(attempts: i64) -> i64 {
    let exp = (attempts - 1).clamp(0, 16) as u32;
    let base = (BACKOFF_FIRST_MS.saturating_mul(1_i64 << exp)).min(BACKOFF_MAX_MS);
    let jitter = rand::rng().random_range(0.8..1.2);
    (base as f64 * jitter) as i64
}

/// How a send ended, before it becomes a row result (subscribe/send may give no msgid).
enum Sent {
    Ok(Option<i64>),
    Err(Error),
}

impl Dispatcher {
    /// One of `concurrency` send workers: takes queued rows and sends them, one at a time.
    pub(super) async fn send_loop(self: Arc<Self>) {
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
                    Some(mp) if row.row_channel() == RowChannel::Subscribe => &mp.limiter,
                    _ => &run.limiter,
                };
                limiter.acquire(&self.engine, run.rate, &run.control).await;
                if self.engine.may_send(&run.control) {
                    let _in_flight = self.engine.metrics().in_flight();
                    let result = self.attempt(&run, &row).await;
                    self.engine.metrics().count_send(row.row_channel(), &result);
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

    /// One attempt of one row, as the row result to store.
    async fn attempt(&self, run: &JobRun, row: &Claimed) -> RowResult {
        let now = now_ms();
        let mut result = RowResult {
            job_id: run.job_id,
            seq: row.seq,
            state: RecipientState::Pending,
            msgid: None,
            errcode: None,
            errmsg: None,
            next_try_ms: 0,
            uncertain: false,
            attempts_delta: 0,
            sent_ms: None,
            completed_ms: None,
        };
        let subscribe = row.row_channel() == RowChannel::Subscribe;
        // An earlier attempt may have been delivered: resend only while WeChat de-duplicates
        // (subscribe/send has no de-dup at all).
        if subscribe && row.uncertain_ms.is_some() {
            result.state = RecipientState::Unknown;
            result.errmsg = Some(UNKNOWN_NO_DEDUP.into());
            result.completed_ms = Some(now);
            return result;
        }
        if row.uncertain_ms.is_some_and(|u| now - u >= self.window_ms) {
            result.state = RecipientState::Unknown;
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
            match subscribe_message(run, row) {
                Ok(message) => {
                    let template_id = message.template_id.clone();
                    (self.send_subscribe(run, message).await, template_id)
                }
                Err(e) => (Sent::Err(e), String::new()),
            }
        } else {
            match template_message(run, row) {
                Ok(message) => (self.send(run, message).await, String::new()),
                Err(e) => (Sent::Err(e), String::new()),
            }
        };
        let (outcome, template_id) = outcome;
        let now = now_ms();
        let err = match outcome {
            Sent::Ok(msgid) => {
                result.state = RecipientState::Sent;
                result.msgid = msgid;
                result.sent_ms = Some(now);
                result.completed_ms = Some(now);
                if let Some(mp) = run.mp.as_ref().filter(|_| subscribe) {
                    let spent = self
                        .engine
                        .spend_credit(
                            mp.account.id,
                            &row.openid,
                            &template_id,
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
                result.state = RecipientState::Unknown;
                result.errmsg = Some(UNKNOWN_NO_DEDUP.into());
                result.completed_ms = Some(now);
            } else if row.attempts >= MAX_ATTEMPTS {
                result.state = if uncertain || row.uncertain_ms.is_some() {
                    RecipientState::Unknown
                } else {
                    RecipientState::Failed
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
                    // A spreadsheet row's own values refused (47001, 47003) fail that row alone.
                    Some((code, _))
                        if JOB_WIDE_ERRORS.contains(&code)
                            && !run.per_row
                            && !(row.payload.is_some() && ROW_VALUE_ERRORS.contains(&code)) =>
                    {
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
                        result.state = RecipientState::Failed;
                        result.completed_ms = Some(now);
                        if let Some(mp) = run.mp.as_ref().filter(|_| subscribe) {
                            if code == NO_SUBSCRIPTION {
                                let cleared = self
                                    .engine
                                    .clear_credit(
                                        mp.account.id,
                                        &row.openid,
                                        &template_id,
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
                            result.state = RecipientState::Failed;
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
    async fn send(&self, run: &JobRun, message: TemplateMessage) -> Sent {
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
    async fn send_subscribe(&self, run: &JobRun, message: SubscribeMessage) -> Sent {
        let Some(mp) = &run.mp else {
            return Sent::Err(Error::Internal("the job has no Mini Program".into()));
        };
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
    pub(super) async fn departure_loop(&self) {
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
    pub(super) async fn write_loop(&self) {
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

/// The template message of a row: its own (an API message) or the job's, addressed to the
/// row with the row's `client_msg_id`.
fn template_message(run: &JobRun, row: &Claimed) -> Result<TemplateMessage, Error> {
    let mut message = match (&row.payload, &run.message) {
        (Some(own), _) => serde_json::from_str::<TemplateMessage>(own).map_err(|e| {
            Error::Internal(format!("the message of row {} is unreadable: {e}", row.seq))
        })?,
        (None, Some(job)) => job.clone(),
        (None, None) => return Err(Error::Internal("the job has no template message".into())),
    };
    message.touser.clone_from(&row.openid);
    message.client_msg_id = Some(client_msg_id(run.job_id, row.seq));
    Ok(message)
}

/// The subscribe message of a row: its own or the job's, addressed to the row.
fn subscribe_message(run: &JobRun, row: &Claimed) -> Result<SubscribeMessage, Error> {
    let job = run.mp.as_ref().and_then(|mp| mp.message.as_ref());
    let mut message = match (&row.payload, job) {
        (Some(own), _) => serde_json::from_str::<SubscribeMessage>(own).map_err(|e| {
            Error::Internal(format!("the message of row {} is unreadable: {e}", row.seq))
        })?,
        (None, Some(job)) => job.clone(),
        (None, None) => return Err(Error::Internal("the job has no subscribe message".into())),
    };
    message.touser.clone_from(&row.openid);
    Ok(message)
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
}

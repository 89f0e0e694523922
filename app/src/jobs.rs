//! Send jobs as server functions: plan (the review step), create, list, progress, recipients,
//! and pause / resume / cancel / retry. Any logged-in staff member may run jobs; each function
//! checks the session itself and only touches jobs of the session's Official Account.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use model::job::{
    Channel, ChannelCounts, Delivery, RecipientPlan, RecipientState, RowChannel, SkipReason,
};
use model::RecipientSource;

/// The review step: the engine's plan and the approval threshold it is judged against.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanDto {
    pub plan: RecipientPlan,
    /// Jobs reaching more people wait for a second admin's approval.
    pub approval_threshold: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDto {
    pub id: i64,
    pub name: String,
    /// `None` once the preset was deleted.
    pub preset_id: Option<i64>,
    pub preset_name: String,
    pub template_title: String,
    pub state: model::JobState,
    pub pause_reason: Option<model::PauseReason>,
    pub total: i64,
    pub created_by: String,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
    pub rate_limit: i64,
    pub channel: Channel,
    pub mp_preset_name: Option<String>,
    pub mp_template_title: Option<String>,
    /// Paused until a second admin approves it.
    pub awaiting_approval: bool,
    pub approved_by: Option<String>,
    pub approved_ms: Option<i64>,
    /// A spreadsheet job's variable columns (each row has its own values); empty otherwise.
    pub columns: Vec<String>,
    pub sheet_name: Option<String>,
    /// A scheduled job's start time in the console time zone (`2026-12-31T09:00`), and the zone.
    pub start_at: Option<String>,
    pub time_zone: String,
    /// Waiting for its start time (已计划).
    pub scheduled: bool,
    /// The recurring send this job is a run of.
    pub schedule_id: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrcodeDto {
    pub errcode: i64,
    pub errmsg: String,
    pub explain_zh: String,
    pub explain_en: String,
    pub count: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgressDto {
    pub job: JobDto,
    pub pending: i64,
    pub sending: i64,
    pub sent: i64,
    pub failed: i64,
    pub skipped: i64,
    pub unknown: i64,
    pub cancelled: i64,
    pub delivered: i64,
    pub user_blocked: i64,
    pub system_failed: i64,
    pub rate_per_s: f64,
    pub eta_secs: Option<i64>,
    pub errors: Vec<ErrcodeDto>,
    pub skip_reasons: Vec<(SkipReason, i64)>,
    /// Receipts may still arrive: some sent messages have none yet and the job ended recently.
    pub awaiting_receipts: bool,
    /// Why WeChat made the job pause (a paused job's errcode, in words), if it did.
    pub pause_explain_zh: Option<String>,
    pub pause_explain_en: Option<String>,
    pub by_channel: Vec<ChannelCounts>,
    /// The viewer is an admin and the job waits for approval (the engine refuses its creator).
    pub can_approve: bool,
    /// Recipients that failed and were sent again by "retry failed".
    pub retried_failures: i64,
}

impl ProgressDto {
    /// Rows that reached an end: sent, failed, skipped, unknown, cancelled.
    pub fn finished(&self) -> i64 {
        self.sent + self.failed + self.skipped + self.unknown + self.cancelled
    }

    /// 0–100, for the progress bar.
    pub fn percent(&self) -> i64 {
        let total = self.job.total.max(1);
        (self.finished() * 100 / total).clamp(0, 100)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientDto {
    pub seq: i64,
    pub openid: String,
    pub state: RecipientState,
    pub attempts: i64,
    pub errcode: Option<i64>,
    pub errmsg: Option<String>,
    pub skip_reason: Option<SkipReason>,
    pub msgid: Option<String>,
    pub delivery: Option<Delivery>,
    pub updated_ms: i64,
    /// Which id `openid` is (OA or MP).
    pub channel: RowChannel,
    /// How it failed before each "retry failed", oldest first: (errcode, errmsg, when).
    pub earlier_failures: Vec<(Option<i64>, String, i64)>,
    /// A spreadsheet row's values by column, and its line in the file.
    pub values: Vec<(String, String)>,
    pub line: Option<i64>,
    /// Why a spreadsheet row was left out.
    pub issues: Vec<model::sheet::RowIssue>,
}

/// The review of a spreadsheet against a preset, and the approval threshold it is judged by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SheetReviewDto {
    pub review: model::sheet::SheetReview,
    pub approval_threshold: i64,
    /// The template's fields, to draw the sample messages as WeChat shows them.
    pub fields: Vec<message::Field>,
    pub template_title: String,
}

/// An upload of the session's Official Account (for the page it was sent back to).
#[server(prefix = "/api", endpoint = "sheet_summary")]
pub async fn sheet_summary(sheet_id: i64) -> Result<model::sheet::SheetSummary, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    require_staff().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    state
        .engine
        .sheet_summary(&account, sheet_id)
        .await
        .or_else(|e| fail(from_engine(e)))
}

/// The review step of a spreadsheet job: every line rendered and checked; creates nothing.
#[server(prefix = "/api", endpoint = "review_sheet")]
pub async fn review_sheet(sheet_id: i64, preset_id: i64) -> Result<SheetReviewDto, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    require_staff().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let review = state
        .engine
        .review_sheet(&account, sheet_id, preset_id)
        .await
        .or_else(|e| fail(from_engine(e)))?;
    let template = match state.engine.preset(preset_id).await.map_err(internal)? {
        Some(p) => state
            .engine
            .template(p.template_ref)
            .await
            .map_err(internal)?,
        None => None,
    };
    Ok(SheetReviewDto {
        review,
        approval_threshold: state.engine.approval_threshold().await.map_err(internal)?,
        fields: template
            .as_ref()
            .map(|t| t.fields.clone())
            .unwrap_or_default(),
        template_title: template.map(|t| t.remote.title).unwrap_or_default(),
    })
}

/// Rows per page of a job's recipient table.
pub const RECIPIENT_PAGE: i64 = 50;

/// `mp_preset_id` 0 = none (the template channel).
#[server(prefix = "/api", endpoint = "plan_job", input = server_fn::codec::Json)]
pub async fn plan_job(
    source: RecipientSource,
    channel: Channel,
    mp_preset_id: i64,
) -> Result<PlanDto, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    require_staff().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let plan = state
        .engine
        .plan_job(
            &account,
            &source,
            channel,
            (mp_preset_id > 0).then_some(mp_preset_id),
        )
        .await
        .or_else(|e| fail(from_engine(e)))?;
    Ok(PlanDto {
        plan,
        approval_threshold: state.engine.approval_threshold().await.map_err(internal)?,
    })
}

/// Freezes the recipients and starts the job; returns its id. `preset_id` (the OA template
/// preset) and `mp_preset_id` (the subscribe preset) are 0 when the channel needs none.
#[server(prefix = "/api", endpoint = "create_job", input = server_fn::codec::Json)]
pub async fn create_job(
    preset_id: i64,
    mp_preset_id: i64,
    channel: Channel,
    name: String,
    source: RecipientSource,
    rate_limit: i64,
    /// When to start, in the console time zone (`2026-12-31T09:00`); empty or left out: at once.
    #[server(default)]
    start_at: String,
) -> Result<i64, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    let staff = require_staff().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let name = name.trim().to_owned();
    let start_at_ms = ssr::start_time(&state, &start_at).await?;
    let new = engine::jobs::NewJob {
        start_at_ms,
        name,
        channel,
        preset_id: (preset_id > 0).then_some(preset_id),
        mp_preset_id: (mp_preset_id > 0).then_some(mp_preset_id),
        source,
        rate_limit,
    };
    let actor = actor(&staff, &state);
    state
        .engine
        .create_job_with(&actor, &account, &new)
        .await
        .map(|job| job.id)
        .or_else(|e| fail(from_engine(e)))
}

#[server(prefix = "/api", endpoint = "list_jobs")]
pub async fn list_jobs() -> Result<Vec<JobDto>, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    require_staff().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return Ok(Vec::new());
    };
    let tz = state.engine.time_zone().await.map_err(internal)?;
    Ok(state
        .engine
        .jobs(account.id, 200)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|j| ssr::job_dto(j, tz))
        .collect())
}

#[server(prefix = "/api", endpoint = "job_progress")]
pub async fn job_progress(id: i64) -> Result<ProgressDto, AppError> {
    use crate::auth::ssr::*;
    let staff = require_staff().await?;
    let state = state()?;
    ssr::own_job(&state, id).await?;
    let Some(p) = state.engine.job_progress(id).await.map_err(internal)? else {
        return fail(AppError::NotFound);
    };
    // The creator sees the button too: the engine refuses them, and says why (four eyes).
    let can_approve = p.job.awaiting_approval() && staff.role == engine::Role::Admin;
    let tz = state.engine.time_zone().await.map_err(internal)?;
    let mut dto = ssr::progress_dto(p, tz);
    dto.can_approve = can_approve;
    Ok(dto)
}

/// The recipient count above which a job waits for a second admin (any staff may read it).
#[server(prefix = "/api", endpoint = "approval_threshold")]
pub async fn approval_threshold() -> Result<i64, AppError> {
    use crate::auth::ssr::*;
    require_staff().await?;
    state()?.engine.approval_threshold().await.map_err(internal)
}

/// Admins only: jobs reaching more than `threshold` recipients wait for a second admin.
#[server(prefix = "/api", endpoint = "set_approval_threshold")]
pub async fn set_approval_threshold(threshold: i64) -> Result<(), AppError> {
    use crate::auth::ssr::*;
    let staff = require_admin().await?;
    let state = state()?;
    let actor = actor(&staff, &state);
    state
        .engine
        .set_approval_threshold(&actor, threshold)
        .await
        .or_else(|e| fail(from_engine(e)))
}

#[server(prefix = "/api", endpoint = "job_recipients")]
pub async fn job_recipients(
    id: i64,
    state_filter: Option<RecipientState>,
    errcode: String,
    search: String,
    after: i64,
) -> Result<Vec<RecipientDto>, AppError> {
    use crate::auth::ssr::*;
    require_staff().await?;
    let state = state()?;
    let job = ssr::own_job(&state, id).await?;
    let filter = ssr::recipient_filter(state_filter, &errcode, &search)?;
    Ok(state
        .engine
        .job_recipients(id, &filter, after, RECIPIENT_PAGE + 1)
        .await
        .map_err(internal)?
        .into_iter()
        .map(|r| RecipientDto {
            seq: r.seq,
            openid: r.openid,
            state: r.state,
            attempts: r.attempts,
            errcode: r.errcode,
            errmsg: r.errmsg,
            skip_reason: r.skip_reason,
            // As text: JavaScript numbers cannot hold every 64-bit msgid.
            msgid: r.msgid.map(|m| m.to_string()),
            delivery: r.delivery,
            updated_ms: r.updated_ms,
            channel: r.channel,
            earlier_failures: r
                .earlier_failures
                .into_iter()
                .map(|f| {
                    (
                        f.errcode,
                        f.errmsg.unwrap_or_default(),
                        f.failed_ms.unwrap_or(f.retried_ms),
                    )
                })
                .collect(),
            values: job.columns.iter().cloned().zip(r.values).collect(),
            line: r.line,
            issues: r.issues,
        })
        .collect())
}

/// Changes a job's start time (console time zone), name and rate before it starts.
#[server(prefix = "/api", endpoint = "reschedule_job")]
pub async fn reschedule_job(
    id: i64,
    start_at: String,
    name: String,
    rate_limit: i64,
) -> Result<(), AppError> {
    use crate::auth::ssr::*;
    let staff = require_staff().await?;
    let state = state()?;
    ssr::own_job(&state, id).await?;
    let Some(start_at_ms) = ssr::start_time(&state, &start_at).await? else {
        return fail(from_engine(engine::Error::refused(
            "start_at",
            model::Problem::Required,
        )));
    };
    let change = engine::jobs::schedule::JobSchedule {
        start_at_ms,
        name,
        rate_limit,
    };
    let actor = actor(&staff, &state);
    state
        .engine
        .reschedule_job(&actor, id, &change)
        .await
        .map(|_| ())
        .or_else(|e| fail(from_engine(e)))
}

/// A finished job's failed and unknown rows as an upload of their own, each with its values,
/// for the review of a new job; returns the upload's id.
#[server(prefix = "/api", endpoint = "new_job_from_failures")]
pub async fn new_job_from_failures(id: i64) -> Result<i64, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    let staff = require_staff().await?;
    let state = state()?;
    ssr::own_job(&state, id).await?;
    let Some(account) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    state
        .engine
        .sheet_of_failures(&account, &staff.username, id)
        .await
        .map(|s| s.id)
        .or_else(|e| fail(from_engine(e)))
}

/// Does `action` to job `id`; approving is for admins other than the job's creator.
#[server(prefix = "/api", endpoint = "control_job")]
pub async fn control_job(id: i64, action: model::JobAction) -> Result<(), AppError> {
    use crate::auth::ssr::*;
    let staff = require_staff().await?;
    let state = state()?;
    ssr::own_job(&state, id).await?;
    let actor = actor(&staff, &state);
    let engine = &state.engine;
    use model::JobAction;
    let done = match action {
        JobAction::Approve => {
            if staff.role != engine::Role::Admin {
                return fail(AppError::Forbidden);
            }
            engine.approve_job(&actor, id).await.map(|_| ())
        }
        JobAction::Pause => engine.pause_job(&actor, id).await,
        JobAction::Resume => engine.resume_job(&actor, id).await,
        JobAction::Cancel => engine.cancel_job(&actor, id).await,
        JobAction::RetryFailed => engine.retry_failed(&actor, id).await.map(|_| ()),
        // A change of plan carries its new values (reschedule_job); a new job of the failures
        // is made after its review (new_job_from_failures).
        JobAction::Reschedule | JobAction::NewFromFailures => {
            return fail(crate::templates::ssr::invalid("action"))
        }
    };
    done.or_else(|e| fail(from_engine(e)))
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Mapping jobs to what the browser sees, and the request's arguments to engine types.

    use engine::jobs::{Job, JobProgress, RecipientFilter, RecipientState};

    use super::{ErrcodeDto, JobDto, ProgressDto};
    use crate::auth::ssr::{fail, internal};
    use crate::error::AppError;
    use crate::state::AppState;

    /// Refuses a job of another Official Account than the session's.
    pub async fn own_job(state: &AppState, id: i64) -> Result<Job, AppError> {
        let account = crate::followers::ssr::current_oa(state).await?;
        match state.engine.job(id).await.map_err(internal)? {
            Some(job) if account.is_some_and(|a| a.id == job.account_id) => Ok(job),
            _ => fail(AppError::NotFound),
        }
    }

    pub fn recipient_filter(
        state: Option<RecipientState>,
        errcode: &str,
        search: &str,
    ) -> Result<RecipientFilter, AppError> {
        let errcode = match errcode {
            "" => None,
            code => match code.parse() {
                Ok(c) => Some(c),
                Err(_) => return fail(crate::templates::ssr::invalid("errcode")),
            },
        };
        Ok(RecipientFilter {
            state,
            errcode,
            search: search.trim().to_owned(),
        })
    }

    /// A start time the console's form wrote, in the console time zone; `None` when empty.
    pub async fn start_time(state: &AppState, text: &str) -> Result<Option<i64>, AppError> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        let tz = state.engine.time_zone().await.map_err(internal)?;
        engine::jobs::schedule::parse_local_time(text, tz)
            .map(Some)
            .or_else(|e| fail(crate::auth::ssr::from_engine(e)))
    }

    pub fn job_dto(j: Job, tz: engine::Tz) -> JobDto {
        let awaiting_approval = j.awaiting_approval();
        let scheduled = j.scheduled();
        JobDto {
            id: j.id,
            name: j.name,
            preset_id: j.preset_id,
            preset_name: j.preset_name,
            template_title: j.template_title,
            state: j.state,
            pause_reason: j.pause_reason,
            total: j.total,
            created_by: j.created_by,
            created_ms: j.created_ms,
            finished_ms: j.finished_ms,
            rate_limit: j.rate_limit,
            awaiting_approval,
            channel: j.channel,
            mp_preset_name: j.mp.as_ref().map(|m| m.preset_name.clone()),
            mp_template_title: j.mp.map(|m| m.template_title),
            approved_by: j.approved_by,
            approved_ms: j.approved_ms,
            columns: j.columns,
            sheet_name: j.sheet_name,
            start_at: j
                .start_at_ms
                .map(|ms| engine::jobs::schedule::format_local_time(ms, tz)),
            time_zone: tz.name().to_owned(),
            scheduled,
            schedule_id: j.schedule_id,
        }
    }

    /// How long after a job ends its page keeps watching for delivery receipts.
    const RECEIPT_WAIT_MS: i64 = 10 * 60 * 1000;

    pub fn progress_dto(p: JobProgress, tz: engine::Tz) -> ProgressDto {
        let awaiting_receipts = p.sent > p.delivered + p.user_blocked + p.system_failed
            && p.job
                .finished_ms
                .is_some_and(|f| engine::now_ms() - f < RECEIPT_WAIT_MS);
        let pause_error = p
            .job
            .pause_reason
            .and_then(model::PauseReason::errcode)
            .map(|code| wechat::api::ApiError::WeChat {
                code,
                message: String::new(),
            });
        ProgressDto {
            awaiting_receipts,
            pause_explain_zh: pause_error.as_ref().map(|e| e.explain(true)),
            pause_explain_en: pause_error.as_ref().map(|e| e.explain(false)),
            job: job_dto(p.job, tz),
            pending: p.pending,
            sending: p.sending,
            sent: p.sent,
            failed: p.failed,
            skipped: p.skipped,
            unknown: p.unknown,
            cancelled: p.cancelled,
            delivered: p.delivered,
            user_blocked: p.user_blocked,
            system_failed: p.system_failed,
            rate_per_s: p.rate_per_s,
            eta_secs: p.eta_secs,
            errors: p
                .errors
                .into_iter()
                .map(|e| {
                    let err = wechat::api::ApiError::WeChat {
                        code: e.errcode,
                        message: e.errmsg.clone(),
                    };
                    ErrcodeDto {
                        errcode: e.errcode,
                        explain_zh: err.explain(true),
                        explain_en: err.explain(false),
                        errmsg: e.errmsg,
                        count: e.count,
                    }
                })
                .collect(),
            skip_reasons: p.skip_reasons,
            by_channel: p.by_channel,
            can_approve: false,
            retried_failures: p.retried_failures,
        }
    }
}

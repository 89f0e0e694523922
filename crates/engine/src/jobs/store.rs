//! Creating a job (message snapshots + one frozen row per recipient, in one transaction) and
//! reading jobs back; the operator's controls are in `controls.rs`.

use crate::audit::AuditAction;
use model::{rules, Problem};

use crate::accounts::Account;
use crate::audit::{Actor, RecordAudit};
use crate::sheets::render::SheetMessage;
use crate::{now_ms, on_db, Engine, Error, Result};

use super::plan::Planned;
use super::{
    Channel, Job, JobMpMessage, JobState, NewJob, PauseReason, RecipientSource, RecipientState,
};

/// Recipient rows per INSERT (12 bound values each).
const INSERT_CHUNK: usize = 2_000;
/// A list source longer than this is stored as a summary on the job (the rows hold the list).
const SOURCE_JSON_MAX: usize = 64 * 1024;

/// The run of a recurring send a job is (one job per schedule and run time).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScheduleRun {
    pub schedule_id: i64,
    pub run_ms: i64,
    /// Runs missed meanwhile (not replayed).
    pub skipped: i64,
}

/// The messages of a job: the OA template message, the Mini Program it reaches for subscribe
/// messages and that message.
pub(crate) struct JobMessages {
    oa: Option<FrozenMessage>,
    mp_target: Option<super::plan::MpTarget>,
    mp: Option<FrozenMessage>,
}

/// A preset's message as a job keeps it.
#[derive(Default)]
struct FrozenMessage {
    preset_id: i64,
    preset_name: String,
    template_id: String,
    template_title: String,
    /// The send body without touser (and client_msg_id).
    payload: String,
}

impl FrozenMessage {
    /// A spreadsheet job's message as written, variables unfilled: each row has its own.
    fn of_sheet(message: &SheetMessage) -> FrozenMessage {
        let payload = message::template_payload(
            "",
            &message.template.remote.template_id,
            &message.template.fields,
            &message.preset.body,
            None,
        );
        FrozenMessage {
            preset_id: message.preset.id,
            preset_name: message.preset.name.clone(),
            template_id: payload.template_id.clone(),
            template_title: message.template.remote.title.clone(),
            payload: payload.to_json().to_string(),
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: i64,
    account_id: i64,
    name: String,
    preset_id: Option<i64>,
    preset_name: String,
    template_id: String,
    template_title: String,
    state: String,
    pause_reason: Option<String>,
    total: i64,
    will_receive: i64,
    rate_limit: i64,
    created_by: String,
    created_ms: i64,
    finished_ms: Option<i64>,
    channel: String,
    mp_account_id: Option<i64>,
    mp_preset_id: Option<i64>,
    mp_preset_name: Option<String>,
    mp_template_id: Option<String>,
    mp_template_title: Option<String>,
    approved_by: Option<String>,
    approved_ms: Option<i64>,
    columns: Option<String>,
    sheet_name: Option<String>,
    start_at_ms: Option<i64>,
    schedule_id: Option<i64>,
}

impl JobRow {
    pub(crate) fn into_job(self) -> Job {
        Job {
            id: self.id,
            account_id: self.account_id,
            name: self.name,
            preset_id: self.preset_id,
            preset_name: self.preset_name,
            template_title: self.template_title,
            state: JobState::parse(&self.state).unwrap_or(JobState::Done),
            pause_reason: self.pause_reason.as_deref().and_then(PauseReason::parse),
            total: self.total,
            created_by: self.created_by,
            created_ms: self.created_ms,
            finished_ms: self.finished_ms,
            rate_limit: self.rate_limit,
            template_id: self.template_id,
            will_receive: self.will_receive,
            channel: Channel::parse(&self.channel).unwrap_or(Channel::Template),
            mp: self.mp_template_id.map(|template_id| JobMpMessage {
                account_id: self.mp_account_id,
                preset_id: self.mp_preset_id,
                preset_name: self.mp_preset_name.unwrap_or_default(),
                template_id,
                template_title: self.mp_template_title.unwrap_or_default(),
            }),
            approved_by: self.approved_by,
            approved_ms: self.approved_ms,
            columns: self
                .columns
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or_default(),
            sheet_name: self.sheet_name,
            start_at_ms: self.start_at_ms,
            schedule_id: self.schedule_id,
        }
    }
}

pub(crate) const SELECT_JOB: &str = "SELECT id, account_id, name, preset_id, preset_name, \
     template_id, template_title, state, pause_reason, total, will_receive, rate_limit, \
     created_by, created_ms, finished_ms, channel, mp_account_id, mp_preset_id, mp_preset_name, \
     mp_template_id, mp_template_title, approved_by, approved_ms, columns, sheet_name, start_at_ms, \
     schedule_id FROM jobs";

/// The source as stored on the job: long lists as a summary (the rows hold them anyway).
fn stored_source(source: &RecipientSource) -> String {
    let full = serde_json::to_string(source).unwrap_or_default();
    if full.len() <= SOURCE_JSON_MAX {
        return full;
    }
    let entries = match source {
        RecipientSource::Openids(list) => list.len(),
        RecipientSource::CsvOpenids(text) | RecipientSource::CsvUnionids(text) => {
            text.lines().count()
        }
        _ => 0,
    };
    serde_json::json!({ "kind": source.kind(), "entries": entries, "summarised": true }).to_string()
}

impl Engine {
    /// Creates a template-message job (see [`Engine::create_job_with`]).
    pub async fn create_job(
        &self,
        actor: &Actor,
        account: &Account,
        preset_id: i64,
        name: &str,
        source: &RecipientSource,
        rate_limit: i64,
    ) -> Result<Job> {
        let new = NewJob {
            name: name.to_owned(),
            channel: Channel::Template,
            preset_id: Some(preset_id),
            mp_preset_id: None,
            source: source.clone(),
            rate_limit,
            start_at_ms: None,
        };
        self.create_job_with(actor, account, &new).await
    }

    /// Freezes the recipient list (one row per recipient with its channel and address, skipped
    /// ones with their reason, seq from 1) and starts the job. `rate_limit` is in messages per
    /// second (0 = [`model::rules::DEFAULT_RATE_LIMIT`]). The messages are copied from the presets, so editing
    /// a preset later does not change the job.
    pub async fn create_job_with(
        &self,
        actor: &Actor,
        account: &Account,
        new: &NewJob,
    ) -> Result<Job> {
        self.create_job_run(actor, account, new, None).await
    }

    /// [`Engine::create_job_with`], as the run `run` of a recurring send when given: a second
    /// job for the same run is refused by the database (a unique violation).
    pub(crate) async fn create_job_run(
        &self,
        actor: &Actor,
        account: &Account,
        new: &NewJob,
        run: Option<ScheduleRun>,
    ) -> Result<Job> {
        let name = new.name.trim();
        rules::job_name(name).map_err(|p| Error::refused("job_name", p))?;
        if let Some(start_at) = new.start_at_ms {
            super::schedule::check_start_time(start_at, now_ms())?;
        }
        let rate_limit = match new.rate_limit {
            0 => rules::DEFAULT_RATE_LIMIT,
            r => {
                rules::rate_limit(r).map_err(|p| Error::refused("rate_limit", p))?;
                r
            }
        };
        let sheet = match &new.source {
            RecipientSource::Sheet(sheet_id) => {
                if new.channel != Channel::Template {
                    return Err(Error::refused("channel", Problem::SheetTemplateOnly));
                }
                let preset_id = new
                    .preset_id
                    .ok_or(Error::refused("preset", Problem::Required))?;
                let message = self.sheet_message(account, preset_id).await?;
                let plan = self.plan_sheet(account, *sheet_id, &message).await?;
                if !plan.missing.is_empty() {
                    return Err(Error::refused(
                        "file",
                        Problem::MissingColumns(plan.missing),
                    ));
                }
                Some((message, plan))
            }
            _ => None,
        };
        let JobMessages { oa, mp_target, mp } = match &sheet {
            Some((message, _)) => JobMessages {
                oa: Some(FrozenMessage::of_sheet(message)),
                mp_target: None,
                mp: None,
            },
            None => {
                self.job_messages(account, new.channel, new.preset_id, new.mp_preset_id)
                    .await?
            }
        };
        let (resolved, sheet) = match sheet {
            Some((_, plan)) => (plan.resolved, Some(plan.summary)),
            None => (
                self.resolve_recipients(account, &new.source, new.channel, mp_target.as_ref())
                    .await?,
                None,
            ),
        };
        let columns = sheet
            .as_ref()
            .map(|s| serde_json::to_string(&s.columns).unwrap_or_default());
        let will_receive = resolved.will_receive();
        if will_receive == 0 {
            return Err(Error::refused("recipients", Problem::NoRecipients));
        }
        let total = resolved.rows.len() as i64;
        let threshold = self.approval_threshold().await?;
        // Above the threshold the job waits, paused, for a second admin (approve_job).
        let awaiting = will_receive > threshold;
        // Created inside the account's quiet hours: it waits, paused, until they end.
        let quiet_until = self.quiet_until(account.id, now_ms()).await?;
        // Approval comes first; a scheduled job then waits for its time (start_due_jobs).
        let (state, pause_reason) = if awaiting {
            ("paused", Some(PauseReason::Approval.to_stored()))
        } else if new.start_at_ms.is_some() {
            ("paused", Some(PauseReason::Scheduled.to_stored()))
        } else if quiet_until.is_some() {
            ("paused", Some(PauseReason::QuietHours.to_stored()))
        } else {
            ("running", None)
        };
        let now = now_ms();
        let source_json = stored_source(&new.source);
        let empty = FrozenMessage::default();
        let oa_msg = oa.as_ref().unwrap_or(&empty);
        let skipped: serde_json::Map<String, serde_json::Value> = resolved
            .skipped()
            .into_iter()
            .map(|(r, n)| (r.as_str().to_owned(), n.into()))
            .collect();
        let by_channel: serde_json::Map<String, serde_json::Value> = resolved
            .by_channel()
            .into_iter()
            .map(|(c, n)| (c.as_str().to_owned(), n.into()))
            .collect();
        let id = {
            let _write = self.write_gate().await;
            on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO jobs (account_id, channel, name, preset_id, preset_name, \
                     template_id, template_title, payload, mp_account_id, mp_preset_id, \
                     mp_preset_name, mp_template_id, mp_template_title, mp_payload, source, \
                     state, pause_reason, total, will_receive, rate_limit, created_by, created_ms, \
                     updated_ms, columns, sheet_name, start_at_ms, schedule_id, schedule_run_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, \
                     $16, $17, $18, $19, $20, $21, $22, $22, $23, $24, $25, $26, $27) RETURNING id",
                )
                .bind(account.id)
                .bind(new.channel.as_str())
                .bind(name)
                .bind(oa.as_ref().map(|m| m.preset_id))
                .bind(&oa_msg.preset_name)
                .bind(&oa_msg.template_id)
                .bind(&oa_msg.template_title)
                .bind(&oa_msg.payload)
                .bind(mp_target.as_ref().map(|t| t.account.id))
                .bind(mp.as_ref().map(|m| m.preset_id))
                .bind(mp.as_ref().map(|m| m.preset_name.as_str()))
                .bind(mp.as_ref().map(|m| m.template_id.as_str()))
                .bind(mp.as_ref().map(|m| m.template_title.as_str()))
                .bind(mp.as_ref().map(|m| m.payload.as_str()))
                .bind(&source_json)
                .bind(state)
                .bind(pause_reason)
                .bind(total)
                .bind(will_receive)
                .bind(rate_limit)
                .bind(&actor.name)
                .bind(now)
                .bind(&columns)
                .bind(sheet.as_ref().map(|s| s.file_name.as_str()))
                .bind(new.start_at_ms)
                .bind(run.map(|r| r.schedule_id))
                .bind(run.map(|r| r.run_ms))
                .fetch_one(&mut *tx)
                .await?;
                let numbered: Vec<(i64, &Planned)> = (1_i64..).zip(resolved.rows.iter()).collect();
                for chunk in numbered.chunks(INSERT_CHUNK) {
                    let mut qb = sqlx::QueryBuilder::new(
                        "INSERT INTO job_recipients (job_id, seq, openid, unionid, channel, state, \
                         skip_reason, updated_ms, payload, vars, line, issues) ",
                    );
                    qb.push_values(chunk, |mut b, (seq, row)| {
                        b.push_bind(id)
                            .push_bind(*seq)
                            .push_bind(&row.openid)
                            .push_bind(&row.unionid)
                            .push_bind(row.channel.as_str())
                            .push_bind(if row.skip.is_some() {
                                RecipientState::Skipped.as_str()
                            } else {
                                RecipientState::Pending.as_str()
                            })
                            .push_bind(row.skip.map(|r| r.as_str()))
                            .push_bind(now)
                            .push_bind(&row.payload)
                            .push_bind(&row.vars)
                            .push_bind(row.line)
                            .push_bind(&row.issues);
                    });
                    qb.build().execute(&mut *tx).await?;
                }
                let detail = serde_json::json!({
                    "id": id,
                    "account": account.appid,
                    "channel": new.channel.as_str(),
                    "preset": oa.as_ref().map(|m| m.preset_id),
                    "mp_preset": mp.as_ref().map(|m| m.preset_id),
                    "source": new.source.kind(),
                    "total": total,
                    "will_receive": will_receive,
                    "by_channel": by_channel,
                    "skipped": skipped,
                    "line_errors": resolved.line_error_count,
                    "rate_limit": rate_limit,
                    "awaiting_approval": awaiting,
                    "quiet_until_ms": quiet_until,
                    "start_at_ms": new.start_at_ms,
                    "schedule": run.map(|r| serde_json::json!({
                        "id": r.schedule_id,
                        "run_ms": r.run_ms,
                        "missed_runs": r.skipped,
                    })),
                    "approval_threshold": threshold,
                    "sheet": sheet.as_ref().map(|s| serde_json::json!({
                        "id": s.id,
                        "file": s.file_name,
                        "rows": s.rows,
                        "columns": s.columns,
                    })),
                });
                tx.record_audit(actor, AuditAction::JobCreate, name, &detail)
                    .await?;
                if !awaiting && new.start_at_ms.is_none() {
                    tx.record_audit(actor, AuditAction::JobStart, name, &start_detail(id))
                        .await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(id)
            })?
        };
        self.jobs_shared().wake();
        self.job(id).await?.ok_or(Error::NotFound)
    }

    /// The messages a job of `channel` sends, each checked and frozen (a preset is required for
    /// each side the channel uses).
    pub(crate) async fn job_messages(
        &self,
        account: &Account,
        channel: Channel,
        preset_id: Option<i64>,
        mp_preset_id: Option<i64>,
    ) -> Result<JobMessages> {
        let oa = match (channel.uses_template(), preset_id) {
            (false, _) => None,
            (true, None) => return Err(Error::refused("preset", Problem::Required)),
            (true, Some(id)) => Some(self.frozen_message(account, id, false).await?),
        };
        let mp_target = self.mp_target(account, channel, mp_preset_id).await?;
        let mp = match (&mp_target, mp_preset_id) {
            (Some(_), Some(id)) => Some(self.frozen_message(account, id, true).await?),
            _ => None,
        };
        Ok(JobMessages { oa, mp_target, mp })
    }

    /// A preset's message, checked against its template (InvalidPreset, TemplateRemoved) and
    /// frozen: the OA template message, or with `subscribe` the MP subscribe message.
    async fn frozen_message(
        &self,
        account: &Account,
        preset_id: i64,
        subscribe: bool,
    ) -> Result<FrozenMessage> {
        let preset = self
            .preset(preset_id)
            .await?
            .filter(|p| p.account_id == account.id)
            .ok_or(Error::NotFound)?;
        // The job keeps the message as the JSON the dispatcher reads back into the same type.
        let (template_id, json) = if subscribe {
            let message = self.preset_subscribe_payload(account, &preset, "").await?;
            let json = message.to_json();
            (message.template_id, json)
        } else {
            let message = self.preset_payload(account, &preset, "", None).await?;
            let json = message.to_json();
            (message.template_id, json)
        };
        let template_title = self
            .template(preset.template_ref)
            .await?
            .map(|t| t.remote.title)
            .unwrap_or_default();
        Ok(FrozenMessage {
            preset_id: preset.id,
            preset_name: preset.name,
            template_id,
            template_title,
            payload: json.to_string(),
        })
    }

    pub async fn job(&self, id: i64) -> Result<Option<Job>> {
        let sql = format!("{SELECT_JOB} WHERE id = $1");
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, JobRow>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(JobRow::into_job))
    }

    /// The account's send jobs, newest first (its API messages are not one of them).
    pub async fn jobs(&self, account_id: i64, limit: i64) -> Result<Vec<Job>> {
        let sql = format!(
            "{SELECT_JOB} WHERE account_id = $1 AND kind = 'batch' ORDER BY id DESC LIMIT $2"
        );
        let rows = on_db!(self.db(), |pool| sqlx::query_as::<_, JobRow>(&sql)
            .bind(account_id)
            .bind(limit.max(0))
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(JobRow::into_job).collect())
    }
}

/// The detail of `job.start`, the entry of a job that begins to send (at creation, or once
/// approved).
pub(super) fn start_detail(id: i64) -> serde_json::Value {
    serde_json::json!({ "id": id })
}

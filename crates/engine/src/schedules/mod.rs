//! Recurring sends (定时任务): a preset, a recipient rule found afresh at each run and a
//! [`Rhythm`]. Every dispatcher pass runs the due ones ([`Engine::run_due_schedules`]): a run
//! creates a normal job — one per schedule and run time whichever process gets there, by a
//! unique index — and after downtime one run stands for the missed ones, which it counts.

pub mod rhythm;

use model::schedule::{check_schedule_source, Rhythm, RhythmPreview, Schedule, ScheduleAction};
use model::{rules, AuditAction, Channel, Problem, RecipientSource, Refusal};

use crate::accounts::Account;
use crate::audit::{Actor, RecordAudit};
use crate::jobs::schedule::format_local_time;
use crate::jobs::store::ScheduleRun;
use crate::jobs::NewJob;
use crate::{now_ms, on_db, Engine, Error, Result};

use rhythm::Runs;

/// Runs shown ahead in a rhythm's preview.
const PREVIEW_RUNS: usize = 5;

/// What a recurring send is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewSchedule {
    pub name: String,
    pub channel: Channel,
    pub preset_id: Option<i64>,
    pub mp_preset_id: Option<i64>,
    pub source: RecipientSource,
    pub rhythm: Rhythm,
    /// Messages per second of each run's job (0 = [`rules::DEFAULT_RATE_LIMIT`]).
    pub rate_limit: i64,
}

/// What one due run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutcome {
    pub schedule_id: i64,
    pub run_ms: i64,
    /// The job this process created (`None`: refused, or made by another process).
    pub job_id: Option<i64>,
    pub refusal: Option<Refusal>,
    /// Runs missed before this one (not replayed).
    pub skipped: i64,
}

const SELECT_SCHEDULE: &str = "SELECT s.id, s.account_id, s.name, s.channel, s.preset_id, \
     s.mp_preset_id, s.source, s.rhythm, s.rate_limit, s.paused, s.next_run_ms, s.last_run_ms, \
     s.last_job_id, s.last_skipped, s.last_refusal, s.created_by, s.created_ms, \
     COALESCE(p.name, '') AS preset_name, COALESCE(mp.name, '') AS mp_preset_name \
     FROM schedules s LEFT JOIN presets p ON p.id = s.preset_id \
     LEFT JOIN presets mp ON mp.id = s.mp_preset_id";

#[derive(sqlx::FromRow)]
struct ScheduleRow {
    id: i64,
    account_id: i64,
    name: String,
    channel: String,
    preset_id: Option<i64>,
    mp_preset_id: Option<i64>,
    source: String,
    rhythm: String,
    rate_limit: i64,
    paused: bool,
    next_run_ms: i64,
    last_run_ms: Option<i64>,
    last_job_id: Option<i64>,
    last_skipped: i64,
    last_refusal: Option<String>,
    created_by: String,
    created_ms: i64,
    preset_name: String,
    mp_preset_name: String,
}

impl ScheduleRow {
    fn into_schedule(self, tz: chrono_tz::Tz) -> Result<Schedule> {
        let bad = |what: &str| Error::Internal(format!("schedule {}: {what}", self.id));
        let rhythm: Rhythm = serde_json::from_str(&self.rhythm).map_err(|_| bad("rhythm"))?;
        let source: RecipientSource =
            serde_json::from_str(&self.source).map_err(|_| bad("source"))?;
        let channel = Channel::parse(&self.channel).ok_or_else(|| bad("channel"))?;
        let runs = Runs::new(&rhythm, tz).ok();
        let summary = runs
            .as_ref()
            .map(|r| r.describe(&rhythm))
            .unwrap_or_default();
        // While paused, the next run is when it would run if resumed now.
        let next_run_ms = runs
            .filter(|_| self.paused)
            .and_then(|r| r.next_after(now_ms()))
            .unwrap_or(self.next_run_ms);
        Ok(Schedule {
            id: self.id,
            account_id: self.account_id,
            name: self.name,
            channel,
            preset_id: self.preset_id,
            preset_name: self.preset_name,
            mp_preset_id: self.mp_preset_id,
            mp_preset_name: self.mp_preset_name,
            source,
            rhythm,
            summary,
            rate_limit: self.rate_limit,
            paused: self.paused,
            next_run_ms,
            last_run_ms: self.last_run_ms,
            last_job_id: self.last_job_id,
            last_skipped: self.last_skipped,
            last_refusal: self
                .last_refusal
                .and_then(|r| serde_json::from_str(&r).ok()),
            created_by: self.created_by,
            created_ms: self.created_ms,
        })
    }
}

/// The name of a run's job: the schedule's name and the run's time.
fn run_job_name(name: &str, run_ms: i64, tz: chrono_tz::Tz) -> String {
    format!(
        "{name} · {}",
        format_local_time(run_ms, tz).replace('T', " ")
    )
}

impl Engine {
    /// Creates a recurring send for `account`: the name (which, with a run's time, names each
    /// job), the presets, the recipient rule and the rhythm are checked as a job's would be.
    /// Audited `schedule.create` in the same transaction.
    pub async fn create_schedule(
        &self,
        actor: &Actor,
        account: &Account,
        new: &NewSchedule,
    ) -> Result<Schedule> {
        let tz = self.time_zone().await?;
        let name = new.name.trim();
        rules::job_name(name).map_err(|p| Error::refused("name", p))?;
        // Each run's job is named "<name> · 2026-12-07 10:00": that must fit a job name too.
        rules::job_name(&run_job_name(name, now_ms(), tz)).map_err(|p| {
            Error::refused(
                "name",
                match p {
                    Problem::TooLong(n) => {
                        Problem::TooLong(n - " · 2026-12-07 10:00".chars().count())
                    }
                    p => p,
                },
            )
        })?;
        let rate_limit = match new.rate_limit {
            0 => rules::DEFAULT_RATE_LIMIT,
            r => {
                rules::rate_limit(r).map_err(|p| Error::refused("rate_limit", p))?;
                r
            }
        };
        check_schedule_source(&new.source)?;
        let rhythm = new.rhythm.clone().normalized()?;
        let runs = Runs::new(&rhythm, tz)?;
        // The presets as a run would send them: usable now, no variables left to fill.
        self.job_messages(account, new.channel, new.preset_id, new.mp_preset_id)
            .await?;
        let now = now_ms();
        let next_run = runs
            .next_after(now)
            .ok_or(Error::refused("cron", Problem::CronFormat))?;
        let preset_id = new.preset_id.filter(|_| new.channel.uses_template());
        let mp_preset_id = new.mp_preset_id.filter(|_| new.channel.uses_subscribe());
        let source =
            serde_json::to_string(&new.source).map_err(|e| Error::Internal(e.to_string()))?;
        let rhythm_json =
            serde_json::to_string(&rhythm).map_err(|e| Error::Internal(e.to_string()))?;
        let detail = serde_json::json!({
            "account": account.appid,
            "channel": new.channel.as_str(),
            "preset": preset_id,
            "mp_preset": mp_preset_id,
            "source": new.source,
            "rhythm": rhythm,
            "cron": rhythm.cron_expr(),
            "rate_limit": rate_limit,
            "next_run_ms": next_run,
        });
        let id: i64 = {
            let _write = self.write_gate().await;
            on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO schedules (account_id, name, channel, preset_id, mp_preset_id, \
                     source, rhythm, rate_limit, next_run_ms, created_by, created_ms, updated_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
                )
                .bind(account.id)
                .bind(name)
                .bind(new.channel.as_str())
                .bind(preset_id)
                .bind(mp_preset_id)
                .bind(&source)
                .bind(&rhythm_json)
                .bind(rate_limit)
                .bind(next_run)
                .bind(&actor.name)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let mut detail = detail;
                detail["id"] = id.into();
                tx.record_audit(actor, AuditAction::ScheduleCreate, name, &detail)
                    .await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(id)
            })?
        };
        self.schedule(id).await?.ok_or(Error::NotFound)
    }

    /// A rhythm in words with its next runs, and which of them fall in `account`'s quiet hours.
    pub async fn preview_rhythm(
        &self,
        account: &Account,
        rhythm: &Rhythm,
    ) -> Result<RhythmPreview> {
        let tz = self.time_zone().await?;
        let rhythm = rhythm.clone().normalized()?;
        let runs = Runs::new(&rhythm, tz)?;
        let next_runs = runs.upcoming(now_ms(), PREVIEW_RUNS);
        let quiet = match self.send_rules(account.id).await?.quiet_hours {
            Some(q) => next_runs
                .iter()
                .copied()
                .filter(|run| crate::send_rules::quiet_until(q, tz, *run).is_some())
                .collect(),
            None => Vec::new(),
        };
        Ok(RhythmPreview {
            summary: runs.describe(&rhythm),
            next_runs,
            quiet,
            time_zone: tz.name().to_owned(),
        })
    }

    pub async fn schedule(&self, id: i64) -> Result<Option<Schedule>> {
        let sql = format!("{SELECT_SCHEDULE} WHERE s.id = $1");
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, ScheduleRow>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        let tz = self.time_zone().await?;
        row.map(|r| r.into_schedule(tz)).transpose()
    }

    /// An account's recurring sends, soonest next run first.
    pub async fn schedules(&self, account_id: i64) -> Result<Vec<Schedule>> {
        let sql = format!(
            "{SELECT_SCHEDULE} WHERE s.account_id = $1 ORDER BY s.paused, s.next_run_ms, s.id"
        );
        let rows = on_db!(self.db(), |pool| sqlx::query_as::<_, ScheduleRow>(&sql)
            .bind(account_id)
            .fetch_all(pool)
            .await)?;
        let tz = self.time_zone().await?;
        rows.into_iter().map(|r| r.into_schedule(tz)).collect()
    }

    /// The jobs a recurring send created, newest first.
    pub async fn schedule_jobs(&self, id: i64, limit: i64) -> Result<Vec<crate::jobs::Job>> {
        let sql = format!(
            "{} WHERE schedule_id = $1 ORDER BY id DESC LIMIT $2",
            crate::jobs::store::SELECT_JOB
        );
        let rows = on_db!(self.db(), |pool| sqlx::query_as::<
            _,
            crate::jobs::store::JobRow,
        >(&sql)
        .bind(id)
        .bind(limit)
        .fetch_all(pool)
        .await)?;
        Ok(rows.into_iter().map(|r| r.into_job()).collect())
    }

    /// Pauses, resumes or deletes a recurring send (its jobs stay). Resuming runs next at the
    /// rhythm's next time from now: runs that fell while paused are not made up. Audited in
    /// the same transaction; `None` once deleted.
    pub async fn control_schedule(
        &self,
        actor: &Actor,
        id: i64,
        action: ScheduleAction,
    ) -> Result<Option<Schedule>> {
        let schedule = self.schedule(id).await?.ok_or(Error::NotFound)?;
        let now = now_ms();
        // Only resuming needs the next run: the next time from now.
        let next_run = match action {
            ScheduleAction::Resume => Runs::new(&schedule.rhythm, self.time_zone().await?)?
                .next_after(now)
                .ok_or(Error::refused("cron", Problem::CronFormat))?,
            _ => schedule.next_run_ms,
        };
        let (audit, detail) = match action {
            ScheduleAction::Pause => (AuditAction::SchedulePause, serde_json::json!({ "id": id })),
            ScheduleAction::Resume => (
                AuditAction::ScheduleResume,
                serde_json::json!({ "id": id, "next_run_ms": next_run }),
            ),
            ScheduleAction::Delete => (
                AuditAction::ScheduleDelete,
                serde_json::json!({ "id": id, "cron": schedule.rhythm.cron_expr() }),
            ),
        };
        {
            let _write = self.write_gate().await;
            on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                let query = match action {
                    ScheduleAction::Pause => sqlx::query(
                        "UPDATE schedules SET paused = TRUE, updated_ms = $2 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(now),
                    ScheduleAction::Resume => sqlx::query(
                        "UPDATE schedules SET paused = FALSE, next_run_ms = $3, updated_ms = $2 \
                         WHERE id = $1",
                    )
                    .bind(id)
                    .bind(now)
                    .bind(next_run),
                    ScheduleAction::Delete => {
                        sqlx::query("DELETE FROM schedules WHERE id = $1").bind(id)
                    }
                };
                let changed = query.execute(&mut *tx).await?.rows_affected();
                if changed == 1 {
                    tx.record_audit(actor, audit, &schedule.name, &detail)
                        .await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(())
            })?;
        }
        self.schedule(id).await
    }

    /// Runs every recurring send that is due at `now`, each once whichever process gets
    /// there: the job of a run is unique per (schedule, run time), and the next run moves on
    /// with a guarded update. A run that falls due after downtime runs once and counts the
    /// runs it stands for. A run the rules refuse (nobody to receive, a deleted preset) moves
    /// on too, and says why on the schedule.
    pub async fn run_due_schedules(&self, now: i64) -> Result<Vec<RunOutcome>> {
        let sql = format!(
            "{SELECT_SCHEDULE} WHERE NOT s.paused AND s.next_run_ms <= $1 ORDER BY s.next_run_ms, s.id"
        );
        let due = on_db!(self.db(), |pool| sqlx::query_as::<_, ScheduleRow>(&sql)
            .bind(now)
            .fetch_all(pool)
            .await)?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let tz = self.time_zone().await?;
        let mut outcomes = Vec::new();
        for row in due {
            let (id, run_ms) = (row.id, row.next_run_ms);
            // One unreadable schedule does not hold up the others (each was checked when saved).
            let (schedule, runs) = match row
                .into_schedule(tz)
                .and_then(|s| Runs::new(&s.rhythm, tz).map(|r| (s, r)))
            {
                Ok(both) => both,
                Err(e) => {
                    tracing::warn!(schedule = id, error = %e, "a recurring send cannot run");
                    continue;
                }
            };
            let skipped = runs.count_between(run_ms, now);
            let next_run = runs.next_after(now).unwrap_or(i64::MAX);
            let Some(account) = self.account(schedule.account_id).await? else {
                continue;
            };
            // The job is the schedule creator's (so approval still takes another admin).
            let actor = Actor {
                id: None,
                name: schedule.created_by.clone(),
                ip: String::new(),
            };
            let new = NewJob {
                name: run_job_name(&schedule.name, run_ms, tz),
                channel: schedule.channel,
                preset_id: schedule.preset_id,
                mp_preset_id: schedule.mp_preset_id,
                source: schedule.source.clone(),
                rate_limit: schedule.rate_limit,
                start_at_ms: None,
            };
            let run = ScheduleRun {
                schedule_id: schedule.id,
                run_ms,
                skipped,
            };
            let (job_id, refusal) = match self
                .create_job_run(&actor, &account, &new, Some(run))
                .await
            {
                Ok(job) => (Some(job.id), None),
                // Another process made this run's job.
                Err(Error::Db(e)) if Error::is_unique_violation(&e) => (None, None),
                Err(Error::Refused(r)) => (None, Some(r)),
                Err(Error::NotFound) => (None, Some(Refusal::new("preset", Problem::PresetGone))),
                Err(Error::InvalidPreset(_) | Error::TemplateRemoved) => {
                    (None, Some(Refusal::new("preset", Problem::PresetUnusable)))
                }
                Err(e) => {
                    tracing::warn!(schedule = schedule.id, error = %e, "a recurring send's run failed");
                    (
                        None,
                        Some(Refusal::new("schedule", Problem::ScheduleRunFailed)),
                    )
                }
            };
            let refusal_json = refusal
                .as_ref()
                .map(|r| serde_json::to_string(r).unwrap_or_default());
            let detail = serde_json::json!({
                "id": schedule.id,
                "run_ms": run_ms,
                "missed_runs": skipped,
                "refusal": refusal,
                "next_run_ms": next_run,
            });
            {
                let _write = self.write_gate().await;
                on_db!(self.db(), |pool| {
                    let mut tx = pool.begin().await?;
                    // The job (whoever made it) is found by its run; only one process moves on.
                    let moved = sqlx::query(
                        "UPDATE schedules SET next_run_ms = $3, last_run_ms = $2, \
                         last_job_id = (SELECT id FROM jobs WHERE schedule_id = $1 \
                         AND schedule_run_ms = $2), last_skipped = $4, last_refusal = $5, \
                         updated_ms = $6 WHERE id = $1 AND next_run_ms = $2 AND NOT paused",
                    )
                    .bind(schedule.id)
                    .bind(run_ms)
                    .bind(next_run)
                    .bind(skipped)
                    .bind(&refusal_json)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if moved == 1 {
                        tx.record_audit(
                            &Actor::system(),
                            AuditAction::ScheduleRun,
                            &schedule.name,
                            &detail,
                        )
                        .await?;
                    }
                    tx.commit().await?;
                    Ok::<_, sqlx::Error>(())
                })?;
            }
            outcomes.push(RunOutcome {
                schedule_id: schedule.id,
                run_ms,
                job_id,
                refusal,
                skipped,
            });
        }
        Ok(outcomes)
    }
}

//! Scheduled jobs (已计划): a job created with a start time waits, paused for `scheduled`,
//! until a dispatcher's pass starts it — once, whichever process gets there first, and at once
//! after a restart if it fell due meanwhile. Until then its time, name and rate can change.

use chrono::{NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use model::{rules, AuditAction, JobAction, Problem};

use crate::audit::{Actor, RecordAudit};
use crate::{on_db, Engine, Error, Result};

use super::{Job, JobState, PauseReason};

/// A job may be scheduled at most this far ahead.
pub const START_AHEAD_MAX_MS: i64 = 366 * 24 * 60 * 60 * 1000;

/// What can change on a job before it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSchedule {
    pub start_at_ms: i64,
    pub name: String,
    /// Messages per second (0 = [`rules::DEFAULT_RATE_LIMIT`]).
    pub rate_limit: i64,
}

/// Refuses a start time that is not after `now` or more than a year ahead.
pub fn check_start_time(start_at_ms: i64, now: i64) -> Result<()> {
    if start_at_ms <= now || start_at_ms - now > START_AHEAD_MAX_MS {
        return Err(Error::refused("start_at", Problem::StartTime));
    }
    Ok(())
}

/// A time as the console's form writes it (`2026-12-31T09:00`, a space also taken) in `tz`;
/// a time that does not exist there (a DST gap) is refused like a malformed one.
pub fn parse_local_time(text: &str, tz: Tz) -> Result<i64> {
    let text = text.trim().replace(' ', "T");
    let naive = NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S"))
        .map_err(|_| Error::refused("start_at", Problem::StartTimeFormat))?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.timestamp_millis())
        .ok_or(Error::refused("start_at", Problem::StartTimeFormat))
}

/// `ms` in `tz` as the form writes it (`2026-12-31T09:00`).
pub fn format_local_time(ms: i64, tz: Tz) -> String {
    tz.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

impl Engine {
    /// Starts every scheduled job whose time has come (audited `job.start` by the system, in
    /// the same transaction); returns their ids. With several processes, a guarded update
    /// means each job is started by exactly one.
    pub async fn start_due_jobs(&self, now: i64) -> Result<Vec<i64>> {
        let scheduled = PauseReason::Scheduled.to_stored();
        let due: Vec<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT id FROM jobs WHERE state = 'paused' AND pause_reason = $1 \
             AND start_at_ms <= $2 ORDER BY start_at_ms, id"
        )
        .bind(&scheduled)
        .bind(now)
        .fetch_all(pool)
        .await)?;
        if due.is_empty() {
            return Ok(due);
        }
        let started = {
            let _write = self.write_gate().await;
            on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                let mut started = Vec::new();
                for id in &due {
                    let name: Option<(String, Option<i64>)> = sqlx::query_as(
                        "UPDATE jobs SET state = 'running', pause_reason = NULL, updated_ms = $1 \
                         WHERE id = $2 AND state = 'paused' AND pause_reason = $3 \
                         RETURNING name, start_at_ms",
                    )
                    .bind(now)
                    .bind(id)
                    .bind(&scheduled)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some((name, start_at)) = name {
                        let detail = serde_json::json!({
                            "id": id,
                            "start_at_ms": start_at,
                            "late_ms": start_at.map(|s| now - s),
                        });
                        tx.record_audit(&Actor::system(), AuditAction::JobStart, &name, &detail)
                            .await?;
                        started.push(*id);
                    }
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(started)
            })?
        };
        for id in &started {
            self.jobs_shared().set_state(*id, JobState::Running);
        }
        if !started.is_empty() {
            self.jobs_shared().wake();
        }
        Ok(started)
    }

    /// Changes a job's start time, name and rate before it starts (scheduled, or awaiting
    /// approval with a start time). Audited `job.reschedule` with what changed.
    pub async fn reschedule_job(
        &self,
        actor: &Actor,
        id: i64,
        change: &JobSchedule,
    ) -> Result<Job> {
        let job = self.job(id).await?.ok_or(Error::NotFound)?;
        let waiting = job.state == JobState::Paused
            && job.start_at_ms.is_some()
            && matches!(
                job.pause_reason,
                Some(PauseReason::Scheduled | PauseReason::Approval)
            );
        if !waiting {
            return Err(Error::refused(
                "state",
                Problem::JobState {
                    state: job.state,
                    action: JobAction::Reschedule,
                },
            ));
        }
        let name = change.name.trim();
        rules::job_name(name).map_err(|p| Error::refused("job_name", p))?;
        let rate_limit = match change.rate_limit {
            0 => rules::DEFAULT_RATE_LIMIT,
            r => {
                rules::rate_limit(r).map_err(|p| Error::refused("rate_limit", p))?;
                r
            }
        };
        let now = crate::now_ms();
        check_start_time(change.start_at_ms, now)?;
        let detail = serde_json::json!({
            "id": id,
            "start_at_ms": { "from": job.start_at_ms, "to": change.start_at_ms },
            "name": { "from": job.name, "to": name },
            "rate_limit": { "from": job.rate_limit, "to": rate_limit },
        });
        let changed = {
            let _write = self.write_gate().await;
            on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                let changed = sqlx::query(
                    "UPDATE jobs SET start_at_ms = $1, name = $2, rate_limit = $3, updated_ms = $4 \
                     WHERE id = $5 AND state = 'paused' AND pause_reason IN ($6, $7)",
                )
                .bind(change.start_at_ms)
                .bind(name)
                .bind(rate_limit)
                .bind(now)
                .bind(id)
                .bind(PauseReason::Scheduled.to_stored())
                .bind(PauseReason::Approval.to_stored())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed == 0 {
                    tx.rollback().await?;
                } else {
                    tx.record_audit(actor, AuditAction::JobReschedule, name, &detail)
                        .await?;
                    tx.commit().await?;
                }
                Ok::<_, sqlx::Error>(changed)
            })?
        };
        let after = self.job(id).await?.ok_or(Error::NotFound)?;
        if changed == 0 {
            // Started, or cancelled, meanwhile.
            return Err(Error::refused(
                "state",
                Problem::JobState {
                    state: after.state,
                    action: JobAction::Reschedule,
                },
            ));
        }
        Ok(after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_read_and_write_in_the_console_time_zone() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap();
        let ms = parse_local_time("2026-12-31T09:00", tz).unwrap();
        assert_eq!(ms, 1_798_678_800_000, "01:00 UTC");
        assert_eq!(parse_local_time("2026-12-31 09:00", tz).unwrap(), ms);
        assert_eq!(format_local_time(ms, tz), "2026-12-31T09:00");
        let london: Tz = "Europe/London".parse().unwrap();
        assert_eq!(format_local_time(ms, london), "2026-12-31T01:00");
        assert!(matches!(
            parse_local_time("明天九点", tz),
            Err(Error::Refused(r)) if r.problem == Problem::StartTimeFormat
        ));
        // 01:30 does not exist in London on the last Sunday of March.
        assert!(parse_local_time("2027-03-28T01:30", london).is_err());
    }

    #[test]
    fn a_start_time_is_in_the_future_and_within_a_year() {
        assert!(check_start_time(1_001, 1_000).is_ok());
        assert!(check_start_time(1_000, 1_000).is_err());
        assert!(check_start_time(1_000 + START_AHEAD_MAX_MS + 1, 1_000).is_err());
    }
}

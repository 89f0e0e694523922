//! The operator's controls of a job: pause, resume, approve, cancel, retry failed rows — each a
//! state change guarded on the state it expects, audited in the same transaction.

use model::{JobAction, Problem};

use crate::audit::{Actor, AuditAction, RecordAudit};
use crate::{now_ms, on_db, Engine, Error, Result};

use super::store::start_detail;
use super::{Job, JobState, PauseReason};

fn state_error(job: &Job, action: JobAction) -> Error {
    Error::refused(
        "state",
        Problem::JobState {
            state: job.state,
            action,
        },
    )
}

impl Engine {
    /// Moves a job from one state to another, with the audit entry `action` (target: the job's
    /// name) in the same transaction; `Ok(None)` when it was not in `from`.
    async fn transition(
        &self,
        id: i64,
        from: &[JobState],
        to: JobState,
        pause_reason: Option<PauseReason>,
        (actor, action, detail): (&Actor, AuditAction, serde_json::Value),
    ) -> Result<Option<Job>> {
        let now = now_ms();
        let finished = matches!(to, JobState::Done | JobState::Cancelled).then_some(now);
        let from_list = from
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE jobs SET state = $1, pause_reason = $2, finished_ms = $3, updated_ms = $4 \
             WHERE id = $5 AND state IN ({from_list}) RETURNING name"
        );
        let changed = {
            let _write = self.write_gate().await;
            on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                let name: Option<String> = sqlx::query_scalar(&sql)
                    .bind(to.as_str())
                    .bind(pause_reason.map(PauseReason::to_stored))
                    .bind(finished)
                    .bind(now)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(name) = &name {
                    tx.record_audit(actor, action, name, &detail).await?;
                    tx.commit().await?;
                } else {
                    tx.rollback().await?;
                }
                name.is_some()
            })
        };
        if !changed {
            return Ok(None);
        }
        self.jobs_shared().set_state(id, to);
        self.job(id).await
    }

    /// Stops claiming the job's rows (sends in flight finish). Paused for [`PauseReason::Staff`].
    pub async fn pause_job(&self, actor: &Actor, id: i64) -> Result<()> {
        let job = self.job(id).await?.ok_or(Error::NotFound)?;
        if job.state == JobState::Paused {
            return Ok(());
        }
        let entry = (
            actor,
            AuditAction::JobPause,
            serde_json::json!({ "id": id }),
        );
        let paused = self
            .transition(
                id,
                &[JobState::Running],
                JobState::Paused,
                Some(PauseReason::Staff),
                entry,
            )
            .await?;
        if paused.is_none() {
            let now = self.job(id).await?.ok_or(Error::NotFound)?;
            return if now.state == JobState::Paused {
                Ok(())
            } else {
                Err(state_error(&now, JobAction::Pause))
            };
        }
        Ok(())
    }

    /// Continues a paused job (whatever paused it, the daily quota included) — except one
    /// waiting for approval, which only [`Engine::approve_job`] starts.
    pub async fn resume_job(&self, actor: &Actor, id: i64) -> Result<()> {
        let before = self.job(id).await?.ok_or(Error::NotFound)?;
        if before.state == JobState::Running {
            return Ok(());
        }
        if before.awaiting_approval() {
            return Err(Error::refused("state", Problem::AwaitingApproval));
        }
        let detail = serde_json::json!({
            "id": id,
            "pause_reason": before.pause_reason.map(PauseReason::to_stored),
        });
        let resumed = self
            .transition(
                id,
                &[JobState::Paused],
                JobState::Running,
                None,
                (actor, AuditAction::JobResume, detail),
            )
            .await?;
        if resumed.is_none() {
            let now = self.job(id).await?.ok_or(Error::NotFound)?;
            return if now.state == JobState::Running {
                Ok(())
            } else {
                Err(state_error(&now, JobAction::Resume))
            };
        }
        self.jobs_shared().wake();
        Ok(())
    }

    /// Lets a job that waits for approval start. `actor` must be an admin (the caller checks the
    /// role) other than the one who created the job.
    pub async fn approve_job(&self, actor: &Actor, id: i64) -> Result<Job> {
        let job = self.job(id).await?.ok_or(Error::NotFound)?;
        if !job.awaiting_approval() {
            return Err(Error::refused("state", Problem::NotAwaitingApproval));
        }
        if job.created_by == actor.name {
            return Err(Error::refused("approver", Problem::OwnJob));
        }
        let now = now_ms();
        let detail = serde_json::json!({ "id": id, "created_by": job.created_by, "will_receive": job.will_receive });
        // Approved before its start time, a scheduled job goes on waiting for it.
        let waits = job.start_at_ms.is_some_and(|t| t > now);
        let (state, reason) = if waits {
            (JobState::Paused, Some(PauseReason::Scheduled.to_stored()))
        } else {
            (JobState::Running, None)
        };
        let changed = {
            let _write = self.write_gate().await;
            on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                let changed = sqlx::query(
                    "UPDATE jobs SET state = $5, pause_reason = $6, approved_by = $1, \
                     approved_ms = $2, updated_ms = $2 \
                     WHERE id = $3 AND state = 'paused' AND pause_reason = $4",
                )
                .bind(&actor.name)
                .bind(now)
                .bind(id)
                .bind(PauseReason::Approval.to_stored())
                .bind(state.as_str())
                .bind(&reason)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed == 0 {
                    tx.rollback().await?;
                } else {
                    tx.record_audit(actor, AuditAction::JobApprove, &job.name, &detail)
                        .await?;
                    if !waits {
                        tx.record_audit(actor, AuditAction::JobStart, &job.name, &start_detail(id))
                            .await?;
                    }
                    tx.commit().await?;
                }
                changed
            })
        };
        if changed == 0 {
            // Approved, or cancelled, by someone else meanwhile.
            let now = self.job(id).await?.ok_or(Error::NotFound)?;
            return Err(state_error(&now, JobAction::Approve));
        }
        self.jobs_shared().set_state(id, state);
        self.jobs_shared().wake();
        self.job(id).await?.ok_or(Error::NotFound)
    }

    /// Ends a job: its pending rows become `cancelled`; sends in flight finish.
    pub async fn cancel_job(&self, actor: &Actor, id: i64) -> Result<()> {
        let job = self.job(id).await?.ok_or(Error::NotFound)?;
        match job.state {
            JobState::Cancelled => return Ok(()),
            JobState::Done => return Err(state_error(&job, JobAction::Cancel)),
            JobState::Running | JobState::Paused => {}
        }
        let now = now_ms();
        let changed = {
            let _write = self.write_gate().await;
            on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                let changed = sqlx::query(
                    "UPDATE jobs SET state = 'cancelled', pause_reason = NULL, finished_ms = $1, \
                     updated_ms = $1 WHERE id = $2 AND state IN ('running', 'paused')",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let rows = sqlx::query(
                    "UPDATE job_recipients SET state = 'cancelled', updated_ms = $1 \
                     WHERE job_id = $2 AND state = 'pending'",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                // Only a job this call cancels is audited (the rows swept for a job cancelled
                // meanwhile are not a change of its state).
                if changed != 0 {
                    let detail = serde_json::json!({ "id": id, "cancelled_rows": rows });
                    tx.record_audit(actor, AuditAction::JobCancel, &job.name, &detail)
                        .await?;
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(changed)
            })?
        };
        if changed == 0 {
            let now = self.job(id).await?.ok_or(Error::NotFound)?;
            return if now.state == JobState::Cancelled {
                Ok(())
            } else {
                Err(state_error(&now, JobAction::Cancel))
            };
        }
        self.jobs_shared().set_state(id, JobState::Cancelled);
        Ok(())
    }

    /// Puts the failed rows back in the queue (not the `unknown` ones: those may have been
    /// delivered) and runs the job again; returns how many.
    pub async fn retry_failed(&self, actor: &Actor, id: i64) -> Result<i64> {
        let job = self.job(id).await?.ok_or(Error::NotFound)?;
        if job.state == JobState::Cancelled {
            return Err(state_error(&job, JobAction::RetryFailed));
        }
        let now = now_ms();
        let rows = {
            let _write = self.write_gate().await;
            on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                // Their failures stay on record (the job page lists them with the row).
                sqlx::query(
                    "INSERT INTO recipient_failures (job_id, seq, retried_ms, failed_ms, attempts, \
                     errcode, errmsg) SELECT job_id, seq, $1, completed_ms, attempts, errcode, \
                     errmsg FROM job_recipients WHERE job_id = $2 AND state = 'failed'",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                let rows = sqlx::query(
                    "UPDATE job_recipients SET state = 'pending', next_try_ms = 0, errcode = NULL, \
                     errmsg = NULL, completed_ms = NULL, updated_ms = $1 \
                     WHERE job_id = $2 AND state = 'failed'",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if rows > 0 {
                    sqlx::query(
                        "UPDATE jobs SET state = 'running', pause_reason = NULL, finished_ms = NULL, \
                         updated_ms = $1 WHERE id = $2 AND state <> 'cancelled'",
                    )
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                let rows = rows as i64;
                let detail = serde_json::json!({ "id": id, "rows": rows });
                tx.record_audit(actor, AuditAction::JobRetryFailed, &job.name, &detail)
                    .await?;
                tx.commit().await?;
                Ok::<_, sqlx::Error>(rows)
            })?
        };
        if rows > 0 {
            self.jobs_shared().set_state(id, JobState::Running);
            self.jobs_shared().wake();
        }
        Ok(rows)
    }
}

//! Console settings admins change at run time, kept in the database so every process sees them:
//! the recipient count above which a job waits for a second admin's approval.

use crate::audit::AuditAction;
use crate::audit::{Actor, RecordAudit};
use crate::{now_ms, on_db, Engine, Error, Result};

/// Jobs reaching more people than this wait for approval unless an admin set another value.
pub const DEFAULT_APPROVAL_THRESHOLD: i64 = 10_000;

const APPROVAL_THRESHOLD: &str = "approval_threshold";

impl Engine {
    /// Jobs that will reach more recipients than this wait for a second admin; 0 = every job.
    pub async fn approval_threshold(&self) -> Result<i64> {
        let value: Option<String> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT value FROM app_settings WHERE key = $1"
        )
        .bind(APPROVAL_THRESHOLD)
        .fetch_optional(pool)
        .await)?;
        Ok(value
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_APPROVAL_THRESHOLD))
    }

    /// Sets the approval threshold (admins; the caller checks the role). Audited.
    pub async fn set_approval_threshold(&self, actor: &Actor, threshold: i64) -> Result<()> {
        model::rules::approval_threshold(threshold)
            .map_err(|p| Error::refused("approval_threshold", p))?;
        let before = self.approval_threshold().await?;
        let detail = serde_json::json!({ "from": before, "to": threshold });
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO app_settings (key, value, updated_by, updated_ms) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
                 updated_by = EXCLUDED.updated_by, updated_ms = EXCLUDED.updated_ms",
            )
            .bind(APPROVAL_THRESHOLD)
            .bind(threshold.to_string())
            .bind(&actor.name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            let action = AuditAction::SettingsApprovalThreshold;
            tx.record_audit(actor, action, APPROVAL_THRESHOLD, &detail)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }
}

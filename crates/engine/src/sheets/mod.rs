//! Spreadsheets of per-person values: an upload is parsed once ([`parse`]), kept for a day for
//! its review, and each of its rows becomes a job row with its own message ([`render`]).

pub mod parse;
pub mod render;

use model::sheet::{PersonColumn, SheetSummary, SHEET_BYTES_MAX};
use model::{AccountKind, Channel, JobAction, JobState, Problem};

use crate::accounts::Account;
use crate::{now_ms, on_db, Engine, Error, Result};

pub use parse::{parse_sheet, Sheet, SheetRow};

/// An upload is kept this long for its review; jobs keep their own copy of the rows.
pub const SHEET_KEEP_MS: i64 = 24 * 60 * 60 * 1000;
/// File names are kept up to this many characters.
const FILE_NAME_MAX: usize = 100;

/// A stored row: line, person, values.
type StoredRow = (usize, String, Vec<String>);

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: i64,
    file_name: String,
    person: String,
    columns: String,
    row_count: i64,
    created_ms: i64,
}

impl SummaryRow {
    fn into_summary(self) -> Result<SheetSummary> {
        let person = PersonColumn::parse(&self.person)
            .ok_or_else(|| Error::Internal(format!("sheet {}: person column", self.id)))?;
        let columns = serde_json::from_str(&self.columns)
            .map_err(|e| Error::Internal(format!("sheet {}: columns: {e}", self.id)))?;
        Ok(SheetSummary {
            id: self.id,
            file_name: self.file_name,
            person,
            columns,
            rows: self.row_count,
            created_ms: self.created_ms,
        })
    }
}

impl Engine {
    /// Parses an uploaded file for `account` and keeps it for its review. A file that is not a
    /// spreadsheet, too large, or without a usable header is refused with the line and column
    /// at fault; nothing is kept then. Uploads older than a day are dropped on the way.
    pub async fn upload_sheet(
        &self,
        account: &Account,
        uploaded_by: &str,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<SheetSummary> {
        if account.kind != AccountKind::Oa {
            return Err(Error::refused("account", Problem::OfficialAccountOnly));
        }
        if bytes.len() > SHEET_BYTES_MAX {
            return Err(Error::refused("file", Problem::TooLarge(SHEET_BYTES_MAX)));
        }
        // Parsing a large workbook takes a while: off the async workers.
        let owned = bytes.to_vec();
        let sheet = tokio::task::spawn_blocking(move || parse_sheet(&owned))
            .await
            // A reader that gives up on a malformed file by panicking: still not a spreadsheet.
            .map_err(|e| match e.is_panic() {
                true => Error::refused("file", Problem::NotASpreadsheet),
                false => Error::Internal(format!("sheet parsing: {e}")),
            })??;
        if sheet.rows.is_empty() {
            return Err(Error::refused("file", Problem::NoRecipients));
        }
        let rows: Vec<StoredRow> = sheet
            .rows
            .into_iter()
            .map(|r| (r.line, r.person, r.values))
            .collect();
        self.keep_sheet(
            account,
            uploaded_by,
            file_name,
            sheet.person,
            sheet.columns,
            rows,
        )
        .await
    }

    /// A finished template-message job's failed and unknown rows as an upload of their own,
    /// for a new job after its review ("以失败和未知新建任务"): each row keeps its person (the
    /// OA openid), its values and its line in the original file (else its place in the job).
    pub async fn sheet_of_failures(
        &self,
        account: &Account,
        uploaded_by: &str,
        job_id: i64,
    ) -> Result<SheetSummary> {
        let job = self
            .job(job_id)
            .await?
            .filter(|j| j.account_id == account.id)
            .ok_or(Error::NotFound)?;
        if !matches!(job.state, JobState::Done | JobState::Cancelled) {
            return Err(Error::refused(
                "state",
                Problem::JobState {
                    state: job.state,
                    action: JobAction::NewFromFailures,
                },
            ));
        }
        if job.channel != Channel::Template {
            return Err(Error::refused("channel", Problem::SheetTemplateOnly));
        }
        let found: Vec<(i64, String, Option<i64>, Option<String>)> =
            on_db!(self.db(), |pool| sqlx::query_as(
                "SELECT seq, openid, line, vars FROM job_recipients WHERE job_id = $1 \
                 AND state IN ('failed', 'unknown') AND openid <> '' ORDER BY seq"
            )
            .bind(job_id)
            .fetch_all(pool)
            .await)?;
        if found.is_empty() {
            return Err(Error::refused("recipients", Problem::NoRecipients));
        }
        let mut rows: Vec<StoredRow> = Vec::with_capacity(found.len());
        for (seq, openid, line, vars) in found {
            let values: Vec<String> = match vars {
                Some(v) => serde_json::from_str(&v)
                    .map_err(|e| Error::Internal(format!("job {job_id} row {seq}: {e}")))?,
                None => Vec::new(),
            };
            rows.push((line.unwrap_or(seq) as usize, openid, values));
        }
        let file_name = format!("#{job_id} {} · 失败和未知 / failed and unknown", job.name);
        self.keep_sheet(
            account,
            uploaded_by,
            &file_name,
            PersonColumn::Openid,
            job.columns,
            rows,
        )
        .await
    }

    /// Keeps parsed rows for their review (a day), dropping older uploads on the way.
    async fn keep_sheet(
        &self,
        account: &Account,
        uploaded_by: &str,
        file_name: &str,
        person: PersonColumn,
        columns: Vec<String>,
        rows: Vec<StoredRow>,
    ) -> Result<SheetSummary> {
        let file_name: String = file_name.trim().chars().take(FILE_NAME_MAX).collect();
        let columns_json =
            serde_json::to_string(&columns).map_err(|e| Error::Internal(e.to_string()))?;
        let row_count = rows.len() as i64;
        let rows = serde_json::to_string(&rows).map_err(|e| Error::Internal(e.to_string()))?;
        let now = now_ms();
        let _turn = self.write_gate().await;
        let id: i64 = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM sheet_uploads WHERE created_ms < $1")
                .bind(now - SHEET_KEEP_MS)
                .execute(&mut *tx)
                .await?;
            let id = sqlx::query_scalar(
                "INSERT INTO sheet_uploads (account_id, file_name, person, columns, row_count, \
                 rows, created_by, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 RETURNING id",
            )
            .bind(account.id)
            .bind(&file_name)
            .bind(person.as_str())
            .bind(&columns_json)
            .bind(row_count)
            .bind(&rows)
            .bind(uploaded_by)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<i64, sqlx::Error>(id)
        })?;
        Ok(SheetSummary {
            id,
            file_name,
            person,
            columns,
            rows: row_count,
            created_ms: now,
        })
    }

    /// An upload of `account` (`NotFound` for another account's or one dropped after a day).
    pub async fn sheet_summary(&self, account: &Account, id: i64) -> Result<SheetSummary> {
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, SummaryRow>(
            "SELECT id, file_name, person, columns, row_count, created_ms FROM sheet_uploads \
             WHERE id = $1 AND account_id = $2"
        )
        .bind(id)
        .bind(account.id)
        .fetch_optional(pool)
        .await)?;
        row.ok_or(Error::NotFound)?.into_summary()
    }

    /// An upload with its rows.
    pub(crate) async fn load_sheet(
        &self,
        account: &Account,
        id: i64,
    ) -> Result<(SheetSummary, Vec<SheetRow>)> {
        let summary = self.sheet_summary(account, id).await?;
        let text: String = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT rows FROM sheet_uploads WHERE id = $1"
        )
        .bind(id)
        .fetch_one(pool)
        .await)?;
        let rows: Vec<StoredRow> = serde_json::from_str(&text)
            .map_err(|e| Error::Internal(format!("sheet {id}: rows: {e}")))?;
        let rows = rows
            .into_iter()
            .map(|(line, person, values)| SheetRow {
                line,
                person,
                values,
            })
            .collect();
        Ok((summary, rows))
    }
}

//! Each row's own message: the preset filled with the row's values, checked with the rules the
//! editor uses, and the review of a whole file against a preset before a job is created.

use std::collections::BTreeMap;

use message::{fill_preset, preset_variables, template_payload, validate_preset, TemplateSpec};
use model::sheet::{
    RowIssue, SheetReview, SheetSample, SheetSummary, SkippedLine, REVIEW_ISSUES_MAX,
    REVIEW_SAMPLES, REVIEW_SKIPPED_MAX,
};
use model::wechat_message::TemplateMessage;
use model::{AccountKind, Problem, SkipReason};

use crate::accounts::Account;
use crate::jobs::plan::Resolved;
use crate::jobs::DEFAULT_DAILY_QUOTA;
use crate::templates::presets::{template_flavor, Preset, Variables};
use crate::templates::StoredTemplate;
use crate::{Engine, Error, Result};

use super::SheetRow;

/// A template-message preset ready to be filled row by row.
pub(crate) struct SheetMessage {
    pub preset: Preset,
    pub template: StoredTemplate,
    /// AppIDs its messages may open.
    pub linked: Vec<String>,
    pub variables: Vec<String>,
}

impl SheetMessage {
    /// The variables without a column in `columns`.
    pub(crate) fn missing(&self, columns: &[String]) -> Vec<String> {
        self.variables
            .iter()
            .filter(|v| !columns.contains(v))
            .cloned()
            .collect()
    }

    /// The row's message (touser left empty), or every rule its values break.
    pub(crate) fn render(
        &self,
        columns: &[String],
        row: &SheetRow,
    ) -> std::result::Result<TemplateMessage, Vec<RowIssue>> {
        let values: BTreeMap<&str, &str> = columns
            .iter()
            .map(String::as_str)
            .zip(row.values.iter().map(String::as_str))
            .collect();
        let body = fill_preset(&self.preset.body, &values);
        let spec = TemplateSpec {
            fields: &self.template.fields,
            enums: &self.template.remote.enums,
            flavor: template_flavor(&self.template),
            linked_appids: &self.linked,
        };
        let issues = validate_preset(&body, &spec);
        if !issues.is_empty() {
            return Err(issues
                .into_iter()
                .map(|issue| {
                    let field = issue
                        .field
                        .strip_prefix("value.")
                        .or_else(|| issue.field.strip_prefix("color."))
                        .unwrap_or(&issue.field)
                        .to_owned();
                    let label = self
                        .template
                        .fields
                        .iter()
                        .find(|f| f.key == field)
                        .map(|f| f.label.clone())
                        .unwrap_or_default();
                    RowIssue {
                        line: row.line,
                        field,
                        label,
                        problem: issue.problem,
                    }
                })
                .collect());
        }
        Ok(template_payload(
            "",
            &self.template.remote.template_id,
            &self.template.fields,
            &body,
            None,
        ))
    }
}

/// A file's rows against a preset: every job row with its own message, values and line, and
/// what the review lists.
pub(crate) struct SheetPlan {
    pub summary: SheetSummary,
    pub resolved: Resolved,
    pub missing: Vec<String>,
    pub bad_rows: i64,
    /// The first [`REVIEW_ISSUES_MAX`] problems.
    pub issues: Vec<RowIssue>,
    /// The first rows that will be sent, with their messages.
    pub samples: Vec<SheetSample>,
    /// The first [`REVIEW_SKIPPED_MAX`] rows left out for who they name.
    pub skipped_lines: Vec<SkippedLine>,
}

impl Engine {
    /// A template-message preset of `account` as a spreadsheet sends it: its variables may be
    /// left for the rows to fill; a subscribe-message preset is refused.
    pub(crate) async fn sheet_message(
        &self,
        account: &Account,
        preset_id: i64,
    ) -> Result<SheetMessage> {
        let preset = self
            .preset(preset_id)
            .await?
            .filter(|p| p.account_id == account.id)
            .ok_or(Error::NotFound)?;
        let template = self
            .sendable_template(account, &preset, AccountKind::Oa, Variables::PerRow)
            .await
            .map_err(|e| match e {
                Error::Refused(r) if r.problem == Problem::WrongPresetKind => {
                    Error::refused("preset", Problem::SheetTemplateOnly)
                }
                e => e,
            })?;
        let linked = self.linked_appids(account).await?;
        let variables = preset_variables(&preset.body, &template.fields);
        Ok(SheetMessage {
            preset,
            template,
            linked,
            variables,
        })
    }

    /// Every row of upload `sheet_id` as a job would hold it: the person resolved, the message
    /// rendered, a row whose values break a rule left out as `bad_values`.
    pub(crate) async fn plan_sheet(
        &self,
        account: &Account,
        sheet_id: i64,
        message: &SheetMessage,
    ) -> Result<SheetPlan> {
        let (summary, rows) = self.load_sheet(account, sheet_id).await?;
        let missing = message.missing(&summary.columns);
        let mut resolved = self
            .resolve_sheet_people(account, summary.person, &rows)
            .await?;
        let mut issues = Vec::new();
        let mut bad_rows = 0;
        let mut samples = Vec::new();
        for (planned, row) in resolved.rows.iter_mut().zip(&rows) {
            planned.line = Some(row.line as i64);
            planned.vars = serde_json::to_string(&row.values).ok();
            if !missing.is_empty() {
                continue;
            }
            match message.render(&summary.columns, row) {
                Ok(msg) => {
                    if planned.skip.is_none() && samples.len() < REVIEW_SAMPLES {
                        samples.push(SheetSample {
                            line: row.line,
                            values: summary
                                .columns
                                .iter()
                                .cloned()
                                .zip(row.values.iter().cloned())
                                .collect(),
                            message: msg.clone(),
                        });
                    }
                    planned.payload = Some(msg.to_json().to_string());
                }
                Err(found) => {
                    bad_rows += 1;
                    planned.issues = serde_json::to_string(&found).ok();
                    if planned.skip.is_none() {
                        planned.skip = Some(SkipReason::BadValues);
                    }
                    let room = REVIEW_ISSUES_MAX.saturating_sub(issues.len());
                    issues.extend(found.into_iter().take(room));
                }
            }
        }
        crate::jobs::plan::mark_repeats(&mut resolved.rows);
        let skipped_lines = resolved
            .rows
            .iter()
            .zip(&rows)
            .filter_map(|(planned, row)| match planned.skip {
                None | Some(SkipReason::BadValues) => None,
                Some(reason) => Some(SkippedLine {
                    line: row.line,
                    person: row.person.clone(),
                    reason,
                }),
            })
            .take(REVIEW_SKIPPED_MAX)
            .collect();
        Ok(SheetPlan {
            summary,
            resolved,
            missing,
            bad_rows,
            issues,
            samples,
            skipped_lines,
        })
    }

    /// What sending preset `preset_id` with the values of upload `sheet_id` would do: bad
    /// lines by field, missing columns, who cannot be reached and why, and the first messages
    /// as they will be sent. Creates nothing.
    pub async fn review_sheet(
        &self,
        account: &Account,
        sheet_id: i64,
        preset_id: i64,
    ) -> Result<SheetReview> {
        let message = self.sheet_message(account, preset_id).await?;
        let plan = self.plan_sheet(account, sheet_id, &message).await?;
        let unused_columns = plan
            .summary
            .columns
            .iter()
            .filter(|c| !message.variables.contains(c))
            .cloned()
            .collect();
        Ok(SheetReview {
            variables: message.variables.clone(),
            missing_columns: plan.missing,
            unused_columns,
            bad_rows: plan.bad_rows,
            issues: plan.issues,
            skipped: plan.resolved.skipped(),
            skipped_lines: plan.skipped_lines,
            will_receive: if message.missing(&plan.summary.columns).is_empty() {
                plan.resolved.will_receive()
            } else {
                0
            },
            samples: plan.samples,
            sent_today: self.sent_today(account.id).await?,
            daily_quota: DEFAULT_DAILY_QUOTA,
            send_rules: self
                .review_send_rules(
                    account.id,
                    plan.resolved
                        .rows
                        .iter()
                        .filter(|r| r.skip.is_none())
                        .map(|r| r.openid.as_str()),
                    crate::now_ms(),
                )
                .await?,
            sheet: plan.summary,
        })
    }
}

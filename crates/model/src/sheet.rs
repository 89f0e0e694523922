//! Spreadsheets of per-person values: the column that names each person, what an upload holds,
//! and what the review of a file against a preset found, line by line.

use serde::{Deserialize, Serialize};

use crate::job::SkipReason;
use crate::send_rules::SendRulesReview;
use crate::value::ValueProblem;
use crate::wechat_message::TemplateMessage;
use crate::Lang;

/// Data rows a file may hold.
pub const SHEET_ROWS_MAX: usize = 100_000;
/// The largest upload read (a 100,000-row CSV with a dozen columns stays well below).
pub const SHEET_BYTES_MAX: usize = 50 * 1024 * 1024;
/// Value problems a review lists (all are counted).
pub const REVIEW_ISSUES_MAX: usize = 200;
/// Skipped lines a review lists (all are counted).
pub const REVIEW_SKIPPED_MAX: usize = 100;
/// Rendered messages a review shows.
pub const REVIEW_SAMPLES: usize = 3;

/// The header that names each person, and so which id the column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonColumn {
    /// The follower's Official Account openid.
    Openid,
    /// The person's unionid (to the follower of the same unionid).
    Unionid,
    /// The Mini Program openid (by its user's unionid to the follower).
    MpOpenid,
}

impl PersonColumn {
    pub const ALL: [PersonColumn; 3] = [
        PersonColumn::Openid,
        PersonColumn::Unionid,
        PersonColumn::MpOpenid,
    ];

    /// The header, as written in the file and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            PersonColumn::Openid => "openid",
            PersonColumn::Unionid => "unionid",
            PersonColumn::MpOpenid => "mp_openid",
        }
    }

    /// A header naming the person (any case, surrounding spaces ignored).
    pub fn parse(header: &str) -> Option<PersonColumn> {
        let h = header.trim();
        PersonColumn::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(h))
    }
}

/// An uploaded file, parsed and kept for its review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SheetSummary {
    pub id: i64,
    pub file_name: String,
    pub person: PersonColumn,
    /// The other columns: the variables a preset can use, in file order.
    pub columns: Vec<String>,
    pub rows: i64,
    pub created_ms: i64,
}

/// A value of one line that breaks its keyword's rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowIssue {
    /// The line in the file.
    pub line: usize,
    /// The message field: a keyword (`thing1`), `url` or `miniprogram.pagepath`.
    pub field: String,
    /// The keyword's label in the template (`商品名称`), empty when it has none.
    pub label: String,
    pub problem: ValueProblem,
}

impl RowIssue {
    /// `第 17 行 · 商品名称(thing1)：最多 20 个字符`.
    pub fn message(&self, lang: Lang) -> String {
        let field = match (self.field.as_str(), self.label.is_empty()) {
            ("url", _) => lang.pick("跳转链接", "Link").to_owned(),
            ("miniprogram.pagepath", _) => lang.pick("小程序页面", "Mini Program page").to_owned(),
            ("miniprogram.appid", _) => lang.pick("小程序 AppID", "Mini Program AppID").to_owned(),
            (key, true) => key.to_owned(),
            (key, false) => format!("{}({key})", self.label),
        };
        match lang {
            Lang::Zh => format!(
                "第 {} 行 · {field}：{}",
                self.line,
                self.problem.message(false)
            ),
            Lang::En => format!(
                "Line {} · {field}: {}",
                self.line,
                self.problem.message(true)
            ),
        }
    }
}

/// A line that will not be sent, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedLine {
    pub line: usize,
    /// The id the file gives.
    pub person: String,
    pub reason: SkipReason,
}

/// One line's message as it will be sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SheetSample {
    pub line: usize,
    /// Column and value, in file order.
    pub values: Vec<(String, String)>,
    pub message: TemplateMessage,
}

/// What sending a preset with a file's values would do, before anything is created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SheetReview {
    pub sheet: SheetSummary,
    /// The variables the preset uses.
    pub variables: Vec<String>,
    /// Variables without a column: nothing can be created until the file has them.
    pub missing_columns: Vec<String>,
    /// Columns the preset does not use.
    pub unused_columns: Vec<String>,
    /// Lines whose values break a rule (left out as `bad_values`).
    pub bad_rows: i64,
    /// The first [`REVIEW_ISSUES_MAX`] problems, by line.
    pub issues: Vec<RowIssue>,
    /// Lines left out by reason (bad values included), non-zero counts only.
    pub skipped: Vec<(SkipReason, i64)>,
    /// The first [`REVIEW_SKIPPED_MAX`] lines left out for who they name, by line.
    pub skipped_lines: Vec<SkippedLine>,
    pub will_receive: i64,
    /// The first lines that will be sent, rendered.
    pub samples: Vec<SheetSample>,
    /// Template messages the account sent today and its daily quota.
    pub sent_today: i64,
    pub daily_quota: i64,
    /// Quiet hours and the daily cap, as they bear on this job.
    pub send_rules: SendRulesReview,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn person_headers_are_read_in_any_case() {
        assert_eq!(PersonColumn::parse(" OpenID "), Some(PersonColumn::Openid));
        assert_eq!(
            PersonColumn::parse("mp_openid"),
            Some(PersonColumn::MpOpenid)
        );
        assert_eq!(PersonColumn::parse("积分"), None);
    }

    #[test]
    fn a_row_issue_names_line_label_and_key() {
        let issue = RowIssue {
            line: 17,
            field: "thing1".into(),
            label: "商品名称".into(),
            problem: ValueProblem::TooLong(20),
        };
        assert_eq!(
            issue.message(Lang::Zh),
            "第 17 行 · 商品名称(thing1)：最多 20 个字符"
        );
        assert_eq!(
            issue.message(Lang::En),
            "Line 17 · 商品名称(thing1): At most 20 characters"
        );
    }
}

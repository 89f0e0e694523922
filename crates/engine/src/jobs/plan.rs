//! Who a recipient source reaches: followers resolved against the synced table, skips with their
//! reasons, CSV line errors, and the day's quota — the review step before a job is created.

use std::collections::{HashMap, HashSet};

use crate::accounts::{Account, AccountKind};
use crate::followers::FollowerQuery;
use crate::presets::openid_format_ok;
use crate::{now_ms, on_db, Engine, Error, Result};

use super::{
    beijing_midnight_ms, LineError, RecipientPlan, RecipientSource, SkipReason, DEFAULT_DAILY_QUOTA,
};

/// Line errors reported at most.
pub const LINE_ERRORS_MAX: usize = 100;
/// Openids shown as a sample.
pub const SAMPLE_SIZE: usize = 10;
/// Followers read per query when a filter is resolved.
const FOLLOWER_PAGE: i64 = 10_000;
/// Openids or unionids looked up per query.
const LOOKUP_CHUNK: usize = 500;

/// One frozen recipient row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Planned {
    /// Empty for a unionid without follower.
    pub openid: String,
    pub unionid: Option<String>,
    pub skip: Option<SkipReason>,
}

/// Every row of a source, in order, and the CSV lines that were refused.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    pub rows: Vec<Planned>,
    pub line_errors: Vec<LineError>,
    pub line_error_count: usize,
}

impl Resolved {
    pub(crate) fn will_receive(&self) -> i64 {
        self.rows.iter().filter(|r| r.skip.is_none()).count() as i64
    }

    pub(crate) fn skipped(&self) -> Vec<(SkipReason, i64)> {
        SkipReason::ALL
            .into_iter()
            .map(|reason| {
                let n = self.rows.iter().filter(|r| r.skip == Some(reason)).count() as i64;
                (reason, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    fn sample(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| r.skip.is_none())
            .take(SAMPLE_SIZE)
            .map(|r| r.openid.clone())
            .collect()
    }
}

/// Which id a CSV holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdKind {
    Openid,
    Unionid,
}

impl IdKind {
    fn header(self) -> &'static str {
        match self {
            IdKind::Openid => "openid",
            IdKind::Unionid => "unionid",
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            IdKind::Openid => "not an openid",
            IdKind::Unionid => "not a unionid",
        }
    }
}

/// The ids of a pasted or uploaded text with their line numbers, and the lines that are not ids.
///
/// One id per line; blank lines are ignored; the first non-blank line may be the header
/// (`openid` / `unionid`). A line with separators (a CSV export) counts by its first field.
pub(crate) fn parse_csv(text: &str, kind: IdKind) -> (Vec<(usize, String)>, Vec<LineError>, usize) {
    let mut ids = Vec::new();
    let mut errors = Vec::new();
    let mut error_count = 0;
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        let field = line
            .split([',', '\t', ';'])
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches(['"', '\''])
            .trim();
        if first {
            first = false;
            if field.eq_ignore_ascii_case(kind.header()) {
                continue;
            }
        }
        if openid_format_ok(field) {
            ids.push((i + 1, field.to_owned()));
        } else {
            error_count += 1;
            if errors.len() < LINE_ERRORS_MAX {
                errors.push(LineError {
                    line: i + 1,
                    value: line.chars().take(100).collect(),
                    message: kind.refusal().into(),
                });
            }
        }
    }
    (ids, errors, error_count)
}

impl Engine {
    /// Who `source` reaches on `account`, without creating anything.
    pub async fn plan_recipients(
        &self,
        account: &Account,
        source: &RecipientSource,
    ) -> Result<RecipientPlan> {
        let resolved = self.resolve_recipients(account, source).await?;
        Ok(RecipientPlan {
            will_receive: resolved.will_receive(),
            skipped: resolved.skipped(),
            sample: resolved.sample(),
            line_errors: resolved.line_errors,
            sent_today: self.sent_today(account.id).await?,
            daily_quota: DEFAULT_DAILY_QUOTA,
        })
    }

    /// Template messages the account's jobs sent since midnight Beijing time.
    pub async fn sent_today(&self, account_id: i64) -> Result<i64> {
        let midnight = beijing_midnight_ms(now_ms());
        let n: i64 = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM job_recipients r JOIN jobs j ON j.id = r.job_id \
             WHERE j.account_id = $1 AND (j.finished_ms IS NULL OR j.finished_ms >= $2) \
             AND r.state = 'sent' AND r.sent_ms >= $2"
        )
        .bind(account_id)
        .bind(midnight)
        .fetch_one(pool)
        .await)?;
        Ok(n)
    }

    /// Every row a job from `source` would hold, in order.
    pub(crate) async fn resolve_recipients(
        &self,
        account: &Account,
        source: &RecipientSource,
    ) -> Result<Resolved> {
        if account.kind != AccountKind::Oa {
            return Err(Error::Invalid {
                field: "account",
                message: "template messages are sent by Official Accounts".into(),
            });
        }
        match source {
            RecipientSource::Openids(list) => {
                let ids: Vec<String> = list
                    .iter()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                self.resolve_openids(account.id, ids, Vec::new(), 0).await
            }
            RecipientSource::CsvOpenids(text) => {
                let (ids, errors, count) = parse_csv(text, IdKind::Openid);
                let ids = ids.into_iter().map(|(_, id)| id).collect();
                self.resolve_openids(account.id, ids, errors, count).await
            }
            RecipientSource::CsvUnionids(text) => {
                let (ids, errors, count) = parse_csv(text, IdKind::Unionid);
                let ids = ids.into_iter().map(|(_, id)| id).collect();
                self.resolve_unionids(account.id, ids, errors, count).await
            }
            RecipientSource::Filter(dto) => {
                self.resolve_query(account.id, dto.clone().into()).await
            }
            RecipientSource::AllSubscribed => {
                self.resolve_query(
                    account.id,
                    FollowerQuery {
                        subscribed: Some(true),
                        ..FollowerQuery::default()
                    },
                )
                .await
            }
            RecipientSource::Matched => {
                self.resolve_query(
                    account.id,
                    FollowerQuery {
                        subscribed: Some(true),
                        matched: Some(true),
                        ..FollowerQuery::default()
                    },
                )
                .await
            }
            RecipientSource::Tag(tag) => {
                self.resolve_query(
                    account.id,
                    FollowerQuery {
                        tag: Some(*tag),
                        ..FollowerQuery::default()
                    },
                )
                .await
            }
        }
    }

    /// The followers page's own filter, read in openid order; those who unfollowed are skipped.
    async fn resolve_query(&self, account_id: i64, q: FollowerQuery) -> Result<Resolved> {
        let mut out = Resolved::default();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .followers_page(account_id, &q, after.as_deref(), FOLLOWER_PAGE)
                .await?;
            let full = page.len() as i64 == FOLLOWER_PAGE;
            after = page.last().map(|f| f.openid.clone());
            out.rows.extend(page.into_iter().map(|f| Planned {
                skip: (!f.subscribed).then_some(SkipReason::Unsubscribed),
                openid: f.openid,
                unionid: None,
            }));
            if !full {
                return Ok(out);
            }
        }
    }

    /// Listed openids against the followers table: unknown, unfollowed, repeated.
    async fn resolve_openids(
        &self,
        account_id: i64,
        ids: Vec<String>,
        line_errors: Vec<LineError>,
        line_error_count: usize,
    ) -> Result<Resolved> {
        let mut distinct: Vec<&str> = ids.iter().map(String::as_str).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut known: HashMap<String, bool> = HashMap::with_capacity(distinct.len());
        for chunk in distinct.chunks(LOOKUP_CHUNK) {
            let rows: Vec<(String, bool)> = on_db!(self.db(), |pool| {
                let mut qb = sqlx::QueryBuilder::new(
                    "SELECT openid, subscribed FROM followers WHERE account_id = ",
                );
                qb.push_bind(account_id).push(" AND openid IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(pool).await
            })?;
            known.extend(rows);
        }
        let mut seen: HashSet<&str> = HashSet::with_capacity(ids.len());
        let rows = ids
            .iter()
            .map(|id| {
                let skip = if !seen.insert(id.as_str()) {
                    Some(SkipReason::Duplicate)
                } else {
                    match known.get(id) {
                        None => Some(SkipReason::UnknownOpenid),
                        Some(false) => Some(SkipReason::Unsubscribed),
                        Some(true) => None,
                    }
                };
                Planned {
                    openid: id.clone(),
                    unionid: None,
                    skip,
                }
            })
            .collect();
        Ok(Resolved {
            rows,
            line_errors,
            line_error_count,
        })
    }

    /// Listed unionids mapped to the account's followers (the OA openid of the same person).
    async fn resolve_unionids(
        &self,
        account_id: i64,
        ids: Vec<String>,
        line_errors: Vec<LineError>,
        line_error_count: usize,
    ) -> Result<Resolved> {
        let mut distinct: Vec<&str> = ids.iter().map(String::as_str).collect();
        distinct.sort_unstable();
        distinct.dedup();
        // unionid → (openid, subscribed); a subscribed follower wins should there be two.
        let mut by_unionid: HashMap<String, (String, bool)> = HashMap::new();
        for chunk in distinct.chunks(LOOKUP_CHUNK) {
            let rows: Vec<(String, String, bool)> = on_db!(self.db(), |pool| {
                let mut qb = sqlx::QueryBuilder::new(
                    "SELECT unionid, openid, subscribed FROM followers WHERE account_id = ",
                );
                qb.push_bind(account_id).push(" AND unionid IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(pool).await
            })?;
            for (unionid, openid, subscribed) in rows {
                let entry = by_unionid
                    .entry(unionid)
                    .or_insert((openid.clone(), subscribed));
                if subscribed && !entry.1 {
                    *entry = (openid, true);
                }
            }
        }
        let mut seen_unionids: HashSet<&str> = HashSet::new();
        let mut seen_openids: HashSet<String> = HashSet::new();
        let rows = ids
            .iter()
            .map(|unionid| {
                let found = by_unionid.get(unionid);
                let openid = found.map(|(o, _)| o.clone()).unwrap_or_default();
                let skip = if !seen_unionids.insert(unionid.as_str()) {
                    Some(SkipReason::Duplicate)
                } else {
                    match found {
                        None => Some(SkipReason::NoOaOpenid),
                        Some((o, _)) if !seen_openids.insert(o.clone()) => {
                            Some(SkipReason::Duplicate)
                        }
                        Some((_, false)) => Some(SkipReason::Unsubscribed),
                        Some((_, true)) => None,
                    }
                };
                Planned {
                    openid,
                    unionid: Some(unionid.clone()),
                    skip,
                }
            })
            .collect();
        Ok(Resolved {
            rows,
            line_errors,
            line_error_count,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "oAbCdEfGhIjKlMnOpQrStUvWxYz0";
    const B: &str = "oAbCdEfGhIjKlMnOpQrStUvWxYz1";

    #[test]
    fn csv_header_blank_lines_and_bad_lines() {
        let text = format!("openid\r\n{A}\n\n  {B}  \nnot-an-openid!\n\"{A}\",张三\n");
        let (ids, errors, n) = parse_csv(&text, IdKind::Openid);
        assert_eq!(
            ids,
            vec![(2, A.to_owned()), (4, B.to_owned()), (6, A.to_owned())]
        );
        assert_eq!(n, 1);
        assert_eq!(
            errors,
            vec![LineError {
                line: 5,
                value: "not-an-openid!".into(),
                message: "not an openid".into()
            }]
        );
    }

    #[test]
    fn header_only_counts_on_the_first_line() {
        let text = format!("{A}\nunionid\n");
        let (ids, errors, _) = parse_csv(&text, IdKind::Unionid);
        assert_eq!(ids.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert_eq!(errors[0].message, "not a unionid");
    }

    #[test]
    fn at_most_100_line_errors_are_kept() {
        let text = "x\n".repeat(250);
        let (_, errors, n) = parse_csv(&text, IdKind::Openid);
        assert_eq!(errors.len(), LINE_ERRORS_MAX);
        assert_eq!(n, 250);
    }
}

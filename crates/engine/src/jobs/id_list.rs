//! A pasted or uploaded list of ids: its lines read as openids or unionids (with the lines that
//! are not), and the ids matched against the account's followers.

use std::collections::{HashMap, HashSet};

use model::openid::is_openid;

use crate::{on_db, Engine, Result};

use super::plan::{Planned, Resolved, LOOKUP_CHUNK};
use super::{LineError, SkipReason};

/// Line errors reported at most.
pub const LINE_ERRORS_MAX: usize = 100;

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
        if is_openid(field) {
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

/// [`parse_csv`] for the fuzz targets in `fuzz/`: the line numbers of the ids found and of the
/// lines reported, and how many lines were refused.
#[doc(hidden)]
pub fn fuzz_parse_csv(text: &str, unionids: bool) -> (Vec<usize>, Vec<usize>, usize) {
    let kind = if unionids {
        IdKind::Unionid
    } else {
        IdKind::Openid
    };
    let (ids, errors, count) = parse_csv(text, kind);
    (
        ids.into_iter().map(|(line, _)| line).collect(),
        errors.into_iter().map(|e| e.line).collect(),
        count,
    )
}

impl Engine {
    /// Listed openids against the followers table: unknown, unfollowed, repeated.
    pub(super) async fn resolve_openids(
        &self,
        account_id: i64,
        ids: Vec<String>,
        line_errors: Vec<LineError>,
        line_error_count: usize,
    ) -> Result<Resolved> {
        let mut distinct: Vec<&str> = ids.iter().map(String::as_str).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut known: HashMap<String, (bool, Option<String>)> =
            HashMap::with_capacity(distinct.len());
        for chunk in distinct.chunks(LOOKUP_CHUNK) {
            let rows: Vec<(String, bool, Option<String>)> = on_db!(self.db(), |pool| {
                let mut qb = sqlx::QueryBuilder::new(
                    "SELECT openid, subscribed, unionid FROM followers WHERE account_id = ",
                );
                qb.push_bind(account_id).push(" AND openid IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(pool).await
            })?;
            known.extend(rows.into_iter().map(|(o, s, u)| (o, (s, u))));
        }
        let mut seen: HashSet<&str> = HashSet::with_capacity(ids.len());
        let rows = ids
            .iter()
            .map(|id| {
                let found = known.get(id);
                let skip = if !seen.insert(id.as_str()) {
                    Some(SkipReason::Duplicate)
                } else {
                    match found {
                        None => Some(SkipReason::UnknownOpenid),
                        Some((false, _)) => Some(SkipReason::Unsubscribed),
                        Some((true, _)) => None,
                    }
                };
                Planned::oa(id.clone(), found.and_then(|(_, u)| u.clone()), skip)
            })
            .collect();
        Ok(Resolved {
            rows,
            line_errors,
            line_error_count,
        })
    }

    /// Listed unionids mapped to the account's followers (the OA openid of the same person).
    pub(super) async fn resolve_unionids(
        &self,
        account_id: i64,
        ids: Vec<String>,
        line_errors: Vec<LineError>,
        line_error_count: usize,
    ) -> Result<Resolved> {
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let by_unionid = self.followers_by_unionid(account_id, &refs).await?;
        let mut seen_unionids: HashSet<&str> = HashSet::new();
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
                        Some((_, false)) => Some(SkipReason::Unsubscribed),
                        Some((_, true)) => None,
                    }
                };
                Planned::oa(openid, Some(unionid.clone()), skip)
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

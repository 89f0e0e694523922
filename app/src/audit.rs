//! The audit log for admins: its filters (shared by the page and the CSV export), the server
//! function that pages it, and the human names of its actions in both languages.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::i18n::Lang;
use model::audit::{AuditAction, AUDIT_GROUPS};

/// Entries per page.
pub const PAGE_SIZE: i64 = 50;

/// The filters of the audit page URL (`/audit?action=…`), also understood by
/// `/export/audit.csv`. Empty values do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// An exact action (`login.failure`) or a prefix ending in `*` or `.` (`login.*`).
    pub action: String,
    /// The actor's name, exactly.
    pub actor: String,
    /// First day, `YYYY-MM-DD` (China Standard Time), inclusive.
    pub from: String,
    /// Last day, `YYYY-MM-DD`, inclusive.
    pub until: String,
    /// Text the target contains.
    pub q: String,
}

impl AuditQuery {
    pub fn from_query(get: impl Fn(&str) -> Option<String>) -> AuditQuery {
        AuditQuery {
            action: get("action").unwrap_or_default(),
            actor: get("actor").unwrap_or_default(),
            from: get("from").unwrap_or_default(),
            until: get("until").unwrap_or_default(),
            q: get("q").unwrap_or_default(),
        }
    }

    pub fn pairs(&self) -> [(&'static str, &str); 5] {
        [
            ("action", self.action.as_str()),
            ("actor", self.actor.as_str()),
            ("from", self.from.as_str()),
            ("until", self.until.as_str()),
            ("q", self.q.as_str()),
        ]
    }

    /// The time range in ms since the epoch: `from` at 00:00 and the day after `until` at 00:00
    /// (exclusive), China Standard Time like every time the console shows. `Err` names the
    /// field that is not a date.
    pub fn range_ms(&self) -> Result<(Option<i64>, Option<i64>), &'static str> {
        let day = |s: &str, field: &'static str| -> Result<Option<i64>, &'static str> {
            let s = s.trim();
            if s.is_empty() {
                Ok(None)
            } else {
                day_start_ms(s).map(Some).ok_or(field)
            }
        };
        Ok((
            day(&self.from, "from")?,
            day(&self.until, "until")?.map(|d| d + 86_400_000),
        ))
    }
}

/// `YYYY-MM-DD` (or `YYYY/M/D`) at 00:00 China Standard Time (UTC+8), in ms since the epoch.
pub fn day_start_ms(date: &str) -> Option<i64> {
    let mut parts = date.splitn(3, ['-', '/']);
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(y, 4..=4) || !digits(m, 1..=2) || !digits(d, 1..=2) {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days_in_month = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=days_in_month).contains(&d) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm), the inverse of `format_time_ms`.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400_000 - 8 * 3_600_000)
}

/// One audit entry as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntryDto {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    /// JSON, as recorded.
    pub detail: String,
    pub ip: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPageDto {
    pub rows: Vec<AuditEntryDto>,
    /// The id to continue before, when there is a next (older) page.
    pub next_before: Option<i64>,
}

/// One page of the audit log, newest first (admins only).
#[server(prefix = "/api", endpoint = "list_audit")]
pub async fn list_audit(
    action: String,
    actor: String,
    from: String,
    until: String,
    q: String,
    before: String,
) -> Result<AuditPageDto, AppError> {
    use crate::auth::ssr::{fail, internal, require_admin, state};
    require_admin().await?;
    let state = state()?;
    let query = AuditQuery {
        action,
        actor,
        from,
        until,
        q,
    };
    let filter = match ssr::filter(&query) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let before = before.trim().parse::<i64>().ok();
    let mut rows = state
        .engine
        .audit_page(&filter, before, PAGE_SIZE + 1)
        .await
        .map_err(internal)?;
    let more = rows.len() as i64 > PAGE_SIZE;
    rows.truncate(PAGE_SIZE as usize);
    let next_before = more.then(|| rows.last().map(|r| r.id)).flatten();
    Ok(AuditPageDto {
        rows: rows
            .into_iter()
            .map(|e| AuditEntryDto {
                id: e.id,
                at_ms: e.at_ms,
                actor: e.actor,
                action: e.action,
                target: e.target,
                detail: e.detail,
                ip: e.ip,
            })
            .collect(),
        next_before,
    })
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! The page's filters as the engine's.

    use engine::audit::AuditFilter;

    use super::AuditQuery;
    use crate::error::AppError;
    use crate::validate::{Problem, Refusal};

    pub fn filter(q: &AuditQuery) -> Result<AuditFilter, AppError> {
        let (from_ms, until_ms) = q.range_ms().map_err(|field| {
            AppError::Refused(Refusal {
                field: field.into(),
                problem: Problem::NotAnOption,
            })
        })?;
        Ok(AuditFilter {
            action: q.action.trim().to_owned(),
            actor: q.actor.trim().to_owned(),
            from_ms,
            until_ms,
            target: q.q.trim().to_owned(),
        })
    }
}

/// One entry of the action filter: a whole group (`login.*`) or one action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionChoice {
    Group(&'static str, &'static str, &'static str),
    Action(AuditAction),
}

impl ActionChoice {
    /// The value the filter sends: `login.*` or `login.failure`.
    pub fn value(self) -> String {
        match self {
            ActionChoice::Group(group, _, _) => format!("{group}.*"),
            ActionChoice::Action(a) => a.code().to_owned(),
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            ActionChoice::Group(_, zh, en) => lang.pick(zh, en),
            ActionChoice::Action(a) => a.label(lang),
        }
    }

    pub fn is_group(self) -> bool {
        matches!(self, ActionChoice::Group(..))
    }
}

/// What the action filter offers: each group followed by its actions, in the vocabulary's order.
pub fn action_choices() -> Vec<ActionChoice> {
    let mut out = Vec::new();
    for &action in AuditAction::ALL {
        let group = AUDIT_GROUPS.iter().find(|(g, _, _)| *g == action.group());
        if let Some(&(g, zh, en)) = group {
            if !out.contains(&ActionChoice::Group(g, zh, en)) {
                out.push(ActionChoice::Group(g, zh, en));
            }
        }
        out.push(ActionChoice::Action(action));
    }
    out
}

/// The human name of an action code; an unknown one is shown as it is recorded.
pub fn action_label(action: &str, lang: Lang) -> String {
    AuditAction::parse(action)
        .map(|a| a.label(lang).to_owned())
        .unwrap_or_else(|| action.to_owned())
}

/// The name of a refusal reason recorded in `detail.reason`.
pub fn reason_label(reason: &str, lang: Lang) -> String {
    match reason {
        "wrong_password" => lang.pick("密码错误", "wrong password"),
        "unknown_user" => lang.pick("用户不存在", "unknown user"),
        "locked" => lang.pick("失败次数过多，已锁定", "locked after too many failures"),
        "disabled" => lang.pick("账号已停用", "account disabled"),
        other => return other.to_owned(),
    }
    .to_owned()
}

/// An action with its reason when it has one: `登录失败 · 密码错误`.
pub fn describe(action: &str, detail: &str, lang: Lang) -> String {
    let label = action_label(action, lang);
    let reason = serde_json::from_str::<serde_json::Value>(detail)
        .ok()
        .and_then(|d| d.get("reason").and_then(|r| r.as_str()).map(str::to_owned));
    match reason {
        Some(r) => format!("{label} · {}", reason_label(&r, lang)),
        None => label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dto::format_time_ms;

    #[test]
    fn days_start_at_midnight_in_china() {
        let ms = day_start_ms("2024-04-25").unwrap();
        assert_eq!(format_time_ms(ms), "2024-04-25 00:00:00");
        assert_eq!(format_time_ms(ms - 1000), "2024-04-24 23:59:59");
        assert_eq!(
            format_time_ms(day_start_ms("2000-02-29").unwrap()),
            "2000-02-29 00:00:00"
        );
        assert_eq!(day_start_ms("2023-02-29"), None);
        assert_eq!(day_start_ms("2024-13-01"), None);
        assert_eq!(day_start_ms("24-01-01"), None);
        assert_eq!(day_start_ms("yesterday"), None);
    }

    #[test]
    fn until_includes_the_whole_day() {
        let q = AuditQuery {
            from: "2024-04-25".into(),
            until: "2024-04-25".into(),
            ..AuditQuery::default()
        };
        let (from, until) = q.range_ms().unwrap();
        assert_eq!(until.unwrap() - from.unwrap(), 86_400_000);
        let bad = AuditQuery {
            until: "soon".into(),
            ..AuditQuery::default()
        };
        assert_eq!(bad.range_ms(), Err("until"));
    }

    #[test]
    fn actions_have_names_in_both_languages() {
        assert_eq!(action_label("login.failure", Lang::Zh), "登录失败");
        assert_eq!(action_label("staff.disable", Lang::En), "Staff disabled");
        assert_eq!(action_label("something.new", Lang::Zh), "something.new");
        assert_eq!(
            describe("login.failure", r#"{"reason":"wrong_password"}"#, Lang::Zh),
            "登录失败 · 密码错误"
        );
        assert_eq!(describe("logout", "{}", Lang::En), "Logged out");
    }

    #[test]
    fn every_action_is_offered_after_its_group() {
        let choices = action_choices();
        for &a in AuditAction::ALL {
            let at = choices.iter().position(|c| *c == ActionChoice::Action(a));
            let group = choices
                .iter()
                .position(|c| c.value() == format!("{}.*", a.group()));
            assert!(at.is_some(), "{a} missing");
            if a.code().contains('.') {
                assert!(group < at, "{a} listed before its group");
            }
        }
        assert_eq!(choices[0].value(), "login.*");
    }
}

//! Quiet hours and the per-person daily cap of an Official Account: the pure rules (minutes of
//! a local day, no clock and no time zone database), shared by the engine and the browser.

use serde::{Deserialize, Serialize};

use crate::refusal::Problem;

/// The console's time zone until an admin sets another.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";
/// Messages per person per day an admin may allow at most.
pub const DAILY_CAP_MAX: i64 = 1_000;
/// Minutes in a day.
pub const DAY_MINUTES: u16 = 24 * 60;

/// A daily window, in minutes after local midnight, in which nothing is sent. It may cross
/// midnight (`start_min > end_min`, e.g. 22:00–08:00); the start is inside, the end is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct QuietHours {
    pub start_min: u16,
    pub end_min: u16,
}

impl QuietHours {
    /// A window from `start_min` to `end_min` (both `< 1440`, not equal).
    pub fn new(start_min: u16, end_min: u16) -> Result<QuietHours, Problem> {
        if start_min >= DAY_MINUTES || end_min >= DAY_MINUTES {
            return Err(Problem::Malformed);
        }
        if start_min == end_min {
            return Err(Problem::QuietHoursEmpty);
        }
        Ok(QuietHours { start_min, end_min })
    }

    /// From `HH:MM` texts; the error names the field (`quiet_start`, `quiet_end`).
    pub fn parse(start: &str, end: &str) -> Result<QuietHours, (&'static str, Problem)> {
        let start_min = parse_hhmm(start).map_err(|p| ("quiet_start", p))?;
        let end_min = parse_hhmm(end).map_err(|p| ("quiet_end", p))?;
        QuietHours::new(start_min, end_min).map_err(|p| ("quiet_end", p))
    }

    /// Whether local minute-of-day `minute` is inside the window.
    pub fn contains(self, minute: u16) -> bool {
        if self.start_min < self.end_min {
            self.start_min <= minute && minute < self.end_min
        } else {
            minute >= self.start_min || minute < self.end_min
        }
    }

    /// Minutes from `minute` until the window ends, when `minute` is inside it.
    pub fn minutes_left(self, minute: u16) -> Option<u16> {
        self.contains(minute)
            .then(|| (self.end_min + DAY_MINUTES - minute) % DAY_MINUTES)
    }

    pub fn crosses_midnight(self) -> bool {
        self.start_min > self.end_min
    }

    /// `22:00–08:00`.
    pub fn label(self) -> String {
        format!(
            "{}–{}",
            format_hhmm(self.start_min),
            format_hhmm(self.end_min)
        )
    }
}

/// `HH:MM` (24-hour, `H:MM` accepted) as minutes after midnight.
pub fn parse_hhmm(text: &str) -> Result<u16, Problem> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Problem::Required);
    }
    let (h, m) = text.split_once(':').ok_or(Problem::Malformed)?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return Err(Problem::Malformed);
    }
    let (h, m): (u16, u16) = (
        h.parse().map_err(|_| Problem::Malformed)?,
        m.parse().map_err(|_| Problem::Malformed)?,
    );
    if h > 23 || m > 59 {
        return Err(Problem::Malformed);
    }
    Ok(h * 60 + m)
}

/// Minutes after midnight as `HH:MM`.
pub fn format_hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60 % 24, minutes % 60)
}

/// A daily cap admins may set: 1 to [`DAILY_CAP_MAX`].
pub fn daily_cap(n: i64) -> Result<(), Problem> {
    if (1..=DAILY_CAP_MAX).contains(&n) {
        Ok(())
    } else {
        Err(Problem::OutOfRange {
            min: 1,
            max: DAILY_CAP_MAX,
        })
    }
}

/// What an Official Account's sending obeys besides its rate (off by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRules {
    /// Nothing is sent inside this window (console time zone).
    pub quiet_hours: Option<QuietHours>,
    /// Template messages per person per day (console time zone), all jobs and API messages.
    pub daily_cap: Option<i64>,
}

/// What the review step of a new job says about the account's send rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendRulesReview {
    /// The console time zone the rules are read in.
    pub time_zone: String,
    pub quiet_hours: Option<QuietHours>,
    /// Now is inside the quiet hours: the job would wait, paused, until `quiet_until_ms`.
    pub in_quiet_hours: bool,
    pub quiet_until_ms: Option<i64>,
    pub daily_cap: Option<i64>,
    /// Planned template-message recipients who already reached the cap today: they will be
    /// skipped (今日已达上限) when their turn comes, unless the day ends first.
    pub at_daily_cap: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(h: u16, m: u16) -> u16 {
        h * 60 + m
    }

    #[test]
    fn a_window_across_midnight() {
        let q = QuietHours::parse("22:00", "08:00").unwrap();
        assert!(q.crosses_midnight());
        assert!(!q.contains(hm(21, 59)));
        assert!(q.contains(hm(22, 0)));
        assert!(q.contains(hm(23, 59)));
        assert!(q.contains(0));
        assert!(q.contains(hm(7, 59)));
        assert!(!q.contains(hm(8, 0)));
        assert!(!q.contains(hm(12, 0)));
        assert_eq!(q.minutes_left(hm(22, 0)), Some(600));
        assert_eq!(q.minutes_left(hm(7, 59)), Some(1));
        assert_eq!(q.minutes_left(hm(8, 0)), None);
        assert_eq!(q.label(), "22:00–08:00");
    }

    #[test]
    fn a_window_within_a_day() {
        let q = QuietHours::parse("12:30", "14:00").unwrap();
        assert!(!q.crosses_midnight());
        assert!(!q.contains(hm(12, 29)));
        assert!(q.contains(hm(12, 30)));
        assert!(q.contains(hm(13, 59)));
        assert!(!q.contains(hm(14, 0)));
        assert!(!q.contains(hm(23, 0)));
        assert_eq!(q.minutes_left(hm(13, 0)), Some(60));
    }

    #[test]
    fn bad_windows_and_times_are_refused() {
        assert_eq!(
            QuietHours::parse("22:00", "22:00"),
            Err(("quiet_end", Problem::QuietHoursEmpty))
        );
        assert_eq!(
            QuietHours::parse("24:00", "08:00"),
            Err(("quiet_start", Problem::Malformed))
        );
        assert_eq!(
            QuietHours::parse("22:00", "8"),
            Err(("quiet_end", Problem::Malformed))
        );
        assert_eq!(
            QuietHours::parse("", "08:00"),
            Err(("quiet_start", Problem::Required))
        );
        assert_eq!(parse_hhmm("7:05"), Ok(hm(7, 5)));
        assert_eq!(parse_hhmm("07:5"), Err(Problem::Malformed));
        assert_eq!(parse_hhmm("-1:00"), Err(Problem::Malformed));
        assert_eq!(QuietHours::new(1440, 0), Err(Problem::Malformed));
        assert_eq!(format_hhmm(hm(8, 5)), "08:05");
    }

    #[test]
    fn caps_from_one_to_the_maximum() {
        assert!(daily_cap(1).is_ok());
        assert!(daily_cap(DAILY_CAP_MAX).is_ok());
        assert!(daily_cap(0).is_err());
        assert!(daily_cap(DAILY_CAP_MAX + 1).is_err());
    }
}

//! Recurring sends (定时任务): when one runs (its [`Rhythm`]), which recipient rules it may use,
//! and what the console lists of it.

use serde::{Deserialize, Serialize};

use crate::job::Channel;
use crate::recipients::RecipientSource;
use crate::refusal::{Problem, Refusal};
use crate::Lang;

/// A time of day in the console time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TimeOfDay {
    pub hour: u8,
    pub minute: u8,
}

impl TimeOfDay {
    /// `10:00` or `9:05`, as quiet hours read times (what `<input type="time">` sends; seconds
    /// it may add are ignored).
    pub fn parse(text: &str) -> Option<TimeOfDay> {
        let text = text.trim();
        let hhmm = match text.matches(':').count() {
            2 => text.rsplit_once(':')?.0,
            _ => text,
        };
        let minutes = crate::send_rules::parse_hhmm(hhmm).ok()?;
        Some(TimeOfDay {
            hour: (minutes / 60) as u8,
            minute: (minutes % 60) as u8,
        })
    }
}

impl std::fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

/// A day of the week, Monday first as in China.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// Cron's number: Sunday 0, Monday 1 … Saturday 6.
    pub fn cron_number(self) -> u8 {
        match self {
            Weekday::Sun => 0,
            d => d as u8 + 1,
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        let (zh, en) = match self {
            Weekday::Mon => ("周一", "Monday"),
            Weekday::Tue => ("周二", "Tuesday"),
            Weekday::Wed => ("周三", "Wednesday"),
            Weekday::Thu => ("周四", "Thursday"),
            Weekday::Fri => ("周五", "Friday"),
            Weekday::Sat => ("周六", "Saturday"),
            Weekday::Sun => ("周日", "Sunday"),
        };
        lang.pick(zh, en)
    }
}

/// When a recurring send runs, in the console time zone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Rhythm {
    Daily {
        at: TimeOfDay,
    },
    /// On these days (at least one, in week order).
    Weekly {
        days: Vec<Weekday>,
        at: TimeOfDay,
    },
    /// Five fields: minute, hour, day of month, month, day of week (`0 10 * * 1-5`).
    Cron {
        expr: String,
    },
}

impl Rhythm {
    /// The rhythm as a five-field cron expression (the one way the engine computes runs).
    pub fn cron_expr(&self) -> String {
        match self {
            Rhythm::Daily { at } => format!("{} {} * * *", at.minute, at.hour),
            Rhythm::Weekly { days, at } => {
                let days: Vec<String> = days.iter().map(|d| d.cron_number().to_string()).collect();
                format!("{} {} * * {}", at.minute, at.hour, days.join(","))
            }
            Rhythm::Cron { expr } => expr.trim().to_owned(),
        }
    }

    /// The checks that need no cron parser (the engine parses cron expressions): weekdays
    /// given, sorted and unique; a cron expression of five fields.
    pub fn normalized(self) -> Result<Rhythm, Refusal> {
        match self {
            Rhythm::Weekly { mut days, at } => {
                days.sort();
                days.dedup();
                if days.is_empty() {
                    return Err(Refusal::new("weekdays", Problem::Required));
                }
                Ok(Rhythm::Weekly { days, at })
            }
            Rhythm::Cron { expr } => {
                let expr = expr.split_whitespace().collect::<Vec<_>>().join(" ");
                if expr.split(' ').count() != 5 {
                    return Err(Refusal::new("cron", Problem::CronFormat));
                }
                Ok(Rhythm::Cron { expr })
            }
            daily => Ok(daily),
        }
    }

    /// `每周一、周四 10:00` / `Every Monday and Thursday at 10:00`; `None` for a cron
    /// expression (the engine describes those).
    pub fn summary(&self, lang: Lang) -> Option<String> {
        Some(match (self, lang) {
            (Rhythm::Daily { at }, Lang::Zh) => format!("每天 {at}"),
            (Rhythm::Daily { at }, Lang::En) => format!("Every day at {at}"),
            (Rhythm::Weekly { days, at }, Lang::Zh) => {
                let names: Vec<&str> = days.iter().map(|d| d.label(lang)).collect();
                format!("每{} {at}", names.join("、"))
            }
            (Rhythm::Weekly { days, at }, Lang::En) => {
                let names: Vec<&str> = days.iter().map(|d| d.label(lang)).collect();
                format!("Every {} at {at}", names.join(", "))
            }
            (Rhythm::Cron { .. }, _) => return None,
        })
    }
}

/// The recipient rules a recurring send may use: each run finds its people afresh, so a fixed
/// list (a selection, pasted ids, a spreadsheet) is not one.
pub fn check_schedule_source(source: &RecipientSource) -> Result<(), Refusal> {
    match source {
        RecipientSource::AllSubscribed
        | RecipientSource::Matched
        | RecipientSource::Tag(_)
        | RecipientSource::Filter(_)
        | RecipientSource::MpUsers => Ok(()),
        _ => Err(Refusal::new("recipients", Problem::NotARecipientRule)),
    }
}

/// A rhythm as described to a person, in both languages, with its next runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RhythmText {
    pub zh: String,
    pub en: String,
}

impl RhythmText {
    pub fn pick(&self, lang: Lang) -> &str {
        lang.pick(&self.zh, &self.en)
    }
}

/// What the console shows of a rhythm before it is saved.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RhythmPreview {
    pub summary: RhythmText,
    /// The next runs (unix ms), soonest first.
    pub next_runs: Vec<i64>,
    /// Next runs that fall inside the account's quiet hours (their jobs wait for the end).
    pub quiet: Vec<i64>,
    pub time_zone: String,
}

/// A recurring send as the console lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub channel: Channel,
    pub preset_id: Option<i64>,
    /// The preset's name now (empty once deleted).
    pub preset_name: String,
    pub mp_preset_id: Option<i64>,
    pub mp_preset_name: String,
    pub source: RecipientSource,
    pub rhythm: Rhythm,
    pub summary: RhythmText,
    pub rate_limit: i64,
    pub paused: bool,
    /// The next run (unix ms); while paused, when it would run if resumed now.
    pub next_run_ms: i64,
    pub last_run_ms: Option<i64>,
    pub last_job_id: Option<i64>,
    /// Runs missed while wxpush was down (not replayed) before the last run.
    pub last_skipped: i64,
    /// Why the last run created no job.
    pub last_refusal: Option<Refusal>,
    pub created_by: String,
    pub created_ms: i64,
}

/// A control on a recurring send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleAction {
    Pause,
    Resume,
    Delete,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_of_day_read_as_the_time_input_writes_them() {
        assert_eq!(
            TimeOfDay::parse("09:05"),
            Some(TimeOfDay { hour: 9, minute: 5 })
        );
        assert_eq!(
            TimeOfDay::parse("9:05:00").map(|t| t.to_string()),
            Some("09:05".into())
        );
        for bad in ["24:00", "10:60", "10", "", "ten:00", "10:00:00:00"] {
            assert_eq!(TimeOfDay::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn rhythms_become_cron_and_words() {
        let at = TimeOfDay {
            hour: 10,
            minute: 0,
        };
        let weekly = Rhythm::Weekly {
            days: vec![Weekday::Sun, Weekday::Mon, Weekday::Mon],
            at,
        }
        .normalized()
        .unwrap();
        assert_eq!(weekly.cron_expr(), "0 10 * * 1,0");
        assert_eq!(weekly.summary(Lang::Zh).unwrap(), "每周一、周日 10:00");
        assert_eq!(
            weekly.summary(Lang::En).unwrap(),
            "Every Monday, Sunday at 10:00"
        );
        assert_eq!(Rhythm::Daily { at }.cron_expr(), "0 10 * * *");
        let none = Rhythm::Weekly { days: vec![], at }.normalized();
        assert_eq!(none.unwrap_err().field, "weekdays");
        let cron = Rhythm::Cron {
            expr: "  0  10 * *   1 ".into(),
        };
        assert_eq!(cron.normalized().unwrap().cron_expr(), "0 10 * * 1");
        let seconds = Rhythm::Cron {
            expr: "0 0 10 * * 1".into(),
        };
        assert_eq!(
            seconds.normalized().unwrap_err().problem,
            Problem::CronFormat
        );
    }

    #[test]
    fn only_rules_recur() {
        assert!(check_schedule_source(&RecipientSource::Matched).is_ok());
        assert!(check_schedule_source(&RecipientSource::Tag(2)).is_ok());
        let fixed = RecipientSource::Openids(vec!["o1".into()]);
        assert_eq!(
            check_schedule_source(&fixed).unwrap_err().problem,
            Problem::NotARecipientRule
        );
        assert!(check_schedule_source(&RecipientSource::Sheet(1)).is_err());
    }
}

//! A rhythm's runs in the console time zone, computed with croner: the next run, the runs
//! missed meanwhile, and a description in Chinese or English.

use chrono::TimeZone;
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use model::schedule::{Rhythm, RhythmText};
use model::{Lang, Problem};

use crate::{Error, Result};

/// Missed runs counted at most (an every-minute rhythm after a month down stops here).
pub const MISSED_COUNT_MAX: i64 = 10_000;

/// A checked rhythm, ready to compute runs in `tz`.
pub struct Runs {
    cron: Cron,
    tz: Tz,
}

impl Runs {
    /// Checks `rhythm` (five cron fields that run at least once in the coming years) and
    /// compiles it for `tz`.
    pub fn new(rhythm: &Rhythm, tz: Tz) -> Result<Runs> {
        let refused = || Error::refused("cron", Problem::CronFormat);
        let expr = rhythm.cron_expr();
        // Five fields only: no seconds (a run per second is not a send rhythm), no years.
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(&expr)
            .map_err(|_| refused())?;
        let runs = Runs { cron, tz };
        // `0 0 31 2 *` parses but never comes.
        runs.next_after(crate::now_ms()).ok_or_else(refused)?;
        Ok(runs)
    }

    /// The first run strictly after `ms`, on a whole minute.
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        // croner keeps the start's fraction of a second in what it finds: start on a whole one.
        let from = self.tz.timestamp_opt(ms.div_euclid(1000), 0).single()?;
        self.cron
            .find_next_occurrence(&from, false)
            .ok()
            .map(|t| t.timestamp() * 1000)
    }

    /// The next `n` runs after `ms`.
    pub fn upcoming(&self, ms: i64, n: usize) -> Vec<i64> {
        let mut runs = Vec::with_capacity(n);
        let mut at = ms;
        while runs.len() < n {
            match self.next_after(at) {
                Some(next) => {
                    runs.push(next);
                    at = next;
                }
                None => break,
            }
        }
        runs
    }

    /// Runs in `(after, upto]`, counted up to [`MISSED_COUNT_MAX`].
    pub fn count_between(&self, after: i64, upto: i64) -> i64 {
        let mut n = 0;
        let mut at = after;
        while n < MISSED_COUNT_MAX {
            match self.next_after(at) {
                Some(next) if next <= upto => {
                    n += 1;
                    at = next;
                }
                _ => break,
            }
        }
        n
    }

    /// `rhythm` in words: daily and weekly rhythms as the model writes them, a cron
    /// expression as croner describes it.
    pub fn describe(&self, rhythm: &Rhythm) -> RhythmText {
        let expr = rhythm.cron_expr();
        match (rhythm.summary(Lang::Zh), rhythm.summary(Lang::En)) {
            (Some(zh), Some(en)) => RhythmText { zh, en },
            _ => RhythmText {
                zh: format!(
                    "Cron {expr}：{}",
                    self.cron
                        .describe_lang(Chinese)
                        .replace(", ", "，")
                        .trim_end_matches('.')
                ),
                en: format!("Cron {expr}: {}", self.cron.describe()),
            },
        }
    }
}

/// croner's phrases in Chinese. croner joins them in English order, which reads well enough
/// for the rhythms people write ("10:00，周一至周五" style).
#[derive(Clone, Copy, Default)]
struct Chinese;

impl croner::describe::Language for Chinese {
    fn every_minute(&self) -> &'static str {
        "每分钟"
    }
    fn every_second_phrase(&self) -> &'static str {
        "每秒"
    }
    fn every_x_minutes(&self, s: u16) -> String {
        format!("每 {s} 分钟")
    }
    fn every_x_seconds(&self, s: u16) -> String {
        format!("每 {s} 秒")
    }
    fn every_x_hours(&self, s: u16) -> String {
        format!("每 {s} 小时")
    }
    fn every_minute_of_every_x_hours(&self, s: u16) -> String {
        format!("每 {s} 小时内的每分钟")
    }
    fn at_time(&self, time: &str) -> String {
        time.to_owned()
    }
    fn at_time_and_every_x_seconds(&self, time: &str, step: u16) -> String {
        format!("{time}，每 {step} 秒")
    }
    fn at_time_at_second(&self, time: &str, second: &str) -> String {
        format!("{time} 第 {second} 秒")
    }
    fn at_phrase(&self, phrase: &str) -> String {
        phrase.to_owned()
    }
    fn on_phrase(&self, phrase: &str) -> String {
        phrase.to_owned()
    }
    fn in_phrase(&self, phrase: &str) -> String {
        phrase.to_owned()
    }
    fn second_phrase(&self, s: &str) -> String {
        format!("第 {s} 秒")
    }
    fn minute_phrase(&self, s: &str) -> String {
        format!("第 {s} 分")
    }
    fn minute_past_every_hour_phrase(&self, s: &str) -> String {
        format!("每小时第 {s} 分")
    }
    fn hour_phrase(&self, s: &str) -> String {
        format!("{s} 点")
    }
    fn year_phrase(&self, s: &str) -> String {
        format!("{s} 年")
    }
    fn day_phrase(&self, s: &str) -> String {
        format!("每月 {s} 日")
    }
    fn the_last_day_of_the_month(&self) -> &'static str {
        "每月最后一天"
    }
    fn the_weekday_nearest_day(&self, day: &str) -> String {
        format!("离 {day} 日最近的工作日")
    }
    fn the_last_weekday_of_the_month(&self, day: &str) -> String {
        format!("每月最后一个{day}")
    }
    fn the_nth_weekday_of_the_month(&self, n: u8, day: &str) -> String {
        format!("每月第 {n} 个{day}")
    }
    fn dom_and_dow_if_also(&self, dow: &str) -> String {
        format!("（且为{dow}）")
    }
    fn dom_and_dow_if_also_one_of(&self, dow: &str) -> String {
        format!("（且为{dow}之一）")
    }
    fn list_conjunction_and(&self) -> &'static str {
        "和"
    }
    fn list_conjunction_or(&self) -> &'static str {
        "或"
    }
    fn list_conjunction_and_comma(&self) -> &'static str {
        "和"
    }
    fn day_of_week_names(&self) -> [&'static str; 7] {
        ["周日", "周一", "周二", "周三", "周四", "周五", "周六"]
    }
    fn month_names(&self) -> [&'static str; 12] {
        [
            "1 月", "2 月", "3 月", "4 月", "5 月", "6 月", "7 月", "8 月", "9 月", "10 月",
            "11 月", "12 月",
        ]
    }
}

#[cfg(test)]
mod tests {
    use model::schedule::{TimeOfDay, Weekday};

    use super::*;

    fn shanghai() -> Tz {
        "Asia/Shanghai".parse().unwrap()
    }

    fn at(text: &str) -> i64 {
        crate::jobs::schedule::parse_local_time(text, shanghai()).unwrap()
    }

    #[test]
    fn a_weekly_rhythm_runs_on_its_days_in_the_console_time_zone() {
        let rhythm = Rhythm::Weekly {
            days: vec![Weekday::Mon, Weekday::Thu],
            at: TimeOfDay {
                hour: 10,
                minute: 0,
            },
        };
        let runs = Runs::new(&rhythm, shanghai()).unwrap();
        // 2026-12-07 is a Monday.
        assert_eq!(
            runs.next_after(at("2026-12-07T09:59")),
            Some(at("2026-12-07T10:00"))
        );
        assert_eq!(
            runs.next_after(at("2026-12-07T10:00")),
            Some(at("2026-12-10T10:00"))
        );
        assert_eq!(
            runs.upcoming(at("2026-12-07T10:00"), 3),
            vec![
                at("2026-12-10T10:00"),
                at("2026-12-14T10:00"),
                at("2026-12-17T10:00")
            ]
        );
        // From Monday 10:00 (run) to the next Monday 11:00: Thursday and Monday were missed.
        assert_eq!(
            runs.count_between(at("2026-12-07T10:00"), at("2026-12-14T11:00")),
            2
        );
        assert_eq!(runs.describe(&rhythm).zh, "每周一、周四 10:00");
    }

    #[test]
    fn cron_expressions_are_checked_and_described() {
        let rhythm = Rhythm::Cron {
            expr: "30 9 * * 1-5".into(),
        };
        let runs = Runs::new(&rhythm, shanghai()).unwrap();
        // Saturday 2026-12-12 → Monday 09:30.
        assert_eq!(
            runs.next_after(at("2026-12-12T12:00")),
            Some(at("2026-12-14T09:30"))
        );
        let text = runs.describe(&rhythm);
        assert!(
            text.en.starts_with("Cron 30 9 * * 1-5: At 09:30"),
            "{}",
            text.en
        );
        assert!(
            text.zh.contains("09:30") && text.zh.contains("周一"),
            "{}",
            text.zh
        );
        for bad in ["61 * * * *", "0 0 31 2 *", "* * * * * *", "every monday"] {
            let refused = Runs::new(&Rhythm::Cron { expr: bad.into() }, shanghai());
            assert!(
                matches!(refused, Err(Error::Refused(ref r)) if r.problem == Problem::CronFormat),
                "{bad}"
            );
        }
    }
}

//! The console time zone, and each Official Account's quiet hours and per-person daily cap: the
//! settings (audited), the quiet-hours pass that pauses and resumes jobs, and the daily-cap
//! count taken when rows are claimed.
//!
//! Quiet hours: [`Engine::apply_quiet_hours`] runs in every dispatcher loop (about once a second,
//! and on any number of processes: each change is one guarded UPDATE, so exactly one process
//! makes it and audits it). It pauses the running jobs of an account inside its window with
//! [`PauseReason::QuietHours`] and resumes only jobs paused for that reason once the window
//! ended (or quiet hours were switched off) — never a job paused by staff or waiting for approval.
//!
//! Daily cap: a template row is counted once, when it is first claimed, against a counter per
//! (account, local day, openid) raised by a guarded upsert (`sent < cap`) in one transaction with
//! the row; a row over the cap becomes `skipped` with [`SkipReason::DailyCap`] instead of being
//! sent. The upsert serializes concurrent claims of the same person on PostgreSQL (row lock,
//! re-checked after the other commits), and rows are counted in openid order so that two claims
//! never wait for each other in a cycle. A counted message stays counted whatever happens to it
//! (a failure, a cancel): the cap is never exceeded, at worst one is used up unsent.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, LocalResult, TimeZone, Timelike};
use chrono_tz::Tz;
use model::send_rules::{QuietHours, SendRules, SendRulesReview, DEFAULT_TIME_ZONE};
use model::{AccountKind, PauseReason, Problem, SkipReason};

use crate::accounts::Account;
use crate::audit::{Actor, AuditAction, RecordAudit};
use crate::jobs::queue::Claimed;
use crate::jobs::JobState;
use crate::{now_ms, on_db, Engine, Error, Result};

const TIME_ZONE: &str = "time_zone";
/// How long a process uses the time zone and send rules it read before reading them again
/// (the claims read them; a change made in this process applies at once).
const CACHE_FOR: Duration = Duration::from_secs(5);
/// Counters of days older than this many days are deleted.
const KEEP_DAYS: i64 = 2;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The console time zone `name` (an IANA name such as `Asia/Shanghai`).
pub fn parse_time_zone(name: &str) -> std::result::Result<Tz, Problem> {
    name.trim()
        .parse::<Tz>()
        .map_err(|_| Problem::UnknownTimeZone)
}

fn local(tz: Tz, now_ms: i64) -> DateTime<Tz> {
    DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&tz)
}

/// Minutes after local midnight in `tz` at `now_ms`.
pub fn local_minute(tz: Tz, now_ms: i64) -> u16 {
    let t = local(tz, now_ms);
    (t.hour() * 60 + t.minute()) as u16
}

/// The local day in `tz` at `now_ms`, `YYYY-MM-DD` (the daily cap's day).
pub fn local_day(tz: Tz, now_ms: i64) -> String {
    let t = local(tz, now_ms);
    format!("{:04}-{:02}-{:02}", t.year(), t.month(), t.day())
}

/// When the quiet hours in force at `now_ms` end (unix ms), or `None` outside them: the rule,
/// a pure function of the window, the time zone and the time.
pub fn quiet_until(quiet: QuietHours, tz: Tz, now_ms: i64) -> Option<i64> {
    let t = local(tz, now_ms);
    let minute = (t.hour() * 60 + t.minute()) as u16;
    let left = quiet.minutes_left(minute)?;
    // Where the clock changes inside the window the wall-clock end is what counts.
    let mut date = t.date_naive();
    if quiet.end_min <= minute {
        date = date.succ_opt()?;
    }
    let end = date.and_hms_opt(
        u32::from(quiet.end_min / 60),
        u32::from(quiet.end_min % 60),
        0,
    )?;
    let fallback = now_ms - i64::from(t.second()) * 1_000 - i64::from(t.timestamp_subsec_millis())
        + i64::from(left) * 60_000;
    Some(match tz.from_local_datetime(&end) {
        LocalResult::Single(e) | LocalResult::Ambiguous(e, _) => e.timestamp_millis(),
        LocalResult::None => fallback,
    })
}

/// What one quiet-hours pass changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuietPass {
    /// Jobs paused because their account's quiet hours began.
    pub paused: Vec<i64>,
    /// Jobs resumed because their account's quiet hours ended (or were switched off).
    pub resumed: Vec<i64>,
}

/// The settings a process's claims read, kept for [`CACHE_FOR`].
#[derive(Debug, Default)]
pub(crate) struct RulesCache {
    time_zone: Mutex<Option<(Instant, Tz)>>,
    rules: Mutex<HashMap<i64, (Instant, SendRules)>>,
    /// When counters of old days were last deleted.
    pruned_ms: AtomicI64,
}

impl RulesCache {
    fn clear(&self) {
        *self.time_zone.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.rules.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[derive(sqlx::FromRow)]
struct RulesRow {
    account_id: i64,
    quiet_start_min: Option<i32>,
    quiet_end_min: Option<i32>,
    daily_cap: Option<i64>,
}

impl RulesRow {
    fn rules(&self) -> SendRules {
        let quiet_hours = match (self.quiet_start_min, self.quiet_end_min) {
            (Some(s), Some(e)) => QuietHours::new(s as u16, e as u16).ok(),
            _ => None,
        };
        SendRules {
            quiet_hours,
            daily_cap: self.daily_cap,
        }
    }
}

const SELECT_RULES: &str =
    "SELECT account_id, quiet_start_min, quiet_end_min, daily_cap FROM send_rules";

impl Engine {
    fn rules_cache(&self) -> &RulesCache {
        &self.inner.send_rules
    }

    /// The console time zone (`Asia/Shanghai` unless an admin set another): days of the daily
    /// cap and quiet hours are read in it.
    pub async fn time_zone(&self) -> Result<Tz> {
        let value: Option<String> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT value FROM app_settings WHERE key = $1"
        )
        .bind(TIME_ZONE)
        .fetch_optional(pool)
        .await)?;
        let tz = value
            .and_then(|v| parse_time_zone(&v).ok())
            .or_else(|| parse_time_zone(DEFAULT_TIME_ZONE).ok())
            .unwrap_or(chrono_tz::Asia::Shanghai);
        *self
            .rules_cache()
            .time_zone
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), tz));
        Ok(tz)
    }

    /// [`Engine::time_zone`], as read at most [`CACHE_FOR`] ago.
    async fn cached_time_zone(&self) -> Result<Tz> {
        let cached = *self
            .rules_cache()
            .time_zone
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match cached {
            Some((at, tz)) if at.elapsed() < CACHE_FOR => Ok(tz),
            _ => self.time_zone().await,
        }
    }

    /// Sets the console time zone (admins; the caller checks the role). Audited in the same
    /// transaction.
    pub async fn set_time_zone(&self, actor: &Actor, name: &str) -> Result<()> {
        let name = name.trim();
        let tz = parse_time_zone(name).map_err(|p| Error::refused("time_zone", p))?;
        let before = self.time_zone().await?;
        let detail = serde_json::json!({ "from": before.name(), "to": tz.name() });
        {
            let _turn = self.write_gate().await;
            on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO app_settings (key, value, updated_by, updated_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, \
                     updated_by = EXCLUDED.updated_by, updated_ms = EXCLUDED.updated_ms",
                )
                .bind(TIME_ZONE)
                .bind(tz.name())
                .bind(&actor.name)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
                tx.record_audit(actor, AuditAction::SettingsTimeZone, TIME_ZONE, &detail)
                    .await?;
                tx.commit().await
            })?;
        }
        self.rules_cache().clear();
        self.jobs_shared().wake();
        Ok(())
    }

    /// The quiet hours and daily cap of Official Account `account_id` (off unless set).
    pub async fn send_rules(&self, account_id: i64) -> Result<SendRules> {
        let sql = format!("{SELECT_RULES} WHERE account_id = $1");
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, RulesRow>(&sql)
            .bind(account_id)
            .fetch_optional(pool)
            .await)?;
        let rules = row.map(|r| r.rules()).unwrap_or_default();
        self.rules_cache()
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(account_id, (Instant::now(), rules));
        Ok(rules)
    }

    async fn cached_send_rules(&self, account_id: i64) -> Result<SendRules> {
        let cached = self
            .rules_cache()
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&account_id)
            .copied();
        match cached {
            Some((at, rules)) if at.elapsed() < CACHE_FOR => Ok(rules),
            _ => self.send_rules(account_id).await,
        }
    }

    /// Sets an Official Account's quiet hours and daily cap (admins; the caller checks the
    /// role). Audited in the same transaction, with the rules before and after.
    pub async fn set_send_rules(
        &self,
        actor: &Actor,
        account: &Account,
        rules: SendRules,
    ) -> Result<()> {
        if account.kind != AccountKind::Oa {
            return Err(Error::refused("account", Problem::OfficialAccountOnly));
        }
        if let Some(q) = rules.quiet_hours {
            QuietHours::new(q.start_min, q.end_min).map_err(|p| Error::refused("quiet_end", p))?;
        }
        if let Some(cap) = rules.daily_cap {
            model::send_rules::daily_cap(cap).map_err(|p| Error::refused("daily_cap", p))?;
        }
        let before = self.send_rules(account.id).await?;
        let describe = |r: &SendRules| {
            serde_json::json!({
                "quiet_hours": r.quiet_hours.map(QuietHours::label),
                "daily_cap": r.daily_cap,
            })
        };
        let detail = serde_json::json!({
            "account": account.appid,
            "from": describe(&before),
            "to": describe(&rules),
        });
        {
            let _turn = self.write_gate().await;
            on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                sqlx::query(
                    "INSERT INTO send_rules (account_id, quiet_start_min, quiet_end_min, daily_cap, \
                     updated_by, updated_ms) VALUES ($1, $2, $3, $4, $5, $6) \
                     ON CONFLICT (account_id) DO UPDATE SET \
                     quiet_start_min = EXCLUDED.quiet_start_min, \
                     quiet_end_min = EXCLUDED.quiet_end_min, daily_cap = EXCLUDED.daily_cap, \
                     updated_by = EXCLUDED.updated_by, updated_ms = EXCLUDED.updated_ms",
                )
                .bind(account.id)
                .bind(rules.quiet_hours.map(|q| i32::from(q.start_min)))
                .bind(rules.quiet_hours.map(|q| i32::from(q.end_min)))
                .bind(rules.daily_cap)
                .bind(&actor.name)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
                tx.record_audit(
                    actor,
                    AuditAction::SettingsSendRules,
                    &account.name,
                    &detail,
                )
                .await?;
                tx.commit().await
            })?;
        }
        self.rules_cache().clear();
        // The dispatchers' next pass applies quiet hours switched on or off.
        self.jobs_shared().wake();
        Ok(())
    }

    /// When the quiet hours of `account_id` in force at `now` end, or `None` outside them.
    pub async fn quiet_until(&self, account_id: i64, now: i64) -> Result<Option<i64>> {
        let rules = self.send_rules(account_id).await?;
        let Some(quiet) = rules.quiet_hours else {
            return Ok(None);
        };
        let tz = self.time_zone().await?;
        Ok(quiet_until(quiet, tz, now))
    }

    /// Pauses the running jobs (batch jobs and API messages) of accounts inside their quiet
    /// hours at `now`, and resumes the jobs paused for quiet hours of accounts outside them.
    /// Each change is audited (by `system`) in the transaction that makes it.
    pub async fn apply_quiet_hours(&self, now: i64) -> Result<QuietPass> {
        let tz = self.time_zone().await?;
        let rows = on_db!(self.db(), |pool| sqlx::query_as::<_, RulesRow>(&format!(
            "{SELECT_RULES} WHERE quiet_start_min IS NOT NULL AND quiet_end_min IS NOT NULL"
        ))
        .fetch_all(pool)
        .await)?;
        let quiet: HashMap<i64, i64> = rows
            .iter()
            .filter_map(|r| {
                let until = quiet_until(r.rules().quiet_hours?, tz, now)?;
                Some((r.account_id, until))
            })
            .collect();
        // What to change is read first: most passes change nothing and write nothing.
        let candidates: Vec<(i64, i64, String, Option<String>)> =
            on_db!(self.db(), |pool| sqlx::query_as(
                "SELECT id, account_id, state, pause_reason FROM jobs \
                 WHERE state = 'running' OR (state = 'paused' AND pause_reason = $1)"
            )
            .bind(PauseReason::QuietHours.to_stored())
            .fetch_all(pool)
            .await)?;
        let mut to_pause = Vec::new();
        let mut to_resume = Vec::new();
        for (id, account_id, state, _) in candidates {
            let inside = quiet.get(&account_id).copied();
            match (state.as_str(), inside) {
                ("running", Some(until)) => to_pause.push((id, until)),
                ("paused", None) => to_resume.push(id),
                _ => {}
            }
        }
        let mut pass = QuietPass::default();
        if to_pause.is_empty() && to_resume.is_empty() {
            return Ok(pass);
        }
        let reason = PauseReason::QuietHours.to_stored();
        {
            let _write = self.write_gate().await;
            let (paused, resumed) = on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                let mut paused = Vec::new();
                let mut resumed = Vec::new();
                for (id, until) in &to_pause {
                    let name: Option<String> = sqlx::query_scalar(
                        "UPDATE jobs SET state = 'paused', pause_reason = $1, updated_ms = $2 \
                         WHERE id = $3 AND state = 'running' RETURNING name",
                    )
                    .bind(&reason)
                    .bind(now)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(name) = name {
                        let detail =
                            serde_json::json!({ "id": id, "reason": reason, "until_ms": until });
                        tx.record_audit(&Actor::system(), AuditAction::JobPause, &name, &detail)
                            .await?;
                        paused.push(*id);
                    }
                }
                for id in &to_resume {
                    let name: Option<String> = sqlx::query_scalar(
                        "UPDATE jobs SET state = 'running', pause_reason = NULL, updated_ms = $1 \
                         WHERE id = $2 AND state = 'paused' AND pause_reason = $3 RETURNING name",
                    )
                    .bind(now)
                    .bind(id)
                    .bind(&reason)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some(name) = name {
                        let detail = serde_json::json!({ "id": id, "pause_reason": reason });
                        tx.record_audit(&Actor::system(), AuditAction::JobResume, &name, &detail)
                            .await?;
                        resumed.push(*id);
                    }
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>((paused, resumed))
            })?;
            pass.paused = paused;
            pass.resumed = resumed;
        }
        for id in &pass.paused {
            self.jobs_shared().set_state(*id, JobState::Paused);
        }
        for id in &pass.resumed {
            self.jobs_shared().set_state(*id, JobState::Running);
        }
        if !pass.resumed.is_empty() {
            self.jobs_shared().wake();
        }
        if !pass.paused.is_empty() || !pass.resumed.is_empty() {
            tracing::info!(paused = ?pass.paused, resumed = ?pass.resumed, "quiet hours applied");
        }
        Ok(pass)
    }

    /// Deletes daily-cap counters of days long gone (at most once an hour per process).
    pub(crate) async fn prune_daily_sends(&self, now: i64) -> Result<u64> {
        let last = self.rules_cache().pruned_ms.load(Ordering::Acquire);
        if now - last < 60 * 60 * 1000 {
            return Ok(0);
        }
        self.rules_cache().pruned_ms.store(now, Ordering::Release);
        let tz = self.cached_time_zone().await?;
        let before = local_day(tz, now - KEEP_DAYS * DAY_MS);
        let _write = self.write_gate().await;
        Ok(on_db!(self.db(), |pool| sqlx::query(
            "DELETE FROM daily_sends WHERE day < $1"
        )
        .bind(&before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
    }

    /// Template messages counted against the daily cap for `openid` of `account_id` on the
    /// local day of `now`.
    pub async fn sent_today_to(&self, account_id: i64, openid: &str, now: i64) -> Result<i64> {
        let day = local_day(self.time_zone().await?, now);
        let n: Option<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT sent FROM daily_sends WHERE account_id = $1 AND day = $2 AND openid = $3"
        )
        .bind(account_id)
        .bind(&day)
        .bind(openid)
        .fetch_optional(pool)
        .await)?;
        Ok(n.unwrap_or(0))
    }

    /// The review step's view of the account's send rules for a job whose template-message
    /// recipients are `openids`, created at `now`.
    pub(crate) async fn review_send_rules<'a>(
        &self,
        account_id: i64,
        openids: impl Iterator<Item = &'a str>,
        now: i64,
    ) -> Result<SendRulesReview> {
        let rules = self.send_rules(account_id).await?;
        let tz = self.time_zone().await?;
        let quiet_until_ms = rules.quiet_hours.and_then(|q| quiet_until(q, tz, now));
        let at_daily_cap = match rules.daily_cap {
            None => 0,
            Some(cap) => {
                let capped: Vec<String> = on_db!(self.db(), |pool| sqlx::query_scalar(
                    "SELECT openid FROM daily_sends WHERE account_id = $1 AND day = $2 \
                     AND sent >= $3"
                )
                .bind(account_id)
                .bind(local_day(tz, now))
                .bind(cap)
                .fetch_all(pool)
                .await)?;
                if capped.is_empty() {
                    0
                } else {
                    let capped: HashSet<String> = capped.into_iter().collect();
                    openids.filter(|o| capped.contains(*o)).count() as i64
                }
            }
        };
        Ok(SendRulesReview {
            time_zone: tz.name().to_owned(),
            quiet_hours: rules.quiet_hours,
            in_quiet_hours: quiet_until_ms.is_some(),
            quiet_until_ms,
            daily_cap: rules.daily_cap,
            at_daily_cap,
        })
    }

    /// Counts the template rows just claimed by `owner` at `claimed_ms` against the daily cap
    /// of `account_id`; returns the rows to send (in their order). A row over the cap becomes
    /// `skipped` (daily_cap). On an error the uncounted rows go back to `pending` unsent.
    pub(crate) async fn count_against_cap(
        &self,
        job_id: i64,
        account_id: i64,
        owner: &str,
        claimed_ms: i64,
        rows: Vec<Claimed>,
    ) -> Result<Vec<Claimed>> {
        let to_count: Vec<usize> = rows
            .iter()
            .enumerate()
            .filter(|(_, r)| r.cap_day.is_none() && r.row_channel() == model::RowChannel::Template)
            .map(|(i, _)| i)
            .collect();
        if to_count.is_empty() {
            return Ok(rows);
        }
        let Some(cap) = self.cached_send_rules(account_id).await?.daily_cap else {
            return Ok(rows);
        };
        let day = local_day(self.cached_time_zone().await?, claimed_ms);
        // A fixed lock order (by openid) across every claim: no two wait for each other.
        let mut order = to_count;
        order.sort_by(|a, b| rows[*a].openid.cmp(&rows[*b].openid));
        let counted = {
            let _write = self.write_gate().await;
            let result = on_db!(self.db(), |pool| {
                let mut tx = pool.begin().await?;
                let mut over = Vec::new();
                for &i in &order {
                    let row = &rows[i];
                    let allowed: Option<i64> = sqlx::query_scalar(
                        "INSERT INTO daily_sends (account_id, day, openid, sent) \
                         VALUES ($1, $2, $3, 1) ON CONFLICT (account_id, day, openid) \
                         DO UPDATE SET sent = daily_sends.sent + 1 WHERE daily_sends.sent < $4 \
                         RETURNING sent",
                    )
                    .bind(account_id)
                    .bind(&day)
                    .bind(&row.openid)
                    .bind(cap)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if allowed.is_some() {
                        sqlx::query(
                            "UPDATE job_recipients SET cap_day = $1 WHERE job_id = $2 AND seq = $3",
                        )
                        .bind(&day)
                        .bind(job_id)
                        .bind(row.seq)
                        .execute(&mut *tx)
                        .await?;
                    } else {
                        sqlx::query(
                            "UPDATE job_recipients SET state = 'skipped', skip_reason = $1, \
                             attempts = attempts - 1, lease_owner = NULL, lease_until_ms = 0, \
                             completed_ms = $2, updated_ms = $2 \
                             WHERE job_id = $3 AND seq = $4 AND state = 'sending' \
                             AND lease_owner = $5",
                        )
                        .bind(SkipReason::DailyCap.as_str())
                        .bind(claimed_ms)
                        .bind(job_id)
                        .bind(row.seq)
                        .bind(owner)
                        .execute(&mut *tx)
                        .await?;
                        over.push(row.seq);
                    }
                }
                tx.commit().await?;
                Ok::<_, sqlx::Error>(over)
            });
            result
        };
        match counted {
            Ok(over) => {
                if over.is_empty() {
                    return Ok(rows);
                }
                let over: HashSet<i64> = over.into_iter().collect();
                Ok(rows
                    .into_iter()
                    .filter(|r| !over.contains(&r.seq))
                    .collect())
            }
            Err(e) => {
                // Nothing was counted: the rows go back unsent rather than out uncounted.
                let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
                if let Err(release) = self.release_claimed(job_id, owner, &seqs).await {
                    tracing::warn!(job_id, error = %release, "could not put back rows the daily cap could not count");
                }
                Err(e.into())
            }
        }
    }

    /// Puts rows `owner` claimed back to `pending`, unsent (their attempt does not count).
    async fn release_claimed(&self, job_id: i64, owner: &str, seqs: &[i64]) -> Result<()> {
        let _write = self.write_gate().await;
        for seq in seqs {
            on_db!(self.db(), |pool| sqlx::query(
                "UPDATE job_recipients SET state = 'pending', attempts = attempts - 1, \
                 lease_owner = NULL, lease_until_ms = 0 \
                 WHERE job_id = $1 AND seq = $2 AND state = 'sending' AND lease_owner = $3"
            )
            .bind(job_id)
            .bind(seq)
            .bind(owner)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn quiet_hours_across_midnight_end_the_next_morning() {
        let tz = chrono_tz::Asia::Shanghai;
        let q = QuietHours::new(22 * 60, 8 * 60).unwrap();
        assert_eq!(quiet_until(q, tz, shanghai(2026, 3, 1, 21, 59)), None);
        let end = shanghai(2026, 3, 2, 8, 0);
        assert_eq!(quiet_until(q, tz, shanghai(2026, 3, 1, 22, 0)), Some(end));
        assert_eq!(quiet_until(q, tz, shanghai(2026, 3, 1, 23, 30)), Some(end));
        assert_eq!(quiet_until(q, tz, shanghai(2026, 3, 2, 7, 59)), Some(end));
        assert_eq!(quiet_until(q, tz, end), None);
        assert_eq!(local_day(tz, shanghai(2026, 3, 1, 23, 59)), "2026-03-01");
        assert_eq!(local_day(tz, shanghai(2026, 3, 2, 0, 0)), "2026-03-02");
        assert_eq!(local_minute(tz, shanghai(2026, 3, 2, 7, 59)), 479);
    }

    #[test]
    fn the_time_zone_moves_the_window() {
        let q = QuietHours::new(22 * 60, 8 * 60).unwrap();
        // 23:00 in Shanghai is 15:00 UTC: quiet there, not in London (winter, UTC+0).
        let t = shanghai(2026, 1, 10, 23, 0);
        assert!(quiet_until(q, chrono_tz::Asia::Shanghai, t).is_some());
        assert!(quiet_until(q, chrono_tz::Europe::London, t).is_none());
        assert_eq!(
            parse_time_zone("Mars/Olympus"),
            Err(Problem::UnknownTimeZone)
        );
        assert!(parse_time_zone(DEFAULT_TIME_ZONE).is_ok());
    }
}

//! Mini Program subscription credits: a ledger per MP user and template fed by WeChat's subscribe
//! events, the MP backend's reports, and the sends of jobs.
//!
//! Every change goes through one transaction that first locks the user's credit row (an upsert),
//! so the writes for one user and template are serialised on both databases: de-duplication
//! (`dedup_key`), pairing and the balance are decided on the latest committed state.

use std::collections::HashSet;

use serde::Serialize;
use wechat::callback::events::SubscribeStatus as Status;
use wechat::callback::Event;

use crate::accounts::{Account, AccountKind};
use crate::{now_ms, on_db, Engine, Error, Result};
use model::Problem;

/// Openids per `IN (…)` query of [`Engine::credit_holders`].
const HOLDERS_CHUNK: usize = 500;
/// A popup event and the MP backend's report of the same click are at most this far apart.
pub const PAIRING_WINDOW_MS: i64 = 5 * 60 * 1000;
/// The most templates one report may carry (WeChat asks for at most 3 per popup).
pub const MAX_REPORT_TEMPLATES: usize = 10;
/// Ledger entries returned at most by [`Engine::subscription_ledger`].
pub const MAX_LEDGER_ENTRIES: i64 = 1_000;

/// What one MP user may receive for one subscribe template.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Credit {
    /// One-time subscriptions not used yet.
    pub one_time: i64,
    /// A long-term subscription is on.
    pub long_term: bool,
    /// The last answer was a refusal (reject, ban, switched off, WeChat's 43101).
    pub refused: bool,
}

impl Credit {
    /// A send to this user and template can be made.
    pub fn holds(&self) -> bool {
        self.one_time > 0 || self.long_term
    }
}

/// A user's credit for one template, as the report API answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TemplateCredit {
    pub template_id: String,
    #[serde(flatten)]
    pub credit: Credit,
}

/// One entry of the ledger, newest first in [`Engine::subscription_ledger`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LedgerEntry {
    pub id: i64,
    pub template_id: String,
    /// popup / change / sent (WeChat's events), report (the MP backend), send (a job spent a
    /// credit), refused (WeChat answered 43101).
    pub source: String,
    pub status: String,
    pub one_time_delta: i64,
    /// The long-term switch after this entry, when it changed it.
    pub long_term: Option<bool>,
    /// An accept already counted through the other channel.
    pub paired: bool,
    pub event_ms: i64,
    pub recorded_ms: i64,
    pub job_id: Option<i64>,
    pub seq: Option<i64>,
    pub dedup_key: Option<String>,
}

/// The credits of one synced subscribe template, for the dashboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TemplateCredits {
    pub template_id: String,
    pub title: String,
    /// A long-term template (WeChat type 3); otherwise one-time (type 2).
    pub long_term: bool,
    /// Users who can be sent this template now.
    pub holders: i64,
    /// One-time credits of every user together.
    pub one_time_total: i64,
    /// Users with the long-term subscription on.
    pub long_term_users: i64,
    /// Users whose last answer was a refusal.
    pub refused_users: i64,
}

/// A status of `wx.requestSubscribeMessage`'s success callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportStatus {
    Accept,
    Reject,
    /// The user chose "always refuse" (or switched the template off earlier).
    Ban,
    /// WeChat filtered the template out (title duplicated, type mixed…): no popup was shown.
    Filter,
}

impl ReportStatus {
    /// The exact, lowercase strings the Mini Program gets.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "accept" => Some(Self::Accept),
            "reject" => Some(Self::Reject),
            "ban" => Some(Self::Ban),
            "filter" => Some(Self::Filter),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "accept",
            Self::Reject => "reject",
            Self::Ban => "ban",
            Self::Filter => "filter",
        }
    }
}

/// What an entry does to a balance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// An accepted popup: one more one-time credit, or the long-term switch on.
    Grant { long_term: bool },
    /// A refused popup: credits already held stay (WeChat keeps earlier grants).
    Refuse,
    /// Switched off, banned or 43101: nothing left.
    Clear,
    /// Switched on again in the settings: long-term templates resume, one-time ones need a popup.
    Enable { long_term: bool },
    /// A message was sent: one one-time credit used unless long-term.
    Spend,
    /// Recorded for the history only.
    Nothing,
}

impl Op {
    fn apply(self, c: Credit) -> Credit {
        match self {
            Op::Grant { long_term: true } => Credit {
                long_term: true,
                refused: false,
                ..c
            },
            Op::Grant { long_term: false } => Credit {
                one_time: c.one_time.saturating_add(1),
                refused: false,
                ..c
            },
            Op::Refuse => Credit { refused: true, ..c },
            Op::Clear => Credit {
                one_time: 0,
                long_term: false,
                refused: true,
            },
            Op::Enable { long_term } => Credit {
                long_term: c.long_term || long_term,
                refused: false,
                ..c
            },
            Op::Spend if c.long_term => c,
            Op::Spend => Credit {
                one_time: (c.one_time - 1).max(0),
                ..c
            },
            Op::Nothing => c,
        }
    }
}

/// One ledger entry to write.
struct Entry {
    source: &'static str,
    status: String,
    event_ms: i64,
    dedup_key: Option<String>,
    job: Option<(i64, i64)>,
    op: Op,
}

const LOCK_CREDIT: &str = "INSERT INTO subscription_credits \
     (account_id, openid, template_id, one_time, long_term, refused, updated_ms) \
     VALUES ($1, $2, $3, 0, FALSE, FALSE, $4) \
     ON CONFLICT (account_id, openid, template_id) \
     DO UPDATE SET updated_ms = subscription_credits.updated_ms \
     RETURNING one_time, long_term, refused";

const FIND_PARTNER: &str = "SELECT id FROM subscription_ledger \
     WHERE account_id = $1 AND openid = $2 AND template_id = $3 AND source = $4 \
     AND status LIKE 'accept%' AND paired = FALSE AND event_ms >= $5 AND event_ms <= $6 \
     ORDER BY ABS(event_ms - $7), id LIMIT 1";

const INSERT_ENTRY: &str = "INSERT INTO subscription_ledger \
     (account_id, openid, template_id, source, status, one_time_delta, long_term, paired, \
     event_ms, recorded_ms, job_id, seq, dedup_key) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
     ON CONFLICT DO NOTHING RETURNING id";

const SET_PAIRED: &str = "UPDATE subscription_ledger SET paired = TRUE WHERE id = $1";

const SET_CREDIT: &str = "UPDATE subscription_credits \
     SET one_time = $1, long_term = $2, refused = $3, updated_ms = $4 \
     WHERE account_id = $5 AND openid = $6 AND template_id = $7";

/// A `SubscribeStatusString` as the ledger stores it.
fn status_text(s: &Status) -> String {
    match s {
        Status::Accept => "accept".into(),
        Status::AcceptWithAudio => "acceptWithAudio".into(),
        Status::AcceptWithAlert => "acceptWithAlert".into(),
        Status::Reject => "reject".into(),
        Status::Other(other) => other.chars().take(64).collect(),
    }
}

/// An openid or template id worth storing (a push is signed by WeChat, but never trusted blindly).
fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 128
}

/// An `ErrorStatus` of subscribe_msg_sent_event that says the user refuses the message.
fn refuses(error_status: &str) -> bool {
    error_status.to_ascii_lowercase().contains("refuse")
}

impl Engine {
    /// Of `openids`, those holding a credit for `template_id` of the Mini Program (a one-time
    /// credit left, or the long-term subscription on).
    pub async fn credit_holders(
        &self,
        mp_account_id: i64,
        template_id: &str,
        openids: &[String],
    ) -> Result<HashSet<String>> {
        let mut holders = HashSet::new();
        for chunk in openids.chunks(HOLDERS_CHUNK) {
            let list = (0..chunk.len())
                .map(|i| format!("${}", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT openid FROM subscription_credits WHERE account_id = $1 \
                 AND template_id = $2 AND (one_time > 0 OR long_term) AND openid IN ({list})"
            );
            let found: Vec<String> = on_db!(self.db(), |pool| {
                let mut q = sqlx::query_scalar(&sql)
                    .bind(mp_account_id)
                    .bind(template_id);
                for openid in chunk {
                    q = q.bind(openid);
                }
                q.fetch_all(pool).await
            })?;
            holders.extend(found);
        }
        Ok(holders)
    }

    /// A message to `openid` was accepted by WeChat: one one-time credit is used, unless the
    /// long-term subscription is on (never below 0). Counted once per `msg:{msgid}` — the
    /// subscribe_msg_sent_event of the same msgid uses that key too — or, without a msgid,
    /// once per `send:{job}:{seq}`.
    pub async fn spend_credit(
        &self,
        mp_account_id: i64,
        openid: &str,
        template_id: &str,
        msgid: Option<i64>,
        job: Option<(i64, i64)>,
    ) -> Result<()> {
        let dedup_key = match (msgid, job) {
            (Some(m), _) => Some(format!("msg:{m}")),
            (None, Some((job_id, seq))) => Some(format!("send:{job_id}:{seq}")),
            (None, None) => None,
        };
        let entry = Entry {
            source: "send",
            status: "sent".into(),
            event_ms: now_ms(),
            dedup_key,
            job,
            op: Op::Spend,
        };
        self.write_entry(mp_account_id, openid, template_id, &entry)
            .await
            .map(|_| ())
    }

    /// WeChat answered 43101 (the user refuses the message): no credit is left.
    pub async fn clear_credit(
        &self,
        mp_account_id: i64,
        openid: &str,
        template_id: &str,
        job: Option<(i64, i64)>,
    ) -> Result<()> {
        let entry = Entry {
            source: "refused",
            status: "43101".into(),
            event_ms: now_ms(),
            dedup_key: None,
            job,
            op: Op::Clear,
        };
        self.write_entry(mp_account_id, openid, template_id, &entry)
            .await
            .map(|_| ())
    }

    /// Applies a subscribe_msg_popup_event, subscribe_msg_change_event or
    /// subscribe_msg_sent_event pushed to the Mini Program's callback; other events are
    /// ignored. A push WeChat repeats is entered once.
    pub async fn apply_subscribe_event(&self, mp: &Account, event: &Event) -> Result<()> {
        if let Some(openid) = event.from_user() {
            if !plausible_id(openid) {
                tracing::warn!(appid = %mp.appid, "subscribe event ignored: implausible openid");
                return Ok(());
            }
        }
        match event {
            Event::SubscribeMsgPopupEvent {
                from_user,
                create_time,
                items,
                ..
            } => {
                let answers = items.iter().map(|i| (&i.template_id, &i.subscribe_status));
                self.apply_answers(mp, "popup", from_user, *create_time, answers)
                    .await?;
            }
            Event::SubscribeMsgChangeEvent {
                from_user,
                create_time,
                items,
                ..
            } => {
                let answers = items.iter().map(|i| (&i.template_id, &i.subscribe_status));
                self.apply_answers(mp, "change", from_user, *create_time, answers)
                    .await?;
            }
            Event::SubscribeMsgSentEvent {
                from_user,
                create_time,
                items,
                ..
            } => {
                for item in items.iter().filter(|i| plausible_id(&i.template_id)) {
                    // A delivered message used a credit, whoever sent it: the same key as the
                    // job's own spend of this msgid, so the two count once.
                    let (status, dedup_key, op) = if item.error_code == 0 {
                        ("sent".to_owned(), format!("msg:{}", item.msg_id), Op::Spend)
                    } else if refuses(&item.error_status) {
                        (
                            "refused".to_owned(),
                            format!("sent:{}:refused", item.msg_id),
                            Op::Clear,
                        )
                    } else {
                        (
                            "failed".to_owned(),
                            format!("sent:{}:{}", item.msg_id, item.error_code),
                            Op::Nothing,
                        )
                    };
                    let entry = Entry {
                        source: "sent",
                        status,
                        event_ms: create_time.saturating_mul(1000),
                        dedup_key: Some(dedup_key),
                        job: None,
                        op,
                    };
                    self.write_entry(mp.id, from_user, &item.template_id, &entry)
                        .await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The user's answers of a popup (`source` "popup": accept grants, reject refuses) or of the
    /// settings (`source` "change": accept switches back on, reject clears), one entry each.
    async fn apply_answers<'a>(
        &self,
        mp: &Account,
        source: &'static str,
        openid: &str,
        create_time: i64,
        answers: impl Iterator<Item = (&'a String, &'a Status)>,
    ) -> Result<()> {
        for (template_id, answer) in answers.filter(|(t, _)| plausible_id(t)) {
            let status = status_text(answer);
            let op = if answer.is_accepted() {
                let long_term = self.is_long_term(mp.id, template_id).await?;
                match source {
                    "popup" => Op::Grant { long_term },
                    _ => Op::Enable { long_term },
                }
            } else if *answer == Status::Reject {
                match source {
                    "popup" => Op::Refuse,
                    _ => Op::Clear,
                }
            } else {
                Op::Nothing
            };
            let entry = Entry {
                source,
                dedup_key: Some(format!("{source}:{create_time}:{status}")),
                status,
                event_ms: create_time.saturating_mul(1000),
                job: None,
                op,
            };
            self.write_entry(mp.id, openid, template_id, &entry).await?;
        }
        Ok(())
    }

    /// Records what `wx.requestSubscribeMessage` answered, as the Mini Program backend reports
    /// it (`results`: template id → accept | reject | ban | filter). The user must be known
    /// (`NotFound` otherwise: they log in through the login API first). Returns the user's
    /// credits for those templates, in the order given.
    pub async fn record_subscribe_report(
        &self,
        mp: &Account,
        openid: &str,
        results: &[(String, String)],
    ) -> Result<Vec<TemplateCredit>> {
        if mp.kind != AccountKind::Mp {
            return Err(Error::refused("account_id", Problem::MiniProgramOnly));
        }
        if results.len() > MAX_REPORT_TEMPLATES {
            return Err(Error::refused(
                "result",
                Problem::TooManyItems(MAX_REPORT_TEMPLATES),
            ));
        }
        let mut parsed = Vec::with_capacity(results.len());
        for (template_id, status) in results {
            let status = ReportStatus::parse(status)
                .ok_or_else(|| Error::refused("result", Problem::SubscribeStatus))?;
            if template_id.is_empty() || template_id.len() > 128 {
                return Err(Error::refused("result", Problem::UnknownTemplate));
            }
            parsed.push((template_id.as_str(), status));
        }
        if self.mp_user(mp.id, openid).await?.is_none() {
            return Err(Error::NotFound);
        }
        let now = now_ms();
        for (template_id, status) in &parsed {
            let op = match status {
                ReportStatus::Accept => Op::Grant {
                    long_term: self.is_long_term(mp.id, template_id).await?,
                },
                ReportStatus::Reject => Op::Refuse,
                ReportStatus::Ban => Op::Clear,
                ReportStatus::Filter => Op::Nothing,
            };
            let entry = Entry {
                source: "report",
                status: status.as_str().into(),
                event_ms: now,
                dedup_key: None,
                job: None,
                op,
            };
            self.write_entry(mp.id, openid, template_id, &entry).await?;
        }
        let mut out = Vec::with_capacity(parsed.len());
        for (template_id, _) in parsed {
            out.push(TemplateCredit {
                template_id: template_id.to_owned(),
                credit: self.credit(mp.id, openid, template_id).await?,
            });
        }
        Ok(out)
    }

    /// The credit of one user for one template (all zero when nothing is known).
    pub async fn credit(
        &self,
        mp_account_id: i64,
        openid: &str,
        template_id: &str,
    ) -> Result<Credit> {
        let row: Option<(i64, bool, bool)> = on_db!(self.db(), |pool| sqlx::query_as(
            "SELECT one_time, long_term, refused FROM subscription_credits \
             WHERE account_id = $1 AND openid = $2 AND template_id = $3"
        )
        .bind(mp_account_id)
        .bind(openid)
        .bind(template_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row
            .map(|(one_time, long_term, refused)| Credit {
                one_time,
                long_term,
                refused,
            })
            .unwrap_or_default())
    }

    /// The newest `limit` ledger entries of one user, every template (at most
    /// [`MAX_LEDGER_ENTRIES`]).
    pub async fn subscription_ledger(
        &self,
        mp_account_id: i64,
        openid: &str,
        limit: i64,
    ) -> Result<Vec<LedgerEntry>> {
        let entries = on_db!(self.db(), |pool| sqlx::query_as::<_, LedgerEntry>(
            "SELECT id, template_id, source, status, one_time_delta, long_term, paired, \
             event_ms, recorded_ms, job_id, seq, dedup_key FROM subscription_ledger \
             WHERE account_id = $1 AND openid = $2 ORDER BY id DESC LIMIT $3"
        )
        .bind(mp_account_id)
        .bind(openid)
        .bind(limit.clamp(0, MAX_LEDGER_ENTRIES))
        .fetch_all(pool)
        .await)?;
        Ok(entries)
    }

    /// Per synced (not removed) subscribe template of the Mini Program, in sync order: who can
    /// be sent it, the one-time credits, the long-term subscribers and the refusals.
    pub async fn credits_by_template(&self, mp_account_id: i64) -> Result<Vec<TemplateCredits>> {
        type Row = (String, String, Option<i64>, i64, i64, i64, i64);
        let rows: Vec<Row> = on_db!(self.db(), |pool| {
            sqlx::query_as(
            "SELECT t.template_id, t.title, t.sub_type, \
             CAST(COALESCE(SUM(CASE WHEN c.one_time > 0 OR c.long_term THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(c.one_time), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN c.long_term THEN 1 ELSE 0 END), 0) AS BIGINT), \
             CAST(COALESCE(SUM(CASE WHEN c.refused THEN 1 ELSE 0 END), 0) AS BIGINT) \
             FROM templates t LEFT JOIN subscription_credits c \
             ON c.account_id = t.account_id AND c.template_id = t.template_id \
             WHERE t.account_id = $1 AND t.kind = 'mp' AND t.state = 'active' \
             GROUP BY t.id, t.template_id, t.title, t.sub_type ORDER BY t.id"
        )
        .bind(mp_account_id)
        .fetch_all(pool)
        .await
        })?;
        Ok(rows
            .into_iter()
            .map(
                |(
                    template_id,
                    title,
                    sub_type,
                    holders,
                    one_time_total,
                    long_term_users,
                    refused_users,
                )| {
                    TemplateCredits {
                        template_id,
                        title,
                        long_term: sub_type == Some(3),
                        holders,
                        one_time_total,
                        long_term_users,
                        refused_users,
                    }
                },
            )
            .collect())
    }

    /// Whether the synced template is long-term (type 3); an unknown one counts as one-time.
    async fn is_long_term(&self, mp_account_id: i64, template_id: &str) -> Result<bool> {
        let sub_type: Option<Option<i64>> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT sub_type FROM templates WHERE account_id = $1 AND template_id = $2 \
             ORDER BY id DESC LIMIT 1"
        )
        .bind(mp_account_id)
        .bind(template_id)
        .fetch_optional(pool)
        .await)?;
        Ok(sub_type.flatten() == Some(3))
    }

    /// Writes one entry and the balance it leads to in one transaction. `false` when an entry
    /// with the same `dedup_key` was already written (nothing changes).
    async fn write_entry(
        &self,
        account_id: i64,
        openid: &str,
        template_id: &str,
        entry: &Entry,
    ) -> Result<bool> {
        let now = now_ms();
        let partner_source = match (entry.op, entry.source) {
            (Op::Grant { .. }, "popup") => Some("report"),
            (Op::Grant { .. }, "report") => Some("popup"),
            _ => None,
        };
        let (job_id, seq) = entry.job.unzip();
        let written = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            // Locks the row: concurrent writers for this user and template wait here.
            let (one_time, long_term, refused): (i64, bool, bool) = sqlx::query_as(LOCK_CREDIT)
                .bind(account_id)
                .bind(openid)
                .bind(template_id)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
            let before = Credit {
                one_time,
                long_term,
                refused,
            };
            let partner: Option<i64> = match partner_source {
                Some(source) => {
                    sqlx::query_scalar(FIND_PARTNER)
                        .bind(account_id)
                        .bind(openid)
                        .bind(template_id)
                        .bind(source)
                        .bind(entry.event_ms.saturating_sub(PAIRING_WINDOW_MS))
                        .bind(entry.event_ms.saturating_add(PAIRING_WINDOW_MS))
                        .bind(entry.event_ms)
                        .fetch_optional(&mut *tx)
                        .await?
                }
                None => None,
            };
            let after = if partner.is_some() {
                before
            } else {
                entry.op.apply(before)
            };
            let inserted: Option<i64> = sqlx::query_scalar(INSERT_ENTRY)
                .bind(account_id)
                .bind(openid)
                .bind(template_id)
                .bind(entry.source)
                .bind(&entry.status)
                .bind(after.one_time - before.one_time)
                .bind((after.long_term != before.long_term).then_some(after.long_term))
                .bind(partner.is_some())
                .bind(entry.event_ms)
                .bind(now)
                .bind(job_id)
                .bind(seq)
                .bind(&entry.dedup_key)
                .fetch_optional(&mut *tx)
                .await?;
            if inserted.is_none() {
                tx.rollback().await?;
                false
            } else {
                if let Some(partner) = partner {
                    sqlx::query(SET_PAIRED)
                        .bind(partner)
                        .execute(&mut *tx)
                        .await?;
                }
                if after != before {
                    sqlx::query(SET_CREDIT)
                        .bind(after.one_time)
                        .bind(after.long_term)
                        .bind(after.refused)
                        .bind(now)
                        .bind(account_id)
                        .bind(openid)
                        .bind(template_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                true
            }
        });
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances() {
        let zero = Credit::default();
        let one = Op::Grant { long_term: false }.apply(zero);
        assert_eq!(one.one_time, 1);
        assert_eq!(Op::Spend.apply(Op::Spend.apply(one)).one_time, 0);
        let lt = Op::Grant { long_term: true }.apply(one);
        assert!(lt.long_term && lt.one_time == 1);
        assert_eq!(Op::Spend.apply(lt), lt, "long-term sends use nothing");
        let refused = Op::Refuse.apply(one);
        assert!(refused.refused && refused.one_time == 1);
        assert_eq!(
            Op::Clear.apply(lt),
            Credit {
                one_time: 0,
                long_term: false,
                refused: true
            }
        );
        let back = Op::Enable { long_term: false }.apply(Op::Clear.apply(lt));
        assert!(!back.refused && !back.holds());
        assert!(Op::Enable { long_term: true }.apply(back).holds());
    }

    #[test]
    fn report_statuses_are_exact() {
        for s in ["accept", "reject", "ban", "filter"] {
            assert_eq!(ReportStatus::parse(s).map(ReportStatus::as_str), Some(s));
        }
        assert_eq!(ReportStatus::parse("Accept"), None);
        assert!(refuses("fail:user refuse to accept the msg"));
        assert!(!refuses("fail:system error"));
    }
}

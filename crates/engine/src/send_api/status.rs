//! The state of an accepted API message, as its sender reads it.

use model::api_messages::{ApiMessageDetail, ApiMessageFilter, HourCounts, SendKeyStats};
use model::send_api::{ApiMessageEntry, MessageState, MessageStatus, Person, SendKey};
use model::{Delivery, RecipientState, RowChannel};

use crate::{now_ms, on_db, Engine, Result};

/// The columns of [`STATUS_COLUMNS`].
#[derive(sqlx::FromRow)]
pub(super) struct StatusRow {
    pub(super) id: i64,
    pub(super) key_id: i64,
    pub(super) webhook_url: Option<String>,
    key_name: String,
    preset_name: Option<String>,
    idempotency_key: Option<String>,
    preset_id: Option<i64>,
    to_kind: String,
    to_id: String,
    pub(super) created_ms: i64,
    pub(super) state: String,
    channel: String,
    openid: String,
    attempts: i64,
    msgid: Option<i64>,
    errcode: Option<i64>,
    errmsg: Option<String>,
    pub(super) delivery: Option<String>,
    sent_ms: Option<i64>,
    completed_ms: Option<i64>,
    delivery_ms: Option<i64>,
}

/// A message's row, its recipient row, its key and its preset (`m`, `r`, `k`, `p`).
pub(super) const STATUS_FROM: &str =
    "SELECT m.id, m.key_id, k.webhook_url, k.name AS key_name, p.name AS preset_name, \
     m.idempotency_key, m.preset_id, m.to_kind, m.to_id, m.created_ms, r.state, r.channel, \
     r.openid, r.attempts, r.msgid, r.errcode, r.errmsg, r.delivery, r.sent_ms, r.completed_ms, \
     r.delivery_ms \
     FROM api_messages m JOIN job_recipients r ON r.job_id = m.job_id AND r.seq = m.seq \
     JOIN send_keys k ON k.id = m.key_id LEFT JOIN presets p ON p.id = m.preset_id";

impl StatusRow {
    pub(super) fn into_entry(self) -> Option<ApiMessageEntry> {
        let explained = self.errcode.map(|code| wechat::ApiError::WeChat {
            code,
            message: self.errmsg.clone().unwrap_or_default(),
        });
        Some(ApiMessageEntry {
            status: MessageStatus {
                id: self.id.to_string(),
                state: MessageState::of(RecipientState::parse(&self.state)?),
                channel: RowChannel::parse(&self.channel)?,
                to: Person::from_stored(&self.to_kind, self.to_id)?,
                openid: self.openid,
                preset: self.preset_id,
                idempotency_key: self.idempotency_key,
                attempts: self.attempts,
                msgid: self.msgid,
                errcode: self.errcode,
                errmsg: self.errmsg,
                explanation_zh: explained.as_ref().map(|e| e.explain(true)),
                explanation_en: explained.as_ref().map(|e| e.explain(false)),
                delivery: self.delivery.as_deref().and_then(Delivery::parse),
                created_ms: self.created_ms,
                sent_ms: self.sent_ms,
                completed_ms: self.completed_ms,
                delivery_ms: self.delivery_ms,
            },
            key_name: self.key_name,
            preset_name: self.preset_name,
        })
    }
}

/// A value bound to a filter's placeholder.
enum Bind {
    Int(i64),
    Text(String),
}

/// The conditions of `filter` (without its state when `with_state` is false) after
/// `m.account_id = $1`, numbering placeholders from `first`.
fn conditions(
    filter: &ApiMessageFilter,
    with_state: bool,
    first: usize,
    now: i64,
) -> (String, Vec<Bind>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    let next = |binds: &mut Vec<Bind>, b: Bind| {
        binds.push(b);
        format!("${}", first + binds.len() - 1)
    };
    if let (true, Some(state)) = (with_state, filter.state) {
        let list: Vec<String> = state
            .row_states()
            .iter()
            .map(|r| next(&mut binds, Bind::Text(r.as_str().to_owned())))
            .collect();
        sql.push_str(&format!(" AND r.state IN ({})", list.join(", ")));
    }
    if let Some(code) = filter.errcode {
        let p = next(&mut binds, Bind::Int(code));
        sql.push_str(&format!(" AND r.errcode = {p}"));
    }
    if let Some(key) = filter.key {
        let p = next(&mut binds, Bind::Int(key));
        sql.push_str(&format!(" AND m.key_id = {p}"));
    }
    if let Some(channel) = filter.channel {
        let p = next(&mut binds, Bind::Text(channel.as_str().to_owned()));
        sql.push_str(&format!(" AND r.channel = {p}"));
    }
    if let Some(person) = filter
        .person
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let a = next(&mut binds, Bind::Text(person.to_owned()));
        let b = next(&mut binds, Bind::Text(person.to_owned()));
        sql.push_str(&format!(" AND (m.to_id = {a} OR r.openid = {b})"));
    }
    if let Some(span) = filter.period.span_ms() {
        let p = next(&mut binds, Bind::Int(now - span));
        sql.push_str(&format!(" AND m.created_ms >= {p}"));
    }
    (sql, binds)
}

/// Binds `binds` in order to a query.
macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match b {
                Bind::Int(i) => q.bind(*i),
                Bind::Text(t) => q.bind(t.clone()),
            };
        }
        q
    }};
}

impl Engine {
    /// A page of an Official Account's API messages, newest first: those `filter` lets through
    /// with an id below `before`, at most `limit`.
    pub async fn api_messages(
        &self,
        account_id: i64,
        filter: &ApiMessageFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ApiMessageEntry>> {
        let (cond, binds) = conditions(filter, true, 4, now_ms());
        let sql = format!(
            "{STATUS_FROM} WHERE m.account_id = $1 AND m.id < $2{cond} ORDER BY m.id DESC LIMIT $3"
        );
        let rows = on_db!(self.db(), |pool| {
            let q = sqlx::query_as::<_, StatusRow>(&sql)
                .bind(account_id)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit.clamp(1, 500));
            bind_all!(q, &binds).fetch_all(pool).await
        })?;
        Ok(rows.into_iter().filter_map(StatusRow::into_entry).collect())
    }

    /// How many of an Official Account's API messages `filter` (its state aside) lets through,
    /// in each state.
    pub async fn api_message_counts(
        &self,
        account_id: i64,
        filter: &ApiMessageFilter,
    ) -> Result<Vec<(MessageState, i64)>> {
        let (cond, binds) = conditions(filter, false, 2, now_ms());
        let sql = format!(
            "SELECT r.state, COUNT(*) FROM api_messages m \
             JOIN job_recipients r ON r.job_id = m.job_id AND r.seq = m.seq \
             WHERE m.account_id = $1{cond} GROUP BY r.state"
        );
        let rows: Vec<(String, i64)> = on_db!(self.db(), |pool| {
            let q = sqlx::query_as(&sql).bind(account_id);
            bind_all!(q, &binds).fetch_all(pool).await
        })?;
        let mut counts: Vec<(MessageState, i64)> =
            MessageState::ALL.iter().map(|s| (*s, 0)).collect();
        for (state, n) in rows {
            if let Some(s) = RecipientState::parse(&state).map(MessageState::of) {
                if let Some(c) = counts.iter_mut().find(|(m, _)| *m == s) {
                    c.1 += n;
                }
            }
        }
        Ok(counts)
    }

    /// The 24 hours before `now` hour by hour (oldest first, the current hour last), by outcome.
    pub async fn api_message_hours(&self, account_id: i64, now: i64) -> Result<Vec<HourCounts>> {
        const HOUR: i64 = 60 * 60 * 1000;
        let start = (now / HOUR - 23) * HOUR;
        let rows: Vec<(i64, String, i64)> = on_db!(self.db(), |pool| sqlx::query_as(
            "SELECT (m.created_ms - $2) / 3600000 AS h, r.state, COUNT(*) FROM api_messages m \
             JOIN job_recipients r ON r.job_id = m.job_id AND r.seq = m.seq \
             WHERE m.account_id = $1 AND m.created_ms >= $2 GROUP BY h, r.state"
        )
        .bind(account_id)
        .bind(start)
        .fetch_all(pool)
        .await)?;
        let mut hours: Vec<HourCounts> = (0..24)
            .map(|i| HourCounts {
                start_ms: start + i * HOUR,
                ..HourCounts::default()
            })
            .collect();
        for (h, state, n) in rows {
            let (Some(hour), Some(state)) = (
                usize::try_from(h).ok().and_then(|h| hours.get_mut(h)),
                RecipientState::parse(&state).map(MessageState::of),
            ) else {
                continue;
            };
            hour.add(state, n);
        }
        Ok(hours)
    }

    /// Message `id` of an Official Account with its payload as sent and its webhook deliveries.
    pub async fn api_message_detail(
        &self,
        account_id: i64,
        id: i64,
    ) -> Result<Option<ApiMessageDetail>> {
        let sql = format!("{STATUS_FROM} WHERE m.id = $1 AND m.account_id = $2");
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, StatusRow>(&sql)
            .bind(id)
            .bind(account_id)
            .fetch_optional(pool)
            .await)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let webhook_url = row.webhook_url.clone();
        let Some(entry) = row.into_entry() else {
            return Ok(None);
        };
        let stored: Option<String> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT r.payload FROM api_messages m \
             JOIN job_recipients r ON r.job_id = m.job_id AND r.seq = m.seq WHERE m.id = $1"
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?
        .flatten();
        // Stored with `touser` empty: filled in as the worker does when it sends.
        let payload = stored
            .and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok())
            .map(|mut v| {
                if let Some(o) = v.as_object_mut() {
                    o.insert("touser".into(), entry.status.openid.clone().into());
                }
                serde_json::to_string_pretty(&v).unwrap_or_default()
            })
            .unwrap_or_default();
        let deliveries = self.webhook_deliveries(id).await?;
        Ok(Some(ApiMessageDetail {
            entry,
            payload,
            webhook_url,
            deliveries,
        }))
    }

    /// Each send key's figures of an Official Account, at `now`.
    pub async fn send_key_stats(&self, account_id: i64, now: i64) -> Result<Vec<SendKeyStats>> {
        let since = now - 24 * 60 * 60 * 1000;
        let rows: Vec<(i64, i64, i64, i64, i64)> = on_db!(self.db(), |pool| sqlx::query_as(
            "SELECT m.key_id, COUNT(*), \
             SUM(CASE WHEN m.created_ms >= $2 THEN 1 ELSE 0 END), \
             SUM(CASE WHEN m.created_ms >= $2 AND r.state = 'sent' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN m.created_ms >= $2 AND r.state = 'failed' THEN 1 ELSE 0 END) \
             FROM api_messages m JOIN job_recipients r ON r.job_id = m.job_id AND r.seq = m.seq \
             WHERE m.account_id = $1 GROUP BY m.key_id"
        )
        .bind(account_id)
        .bind(since)
        .fetch_all(pool)
        .await)?;
        let hooks: Vec<(i64, String, i64)> = on_db!(self.db(), |pool| sqlx::query_as(
            "SELECT d.key_id, d.state, COUNT(*) FROM webhook_deliveries d \
             JOIN send_keys k ON k.id = d.key_id \
             WHERE k.account_id = $1 AND d.state <> 'delivered' GROUP BY d.key_id, d.state"
        )
        .bind(account_id)
        .fetch_all(pool)
        .await)?;
        let mut stats: Vec<SendKeyStats> = rows
            .into_iter()
            .map(
                |(key_id, total, day_total, day_sent, day_failed)| SendKeyStats {
                    key_id,
                    day_total,
                    day_sent,
                    day_failed,
                    total,
                    ..SendKeyStats::default()
                },
            )
            .collect();
        for (key_id, state, n) in hooks {
            let i = match stats.iter().position(|s| s.key_id == key_id) {
                Some(i) => i,
                None => {
                    stats.push(SendKeyStats {
                        key_id,
                        ..SendKeyStats::default()
                    });
                    stats.len() - 1
                }
            };
            match state.as_str() {
                "pending" => stats[i].webhook_pending += n,
                _ => stats[i].webhook_failed += n,
            }
        }
        Ok(stats)
    }

    /// Message `id` as `key` sees it; `None` when it is not one of the key's messages.
    pub async fn api_message(&self, key: &SendKey, id: i64) -> Result<Option<MessageStatus>> {
        let sql = format!("{STATUS_FROM} WHERE m.id = $1 AND m.key_id = $2");
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, StatusRow>(&sql)
            .bind(id)
            .bind(key.id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.and_then(StatusRow::into_entry).map(|e| e.status))
    }
}

//! The state of an accepted API message, as its sender reads it.

use model::send_api::{ApiMessageEntry, MessageState, MessageStatus, Person, SendKey};
use model::{Delivery, RecipientState, RowChannel};

use crate::{on_db, Engine, Result};

/// The columns of [`STATUS_COLUMNS`].
#[derive(sqlx::FromRow)]
struct StatusRow {
    id: i64,
    key_name: String,
    preset_name: Option<String>,
    idempotency_key: Option<String>,
    preset_id: Option<i64>,
    to_kind: String,
    to_id: String,
    created_ms: i64,
    state: String,
    channel: String,
    openid: String,
    attempts: i64,
    msgid: Option<i64>,
    errcode: Option<i64>,
    errmsg: Option<String>,
    delivery: Option<String>,
    sent_ms: Option<i64>,
    completed_ms: Option<i64>,
    delivery_ms: Option<i64>,
}

/// A message's row, its recipient row, its key and its preset (`m`, `r`, `k`, `p`).
const STATUS_FROM: &str = "SELECT m.id, k.name AS key_name, p.name AS preset_name, \
     m.idempotency_key, m.preset_id, m.to_kind, m.to_id, m.created_ms, r.state, r.channel, \
     r.openid, r.attempts, r.msgid, r.errcode, r.errmsg, r.delivery, r.sent_ms, r.completed_ms, \
     r.delivery_ms \
     FROM api_messages m JOIN job_recipients r ON r.job_id = m.job_id AND r.seq = m.seq \
     JOIN send_keys k ON k.id = m.key_id LEFT JOIN presets p ON p.id = m.preset_id";

impl StatusRow {
    fn into_entry(self) -> Option<ApiMessageEntry> {
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

impl Engine {
    /// A page of an Official Account's API messages, newest first: those in `state` (all without)
    /// with an id below `before`, at most `limit`.
    pub async fn api_messages(
        &self,
        account_id: i64,
        state: Option<MessageState>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ApiMessageEntry>> {
        let states: Vec<&str> = match state {
            Some(s) => s.row_states().iter().map(|r| r.as_str()).collect(),
            None => RecipientState::ALL.iter().map(|r| r.as_str()).collect(),
        };
        let list = (0..states.len())
            .map(|i| format!("${}", i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "{STATUS_FROM} WHERE m.account_id = $1 AND m.id < $2 AND r.state IN ({list}) \
             ORDER BY m.id DESC LIMIT $3"
        );
        let rows = on_db!(self.db(), |pool| {
            let mut q = sqlx::query_as::<_, StatusRow>(&sql)
                .bind(account_id)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit.clamp(1, 500));
            for s in &states {
                q = q.bind(*s);
            }
            q.fetch_all(pool).await
        })?;
        Ok(rows.into_iter().filter_map(StatusRow::into_entry).collect())
    }

    /// How many of an Official Account's API messages are in each state.
    pub async fn api_message_counts(&self, account_id: i64) -> Result<Vec<(MessageState, i64)>> {
        let rows: Vec<(String, i64)> = on_db!(self.db(), |pool| sqlx::query_as(
            "SELECT r.state, COUNT(*) FROM api_messages m \
             JOIN job_recipients r ON r.job_id = m.job_id AND r.seq = m.seq \
             WHERE m.account_id = $1 GROUP BY r.state"
        )
        .bind(account_id)
        .fetch_all(pool)
        .await)?;
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

//! The state of an accepted API message, as its sender reads it.

use model::send_api::{MessageState, MessageStatus, Person, SendKey};
use model::{Delivery, RecipientState, RowChannel};

use crate::{on_db, Engine, Result};

#[derive(sqlx::FromRow)]
struct StatusRow {
    id: i64,
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

impl Engine {
    /// Message `id` as `key` sees it; `None` when it is not one of the key's messages.
    pub async fn api_message(&self, key: &SendKey, id: i64) -> Result<Option<MessageStatus>> {
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, StatusRow>(
            "SELECT m.id, m.idempotency_key, m.preset_id, m.to_kind, m.to_id, m.created_ms, \
             r.state, r.channel, r.openid, r.attempts, r.msgid, r.errcode, r.errmsg, r.delivery, \
             r.sent_ms, r.completed_ms, r.delivery_ms \
             FROM api_messages m JOIN job_recipients r ON r.job_id = m.job_id AND r.seq = m.seq \
             WHERE m.id = $1 AND m.key_id = $2"
        )
        .bind(id)
        .bind(key.id)
        .fetch_optional(pool)
        .await)?;
        Ok(row.and_then(|r| {
            Some(MessageStatus {
                id: r.id.to_string(),
                state: MessageState::of(RecipientState::parse(&r.state)?),
                channel: RowChannel::parse(&r.channel)?,
                to: Person::from_stored(&r.to_kind, r.to_id)?,
                openid: r.openid,
                preset: r.preset_id,
                idempotency_key: r.idempotency_key,
                attempts: r.attempts,
                msgid: r.msgid,
                errcode: r.errcode,
                errmsg: r.errmsg,
                delivery: r.delivery.as_deref().and_then(Delivery::parse),
                created_ms: r.created_ms,
                sent_ms: r.sent_ms,
                completed_ms: r.completed_ms,
                delivery_ms: r.delivery_ms,
            })
        }))
    }
}

//! Group commit of accepted API messages: a request leaves its message in a shared list and
//! waits for its turn to write; whoever gets the turn writes every message waiting then, in one
//! transaction of a few statements, and hands each request its id. With SQLite's single writer
//! this turns one transaction per message into one per group of messages arriving together.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::webhooks::Hook;
use crate::db::BeginWrite;
use crate::{on_db, Engine, Error, Result};

/// The most messages written in one transaction.
const GROUP_MAX: usize = 256;

/// One accepted message to write: a row of the API job and its `api_messages` entry.
pub(crate) struct NewMessage {
    pub job_id: i64,
    pub key_id: i64,
    pub account_id: i64,
    pub idempotency_key: Option<String>,
    pub body_hash: String,
    pub openid: String,
    pub unionid: Option<String>,
    pub channel: &'static str,
    pub payload: String,
    pub preset_id: Option<i64>,
    pub to_kind: &'static str,
    pub to_id: String,
    /// What its key's webhook is owed (its state), if the key has one.
    pub hook: Option<Hook>,
    pub now: i64,
}

/// How writing one message ended.
pub(crate) enum Written {
    /// Its `api_messages` id.
    Id(i64),
    /// Its key used its idempotency key already (a concurrent duplicate): nothing written.
    Duplicate,
}

struct Waiting {
    message: NewMessage,
    reply: oneshot::Sender<Result<Written>>,
}

/// The messages waiting to be written.
#[derive(Default)]
pub(crate) struct AcceptQueue {
    waiting: Mutex<Vec<Waiting>>,
}

impl std::fmt::Debug for AcceptQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptQueue")
    }
}

impl AcceptQueue {
    fn push(&self, w: Waiting) {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(w);
    }

    fn take(&self) -> Vec<Waiting> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        let n = waiting.len().min(GROUP_MAX);
        waiting.drain(..n).collect()
    }
}

impl Engine {
    /// Writes `message`, with whatever other messages wait at the same time.
    pub(crate) async fn write_api_message(&self, message: NewMessage) -> Result<Written> {
        let (reply, answer) = oneshot::channel();
        let queue = &self.inner.accept_queue;
        queue.push(Waiting { message, reply });
        // Each turn writes what waits then. Ours may be in an earlier turn's group (that turn
        // answers it), or still waiting behind a full group (take another turn).
        loop {
            let turn = self.write_gate().await;
            let group = queue.take();
            if group.is_empty() {
                break;
            }
            // The group holds other requests' messages: its write goes on (and answers them)
            // should this request be dropped, say by its client hanging up.
            let engine = self.clone();
            let write = tokio::spawn(async move {
                engine.write_group(group).await;
                drop(turn);
            });
            if write.await.is_err() {
                return Err(Error::Internal("writing accepted messages failed".into()));
            }
            if !answer.is_empty() {
                break;
            }
        }
        answer
            .await
            .map_err(|_| Error::Internal("an accepted message was dropped".into()))?
    }

    /// Writes a group in one transaction. Should a message of it be a concurrent duplicate, the
    /// transaction is undone and each message written in its own, so that only the duplicate
    /// is refused.
    async fn write_group(&self, group: Vec<Waiting>) {
        let messages: Vec<&NewMessage> = group.iter().map(|w| &w.message).collect();
        match self.insert_messages(&messages).await {
            Ok(ids) => {
                for (w, id) in group.into_iter().zip(ids) {
                    let _ = w.reply.send(Ok(Written::Id(id)));
                }
            }
            Err(e) if Error::is_unique_violation(&e) => {
                if group.len() == 1 {
                    if let Some(w) = group.into_iter().next() {
                        let _ = w.reply.send(written(Err(e)));
                    }
                    return;
                }
                for w in group {
                    let one = self.insert_messages(&[&w.message]).await;
                    let _ = w.reply.send(written(one));
                }
            }
            Err(e) => {
                let why = e.to_string();
                for w in group {
                    let _ = w.reply.send(Err(Error::Internal(why.clone())));
                }
            }
        }
    }

    /// Inserts the rows and entries of `messages` (in one transaction, a few statements per
    /// job); their `api_messages` ids in order.
    async fn insert_messages(&self, messages: &[&NewMessage]) -> sqlx::Result<Vec<i64>> {
        // Each job's messages, in order, to number its rows from its count.
        let mut by_job: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, m) in messages.iter().enumerate() {
            by_job.entry(m.job_id).or_default().push(i);
        }
        let mut ids = vec![0_i64; messages.len()];
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin_write().await?;
            for (job_id, idx) in &by_job {
                let n = idx.len() as i64;
                let now = messages[idx[0]].now;
                let total: i64 = sqlx::query_scalar(
                    "UPDATE jobs SET total = total + $2, will_receive = will_receive + $2, \
                     updated_ms = $3 WHERE id = $1 RETURNING total",
                )
                .bind(job_id)
                .bind(n)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let first_seq = total - n + 1;
                let rows = placeholders(idx.len(), 8);
                let sql = format!(
                    "INSERT INTO job_recipients (job_id, seq, openid, unionid, channel, state, \
                     payload, updated_ms) VALUES {}",
                    rows
                );
                let mut q = sqlx::query(&sql);
                for (k, &i) in idx.iter().enumerate() {
                    let m = messages[i];
                    q = q
                        .bind(job_id)
                        .bind(first_seq + k as i64)
                        .bind(&m.openid)
                        .bind(&m.unionid)
                        .bind(m.channel)
                        .bind("pending")
                        .bind(&m.payload)
                        .bind(m.now);
                }
                q.execute(&mut *tx).await?;
                let sql = format!(
                    "INSERT INTO api_messages (key_id, account_id, idempotency_key, body_hash, \
                     job_id, seq, preset_id, to_kind, to_id, created_ms, hook) VALUES {} \
                     RETURNING id, seq",
                    placeholders(idx.len(), 11)
                );
                let mut q = sqlx::query_as::<_, (i64, i64)>(&sql);
                for (k, &i) in idx.iter().enumerate() {
                    let m = messages[i];
                    q = q
                        .bind(m.key_id)
                        .bind(m.account_id)
                        .bind(&m.idempotency_key)
                        .bind(&m.body_hash)
                        .bind(job_id)
                        .bind(first_seq + k as i64)
                        .bind(m.preset_id)
                        .bind(m.to_kind)
                        .bind(&m.to_id)
                        .bind(m.now)
                        .bind(m.hook.map(Hook::as_str));
                }
                // RETURNING does not promise the order of the VALUES: match rows by seq.
                for (id, seq) in q.fetch_all(&mut *tx).await? {
                    if let Some(&i) = usize::try_from(seq - first_seq)
                        .ok()
                        .and_then(|k| idx.get(k))
                    {
                        ids[i] = id;
                    }
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(())
        })?;
        Ok(ids)
    }
}

/// One message's outcome from its own transaction.
fn written(result: sqlx::Result<Vec<i64>>) -> Result<Written> {
    match result {
        Ok(ids) => ids
            .first()
            .map(|&id| Written::Id(id))
            .ok_or_else(|| Error::Internal("no id for an accepted message".into())),
        Err(e) if Error::is_unique_violation(&e) => Ok(Written::Duplicate),
        Err(e) => Err(e.into()),
    }
}

/// `($1, $2, …), ($k, …)`: `rows` groups of `columns` numbered placeholders.
fn placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_every_cell() {
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}

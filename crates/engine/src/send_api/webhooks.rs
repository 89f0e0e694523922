//! Status webhooks: a key's messages report their final state (and WeChat's receipt) to the
//! key's URL as signed POSTs, retried with backoff for 24 hours. Sending never waits for them:
//! a pass notes the events messages owe (`api_messages.hook`) as deliveries, then posts the
//! deliveries that are due. Several processes can run passes: each event is noted once (a
//! guarded update of `hook`) and each delivery is posted by one process at a time (a lease).

use std::collections::HashMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use model::send_api::SendKey;
use model::webhook::{
    check_url, DeliveryState, WebhookBody, WebhookDelivery, WebhookEvent, EVENT_HEADER,
    RETRY_FOR_MS, SECRET_PREFIX, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use model::Problem;
use sha2::Sha256;

use super::status::{StatusRow, STATUS_FROM};
use crate::audit::{Actor, AuditAction, RecordAudit};
use crate::db::{BeginWrite, Db};
use crate::{now_ms, on_db, Engine, Error, Result};

/// Messages looked at per query of a pass.
const PAGE: i64 = 500;
/// Deliveries posted per claim, at the same time.
const BATCH: i64 = 16;
/// How long a process holds a delivery it is posting.
const LEASE_MS: i64 = 30_000;
/// How long a receiver has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The first retry waits this long; each next one twice as long, up to [`MAX_BACKOFF_MS`].
const FIRST_BACKOFF_MS: i64 = 10_000;
const MAX_BACKOFF_MS: i64 = 60 * 60 * 1000;
/// Receipts are looked for this often (they are rarely due, and the rows waiting are many).
const RECEIPT_EVERY: u32 = 30;
/// The longest receiver answer kept as the reason of a failure.
const ERROR_MAX: usize = 200;

/// The signature of a delivery: `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<body>`.
/// The timestamp is signed with the body so that a captured delivery cannot be replayed later
/// under a fresh timestamp.
pub fn sign(secret: &str, timestamp_s: i64, body: &str) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(timestamp_s.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// How long to wait after the `attempts`-th failed try.
fn backoff_ms(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.clamp(1, 20) - 1).unwrap_or(0);
    FIRST_BACKOFF_MS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_BACKOFF_MS)
}

pub(crate) fn secret_aad(key_id: i64) -> String {
    format!("send_keys.{key_id}.webhook_secret")
}

/// What a message still owes its key's webhook (`api_messages.hook`; NULL: nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hook {
    /// Its final state.
    State,
    /// WeChat's receipt of it, sent.
    Receipt,
}

impl Hook {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Hook::State => "state",
            Hook::Receipt => "receipt",
        }
    }
}

/// What a message's webhook is owed now.
enum Owed {
    /// Nothing yet.
    Wait,
    /// This event; the message then owes `next`.
    Event(WebhookEvent, Option<Hook>),
    /// Nothing any more (its key's webhook is gone, or no receipt came within a day).
    Nothing,
}

fn owed(row: &StatusRow, hook: Hook, state: model::send_api::MessageState, now: i64) -> Owed {
    if row.webhook_url.is_none() {
        return Owed::Nothing;
    }
    match hook {
        Hook::State => match WebhookEvent::of_final(state) {
            None => Owed::Wait,
            // A sent message still owes its receipt, unless it came already.
            Some(WebhookEvent::Sent) if row.delivery.is_none() => {
                Owed::Event(WebhookEvent::Sent, Some(Hook::Receipt))
            }
            Some(event) => Owed::Event(event, None),
        },
        Hook::Receipt if row.delivery.is_some() => Owed::Event(WebhookEvent::Receipt, None),
        Hook::Receipt if now - row.created_ms > RETRY_FOR_MS => Owed::Nothing,
        Hook::Receipt => Owed::Wait,
    }
}

/// A delivery claimed for posting.
#[derive(sqlx::FromRow)]
struct Claimed {
    id: i64,
    key_id: i64,
    event: String,
    body: String,
    attempts: i64,
    created_ms: i64,
}

/// Where a key's deliveries go.
struct Target {
    url: String,
    secret: String,
}

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    event: String,
    state: String,
    attempts: i64,
    last_status: Option<i64>,
    last_error: Option<String>,
    created_ms: i64,
    next_try_ms: i64,
    done_ms: Option<i64>,
}

/// The outcome of posting one delivery.
struct Posted {
    id: i64,
    status: Option<i64>,
    error: Option<String>,
}

impl Engine {
    /// Sets (or with `None` removes) the webhook of send key `key_id`. Setting one returns its
    /// new signing secret, shown once; the URL must be `http(s)://host…`.
    pub async fn set_send_key_webhook(
        &self,
        actor: &Actor,
        key_id: i64,
        url: Option<&str>,
    ) -> Result<(SendKey, Option<String>)> {
        let key = self.send_key(key_id).await?.ok_or(Error::NotFound)?;
        let url = url.map(str::trim);
        if let Some(url) = url {
            check_url(url).map_err(|p| Error::refused("webhook_url", p))?;
        }
        if key.revoked_at_ms.is_some() && url.is_some() {
            return Err(Error::refused("key", Problem::KeyRevoked));
        }
        let secret =
            url.map(|_| format!("{SECRET_PREFIX}{}", hex::encode(rand::random::<[u8; 24]>())));
        let sealed = secret
            .as_deref()
            .map(|s| self.master_key().encrypt(s, &secret_aad(key_id)))
            .transpose()?;
        let appid = self
            .account(key.account_id)
            .await?
            .map(|a| a.appid)
            .unwrap_or_default();
        let turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("UPDATE send_keys SET webhook_url = $1, webhook_secret = $2 WHERE id = $3")
                .bind(url)
                .bind(&sealed)
                .bind(key_id)
                .execute(&mut *tx)
                .await?;
            let detail = serde_json::json!({
                "key_id": key_id, "name": key.name, "prefix": key.prefix, "webhook_url": url,
            });
            tx.record_audit(actor, AuditAction::SendKeyWebhook, &appid, &detail)
                .await?;
            tx.commit().await
        })?;
        drop(turn);
        let key = self.send_key(key_id).await?.ok_or(Error::NotFound)?;
        Ok((key, secret))
    }

    /// Runs webhook passes until the handle is aborted: every second it notes the events
    /// messages owe and posts the deliveries that are due.
    pub fn start_webhooks(&self) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            let client = match webhook_client() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!("webhooks disabled: cannot build an HTTP client: {e}");
                    return;
                }
            };
            let mut pass: u32 = 0;
            loop {
                let now = now_ms();
                let receipts = pass.is_multiple_of(RECEIPT_EVERY);
                if let Err(e) = engine.note_webhook_events(now, receipts).await {
                    tracing::warn!("webhooks: cannot note events: {e}");
                }
                loop {
                    match engine.deliver_webhooks(&client, now_ms()).await {
                        Ok(n) if n >= BATCH as usize => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!("webhooks: cannot deliver: {e}");
                            break;
                        }
                    }
                }
                pass = pass.wrapping_add(1);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    }

    /// Notes, as deliveries, the events messages owe their key's webhook at `now`: final states
    /// (and, with `receipts`, WeChat's receipts). Returns how many it noted.
    pub async fn note_webhook_events(&self, now: i64, receipts: bool) -> Result<usize> {
        let mut noted = 0;
        let hooks: &[Hook] = if receipts {
            &[Hook::State, Hook::Receipt]
        } else {
            &[Hook::State]
        };
        for &hook in hooks {
            let sql =
                format!("{STATUS_FROM} WHERE m.hook = $1 AND m.id > $2 ORDER BY m.id LIMIT $3");
            let mut after = 0_i64;
            loop {
                let rows = on_db!(self.db(), |pool| sqlx::query_as::<_, StatusRow>(&sql)
                    .bind(hook.as_str())
                    .bind(after)
                    .bind(PAGE)
                    .fetch_all(pool)
                    .await)?;
                let full = rows.len() as i64 == PAGE;
                let Some(last) = rows.last().map(|r| r.id) else {
                    break;
                };
                after = last;
                let mut changes = Vec::new();
                for row in rows {
                    let Some(state) = model::RecipientState::parse(&row.state)
                        .map(model::send_api::MessageState::of)
                    else {
                        continue;
                    };
                    match owed(&row, hook, state, now) {
                        Owed::Wait => {}
                        Owed::Nothing => changes.push(HookChange {
                            id: row.id,
                            key_id: row.key_id,
                            next: None,
                            event: None,
                        }),
                        Owed::Event(event, next) => {
                            let (id, key_id) = (row.id, row.key_id);
                            let Some(entry) = row.into_entry() else {
                                continue;
                            };
                            let body = WebhookBody {
                                event_id: format!("{id}.{}", event.as_str()),
                                event,
                                message: entry.status,
                            };
                            let body = serde_json::to_string(&body)
                                .map_err(|e| Error::Internal(e.to_string()))?;
                            changes.push(HookChange {
                                id,
                                key_id,
                                next,
                                event: Some((event, body)),
                            });
                        }
                    }
                }
                noted += self.apply_hook_changes(hook, changes, now).await?;
                if !full {
                    break;
                }
            }
        }
        Ok(noted)
    }

    /// Moves each message's `hook` on from `from` and queues its event, in one transaction. A
    /// message another process moved first is left alone (its event is queued once).
    async fn apply_hook_changes(
        &self,
        from: Hook,
        changes: Vec<HookChange>,
        now: i64,
    ) -> Result<usize> {
        if changes.is_empty() {
            return Ok(0);
        }
        let turn = self.write_gate().await;
        let noted = on_db!(self.db(), |pool| async {
            let mut tx = pool.begin_write().await?;
            let mut noted = 0;
            for HookChange {
                id,
                key_id,
                next,
                event,
            } in &changes
            {
                let moved =
                    sqlx::query("UPDATE api_messages SET hook = $1 WHERE id = $2 AND hook = $3")
                        .bind(next.map(Hook::as_str))
                        .bind(id)
                        .bind(from.as_str())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                if moved == 0 {
                    continue;
                }
                if let Some((event, body)) = event {
                    sqlx::query(
                        "INSERT INTO webhook_deliveries (key_id, message_id, event, body, \
                         next_try_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $5) \
                         ON CONFLICT (message_id, event) DO NOTHING",
                    )
                    .bind(key_id)
                    .bind(id)
                    .bind(event.as_str())
                    .bind(body)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    noted += 1;
                }
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(noted)
        }
        .await)?;
        drop(turn);
        Ok(noted)
    }

    /// Posts up to [`BATCH`] deliveries due at `now`, at the same time, and records each
    /// outcome: delivered on a 2xx answer, otherwise tried again later — until 24 hours after
    /// the event, when it is given up. Returns how many it posted.
    pub async fn deliver_webhooks(&self, client: &reqwest::Client, now: i64) -> Result<usize> {
        let claimed = self.claim_deliveries(now).await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let mut targets: HashMap<i64, Option<Target>> = HashMap::new();
        for c in &claimed {
            if let std::collections::hash_map::Entry::Vacant(slot) = targets.entry(c.key_id) {
                slot.insert(self.webhook_target(c.key_id).await?);
            }
        }
        let posts = claimed.iter().map(|c| {
            let target = targets.get(&c.key_id).and_then(Option::as_ref);
            post(client, target, c, now)
        });
        let outcomes = futures::future::join_all(posts).await;
        let turn = self.write_gate().await;
        on_db!(self.db(), |pool| async {
            let mut tx = pool.begin().await?;
            for (c, posted) in claimed.iter().zip(&outcomes) {
                let ok = posted.status.is_some_and(|s| (200..300).contains(&s));
                let (state, next_try, done) = if ok {
                    (DeliveryState::Delivered, now, Some(now))
                } else if now - c.created_ms >= RETRY_FOR_MS
                    || targets.get(&c.key_id).is_some_and(Option::is_none)
                {
                    (DeliveryState::Failed, now, Some(now))
                } else {
                    (DeliveryState::Pending, now + backoff_ms(c.attempts), None)
                };
                sqlx::query(
                    "UPDATE webhook_deliveries SET state = $1, next_try_ms = $2, done_ms = $3, \
                     lease_until_ms = 0, last_status = $4, last_error = $5 WHERE id = $6",
                )
                .bind(state.as_str())
                .bind(next_try)
                .bind(done)
                .bind(posted.status)
                .bind(&posted.error)
                .bind(posted.id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        }
        .await)?;
        drop(turn);
        Ok(claimed.len())
    }

    /// Takes up to [`BATCH`] due deliveries for this process (a lease, one more attempt).
    async fn claim_deliveries(&self, now: i64) -> Result<Vec<Claimed>> {
        let skip_locked = match self.db() {
            Db::Sqlite(_) => "",
            Db::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE webhook_deliveries SET lease_until_ms = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM webhook_deliveries WHERE state = 'pending' \
             AND next_try_ms <= $2 AND lease_until_ms <= $2 ORDER BY next_try_ms LIMIT $3 \
             {skip_locked}) RETURNING id, key_id, event, body, attempts, created_ms"
        );
        let turn = self.write_gate().await;
        let claimed = on_db!(self.db(), |pool| sqlx::query_as::<_, Claimed>(&sql)
            .bind(now + LEASE_MS)
            .bind(now)
            .bind(BATCH)
            .fetch_all(pool)
            .await)?;
        drop(turn);
        Ok(claimed)
    }

    /// A key's webhook URL and secret; `None` when it has none any more.
    async fn webhook_target(&self, key_id: i64) -> Result<Option<Target>> {
        let row: Option<(Option<String>, Option<String>)> = on_db!(self.db(), |pool| {
            sqlx::query_as("SELECT webhook_url, webhook_secret FROM send_keys WHERE id = $1")
                .bind(key_id)
                .fetch_optional(pool)
                .await
        })?;
        let Some((Some(url), Some(sealed))) = row else {
            return Ok(None);
        };
        let secret = self.master_key().decrypt(&sealed, &secret_aad(key_id))?;
        Ok(Some(Target { url, secret }))
    }

    /// The deliveries of message `message_id`, oldest first.
    pub async fn webhook_deliveries(&self, message_id: i64) -> Result<Vec<WebhookDelivery>> {
        let rows = on_db!(self.db(), |pool| sqlx::query_as::<_, DeliveryRow>(
            "SELECT id, event, state, attempts, last_status, last_error, created_ms, \
             next_try_ms, done_ms FROM webhook_deliveries WHERE message_id = $1 ORDER BY id"
        )
        .bind(message_id)
        .fetch_all(pool)
        .await)?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(WebhookDelivery {
                    id: r.id,
                    event: WebhookEvent::parse(&r.event)?,
                    state: DeliveryState::parse(&r.state)?,
                    attempts: r.attempts,
                    last_status: r.last_status,
                    last_error: r.last_error,
                    created_ms: r.created_ms,
                    next_try_ms: r.next_try_ms,
                    done_ms: r.done_ms,
                })
            })
            .collect())
    }
}

/// A message moving on from one `hook` to the next, with the event it queues.
struct HookChange {
    id: i64,
    key_id: i64,
    next: Option<Hook>,
    event: Option<(WebhookEvent, String)>,
}

/// The client webhooks are posted with: a short timeout, and redirects not followed (a
/// receiver that moved must be set again by an admin).
pub fn webhook_client() -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("wxpush-webhook/1")
        .build()
}

/// Posts one delivery, signed at `now`.
async fn post(client: &reqwest::Client, target: Option<&Target>, c: &Claimed, now: i64) -> Posted {
    let Some(target) = target else {
        return Posted {
            id: c.id,
            status: None,
            error: Some("the key has no webhook any more".into()),
        };
    };
    let timestamp = now / 1000;
    let answer = client
        .post(&target.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, sign(&target.secret, timestamp, &c.body))
        .header(EVENT_HEADER, &c.event)
        .body(c.body.clone())
        .send()
        .await;
    match answer {
        Ok(r) => {
            let status = i64::from(r.status().as_u16());
            let error = if r.status().is_success() {
                None
            } else {
                let text = r.text().await.unwrap_or_default();
                Some(text.chars().take(ERROR_MAX).collect())
            };
            Posted {
                id: c.id,
                status: Some(status),
                error,
            }
        }
        Err(e) => Posted {
            id: c.id,
            status: None,
            error: Some(e.to_string().chars().take(ERROR_MAX).collect()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_backoff() {
        // echo -n '1765100000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            sign("whsec_test", 1_765_100_000, "{\"a\":1}"),
            "sha256=487b986a3fad11a332659b5e287935b6bd7f1377ddf163486b9287e96eced549"
        );
        assert_ne!(
            sign("whsec_test", 1_765_100_000, "{\"a\":1}"),
            sign("whsec_test", 1_765_100_001, "{\"a\":1}"),
            "the timestamp is signed"
        );
        assert_eq!(backoff_ms(1), 10_000);
        assert_eq!(backoff_ms(2), 20_000);
        assert_eq!(backoff_ms(30), MAX_BACKOFF_MS);
    }
}

//! Send API keys: created by admins for one Official Account (shown once, stored as a SHA-256
//! hash), limited to some presets and a rate, revocable; creating and revoking are audited.

use model::send_api::{PresetScope, SendKey, KEY_NAME_MAX, KEY_RATE_MAX};
use model::{AccountKind, Problem};

use crate::audit::{Actor, AuditAction, RecordAudit};
use crate::followers::mp_users::hash_api_key;
use crate::{now_ms, on_db, Engine, Error, Result};

/// Every send key starts with this (Mini Program keys with `wxp_`).
pub const SEND_KEY_PREFIX: &str = "wxs_";
/// Characters of a key kept to tell keys apart.
const SHOWN: usize = 12;

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    account_id: i64,
    name: String,
    prefix: String,
    presets: Option<String>,
    rate: i64,
    created_by: String,
    created_at_ms: i64,
    revoked_at_ms: Option<i64>,
    last_used_ms: Option<i64>,
    webhook_url: Option<String>,
}

impl KeyRow {
    fn into_key(self) -> SendKey {
        let presets = match self.presets {
            None => PresetScope::All,
            Some(json) => PresetScope::Only(serde_json::from_str(&json).unwrap_or_default()),
        };
        SendKey {
            id: self.id,
            account_id: self.account_id,
            name: self.name,
            prefix: self.prefix,
            presets,
            rate: self.rate,
            created_by: self.created_by,
            created_at_ms: self.created_at_ms,
            revoked_at_ms: self.revoked_at_ms,
            last_used_ms: self.last_used_ms,
            webhook_url: self.webhook_url,
        }
    }
}

/// The columns of a key; `last_used_ms` is its newest message's time.
const SELECT_KEY: &str = "SELECT k.id, k.account_id, k.name, k.prefix, k.presets, k.rate, \
     k.created_by, k.created_at_ms, k.revoked_at_ms, k.webhook_url, \
     (SELECT MAX(m.created_ms) FROM api_messages m WHERE m.key_id = k.id) AS last_used_ms \
     FROM send_keys k";

impl Engine {
    /// A new send key for Official Account `account_id`: the plaintext (shown once) and what is
    /// kept of it. Refuses a blank or long name, a rate outside 1–[`KEY_RATE_MAX`] and presets
    /// that are not the account's.
    pub async fn create_send_key(
        &self,
        actor: &Actor,
        account_id: i64,
        name: &str,
        presets: PresetScope,
        rate: i64,
    ) -> Result<(String, SendKey)> {
        let account = self.account(account_id).await?.ok_or(Error::NotFound)?;
        if account.kind != AccountKind::Oa {
            return Err(Error::refused("account", Problem::OfficialAccountOnly));
        }
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::refused("name", Problem::Required));
        }
        if name.chars().count() > KEY_NAME_MAX {
            return Err(Error::refused("name", Problem::TooLong(KEY_NAME_MAX)));
        }
        if !(1..=KEY_RATE_MAX).contains(&rate) {
            return Err(Error::refused(
                "rate_limit",
                Problem::OutOfRange {
                    min: 1,
                    max: KEY_RATE_MAX,
                },
            ));
        }
        if let PresetScope::Only(ids) = &presets {
            for &id in ids {
                let own = self
                    .preset(id)
                    .await?
                    .is_some_and(|p| p.account_id == account_id);
                if !own {
                    return Err(Error::refused("preset", Problem::NotAnOption));
                }
            }
        }
        let stored_presets = match &presets {
            PresetScope::All => None,
            PresetScope::Only(ids) => Some(serde_json::json!(ids).to_string()),
        };
        let key = format!(
            "{SEND_KEY_PREFIX}{}",
            hex::encode(rand::random::<[u8; 32]>())
        );
        let prefix = key[..SHOWN].to_owned();
        let now = now_ms();
        let turn = self.write_gate().await;
        let id: i64 = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO send_keys (account_id, name, key_hash, prefix, presets, rate, \
                 created_by, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(account_id)
            .bind(name)
            .bind(hash_api_key(&key))
            .bind(&prefix)
            .bind(&stored_presets)
            .bind(rate)
            .bind(&actor.name)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let detail = serde_json::json!({
                "key_id": id, "name": name, "prefix": prefix, "presets": presets, "rate": rate,
            });
            tx.record_audit(actor, AuditAction::SendKeyCreate, &account.appid, &detail)
                .await?;
            tx.commit().await?;
            id
        });
        drop(turn);
        let info = SendKey {
            id,
            account_id,
            name: name.to_owned(),
            prefix,
            presets,
            rate,
            created_by: actor.name.clone(),
            created_at_ms: now,
            revoked_at_ms: None,
            last_used_ms: None,
            webhook_url: None,
        };
        Ok((key, info))
    }

    /// The send keys of an Official Account, newest first, revoked ones included.
    pub async fn send_keys(&self, account_id: i64) -> Result<Vec<SendKey>> {
        let sql = format!("{SELECT_KEY} WHERE k.account_id = $1 ORDER BY k.id DESC");
        let rows = on_db!(self.db(), |pool| sqlx::query_as::<_, KeyRow>(&sql)
            .bind(account_id)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(KeyRow::into_key).collect())
    }

    /// The id and name of each send key of an Official Account, newest first (the filter of
    /// 接口消息: nothing else is read).
    pub async fn send_key_names(&self, account_id: i64) -> Result<Vec<(i64, String)>> {
        Ok(on_db!(self.db(), |pool| sqlx::query_as(
            "SELECT id, name FROM send_keys WHERE account_id = $1 ORDER BY id DESC"
        )
        .bind(account_id)
        .fetch_all(pool)
        .await)?)
    }

    pub async fn send_key(&self, id: i64) -> Result<Option<SendKey>> {
        let sql = format!("{SELECT_KEY} WHERE k.id = $1");
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, KeyRow>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(KeyRow::into_key))
    }

    /// The key a request presents (revoked keys included: the caller says "revoked"); `None`
    /// for a key that never existed.
    pub async fn send_key_by_secret(&self, presented: &str) -> Result<Option<SendKey>> {
        if !presented.starts_with(SEND_KEY_PREFIX) {
            return Ok(None);
        }
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, KeyRow>(
            "SELECT id, account_id, name, prefix, presets, rate, created_by, created_at_ms, \
             revoked_at_ms, webhook_url, NULL AS last_used_ms FROM send_keys WHERE key_hash = $1"
        )
        .bind(hash_api_key(presented))
        .fetch_optional(pool)
        .await)?;
        Ok(row.map(KeyRow::into_key))
    }

    /// Revokes a key: its next request is refused (`401`). Revoking it again changes nothing.
    pub async fn revoke_send_key(&self, actor: &Actor, key_id: i64) -> Result<SendKey> {
        let key = self.send_key(key_id).await?.ok_or(Error::NotFound)?;
        if key.revoked_at_ms.is_some() {
            return Ok(key);
        }
        let appid = self
            .account(key.account_id)
            .await?
            .map(|a| a.appid)
            .unwrap_or_default();
        let now = now_ms();
        let turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE send_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
            )
            .bind(now)
            .bind(key_id)
            .execute(&mut *tx)
            .await?;
            let detail =
                serde_json::json!({ "key_id": key_id, "name": key.name, "prefix": key.prefix });
            tx.record_audit(actor, AuditAction::SendKeyRevoke, &appid, &detail)
                .await?;
            tx.commit().await
        })?;
        drop(turn);
        self.send_key(key_id).await?.ok_or(Error::NotFound)
    }
}

//! WeChat accounts: Official Accounts and Mini Programs, their credentials and the OA↔MP link.

pub mod tokens;
pub mod vault;

use crate::audit::AuditAction;
use std::fmt;

use crate::audit::{Actor, RecordAudit};
use crate::db::BeginWrite;
use crate::{now_ms, on_db, Db, Engine, Error, Result};
use model::Problem;
use vault::MasterKey;

/// WeChat's production API host; an account may point elsewhere (a simulator, a proxy).
pub const WECHAT_API_BASE: &str = "https://api.weixin.qq.com";

pub use model::AccountKind;

/// A credential. Deliberately neither `Serialize` nor printable: it cannot reach a browser or a
/// log by accident.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_set(&self) -> bool {
        !self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "Secret(<empty>)"
        } else {
            "Secret(<redacted>)"
        })
    }
}

#[derive(Clone, Debug)]
pub struct Account {
    pub id: i64,
    pub kind: AccountKind,
    pub name: String,
    pub appid: String,
    pub secret: Secret,
    pub callback_token: Secret,
    pub encoding_aes_key: Secret,
    pub api_base: String,
    pub linked_account_id: Option<i64>,
    pub sandbox: bool,
}

/// A new account; the caller has validated the fields.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub kind: AccountKind,
    pub name: String,
    pub appid: String,
    pub secret: Secret,
    pub callback_token: Secret,
    pub encoding_aes_key: Secret,
    pub api_base: String,
    pub linked_account_id: Option<i64>,
    pub sandbox: bool,
}

/// Changes to an account: `None` keeps the stored value (secrets are never shown, so an empty
/// form field means "unchanged").
#[derive(Clone, Debug, Default)]
pub struct AccountChanges {
    pub name: Option<String>,
    pub api_base: Option<String>,
    pub secret: Option<Secret>,
    pub callback_token: Option<Secret>,
    pub encoding_aes_key: Option<Secret>,
}

#[derive(sqlx::FromRow)]
struct AccountRow {
    id: i64,
    kind: String,
    name: String,
    appid: String,
    secret: String,
    callback_token: String,
    encoding_aes_key: String,
    api_base: String,
    linked_account_id: Option<i64>,
    sandbox: bool,
}

impl AccountRow {
    fn into_account(self, key: &MasterKey) -> Result<Account> {
        Ok(Account {
            id: self.id,
            kind: AccountKind::parse(&self.kind).unwrap_or(AccountKind::Oa),
            secret: open_secret(key, self.id, "secret", &self.secret)?,
            callback_token: open_secret(key, self.id, "callback_token", &self.callback_token)?,
            encoding_aes_key: open_secret(
                key,
                self.id,
                "encoding_aes_key",
                &self.encoding_aes_key,
            )?,
            name: self.name,
            appid: self.appid,
            api_base: self.api_base,
            linked_account_id: self.linked_account_id,
            sandbox: self.sandbox,
        })
    }
}

/// The columns of `accounts` that hold secrets: always AES-256-GCM ciphertext (see `vault`),
/// bound to their row and column, or empty when unset.
const SECRET_COLUMNS: [&str; 3] = ["secret", "callback_token", "encoding_aes_key"];

/// Where a secret is stored: the associated data of its ciphertext, so that a value copied to
/// another row or column does not decrypt.
fn secret_aad(id: i64, column: &str) -> String {
    format!("accounts.{id}.{column}")
}

fn seal_secret(key: &MasterKey, id: i64, column: &str, secret: &Secret) -> Result<String> {
    if secret.is_set() {
        key.encrypt(secret.expose(), &secret_aad(id, column))
    } else {
        Ok(String::new())
    }
}

fn open_secret(key: &MasterKey, id: i64, column: &str, stored: &str) -> Result<Secret> {
    if stored.is_empty() {
        Ok(Secret::default())
    } else {
        key.decrypt(stored, &secret_aad(id, column)).map(Secret)
    }
}

/// The stored (encrypted) secrets of one account.
#[derive(sqlx::FromRow)]
struct SealedRow {
    id: i64,
    secret: String,
    callback_token: String,
    encoding_aes_key: String,
}

impl SealedRow {
    fn columns(&self) -> [(&'static str, &str); 3] {
        [
            ("secret", &self.secret),
            ("callback_token", &self.callback_token),
            ("encoding_aes_key", &self.encoding_aes_key),
        ]
    }
}

/// The outcome of [`Engine::rotate_master_key`]: counts only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyRotation {
    pub accounts: u64,
    pub values: u64,
}

const SELECT_SEALED: &str =
    "SELECT id, secret, callback_token, encoding_aes_key FROM accounts ORDER BY id";

const SELECT_ACCOUNT: &str =
    "SELECT id, kind, name, appid, secret, callback_token, encoding_aes_key, \
     api_base, linked_account_id, sandbox FROM accounts";

impl Engine {
    pub async fn accounts(&self) -> Result<Vec<Account>> {
        let sql = format!("{SELECT_ACCOUNT} ORDER BY sandbox, id");
        let rows = on_db!(self.db(), |pool| sqlx::query_as::<_, AccountRow>(&sql)
            .fetch_all(pool)
            .await)?;
        let key = self.master_key();
        rows.into_iter().map(|r| r.into_account(key)).collect()
    }

    /// The Official Account a session works on: `chosen` if it is one, else the first (as
    /// [`Engine::accounts`] orders them). Decrypts that account's secrets only.
    pub async fn official_account(&self, chosen: Option<i64>) -> Result<Option<Account>> {
        let sql = format!(
            "{SELECT_ACCOUNT} WHERE kind = 'oa' \
             ORDER BY CASE WHEN id = $1 THEN 0 ELSE 1 END, sandbox, id LIMIT 1"
        );
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, AccountRow>(&sql)
            .bind(chosen)
            .fetch_optional(pool)
            .await)?;
        row.map(|r| r.into_account(self.master_key())).transpose()
    }

    pub async fn account(&self, id: i64) -> Result<Option<Account>> {
        let sql = format!("{SELECT_ACCOUNT} WHERE id = $1");
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, AccountRow>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        row.map(|r| r.into_account(self.master_key())).transpose()
    }

    /// The Mini Program linked to an Official Account, if any.
    pub async fn linked_mini_program(&self, account: &Account) -> Result<Option<Account>> {
        let Some(id) = account.linked_account_id else {
            return Ok(None);
        };
        Ok(self
            .account(id)
            .await?
            .filter(|a| a.kind == AccountKind::Mp))
    }

    pub async fn account_by_appid(&self, appid: &str) -> Result<Option<Account>> {
        let sql = format!("{SELECT_ACCOUNT} WHERE appid = $1");
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, AccountRow>(&sql)
            .bind(appid)
            .fetch_optional(pool)
            .await)?;
        row.map(|r| r.into_account(self.master_key())).transpose()
    }

    /// Adds an account (and its token row); links it both ways when `linked_account_id` is set.
    pub async fn create_account(&self, actor: &Actor, new: NewAccount) -> Result<Account> {
        // The partner's old partner loses its link.
        let mut relinked = vec![new.linked_account_id];
        if let Some(other) = new.linked_account_id {
            let partner = self.check_link_partner(new.kind, other).await?;
            relinked.push(partner.linked_account_id);
        }
        let now = now_ms();
        let key = self.master_key();
        let detail = serde_json::json!({ "kind": new.kind.as_str(), "name": new.name, "api_base": new.api_base, "sandbox": new.sandbox, "linked_account_id": new.linked_account_id });
        let turn = self.write_gate().await;
        let id = on_db!(self.db(), |pool| {
            let work = async {
                let mut tx = pool.begin().await?;
                // The ciphertexts are bound to the row id, known only once the row exists: the row
                // is inserted without secrets and completed in the same transaction.
                let inserted = sqlx::query_scalar(
                "INSERT INTO accounts (kind, name, appid, secret, callback_token, encoding_aes_key, \
                 api_base, linked_account_id, sandbox, created_at_ms, updated_at_ms) \
                 VALUES ($1, $2, $3, '', '', '', $4, $5, $6, $7, $7) RETURNING id",
            )
            .bind(new.kind.as_str())
            .bind(&new.name)
            .bind(&new.appid)
            .bind(&new.api_base)
            .bind(new.linked_account_id)
            .bind(new.sandbox)
            .bind(now)
            .fetch_one(&mut *tx)
            .await;
                let id: i64 = match inserted {
                    Ok(id) => id,
                    Err(e) if Error::is_unique_violation(&e) => {
                        return Err(Error::Conflict(format!("AppID {}", new.appid)))
                    }
                    Err(e) => return Err(e.into()),
                };
                sqlx::query(
                    "UPDATE accounts SET secret = $1, callback_token = $2, encoding_aes_key = $3 \
                 WHERE id = $4",
                )
                .bind(seal_secret(key, id, "secret", &new.secret)?)
                .bind(seal_secret(key, id, "callback_token", &new.callback_token)?)
                .bind(seal_secret(
                    key,
                    id,
                    "encoding_aes_key",
                    &new.encoding_aes_key,
                )?)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                sqlx::query("INSERT INTO wechat_tokens (account_id) VALUES ($1)")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if let Some(other) = new.linked_account_id {
                    sqlx::query("UPDATE accounts SET linked_account_id = NULL WHERE linked_account_id = $1 AND id <> $2")
                    .bind(other)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                    "UPDATE accounts SET linked_account_id = $1, updated_at_ms = $2 WHERE id = $3",
                )
                .bind(id)
                .bind(now)
                .bind(other)
                .execute(&mut *tx)
                .await?;
                }
                tx.record_audit(actor, AuditAction::AccountCreate, &new.appid, &detail)
                    .await?;
                tx.commit().await?;
                Ok::<_, Error>(id)
            };
            work.await
        })?;
        drop(turn);
        self.forget_for_accepting();
        self.recount_linked(&relinked).await?;
        self.account(id).await?.ok_or(Error::NotFound)
    }

    async fn check_link_partner(&self, kind: AccountKind, other: i64) -> Result<Account> {
        let partner = self
            .account(other)
            .await?
            .ok_or(Error::refused("linked_account_id", Problem::NotAnOption))?;
        if partner.kind == kind {
            return Err(Error::refused("linked_account_id", Problem::LinkKinds));
        }
        Ok(partner)
    }

    /// Applies `changes`; the audit log names the changed fields, never their values.
    pub async fn update_account(
        &self,
        actor: &Actor,
        id: i64,
        changes: AccountChanges,
    ) -> Result<Account> {
        let current = self.account(id).await?.ok_or(Error::NotFound)?;
        let mut changed = Vec::new();
        let name = changes.name.unwrap_or_else(|| current.name.clone());
        if name != current.name {
            changed.push("name");
        }
        let api_base = changes.api_base.unwrap_or_else(|| current.api_base.clone());
        if api_base != current.api_base {
            changed.push("api_base");
        }
        let mut pick = |new: Option<Secret>, old: &Secret, field: &'static str| match new {
            Some(s) if &s != old => {
                changed.push(field);
                s
            }
            _ => old.clone(),
        };
        let secret = pick(changes.secret, &current.secret, "secret");
        let callback_token = pick(
            changes.callback_token,
            &current.callback_token,
            "callback_token",
        );
        let aes = pick(
            changes.encoding_aes_key,
            &current.encoding_aes_key,
            "encoding_aes_key",
        );
        if changed.is_empty() {
            return Ok(current);
        }
        let credentials_changed = changed.contains(&"secret") || changed.contains(&"api_base");
        let key = self.master_key();
        let secret = seal_secret(key, id, "secret", &secret)?;
        let callback_token = seal_secret(key, id, "callback_token", &callback_token)?;
        let aes = seal_secret(key, id, "encoding_aes_key", &aes)?;
        let detail = serde_json::json!({ "changed": changed });
        let turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE accounts SET name = $1, api_base = $2, secret = $3, callback_token = $4, \
                 encoding_aes_key = $5, updated_at_ms = $6 WHERE id = $7",
            )
            .bind(&name)
            .bind(&api_base)
            .bind(&secret)
            .bind(&callback_token)
            .bind(&aes)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if credentials_changed {
                // A token minted with other credentials (or another host) must not be reused.
                sqlx::query("UPDATE wechat_tokens SET access_token = NULL, expires_at_ms = 0 WHERE account_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.record_audit(actor, AuditAction::AccountUpdate, &current.appid, &detail)
                .await?;
            tx.commit().await
        })?;
        drop(turn);
        self.forget_for_accepting();
        self.account(id).await?.ok_or(Error::NotFound)
    }

    /// What deleting account `id` takes with it (followers as last counted).
    pub async fn account_footprint(&self, id: i64) -> Result<Footprint> {
        let row = on_db!(self.db(), |pool| {
            sqlx::query_as::<_, Footprint>(
            "SELECT \
             COALESCE((SELECT followers FROM follower_stats WHERE account_id = $1), 0) AS followers, \
             (SELECT COUNT(*) FROM mp_users WHERE account_id = $1) AS mp_users, \
             (SELECT COUNT(*) FROM presets WHERE account_id = $1) AS presets, \
             (SELECT COUNT(*) FROM jobs WHERE account_id = $1) AS jobs"
        )
        .bind(id)
        .fetch_one(pool)
        .await
        })?;
        Ok(row)
    }

    pub async fn delete_account(&self, actor: &Actor, id: i64) -> Result<()> {
        let current = self.account(id).await?.ok_or(Error::NotFound)?;
        let detail = serde_json::json!({ "kind": current.kind.as_str() });
        let turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM wechat_tokens WHERE account_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE accounts SET linked_account_id = NULL WHERE linked_account_id = $1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM accounts WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.record_audit(actor, AuditAction::AccountDelete, &current.appid, &detail)
                .await?;
            tx.commit().await
        })?;
        drop(turn);
        self.forget_for_accepting();
        self.recount_linked(&[current.linked_account_id]).await
    }
}

/// The rows that go with an account when it is deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Footprint {
    pub followers: i64,
    pub mp_users: i64,
    pub presets: i64,
    pub jobs: i64,
}

impl Engine {
    /// At start-up: refuses secrets under another master key (when `strict`; otherwise leaves
    /// the database alone) and encrypts, in place, secrets stored in plaintext by earlier
    /// versions. Idempotent; safe when several processes start at once.
    pub(crate) async fn seal_account_secrets(&self, strict: bool) -> Result<()> {
        let key = self.master_key();
        let current = key.id();
        let rows = on_db!(self.db(), |pool| sqlx::query_as::<_, SealedRow>(
            SELECT_SEALED
        )
        .fetch_all(pool)
        .await)?;
        let mut plaintext = Vec::new();
        for row in &rows {
            for (column, stored) in row.columns() {
                match vault::key_id_of(stored) {
                    _ if stored.is_empty() => {}
                    Some(id) if id == current => {}
                    Some(id) if strict => {
                        return Err(Error::WrongMasterKey {
                            stored: id.chars().take(16).collect(),
                            current,
                        })
                    }
                    Some(_) => return Ok(()),
                    // Malformed ciphertext: reading that account reports it.
                    None if vault::is_encrypted(stored) => {}
                    None => plaintext.push((
                        row.id,
                        column,
                        stored,
                        key.encrypt(stored, &secret_aad(row.id, column))?,
                    )),
                }
            }
        }
        if plaintext.is_empty() {
            return Ok(());
        }
        let sqlite = matches!(self.db(), Db::Sqlite(_));
        let turn = self.write_gate().await;
        let sealed = on_db!(self.db(), |pool| async {
            let mut tx = pool.begin().await?;
            // SQLite: overwrite freed space with zeros, so that the replaced values do not stay
            // readable in the file (restored before commit).
            let secure_delete: Option<i64> = if sqlite {
                let previous = sqlx::query_scalar("PRAGMA secure_delete")
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query("PRAGMA secure_delete = ON")
                    .execute(&mut *tx)
                    .await?;
                Some(previous)
            } else {
                None
            };
            let mut sealed = 0;
            for (id, column, plain, cipher) in &plaintext {
                // Compare-and-set: another process starting at the same time may have won.
                sealed += sqlx::query(&format!(
                    "UPDATE accounts SET {column} = $1 WHERE id = $2 AND {column} = $3"
                ))
                .bind(cipher)
                .bind(id)
                .bind(plain)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            let detail = serde_json::json!({ "values": sealed, "key_id": current });
            tx.record_audit(
                &Actor::system(),
                AuditAction::KeysEncryptPlaintext,
                "accounts",
                &detail,
            )
            .await?;
            if let Some(previous) = secure_delete {
                let mode = match previous {
                    0 => "OFF",
                    2 => "FAST",
                    _ => "ON",
                };
                sqlx::query(&format!("PRAGMA secure_delete = {mode}"))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, Error>(sealed)
        }
        .await)?;
        drop(turn);
        self.checkpoint_sqlite().await;
        tracing::info!(
            values = sealed,
            key_id = %current,
            "encrypted account secrets stored in plaintext by an earlier version"
        );
        Ok(())
    }

    /// Re-encrypts every account secret under `new_key` in one transaction, which also records
    /// `keys.rotate` (counts and key ids only). This engine keeps the old key: open a new one
    /// with `new_key` afterwards. Stop other wxpush processes first: they would keep writing
    /// under the old key.
    pub async fn rotate_master_key(
        &self,
        actor: &Actor,
        new_key: &MasterKey,
    ) -> Result<KeyRotation> {
        let old_key = self.master_key();
        let sqlite = matches!(self.db(), Db::Sqlite(_));
        let select = if sqlite {
            SELECT_SEALED.to_owned()
        } else {
            format!("{SELECT_SEALED} FOR UPDATE")
        };
        let turn = self.write_gate().await;
        let rotation = on_db!(self.db(), |pool| async {
            // It reads before it writes (see `BeginWrite`).
            let mut tx = pool.begin_write().await?;
            // SQLite: overwrite freed space with zeros, so that the replaced values do not stay
            // readable in the file (restored before commit).
            let secure_delete: Option<i64> = if sqlite {
                let previous = sqlx::query_scalar("PRAGMA secure_delete")
                    .fetch_one(&mut *tx)
                    .await?;
                sqlx::query("PRAGMA secure_delete = ON")
                    .execute(&mut *tx)
                    .await?;
                Some(previous)
            } else {
                None
            };
            let rows = sqlx::query_as::<_, SealedRow>(&select)
                .fetch_all(&mut *tx)
                .await?;
            let mut rotation = KeyRotation {
                accounts: 0,
                values: 0,
            };
            for row in &rows {
                let mut sealed = Vec::with_capacity(SECRET_COLUMNS.len());
                for (column, stored) in row.columns() {
                    let secret = open_secret(old_key, row.id, column, stored)?;
                    rotation.values += u64::from(secret.is_set());
                    sealed.push(seal_secret(new_key, row.id, column, &secret)?);
                }
                sqlx::query(
                    "UPDATE accounts SET secret = $1, callback_token = $2, encoding_aes_key = $3 \
                     WHERE id = $4",
                )
                .bind(&sealed[0])
                .bind(&sealed[1])
                .bind(&sealed[2])
                .bind(row.id)
                .execute(&mut *tx)
                .await?;
                rotation.accounts += 1;
            }
            // Send keys' webhook signing secrets, under the same key.
            let hooks: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, webhook_secret FROM send_keys WHERE webhook_secret IS NOT NULL",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (id, stored) in &hooks {
                let aad = crate::send_api::webhooks::secret_aad(*id);
                let secret = old_key.decrypt(stored, &aad)?;
                sqlx::query("UPDATE send_keys SET webhook_secret = $1 WHERE id = $2")
                    .bind(new_key.encrypt(&secret, &aad)?)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                rotation.values += 1;
            }
            let detail = serde_json::json!({
                "accounts": rotation.accounts,
                "values": rotation.values,
                "old_key_id": old_key.id(),
                "new_key_id": new_key.id(),
            });
            tx.record_audit(actor, AuditAction::KeysRotate, "accounts", &detail)
                .await?;
            if let Some(previous) = secure_delete {
                let mode = match previous {
                    0 => "OFF",
                    2 => "FAST",
                    _ => "ON",
                };
                sqlx::query(&format!("PRAGMA secure_delete = {mode}"))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok::<_, Error>(rotation)
        }
        .await)?;
        drop(turn);
        self.checkpoint_sqlite().await;
        Ok(rotation)
    }

    /// SQLite keeps old page images in the write-ahead log until a checkpoint: replaced secrets
    /// must not linger there.
    async fn checkpoint_sqlite(&self) {
        if let Db::Sqlite(pool) = self.db() {
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await
            {
                tracing::warn!("cannot checkpoint the SQLite log: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("0123456789abcdef0123456789abcdef");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{:?}", Secret::default()), "Secret(<empty>)");
    }
}

//! WeChat accounts: Official Accounts and Mini Programs, their credentials and the OA↔MP link.

use std::fmt;

use crate::audit::Actor;
use crate::{now_ms, on_db, Engine, Error, Result};

/// WeChat's production API host; an account may point elsewhere (a simulator, a proxy).
pub const WECHAT_API_BASE: &str = "https://api.weixin.qq.com";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountKind {
    /// 公众号
    Oa,
    /// 小程序
    Mp,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Oa => "oa",
            AccountKind::Mp => "mp",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oa" => Some(AccountKind::Oa),
            "mp" => Some(AccountKind::Mp),
            _ => None,
        }
    }
}

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
    fn into_account(self) -> Account {
        Account {
            id: self.id,
            kind: AccountKind::parse(&self.kind).unwrap_or(AccountKind::Oa),
            name: self.name,
            appid: self.appid,
            secret: Secret(self.secret),
            callback_token: Secret(self.callback_token),
            encoding_aes_key: Secret(self.encoding_aes_key),
            api_base: self.api_base,
            linked_account_id: self.linked_account_id,
            sandbox: self.sandbox,
        }
    }
}

const SELECT_ACCOUNT: &str =
    "SELECT id, kind, name, appid, secret, callback_token, encoding_aes_key, \
     api_base, linked_account_id, sandbox FROM accounts";

impl Engine {
    pub async fn accounts(&self) -> Result<Vec<Account>> {
        let sql = format!("{SELECT_ACCOUNT} ORDER BY sandbox, id");
        let rows = on_db!(self.db(), |pool| sqlx::query_as::<_, AccountRow>(&sql)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(AccountRow::into_account).collect())
    }

    pub async fn account(&self, id: i64) -> Result<Option<Account>> {
        let sql = format!("{SELECT_ACCOUNT} WHERE id = $1");
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, AccountRow>(&sql)
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(AccountRow::into_account))
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
        Ok(row.map(AccountRow::into_account))
    }

    /// Adds an account (and its token row); links it both ways when `linked_account_id` is set.
    pub async fn create_account(&self, actor: &Actor, new: NewAccount) -> Result<Account> {
        if let Some(other) = new.linked_account_id {
            self.check_link_partner(new.kind, other).await?;
        }
        let now = now_ms();
        let inserted = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO accounts (kind, name, appid, secret, callback_token, encoding_aes_key, \
                 api_base, linked_account_id, sandbox, created_at_ms, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING id",
            )
            .bind(new.kind.as_str())
            .bind(&new.name)
            .bind(&new.appid)
            .bind(new.secret.expose())
            .bind(new.callback_token.expose())
            .bind(new.encoding_aes_key.expose())
            .bind(&new.api_base)
            .bind(new.linked_account_id)
            .bind(new.sandbox)
            .bind(now)
            .fetch_one(&mut *tx)
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
            tx.commit().await?;
            Ok::<_, sqlx::Error>(id)
        });
        let id = match inserted {
            Ok(id) => id,
            Err(e) if Error::is_unique_violation(&e) => {
                return Err(Error::Conflict(format!("AppID {}", new.appid)))
            }
            Err(e) => return Err(e.into()),
        };
        self.audit(
            actor,
            "account.create",
            &new.appid,
            serde_json::json!({ "kind": new.kind.as_str(), "name": new.name, "api_base": new.api_base, "sandbox": new.sandbox, "linked_account_id": new.linked_account_id }),
        )
        .await?;
        self.account(id).await?.ok_or(Error::NotFound)
    }

    async fn check_link_partner(&self, kind: AccountKind, other: i64) -> Result<()> {
        let partner = self.account(other).await?.ok_or(Error::Invalid {
            field: "linked_account_id",
            message: "no such account".into(),
        })?;
        if partner.kind == kind {
            return Err(Error::Invalid {
                field: "linked_account_id",
                message: "an Official Account links to a Mini Program and the other way round"
                    .into(),
            });
        }
        Ok(())
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
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "UPDATE accounts SET name = $1, api_base = $2, secret = $3, callback_token = $4, \
                 encoding_aes_key = $5, updated_at_ms = $6 WHERE id = $7",
            )
            .bind(&name)
            .bind(&api_base)
            .bind(secret.expose())
            .bind(callback_token.expose())
            .bind(aes.expose())
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
            tx.commit().await
        })?;
        self.audit(
            actor,
            "account.update",
            &current.appid,
            serde_json::json!({ "changed": changed }),
        )
        .await?;
        self.account(id).await?.ok_or(Error::NotFound)
    }

    pub async fn delete_account(&self, actor: &Actor, id: i64) -> Result<()> {
        let current = self.account(id).await?.ok_or(Error::NotFound)?;
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
            tx.commit().await
        })?;
        self.audit(
            actor,
            "account.delete",
            &current.appid,
            serde_json::json!({ "kind": current.kind.as_str() }),
        )
        .await
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

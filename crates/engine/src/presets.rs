//! Presets: messages staff save against an OA template (values, colors, url, Mini Program), kept
//! apart from the synced templates; checked by the same rules as the editor; sent as a test to
//! the staff member's own openid.

use std::collections::BTreeMap;

use message::{check_preset_name, Issue, PresetBody, TemplateSpec};

use crate::accounts::{Account, AccountKind};
use crate::audit::Actor;
use crate::templates::StoredTemplate;
use crate::{now_ms, on_db, Engine, Error, Result};

pub use message::preset::PRESET_NAME_MAX;
/// Bounds what one preset can store (values, url, page path together).
pub const PRESET_BODY_MAX_BYTES: usize = 16 * 1024;

#[derive(Clone, Debug)]
pub struct Preset {
    pub id: i64,
    pub account_id: i64,
    pub template_ref: i64,
    pub name: String,
    pub body: PresetBody,
    pub created_by: String,
    pub updated_by: String,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A preset with what a list shows about its template.
#[derive(Clone, Debug)]
pub struct PresetSummary {
    pub preset: Preset,
    pub template_title: String,
    /// The template is gone from WeChat: the preset cannot be sent until moved to another one.
    pub template_removed: bool,
    /// What no longer fits after the template changed (empty when the preset is sendable).
    pub issues: Vec<Issue>,
}

/// What the editor saves.
#[derive(Clone, Debug)]
pub struct PresetInput {
    pub name: String,
    pub template_ref: i64,
    pub body: PresetBody,
}

#[derive(sqlx::FromRow)]
struct PresetRow {
    id: i64,
    account_id: i64,
    template_ref: i64,
    name: String,
    body: String,
    created_by: String,
    updated_by: String,
    created_ms: i64,
    updated_ms: i64,
}

impl PresetRow {
    fn into_preset(self) -> Preset {
        Preset {
            id: self.id,
            account_id: self.account_id,
            template_ref: self.template_ref,
            name: self.name,
            body: serde_json::from_str(&self.body).unwrap_or_default(),
            created_by: self.created_by,
            updated_by: self.updated_by,
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
        }
    }
}

const SELECT_PRESET: &str = "SELECT id, account_id, template_ref, name, body, created_by, \
     updated_by, created_ms, updated_ms FROM presets";

/// Every problem of `body` against `template`, the same list the editor shows as you type.
pub fn preset_issues(
    template: &StoredTemplate,
    linked_appids: &[String],
    body: &PresetBody,
) -> Vec<Issue> {
    message::validate_preset(
        body,
        &TemplateSpec {
            fields: &template.fields,
            enums: &template.remote.enums,
            flavor: message::Flavor::Template,
            linked_appids,
        },
    )
}

impl Engine {
    /// AppIDs a message of `account` may open: its linked Mini Program.
    pub async fn linked_appids(&self, account: &Account) -> Result<Vec<String>> {
        Ok(self
            .linked_mini_program(account)
            .await?
            .map(|a| vec![a.appid])
            .unwrap_or_default())
    }

    pub async fn presets(&self, account_id: i64) -> Result<Vec<PresetSummary>> {
        let sql = format!("{SELECT_PRESET} WHERE account_id = $1 ORDER BY name");
        let rows = on_db!(self.db(), |pool| {
            sqlx::query_as::<_, PresetRow>(&sql)
                .bind(account_id)
                .fetch_all(pool)
                .await
        })?;
        let Some(account) = self.account(account_id).await? else {
            return Ok(Vec::new());
        };
        let linked = self.linked_appids(&account).await?;
        let templates: BTreeMap<i64, StoredTemplate> = self
            .templates_of(account_id, true)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        Ok(rows
            .into_iter()
            .map(PresetRow::into_preset)
            .map(|preset| match templates.get(&preset.template_ref) {
                Some(t) => PresetSummary {
                    issues: preset_issues(t, &linked, &preset.body),
                    template_title: t.remote.title.clone(),
                    template_removed: t.removed,
                    preset,
                },
                None => PresetSummary {
                    issues: Vec::new(),
                    template_title: String::new(),
                    template_removed: true,
                    preset,
                },
            })
            .collect())
    }

    pub async fn preset(&self, id: i64) -> Result<Option<Preset>> {
        let sql = format!("{SELECT_PRESET} WHERE id = $1");
        let row = on_db!(self.db(), |pool| {
            sqlx::query_as::<_, PresetRow>(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(PresetRow::into_preset))
    }

    /// Refuses anything the editor would show an error for, with the same issues.
    async fn check_preset(&self, account: &Account, input: &PresetInput) -> Result<()> {
        let mut issues: Vec<Issue> = check_preset_name(&input.name).into_iter().collect();
        let template = self
            .template(input.template_ref)
            .await?
            .filter(|t| t.account_id == account.id && t.kind == AccountKind::Oa)
            .ok_or(Error::Invalid {
                field: "template",
                message: "no such template for this account".into(),
            })?;
        if template.removed {
            return Err(Error::TemplateRemoved);
        }
        let size = serde_json::to_string(&input.body)
            .map(|s| s.len())
            .unwrap_or(0);
        if size > PRESET_BODY_MAX_BYTES {
            return Err(Error::Invalid {
                field: "body",
                message: format!("at most {PRESET_BODY_MAX_BYTES} bytes"),
            });
        }
        let linked = self.linked_appids(account).await?;
        issues.extend(preset_issues(&template, &linked, &input.body));
        if issues.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidPreset(issues))
        }
    }

    /// Keeps only the template's keys, so a stored body holds nothing stale.
    async fn normalized(&self, input: &PresetInput) -> Result<String> {
        let mut body = input.body.clone();
        if let Some(t) = self.template(input.template_ref).await? {
            body.values
                .retain(|k, _| t.fields.iter().any(|f| &f.key == k));
        }
        if body
            .miniprogram
            .as_ref()
            .is_some_and(|m| m.appid.is_empty() && m.pagepath.is_empty())
        {
            body.miniprogram = None;
        }
        serde_json::to_string(&body).map_err(|e| Error::Internal(e.to_string()))
    }

    pub async fn create_preset(
        &self,
        actor: &Actor,
        account: &Account,
        input: PresetInput,
    ) -> Result<Preset> {
        self.check_preset(account, &input).await?;
        let body = self.normalized(&input).await?;
        let name = input.name.trim();
        let id = self
            .insert_preset(actor, account, input.template_ref, name, &body)
            .await?;
        self.audit(
            actor,
            "preset.create",
            name,
            serde_json::json!({ "id": id, "account": account.appid, "template_ref": input.template_ref }),
        )
        .await?;
        self.preset(id).await?.ok_or(Error::NotFound)
    }

    pub async fn update_preset(
        &self,
        actor: &Actor,
        account: &Account,
        id: i64,
        input: PresetInput,
    ) -> Result<Preset> {
        let old = self.own_preset(account, id).await?;
        self.check_preset(account, &input).await?;
        let body = self.normalized(&input).await?;
        let name = input.name.trim();
        let changed = on_db!(self.db(), |pool| {
            sqlx::query(
                "UPDATE presets SET template_ref = $1, name = $2, body = $3, updated_by = $4, \
                 updated_ms = $5 WHERE id = $6",
            )
            .bind(input.template_ref)
            .bind(name)
            .bind(&body)
            .bind(&actor.name)
            .bind(now_ms())
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        })
        .map_err(|e| name_conflict(e, name))?;
        if changed == 0 {
            return Err(Error::NotFound);
        }
        self.audit(
            actor,
            "preset.update",
            name,
            serde_json::json!({ "id": id, "old_name": old.name, "template_ref": input.template_ref }),
        )
        .await?;
        self.preset(id).await?.ok_or(Error::NotFound)
    }

    /// Copies a preset under a free name: "名称 副本", "名称 副本 2", …
    pub async fn duplicate_preset(
        &self,
        actor: &Actor,
        account: &Account,
        id: i64,
    ) -> Result<Preset> {
        let original = self.own_preset(account, id).await?;
        let taken: Vec<String> = on_db!(self.db(), |pool| {
            sqlx::query_scalar("SELECT name FROM presets WHERE account_id = $1")
                .bind(account.id)
                .fetch_all(pool)
                .await
        })?;
        let base: String = original.name.chars().take(PRESET_NAME_MAX - 6).collect();
        let name = (1..)
            .map(|n| match n {
                1 => format!("{base} 副本"),
                n => format!("{base} 副本 {n}"),
            })
            .find(|candidate| !taken.contains(candidate))
            .unwrap_or_default();
        let body =
            serde_json::to_string(&original.body).map_err(|e| Error::Internal(e.to_string()))?;
        let new_id = self
            .insert_preset(actor, account, original.template_ref, &name, &body)
            .await?;
        self.audit(
            actor,
            "preset.duplicate",
            &name,
            serde_json::json!({ "id": new_id, "from": id }),
        )
        .await?;
        self.preset(new_id).await?.ok_or(Error::NotFound)
    }

    pub async fn delete_preset(&self, actor: &Actor, account: &Account, id: i64) -> Result<()> {
        let preset = self.own_preset(account, id).await?;
        on_db!(self.db(), |pool| {
            sqlx::query("DELETE FROM presets WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })?;
        self.audit(
            actor,
            "preset.delete",
            &preset.name,
            serde_json::json!({ "id": id }),
        )
        .await
    }

    /// A preset of `account`; another account's preset is as good as missing.
    async fn own_preset(&self, account: &Account, id: i64) -> Result<Preset> {
        self.preset(id)
            .await?
            .filter(|p| p.account_id == account.id)
            .ok_or(Error::NotFound)
    }

    async fn insert_preset(
        &self,
        actor: &Actor,
        account: &Account,
        template_ref: i64,
        name: &str,
        body: &str,
    ) -> Result<i64> {
        let now = now_ms();
        on_db!(self.db(), |pool| {
            sqlx::query_scalar(
                "INSERT INTO presets (account_id, template_ref, name, body, created_by, updated_by, \
                 created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $5, $6, $6) RETURNING id",
            )
            .bind(account.id)
            .bind(template_ref)
            .bind(name)
            .bind(body)
            .bind(&actor.name)
            .bind(now)
            .fetch_one(pool)
            .await
        })
        .map_err(|e| name_conflict(e, name))
    }

    /// The exact message a preset sends to `openid`.
    pub async fn preset_payload(
        &self,
        account: &Account,
        preset: &Preset,
        openid: &str,
        client_msg_id: Option<&str>,
    ) -> Result<message::Payload> {
        let template = self
            .template(preset.template_ref)
            .await?
            .ok_or(Error::NotFound)?;
        if template.removed {
            return Err(Error::TemplateRemoved);
        }
        let linked = self.linked_appids(account).await?;
        let issues = preset_issues(&template, &linked, &preset.body);
        if !issues.is_empty() {
            return Err(Error::InvalidPreset(issues));
        }
        Ok(message::template_payload(
            openid,
            &template.remote.template_id,
            &template.fields,
            &preset.body,
            client_msg_id,
        ))
    }

    /// Sends `preset` to the openid `staff_id` bound for the account; returns WeChat's msgid.
    pub async fn test_send(
        &self,
        actor: &Actor,
        account: &Account,
        staff_id: i64,
        preset_id: i64,
    ) -> Result<i64> {
        let preset = self.own_preset(account, preset_id).await?;
        let openid = self
            .staff_openid(staff_id, account.id)
            .await?
            .ok_or(Error::NoTestOpenid)?;
        let payload = self.preset_payload(account, &preset, &openid, None).await?;
        let message: wechat::api::TemplateMessage = serde_json::from_value(payload.to_json())
            .map_err(|e| Error::Internal(format!("payload: {e}")))?;
        let client = self.wechat();
        let base = account.api_base.as_str();
        let message = &message;
        let outcome = self
            .with_token(account, |token| async move {
                client.send_template(base, &token, message).await
            })
            .await;
        let detail = match &outcome {
            Ok(msgid) => {
                serde_json::json!({ "preset": preset_id, "openid": openid, "msgid": msgid })
            }
            Err(Error::WeChat(e)) => {
                serde_json::json!({ "preset": preset_id, "openid": openid, "errcode": e.code() })
            }
            Err(_) => serde_json::json!({ "preset": preset_id, "openid": openid }),
        };
        self.audit(actor, "preset.test_send", &preset.name, detail)
            .await?;
        outcome
    }

    /// The openid a staff member receives test sends at, per account.
    pub async fn staff_openid(&self, staff_id: i64, account_id: i64) -> Result<Option<String>> {
        Ok(on_db!(self.db(), |pool| {
            sqlx::query_scalar(
                "SELECT openid FROM staff_openids WHERE staff_id = $1 AND account_id = $2",
            )
            .bind(staff_id)
            .bind(account_id)
            .fetch_optional(pool)
            .await
        })?)
    }

    /// Account id → openid for every account the staff member has bound.
    pub async fn staff_openids(&self, staff_id: i64) -> Result<BTreeMap<i64, String>> {
        let rows: Vec<(i64, String)> = on_db!(self.db(), |pool| {
            sqlx::query_as("SELECT account_id, openid FROM staff_openids WHERE staff_id = $1")
                .bind(staff_id)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().collect())
    }

    /// Binds (or with an empty `openid`, unbinds) the staff member's own openid for an account.
    pub async fn set_staff_openid(
        &self,
        actor: &Actor,
        staff_id: i64,
        account: &Account,
        openid: &str,
    ) -> Result<()> {
        let openid = openid.trim();
        if !openid.is_empty() && !openid_format_ok(openid) {
            return Err(Error::Invalid {
                field: "openid",
                message: "an openid is 20–64 letters, digits, - or _".into(),
            });
        }
        on_db!(self.db(), |pool| {
            if openid.is_empty() {
                sqlx::query("DELETE FROM staff_openids WHERE staff_id = $1 AND account_id = $2")
                    .bind(staff_id)
                    .bind(account.id)
                    .execute(pool)
                    .await
                    .map(|r| r.rows_affected())
            } else {
                sqlx::query(
                    "INSERT INTO staff_openids (staff_id, account_id, openid, updated_ms) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (staff_id, account_id) \
                     DO UPDATE SET openid = excluded.openid, updated_ms = excluded.updated_ms",
                )
                .bind(staff_id)
                .bind(account.id)
                .bind(openid)
                .bind(now_ms())
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
            }
        })?;
        self.audit(
            actor,
            "profile.openid",
            &account.appid,
            serde_json::json!({ "staff_id": staff_id, "openid": openid }),
        )
        .await
    }
}

/// WeChat openids are 28 characters of base64url today; allow some room either way.
pub fn openid_format_ok(openid: &str) -> bool {
    (20..=64).contains(&openid.len())
        && openid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn name_conflict(e: sqlx::Error, name: &str) -> Error {
    if Error::is_unique_violation(&e) {
        Error::Conflict(name.to_owned())
    } else {
        Error::Db(e)
    }
}

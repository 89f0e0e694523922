//! Presets: messages staff save, kept apart from the synced templates, owned by an Official
//! Account: either against one of its template messages (values, colors, url, Mini Program) or
//! against a subscribe template of its linked Mini Program (values, page, version, language).
//! Checked by the same rules as the editor; sent as a test to the staff member's own openid.

use crate::audit::AuditAction;
use std::collections::BTreeMap;

use message::{check_preset_name, Flavor, Issue, PresetBody, TemplateSpec};

use crate::accounts::{Account, AccountKind};
use crate::audit::{Actor, RecordAudit};
use crate::templates::StoredTemplate;
use crate::{now_ms, on_db, Engine, Error, Result};
use model::Problem;

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
    /// `Oa`: a template message; `Mp`: a subscribe message of the linked Mini Program.
    pub template_kind: AccountKind,
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

/// The rule table of a template: subscribe messages for Mini Program templates.
pub fn template_flavor(template: &StoredTemplate) -> Flavor {
    match template.kind {
        AccountKind::Oa => Flavor::Template,
        AccountKind::Mp => Flavor::Subscribe,
    }
}

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
            flavor: template_flavor(template),
            linked_appids,
        },
    )
}

/// Whether a send may leave the preset's variables (`{{积分}}`) to be filled per person.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Variables {
    /// One message for everyone: a variable would be sent as written, so it is refused.
    Refused,
    /// A spreadsheet fills them, row by row (and checks each filled row).
    PerRow,
}

fn wrong_template(problem: Problem) -> Error {
    Error::refused("template", problem)
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
        let mp = self.linked_mini_program(&account).await?;
        let linked: Vec<String> = mp.iter().map(|a| a.appid.clone()).collect();
        let mut templates: BTreeMap<i64, StoredTemplate> = self
            .templates_of(account_id, true)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect();
        if let Some(mp) = &mp {
            templates.extend(
                self.templates_of(mp.id, true)
                    .await?
                    .into_iter()
                    .map(|t| (t.id, t)),
            );
        }
        let mut summaries = Vec::with_capacity(rows.len());
        for preset in rows.into_iter().map(PresetRow::into_preset) {
            let summary = match templates.get(&preset.template_ref) {
                Some(t) => PresetSummary {
                    issues: preset_issues(t, &linked, &preset.body),
                    template_kind: t.kind,
                    template_title: t.remote.title.clone(),
                    template_removed: t.removed,
                    preset,
                },
                // A subscribe template of a Mini Program no longer linked: unusable as it is.
                None => match self.template(preset.template_ref).await? {
                    Some(t) => PresetSummary {
                        issues: Vec::new(),
                        template_kind: t.kind,
                        template_title: t.remote.title,
                        template_removed: true,
                        preset,
                    },
                    None => PresetSummary {
                        issues: Vec::new(),
                        template_kind: AccountKind::Oa,
                        template_title: String::new(),
                        template_removed: true,
                        preset,
                    },
                },
            };
            summaries.push(summary);
        }
        Ok(summaries)
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

    /// The template `template_ref` if `account` (an Official Account) may use it: one of its own
    /// template messages, or a subscribe template of its linked Mini Program.
    pub async fn usable_template(
        &self,
        account: &Account,
        template_ref: i64,
    ) -> Result<Option<StoredTemplate>> {
        let Some(template) = self.template(template_ref).await? else {
            return Ok(None);
        };
        let usable = match template.kind {
            AccountKind::Oa => template.account_id == account.id,
            AccountKind::Mp => self
                .linked_mini_program(account)
                .await?
                .is_some_and(|mp| mp.id == template.account_id),
        };
        Ok(usable.then_some(template))
    }

    /// The kind of a preset's template: `Oa` for a template message, `Mp` for a subscribe message.
    pub async fn preset_kind(&self, preset: &Preset) -> Result<AccountKind> {
        self.template(preset.template_ref)
            .await?
            .map(|t| t.kind)
            .ok_or(Error::NotFound)
    }

    /// Refuses anything the editor would show an error for, with the same issues.
    async fn check_preset(&self, account: &Account, input: &PresetInput) -> Result<()> {
        let mut issues: Vec<Issue> = check_preset_name(&input.name).into_iter().collect();
        let template = self
            .usable_template(account, input.template_ref)
            .await?
            .ok_or_else(|| wrong_template(Problem::UnknownTemplate))?;
        if template.removed {
            return Err(Error::TemplateRemoved);
        }
        let size = serde_json::to_string(&input.body)
            .map(|s| s.len())
            .unwrap_or(0);
        if size > PRESET_BODY_MAX_BYTES {
            return Err(Error::refused(
                "body",
                Problem::TooLarge(PRESET_BODY_MAX_BYTES),
            ));
        }
        let linked = self.linked_appids(account).await?;
        issues.extend(preset_issues(&template, &linked, &input.body));
        if issues.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidPreset(issues))
        }
    }

    /// Keeps only the template's keys and what its kind of message uses, so a stored body holds
    /// nothing stale: no colors, url or Mini Program link in a subscribe message, no page,
    /// version or language (back to their defaults) in a template message.
    async fn normalized(&self, input: &PresetInput) -> Result<String> {
        let mut body = input.body.clone();
        if let Some(t) = self.template(input.template_ref).await? {
            body.values
                .retain(|k, _| t.fields.iter().any(|f| &f.key == k));
            let defaults = PresetBody::default();
            match t.kind {
                AccountKind::Mp => {
                    body.values.values_mut().for_each(|v| v.color.clear());
                    body.url.clear();
                    body.miniprogram = None;
                }
                AccountKind::Oa => {
                    body.page = defaults.page;
                    body.miniprogram_state = defaults.miniprogram_state;
                    body.lang = defaults.lang;
                }
            }
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
            .insert_preset(actor, account, input.template_ref, name, &body, |id| {
                let detail = serde_json::json!({ "id": id, "account": account.appid, "template_ref": input.template_ref });
                (AuditAction::PresetCreate, detail)
            })
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
        let detail = serde_json::json!({ "id": id, "old_name": old.name, "template_ref": input.template_ref });
        let turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let changed = sqlx::query(
                "UPDATE presets SET template_ref = $1, name = $2, body = $3, updated_by = $4, \
                 updated_ms = $5 WHERE id = $6",
            )
            .bind(input.template_ref)
            .bind(name)
            .bind(&body)
            .bind(&actor.name)
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| name_conflict(e, name))?
            .rows_affected();
            if changed == 0 {
                return Err(Error::NotFound);
            }
            tx.record_audit(actor, AuditAction::PresetUpdate, name, &detail)
                .await?;
            tx.commit().await?;
        });
        drop(turn);
        self.forget_for_accepting();
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
            .insert_preset(
                actor,
                account,
                original.template_ref,
                &name,
                &body,
                |new_id| {
                    let detail = serde_json::json!({ "id": new_id, "from": id });
                    (AuditAction::PresetDuplicate, detail)
                },
            )
            .await?;
        self.preset(new_id).await?.ok_or(Error::NotFound)
    }

    pub async fn delete_preset(&self, actor: &Actor, account: &Account, id: i64) -> Result<()> {
        let preset = self.own_preset(account, id).await?;
        let detail = serde_json::json!({ "id": id });
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("DELETE FROM presets WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.record_audit(actor, AuditAction::PresetDelete, &preset.name, &detail)
                .await?;
            tx.commit().await
        })?;
        self.forget_for_accepting();
        Ok(())
    }

    /// A preset of `account`; another account's preset is as good as missing.
    async fn own_preset(&self, account: &Account, id: i64) -> Result<Preset> {
        self.preset(id)
            .await?
            .filter(|p| p.account_id == account.id)
            .ok_or(Error::NotFound)
    }

    /// Inserts a preset and, in the same transaction, the audit entry `entry` makes for its id
    /// (an action and its detail; the target is the preset's name).
    async fn insert_preset(
        &self,
        actor: &Actor,
        account: &Account,
        template_ref: i64,
        name: &str,
        body: &str,
        entry: impl FnOnce(i64) -> (AuditAction, serde_json::Value),
    ) -> Result<i64> {
        let now = now_ms();
        let _turn = self.write_gate().await;
        let id = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO presets (account_id, template_ref, name, body, created_by, updated_by, \
                 created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $5, $6, $6) RETURNING id",
            )
            .bind(account.id)
            .bind(template_ref)
            .bind(name)
            .bind(body)
            .bind(&actor.name)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| name_conflict(e, name))?;
            let (action, detail) = entry(id);
            tx.record_audit(actor, action, name, &detail).await?;
            tx.commit().await?;
            id
        });
        Ok(id)
    }

    /// A preset's template, checked as a send needs it: of the expected kind, not removed, and
    /// the preset without issues.
    pub(crate) async fn sendable_template(
        &self,
        account: &Account,
        preset: &Preset,
        kind: AccountKind,
        variables: Variables,
    ) -> Result<StoredTemplate> {
        let template = self
            .template(preset.template_ref)
            .await?
            .ok_or(Error::NotFound)?;
        let linked = self.linked_appids(account).await?;
        self.check_sendable(account, preset, &template, kind, &linked, variables)
            .await?;
        Ok(template)
    }

    /// Refuses a send of `preset` with its `template` unless the template is of `kind`, usable
    /// by the account (a subscribe template), not removed, and the preset has no issues — nor
    /// variables, unless `variables` says a spreadsheet fills them; `linked`: the AppIDs its
    /// messages may open.
    pub(crate) async fn check_sendable(
        &self,
        account: &Account,
        preset: &Preset,
        template: &StoredTemplate,
        kind: AccountKind,
        linked: &[String],
        variables: Variables,
    ) -> Result<()> {
        if template.kind != kind {
            return Err(wrong_template(Problem::WrongPresetKind));
        }
        if kind == AccountKind::Mp && self.usable_template(account, template.id).await?.is_none() {
            return Err(wrong_template(Problem::UnknownTemplate));
        }
        if template.removed {
            return Err(Error::TemplateRemoved);
        }
        let issues = preset_issues(template, linked, &preset.body);
        if !issues.is_empty() {
            return Err(Error::InvalidPreset(issues));
        }
        let names = message::preset_variables(&preset.body, &template.fields);
        if variables == Variables::Refused && !names.is_empty() {
            return Err(Error::refused("preset", Problem::UnfilledVariables(names)));
        }
        Ok(())
    }

    /// The exact message a template-message preset sends to `openid` (an `Invalid` `template`
    /// error for a subscribe-message preset: see [`Engine::preset_subscribe_payload`]).
    pub async fn preset_payload(
        &self,
        account: &Account,
        preset: &Preset,
        openid: &str,
        client_msg_id: Option<&str>,
    ) -> Result<wechat::api::TemplateMessage> {
        let template = self
            .sendable_template(account, preset, AccountKind::Oa, Variables::Refused)
            .await?;
        Ok(message::template_payload(
            openid,
            &template.remote.template_id,
            &template.fields,
            &preset.body,
            client_msg_id,
        ))
    }

    /// The exact subscribe message a preset of `account` (the Official Account owning it) sends
    /// to `openid`, a user of its linked Mini Program; refused like [`Engine::preset_payload`],
    /// and with an `Invalid` `template` error for a template-message preset.
    pub async fn preset_subscribe_payload(
        &self,
        account: &Account,
        preset: &Preset,
        openid: &str,
    ) -> Result<wechat::api::SubscribeMessage> {
        let template = self
            .sendable_template(account, preset, AccountKind::Mp, Variables::Refused)
            .await?;
        Ok(message::subscribe_payload(
            openid,
            &template.remote.template_id,
            &template.fields,
            &preset.body,
        ))
    }

    /// Sends `preset` to the openid `staff_id` bound for the account — for a subscribe-message
    /// preset, the one bound for the linked Mini Program, sent with its token; returns WeChat's
    /// msgid (0 when a subscribe answer carries none).
    pub async fn test_send(
        &self,
        actor: &Actor,
        account: &Account,
        staff_id: i64,
        preset_id: i64,
    ) -> Result<i64> {
        let preset = self.own_preset(account, preset_id).await?;
        // Refusals of the preset itself come back before anything is sent or audited.
        let (openid, outcome) = match self.preset_kind(&preset).await? {
            AccountKind::Oa => {
                let openid = self
                    .staff_openid(staff_id, account.id)
                    .await?
                    .ok_or(Error::NoTestOpenid)?;
                let message = self.preset_payload(account, &preset, &openid, None).await?;
                let outcome = self.send_template_message(account, &message).await;
                (openid, outcome)
            }
            AccountKind::Mp => {
                let mp = self
                    .linked_mini_program(account)
                    .await?
                    .ok_or_else(|| wrong_template(Problem::NoLinkedMiniProgram))?;
                let openid = self
                    .staff_openid(staff_id, mp.id)
                    .await?
                    .ok_or(Error::NoTestOpenid)?;
                let message = self
                    .preset_subscribe_payload(account, &preset, &openid)
                    .await?;
                let outcome = self.send_subscribe_message(&mp, &message).await;
                (openid, outcome)
            }
        };
        let detail = match &outcome {
            Ok(msgid) => {
                serde_json::json!({ "preset": preset_id, "openid": openid, "msgid": msgid })
            }
            Err(Error::WeChat(e)) => {
                serde_json::json!({ "preset": preset_id, "openid": openid, "errcode": e.code() })
            }
            Err(_) => serde_json::json!({ "preset": preset_id, "openid": openid }),
        };
        self.audit(actor, AuditAction::PresetTestSend, &preset.name, detail)
            .await?;
        outcome
    }

    async fn send_template_message(
        &self,
        account: &Account,
        message: &wechat::api::TemplateMessage,
    ) -> Result<i64> {
        let client = self.wechat();
        let base = account.api_base.as_str();
        self.with_token(account, |token| async move {
            client.send_template(base, &token, message).await
        })
        .await
    }

    /// Sends with the Mini Program's own token; 0 when WeChat's answer has no msgid.
    async fn send_subscribe_message(
        &self,
        mp: &Account,
        message: &wechat::api::SubscribeMessage,
    ) -> Result<i64> {
        let client = self.wechat();
        let base = mp.api_base.as_str();
        let msgid = self
            .with_token(mp, |token| async move {
                client.send_subscribe(base, &token, message).await
            })
            .await?;
        Ok(msgid.unwrap_or(0))
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
        if !openid.is_empty() && !model::openid::is_openid(openid) {
            return Err(Error::refused("openid", Problem::OpenIdFormat));
        }
        let detail = serde_json::json!({ "staff_id": staff_id, "openid": openid });
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            if openid.is_empty() {
                sqlx::query("DELETE FROM staff_openids WHERE staff_id = $1 AND account_id = $2")
                    .bind(staff_id)
                    .bind(account.id)
                    .execute(&mut *tx)
                    .await?;
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
                .execute(&mut *tx)
                .await?;
            }
            tx.record_audit(actor, AuditAction::ProfileOpenid, &account.appid, &detail)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }
}

fn name_conflict(e: sqlx::Error, name: &str) -> Error {
    if Error::is_unique_violation(&e) {
        Error::Conflict(name.to_owned())
    } else {
        Error::Db(e)
    }
}

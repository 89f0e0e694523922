//! Templates and presets as server functions: anyone logged in reads them and sends a test to
//! themselves; only admins sync templates and create, edit, duplicate or delete presets. A preset
//! belongs to the Official Account and uses one of its template messages or a subscribe template
//! of its linked Mini Program.

use std::collections::BTreeMap;

use leptos::prelude::*;
use message::{Field, PresetBody};
use serde::{Deserialize, Serialize};

use crate::dto::AccountBrief;
use crate::error::AppError;

/// A synced template as the browser sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateDto {
    pub id: i64,
    /// Official Account: a template message; Mini Program: a subscribe message.
    pub kind: model::AccountKind,
    pub template_id: String,
    pub title: String,
    pub content: String,
    pub example: String,
    /// `IT科技 / 互联网|电子商务`, empty for category templates.
    pub industry: String,
    /// MP: 2 = one-time, 3 = long-term.
    pub sub_type: Option<i64>,
    pub fields: Vec<Field>,
    pub enums: BTreeMap<String, Vec<String>>,
    /// Every keyword typed (a 类目模板): WeChat checks each value and answers 47003.
    pub category: bool,
    pub removed: bool,
    pub changed_ms: i64,
    pub removed_ms: Option<i64>,
    pub presets: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSyncDto {
    pub synced_ms: i64,
    pub synced_by: String,
    pub added: i64,
    pub changed: i64,
    pub removed: i64,
    pub unchanged: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetSummaryDto {
    pub id: i64,
    pub name: String,
    /// The kind of its template (Mini Program: a subscribe message).
    pub kind: model::AccountKind,
    pub template_ref: i64,
    pub template_title: String,
    pub template_removed: bool,
    /// Problems since the template changed (0 = ready to send).
    pub issues: usize,
    pub updated_by: String,
    pub updated_ms: i64,
}

/// Everything the templates page shows for the session's Official Account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplatesPageDto {
    pub account: Option<AccountBrief>,
    /// The linked Mini Program, whose subscribe templates are listed too.
    pub mp: Option<AccountBrief>,
    pub oa_templates: Vec<TemplateDto>,
    pub mp_templates: Vec<TemplateDto>,
    pub oa_sync: Option<TemplateSyncDto>,
    pub mp_sync: Option<TemplateSyncDto>,
    pub presets: Vec<PresetSummaryDto>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetDto {
    pub id: i64,
    pub name: String,
    pub template_ref: i64,
    pub body: PresetBody,
    pub updated_by: String,
    pub updated_ms: i64,
}

/// What the preset editor needs: the preset (when editing), the templates it may use and the
/// Mini Programs a message may open.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditorDto {
    pub account: Option<AccountBrief>,
    pub preset: Option<PresetDto>,
    /// OA templates, then the linked Mini Program's subscribe templates (`kind` `mp`): active
    /// ones, plus the preset's own if it was removed.
    pub templates: Vec<TemplateDto>,
    pub linked_appids: Vec<String>,
    /// The openid this staff member receives test sends at, if bound.
    pub test_openid: Option<String>,
    /// The linked Mini Program (its name heads the 服务通知 preview).
    pub mp: Option<AccountBrief>,
    /// The openid this staff member receives subscribe-message tests at on the linked Mini
    /// Program, if bound.
    pub mp_test_openid: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReportDto {
    pub added: i64,
    pub changed: i64,
    pub removed: i64,
    pub unchanged: i64,
    pub flagged_presets: i64,
}

/// WeChat's answer to a test send.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestSendDto {
    pub msgid: Option<i64>,
    pub errcode: Option<i64>,
    pub explain_zh: String,
    pub explain_en: String,
    pub openid: String,
}

#[server(prefix = "/api", endpoint = "templates_page")]
pub async fn templates_page() -> Result<TemplatesPageDto, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::{brief, current_oa};
    require_staff().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return Ok(TemplatesPageDto::default());
    };
    let engine = &state.engine;
    let presets = engine.presets(account.id).await.map_err(internal)?;
    let mp = ssr::linked_mp(&state, &account).await?;
    let oa_templates = ssr::template_dtos(&state, account.id, &presets).await?;
    let (mp_templates, mp_sync) = match &mp {
        Some(mp) => (
            ssr::template_dtos(&state, mp.id, &presets).await?,
            engine
                .template_sync_state(mp.id)
                .await
                .map_err(internal)?
                .map(ssr::sync_dto),
        ),
        None => (Vec::new(), None),
    };
    Ok(TemplatesPageDto {
        oa_sync: engine
            .template_sync_state(account.id)
            .await
            .map_err(internal)?
            .map(ssr::sync_dto),
        account: Some(brief(&account)),
        mp: mp.as_ref().map(brief),
        oa_templates,
        mp_templates,
        mp_sync,
        presets: presets.into_iter().map(ssr::summary_dto).collect(),
    })
}

/// Syncs the session's Official Account (`kind` = `oa`) or its linked Mini Program (`mp`).
#[server(prefix = "/api", endpoint = "sync_templates")]
pub async fn sync_templates(kind: model::AccountKind) -> Result<SyncReportDto, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    let admin = require_admin().await?;
    let state = state()?;
    let Some(oa) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let account = match kind {
        model::AccountKind::Oa => oa,
        model::AccountKind::Mp => match ssr::linked_mp(&state, &oa).await? {
            Some(mp) => mp,
            None => return fail(AppError::NotFound),
        },
    };
    let actor = actor(&admin, &state);
    match state.engine.sync_templates(&actor, &account).await {
        Ok(r) => Ok(SyncReportDto {
            added: r.added,
            changed: r.changed,
            removed: r.removed,
            unchanged: r.unchanged,
            flagged_presets: r.flagged_presets,
        }),
        Err(e) => fail(from_engine(e)),
    }
}

/// The editor's data: `id` = 0 for a new preset, `template` preselects a template.
#[server(prefix = "/api", endpoint = "preset_editor")]
pub async fn preset_editor(id: i64) -> Result<EditorDto, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::{brief, current_oa};
    let staff = require_staff().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return Ok(EditorDto::default());
    };
    let engine = &state.engine;
    let preset = if id == 0 {
        None
    } else {
        match engine.preset(id).await.map_err(internal)? {
            Some(p) if p.account_id == account.id => Some(p),
            _ => return fail(AppError::NotFound),
        }
    };
    let keep = preset.as_ref().map(|p| p.template_ref);
    let mp = ssr::linked_mp(&state, &account).await?;
    let mut templates = ssr::template_dtos(&state, account.id, &[]).await?;
    let mut mp_test_openid = None;
    if let Some(mp) = &mp {
        templates.extend(ssr::template_dtos(&state, mp.id, &[]).await?);
        mp_test_openid = engine
            .staff_openid(staff.id, mp.id)
            .await
            .map_err(internal)?;
    }
    templates.retain(|t| !t.removed || Some(t.id) == keep);
    Ok(EditorDto {
        account: Some(brief(&account)),
        preset: preset.map(|p| PresetDto {
            id: p.id,
            name: p.name,
            template_ref: p.template_ref,
            body: p.body,
            updated_by: p.updated_by,
            updated_ms: p.updated_ms,
        }),
        templates,
        linked_appids: engine.linked_appids(&account).await.map_err(internal)?,
        test_openid: engine
            .staff_openid(staff.id, account.id)
            .await
            .map_err(internal)?,
        mp: mp.as_ref().map(brief),
        mp_test_openid,
    })
}

/// Creates (`id` = 0) or updates a preset; `body` is the [`PresetBody`] as JSON. Returns its id.
#[server(prefix = "/api", endpoint = "save_preset")]
pub async fn save_preset(
    id: i64,
    name: String,
    template_ref: i64,
    body: String,
) -> Result<i64, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    let admin = require_admin().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let Ok(body) = serde_json::from_str::<PresetBody>(&body) else {
        return fail(AppError::BadRequest(crate::validate::Refusal {
            field: "body".into(),
            problem: crate::validate::Problem::Malformed,
        }));
    };
    let input = engine::templates::presets::PresetInput {
        name,
        template_ref,
        body,
    };
    let actor = actor(&admin, &state);
    let saved = if id == 0 {
        state.engine.create_preset(&actor, &account, input).await
    } else {
        state
            .engine
            .update_preset(&actor, &account, id, input)
            .await
    };
    saved.map(|p| p.id).or_else(|e| fail(from_engine(e)))
}

#[server(prefix = "/api", endpoint = "duplicate_preset")]
pub async fn duplicate_preset(id: i64) -> Result<i64, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    let admin = require_admin().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let actor = actor(&admin, &state);
    state
        .engine
        .duplicate_preset(&actor, &account, id)
        .await
        .map(|p| p.id)
        .or_else(|e| fail(from_engine(e)))
}

#[server(prefix = "/api", endpoint = "delete_preset")]
pub async fn delete_preset(id: i64) -> Result<(), AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    let admin = require_admin().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let actor = actor(&admin, &state);
    state
        .engine
        .delete_preset(&actor, &account, id)
        .await
        .or_else(|e| fail(from_engine(e)))
}

/// Sends the saved preset to the caller's own openid for this account.
#[server(prefix = "/api", endpoint = "test_send_preset")]
pub async fn test_send_preset(id: i64) -> Result<TestSendDto, AppError> {
    use crate::auth::ssr::*;
    use crate::followers::ssr::current_oa;
    let staff = require_staff().await?;
    let state = state()?;
    let Some(account) = current_oa(&state).await? else {
        return fail(AppError::NotFound);
    };
    let actor = actor(&staff, &state);
    let eng = &state.engine;
    // A subscribe message goes to the openid bound for the linked Mini Program.
    let kind = match eng.preset(id).await.map_err(internal)? {
        Some(p) if p.account_id == account.id => eng.preset_kind(&p).await.ok(),
        _ => None,
    };
    let receiving = match kind {
        Some(engine::accounts::AccountKind::Mp) => ssr::linked_mp(&state, &account)
            .await?
            .map_or(0, |mp| mp.id),
        _ => account.id,
    };
    let openid = eng
        .staff_openid(staff.id, receiving)
        .await
        .map_err(internal)?
        .unwrap_or_default();
    match eng.test_send(&actor, &account, staff.id, id).await {
        Ok(0) => Ok(TestSendDto {
            msgid: Some(0),
            errcode: None,
            explain_zh: "已发送（微信未返回 msgid）".into(),
            explain_en: "Sent (WeChat returned no msgid)".into(),
            openid,
        }),
        Ok(msgid) => Ok(TestSendDto {
            msgid: Some(msgid),
            errcode: None,
            explain_zh: format!("已发送，msgid {msgid}"),
            explain_en: format!("Sent, msgid {msgid}"),
            openid,
        }),
        Err(engine::Error::WeChat(e)) => Ok(TestSendDto {
            msgid: None,
            errcode: e.code(),
            explain_zh: e.explain(true),
            explain_en: e.explain(false),
            openid,
        }),
        Err(e) => fail(from_engine(e)),
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Mapping stored templates and presets to what the browser may see.

    use engine::accounts::Account;
    use engine::templates::presets::PresetSummary;
    use engine::templates::TemplateSyncState;

    use super::{PresetSummaryDto, TemplateDto, TemplateSyncDto};
    use crate::auth::ssr::internal;
    use crate::error::AppError;
    use crate::state::AppState;
    use crate::validate::{Problem, Refusal};

    pub fn invalid(field: &str) -> AppError {
        AppError::Refused(Refusal {
            field: field.into(),
            problem: Problem::NotAnOption,
        })
    }

    pub async fn linked_mp(state: &AppState, oa: &Account) -> Result<Option<Account>, AppError> {
        state.engine.linked_mini_program(oa).await.map_err(internal)
    }

    /// The account's templates, removed ones last, with how many `presets` use each.
    pub async fn template_dtos(
        state: &AppState,
        account_id: i64,
        presets: &[PresetSummary],
    ) -> Result<Vec<TemplateDto>, AppError> {
        let mut list: Vec<TemplateDto> = state
            .engine
            .templates_of(account_id, true)
            .await
            .map_err(internal)?
            .into_iter()
            .map(|t| {
                let industry = match (&t.remote.primary_industry, &t.remote.deputy_industry) {
                    (Some(p), Some(d)) => format!("{p} / {d}"),
                    (Some(p), None) => p.clone(),
                    _ => String::new(),
                };
                TemplateDto {
                    id: t.id,
                    kind: t.kind,
                    category: message::fields::is_category(&t.fields),
                    presets: presets
                        .iter()
                        .filter(|p| p.preset.template_ref == t.id)
                        .count() as i64,
                    template_id: t.remote.template_id,
                    title: t.remote.title,
                    content: t.remote.content,
                    example: t.remote.example,
                    industry,
                    sub_type: t.remote.sub_type,
                    fields: t.fields,
                    enums: t.remote.enums,
                    removed: t.removed,
                    changed_ms: t.changed_ms,
                    removed_ms: t.removed_ms,
                }
            })
            .collect();
        list.sort_by_key(|t| t.removed);
        Ok(list)
    }

    pub fn sync_dto(s: TemplateSyncState) -> TemplateSyncDto {
        TemplateSyncDto {
            synced_ms: s.synced_ms,
            synced_by: s.synced_by,
            added: s.added,
            changed: s.changed,
            removed: s.removed,
            unchanged: s.unchanged,
        }
    }

    pub fn summary_dto(s: PresetSummary) -> PresetSummaryDto {
        PresetSummaryDto {
            id: s.preset.id,
            name: s.preset.name,
            kind: s.template_kind,
            template_ref: s.preset.template_ref,
            template_title: s.template_title,
            template_removed: s.template_removed,
            issues: s.issues.len(),
            updated_by: s.preset.updated_by,
            updated_ms: s.preset.updated_ms,
        }
    }
}

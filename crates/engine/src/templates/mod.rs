//! Templates mirrored from WeChat by a 3-way merge: new ones inserted, changed ones updated,
//! vanished ones marked removed — never deleted, so the presets that use them can be flagged.

pub mod presets;

use crate::audit::AuditAction;
use std::collections::{BTreeMap, HashMap};

use message::Field;

use crate::accounts::{Account, AccountKind};
use crate::audit::{Actor, RecordAudit};
use crate::{now_ms, on_db, Engine, Error, Result};

/// A template as WeChat lists it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteTemplate {
    pub template_id: String,
    pub title: String,
    pub content: String,
    pub example: String,
    pub primary_industry: Option<String>,
    pub deputy_industry: Option<String>,
    /// MP only: 2 = one-time, 3 = long-term subscription.
    pub sub_type: Option<i64>,
    /// Keyword → approved values (MP enum keywords).
    pub enums: BTreeMap<String, Vec<String>>,
}

impl From<wechat::api::Template> for RemoteTemplate {
    fn from(t: wechat::api::Template) -> Self {
        RemoteTemplate {
            template_id: t.template_id,
            title: t.title,
            content: t.content,
            example: t.example,
            primary_industry: t.primary_industry,
            deputy_industry: t.deputy_industry,
            sub_type: None,
            enums: BTreeMap::new(),
        }
    }
}

impl From<wechat::api::MpTemplate> for RemoteTemplate {
    fn from(t: wechat::api::MpTemplate) -> Self {
        let enums = t
            .keyword_enum_value_list
            .into_iter()
            .map(|e| {
                let key = e
                    .keyword_code
                    .strip_suffix(".DATA")
                    .unwrap_or(&e.keyword_code)
                    .to_owned();
                (key, e.enum_value_list)
            })
            .collect();
        RemoteTemplate {
            template_id: t.pri_tmpl_id,
            title: t.title,
            content: t.content,
            example: t.example,
            primary_industry: None,
            deputy_industry: None,
            sub_type: Some(t.kind),
            enums,
        }
    }
}

/// A template as stored, with its keyword fields parsed from the content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTemplate {
    pub id: i64,
    pub account_id: i64,
    pub kind: AccountKind,
    pub remote: RemoteTemplate,
    /// Gone from WeChat at the last sync.
    pub removed: bool,
    pub first_seen_ms: i64,
    pub changed_ms: i64,
    pub removed_ms: Option<i64>,
    pub fields: Vec<Field>,
}

#[derive(sqlx::FromRow)]
struct TemplateRow {
    id: i64,
    account_id: i64,
    kind: String,
    template_id: String,
    title: String,
    content: String,
    example: String,
    primary_industry: Option<String>,
    deputy_industry: Option<String>,
    sub_type: Option<i64>,
    enums: String,
    state: String,
    first_seen_ms: i64,
    changed_ms: i64,
    removed_ms: Option<i64>,
}

impl TemplateRow {
    fn into_stored(self) -> StoredTemplate {
        let fields = message::parse_fields(&self.content);
        StoredTemplate {
            id: self.id,
            account_id: self.account_id,
            kind: AccountKind::parse(&self.kind).unwrap_or(AccountKind::Oa),
            remote: RemoteTemplate {
                template_id: self.template_id,
                title: self.title,
                content: self.content,
                example: self.example,
                primary_industry: self.primary_industry,
                deputy_industry: self.deputy_industry,
                sub_type: self.sub_type,
                enums: serde_json::from_str(&self.enums).unwrap_or_default(),
            },
            removed: self.state == "removed",
            first_seen_ms: self.first_seen_ms,
            changed_ms: self.changed_ms,
            removed_ms: self.removed_ms,
            fields,
        }
    }
}

const SELECT_TEMPLATE: &str = "SELECT id, account_id, kind, template_id, title, content, example, \
     primary_industry, deputy_industry, sub_type, enums, state, first_seen_ms, changed_ms, removed_ms \
     FROM templates";

/// What a sync will do to the stored templates of one account.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MergePlan {
    pub insert: Vec<RemoteTemplate>,
    /// Stored id → the new version (changed, or back after being removed).
    pub update: Vec<(i64, RemoteTemplate)>,
    /// Stored ids gone from WeChat.
    pub remove: Vec<i64>,
    pub unchanged: usize,
}

/// Merges WeChat's list (`remote`) into what was stored at the last sync (`stored`). Presets,
/// the third party, live in their own table and are never touched; they are only flagged when
/// their template is removed or no longer fits them.
pub fn plan_merge(stored: &[StoredTemplate], remote: Vec<RemoteTemplate>) -> MergePlan {
    let by_id: HashMap<&str, &StoredTemplate> = stored
        .iter()
        .map(|s| (s.remote.template_id.as_str(), s))
        .collect();
    let mut plan = MergePlan::default();
    let mut seen: Vec<String> = Vec::with_capacity(remote.len());
    for r in remote {
        if seen.contains(&r.template_id) {
            continue;
        }
        seen.push(r.template_id.clone());
        match by_id.get(r.template_id.as_str()) {
            None => plan.insert.push(r),
            Some(s) if s.removed || s.remote != r => plan.update.push((s.id, r)),
            Some(_) => plan.unchanged += 1,
        }
    }
    plan.remove = stored
        .iter()
        .filter(|s| !s.removed && !seen.contains(&s.remote.template_id))
        .map(|s| s.id)
        .collect();
    plan
}

/// The outcome of one template sync.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct TemplateSyncReport {
    pub added: i64,
    pub changed: i64,
    pub removed: i64,
    pub unchanged: i64,
    /// Presets using one of this account's templates that is now removed (for a Mini Program:
    /// the subscribe-message presets of the Official Accounts linked to it).
    pub flagged_presets: i64,
}

/// When an account's templates were last synced, and what changed.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TemplateSyncState {
    pub synced_ms: i64,
    pub synced_by: String,
    pub added: i64,
    pub changed: i64,
    pub removed: i64,
    pub unchanged: i64,
}

impl Engine {
    /// Fetches `account`'s templates from WeChat (OA template messages or MP subscribe
    /// templates) and merges them into the store. Audited: `template.sync`, or
    /// `template.sync_failed` with the error (WeChat's errcode and message, never a URL or token).
    pub async fn sync_templates(
        &self,
        actor: &Actor,
        account: &Account,
    ) -> Result<TemplateSyncReport> {
        let result = self.merge_remote_templates(actor, account).await;
        if let Err(e) = &result {
            let errcode = match e {
                Error::WeChat(w) => w.code(),
                _ => None,
            };
            let detail = serde_json::json!({ "errcode": errcode, "error": e.to_string() });
            self.audit(
                actor,
                AuditAction::TemplateSyncFailed,
                &account.appid,
                detail,
            )
            .await?;
        }
        result
    }

    async fn merge_remote_templates(
        &self,
        actor: &Actor,
        account: &Account,
    ) -> Result<TemplateSyncReport> {
        let client = self.wechat();
        let base = account.api_base.as_str();
        let remote: Vec<RemoteTemplate> = match account.kind {
            AccountKind::Oa => self
                .with_token(account, |token| async move {
                    client.templates(base, &token).await
                })
                .await?
                .into_iter()
                .map(RemoteTemplate::from)
                .collect(),
            AccountKind::Mp => self
                .with_token(account, |token| async move {
                    client.mp_templates(base, &token).await
                })
                .await?
                .into_iter()
                .map(RemoteTemplate::from)
                .collect(),
        };
        let stored = self.templates_of(account.id, true).await?;
        let plan = plan_merge(&stored, remote);
        let now = now_ms();
        let report = TemplateSyncReport {
            added: plan.insert.len() as i64,
            changed: plan.update.len() as i64,
            removed: plan.remove.len() as i64,
            unchanged: plan.unchanged as i64,
            flagged_presets: 0,
        };
        let kind = account.kind.as_str();
        let turn = self.write_gate().await;
        let flagged_presets: i64 = on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            for r in &plan.insert {
                sqlx::query(
                    "INSERT INTO templates (account_id, kind, template_id, title, content, example, \
                     primary_industry, deputy_industry, sub_type, enums, state, first_seen_ms, changed_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11, $11)",
                )
                .bind(account.id)
                .bind(kind)
                .bind(&r.template_id)
                .bind(&r.title)
                .bind(&r.content)
                .bind(&r.example)
                .bind(&r.primary_industry)
                .bind(&r.deputy_industry)
                .bind(r.sub_type)
                .bind(enums_json(&r.enums))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            for (id, r) in &plan.update {
                sqlx::query(
                    "UPDATE templates SET title = $1, content = $2, example = $3, primary_industry = $4, \
                     deputy_industry = $5, sub_type = $6, enums = $7, state = 'active', changed_ms = $8, \
                     removed_ms = NULL WHERE id = $9",
                )
                .bind(&r.title)
                .bind(&r.content)
                .bind(&r.example)
                .bind(&r.primary_industry)
                .bind(&r.deputy_industry)
                .bind(r.sub_type)
                .bind(enums_json(&r.enums))
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            for id in &plan.remove {
                sqlx::query(
                    "UPDATE templates SET state = 'removed', removed_ms = $1 WHERE id = $2",
                )
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "INSERT INTO template_syncs (account_id, synced_ms, synced_by, added, changed, removed, unchanged) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (account_id) DO UPDATE SET synced_ms = excluded.synced_ms, \
                 synced_by = excluded.synced_by, added = excluded.added, changed = excluded.changed, \
                 removed = excluded.removed, unchanged = excluded.unchanged",
            )
            .bind(account.id)
            .bind(now)
            .bind(&actor.name)
            .bind(report.added)
            .bind(report.changed)
            .bind(report.removed)
            .bind(report.unchanged)
            .execute(&mut *tx)
            .await?;
            let flagged_presets: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM presets p JOIN templates t ON t.id = p.template_ref \
                 WHERE t.account_id = $1 AND t.state = 'removed'",
            )
            .bind(account.id)
            .fetch_one(&mut *tx)
            .await?;
            let report = TemplateSyncReport {
                flagged_presets,
                ..report.clone()
            };
            let detail = serde_json::to_value(&report).unwrap_or_default();
            tx.record_audit(actor, AuditAction::TemplateSync, &account.appid, &detail)
                .await?;
            tx.commit().await?;
            flagged_presets
        });
        drop(turn);
        self.forget_for_accepting();
        Ok(TemplateSyncReport {
            flagged_presets,
            ..report
        })
    }

    /// The stored templates of an account in first-seen order; removed ones only on request.
    pub async fn templates_of(
        &self,
        account_id: i64,
        include_removed: bool,
    ) -> Result<Vec<StoredTemplate>> {
        let sql = if include_removed {
            format!("{SELECT_TEMPLATE} WHERE account_id = $1 ORDER BY id")
        } else {
            format!("{SELECT_TEMPLATE} WHERE account_id = $1 AND state = 'active' ORDER BY id")
        };
        let rows = on_db!(self.db(), |pool| {
            sqlx::query_as::<_, TemplateRow>(&sql)
                .bind(account_id)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(TemplateRow::into_stored).collect())
    }

    pub async fn template(&self, id: i64) -> Result<Option<StoredTemplate>> {
        let sql = format!("{SELECT_TEMPLATE} WHERE id = $1");
        let row = on_db!(self.db(), |pool| {
            sqlx::query_as::<_, TemplateRow>(&sql)
                .bind(id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(TemplateRow::into_stored))
    }

    pub async fn template_sync_state(&self, account_id: i64) -> Result<Option<TemplateSyncState>> {
        Ok(on_db!(self.db(), |pool| {
            sqlx::query_as::<_, TemplateSyncState>(
                "SELECT synced_ms, synced_by, added, changed, removed, unchanged \
                 FROM template_syncs WHERE account_id = $1",
            )
            .bind(account_id)
            .fetch_optional(pool)
            .await
        })?)
    }
}

fn enums_json(enums: &BTreeMap<String, Vec<String>>) -> String {
    serde_json::to_string(enums).unwrap_or_else(|_| "{}".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(id: &str, content: &str) -> RemoteTemplate {
        RemoteTemplate {
            template_id: id.into(),
            title: format!("title {id}"),
            content: content.into(),
            example: String::new(),
            primary_industry: None,
            deputy_industry: None,
            sub_type: None,
            enums: BTreeMap::new(),
        }
    }

    fn stored(id: i64, r: RemoteTemplate, removed: bool) -> StoredTemplate {
        StoredTemplate {
            id,
            account_id: 1,
            kind: AccountKind::Oa,
            fields: message::parse_fields(&r.content),
            remote: r,
            removed,
            first_seen_ms: 0,
            changed_ms: 0,
            removed_ms: removed.then_some(0),
        }
    }

    #[test]
    fn merge_inserts_updates_removes_and_keeps() {
        let a = remote("A", "商品:{{thing1.DATA}}");
        let b = remote("B", "金额:{{amount1.DATA}}");
        let c = remote("C", "{{first.DATA}}");
        let d = remote("D", "时间:{{time1.DATA}}");
        let existing = vec![
            stored(1, a.clone(), false),
            stored(2, b.clone(), false),
            stored(3, c.clone(), false),
            stored(4, d.clone(), true),
        ];
        let b2 = RemoteTemplate {
            content: "金额:{{amount1.DATA}}\n备注:{{thing2.DATA}}".into(),
            ..b
        };
        let e = remote("E", "电话:{{phone_number1.DATA}}");
        // A unchanged, B changed, C gone, D back, E new; a duplicate E is ignored.
        let plan = plan_merge(
            &existing,
            vec![a, b2.clone(), d.clone(), e.clone(), e.clone()],
        );
        assert_eq!(plan.insert, vec![e]);
        assert_eq!(plan.update, vec![(2, b2), (4, d)]);
        assert_eq!(plan.remove, vec![3]);
        assert_eq!(plan.unchanged, 1);
    }

    #[test]
    fn merge_of_an_empty_answer_removes_everything_active_only() {
        let existing = vec![
            stored(1, remote("A", "x"), false),
            stored(2, remote("B", "y"), true),
        ];
        let plan = plan_merge(&existing, Vec::new());
        assert_eq!(plan.remove, vec![1]);
        assert!(plan.insert.is_empty() && plan.update.is_empty());
    }

    #[test]
    fn mp_enum_lists_become_keyword_maps() {
        let mp = wechat::api::MpTemplate {
            pri_tmpl_id: "P".into(),
            title: "设备状态提醒".into(),
            content: "所在位置:{{enum_string2.DATA}}".into(),
            example: String::new(),
            kind: 3,
            keyword_enum_value_list: vec![wechat::api::KeywordEnumValue {
                keyword_code: "enum_string2.DATA".into(),
                enum_value_list: vec!["客厅".into(), "卧室".into()],
            }],
        };
        let r = RemoteTemplate::from(mp);
        assert_eq!(r.sub_type, Some(3));
        assert_eq!(r.enums["enum_string2"], ["客厅", "卧室"]);
    }
}

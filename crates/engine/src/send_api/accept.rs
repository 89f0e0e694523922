//! Accepting one API message: the person resolved across the Official Account and its Mini
//! Program, the preset rendered with the request's own values and checked by the editor's
//! rules, and the message queued as a row of the account's API job — once per idempotency key.

use message::{Field, PresetBody};
use model::openid::is_openid;
use model::send_api::{is_idempotency_key, Accepted, MessageState, Person, SendKey, SendRequest};
use model::{AccountKind, Channel, Problem, RecipientState, RowChannel};

use crate::accounts::Account;
use crate::templates::presets::{Preset, Variables};
use crate::templates::StoredTemplate;

use super::cache::AccountView;
use super::queue::{NewMessage, Written};
use super::webhooks::Hook;
use crate::{now_ms, on_db, Engine, Error, Result};

/// Messages per second the dispatcher sends an account's API messages at (the keys' own
/// rates bound what enters).
pub const API_SEND_RATE: i64 = 5_000;

/// What wxpush knows of a person.
#[derive(Debug, Default)]
struct Known {
    /// Their follower row: OA openid and whether they follow now.
    follower: Option<(String, bool)>,
    unionid: Option<String>,
    /// Their user row in the linked Mini Program.
    mp_openid: Option<String>,
    /// Known as a Mini Program user (with or without a unionid).
    mp_user: bool,
}

impl Known {
    fn following(&self) -> Option<&str> {
        match &self.follower {
            Some((openid, true)) => Some(openid),
            _ => None,
        }
    }

    fn is_nobody(&self) -> bool {
        self.follower.is_none() && !self.mp_user
    }

    /// Why no template message can reach them.
    fn template_refusal(&self) -> Problem {
        // Only a Mini Program user without a unionid cannot be looked for among followers.
        if self.follower.is_none() && self.mp_user && self.unionid.is_none() {
            Problem::NoUnionid
        } else {
            Problem::NotFollowing
        }
    }

    /// Why no subscribe message can reach them (before credits are looked at).
    fn subscribe_refusal(&self) -> Problem {
        if self.unionid.is_none() && !self.mp_user {
            Problem::NoUnionid
        } else {
            Problem::NotAMpUser
        }
    }
}

/// Where an accepted message goes.
struct Route {
    channel: RowChannel,
    openid: String,
    unionid: Option<String>,
    oa_openid: Option<String>,
    mp_openid: Option<String>,
}

/// The API's name for a field of the preset editor's.
fn api_field(editor_field: &str) -> String {
    match editor_field.split_once('.') {
        Some(("value" | "color", key)) => format!("values.{key}"),
        Some(("miniprogram", _)) => "pagepath".into(),
        None if editor_field == "page" => "pagepath".into(),
        _ => editor_field.to_owned(),
    }
}

/// A preset's message refused for its values: the first issue, named as the API names it.
fn value_refusal(err: Error) -> Error {
    match err {
        Error::InvalidPreset(issues) => match issues.into_iter().next() {
            Some(issue) => Error::refused(&api_field(&issue.field), Problem::Value(issue.problem)),
            None => Error::refused("preset", Problem::Malformed),
        },
        other => other,
    }
}

/// The preset's body with the request's values, url and page over it. Records in
/// `keys_used` the request's value keys this preset's template has.
fn api_body(
    mp: Option<&Account>,
    preset: &Preset,
    fields: &[Field],
    req: &SendRequest,
    subscribe: bool,
    keys_used: &mut std::collections::BTreeSet<String>,
) -> Result<PresetBody> {
    let mut body = preset.body.clone();
    for (k, v) in &req.values {
        if fields.iter().any(|f| &f.key == k) {
            keys_used.insert(k.clone());
            body.values
                .entry(k.clone())
                .or_default()
                .value
                .clone_from(v);
        }
    }
    if subscribe {
        if let Some(page) = &req.pagepath {
            body.page.clone_from(page);
        }
    } else {
        if let Some(url) = &req.url {
            body.url.clone_from(url);
        }
        if let Some(path) = &req.pagepath {
            match (&mut body.miniprogram, mp) {
                (Some(link), _) => link.pagepath.clone_from(path),
                (None, Some(mp)) => {
                    body.miniprogram = Some(message::MiniProgramLink {
                        appid: mp.appid.clone(),
                        pagepath: path.clone(),
                    })
                }
                (None, None) => {
                    return Err(Error::refused("pagepath", Problem::NoLinkedMiniProgram))
                }
            }
        }
    }
    Ok(body)
}

impl Engine {
    /// Accepts `req` from `key` (whose body hashes to `body_hash`): the message is queued and
    /// its id returned, or the refusal says which field or which reason. With an idempotency
    /// key seen before, returns that message (`replayed`) when the body is the same and refuses
    /// `idempotency_key` (`IdempotencyConflict`) when it is not; nothing more is queued.
    pub async fn accept_message(
        &self,
        key: &SendKey,
        req: &SendRequest,
        body_hash: &str,
    ) -> Result<Accepted> {
        if let Some(k) = &req.idempotency_key {
            if !is_idempotency_key(k) {
                return Err(Error::refused("idempotency_key", Problem::Malformed));
            }
            if let Some(first) = self.replay(key.id, k, body_hash).await? {
                return Ok(first);
            }
        }
        if !is_openid(req.to.id()) {
            return Err(Error::refused(
                &format!("to.{}", req.to.kind()),
                Problem::OpenIdFormat,
            ));
        }
        let view = self.account_view(key.account_id).await?;
        let account = &view.account;
        // Each preset in play with its template, read once.
        let preset = self.api_preset(key, account, req).await?;
        let kind = preset.1.kind;
        let (template_preset, subscribe_preset) = match (req.channel(), kind) {
            (Channel::Template, AccountKind::Oa) => (Some(preset), None),
            (Channel::Subscribe | Channel::Best, AccountKind::Mp) => (None, Some(preset)),
            (Channel::Best, AccountKind::Oa) => {
                let subscribe = match req.subscribe_preset {
                    Some(id) => {
                        let p = self
                            .allowed_preset(key, account, id, "subscribe_preset")
                            .await?;
                        if p.1.kind != AccountKind::Mp {
                            return Err(Error::refused(
                                "subscribe_preset",
                                Problem::WrongPresetKind,
                            ));
                        }
                        Some(p)
                    }
                    None => None,
                };
                (Some(preset), subscribe)
            }
            _ => return Err(Error::refused("preset", Problem::WrongPresetKind)),
        };
        let mp = view.mp.clone();
        if subscribe_preset.is_some() && mp.is_none() {
            return Err(Error::refused("channel", Problem::NoLinkedMiniProgram));
        }
        let known = self.find_person(account, mp.as_ref(), &req.to).await?;
        if known.is_nobody() {
            return Err(Error::refused("to", Problem::UnknownPerson));
        }
        // The message of each preset in play, rendered before anything is routed: a value the
        // editor would refuse is refused whoever the person is.
        let mut keys_used = std::collections::BTreeSet::new();
        let template_message = match &template_preset {
            Some((p, template)) => {
                let body = api_body(mp.as_ref(), p, &template.fields, req, false, &mut keys_used)?;
                let preset = Preset { body, ..p.clone() };
                // As `preset_payload` does, with the template and account already at hand.
                self.check_sendable(
                    account,
                    &preset,
                    template,
                    AccountKind::Oa,
                    &view.linked,
                    Variables::Refused,
                )
                .await
                .map_err(value_refusal)?;
                Some(message::template_payload(
                    "",
                    &template.remote.template_id,
                    &template.fields,
                    &preset.body,
                    None,
                ))
            }
            None => None,
        };
        let subscribe_message = match &subscribe_preset {
            Some((p, template)) => {
                let body = api_body(mp.as_ref(), p, &template.fields, req, true, &mut keys_used)?;
                let preset = Preset { body, ..p.clone() };
                self.check_sendable(
                    account,
                    &preset,
                    template,
                    AccountKind::Mp,
                    &view.linked,
                    Variables::Refused,
                )
                .await
                .map_err(value_refusal)?;
                Some(message::subscribe_payload(
                    "",
                    &template.remote.template_id,
                    &template.fields,
                    &preset.body,
                ))
            }
            None => None,
        };
        if let Some(unknown) = req.values.keys().find(|k| !keys_used.contains(*k)) {
            return Err(Error::refused(
                &format!("values.{unknown}"),
                Problem::NotATemplateField,
            ));
        }
        let route = match (known.following(), &template_message, &subscribe_message) {
            (Some(oa_openid), Some(_), _) => Route {
                channel: RowChannel::Template,
                openid: oa_openid.to_owned(),
                unionid: known.unionid.clone(),
                oa_openid: Some(oa_openid.to_owned()),
                mp_openid: known.mp_openid.clone(),
            },
            (_, _, Some(message)) => {
                let Some(mp_openid) = known.mp_openid.clone() else {
                    return Err(Error::refused("to", known.subscribe_refusal()));
                };
                let mp_id = mp.as_ref().map(|m| m.id).unwrap_or_default();
                let holders = self
                    .credit_holders(
                        mp_id,
                        &message.template_id,
                        std::slice::from_ref(&mp_openid),
                    )
                    .await?;
                if !holders.contains(&mp_openid) {
                    return Err(Error::refused("to", Problem::NoSubscriptionCredit));
                }
                Route {
                    channel: RowChannel::Subscribe,
                    openid: mp_openid.clone(),
                    unionid: known.unionid.clone(),
                    oa_openid: known.following().map(str::to_owned),
                    mp_openid: Some(mp_openid),
                }
            }
            _ => return Err(Error::refused("to", known.template_refusal())),
        };
        let payload = match route.channel {
            RowChannel::Template => template_message.map(|m| m.to_json().to_string()),
            RowChannel::Subscribe => subscribe_message.map(|m| m.to_json().to_string()),
        }
        .ok_or_else(|| Error::Internal("no message for the route".into()))?;
        let preset_id = template_preset
            .as_ref()
            .or(subscribe_preset.as_ref())
            .map(|(p, _)| p.id);
        self.enqueue(
            key,
            account,
            mp.as_ref(),
            req,
            body_hash,
            &route,
            &payload,
            preset_id,
        )
        .await
    }

    /// The preset a request names, if the key may use it.
    async fn api_preset(
        &self,
        key: &SendKey,
        account: &Account,
        req: &SendRequest,
    ) -> Result<(Preset, StoredTemplate)> {
        match (req.preset, &req.preset_name) {
            (Some(id), _) => self.allowed_preset(key, account, id, "preset").await,
            (None, Some(name)) => {
                let id: Option<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(
                    "SELECT id FROM presets WHERE account_id = $1 AND name = $2"
                )
                .bind(account.id)
                .bind(name.trim())
                .fetch_optional(pool)
                .await)?;
                let id = id.ok_or_else(|| Error::refused("preset_name", Problem::NotAnOption))?;
                self.allowed_preset(key, account, id, "preset_name").await
            }
            (None, None) => Err(Error::refused("preset", Problem::Required)),
        }
    }

    async fn allowed_preset(
        &self,
        key: &SendKey,
        account: &Account,
        id: i64,
        field: &str,
    ) -> Result<(Preset, StoredTemplate)> {
        let (preset, template) = self
            .preset_with_template(id)
            .await?
            .ok_or_else(|| Error::refused(field, Problem::NotAnOption))?;
        // Another account's preset is as forbidden as one outside the key's list.
        if preset.account_id != account.id || !key.presets.allows(preset.id) {
            return Err(Error::refused(field, Problem::PresetNotAllowed));
        }
        Ok((preset, template))
    }

    /// A preset and its template (its kind — `Oa`: template message, `Mp`: subscribe message —
    /// and fields), fresh within a second.
    async fn preset_with_template(&self, id: i64) -> Result<Option<(Preset, StoredTemplate)>> {
        let cache = &self.inner.accept_cache.presets;
        if let Some(hit) = cache.get(&id) {
            return Ok(Some(hit));
        }
        let Some(preset) = self.preset(id).await? else {
            return Ok(None);
        };
        let template = self
            .template(preset.template_ref)
            .await?
            .ok_or(Error::NotFound)?;
        cache.put(id, (preset.clone(), template.clone()));
        Ok(Some((preset, template)))
    }

    /// An Official Account with its linked Mini Program, fresh within a second.
    async fn account_view(&self, account_id: i64) -> Result<AccountView> {
        let cache = &self.inner.accept_cache.accounts;
        if let Some(hit) = cache.get(&account_id) {
            return Ok(hit);
        }
        let account = self.account(account_id).await?.ok_or(Error::NotFound)?;
        let mp = self.linked_mini_program(&account).await?;
        let linked = mp.iter().map(|m| m.appid.clone()).collect();
        let view = AccountView {
            account,
            mp,
            linked,
        };
        cache.put(account_id, view.clone());
        Ok(view)
    }

    /// What wxpush knows of `person`: their follower row, unionid and Mini Program user row.
    async fn find_person(
        &self,
        account: &Account,
        mp: Option<&Account>,
        person: &Person,
    ) -> Result<Known> {
        let mp_id = mp.map(|m| m.id);
        let mut known = Known::default();
        match person {
            Person::OaOpenid(openid) => {
                let row: Option<(bool, Option<String>)> = on_db!(self.db(), |pool| {
                    sqlx::query_as(
                    "SELECT subscribed, unionid FROM followers WHERE account_id = $1 AND openid = $2"
                )
                .bind(account.id)
                .bind(openid)
                .fetch_optional(pool)
                .await
                })?;
                if let Some((subscribed, unionid)) = row {
                    known.follower = Some((openid.clone(), subscribed));
                    known.unionid = unionid;
                }
            }
            Person::Unionid(unionid) => {
                known.unionid = Some(unionid.clone());
            }
            Person::MpOpenid(openid) => {
                if let Some(mp_id) = mp_id {
                    if let Some(user) = self.mp_user(mp_id, openid).await? {
                        known.mp_user = true;
                        known.mp_openid = Some(openid.clone());
                        known.unionid = user.unionid;
                    }
                }
                if !known.mp_user {
                    return Err(Error::refused("to", Problem::NotAMpUser));
                }
            }
        }
        let Some(unionid) = known.unionid.clone() else {
            return Ok(known);
        };
        if known.follower.is_none() {
            // A current follower first, should the unionid have several rows.
            let row: Option<(String, bool)> = on_db!(self.db(), |pool| {
                sqlx::query_as(
                "SELECT openid, subscribed FROM followers WHERE account_id = $1 AND unionid = $2 \
                 ORDER BY subscribed DESC LIMIT 1"
            )
            .bind(account.id)
            .bind(&unionid)
            .fetch_optional(pool)
            .await
            })?;
            known.follower = row;
        }
        if let (None, Some(mp_id)) = (&known.mp_openid, mp_id) {
            let row: Option<String> = on_db!(self.db(), |pool| sqlx::query_scalar(
                "SELECT openid FROM mp_users WHERE account_id = $1 AND unionid = $2 LIMIT 1"
            )
            .bind(mp_id)
            .bind(&unionid)
            .fetch_optional(pool)
            .await)?;
            known.mp_user = row.is_some();
            known.mp_openid = row;
        }
        Ok(known)
    }

    /// The id of the account's API job, created on first use.
    async fn api_job(&self, account: &Account, mp: Option<&Account>) -> Result<i64> {
        let cache = &self.inner.accept_cache.api_jobs;
        if let Some(id) = cache.get(&account.id) {
            return Ok(id);
        }
        let id = self.find_or_create_api_job(account, mp).await?;
        cache.put(account.id, id);
        Ok(id)
    }

    async fn find_or_create_api_job(&self, account: &Account, mp: Option<&Account>) -> Result<i64> {
        let find = "SELECT id FROM jobs WHERE account_id = $1 AND kind = 'api'";
        let found: Option<i64> = on_db!(self.db(), |pool| sqlx::query_scalar(find)
            .bind(account.id)
            .fetch_optional(pool)
            .await)?;
        if let Some(id) = found {
            return Ok(id);
        }
        let now = now_ms();
        let turn = self.write_gate().await;
        on_db!(self.db(), |pool| sqlx::query(
            "INSERT INTO jobs (account_id, kind, channel, name, preset_name, template_id, \
             template_title, payload, mp_account_id, source, state, total, will_receive, \
             rate_limit, created_by, created_ms, updated_ms) \
             VALUES ($1, 'api', 'best', '接口消息', '', '', '', '', $2, '{\"api\":null}', \
             'running', 0, 0, $3, 'api', $4, $4) ON CONFLICT DO NOTHING"
        )
        .bind(account.id)
        .bind(mp.map(|m| m.id))
        .bind(API_SEND_RATE)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        drop(turn);
        // The dispatchers find the new job at once.
        self.jobs_shared().wake();
        on_db!(self.db(), |pool| sqlx::query_scalar(find)
            .bind(account.id)
            .fetch_one(pool)
            .await)
        .map_err(Error::from)
    }

    /// Queues the message: one row of the API job and its `api_messages` entry, written with
    /// the messages accepted at the same time (see [`super::queue`]). A concurrent request with
    /// the same idempotency key loses the race on the unique index and answers as a replay.
    #[allow(clippy::too_many_arguments)]
    async fn enqueue(
        &self,
        key: &SendKey,
        account: &Account,
        mp: Option<&Account>,
        req: &SendRequest,
        body_hash: &str,
        route: &Route,
        payload: &str,
        preset_id: Option<i64>,
    ) -> Result<Accepted> {
        let job_id = self.api_job(account, mp).await?;
        let written = self
            .write_api_message(NewMessage {
                job_id,
                key_id: key.id,
                account_id: account.id,
                idempotency_key: req.idempotency_key.clone(),
                body_hash: body_hash.to_owned(),
                openid: route.openid.clone(),
                unionid: route.unionid.clone(),
                channel: route.channel.as_str(),
                payload: payload.to_owned(),
                preset_id,
                to_kind: req.to.kind(),
                to_id: req.to.id().to_owned(),
                // A key with a webhook owes it the message's final state.
                hook: key.webhook_url.as_ref().map(|_| Hook::State),
                now: now_ms(),
            })
            .await?;
        let id = match written {
            Written::Id(id) => id,
            // A concurrent request with the same idempotency key came first.
            Written::Duplicate => {
                let k = req.idempotency_key.as_deref().unwrap_or_default();
                return self
                    .replay(key.id, k, body_hash)
                    .await?
                    .ok_or_else(|| Error::Internal("an idempotency key vanished".into()));
            }
        };
        self.jobs_shared().wake_api(job_id);
        Ok(Accepted {
            id: id.to_string(),
            state: MessageState::Queued,
            channel: route.channel,
            oa_openid: route.oa_openid.clone(),
            mp_openid: route.mp_openid.clone(),
            replayed: false,
        })
    }

    /// The message an idempotency key of `key_id` was first used for, as a replay; refuses a
    /// different body.
    async fn replay(
        &self,
        key_id: i64,
        idempotency_key: &str,
        body_hash: &str,
    ) -> Result<Option<Accepted>> {
        let row: Option<(i64, String, String, String, String, Option<String>)> = on_db!(
            self.db(),
            |pool| {
                sqlx::query_as(
                "SELECT m.id, m.body_hash, r.state, r.channel, r.openid, r.unionid \
                 FROM api_messages m JOIN job_recipients r ON r.job_id = m.job_id AND r.seq = m.seq \
                 WHERE m.key_id = $1 AND m.idempotency_key = $2"
            )
            .bind(key_id)
            .bind(idempotency_key)
            .fetch_optional(pool)
            .await
            }
        )?;
        let Some((id, hash, state, channel, openid, _unionid)) = row else {
            return Ok(None);
        };
        if hash != body_hash {
            return Err(Error::refused(
                "idempotency_key",
                Problem::IdempotencyConflict,
            ));
        }
        let channel = RowChannel::parse(&channel).unwrap_or(RowChannel::Template);
        let state = RecipientState::parse(&state).unwrap_or(RecipientState::Pending);
        let (oa_openid, mp_openid) = match channel {
            RowChannel::Template => (Some(openid), None),
            RowChannel::Subscribe => (None, Some(openid)),
        };
        Ok(Some(Accepted {
            id: id.to_string(),
            state: MessageState::of(state),
            channel,
            oa_openid,
            mp_openid,
            replayed: true,
        }))
    }
}

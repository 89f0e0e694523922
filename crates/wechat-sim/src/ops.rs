//! Runtime operations on the simulator for tests and the control API: ground truth, ids,
//! codes, credits, ledger, faults, clock, callback, follow changes, templates.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{CallbackConfig, FaultConfig, SimConfig};
use crate::error::SimError;
use crate::ledger::{LedgerSummary, SentMessage};
use crate::mp::MpLink;
use crate::quota::Api;
use crate::receipts::{
    follow_event_xml, push, push_to, subscribe_change_xml, subscribe_popup_xml, ActiveCallback,
    ReceiptStats,
};
use crate::state::{AccountKind, SimState};
use crate::subscribe::{Credit, CreditKind, SubscribeAnswer};
use crate::templates::{template_id, KeywordEnum, MpTemplate, OaTemplate};

/// Ground truth, for checking what a client synced and matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Truth {
    /// Current followers (`user/get` total).
    pub followers: u64,
    /// Users answering `user/info` with `subscribe: 1` (= followers).
    pub subscribed: u64,
    /// Known former followers (answer `subscribe: 0`).
    pub unsubscribed: u64,
    /// Current followers with a unionid.
    pub with_unionid: u64,
    /// Current followers without a unionid.
    pub followers_without_unionid: u64,
    /// MP users.
    pub mp_users: u64,
    /// MP users with a unionid.
    pub mp_with_unionid: u64,
    /// MP users whose unionid is a current follower's.
    pub matched: u64,
    /// MP users not matched to a current follower (no unionid, or not following).
    pub mp_not_following: u64,
    /// MP users without a unionid.
    pub mp_without_unionid: u64,
}

/// One OA user as the control API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FollowerView {
    pub index: u32,
    pub openid: String,
    pub unionid: Option<String>,
    pub subscribed: bool,
    /// The MP openid of the same person, if they use the MP.
    pub mp_openid: Option<String>,
}

/// One MP user as the control API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MpUserView {
    pub index: u32,
    pub openid: String,
    pub unionid: Option<String>,
    /// The OA openid of the same person, if they ever followed.
    pub follower_openid: Option<String>,
    /// Whether that person follows the OA now.
    pub following: bool,
}

/// A template to add or replace (OA).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct NewOaTemplate {
    /// Generated when absent.
    pub template_id: Option<String>,
    pub title: String,
    pub primary_industry: Option<String>,
    pub deputy_industry: Option<String>,
    pub content: String,
    pub example: String,
    /// Allowed values per `const` key.
    pub enums: BTreeMap<String, Vec<String>>,
}

/// A subscribe template to add (MP).
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct NewMpTemplate {
    /// Generated when absent.
    #[serde(rename = "priTmplId")]
    pub pri_tmpl_id: Option<String>,
    pub title: String,
    pub content: String,
    pub example: String,
    /// 2 = one-time (default), 3 = long-term.
    #[serde(rename = "type")]
    pub kind: Option<u8>,
    /// Allowed values per enum key (`enum_string2` → values).
    pub enums: BTreeMap<String, Vec<String>>,
}

fn control(msg: impl Into<String>) -> SimError {
    SimError::Control(msg.into())
}

impl SimState {
    /// The configuration the simulator was started with.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Ground-truth counts.
    pub fn truth(&self) -> Truth {
        let subs = self.subs.read();
        let mp_users = u64::from(self.mp.count());
        let mp_with_unionid = self.mp.with_unionid();
        Truth {
            followers: subs.current,
            subscribed: subs.current,
            unsubscribed: u64::from(self.population.total()).saturating_sub(subs.current),
            with_unionid: subs.with_unionid,
            followers_without_unionid: subs.current.saturating_sub(subs.with_unionid),
            mp_users,
            mp_with_unionid,
            matched: subs.matched,
            mp_not_following: mp_users.saturating_sub(subs.matched),
            mp_without_unionid: mp_users.saturating_sub(mp_with_unionid),
        }
    }

    /// The openid of OA user `index` (followers first, then former followers).
    pub fn follower_openid(&self, index: u32) -> Option<String> {
        (index < self.population.total()).then(|| self.population.openid(index))
    }

    /// Openids of OA users in `range` (clamped).
    pub fn followers_openids(&self, range: Range<u32>) -> Vec<String> {
        let end = range.end.min(self.population.total());
        (range.start.min(end)..end)
            .map(|i| self.population.openid(i))
            .collect()
    }

    /// The index of an OA openid.
    pub fn follower_index(&self, openid: &str) -> Option<u32> {
        self.population.index_of(openid)
    }

    /// The unionid of OA user `index`.
    pub fn follower_unionid(&self, index: u32) -> Option<String> {
        (index < self.population.total())
            .then(|| self.population.unionid(index))
            .flatten()
    }

    /// Whether OA user `index` follows now.
    pub fn is_following(&self, index: u32) -> bool {
        index < self.population.total() && self.subs.read().is_subscribed(&self.population, index)
    }

    /// OA user `index` as the control API shows it.
    pub fn follower_view(&self, index: u32) -> Option<FollowerView> {
        let openid = self.follower_openid(index)?;
        Some(FollowerView {
            index,
            openid,
            unionid: self.population.unionid(index),
            subscribed: self.is_following(index),
            mp_openid: self
                .mp
                .of_follower(&self.population, index)
                .map(|j| self.mp.openid(j)),
        })
    }

    /// The MP openid of MP user `index`.
    pub fn mp_openid(&self, index: u32) -> Option<String> {
        (index < self.mp.count()).then(|| self.mp.openid(index))
    }

    /// The index of an MP openid.
    pub fn mp_index(&self, openid: &str) -> Option<u32> {
        self.mp.index_of(openid)
    }

    /// The unionid of MP user `index`.
    pub fn mp_unionid(&self, index: u32) -> Option<String> {
        (index < self.mp.count())
            .then(|| self.mp.unionid(&self.population, index))
            .flatten()
    }

    /// The OA user sharing MP user `index`'s unionid (who may have unfollowed).
    pub fn mp_follower(&self, index: u32) -> Option<u32> {
        if index >= self.mp.count() {
            return None;
        }
        match self.mp.link(&self.population, index) {
            MpLink::Oa { follower } => Some(follower),
            _ => None,
        }
    }

    /// MP user `index` as the control API shows it.
    pub fn mp_user_view(&self, index: u32) -> Option<MpUserView> {
        let openid = self.mp_openid(index)?;
        let follower = self.mp_follower(index);
        Some(MpUserView {
            index,
            openid,
            unionid: self.mp.unionid(&self.population, index),
            follower_openid: follower.map(|f| self.population.openid(f)),
            following: follower.is_some_and(|f| self.is_following(f)),
        })
    }

    /// A `wx.login` code for MP user `index`.
    pub fn mint_code(&self, index: u32, blocked: bool) -> Result<String, SimError> {
        if index >= self.mp.count() {
            return Err(control(format!("no MP user {index}")));
        }
        Ok(self.codes.mint(self, index, blocked))
    }

    /// A `wx.login` code for the MP user with this openid.
    pub fn mint_code_for_openid(&self, openid: &str, blocked: bool) -> Result<String, SimError> {
        let index = self
            .mp
            .index_of(openid)
            .ok_or_else(|| control(format!("not an MP openid: {openid}")))?;
        Ok(self.codes.mint(self, index, blocked))
    }

    fn mp_template_kind(&self, template_id: &str) -> Result<u8, SimError> {
        self.mp_templates
            .read()
            .iter()
            .find(|t| t.pri_tmpl_id == template_id)
            .map(|t| t.kind)
            .ok_or_else(|| control(format!("no MP subscribe template {template_id}")))
    }

    /// Grants subscription credits (a user accepting the subscribe popup). One-time credits
    /// need a type-2 template, long-term ones a type-3 template.
    pub fn grant_credits(
        &self,
        openid: &str,
        template_id: &str,
        kind: CreditKind,
        count: u32,
    ) -> Result<Credit, SimError> {
        let user = self
            .mp
            .index_of(openid)
            .ok_or_else(|| control(format!("not an MP openid: {openid}")))?;
        let template_kind = self.mp_template_kind(template_id)?;
        match (kind, template_kind) {
            (CreditKind::OneTime, 2) | (CreditKind::LongTerm, 3) => {}
            _ => {
                return Err(control(format!(
                    "template {template_id} is type {template_kind}: one_time needs type 2, long_term type 3"
                )))
            }
        }
        Ok(self.credits.grant(user, template_id, kind, count))
    }

    /// Credits of a user for a template.
    pub fn credits_of(&self, openid: &str, template_id: &str) -> Result<Credit, SimError> {
        let user = self
            .mp
            .index_of(openid)
            .ok_or_else(|| control(format!("not an MP openid: {openid}")))?;
        Ok(self.credits.get(user, template_id))
    }

    /// Messages received by `openid` (OA or MP).
    pub fn ledger_received(&self, openid: &str) -> u64 {
        self.ledger.received(openid)
    }

    /// Ledger totals.
    pub fn ledger_summary(&self) -> LedgerSummary {
        self.ledger.summary()
    }

    /// Most recent accepted messages, newest first.
    pub fn messages(&self, limit: usize, openid: Option<&str>) -> Vec<SentMessage> {
        self.ledger.messages(limit, openid)
    }

    /// Empties the ledger and the de-dup window.
    pub fn reset_ledger(&self) {
        self.ledger.reset();
    }

    /// Replaces the faults (and the template-send quota while `quota` is set).
    pub fn set_faults(&self, faults: FaultConfig) -> Result<(), SimError> {
        faults.validate()?;
        let quota = faults.quota.unwrap_or(self.config.template_send_quota);
        self.quotas.set_limit(Api::TemplateSend, quota);
        self.faults.set(faults);
        Ok(())
    }

    /// No faults, configured quota.
    pub fn clear_faults(&self) {
        self.quotas
            .set_limit(Api::TemplateSend, self.config.template_send_quota);
        self.faults.set(FaultConfig::default());
    }

    /// The faults in force.
    pub fn faults(&self) -> FaultConfig {
        (*self.current_faults()).clone()
    }

    /// Every token issued so far gives 40001.
    pub fn invalidate_tokens(&self) {
        self.tokens.invalidate_all();
    }

    /// Moves simulated time forward (token and code expiry, de-dup window, daily quotas).
    pub fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// Simulated unix time in milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// How far the simulated clock is ahead of the wall clock.
    pub fn clock_offset(&self) -> Duration {
        self.clock.offset()
    }

    /// Sets or removes the OA's callback.
    pub fn set_callback(&self, callback: Option<CallbackConfig>) -> Result<(), SimError> {
        let active = match callback {
            Some(cb) => Some(Arc::new(ActiveCallback::from_config(&cb)?)),
            None => None,
        };
        *self.callback.write() = active;
        Ok(())
    }

    /// The OA's callback.
    pub fn callback(&self) -> Option<CallbackConfig> {
        self.callback.read().as_ref().map(|c| c.config.clone())
    }

    /// Sets or removes the Mini Program's callback (subscribe-message events).
    pub fn set_mp_callback(&self, callback: Option<CallbackConfig>) -> Result<(), SimError> {
        let active = match callback {
            Some(cb) => Some(Arc::new(ActiveCallback::from_config(&cb)?)),
            None => None,
        };
        *self.mp_callback.write() = active;
        Ok(())
    }

    /// The Mini Program's callback.
    pub fn mp_callback(&self) -> Option<CallbackConfig> {
        self.mp_callback.read().as_ref().map(|c| c.config.clone())
    }

    /// The user answers `wx.requestSubscribeMessage` for one template: accept grants a
    /// one-time credit (type-2 template) or the long-term subscription (type 3), reject grants
    /// nothing and keeps what the user holds. Pushes `subscribe_msg_popup_event` to the MP's
    /// callback. Returns the user's credit afterwards.
    pub fn subscribe_popup(
        self: &Arc<Self>,
        openid: &str,
        template_id: &str,
        answer: SubscribeAnswer,
    ) -> Result<Credit, SimError> {
        let user = self
            .mp
            .index_of(openid)
            .ok_or_else(|| control(format!("not an MP openid: {openid}")))?;
        let kind = self.mp_template_kind(template_id)?;
        let credit = match answer {
            SubscribeAnswer::Accept if kind == 3 => {
                self.credits
                    .grant(user, template_id, CreditKind::LongTerm, 1)
            }
            SubscribeAnswer::Accept => {
                self.credits
                    .grant(user, template_id, CreditKind::OneTime, 1)
            }
            SubscribeAnswer::Reject => self.credits.get(user, template_id),
        };
        let gh_id = self.config.mp_gh_id.clone();
        let (who, template) = (openid.to_owned(), template_id.to_owned());
        push_to(self, AccountKind::Mp, openid.to_owned(), move |now| {
            subscribe_popup_xml(&gh_id, &who, now, &template, answer.as_str())
        });
        Ok(credit)
    }

    /// The user switches a template on or off in the service-notice settings: reject removes
    /// the user's credits for it, accept turns a long-term (type-3) subscription back on
    /// (one-time templates need a new popup). Pushes `subscribe_msg_change_event` to the MP's
    /// callback. Returns the user's credit afterwards.
    pub fn subscribe_change(
        self: &Arc<Self>,
        openid: &str,
        template_id: &str,
        answer: SubscribeAnswer,
    ) -> Result<Credit, SimError> {
        let user = self
            .mp
            .index_of(openid)
            .ok_or_else(|| control(format!("not an MP openid: {openid}")))?;
        let kind = self.mp_template_kind(template_id)?;
        let credit = match answer {
            SubscribeAnswer::Reject => self.credits.clear(user, template_id),
            SubscribeAnswer::Accept if kind == 3 => {
                self.credits
                    .grant(user, template_id, CreditKind::LongTerm, 1)
            }
            SubscribeAnswer::Accept => self.credits.get(user, template_id),
        };
        let gh_id = self.config.mp_gh_id.clone();
        let (who, template) = (openid.to_owned(), template_id.to_owned());
        push_to(self, AccountKind::Mp, openid.to_owned(), move |now| {
            subscribe_change_xml(&gh_id, &who, now, &template, answer.as_str())
        });
        Ok(credit)
    }

    fn oa_index(&self, openid: &str) -> Result<u32, SimError> {
        self.population
            .index_of(openid)
            .ok_or_else(|| control(format!("not an OA openid: {openid}")))
    }

    /// Unfollows (drops out of `user/get`; `user/info` says `subscribe: 0`); pushes an
    /// `unsubscribe` event when `push_event`. `Ok(false)` when not following.
    pub fn unsubscribe(self: &Arc<Self>, openid: &str, push_event: bool) -> Result<bool, SimError> {
        let index = self.oa_index(openid)?;
        let changed =
            self.subs
                .write()
                .unsubscribe(&self.population, index, self.mp.matched_ranks());
        if changed && push_event {
            self.push_follow_event(openid, false);
        }
        Ok(changed)
    }

    /// Follows (again), appended at the end of `user/get`; pushes a `subscribe` event when
    /// `push_event`. `Ok(false)` when already following.
    pub fn subscribe(self: &Arc<Self>, openid: &str, push_event: bool) -> Result<bool, SimError> {
        let index = self.oa_index(openid)?;
        let now = self.clock.now_secs();
        let changed =
            self.subs
                .write()
                .subscribe(&self.population, index, self.mp.matched_ranks(), now);
        if changed && push_event {
            self.push_follow_event(openid, true);
        }
        Ok(changed)
    }

    fn push_follow_event(self: &Arc<Self>, openid: &str, subscribe: bool) {
        let gh_id = self.config.oa_gh_id.clone();
        let who = openid.to_owned();
        push(self, openid.to_owned(), move |now| {
            follow_event_xml(&gh_id, &who, now, subscribe)
        });
    }

    /// Marks a follower as blocking the account (receipts `failed:user block`) or not.
    pub fn set_blocked(&self, openid: &str, blocked: bool) -> Result<(), SimError> {
        let index = self.oa_index(openid)?;
        self.blocked.write().insert(index, blocked);
        Ok(())
    }

    /// Puts a follower in the account's blacklist (template/send → 43019) or takes them out.
    pub fn set_blacklisted(&self, openid: &str, blacklisted: bool) -> Result<(), SimError> {
        let index = self.oa_index(openid)?;
        let mut list = self.blacklisted.write();
        if blacklisted {
            list.insert(index);
        } else {
            list.remove(&index);
        }
        Ok(())
    }

    /// The OA's private templates.
    pub fn oa_templates(&self) -> Vec<OaTemplate> {
        self.oa_templates.read().clone()
    }

    fn build_oa_template(&self, new: NewOaTemplate, id: String) -> Result<OaTemplate, SimError> {
        if new.title.trim().is_empty() || new.content.trim().is_empty() {
            return Err(control("title and content are required"));
        }
        Ok(OaTemplate {
            template_id: id,
            title: new.title,
            primary_industry: new.primary_industry,
            deputy_industry: new.deputy_industry,
            content: new.content,
            example: new.example,
            enums: new.enums,
        })
    }

    /// Adds an OA template (appended to the list).
    pub fn add_oa_template(&self, new: NewOaTemplate) -> Result<OaTemplate, SimError> {
        let id = new
            .template_id
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| template_id(self.next_template_seed()));
        let template = self.build_oa_template(new, id)?;
        let mut list = self.oa_templates.write();
        if list.iter().any(|t| t.template_id == template.template_id) {
            return Err(control(format!("template {} exists", template.template_id)));
        }
        list.push(template.clone());
        Ok(template)
    }

    /// Replaces an OA template's fields, keeping its id and position.
    pub fn update_oa_template(&self, id: &str, new: NewOaTemplate) -> Result<OaTemplate, SimError> {
        let template = self.build_oa_template(new, id.to_owned())?;
        let mut list = self.oa_templates.write();
        let slot = list
            .iter_mut()
            .find(|t| t.template_id == id)
            .ok_or_else(|| control(format!("no template {id}")))?;
        *slot = template.clone();
        Ok(template)
    }

    /// Removes an OA template; `false` if there was none.
    pub fn remove_oa_template(&self, id: &str) -> bool {
        let mut list = self.oa_templates.write();
        let before = list.len();
        list.retain(|t| t.template_id != id);
        list.len() != before
    }

    /// The MP's subscribe templates.
    pub fn mp_templates(&self) -> Vec<MpTemplate> {
        self.mp_templates.read().clone()
    }

    /// Adds an MP subscribe template.
    pub fn add_mp_template(&self, new: NewMpTemplate) -> Result<MpTemplate, SimError> {
        if new.title.trim().is_empty() || new.content.trim().is_empty() {
            return Err(control("title and content are required"));
        }
        let kind = new.kind.unwrap_or(2);
        if kind != 2 && kind != 3 {
            return Err(control("type must be 2 (one-time) or 3 (long-term)"));
        }
        let template = MpTemplate {
            pri_tmpl_id: new
                .pri_tmpl_id
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| template_id(self.next_template_seed())),
            title: new.title,
            content: new.content,
            example: new.example,
            kind,
            enum_values: new
                .enums
                .into_iter()
                .map(|(k, v)| KeywordEnum {
                    keyword_code: format!("{k}.DATA"),
                    enum_value_list: v,
                })
                .collect(),
        };
        let mut list = self.mp_templates.write();
        if list.iter().any(|t| t.pri_tmpl_id == template.pri_tmpl_id) {
            return Err(control(format!("template {} exists", template.pri_tmpl_id)));
        }
        list.push(template.clone());
        Ok(template)
    }

    /// Removes an MP subscribe template; `false` if there was none.
    pub fn remove_mp_template(&self, id: &str) -> bool {
        let mut list = self.mp_templates.write();
        let before = list.len();
        list.retain(|t| t.pri_tmpl_id != id);
        list.len() != before
    }

    /// Receipt push counters.
    pub fn receipt_stats(&self) -> ReceiptStats {
        self.receipts.stats()
    }

    /// Waits until no push is queued or in flight; `false` on timeout.
    pub async fn wait_receipts_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.receipts.stats().pending == 0 {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Forgets today's quota counts.
    pub fn reset_quotas(&self) {
        self.quotas.reset();
    }

    /// Calls counted today against the template-send quota.
    pub fn template_sends_today(&self) -> u64 {
        self.api_calls_today(AccountKind::Oa, Api::TemplateSend)
    }

    /// Calls of `api` by `account` counted today (refused calls excluded), e.g. how many
    /// `stable_token` refreshes or `user/get` pages a deployment asked for.
    pub fn api_calls_today(&self, account: AccountKind, api: Api) -> u64 {
        self.quotas.used(account, api, self.clock.now_ms())
    }
}

//! Who a recipient source reaches and on which channel: followers resolved against the synced
//! table, Mini Program users by unionid with their subscription credits, skips with their
//! reasons, a list's line errors (id_list.rs), and the day's quota — the review step before a job is created.

use std::collections::{HashMap, HashSet};

use crate::accounts::{Account, AccountKind};
use crate::followers::FollowerFilter;
use crate::{now_ms, on_db, Engine, Error, Result};
use model::sheet::PersonColumn;
use model::Problem;

use crate::sheets::SheetRow;

use super::{
    beijing_midnight_ms, Channel, LineError, RecipientPlan, RecipientSource, RowChannel,
    SkipReason, DEFAULT_DAILY_QUOTA,
};

pub use super::id_list::{fuzz_parse_csv, LINE_ERRORS_MAX};
pub(crate) use super::id_list::{parse_csv, IdKind};
/// Openids shown as a sample.
pub const SAMPLE_SIZE: usize = 10;
/// Followers read per query when a filter is resolved.
const FOLLOWER_PAGE: i64 = 10_000;
/// Openids or unionids looked up per query.
pub(super) const LOOKUP_CHUNK: usize = 500;

/// One frozen recipient row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Planned {
    /// The address on the row's channel (OA or MP openid); empty for a unionid nobody has.
    pub openid: String,
    pub unionid: Option<String>,
    pub channel: RowChannel,
    pub skip: Option<SkipReason>,
    /// The person's MP openid when the source gave it (Mini Program users).
    pub mp_openid: Option<String>,
    /// A spreadsheet row's own message (JSON, touser empty); `None`: the job's.
    pub payload: Option<String>,
    /// A spreadsheet row's values (JSON array in the job's column order) and its line.
    pub vars: Option<String>,
    pub line: Option<i64>,
    /// Why a spreadsheet row was left out as `bad_values` (JSON of its issues).
    pub issues: Option<String>,
}

impl Planned {
    pub(super) fn oa(openid: String, unionid: Option<String>, skip: Option<SkipReason>) -> Planned {
        Planned {
            openid,
            unionid,
            channel: RowChannel::Template,
            skip,
            mp_openid: None,
            payload: None,
            vars: None,
            line: None,
            issues: None,
        }
    }
}

/// Where the subscribe messages of a job go: the OA's linked Mini Program and the template.
#[derive(Clone, Debug)]
pub(crate) struct MpTarget {
    pub account: Account,
    pub template_id: String,
}

/// Every row of a source, in order, and the CSV lines that were refused.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    pub rows: Vec<Planned>,
    pub line_errors: Vec<LineError>,
    pub line_error_count: usize,
}

impl Resolved {
    pub(crate) fn will_receive(&self) -> i64 {
        self.rows.iter().filter(|r| r.skip.is_none()).count() as i64
    }

    pub(crate) fn skipped(&self) -> Vec<(SkipReason, i64)> {
        SkipReason::ALL
            .iter()
            .map(|&reason| {
                let n = self.rows.iter().filter(|r| r.skip == Some(reason)).count() as i64;
                (reason, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    pub(crate) fn by_channel(&self) -> Vec<(RowChannel, i64)> {
        [RowChannel::Template, RowChannel::Subscribe]
            .into_iter()
            .map(|c| {
                let n = self
                    .rows
                    .iter()
                    .filter(|r| r.skip.is_none() && r.channel == c)
                    .count() as i64;
                (c, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    fn sample(&self) -> Vec<String> {
        self.rows
            .iter()
            .filter(|r| r.skip.is_none())
            .take(SAMPLE_SIZE)
            .map(|r| r.openid.clone())
            .collect()
    }
}

impl Engine {
    /// Who `source` reaches on `account` with OA template messages, without creating anything.
    pub async fn plan_recipients(
        &self,
        account: &Account,
        source: &RecipientSource,
    ) -> Result<RecipientPlan> {
        self.plan_job(account, source, Channel::Template, None)
            .await
    }

    /// Who `source` reaches on `account` through `channel` (the subscribe side with the MP
    /// preset `mp_preset_id`), and why the others cannot be reached; creates nothing.
    pub async fn plan_job(
        &self,
        account: &Account,
        source: &RecipientSource,
        channel: Channel,
        mp_preset_id: Option<i64>,
    ) -> Result<RecipientPlan> {
        let mp = self.mp_target(account, channel, mp_preset_id).await?;
        let resolved = self
            .resolve_recipients(account, source, channel, mp.as_ref())
            .await?;
        // Quiet hours and the daily cap (send_rules.rs).
        let template_openids = resolved
            .rows
            .iter()
            .filter(|r| r.skip.is_none() && r.channel == RowChannel::Template)
            .map(|r| r.openid.as_str());
        let send_rules = self
            .review_send_rules(account.id, template_openids, now_ms())
            .await?;
        Ok(RecipientPlan {
            send_rules,
            will_receive: resolved.will_receive(),
            skipped: resolved.skipped(),
            sample: resolved.sample(),
            by_channel: resolved.by_channel(),
            channel,
            line_errors: resolved.line_errors,
            sent_today: self.sent_today(account.id).await?,
            daily_quota: DEFAULT_DAILY_QUOTA,
        })
    }

    /// The linked Mini Program and the subscribe template of `mp_preset_id`, for channels that
    /// send subscribe messages (`None` for the template channel).
    pub(crate) async fn mp_target(
        &self,
        account: &Account,
        channel: Channel,
        mp_preset_id: Option<i64>,
    ) -> Result<Option<MpTarget>> {
        if !channel.uses_subscribe() {
            return Ok(None);
        }
        let mp = self
            .linked_mini_program(account)
            .await?
            .ok_or(Error::refused("channel", Problem::NoLinkedMiniProgram))?;
        let missing = || Error::refused("mp_preset", Problem::Required);
        let preset = self
            .preset(mp_preset_id.ok_or_else(missing)?)
            .await?
            .filter(|p| p.account_id == account.id)
            .ok_or_else(missing)?;
        let template = self
            .template(preset.template_ref)
            .await?
            .filter(|t| t.kind == AccountKind::Mp && t.account_id == mp.id)
            .ok_or(Error::refused("mp_preset", Problem::NotSubscribePreset))?;
        Ok(Some(MpTarget {
            account: mp,
            template_id: template.remote.template_id,
        }))
    }

    /// Template messages the account's jobs sent since midnight Beijing time.
    pub async fn sent_today(&self, account_id: i64) -> Result<i64> {
        let midnight = beijing_midnight_ms(now_ms());
        let n: i64 = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT COUNT(*) FROM job_recipients r JOIN jobs j ON j.id = r.job_id \
             WHERE j.account_id = $1 AND (j.finished_ms IS NULL OR j.finished_ms >= $2) \
             AND r.state = 'sent' AND r.channel = 'template' AND r.sent_ms >= $2"
        )
        .bind(account_id)
        .bind(midnight)
        .fetch_one(pool)
        .await)?;
        Ok(n)
    }

    /// Every row a job from `source` would hold on `channel`, in order.
    pub(crate) async fn resolve_recipients(
        &self,
        account: &Account,
        source: &RecipientSource,
        channel: Channel,
        mp: Option<&MpTarget>,
    ) -> Result<Resolved> {
        let mut resolved = self.resolve_people(account, source).await?;
        if let Some(mp) = mp {
            self.route_subscribe(account, &mut resolved.rows, channel, mp)
                .await?;
        }
        mark_repeats(&mut resolved.rows);
        Ok(resolved)
    }

    /// The source's people as OA rows (skips by the follower table); MP users carry their MP
    /// openid.
    async fn resolve_people(
        &self,
        account: &Account,
        source: &RecipientSource,
    ) -> Result<Resolved> {
        if account.kind != AccountKind::Oa {
            return Err(Error::refused("account", Problem::OfficialAccountOnly));
        }
        match source {
            RecipientSource::Openids(list) => {
                let ids: Vec<String> = list
                    .iter()
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                self.resolve_openids(account.id, ids, Vec::new(), 0).await
            }
            RecipientSource::CsvOpenids(text) => {
                let (ids, errors, count) = parse_csv(text, IdKind::Openid);
                let ids = ids.into_iter().map(|(_, id)| id).collect();
                self.resolve_openids(account.id, ids, errors, count).await
            }
            RecipientSource::CsvUnionids(text) => {
                let (ids, errors, count) = parse_csv(text, IdKind::Unionid);
                let ids = ids.into_iter().map(|(_, id)| id).collect();
                self.resolve_unionids(account.id, ids, errors, count).await
            }
            RecipientSource::Filter(dto) => self.resolve_query(account.id, dto.clone()).await,
            RecipientSource::AllSubscribed => {
                self.resolve_query(
                    account.id,
                    FollowerFilter {
                        subscribed: Some(true),
                        ..FollowerFilter::default()
                    },
                )
                .await
            }
            RecipientSource::Matched => {
                self.resolve_query(
                    account.id,
                    FollowerFilter {
                        subscribed: Some(true),
                        matched: Some(true),
                        ..FollowerFilter::default()
                    },
                )
                .await
            }
            RecipientSource::Tag(tag) => {
                self.resolve_query(
                    account.id,
                    FollowerFilter {
                        tag: Some(*tag),
                        ..FollowerFilter::default()
                    },
                )
                .await
            }
            RecipientSource::MpUsers => self.resolve_mp_users(account).await,
            RecipientSource::Sheet(id) => {
                let (summary, rows) = self.load_sheet(account, *id).await?;
                self.resolve_sheet_people(account, summary.person, &rows)
                    .await
            }
        }
    }

    /// The people of a spreadsheet's rows, one planned row per line in order, by the id its
    /// person column holds.
    pub(crate) async fn resolve_sheet_people(
        &self,
        account: &Account,
        person: PersonColumn,
        rows: &[SheetRow],
    ) -> Result<Resolved> {
        let ids: Vec<String> = rows.iter().map(|r| r.person.clone()).collect();
        match person {
            PersonColumn::Openid => self.resolve_openids(account.id, ids, Vec::new(), 0).await,
            PersonColumn::Unionid => self.resolve_unionids(account.id, ids, Vec::new(), 0).await,
            PersonColumn::MpOpenid => {
                let mp = self
                    .linked_mini_program(account)
                    .await?
                    .ok_or(Error::refused("file", Problem::NoLinkedMiniProgram))?;
                let unionids = self.mp_unionids(mp.id, &ids).await?;
                let listed: Vec<&str> = unionids.values().map(String::as_str).collect();
                let followers = self.followers_by_unionid(account.id, &listed).await?;
                let mut seen: HashSet<&str> = HashSet::with_capacity(ids.len());
                let rows = ids
                    .iter()
                    .map(|mp_openid| {
                        let unionid = unionids.get(mp_openid);
                        let follower = unionid.and_then(|u| followers.get(u));
                        let (openid, skip) = match (seen.insert(mp_openid), unionid, follower) {
                            (false, _, _) => (String::new(), Some(SkipReason::Duplicate)),
                            (true, None, _) => (String::new(), Some(SkipReason::NoMpUser)),
                            (true, Some(_), None) => (String::new(), Some(SkipReason::NoOaOpenid)),
                            (true, Some(_), Some((o, false))) => {
                                (o.clone(), Some(SkipReason::Unsubscribed))
                            }
                            (true, Some(_), Some((o, true))) => (o.clone(), None),
                        };
                        Planned {
                            mp_openid: Some(mp_openid.clone()),
                            ..Planned::oa(openid, unionid.cloned(), skip)
                        }
                    })
                    .collect();
                Ok(Resolved {
                    rows,
                    ..Resolved::default()
                })
            }
        }
    }

    /// MP openid → unionid of the Mini Program's users listed (those with a unionid).
    async fn mp_unionids(
        &self,
        mp_account_id: i64,
        openids: &[String],
    ) -> Result<HashMap<String, String>> {
        self.pairs_of(
            "SELECT openid, unionid FROM mp_users WHERE unionid IS NOT NULL AND account_id = ",
            "openid",
            mp_account_id,
            openids,
        )
        .await
    }

    /// The (key, value) pairs `select` (ending in `account_id = `) finds for `keys` of column
    /// `key`, looked up in chunks, each key once.
    async fn pairs_of(
        &self,
        select: &'static str,
        key: &'static str,
        account_id: i64,
        keys: &[String],
    ) -> Result<HashMap<String, String>> {
        let mut distinct: Vec<&String> = keys.iter().collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut out = HashMap::new();
        for chunk in distinct.chunks(LOOKUP_CHUNK) {
            let rows: Vec<(String, String)> = on_db!(self.db(), |pool| {
                let mut qb = sqlx::QueryBuilder::new(select);
                qb.push_bind(account_id).push(format!(" AND {key} IN ("));
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(pool).await
            })?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// Sends subscribe messages where the channel says so: on `subscribe` to everyone with a
    /// credit, on `best` to those who do not follow the OA. The others keep their OA row, or
    /// are skipped as no MP user / no credit.
    async fn route_subscribe(
        &self,
        account: &Account,
        rows: &mut [Planned],
        channel: Channel,
        mp: &MpTarget,
    ) -> Result<()> {
        let wants_mp = |r: &Planned| match (channel, r.skip) {
            (_, Some(SkipReason::Duplicate | SkipReason::UnknownOpenid)) => false,
            (Channel::Subscribe, _) => true,
            (Channel::Best, skip) => skip.is_some(),
            (Channel::Template, _) => false,
        };
        // The unionid of rows listed by OA openid.
        let missing: Vec<String> = rows
            .iter()
            .filter(|r| wants_mp(r) && r.unionid.is_none() && !r.openid.is_empty())
            .map(|r| r.openid.clone())
            .collect();
        let unionids = self.follower_unionids(account.id, &missing).await?;
        let wanted: Vec<String> = rows
            .iter()
            .filter(|r| wants_mp(r) && r.mp_openid.is_none())
            .filter_map(|r| {
                r.unionid
                    .clone()
                    .or_else(|| unionids.get(&r.openid).cloned())
            })
            .collect();
        let mp_openids = self.mp_openids_by_unionid(mp.account.id, &wanted).await?;
        for r in rows.iter_mut().filter(|r| wants_mp(r)) {
            if r.mp_openid.is_none() {
                let unionid = r
                    .unionid
                    .clone()
                    .or_else(|| unionids.get(&r.openid).cloned());
                r.mp_openid = unionid.and_then(|u| mp_openids.get(&u).cloned());
            }
        }
        let candidates: Vec<String> = rows
            .iter()
            .filter(|r| wants_mp(r))
            .filter_map(|r| r.mp_openid.clone())
            .collect();
        let holders = self
            .credit_holders(mp.account.id, &mp.template_id, &candidates)
            .await?;
        for r in rows.iter_mut().filter(|r| wants_mp(r)) {
            match r.mp_openid.clone() {
                None => r.skip = Some(SkipReason::NoMpUser),
                Some(mp_openid) => {
                    r.skip = (!holders.contains(&mp_openid)).then_some(SkipReason::NoCredit);
                    r.openid = mp_openid;
                    r.channel = RowChannel::Subscribe;
                }
            }
        }
        Ok(())
    }

    /// OA openid → unionid of the followers listed.
    async fn follower_unionids(
        &self,
        account_id: i64,
        openids: &[String],
    ) -> Result<HashMap<String, String>> {
        self.pairs_of(
            "SELECT openid, unionid FROM followers WHERE unionid IS NOT NULL AND account_id = ",
            "openid",
            account_id,
            openids,
        )
        .await
    }

    /// unionid → MP openid of the Mini Program's users.
    async fn mp_openids_by_unionid(
        &self,
        mp_account_id: i64,
        unionids: &[String],
    ) -> Result<HashMap<String, String>> {
        self.pairs_of(
            "SELECT unionid, openid FROM mp_users WHERE account_id = ",
            "unionid",
            mp_account_id,
            unionids,
        )
        .await
    }

    /// Every user of the linked Mini Program, with the OA follower of the same unionid.
    async fn resolve_mp_users(&self, account: &Account) -> Result<Resolved> {
        let mp = self
            .linked_mini_program(account)
            .await?
            .ok_or(Error::refused("source", Problem::NoLinkedMiniProgram))?;
        let mut users: Vec<(String, Option<String>)> = Vec::new();
        let mut after = String::new();
        loop {
            let page: Vec<(String, Option<String>)> = on_db!(self.db(), |pool| {
                sqlx::query_as(
                    "SELECT openid, unionid FROM mp_users WHERE account_id = $1 AND openid > $2 \
                     ORDER BY openid LIMIT $3",
                )
                .bind(mp.id)
                .bind(&after)
                .bind(FOLLOWER_PAGE)
                .fetch_all(pool)
                .await
            })?;
            let full = page.len() as i64 == FOLLOWER_PAGE;
            if let Some((last, _)) = page.last() {
                after.clone_from(last);
            }
            users.extend(page);
            if !full {
                break;
            }
        }
        let unionids: Vec<&str> = users.iter().filter_map(|(_, u)| u.as_deref()).collect();
        let followers = self.followers_by_unionid(account.id, &unionids).await?;
        let rows = users
            .into_iter()
            .map(|(mp_openid, unionid)| {
                let follower = unionid.as_ref().and_then(|u| followers.get(u));
                let (openid, skip) = match follower {
                    Some((openid, true)) => (openid.clone(), None),
                    Some((openid, false)) => (openid.clone(), Some(SkipReason::Unsubscribed)),
                    None => (String::new(), Some(SkipReason::NoOaOpenid)),
                };
                Planned {
                    mp_openid: Some(mp_openid),
                    ..Planned::oa(openid, unionid, skip)
                }
            })
            .collect();
        Ok(Resolved {
            rows,
            ..Resolved::default()
        })
    }

    /// unionid → (OA openid, subscribed); a subscribed follower wins should there be two.
    pub(super) async fn followers_by_unionid(
        &self,
        account_id: i64,
        unionids: &[&str],
    ) -> Result<HashMap<String, (String, bool)>> {
        let mut distinct: Vec<&str> = unionids.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let mut by_unionid: HashMap<String, (String, bool)> = HashMap::new();
        for chunk in distinct.chunks(LOOKUP_CHUNK) {
            let rows: Vec<(String, String, bool)> = on_db!(self.db(), |pool| {
                let mut qb = sqlx::QueryBuilder::new(
                    "SELECT unionid, openid, subscribed FROM followers WHERE account_id = ",
                );
                qb.push_bind(account_id).push(" AND unionid IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(pool).await
            })?;
            for (unionid, openid, subscribed) in rows {
                let entry = by_unionid
                    .entry(unionid)
                    .or_insert((openid.clone(), subscribed));
                if subscribed && !entry.1 {
                    *entry = (openid, true);
                }
            }
        }
        Ok(by_unionid)
    }

    /// The followers page's own filter, read in openid order; those who unfollowed are skipped.
    async fn resolve_query(&self, account_id: i64, q: FollowerFilter) -> Result<Resolved> {
        let mut out = Resolved::default();
        let mut after: Option<String> = None;
        loop {
            let page = self
                .followers_page(account_id, &q, after.as_deref(), FOLLOWER_PAGE)
                .await?;
            let full = page.len() as i64 == FOLLOWER_PAGE;
            after = page.last().map(|f| f.openid.clone());
            out.rows.extend(page.into_iter().map(|f| {
                Planned::oa(
                    f.openid,
                    f.unionid,
                    (!f.subscribed).then_some(SkipReason::Unsubscribed),
                )
            }));
            if !full {
                return Ok(out);
            }
        }
    }
}

/// A second row to the same address on the same channel is a duplicate: one person, one message.
pub(crate) fn mark_repeats(rows: &mut [Planned]) {
    let mut seen: HashSet<(RowChannel, String)> = HashSet::with_capacity(rows.len());
    for r in rows.iter_mut().filter(|r| r.skip.is_none()) {
        if !seen.insert((r.channel, r.openid.clone())) {
            r.skip = Some(SkipReason::Duplicate);
        }
    }
}

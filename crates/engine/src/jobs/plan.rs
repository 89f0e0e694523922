//! Who a recipient source reaches and on which channel: followers resolved against the synced
//! table, Mini Program users by unionid with their subscription credits, skips with their
//! reasons, CSV line errors, and the day's quota — the review step before a job is created.

use std::collections::{HashMap, HashSet};

use crate::accounts::{Account, AccountKind};
use crate::followers::FollowerFilter;
use crate::{now_ms, on_db, Engine, Error, Result};
use model::openid::is_openid;
use model::sheet::PersonColumn;
use model::Problem;

use crate::sheets::SheetRow;

use super::{
    beijing_midnight_ms, Channel, LineError, RecipientPlan, RecipientSource, RowChannel,
    SkipReason, DEFAULT_DAILY_QUOTA,
};

/// Line errors reported at most.
pub const LINE_ERRORS_MAX: usize = 100;
/// Openids shown as a sample.
pub const SAMPLE_SIZE: usize = 10;
/// Followers read per query when a filter is resolved.
const FOLLOWER_PAGE: i64 = 10_000;
/// Openids or unionids looked up per query.
const LOOKUP_CHUNK: usize = 500;

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
    fn oa(openid: String, unionid: Option<String>, skip: Option<SkipReason>) -> Planned {
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

/// Which id a CSV holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IdKind {
    Openid,
    Unionid,
}

impl IdKind {
    fn header(self) -> &'static str {
        match self {
            IdKind::Openid => "openid",
            IdKind::Unionid => "unionid",
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            IdKind::Openid => "not an openid",
            IdKind::Unionid => "not a unionid",
        }
    }
}

/// The ids of a pasted or uploaded text with their line numbers, and the lines that are not ids.
///
/// One id per line; blank lines are ignored; the first non-blank line may be the header
/// (`openid` / `unionid`). A line with separators (a CSV export) counts by its first field.
pub(crate) fn parse_csv(text: &str, kind: IdKind) -> (Vec<(usize, String)>, Vec<LineError>, usize) {
    let mut ids = Vec::new();
    let mut errors = Vec::new();
    let mut error_count = 0;
    let mut first = true;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        let field = line
            .split([',', '\t', ';'])
            .next()
            .unwrap_or_default()
            .trim()
            .trim_matches(['"', '\''])
            .trim();
        if first {
            first = false;
            if field.eq_ignore_ascii_case(kind.header()) {
                continue;
            }
        }
        if is_openid(field) {
            ids.push((i + 1, field.to_owned()));
        } else {
            error_count += 1;
            if errors.len() < LINE_ERRORS_MAX {
                errors.push(LineError {
                    line: i + 1,
                    value: line.chars().take(100).collect(),
                    message: kind.refusal().into(),
                });
            }
        }
    }
    (ids, errors, error_count)
}

/// [`parse_csv`] for the fuzz targets in `fuzz/`: the line numbers of the ids found and of the
/// lines reported, and how many lines were refused.
#[doc(hidden)]
pub fn fuzz_parse_csv(text: &str, unionids: bool) -> (Vec<usize>, Vec<usize>, usize) {
    let kind = if unionids {
        IdKind::Unionid
    } else {
        IdKind::Openid
    };
    let (ids, errors, count) = parse_csv(text, kind);
    (
        ids.into_iter().map(|(line, _)| line).collect(),
        errors.into_iter().map(|e| e.line).collect(),
        count,
    )
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
    async fn followers_by_unionid(
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

    /// Listed openids against the followers table: unknown, unfollowed, repeated.
    async fn resolve_openids(
        &self,
        account_id: i64,
        ids: Vec<String>,
        line_errors: Vec<LineError>,
        line_error_count: usize,
    ) -> Result<Resolved> {
        let mut distinct: Vec<&str> = ids.iter().map(String::as_str).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut known: HashMap<String, (bool, Option<String>)> =
            HashMap::with_capacity(distinct.len());
        for chunk in distinct.chunks(LOOKUP_CHUNK) {
            let rows: Vec<(String, bool, Option<String>)> = on_db!(self.db(), |pool| {
                let mut qb = sqlx::QueryBuilder::new(
                    "SELECT openid, subscribed, unionid FROM followers WHERE account_id = ",
                );
                qb.push_bind(account_id).push(" AND openid IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build_query_as().fetch_all(pool).await
            })?;
            known.extend(rows.into_iter().map(|(o, s, u)| (o, (s, u))));
        }
        let mut seen: HashSet<&str> = HashSet::with_capacity(ids.len());
        let rows = ids
            .iter()
            .map(|id| {
                let found = known.get(id);
                let skip = if !seen.insert(id.as_str()) {
                    Some(SkipReason::Duplicate)
                } else {
                    match found {
                        None => Some(SkipReason::UnknownOpenid),
                        Some((false, _)) => Some(SkipReason::Unsubscribed),
                        Some((true, _)) => None,
                    }
                };
                Planned::oa(id.clone(), found.and_then(|(_, u)| u.clone()), skip)
            })
            .collect();
        Ok(Resolved {
            rows,
            line_errors,
            line_error_count,
        })
    }

    /// Listed unionids mapped to the account's followers (the OA openid of the same person).
    async fn resolve_unionids(
        &self,
        account_id: i64,
        ids: Vec<String>,
        line_errors: Vec<LineError>,
        line_error_count: usize,
    ) -> Result<Resolved> {
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let by_unionid = self.followers_by_unionid(account_id, &refs).await?;
        let mut seen_unionids: HashSet<&str> = HashSet::new();
        let rows = ids
            .iter()
            .map(|unionid| {
                let found = by_unionid.get(unionid);
                let openid = found.map(|(o, _)| o.clone()).unwrap_or_default();
                let skip = if !seen_unionids.insert(unionid.as_str()) {
                    Some(SkipReason::Duplicate)
                } else {
                    match found {
                        None => Some(SkipReason::NoOaOpenid),
                        Some((_, false)) => Some(SkipReason::Unsubscribed),
                        Some((_, true)) => None,
                    }
                };
                Planned::oa(openid, Some(unionid.clone()), skip)
            })
            .collect();
        Ok(Resolved {
            rows,
            line_errors,
            line_error_count,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "oAbCdEfGhIjKlMnOpQrStUvWxYz0";
    const B: &str = "oAbCdEfGhIjKlMnOpQrStUvWxYz1";

    #[test]
    fn csv_header_blank_lines_and_bad_lines() {
        let text = format!("openid\r\n{A}\n\n  {B}  \nnot-an-openid!\n\"{A}\",张三\n");
        let (ids, errors, n) = parse_csv(&text, IdKind::Openid);
        assert_eq!(
            ids,
            vec![(2, A.to_owned()), (4, B.to_owned()), (6, A.to_owned())]
        );
        assert_eq!(n, 1);
        assert_eq!(
            errors,
            vec![LineError {
                line: 5,
                value: "not-an-openid!".into(),
                message: "not an openid".into()
            }]
        );
    }

    #[test]
    fn header_only_counts_on_the_first_line() {
        let text = format!("{A}\nunionid\n");
        let (ids, errors, _) = parse_csv(&text, IdKind::Unionid);
        assert_eq!(ids.len(), 1);
        assert_eq!(errors[0].line, 2);
        assert_eq!(errors[0].message, "not a unionid");
    }

    #[test]
    fn at_most_100_line_errors_are_kept() {
        let text = "x\n".repeat(250);
        let (_, errors, n) = parse_csv(&text, IdKind::Openid);
        assert_eq!(errors.len(), LINE_ERRORS_MAX);
        assert_eq!(n, 250);
    }
}

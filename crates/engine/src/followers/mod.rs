//! Reading followers: server-side filtered, keyset-paged lists, CSV export chunks, dashboard counts.

pub mod callbacks;
pub mod mp_users;
pub mod stats;
pub mod sync;

use serde::Serialize;

use crate::{on_db, Engine, Result};

pub use model::FollowerFilter;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct FollowerRow {
    pub openid: String,
    pub unionid: Option<String>,
    pub subscribed: bool,
    pub subscribe_time: Option<i64>,
    /// `,2,100,` as stored.
    pub tagid_list: String,
    pub remark: String,
    /// The linked Mini Program's openid of the same person (same unionid), if known.
    pub mp_openid: Option<String>,
}

impl FollowerRow {
    pub fn tags(&self) -> Vec<i64> {
        self.tagid_list
            .split(',')
            .filter_map(|t| t.parse().ok())
            .collect()
    }
}

/// The dashboard's figures for one Official Account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DashboardCounts {
    /// Whether a sync has produced data yet.
    pub synced: bool,
    pub followers: i64,
    pub subscribed: i64,
    pub with_unionid: i64,
    pub without_unionid_subscribed: i64,
    pub without_unionid_unsubscribed: i64,
    /// MP users (of the linked Mini Program) whose unionid is a current follower's.
    pub matched: i64,
    pub mp_users: i64,
    pub mp_not_following: i64,
    pub has_linked_mp: bool,
    pub computed_at_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct StatsRow {
    followers: i64,
    subscribed: i64,
    with_unionid: i64,
    without_unionid_subscribed: i64,
    without_unionid_unsubscribed: i64,
    matched: i64,
    mp_users: i64,
    computed_at_ms: i64,
}

/// Appends the WHERE clauses of `q` to a query builder of either dialect. `f` is the followers
/// table; `$mp` binds the linked Mini Program's account id (or 0).
macro_rules! push_filters {
    ($qb:expr, $account:expr, $mp:expr, $q:expr) => {{
        let qb = $qb;
        let q: &FollowerFilter = $q;
        qb.push(" WHERE f.account_id = ").push_bind($account);
        // The engine cuts the search text as the page does (however the filter arrived).
        let search: String = q
            .search
            .trim()
            .chars()
            .take(model::recipients::SEARCH_MAX)
            .collect();
        if !search.is_empty() {
            qb.push(" AND (f.openid = ").push_bind(search.clone());
            qb.push(" OR f.unionid = ").push_bind(search.clone());
            qb.push(" OR f.remark LIKE ")
                .push_bind(format!("%{}%", search.replace(['%', '_'], "")));
            qb.push(")");
        }
        if let Some(s) = q.subscribed {
            qb.push(" AND f.subscribed = ").push_bind(s);
        }
        match q.has_unionid {
            Some(true) => {
                qb.push(" AND f.unionid IS NOT NULL");
            }
            Some(false) => {
                qb.push(" AND f.unionid IS NULL");
            }
            None => {}
        }
        if let Some(m) = q.matched {
            qb.push(if m { " AND EXISTS" } else { " AND NOT EXISTS" });
            qb.push(" (SELECT 1 FROM mp_users m WHERE m.account_id = ")
                .push_bind($mp)
                .push(" AND m.unionid = f.unionid)");
        }
        if let Some(tag) = q.tag {
            qb.push(" AND f.tagid_list LIKE ")
                .push_bind(format!("%,{tag},%"));
        }
    }};
}

impl Engine {
    /// The Mini Program linked to an Official Account, or 0 (matches nothing).
    async fn linked_mp(&self, account_id: i64) -> Result<i64> {
        Ok(self
            .account(account_id)
            .await?
            .and_then(|a| a.linked_account_id)
            .unwrap_or(0))
    }

    /// One page of followers in openid order, starting after `after`.
    pub async fn followers_page(
        &self,
        account_id: i64,
        q: &FollowerFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<FollowerRow>> {
        let mp = self.linked_mp(account_id).await?;
        let rows = on_db!(self.db(), |pool| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT f.openid, f.unionid, f.subscribed, f.subscribe_time, f.tagid_list, f.remark, \
                 (SELECT m.openid FROM mp_users m WHERE m.account_id = ",
            );
            qb.push_bind(mp);
            qb.push(" AND m.unionid = f.unionid LIMIT 1) AS mp_openid FROM followers f");
            push_filters!(&mut qb, account_id, mp, q);
            if let Some(after) = after.filter(|a| !a.is_empty()) {
                qb.push(" AND f.openid > ").push_bind(after.to_owned());
            }
            qb.push(" ORDER BY f.openid LIMIT ").push_bind(limit);
            qb.build_query_as::<FollowerRow>().fetch_all(pool).await
        })?;
        Ok(rows)
    }

    /// How many followers match `q` ("all N matching this filter").
    pub async fn count_followers(&self, account_id: i64, q: &FollowerFilter) -> Result<i64> {
        // The unfiltered list and the following/unfollowed split are answered from the cached
        // counts, so the default followers page never scans a million rows.
        let plain = q.search.trim().is_empty()
            && q.has_unionid.is_none()
            && q.matched.is_none()
            && q.tag.is_none();
        if plain {
            let cached: Option<(i64, i64)> = on_db!(self.db(), |pool| sqlx::query_as(
                "SELECT followers, subscribed FROM follower_stats WHERE account_id = $1"
            )
            .bind(account_id)
            .fetch_optional(pool)
            .await)?;
            if let Some((followers, subscribed)) = cached {
                return Ok(match q.subscribed {
                    None => followers,
                    Some(true) => subscribed,
                    Some(false) => followers - subscribed,
                });
            }
        }
        let mp = self.linked_mp(account_id).await?;
        let n: i64 = on_db!(self.db(), |pool| {
            let mut qb = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM followers f");
            push_filters!(&mut qb, account_id, mp, q);
            qb.build_query_scalar().fetch_one(pool).await
        })?;
        Ok(n)
    }

    /// The cached counts row (no table scan). Before the first sync or follow event stores one,
    /// the Mini Program figures are counted live.
    pub async fn dashboard_counts(&self, account_id: i64) -> Result<DashboardCounts> {
        let mp = self.linked_mp(account_id).await?;
        let stats = on_db!(self.db(), |pool| {
            sqlx::query_as::<_, StatsRow>(
                "SELECT followers, subscribed, with_unionid, without_unionid_subscribed, \
                 without_unionid_unsubscribed, matched, mp_users, computed_at_ms \
                 FROM follower_stats WHERE account_id = $1",
            )
            .bind(account_id)
            .fetch_optional(pool)
            .await
        })?;
        let (mp_users, matched): (i64, i64) = match &stats {
            Some(s) => (s.mp_users, s.matched),
            None => on_db!(self.db(), |pool| {
                sqlx::query_as(
                    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM followers f \
                     WHERE f.account_id = $1 AND f.unionid = m.unionid AND f.subscribed) \
                     THEN 1 ELSE 0 END), 0) FROM mp_users m WHERE m.account_id = $2",
                )
                .bind(account_id)
                .bind(mp)
                .fetch_one(pool)
                .await
            })?,
        };
        let mut out = DashboardCounts {
            mp_users,
            matched,
            mp_not_following: mp_users - matched,
            has_linked_mp: mp != 0,
            ..Default::default()
        };
        if let Some(s) = stats {
            out.synced = true;
            out.followers = s.followers;
            out.subscribed = s.subscribed;
            out.with_unionid = s.with_unionid;
            out.without_unionid_subscribed = s.without_unionid_subscribed;
            out.without_unionid_unsubscribed = s.without_unionid_unsubscribed;
            out.computed_at_ms = Some(s.computed_at_ms);
        }
        Ok(out)
    }
}

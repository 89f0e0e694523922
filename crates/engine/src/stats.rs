//! Cached follower counts per Official Account: recomputed after a sync, adjusted by follow events.

use serde::Serialize;

use crate::{now_ms, on_db, Engine, Result};

/// The `follower_stats` row of an Official Account.
///
/// `with_unionid`, `matched` and `mp_not_following` count current followers only (like the
/// dashboard shows them): `with_unionid + without_unionid_subscribed = subscribed`, and
/// `followers - subscribed` former followers are kept for the record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct FollowerStats {
    pub account_id: i64,
    /// Every follower row of the account (former followers included).
    pub followers: i64,
    /// Rows that follow the account now.
    pub subscribed: i64,
    /// Current followers with a unionid.
    pub with_unionid: i64,
    /// Users of the linked Mini Program whose unionid is a current follower's.
    pub matched: i64,
    /// Users of the linked Mini Program (0 without a linked MP).
    pub mp_users: i64,
    /// `mp_users - matched`.
    pub mp_not_following: i64,
    pub without_unionid_subscribed: i64,
    pub without_unionid_unsubscribed: i64,
    pub computed_at_ms: i64,
}

/// Recomputes one account's row from the tables, in one statement so it can run inside the
/// transaction that ends a sync. Binds: `$1` the OA id, `$2` the linked MP id (NULL: none),
/// `$3` now (ms). Each count is a range of one index (`followers_pending`,
/// `followers_subscribed`, `followers_unionid`); only former followers are read from the table.
///
/// The matched count looks each Mini Program user up by unionid. SQLite, left to itself,
/// picked `followers_subscribed` for that lookup — a scan of every follower per user, about a
/// minute under the sync's write lock for 20,000 followers and 8,000 users — so its statement
/// names the index ([`recompute_stats_sql`]).
const RECOMPUTE_STATS_SQL: &str = "\
INSERT INTO follower_stats (account_id, followers, subscribed, with_unionid, matched, mp_users, \
    mp_not_following, without_unionid_subscribed, without_unionid_unsubscribed, computed_at_ms) \
SELECT CAST($1 AS BIGINT), c.n, c.sub, c.sub - (c.nulls - c.wo_unsub), m.matched, m.n, \
    m.n - m.matched, c.nulls - c.wo_unsub, c.wo_unsub, CAST($3 AS BIGINT) \
FROM (SELECT \
        (SELECT COUNT(*) FROM followers WHERE account_id = $1) AS n, \
        (SELECT COUNT(*) FROM followers WHERE account_id = $1 AND subscribed = TRUE) AS sub, \
        (SELECT COUNT(*) FROM followers WHERE account_id = $1 AND unionid IS NULL) AS nulls, \
        (SELECT COUNT(*) FROM followers WHERE account_id = $1 AND subscribed = FALSE \
            AND unionid IS NULL) AS wo_unsub) AS c, \
     (SELECT COUNT(*) AS n, \
        COALESCE(SUM(CASE WHEN mp.unionid IS NOT NULL AND EXISTS (SELECT 1 FROM followers x \
            {unionid_index} WHERE x.account_id = $1 AND x.unionid = mp.unionid AND x.subscribed = TRUE) \
            THEN 1 ELSE 0 END), 0) AS matched \
      FROM mp_users mp WHERE mp.account_id = $2) AS m \
WHERE TRUE \
ON CONFLICT (account_id) DO UPDATE SET followers = excluded.followers, \
    subscribed = excluded.subscribed, with_unionid = excluded.with_unionid, \
    matched = excluded.matched, mp_users = excluded.mp_users, \
    mp_not_following = excluded.mp_not_following, \
    without_unionid_subscribed = excluded.without_unionid_subscribed, \
    without_unionid_unsubscribed = excluded.without_unionid_unsubscribed, \
    computed_at_ms = excluded.computed_at_ms";

/// [`RECOMPUTE_STATS_SQL`] for `db`'s dialect.
pub fn recompute_stats_sql(db: &crate::db::Db) -> String {
    let hint = match db {
        crate::db::Db::Sqlite(_) => "INDEXED BY followers_unionid",
        crate::db::Db::Postgres(_) => "",
    };
    RECOMPUTE_STATS_SQL.replace("{unionid_index}", hint)
}

impl Engine {
    /// The cached counts of an Official Account; `None` before its first sync or follow event.
    pub async fn follower_stats(&self, account_id: i64) -> Result<Option<FollowerStats>> {
        let row = on_db!(self.db(), |pool| sqlx::query_as::<_, FollowerStats>(
            "SELECT account_id, followers, subscribed, with_unionid, matched, mp_users, \
             mp_not_following, without_unionid_subscribed, without_unionid_unsubscribed, \
             computed_at_ms FROM follower_stats WHERE account_id = $1"
        )
        .bind(account_id)
        .fetch_optional(pool)
        .await)?;
        Ok(row)
    }

    /// Counts the followers (and the linked Mini Program's users) again and stores the result.
    pub async fn recompute_stats(&self, account_id: i64) -> Result<FollowerStats> {
        let linked = self
            .account(account_id)
            .await?
            .ok_or(crate::Error::NotFound)?
            .linked_account_id;
        let sql = recompute_stats_sql(self.db());
        on_db!(self.db(), |pool| sqlx::query(&sql)
            .bind(account_id)
            .bind(linked)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ()))?;
        self.follower_stats(account_id)
            .await?
            .ok_or(crate::Error::NotFound)
    }
}

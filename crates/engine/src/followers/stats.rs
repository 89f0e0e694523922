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

/// The counts of one account from one snapshot: `$1` the OA id, `$2` the linked MP id (NULL:
/// none). Each count is a range of one index (`followers_pending`, `followers_subscribed`,
/// `followers_unionid`); only former followers are read from the table. Also returns the
/// stats row's `event_seq` (NULL before the first), to store the counts only if no follow event
/// moved them meanwhile.
///
/// The matched count looks each Mini Program user up by unionid. SQLite, left to itself,
/// picked `followers_subscribed` for that lookup — a scan of every follower per user, about a
/// minute under the sync's write lock for 20,000 followers and 8,000 users — so its statement
/// names the index ([`stats_sql`]).
const COUNTS_SQL: &str = "\
SELECT c.n AS followers, c.sub AS subscribed, c.sub - (c.nulls - c.wo_unsub) AS with_unionid, \
    m.matched AS matched, m.n AS mp_users, m.n - m.matched AS mp_not_following, \
    c.nulls - c.wo_unsub AS without_unionid_subscribed, \
    c.wo_unsub AS without_unionid_unsubscribed, \
    (SELECT event_seq FROM follower_stats WHERE account_id = $1) AS event_seq \
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
      FROM mp_users mp WHERE mp.account_id = $2) AS m";

/// Stores counts read by [`COUNTS_SQL`], unless a follow event changed the row since (its
/// `event_seq` is no longer `$11`; NULL: there was no row). Binds `$1` the account, `$2`–`$9`
/// the counts in the order of [`Counts`], `$10` now (ms).
const STORE_COUNTS_SQL: &str = "\
INSERT INTO follower_stats (account_id, followers, subscribed, with_unionid, matched, mp_users, \
    mp_not_following, without_unionid_subscribed, without_unionid_unsubscribed, computed_at_ms) \
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
ON CONFLICT (account_id) DO UPDATE SET followers = excluded.followers, \
    subscribed = excluded.subscribed, with_unionid = excluded.with_unionid, \
    matched = excluded.matched, mp_users = excluded.mp_users, \
    mp_not_following = excluded.mp_not_following, \
    without_unionid_subscribed = excluded.without_unionid_subscribed, \
    without_unionid_unsubscribed = excluded.without_unionid_unsubscribed, \
    computed_at_ms = excluded.computed_at_ms \
WHERE follower_stats.event_seq = COALESCE($11, -1)";

/// Counts read by [`COUNTS_SQL`].
#[derive(Clone, Copy, Debug, sqlx::FromRow)]
pub(crate) struct Counts {
    followers: i64,
    subscribed: i64,
    with_unionid: i64,
    matched: i64,
    mp_users: i64,
    mp_not_following: i64,
    without_unionid_subscribed: i64,
    without_unionid_unsubscribed: i64,
    event_seq: Option<i64>,
}

/// [`COUNTS_SQL`] for `db`'s dialect.
pub fn stats_sql(db: &crate::db::Db) -> String {
    let hint = match db {
        crate::db::Db::Sqlite(_) => "INDEXED BY followers_unionid",
        crate::db::Db::Postgres(_) => "",
    };
    COUNTS_SQL.replace("{unionid_index}", hint)
}

/// Keeps the Mini Program figures of the cached counts (`mp_users`, `matched`,
/// `mp_not_following`) current as Mini Program users are recorded, inside the recording
/// transaction: the dashboard reads them from the row instead of counting every MP user on each
/// load (seconds with 300,000 of them). One implementation per dialect's connection, like
/// `RecordAudit`.
pub(crate) trait MpCounts {
    /// How many of the MP users `openids` of `mp` share their unionid with a current follower of
    /// `oa`.
    async fn matched_among(
        &mut self,
        oa: i64,
        mp: i64,
        openids: &[&str],
    ) -> std::result::Result<i64, sqlx::Error>;

    /// Moves the cached figures of `oa` by `users` more MP users of which `matched` more are
    /// matched. Without a counts row nothing moves: the dashboard counts live until the first
    /// sync or follow event stores one.
    async fn move_mp_counts(
        &mut self,
        oa: i64,
        users: i64,
        matched: i64,
    ) -> std::result::Result<(), sqlx::Error>;
}

macro_rules! mp_counts_on {
    ($conn:ty, $unionid_index:literal) => {
        impl MpCounts for $conn {
            async fn matched_among(
                &mut self,
                oa: i64,
                mp: i64,
                openids: &[&str],
            ) -> std::result::Result<i64, sqlx::Error> {
                if openids.is_empty() {
                    return Ok(0);
                }
                let list = (0..openids.len())
                    .map(|i| format!("${}", i + 3))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT COUNT(*) FROM mp_users mp WHERE mp.account_id = $2 \
                     AND mp.openid IN ({list}) AND mp.unionid IS NOT NULL \
                     AND EXISTS (SELECT 1 FROM followers x {} WHERE x.account_id = $1 \
                     AND x.unionid = mp.unionid AND x.subscribed = TRUE)",
                    $unionid_index
                );
                let mut q = sqlx::query_scalar(&sql).bind(oa).bind(mp);
                for openid in openids {
                    q = q.bind(*openid);
                }
                q.fetch_one(&mut *self).await
            }

            async fn move_mp_counts(
                &mut self,
                oa: i64,
                users: i64,
                matched: i64,
            ) -> std::result::Result<(), sqlx::Error> {
                if users == 0 && matched == 0 {
                    return Ok(());
                }
                sqlx::query(
                    "UPDATE follower_stats SET mp_users = mp_users + $2, \
                     matched = matched + $3, mp_not_following = mp_not_following + $2 - $3, \
                     event_seq = event_seq + 1 WHERE account_id = $1",
                )
                .bind(oa)
                .bind(users)
                .bind(matched)
                .execute(&mut *self)
                .await?;
                Ok(())
            }
        }
    };
}
mp_counts_on!(sqlx::SqliteConnection, "INDEXED BY followers_unionid");
mp_counts_on!(sqlx::PgConnection, "");

/// Tries a counted snapshot this many times before counting under the write lock instead.
const STORE_ATTEMPTS: usize = 3;

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
        self.store_fresh_counts(account_id, linked).await?;
        self.follower_stats(account_id)
            .await?
            .ok_or(crate::Error::NotFound)
    }

    /// Counts again each of `accounts` that has counts (a link between an Official Account
    /// and a Mini Program changed: the cached MP figures belong to the old link).
    pub(crate) async fn recount_linked(&self, accounts: &[Option<i64>]) -> Result<()> {
        for &id in accounts.iter().flatten() {
            let Some(account) = self.account(id).await? else {
                continue;
            };
            if account.kind == model::AccountKind::Oa && self.follower_stats(id).await?.is_some() {
                self.store_fresh_counts(id, account.linked_account_id)
                    .await?;
            }
        }
        Ok(())
    }

    /// Counts outside any write lock (a long read: a million followers take most of a second)
    /// and stores the counts under the write gate only if no follow event moved them meanwhile;
    /// after [`STORE_ATTEMPTS`] races, counts and stores them under the gate. Returns true
    /// when stored.
    pub(crate) async fn store_fresh_counts(
        &self,
        account_id: i64,
        linked: Option<i64>,
    ) -> Result<bool> {
        let sql = stats_sql(self.db());
        for attempt in 0..=STORE_ATTEMPTS {
            let locked = attempt == STORE_ATTEMPTS;
            let turn = if locked {
                self.write_gate().await
            } else {
                None
            };
            let counts: Counts = on_db!(self.db(), |pool| sqlx::query_as(&sql)
                .bind(account_id)
                .bind(linked)
                .fetch_one(pool)
                .await)?;
            let turn = match turn {
                Some(t) => Some(t),
                None => self.write_gate().await,
            };
            let stored = on_db!(self.db(), |pool| sqlx::query(STORE_COUNTS_SQL)
                .bind(account_id)
                .bind(counts.followers)
                .bind(counts.subscribed)
                .bind(counts.with_unionid)
                .bind(counts.matched)
                .bind(counts.mp_users)
                .bind(counts.mp_not_following)
                .bind(counts.without_unionid_subscribed)
                .bind(counts.without_unionid_unsubscribed)
                .bind(now_ms())
                .bind(counts.event_seq)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))?
                == 1;
            drop(turn);
            if stored {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

//! Follow and unfollow callbacks applied to the stored followers and their cached counts.

use crate::{now_ms, on_db, Engine, Error, Result};
use model::Problem;

impl Engine {
    /// A follow (`subscribed`) or unfollow event pushed by WeChat at `at_secs` (its
    /// `CreateTime`): stores the flag (adding an unknown follower) and moves the cached counts,
    /// only when something changed, so a repeated push changes nothing; an event older than the
    /// newest one applied to the follower (late, or replayed) changes nothing either.
    pub async fn apply_follow_event(
        &self,
        account_id: i64,
        openid: &str,
        subscribed: bool,
        at_secs: i64,
    ) -> Result<()> {
        if !model::openid::is_openid(openid) {
            return Err(Error::refused("openid", Problem::OpenIdFormat));
        }
        let linked = self
            .account(account_id)
            .await?
            .ok_or(Error::NotFound)?
            .linked_account_id;
        let now = now_ms();
        let subscribe_time = subscribed.then_some(at_secs);
        let _turn = self.write_gate().await;
        on_db!(self.db(), |pool| {
            let mut tx = pool.begin().await?;
            // `Some(unionid)`: an existing row whose flag flipped; `None`: nothing flipped.
            let flipped: Option<Option<String>> = sqlx::query_scalar(
                "UPDATE followers SET subscribed = $3, \
                 subscribe_time = COALESCE($4, subscribe_time), updated_at_ms = $5, \
                 event_time = $6 \
                 WHERE account_id = $1 AND openid = $2 AND subscribed <> $3 \
                 AND (event_time IS NULL OR event_time <= $6) RETURNING unionid",
            )
            .bind(account_id)
            .bind(openid)
            .bind(subscribed)
            .bind(subscribe_time)
            .bind(now)
            .bind(at_secs)
            .fetch_optional(&mut *tx)
            .await?;
            if flipped.is_none() {
                // Nothing flipped: a newer event still moves the follower's clock forward.
                sqlx::query(
                    "UPDATE followers SET event_time = $3 WHERE account_id = $1 \
                     AND openid = $2 AND (event_time IS NULL OR event_time < $3)",
                )
                .bind(account_id)
                .bind(openid)
                .bind(at_secs)
                .execute(&mut *tx)
                .await?;
            }
            let sign: i64 = if subscribed { 1 } else { -1 };
            // (followers, subscribed, with_unionid, matched, without_unionid_sub, without_unionid_unsub)
            let delta: Option<[i64; 6]> = match flipped {
                Some(Some(unionid)) => {
                    let mp: i64 = sqlx::query_scalar(
                        "SELECT COUNT(*) FROM mp_users WHERE account_id = $1 AND unionid = $2",
                    )
                    .bind(linked)
                    .bind(&unionid)
                    .fetch_one(&mut *tx)
                    .await?;
                    Some([0, sign, sign, sign * mp, 0, 0])
                }
                Some(None) => Some([0, sign, 0, 0, sign, -sign]),
                None => {
                    let added: Option<String> = sqlx::query_scalar(
                        "INSERT INTO followers (account_id, openid, subscribed, subscribe_time, \
                         updated_at_ms, event_time) VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (account_id, openid) DO NOTHING RETURNING openid",
                    )
                    .bind(account_id)
                    .bind(openid)
                    .bind(subscribed)
                    .bind(subscribe_time)
                    .bind(now)
                    .bind(at_secs)
                    .fetch_optional(&mut *tx)
                    .await?;
                    added.map(|_| {
                        if subscribed {
                            [1, 1, 0, 0, 1, 0]
                        } else {
                            [1, 0, 0, 0, 0, 1]
                        }
                    })
                }
            };
            if let Some([f, s, u, m, wos, wou]) = delta {
                // A first row starts from the Mini Program's users (the login and import
                // paths keep them current from then on), none matched: before a first sync
                // finishes, and recounts everything, only event rows are known. (`WHERE TRUE`:
                // SQLite reads `ON` after a bare `SELECT … FROM` as a join constraint.)
                sqlx::query(
                    "INSERT INTO follower_stats (account_id, computed_at_ms, mp_users, \
                     mp_not_following) SELECT $1, $2, n, n FROM \
                     (SELECT COUNT(*) AS n FROM mp_users WHERE account_id = $3) AS m \
                     WHERE TRUE ON CONFLICT (account_id) DO NOTHING",
                )
                .bind(account_id)
                .bind(now)
                .bind(linked)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE follower_stats SET followers = followers + $2, event_seq = event_seq + 1, \
                     subscribed = subscribed + $3, with_unionid = with_unionid + $4, \
                     matched = matched + $5, mp_not_following = mp_not_following - $5, \
                     without_unionid_subscribed = without_unionid_subscribed + $6, \
                     without_unionid_unsubscribed = without_unionid_unsubscribed + $7 \
                     WHERE account_id = $1",
                )
                .bind(account_id)
                .bind(f)
                .bind(s)
                .bind(u)
                .bind(m)
                .bind(wos)
                .bind(wou)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        })?;
        Ok(())
    }
}

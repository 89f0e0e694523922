//! The listing phase: the `user/get` pages stored with the run's cursor, and their SQL.

use sqlx::Connection;
use tokio::sync::mpsc;
use wechat::api::UserPage;

use super::{finish_tx, Commit, RunRow, SyncState, Writer, SYNC_LEASE_MS};
use crate::accounts::Account;
use crate::{now_ms, Engine, Result};

/// `user/get` pages fetched ahead of the database, and the most stored in one transaction.
const LIST_PREFETCH_PAGES: usize = 8;
const LIST_GROUP_PAGES: usize = 10;
/// Rows per multi-row statement on SQLite (1 bound value per row while listing, 8 while
/// detailing: far below SQLite's 32,766 parameters).
const SQLITE_LIST_CHUNK: usize = 1_000;

/// One `user/get` page ready to be stored.
struct ListedPage {
    /// Sorted, without duplicates.
    openids: Vec<String>,
    /// The cursor to resume after this page.
    cursor: String,
    total: i64,
    last: bool,
}

/// A listing chunk of `rows` openids on SQLite. Binds: account, run, now, then the openids.
///
/// The SQLite statements with many rows use anonymous `?` parameters only: sqlx looks every
/// parameter up by name, and SQLite finds a name by walking the list of named parameters, which
/// makes thousands of `$N` parameters quadratic.
fn sqlite_list_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(LIST_INSERT.len() + LIST_CONFLICT.len() + 80 + rows * 4);
    sql.push_str(LIST_INSERT);
    sql.push_str("SELECT ?, v.column1, ?, TRUE, ? FROM (VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str("(?)");
    }
    sql.push_str(") AS v WHERE TRUE");
    sql.push_str(LIST_CONFLICT);
    sql
}

const LIST_INSERT: &str =
    "INSERT INTO followers (account_id, openid, seen_run, subscribed, updated_at_ms) ";

/// A listed follower already stored only gets the run's mark: the details (and `subscribed`
/// for someone who came back) follow from `batchget`. Touching no other indexed column keeps
/// a re-sync cheap.
const LIST_CONFLICT: &str =
    " ON CONFLICT (account_id, openid) DO UPDATE SET seen_run = excluded.seen_run";

const PG_LIST_SELECT: &str =
    "SELECT $1::int8, t.o, $2::int8, TRUE, $3::int8 FROM UNNEST($4::text[]) AS t(o)";

impl Engine {
    async fn user_get(&self, account: &Account, next: Option<&str>) -> Result<UserPage> {
        let client = self.wechat();
        let base = account.api_base.as_str();
        self.call_wechat(account, move |token| async move {
            client.user_get(base, &token, next).await
        })
        .await
    }

    /// Phase 1: the `user/get` chain from the stored cursor. Pages are fetched one after the
    /// other while earlier ones are stored; each transaction stores the pages that are ready
    /// (one, or a few when WeChat answers faster than the database writes) together with the
    /// cursor after them, so a page once committed is never fetched again. The last page moves
    /// the run to `detailing`.
    pub(super) async fn list_followers(
        &self,
        writer: &mut Writer,
        account: &Account,
        run: &RunRow,
    ) -> Result<Commit> {
        let (tx, rx) = mpsc::channel::<ListedPage>(LIST_PREFETCH_PAGES);
        let (fetched, committed) = tokio::join!(
            self.fetch_pages(account, run, tx),
            self.commit_pages(writer, run, rx)
        );
        let committed = committed?;
        if !matches!(committed, Commit::Go) {
            return Ok(committed);
        }
        fetched?;
        Ok(Commit::Go)
    }

    async fn fetch_pages(
        &self,
        account: &Account,
        run: &RunRow,
        out: mpsc::Sender<ListedPage>,
    ) -> Result<()> {
        let mut cursor = (!run.next_openid.is_empty()).then(|| run.next_openid.clone());
        let mut listed = run.listed;
        loop {
            let page = self.user_get(account, cursor.as_deref()).await?;
            let new_cursor = page
                .next_openid
                .clone()
                .or_else(|| page.openids.last().cloned());
            let mut openids = page.openids.clone();
            openids.retain(|o| !o.is_empty());
            openids.sort_unstable();
            openids.dedup();
            listed += openids.len() as i64;
            // A cursor that does not move would loop forever: treat it as the end.
            let stalled = new_cursor.is_none() || new_cursor == cursor;
            let last = stalled || page.is_last(listed) || openids.is_empty();
            let listed_page = ListedPage {
                openids,
                cursor: new_cursor
                    .clone()
                    .or_else(|| cursor.clone())
                    .unwrap_or_default(),
                total: page.total,
                last,
            };
            if out.send(listed_page).await.is_err() || last {
                return Ok(());
            }
            cursor = new_cursor;
        }
    }

    async fn commit_pages(
        &self,
        writer: &mut Writer,
        run: &RunRow,
        mut pages_in: mpsc::Receiver<ListedPage>,
    ) -> Result<Commit> {
        while let Some(first) = pages_in.recv().await {
            let mut pages = vec![first];
            while pages.len() < LIST_GROUP_PAGES && !pages.iter().any(|p| p.last) {
                match pages_in.try_recv() {
                    Ok(page) => pages.push(page),
                    Err(_) => break,
                }
            }
            let started = std::time::Instant::now();
            let commit = self
                .commit_listed(writer, run.account_id, run.run_id, &pages)
                .await?;
            tracing::debug!(
                run_id = run.run_id,
                pages = pages.len(),
                ms = started.elapsed().as_millis() as u64,
                "user/get pages committed"
            );
            let last = pages.iter().any(|p| p.last);
            match commit {
                Commit::Go if !last => {}
                other => return Ok(other),
            }
        }
        Ok(Commit::Go)
    }

    /// Stores listed pages and the cursor after them in one transaction — on SQLite in several,
    /// at page boundaries, when another writer of this process waits for its turn.
    async fn commit_listed(
        &self,
        writer: &mut Writer,
        account_id: i64,
        run_id: i64,
        pages: &[ListedPage],
    ) -> Result<Commit> {
        if pages.is_empty() {
            return Ok(Commit::Go);
        }
        let now = now_ms();
        let me = &self.inner.instance_id;
        let progress_sql = "UPDATE sync_runs SET next_openid = $1, pages_done = pages_done + $2, \
             listed = listed + $3, total = $4, state = $5, updated_at_ms = $6, lease_until_ms = $7 \
             WHERE id = $8 AND lease_owner = $9 AND state = 'listing' RETURNING cancel_requested";
        // The progress of `slice`, in the transaction that stores it.
        macro_rules! progress {
            ($tx:expr, $slice:expr) => {{
                let slice: &[ListedPage] = $slice;
                let Some(end) = slice.last() else {
                    return Ok(Commit::Go);
                };
                let page_count = slice.iter().filter(|p| !p.openids.is_empty()).count() as i64;
                let listed: i64 = slice.iter().map(|p| p.openids.len() as i64).sum();
                let state = if end.last {
                    SyncState::Detailing
                } else {
                    SyncState::Listing
                };
                sqlx::query_scalar(progress_sql)
                    .bind(&end.cursor)
                    .bind(page_count)
                    .bind(listed)
                    .bind(end.total)
                    .bind(state.as_str())
                    .bind(now)
                    .bind(now + SYNC_LEASE_MS)
                    .bind(run_id)
                    .bind(me)
                    .fetch_optional(&mut *$tx)
                    .await?
            }};
        }
        let cancel: Option<bool> = match writer {
            Writer::Sqlite(conn) => {
                // Position: the page, and the chunk within it, to store next. A transaction
                // ends after any chunk when another writer waits; the cursor and counts move
                // only with whole pages (a page stored in part is listed again after a crash,
                // and upserted again: harmless).
                let (mut page, mut chunk) = (0, 0);
                loop {
                    let turn = self.write_gate().await;
                    let mut tx = conn.begin().await?;
                    let mut completed_from = None;
                    while let Some(current) = pages.get(page) {
                        let chunks: Vec<&[String]> =
                            current.openids.chunks(SQLITE_LIST_CHUNK).collect();
                        if let Some(rows) = chunks.get(chunk) {
                            let sql = sqlite_list_sql(rows.len());
                            let mut q = sqlx::query(&sql).bind(account_id).bind(run_id).bind(now);
                            for openid in rows.iter() {
                                q = q.bind(openid);
                            }
                            q.execute(&mut *tx).await?;
                            chunk += 1;
                        }
                        if chunk >= chunks.len() {
                            completed_from.get_or_insert(page);
                            page += 1;
                            chunk = 0;
                        }
                        if self.write_contended() {
                            break;
                        }
                    }
                    let cancel: Option<bool> = match completed_from {
                        Some(from) => progress!(tx, &pages[from..page]),
                        None => Some(false),
                    };
                    finish_tx(tx, cancel.is_some()).await?;
                    drop(turn);
                    if page >= pages.len() || cancel != Some(false) {
                        break cancel;
                    }
                }
            }
            Writer::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                // One statement per page: a page holds no openid twice (an upsert may not touch
                // a row twice), two pages might.
                for page in pages.iter().filter(|p| !p.openids.is_empty()) {
                    sqlx::query(&format!("{LIST_INSERT}{PG_LIST_SELECT}{LIST_CONFLICT}"))
                        .bind(account_id)
                        .bind(run_id)
                        .bind(now)
                        .bind(&page.openids)
                        .execute(&mut *tx)
                        .await?;
                }
                let cancel = progress!(tx, pages);
                finish_tx(tx, cancel.is_some()).await?;
                cancel
            }
        };
        Ok(Commit::from_row(cancel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_statements_bind_anonymous_parameters() {
        let list = sqlite_list_sql(2);
        assert!(list.contains("SELECT ?, v.column1, ?, TRUE, ? FROM (VALUES (?),(?)) AS v"));
        assert!(!list.contains('$'));
    }
}

//! The processes of a deployment: each `wxpush serve` registers itself, heartbeats and records a clean stop, so admins see which are alive and which leases each holds.

use std::collections::HashMap;
use std::time::Duration;

use crate::{now_ms, on_db, Engine, Result};

/// How often a process writes that it is alive.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// A process whose last heartbeat is older than this is gone (six heartbeats missed).
pub const ALIVE_WITHIN_MS: i64 = 30_000;
/// Processes not seen for this long are forgotten (deleted by the others' heartbeats).
pub const FORGET_AFTER_MS: i64 = 24 * 3600 * 1000;
/// The longest host name stored, in characters.
const MAX_HOSTNAME: usize = 255;

/// What a process tells the others about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceInfo {
    pub hostname: String,
    pub pid: i64,
    pub version: String,
    /// The address it serves on, as configured (`WXPUSH_ADDR`).
    pub listen_addr: String,
    pub started_ms: i64,
}

impl InstanceInfo {
    /// This process, started now: its host name (see [`hostname`]) and pid, with the version
    /// and listen address the caller knows.
    pub fn this_process(version: &str, listen_addr: &str) -> Self {
        Self {
            hostname: hostname(),
            pid: i64::from(std::process::id()),
            version: version.to_owned(),
            listen_addr: listen_addr.to_owned(),
            started_ms: now_ms(),
        }
    }
}

/// The host name: `$HOSTNAME`, else the kernel's, else `/etc/hostname`; empty when none is set.
pub fn hostname() -> String {
    let files = ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .into_iter()
        .filter_map(|path| std::fs::read_to_string(path).ok());
    std::env::var("HOSTNAME")
        .ok()
        .into_iter()
        .chain(files)
        .map(|h| h.trim().chars().take(MAX_HOSTNAME).collect::<String>())
        .find(|h| !h.is_empty())
        .unwrap_or_default()
}

pub use model::instance::{Instance, InstanceState};

/// The instance id in a lease owner: the id itself (token and sync leases) or `<id>-<n>`
/// (dispatchers). Instance ids are hex, so the first `-` ends them.
fn owner_instance(owner: &str) -> &str {
    owner.split('-').next().unwrap_or(owner)
}

type InstanceRow = (String, String, i64, String, String, i64, i64, Option<i64>);

impl Engine {
    /// The id this process writes into leases and registers under.
    pub fn instance_id(&self) -> &str {
        &self.inner.instance_id
    }

    /// Records this process as alive (again, if it had stopped).
    pub async fn register_instance(&self, info: &InstanceInfo) -> Result<()> {
        self.insert_instance(
            info,
            "ON CONFLICT (id) DO UPDATE SET hostname = EXCLUDED.hostname, pid = EXCLUDED.pid, \
             version = EXCLUDED.version, listen_addr = EXCLUDED.listen_addr, \
             seen_ms = EXCLUDED.seen_ms, stopped_ms = NULL",
        )
        .await
    }

    async fn insert_instance(&self, info: &InstanceInfo, on_conflict: &str) -> Result<()> {
        let sql = format!(
            "INSERT INTO instances (id, hostname, pid, version, listen_addr, started_ms, seen_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) {on_conflict}"
        );
        on_db!(self.db(), |pool| sqlx::query(&sql)
            .bind(self.instance_id())
            .bind(&info.hostname)
            .bind(info.pid)
            .bind(&info.version)
            .bind(&info.listen_addr)
            .bind(info.started_ms)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// One heartbeat: this process is alive now (registered again if its row is missing, e.g.
    /// after the database was unreachable for a day); processes not seen for a day are deleted.
    pub async fn instance_heartbeat(&self, info: &InstanceInfo) -> Result<()> {
        let now = now_ms();
        let updated = on_db!(self.db(), |pool| sqlx::query(
            "UPDATE instances SET seen_ms = $1 WHERE id = $2 AND stopped_ms IS NULL"
        )
        .bind(now)
        .bind(self.instance_id())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        if updated == 0 {
            // Never revives a process that recorded its stop.
            self.insert_instance(info, "ON CONFLICT (id) DO NOTHING")
                .await?;
        }
        on_db!(self.db(), |pool| sqlx::query(
            "DELETE FROM instances WHERE seen_ms < $1"
        )
        .bind(now - FORGET_AFTER_MS)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Heartbeats every [`HEARTBEAT_EVERY`] until the handle is aborted.
    pub fn start_instance_heartbeat(&self, info: InstanceInfo) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = engine.instance_heartbeat(&info).await {
                    tracing::warn!(error = %e, "could not record this process's heartbeat");
                }
            }
        })
    }

    /// Records a clean stop: the process is listed as stopped, not lost.
    pub async fn deregister_instance(&self) -> Result<()> {
        let now = now_ms();
        on_db!(self.db(), |pool| sqlx::query(
            "UPDATE instances SET stopped_ms = $1, seen_ms = $1 WHERE id = $2"
        )
        .bind(now)
        .bind(self.instance_id())
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The processes seen within the last day, alive ones first (oldest first), each with the
    /// send rows, follower syncs and token refreshes it holds under lease.
    pub async fn instances(&self) -> Result<Vec<Instance>> {
        let now = now_ms();
        let rows: Vec<InstanceRow> = on_db!(self.db(), |pool| sqlx::query_as(
            "SELECT id, hostname, pid, version, listen_addr, started_ms, seen_ms, stopped_ms \
             FROM instances WHERE seen_ms >= $1"
        )
        .bind(now - FORGET_AFTER_MS)
        .fetch_all(pool)
        .await)?;
        // Rows in `sending` are few (claimed batches), walked through a partial index.
        let sending: Vec<(Option<String>, i64)> = on_db!(self.db(), |pool| sqlx::query_as(
            "SELECT lease_owner, COUNT(*) FROM job_recipients WHERE state = 'sending' \
             GROUP BY lease_owner"
        )
        .fetch_all(pool)
        .await)?;
        let syncs: Vec<Option<String>> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT lease_owner FROM sync_runs \
             WHERE state IN ('listing', 'detailing') AND lease_until_ms >= $1"
        )
        .bind(now)
        .fetch_all(pool)
        .await)?;
        let tokens: Vec<Option<String>> = on_db!(self.db(), |pool| sqlx::query_scalar(
            "SELECT lease_owner FROM wechat_tokens WHERE lease_until_ms >= $1"
        )
        .bind(now)
        .fetch_all(pool)
        .await)?;

        let mut sending_of: HashMap<&str, i64> = HashMap::new();
        for (owner, n) in &sending {
            if let Some(owner) = owner {
                *sending_of.entry(owner_instance(owner)).or_default() += n;
            }
        }
        let count = |owners: &[Option<String>], id: &str| {
            owners
                .iter()
                .flatten()
                .filter(|o| owner_instance(o) == id)
                .count() as i64
        };
        let mut out: Vec<Instance> = rows
            .into_iter()
            .map(
                |(id, hostname, pid, version, listen_addr, started_ms, seen_ms, stopped_ms)| {
                    let state = match stopped_ms {
                        Some(_) => InstanceState::Stopped,
                        None if seen_ms >= now - ALIVE_WITHIN_MS => InstanceState::Alive,
                        None => InstanceState::Lost,
                    };
                    Instance {
                        sending: sending_of.get(id.as_str()).copied().unwrap_or(0),
                        syncs: count(&syncs, &id),
                        token_refreshes: count(&tokens, &id),
                        id,
                        hostname,
                        pid,
                        version,
                        listen_addr,
                        started_ms,
                        seen_ms,
                        stopped_ms,
                        state,
                    }
                },
            )
            .collect();
        out.sort_by(|a, b| {
            (!a.is_alive(), a.started_ms, &a.id).cmp(&(!b.is_alive(), b.started_ms, &b.id))
        });
        Ok(out)
    }

    /// (alive, gone) processes of the last day, for `/metrics`.
    pub(crate) async fn instance_counts(&self) -> Result<(i64, i64)> {
        let now = now_ms();
        let (seen, alive): (i64, i64) = on_db!(self.db(), |pool| sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN stopped_ms IS NULL AND seen_ms >= $1 \
             THEN 1 ELSE 0 END), 0) FROM instances WHERE seen_ms >= $2"
        )
        .bind(now - ALIVE_WITHIN_MS)
        .bind(now - FORGET_AFTER_MS)
        .fetch_one(pool)
        .await)?;
        Ok((alive, seen - alive))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_owners_name_their_instance() {
        assert_eq!(owner_instance("0123abcd"), "0123abcd");
        assert_eq!(owner_instance("0123abcd-1"), "0123abcd");
        assert_eq!(owner_instance("0123abcd-12"), "0123abcd");
        assert_eq!(owner_instance(""), "");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_host_name_is_found_here() {
        let h = hostname();
        assert!(!h.is_empty() && h.chars().count() <= MAX_HOSTNAME);
        assert_eq!(h, h.trim());
    }
}

//! The processes of a deployment as admins see them: alive, stopped or lost, and the leases each
//! holds.

use serde::{Deserialize, Serialize};

use crate::Lang;

/// Whether a process is alive, as far as the database can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceState {
    /// It heartbeat within 30 seconds (six heartbeats missed make it gone).
    Alive,
    /// It stopped cleanly (SIGTERM or Ctrl-C) and said so.
    Stopped,
    /// Its heartbeat stopped without a word: killed, crashed, hung or cut off from the database.
    Lost,
}

/// A process of the deployment seen within the last day, with what it holds now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// The id it writes into leases; its dispatchers lease rows as `<id>-<n>`.
    pub id: String,
    pub hostname: String,
    pub pid: i64,
    pub version: String,
    pub listen_addr: String,
    pub started_ms: i64,
    /// Its last heartbeat.
    pub seen_ms: i64,
    pub stopped_ms: Option<i64>,
    pub state: InstanceState,
    /// Send-job recipients in state `sending` under its dispatchers' lease (rows a gone process
    /// left are counted until another process takes them over).
    pub sending: i64,
    /// Follower syncs whose lease it holds now.
    pub syncs: i64,
    /// Access-token refreshes whose lease it holds now.
    pub token_refreshes: i64,
}

impl Instance {
    pub fn is_alive(&self) -> bool {
        self.state == InstanceState::Alive
    }
}

impl InstanceState {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            InstanceState::Alive => lang.pick("运行中", "Running"),
            InstanceState::Stopped => lang.pick("已停止", "Stopped"),
            InstanceState::Lost => lang.pick("已停止（无心跳）", "Stopped (no heartbeat)"),
        }
    }
}

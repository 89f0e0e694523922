//! The processes of the deployment (admins only), as a server function.

use leptos::prelude::*;

use crate::dto::InstanceDto;
use crate::error::AppError;

/// Every `wxpush serve` process on this database seen within the last day, alive ones first.
#[server(prefix = "/api", endpoint = "list_instances")]
pub async fn list_instances() -> Result<Vec<InstanceDto>, AppError> {
    use crate::auth::ssr::*;
    require_admin().await?;
    let state = state()?;
    let list = state.engine.instances().await.map_err(internal)?;
    let me = state.engine.instance_id();
    Ok(list.into_iter().map(|i| ssr::to_dto(i, me)).collect())
}

#[cfg(feature = "ssr")]
mod ssr {
    //! The engine's instances as the page's.

    use engine::instances::{Instance, InstanceState};

    use crate::dto::{InstanceDto, InstanceStatus};

    pub fn to_dto(i: Instance, me: &str) -> InstanceDto {
        InstanceDto {
            this_process: i.id == me,
            status: match i.state {
                InstanceState::Alive => InstanceStatus::Alive,
                InstanceState::Stopped => InstanceStatus::Stopped,
                InstanceState::Lost => InstanceStatus::Lost,
            },
            id: i.id,
            hostname: i.hostname,
            pid: i.pid,
            version: i.version,
            listen_addr: i.listen_addr,
            started_ms: i.started_ms,
            seen_ms: i.seen_ms,
            sending: i.sending,
            syncs: i.syncs,
            token_refreshes: i.token_refreshes,
        }
    }
}

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
    Ok(list
        .into_iter()
        .map(|instance| InstanceDto {
            this_process: instance.id == me,
            instance,
        })
        .collect())
}

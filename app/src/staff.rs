//! Staff administration (admins only) and changing one's own password (everyone), as server
//! functions. Each checks the session and the role itself: they are public HTTP endpoints.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dto::Role;
use crate::error::AppError;
pub use model::staff::{StaffMember, StaffRefusal};

/// The answer to a change on the staff page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaffChange {
    Done(StaffMember),
    Refused {
        username: String,
        reason: StaffRefusal,
    },
}

/// The answer to a password reset: the generated password, shown once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PasswordReset {
    Reset {
        username: String,
        password: String,
    },
    Refused {
        username: String,
        reason: StaffRefusal,
    },
}

#[server(prefix = "/api", endpoint = "list_staff_members")]
pub async fn list_staff_members() -> Result<Vec<StaffMember>, AppError> {
    use crate::auth::ssr::*;
    require_admin().await?;
    state()?.engine.list_staff().await.map_err(internal)
}

/// Adds a staff member with an initial password (the same rules as the setup page).
#[server(prefix = "/api", endpoint = "add_staff")]
pub async fn add_staff(
    username: String,
    role: Role,
    password: String,
    password_confirm: String,
) -> Result<StaffMember, AppError> {
    use crate::auth::ssr::*;
    let admin = require_admin().await?;
    let state = state()?;
    let username = username.trim().to_owned();
    if let Err(e) = crate::validate::new_account(&username, &password, Some(&password_confirm)) {
        return fail(AppError::Refused(e));
    }
    let staff = state
        .engine
        .create_staff(&actor(&admin, &state), &username, &password, role)
        .await
        .or_else(|e| fail(from_engine(e)))?;
    match state
        .engine
        .staff_member(staff.id)
        .await
        .map_err(internal)?
    {
        Some(m) => Ok(m),
        None => fail(AppError::NotFound),
    }
}

#[server(prefix = "/api", endpoint = "change_staff_role")]
pub async fn change_staff_role(id: i64, role: Role) -> Result<StaffChange, AppError> {
    use self::ssr::*;
    use crate::auth::ssr::*;
    let admin = require_admin().await?;
    let state = state()?;
    let outcome = state
        .engine
        .set_staff_role(&actor(&admin, &state), id, role)
        .await
        .map_err(internal)?;
    change(&state, id, outcome).await
}

/// Disables (`disabled = true`: their sessions end at once) or enables a staff member.
#[server(prefix = "/api", endpoint = "set_staff_disabled")]
pub async fn set_staff_disabled(id: i64, disabled: bool) -> Result<StaffChange, AppError> {
    use self::ssr::*;
    use crate::auth::ssr::*;
    let admin = require_admin().await?;
    let state = state()?;
    let outcome = state
        .engine
        .set_staff_disabled(&actor(&admin, &state), id, disabled)
        .await
        .map_err(internal)?;
    change(&state, id, outcome).await
}

/// Gives a staff member a new generated password, returned once.
#[server(prefix = "/api", endpoint = "reset_staff_password")]
pub async fn reset_staff_password(id: i64) -> Result<PasswordReset, AppError> {
    use self::ssr::*;
    use crate::auth::ssr::*;
    let admin = require_admin().await?;
    let state = state()?;
    let outcome = state
        .engine
        .reset_staff_password(&actor(&admin, &state), id)
        .await
        .map_err(internal)?;
    let username = username_of(&state, id).await?;
    match outcome {
        Ok(password) => Ok(PasswordReset::Reset { username, password }),
        Err(StaffRefusal::NotFound) => fail(AppError::NotFound),
        Err(r) => Ok(PasswordReset::Refused {
            username,
            reason: r,
        }),
    }
}

/// Anyone logged in changes their own password with the current one. A wrong current password
/// is refused like a wrong login (and counts against the login throttle); the caller's other
/// sessions end.
#[server(prefix = "/api", endpoint = "change_my_password")]
pub async fn change_my_password(
    current_password: String,
    new_password: String,
    new_password_confirm: String,
) -> Result<(), AppError> {
    use crate::auth::ssr::*;
    use crate::validate::{Problem, Refusal};
    let me = require_staff().await?;
    let state = state()?;
    let session = session().await?;
    if current_password.is_empty() {
        return fail(AppError::Refused(Refusal {
            field: "current_password".into(),
            problem: Problem::Required,
        }));
    }
    if let Err(problem) = crate::validate::new_password(&new_password) {
        return fail(AppError::Refused(Refusal {
            field: "password".into(),
            problem,
        }));
    }
    if let Err(problem) = crate::validate::password_confirm(&new_password, &new_password_confirm) {
        return fail(AppError::Refused(Refusal {
            field: "password_confirm".into(),
            problem,
        }));
    }
    let keep = session.id().map(|id| id.to_string());
    state
        .engine
        .change_own_password(
            &actor(&me, &state),
            me.id,
            &current_password,
            &new_password,
            keep.as_deref(),
        )
        .await
        .or_else(|e| fail(from_engine(e)))
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! Conversions between the engine's staff types and the page's.

    use engine::staff::{StaffMember, StaffOutcome};

    use super::{StaffChange, StaffRefusal};
    use crate::auth::ssr::{fail, internal};
    use crate::error::AppError;
    use crate::state::AppState;

    pub async fn username_of(state: &AppState, id: i64) -> Result<String, AppError> {
        match state.engine.staff_member(id).await.map_err(internal)? {
            Some(m) => Ok(m.username),
            None => fail(AppError::NotFound),
        }
    }

    /// A change's answer for the page: the member as they are now, or the refusal.
    pub async fn change(
        state: &AppState,
        id: i64,
        outcome: StaffOutcome<StaffMember>,
    ) -> Result<StaffChange, AppError> {
        match outcome {
            Ok(m) => Ok(StaffChange::Done(m)),
            Err(StaffRefusal::NotFound) => fail(AppError::NotFound),
            Err(r) => Ok(StaffChange::Refused {
                username: username_of(state, id).await?,
                reason: r,
            }),
        }
    }
}

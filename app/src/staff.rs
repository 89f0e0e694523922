//! Staff administration (admins only) and changing one's own password (everyone), as server
//! functions. Each checks the session and the role itself: they are public HTTP endpoints.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dto::Role;
use crate::error::AppError;
use crate::i18n::Lang;

/// A staff member as the staff page lists them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffDto {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at_ms: i64,
    pub last_login_ms: Option<i64>,
}

/// Why a change was refused, explained on the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaffRefusal {
    /// It would leave no active admin.
    LastActiveAdmin,
    /// Admins cannot disable themselves or reset their own password here.
    OwnAccount,
}

impl StaffRefusal {
    pub fn message(self, lang: Lang, username: &str) -> String {
        match (self, lang) {
            (StaffRefusal::LastActiveAdmin, Lang::Zh) => format!(
                "未执行：{username} 是最后一个启用中的管理员。请先把另一位员工设为管理员，再停用或降级 {username}。"
            ),
            (StaffRefusal::LastActiveAdmin, Lang::En) => format!(
                "Not done: {username} is the last active admin. Make someone else an admin first, then disable or demote {username}."
            ),
            (StaffRefusal::OwnAccount, Lang::Zh) => {
                "未执行：不能停用自己的账号，也不能在这里重置自己的密码（请在「设置」中修改密码）。".into()
            }
            (StaffRefusal::OwnAccount, Lang::En) => {
                "Not done: you cannot disable your own account or reset your own password here (change it under Settings).".into()
            }
        }
    }
}

/// The answer to a change on the staff page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaffChange {
    Done(StaffDto),
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
pub async fn list_staff_members() -> Result<Vec<StaffDto>, AppError> {
    use self::ssr::*;
    use crate::auth::ssr::*;
    require_admin().await?;
    let list = state()?.engine.list_staff().await.map_err(internal)?;
    Ok(list.into_iter().map(to_dto).collect())
}

/// Adds a staff member with an initial password (the same rules as the setup page).
#[server(prefix = "/api", endpoint = "add_staff")]
pub async fn add_staff(
    username: String,
    role: Role,
    password: String,
    password_confirm: String,
) -> Result<StaffDto, AppError> {
    use self::ssr::*;
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
        Some(m) => Ok(to_dto(m)),
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
        Err(engine::staff::StaffRefusal::NotFound) => fail(AppError::NotFound),
        Err(r) => Ok(PasswordReset::Refused {
            username,
            reason: refusal(r),
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

    use super::{StaffChange, StaffDto, StaffRefusal};
    use crate::auth::ssr::{fail, internal};
    use crate::error::AppError;
    use crate::state::AppState;

    pub fn to_dto(m: StaffMember) -> StaffDto {
        StaffDto {
            id: m.id,
            username: m.username,
            role: m.role,
            disabled: m.disabled,
            created_at_ms: m.created_at_ms,
            last_login_ms: m.last_login_ms,
        }
    }

    pub fn refusal(r: engine::staff::StaffRefusal) -> StaffRefusal {
        match r {
            engine::staff::StaffRefusal::OwnAccount => StaffRefusal::OwnAccount,
            _ => StaffRefusal::LastActiveAdmin,
        }
    }

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
            Ok(m) => Ok(StaffChange::Done(to_dto(m))),
            Err(engine::staff::StaffRefusal::NotFound) => fail(AppError::NotFound),
            Err(r) => Ok(StaffChange::Refused {
                username: username_of(state, id).await?,
                reason: refusal(r),
            }),
        }
    }
}

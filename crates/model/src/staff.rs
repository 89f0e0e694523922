//! Staff: roles (what a console user may do), a member as the staff page lists them, and why a
//! change to one is refused.

use serde::{Deserialize, Serialize};

use crate::Lang;

/// Admins manage accounts, staff, templates and settings and approve large jobs; operators
/// sync, edit presets and send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Role::Admin => lang.pick("管理员", "Admin"),
            Role::Operator => lang.pick("运营", "Operator"),
        }
    }
}

/// A staff member as the staff page lists them (never the password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffMember {
    pub id: i64,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub created_at_ms: i64,
    pub last_login_ms: Option<i64>,
}

/// Why a change to a staff member was refused. Refusals are answers, not errors: the staff page
/// explains each one in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaffRefusal {
    /// The change would leave no active admin (demoting or disabling the last one).
    LastActiveAdmin,
    /// Admins cannot disable themselves, nor reset their own password here (they change it
    /// with their current password instead).
    OwnAccount,
    /// No such staff member.
    NotFound,
}

impl StaffRefusal {
    /// The refusal in words, naming the member it concerns.
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
            (StaffRefusal::NotFound, Lang::Zh) => format!("未执行：员工 {username} 不存在。"),
            (StaffRefusal::NotFound, Lang::En) => format!("Not done: there is no staff member {username}."),
        }
    }
}

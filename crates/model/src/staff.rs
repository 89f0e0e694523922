//! Staff roles: what a console user may do.

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

//! Data shared by server and browser: who is logged in, in which language.

use serde::{Deserialize, Serialize};

use crate::i18n::Lang;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StaffRole {
    Admin,
    Operator,
}

impl StaffRole {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            StaffRole::Admin => lang.pick("管理员", "Admin"),
            StaffRole::Operator => lang.pick("运营", "Operator"),
        }
    }

    fn code(self) -> &'static str {
        match self {
            StaffRole::Admin => "admin",
            StaffRole::Operator => "operator",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
    pub role: StaffRole,
}

/// What a page needs to know about the request before it renders. The server computes it once per
/// request and writes it into the page head; the browser reads it back before hydrating, so both
/// render the same thing without a round trip.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user: Option<CurrentUser>,
    pub lang: Lang,
}

impl SessionInfo {
    /// `lang|id|role|username` (usernames cannot contain `|`): small, no JSON parser in the bundle.
    pub fn encode(&self) -> String {
        match &self.user {
            Some(u) => format!(
                "{}|{}|{}|{}",
                self.lang.code(),
                u.id,
                u.role.code(),
                u.username
            ),
            None => self.lang.code().to_owned(),
        }
    }

    pub fn decode(s: &str) -> SessionInfo {
        let mut parts = s.splitn(4, '|');
        let lang = parts.next().and_then(Lang::parse).unwrap_or_default();
        let user = match (parts.next(), parts.next(), parts.next()) {
            (Some(id), Some(role), Some(username)) => id.parse().ok().map(|id| CurrentUser {
                id,
                username: username.to_owned(),
                role: if role == "admin" {
                    StaffRole::Admin
                } else {
                    StaffRole::Operator
                },
            }),
            _ => None,
        };
        SessionInfo { user, lang }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_info_round_trips() {
        let info = SessionInfo {
            user: Some(CurrentUser {
                id: 7,
                username: "ops.li".into(),
                role: StaffRole::Operator,
            }),
            lang: Lang::En,
        };
        assert_eq!(SessionInfo::decode(&info.encode()), info);
        let anon = SessionInfo {
            user: None,
            lang: Lang::Zh,
        };
        assert_eq!(SessionInfo::decode(&anon.encode()), anon);
        assert_eq!(SessionInfo::decode("garbage"), SessionInfo::default());
    }
}

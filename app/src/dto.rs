//! Data shared by server and browser: who is logged in, in which language.

use serde::{Deserialize, Serialize};

use crate::i18n::Lang;
pub use model::Role;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
    pub role: Role,
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
                u.role.as_str(),
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
                role: Role::parse(role).unwrap_or(Role::Operator),
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
                role: Role::Operator,
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

/// A WeChat account as the settings page shows it: never a secret, only whether it is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountDto {
    pub id: i64,
    pub kind: model::AccountKind,
    pub name: String,
    pub appid: String,
    pub api_base: String,
    pub linked_account_id: Option<i64>,
    pub linked_name: Option<String>,
    pub sandbox: bool,
    pub secret_set: bool,
    pub callback_token_set: bool,
    pub encoding_aes_key_set: bool,
    /// The URL to paste into the WeChat admin as the server URL.
    pub callback_url: String,
    pub health: TokenHealthDto,
    /// What deleting the account takes with it.
    pub footprint: FootprintDto,
}

/// Rows deleted with an account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FootprintDto {
    pub followers: i64,
    pub mp_users: i64,
    pub presets: i64,
    pub jobs: i64,
}

impl AccountDto {
    pub fn kind_label(&self, lang: Lang) -> &'static str {
        self.kind.label(lang)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenHealthDto {
    /// A stored token that has not expired (decided on the server, at render time).
    pub valid: bool,
    pub obtained_at_ms: Option<i64>,
    pub expires_at_ms: i64,
    pub refresh_count: i64,
    pub last_error: Option<String>,
    pub last_error_at_ms: Option<i64>,
}

/// The outcome of "test connection", explained in both languages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionTest {
    pub ok: bool,
    pub errcode: Option<i64>,
    pub explain_zh: String,
    pub explain_en: String,
    pub health: TokenHealthDto,
}

/// `YYYY-MM-DD HH:MM:SS` in China Standard Time (UTC+8, no daylight saving), computed the same
/// way on the server and in the browser so hydration sees identical text.
pub fn format_time_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000) + 8 * 3600;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A count as people read it: `20,000` (the same grouping in Chinese and English).
pub use model::number::thousands;

#[cfg(test)]
mod time_tests {
    use super::{format_time_ms, thousands};

    #[test]
    fn groups_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(20_000), "20,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1_000), "-1,000");
        assert_eq!(thousands(i64::MIN), "-9,223,372,036,854,775,808");
    }

    #[test]
    fn formats_in_china_standard_time() {
        assert_eq!(format_time_ms(0), "1970-01-01 08:00:00");
        assert_eq!(format_time_ms(1_714_036_504_000), "2024-04-25 17:15:04");
        assert_eq!(format_time_ms(951_782_400_000), "2000-02-29 08:00:00");
    }
}

/// An entry of the account switcher.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountBrief {
    pub id: i64,
    pub name: String,
    pub kind: model::AccountKind,
    pub sandbox: bool,
}

/// The switcher's content: the accounts and the one this session works on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountChoice {
    pub accounts: Vec<AccountBrief>,
    pub selected: Option<i64>,
}

/// One follower row of the followers page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowerDto {
    pub openid: String,
    pub unionid: Option<String>,
    pub subscribed: bool,
    pub subscribe_time: Option<String>,
    pub tags: Vec<i64>,
    pub mp_openid: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowersPageDto {
    pub account: Option<AccountBrief>,
    pub rows: Vec<FollowerDto>,
    /// How many followers match the filter, over all pages.
    pub total: i64,
    /// The openid to continue after, when there is a next page.
    pub next_after: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardDto {
    pub account: Option<AccountBrief>,
    pub synced: bool,
    pub followers: i64,
    pub subscribed: i64,
    pub with_unionid: i64,
    pub without_unionid_subscribed: i64,
    pub without_unionid_unsubscribed: i64,
    pub matched: i64,
    pub mp_users: i64,
    pub mp_not_following: i64,
    pub has_linked_mp: bool,
    pub last_sync: Option<model::sync::SyncProgress>,
    /// The linked Mini Program's name, when there is one.
    pub mp_name: Option<String>,
    /// Subscription credits of the linked Mini Program, per synced subscribe template.
    pub subscription_credits: Vec<TemplateCreditsDto>,
}

/// The subscription credits of one Mini Program subscribe template.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateCreditsDto {
    pub template_id: String,
    pub title: String,
    /// Long-term template (WeChat type 3); otherwise one-time (type 2).
    pub long_term: bool,
    /// Users who can be sent this template now.
    pub holders: i64,
    /// One-time credits of all users together.
    pub one_time_total: i64,
    pub long_term_users: i64,
    /// Users whose last answer was a refusal.
    pub refused_users: i64,
}

/// A process of the deployment (admins' settings page), with what it holds under lease now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceDto {
    pub instance: model::instance::Instance,
    /// The process that answered this request.
    pub this_process: bool,
}

//! Followers and tags: `user/get` pages, `user/info`, `user/info/batchget`, `tags/get`.

use serde::{Deserialize, Deserializer, Serialize};

use super::client::{decode, Client};
use super::error::ApiError;

/// Most openids `user/info/batchget` accepts per call (more → 40032).
pub const BATCH_MAX: usize = 100;

/// One page of `cgi-bin/user/get` (deserializes from the wire shape `data.openid`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "UserPageWire")]
pub struct UserPage {
    /// Number of followers of the account.
    pub total: i64,
    /// Number of openids in this page (≤ 10000).
    pub count: i64,
    /// `data.openid`; empty when `data` is missing (a call past the end).
    pub openids: Vec<String>,
    /// The openid to pass to the next call; `None` when absent or empty. WeChat sets it even
    /// on the last page, so it alone does not say whether more pages exist: use [`UserPage::is_last`].
    pub next_openid: Option<String>,
}

impl UserPage {
    /// Whether to stop paging after this page. `fetched_so_far` = openids collected so far,
    /// including this page. Stops when the page is empty (`count` 0 or `data` missing), when
    /// `next_openid` is empty, or when everything (`total`) has been collected.
    pub fn is_last(&self, fetched_so_far: i64) -> bool {
        self.count == 0
            || self.openids.is_empty()
            || self.next_openid.is_none()
            || fetched_so_far >= self.total
    }
}

#[derive(Deserialize)]
struct UserPageWire {
    #[serde(default)]
    total: i64,
    #[serde(default)]
    count: i64,
    #[serde(default)]
    data: Option<OpenidList>,
    #[serde(default)]
    next_openid: Option<String>,
}

#[derive(Deserialize)]
struct OpenidList {
    #[serde(default)]
    openid: Vec<String>,
}

impl From<UserPageWire> for UserPage {
    fn from(wire: UserPageWire) -> UserPage {
        UserPage {
            total: wire.total,
            count: wire.count,
            openids: wire.data.map(|data| data.openid).unwrap_or_default(),
            next_openid: wire.next_openid.filter(|openid| !openid.is_empty()),
        }
    }
}

/// A follower's info from `user/info` or `user/info/batchget`. Unfollowed users carry only
/// `subscribe` (false) and `openid`. The emptied profile keys (`nickname`, `sex`, `city`,
/// `headimgurl`…, blank since 2021) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// `subscribe` 1/0: whether the user follows the account.
    #[serde(deserialize_with = "flag")]
    pub subscribe: bool,
    pub openid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unionid: Option<String>,
    /// Unix seconds of the latest follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tagid_list: Vec<i64>,
    /// e.g. `ADD_SCENE_QR_CODE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe_scene: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_scene: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_scene_str: Option<String>,
}

/// Accepts `0`/`1` (what WeChat sends) or a JSON boolean.
fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Int(i64),
        Bool(bool),
    }
    Ok(match Flag::deserialize(deserializer)? {
        Flag::Int(value) => value != 0,
        Flag::Bool(value) => value,
    })
}

fn null_as_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<i64>, D::Error> {
    Ok(Option::<Vec<i64>>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct UserInfoList {
    #[serde(default)]
    user_info_list: Vec<UserInfo>,
}

#[derive(Serialize)]
struct BatchRequest<'a> {
    user_list: Vec<BatchEntry<'a>>,
}

#[derive(Serialize)]
struct BatchEntry<'a> {
    openid: &'a str,
    lang: &'static str,
}

/// A user tag from `cgi-bin/tags/get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub id: i64,
    pub name: String,
    /// Followers carrying the tag.
    #[serde(default)]
    pub count: i64,
}

#[derive(Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Vec<Tag>,
}

/// Decodes a `user/get` page.
pub fn parse_user_page(status: u16, body: &[u8]) -> Result<UserPage, ApiError> {
    decode(status, body)
}

/// Decodes a `user/info` answer.
pub fn parse_user_info(status: u16, body: &[u8]) -> Result<UserInfo, ApiError> {
    decode(status, body)
}

/// Decodes a `user/info/batchget` answer (`user_info_list`).
pub fn parse_user_info_batch(status: u16, body: &[u8]) -> Result<Vec<UserInfo>, ApiError> {
    decode::<UserInfoList>(status, body).map(|list| list.user_info_list)
}

/// Decodes a `tags/get` answer (`tags`).
pub fn parse_tags(status: u16, body: &[u8]) -> Result<Vec<Tag>, ApiError> {
    decode::<TagList>(status, body).map(|list| list.tags)
}

impl Client {
    /// GET `cgi-bin/user/get`: one page of up to 10000 follower openids, starting after
    /// `next_openid` (`None` = from the beginning). Loop until [`UserPage::is_last`].
    pub async fn user_get(
        &self,
        base: &str,
        token: &str,
        next_openid: Option<&str>,
    ) -> Result<UserPage, ApiError> {
        let mut query = vec![("access_token", token)];
        if let Some(openid) = next_openid.filter(|openid| !openid.is_empty()) {
            query.push(("next_openid", openid));
        }
        let (status, bytes) = self.get(base, "cgi-bin/user/get", &query).await?;
        parse_user_page(status, &bytes)
    }

    /// GET `cgi-bin/user/info` for one openid; `lang` = `zh_CN` | `zh_TW` | `en` (default zh_CN).
    pub async fn user_info(
        &self,
        base: &str,
        token: &str,
        openid: &str,
        lang: Option<&str>,
    ) -> Result<UserInfo, ApiError> {
        let mut query = vec![("access_token", token), ("openid", openid)];
        if let Some(lang) = lang {
            query.push(("lang", lang));
        }
        let (status, bytes) = self.get(base, "cgi-bin/user/info", &query).await?;
        parse_user_info(status, &bytes)
    }

    /// POST `cgi-bin/user/info/batchget` for up to [`BATCH_MAX`] openids (lang zh_CN). More
    /// are refused with [`ApiError::Request`] without sending; an empty slice returns an empty
    /// list without sending.
    pub async fn user_info_batch(
        &self,
        base: &str,
        token: &str,
        openids: &[String],
    ) -> Result<Vec<UserInfo>, ApiError> {
        if openids.len() > BATCH_MAX {
            return Err(ApiError::Request(format!(
                "user/info/batchget takes at most {BATCH_MAX} openids, got {}",
                openids.len()
            )));
        }
        if openids.is_empty() {
            return Ok(Vec::new());
        }
        let body = BatchRequest {
            user_list: openids
                .iter()
                .map(|openid| BatchEntry {
                    openid,
                    lang: "zh_CN",
                })
                .collect(),
        };
        let (status, bytes) = self
            .post_json(
                base,
                "cgi-bin/user/info/batchget",
                &[("access_token", token)],
                &body,
            )
            .await?;
        parse_user_info_batch(status, &bytes)
    }

    /// GET `cgi-bin/tags/get`: the account's user tags.
    pub async fn tags(&self, base: &str, token: &str) -> Result<Vec<Tag>, ApiError> {
        let (status, bytes) = self
            .get(base, "cgi-bin/tags/get", &[("access_token", token)])
            .await?;
        parse_tags(status, &bytes)
    }
}

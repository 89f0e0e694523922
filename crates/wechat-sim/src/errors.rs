//! WeChat error responses: canonical errmsg texts, the ` rid: …` suffix, and HTTP 200 JSON bodies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::ids::mix;

/// WeChat's own content type (observed: `application/json; encoding=utf-8`).
pub const WX_JSON: &str = "application/json; encoding=utf-8";

/// An error as WeChat returns it: `errcode` plus canonical text, optionally with a detail
/// appended (47003 names the offending field).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WxError {
    /// The errcode.
    pub code: i64,
    /// Text appended after the canonical text (before ` rid:`), e.g. ` data.thing1.value invalid`.
    pub detail: Option<String>,
}

impl WxError {
    /// The error with its canonical text.
    pub fn new(code: i64) -> Self {
        Self { code, detail: None }
    }

    /// 47003 naming the offending data key.
    pub fn argument_invalid(key: &str) -> Self {
        Self {
            code: 47003,
            detail: Some(format!(" data.{key}.value invalid")),
        }
    }

    /// The full errmsg, rid included.
    pub fn errmsg(&self) -> String {
        let mut msg = String::from(canonical_text(self.code));
        if let Some(detail) = &self.detail {
            msg.push_str(detail);
        }
        msg.push_str(" rid: ");
        msg.push_str(&rid());
        msg
    }

    /// `{"errcode":N,"errmsg":"… rid: …"}`.
    pub fn body(&self) -> String {
        let errmsg = serde_json::Value::String(self.errmsg());
        format!("{{\"errcode\":{},\"errmsg\":{}}}", self.code, errmsg)
    }
}

impl IntoResponse for WxError {
    fn into_response(self) -> Response {
        wx_json(self.body())
    }
}

/// An HTTP 200 response with WeChat's JSON content type.
pub fn wx_json(body: String) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(WX_JSON));
    resp
}

/// Serializes `value` as a WeChat success body.
pub fn wx_ok<T: serde::Serialize>(value: &T) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => wx_json(body),
        Err(_) => WxError::new(-1).into_response(),
    }
}

static RID_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A request id like real ones: `XXXXXXXX-XXXXXXXX-XXXXXXXX`, lowercase hex; the first group is
/// the unix time in hex (as in observed rids such as `650bbf8d-…`).
pub fn rid() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let n = RID_COUNTER.fetch_add(1, Ordering::Relaxed);
    let h = mix(n ^ secs.rotate_left(32));
    format!(
        "{:08x}-{:08x}-{:08x}",
        secs as u32,
        (h >> 32) as u32,
        h as u32
    )
}

/// The canonical errmsg text of an errcode (the part before ` rid:`).
pub fn canonical_text(code: i64) -> &'static str {
    match code {
        -1 => "system error",
        0 => "ok",
        40001 => "invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r",
        40002 => "invalid grant_type",
        40003 => "invalid openid",
        40013 => "invalid appid",
        40014 => "invalid access_token",
        40029 => "invalid code",
        40032 => "invalid openid list size",
        40036 => "invalid template_id size",
        40037 => "invalid template_id",
        40125 => "invalid appsecret",
        40163 => "code been used",
        40164 => "invalid ip, not in whitelist",
        40165 => "invalid weapp pagepath",
        40226 => "code blocked",
        41001 => "access_token missing",
        41002 => "appid missing",
        41004 => "appsecret missing",
        41008 => "missing code",
        41030 => "invalid page",
        42001 => "access_token expired",
        43002 => "require POST method",
        43004 => "require subscribe",
        43019 => "require remove blacklist",
        43101 => "user refuse to accept the msg",
        43116 => "This template_id is banned",
        43117 => "Sending messages to this openid too frequently,please try later",
        44002 => "empty post data",
        45009 => "reach max api daily quota limit",
        45011 => "api minute-quota reach limit must slower retry next minute",
        45109 => "This API has been unsupported. For more details, please view https://developers.weixin.qq.com/community/develop/doc/000ae8d6348af08e7030bc2546bc01?blockType=1",
        45168 => "keyword in blacklist",
        47001 => "data format error",
        47003 => "argument invalid!",
        48001 => "api unauthorized",
        _ => "system error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rid_has_three_groups_of_eight_hex() {
        let r = rid();
        let groups: Vec<&str> = r.split('-').collect();
        assert_eq!(groups.len(), 3);
        for g in groups {
            assert_eq!(g.len(), 8);
            assert!(g
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        }
    }

    #[test]
    fn argument_invalid_names_the_field() {
        let msg = WxError::argument_invalid("thing1").errmsg();
        assert!(msg.starts_with("argument invalid! data.thing1.value invalid rid: "));
    }
}

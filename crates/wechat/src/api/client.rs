//! The shared HTTP client: connection settings, request plumbing and the errcode-first body decoder.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::error::ApiError;

/// TCP + TLS handshake budget. WeChat normally connects in well under a second; 5 s leaves room
/// for a slow DNS answer without letting a dead route hold a dispatch worker for long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Whole-request budget (connect, send, wait, read the body). WeChat answers in tens of
/// milliseconds; a 10,000-openid `user/get` page is ~300 KB. Past 15 s the call is treated as
/// lost and classified `RetryLater` (a timed-out send may still have been delivered: set
/// `client_msg_id` to let WeChat de-duplicate within 10 minutes).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Keep idle keep-alive connections this long, so bursts of sends reuse TLS sessions.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Idle connections kept per host: sized for a dispatch worker pool of up to 64 concurrent
/// senders against api.weixin.qq.com (or one simulator), so steady sending never re-handshakes.
pub const POOL_MAX_IDLE_PER_HOST: usize = 64;
/// Bodies larger than this are refused (the largest real body, a full `user/get` page, is ~300 KB).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// An HTTP client for the WeChat server API. Cheap to clone (the connection pool is shared).
///
/// One `Client` serves every account: each call takes the account's API base URL, e.g.
/// `https://api.weixin.qq.com` or a simulator's `http://127.0.0.1:PORT` (a trailing slash is
/// fine). The access token always travels as the `access_token` query parameter.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
}

impl Client {
    /// A client with the production settings documented on the constants above.
    pub fn new() -> Result<Client, ApiError> {
        Client::with_timeouts(CONNECT_TIMEOUT, REQUEST_TIMEOUT)
    }

    /// Same settings with other timeouts (tests use a short one).
    pub fn with_timeouts(connect: Duration, request: Duration) -> Result<Client, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(request)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
            // Requests are small and latency-bound: don't let Nagle hold them back.
            .tcp_nodelay(true)
            // WeChat never redirects; following one would carry the token/secret in the
            // query string to another host. A 3xx surfaces as `ApiError::Http`.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("wxpush-wechat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ApiError::Request(error_chain(err)))?;
        Ok(Client { http })
    }

    /// Wraps an existing `reqwest::Client` (its own timeouts and pool settings apply).
    pub fn from_http(http: reqwest::Client) -> Client {
        Client { http }
    }

    /// GET `base/path?query`, returning status and body bytes.
    pub(crate) async fn get(
        &self,
        base: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let request = self.http.get(endpoint(base, path)).query(query);
        execute(request).await
    }

    /// POST a JSON body to `base/path?query`, returning status and body bytes.
    pub(crate) async fn post_json<B: Serialize + ?Sized>(
        &self,
        base: &str,
        path: &str,
        query: &[(&str, &str)],
        body: &B,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let request = self.http.post(endpoint(base, path)).query(query).json(body);
        execute(request).await
    }
}

/// `base` + `/` + `path`, tolerating a trailing slash on `base`.
fn endpoint(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim_end_matches('/'), path)
}

/// Sends the request and reads the whole body (bounded by [`MAX_BODY_BYTES`]).
async fn execute(request: reqwest::RequestBuilder) -> Result<(u16, Vec<u8>), ApiError> {
    let mut response = request.send().await.map_err(transport_error)?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(ApiError::Decode(format!(
                "body larger than {MAX_BODY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

/// Maps a reqwest error without its URL (the query holds the token or the secret).
fn transport_error(err: reqwest::Error) -> ApiError {
    if err.is_timeout() {
        ApiError::Timeout
    } else if err.is_builder() {
        ApiError::Request(error_chain(err))
    } else {
        ApiError::Transport(error_chain(err))
    }
}

/// `err: source: source…`, URL stripped, repeated messages collapsed.
fn error_chain(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = std::error::Error::source(&err);
    while let Some(inner) = source {
        let text = inner.to_string();
        if parts.last().is_none_or(|last| !last.contains(&text)) {
            parts.push(text);
        }
        source = inner.source();
    }
    parts.join(": ")
}

/// The part every WeChat body may carry. Absent `errcode` means success.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
}

/// How much of a non-JSON body to quote in a `Decode` error.
const EXCERPT_CHARS: usize = 120;

/// Decodes a WeChat response: `errcode` first (absent or 0 = success), then the typed body.
///
/// - JSON with a non-zero `errcode` → [`ApiError::WeChat`], whatever the HTTP status;
/// - other non-2xx → [`ApiError::Http`];
/// - not JSON → [`ApiError::Decode`] with a short excerpt;
/// - JSON not matching `T` → [`ApiError::Decode`].
///
/// The Content-Type header is ignored (WeChat sometimes sends JSON as `text/plain`).
pub fn decode<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, ApiError> {
    decode_inner(status, body, false)
}

/// [`decode`] for bodies that carry a secret on success (tokens, session keys): decode errors
/// never quote the body.
pub(crate) fn decode_sensitive<T: DeserializeOwned>(
    status: u16,
    body: &[u8],
) -> Result<T, ApiError> {
    decode_inner(status, body, true)
}

fn decode_inner<T: DeserializeOwned>(
    status: u16,
    body: &[u8],
    sensitive: bool,
) -> Result<T, ApiError> {
    let success_status = (200..300).contains(&status);
    let envelope: Envelope = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(_) if !success_status => return Err(ApiError::Http { status }),
        Err(err) => {
            return Err(ApiError::Decode(if sensitive {
                format!("body is not the expected JSON ({})", position(&err))
            } else if err.is_data() {
                // JSON, but errcode/errmsg of the wrong type.
                err.to_string()
            } else {
                format!("not JSON: {}", excerpt(body))
            }));
        }
    };
    match envelope.errcode {
        Some(code) if code != 0 => {
            return Err(ApiError::WeChat {
                code,
                message: envelope.errmsg.unwrap_or_default(),
            })
        }
        _ if !success_status => return Err(ApiError::Http { status }),
        _ => {}
    }
    serde_json::from_slice(body).map_err(|err| {
        ApiError::Decode(if sensitive {
            format!("success body of the wrong shape ({})", position(&err))
        } else {
            err.to_string()
        })
    })
}

fn position(err: &serde_json::Error) -> String {
    format!("line {} column {}", err.line(), err.column())
}

/// The first [`EXCERPT_CHARS`] characters of a body, lossily decoded, on one line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    if out.trim().is_empty() {
        out = "<empty body>".to_owned();
    }
    out
}

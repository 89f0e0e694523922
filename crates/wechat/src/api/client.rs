//! The shared HTTP client: connection settings, request plumbing and the errcode-first body decoder.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// How one WeChat API call ended, as an [`Observer`] sees it (before the body is decoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx JSON answer without a non-zero `errcode`.
    Ok,
    /// A JSON answer with a non-zero `errcode`, whatever the HTTP status.
    Errcode(i64),
    /// A non-2xx answer without an `errcode`.
    HttpError(u16),
    /// No answer within the request timeout.
    Timeout,
    /// Connection refused, reset or dropped; DNS or TLS failure; a request that could not be built.
    TransportError,
    /// A 2xx answer that is not JSON, or larger than [`MAX_BODY_BYTES`].
    BadBody,
}

impl Outcome {
    /// A short fixed name (a metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Errcode(_) => "errcode",
            Outcome::HttpError(_) => "http_error",
            Outcome::Timeout => "timeout",
            Outcome::TransportError => "transport_error",
            Outcome::BadBody => "bad_body",
        }
    }
}

/// Called after every API call with the endpoint's fixed name ([`endpoint_name`]), the time the
/// call took (connect to last body byte) and its outcome. Never sees the URL, token or body.
pub type Observer = Arc<dyn Fn(&'static str, Duration, Outcome) + Send + Sync>;

/// The fixed name of an API path (`cgi-bin/user/get` → `user_get`), `other` for paths this client
/// does not call; the query string is never part of it, so it is safe as a metrics label.
pub fn endpoint_name(path: &str) -> &'static str {
    let path = path.split('?').next().unwrap_or("").trim_matches('/');
    match path {
        "cgi-bin/stable_token" => "stable_token",
        "cgi-bin/token" => "token",
        "cgi-bin/user/get" => "user_get",
        "cgi-bin/user/info" => "user_info",
        "cgi-bin/user/info/batchget" => "user_info_batchget",
        "cgi-bin/tags/get" => "tags_get",
        "cgi-bin/message/template/send" => "template_send",
        "cgi-bin/message/subscribe/send" => "subscribe_send",
        "cgi-bin/template/get_all_private_template" => "template_list",
        "wxaapi/newtmpl/gettemplate" => "subscribe_template_list",
        "sns/jscode2session" => "jscode2session",
        _ => "other",
    }
}

/// An HTTP client for the WeChat server API. Cheap to clone (the connection pool is shared).
///
/// One `Client` serves every account: each call takes the account's API base URL, e.g.
/// `https://api.weixin.qq.com` or a simulator's `http://127.0.0.1:PORT` (a trailing slash is
/// fine). The access token always travels as the `access_token` query parameter.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    observer: Option<Observer>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("http", &self.http)
            .field("observer", &self.observer.as_ref().map(|_| "set"))
            .finish()
    }
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
        Ok(Client::from_http(http))
    }

    /// Wraps an existing `reqwest::Client` (its own timeouts and pool settings apply).
    pub fn from_http(http: reqwest::Client) -> Client {
        Client {
            http,
            observer: None,
        }
    }

    /// The same client reporting every call to `observer` (latency metrics).
    pub fn with_observer(self, observer: Observer) -> Client {
        Client {
            observer: Some(observer),
            ..self
        }
    }

    /// GET `base/path?query`, returning status and body bytes.
    pub(crate) async fn get(
        &self,
        base: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let request = self.http.get(endpoint(base, path)).query(query);
        self.execute(path, request).await
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
        self.execute(path, request).await
    }

    /// [`execute`], timed and reported to the observer when there is one.
    async fn execute(
        &self,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let Some(observer) = &self.observer else {
            return execute(request).await;
        };
        let started = Instant::now();
        let result = execute(request).await;
        observer(endpoint_name(path), started.elapsed(), outcome(&result));
        result
    }
}

/// What an observer is told about a call: the errcode is read from the body, like [`decode`].
fn outcome(result: &Result<(u16, Vec<u8>), ApiError>) -> Outcome {
    match result {
        Ok((status, body)) => {
            let success = (200..300).contains(status);
            match serde_json::from_slice::<Envelope>(body) {
                Ok(Envelope {
                    errcode: Some(code),
                    ..
                }) if code != 0 => Outcome::Errcode(code),
                Ok(_) if success => Outcome::Ok,
                _ if !success => Outcome::HttpError(*status),
                _ => Outcome::BadBody,
            }
        }
        Err(ApiError::Timeout) => Outcome::Timeout,
        Err(ApiError::Decode(_)) => Outcome::BadBody,
        Err(_) => Outcome::TransportError,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_are_fixed_and_never_carry_the_query() {
        assert_eq!(endpoint_name("cgi-bin/stable_token"), "stable_token");
        assert_eq!(endpoint_name("cgi-bin/token"), "token");
        assert_eq!(endpoint_name("cgi-bin/user/get"), "user_get");
        assert_eq!(
            endpoint_name("/cgi-bin/user/info/batchget?access_token=SECRET"),
            "user_info_batchget"
        );
        assert_eq!(
            endpoint_name("cgi-bin/message/template/send"),
            "template_send"
        );
        assert_eq!(
            endpoint_name("cgi-bin/message/subscribe/send"),
            "subscribe_send"
        );
        assert_eq!(
            endpoint_name("cgi-bin/template/get_all_private_template"),
            "template_list"
        );
        assert_eq!(endpoint_name("cgi-bin/user/get/../../x"), "other");
        assert_eq!(endpoint_name("access_token=SECRET"), "other");
    }

    #[test]
    fn outcomes_read_the_errcode_before_the_status() {
        let ok = |status: u16, body: &str| outcome(&Ok((status, body.as_bytes().to_vec())));
        assert_eq!(ok(200, r#"{"errcode":0,"msgid":1}"#), Outcome::Ok);
        assert_eq!(ok(200, r#"{"total":1}"#), Outcome::Ok);
        assert_eq!(
            ok(200, r#"{"errcode":47003,"errmsg":"x"}"#),
            Outcome::Errcode(47003)
        );
        assert_eq!(ok(503, r#"{"errcode":-1}"#), Outcome::Errcode(-1));
        assert_eq!(ok(502, "<html>bad gateway</html>"), Outcome::HttpError(502));
        assert_eq!(ok(200, "<html></html>"), Outcome::BadBody);
        assert_eq!(outcome(&Err(ApiError::Timeout)), Outcome::Timeout);
        assert_eq!(
            outcome(&Err(ApiError::Transport("reset".into()))),
            Outcome::TransportError
        );
        assert_eq!(Outcome::Errcode(40001).as_str(), "errcode");
    }
}

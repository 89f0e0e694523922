//! Browser-facing protections: cross-site request rejection and security headers with a CSP nonce;
//! the in-process token buckets behind the rate limits (login, callback, Mini Program API).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use app::auth::ssr::LoginRateLimit;
use app::state::CspNonce;

/// Buckets kept before idle (full) ones are forgotten.
const MAX_TRACKED: usize = 10_000;

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// A token bucket per key (a client IP, an API-key hash, a username…), in this process's
/// memory: `burst` requests at once, then `rate` per second. With N processes behind a load
/// balancer, N times as much gets through.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// `per_minute` requests per minute, all of them at once if they come together.
    pub fn per_minute(per_minute: u32) -> Self {
        Self::new(f64::from(per_minute) / 60.0, f64::from(per_minute))
    }

    fn refill(b: &mut Bucket, rate: f64, burst: f64, now: Instant) {
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at = now;
    }

    /// Takes a token, or says how long until one is available.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        self.take(key, self.rate, self.burst, now)
    }

    /// [`RateLimiter::check`] at `rate` per second, a rate of the key's own (bursts of one
    /// second's worth).
    pub fn check_rate(&self, key: &str, rate: f64, now: Instant) -> Result<(), Duration> {
        self.take(key, rate, rate.max(1.0), now)
    }

    fn take(&self, key: &str, rate: f64, burst: f64, now: Instant) -> Result<(), Duration> {
        let mut map = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(key) {
            // Buckets that refilled to the limiter's burst are forgotten (a full one is new).
            map.retain(|_, b| {
                Self::refill(b, rate, burst, now);
                b.tokens < burst
            });
        }
        let bucket = map.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        Self::refill(bucket, rate, burst, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                ((1.0 - bucket.tokens) / rate).min(86_400.0),
            ))
        }
    }
}

/// Whole seconds to wait, rounded up, at least 1: what `Retry-After` says.
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// The login limits handed to the login server function as a request extension: one bucket per
/// client IP, checked first, and one per username (case-insensitive).
pub fn login_rate_limit(per_ip_per_min: u32, per_user_per_min: u32) -> LoginRateLimit {
    let per_ip = RateLimiter::per_minute(per_ip_per_min);
    let per_user = RateLimiter::per_minute(per_user_per_min);
    LoginRateLimit(Arc::new(move |ip: &str, username: &str| {
        let now = Instant::now();
        let user: String = username.trim().chars().take(64).collect();
        per_ip
            .check(ip, now)
            .and_then(|()| per_user.check(&user.to_lowercase(), now))
            .err()
            .map(retry_after_secs)
    }))
}

/// Origins a browser may send state-changing requests from.
#[derive(Clone, Debug)]
pub struct AllowedOrigins {
    pub public_url: String,
}

pub async fn security(
    State(allowed): State<AllowedOrigins>,
    mut req: Request<Body>,
    next: Next,
) -> Response {
    if is_cross_site(&req, &allowed) {
        return (StatusCode::FORBIDDEN, "cross-site request refused").into_response();
    }
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let csp = format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    res
}

/// A state-changing request a browser made on behalf of another site. Requests without the
/// browser headers (curl, WeChat's servers, the Mini Program backend) are not browser CSRF.
fn is_cross_site(req: &Request<Body>, allowed: &AllowedOrigins) -> bool {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    let headers = req.headers();
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    if origin == allowed.public_url {
        return false;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    host.is_empty() || origin_host != host
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: Method, headers: &[(&str, &str)]) -> Request<Body> {
        let mut b = Request::builder().method(method).uri("/api/login");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    fn allowed() -> AllowedOrigins {
        AllowedOrigins {
            public_url: "https://push.example.com".into(),
        }
    }

    #[test]
    fn same_origin_posts_pass() {
        let a = allowed();
        assert!(!is_cross_site(
            &req(Method::POST, &[("sec-fetch-site", "same-origin")]),
            &a
        ));
        assert!(!is_cross_site(
            &req(
                Method::POST,
                &[
                    ("origin", "http://127.0.0.1:3000"),
                    ("host", "127.0.0.1:3000")
                ]
            ),
            &a
        ));
        assert!(!is_cross_site(
            &req(Method::POST, &[("origin", "https://push.example.com")]),
            &a
        ));
        assert!(
            !is_cross_site(&req(Method::POST, &[]), &a),
            "non-browser clients pass"
        );
    }

    #[test]
    fn cross_site_posts_are_refused() {
        let a = allowed();
        assert!(is_cross_site(
            &req(Method::POST, &[("sec-fetch-site", "cross-site")]),
            &a
        ));
        assert!(is_cross_site(
            &req(Method::POST, &[("sec-fetch-site", "same-site")]),
            &a
        ));
        assert!(is_cross_site(
            &req(
                Method::POST,
                &[
                    ("origin", "https://evil.example"),
                    ("host", "127.0.0.1:3000")
                ]
            ),
            &a
        ));
        assert!(is_cross_site(
            &req(
                Method::POST,
                &[("origin", "null"), ("host", "127.0.0.1:3000")]
            ),
            &a
        ));
    }

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let limiter = RateLimiter::new(10.0, 3.0);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("k", t0).is_ok());
        }
        let wait = limiter.check("k", t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        assert!(limiter.check("other", t0).is_ok(), "buckets are per key");
        assert!(limiter.check("k", t0 + Duration::from_millis(100)).is_ok());
        assert!(limiter.check("k", t0 + Duration::from_millis(100)).is_err());
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(2001)), 3);
    }

    #[test]
    fn login_limits_by_ip_then_by_username() {
        let limit = login_rate_limit(2, 2);
        let check = |ip: &str, user: &str| (limit.0)(ip, user);
        assert_eq!(check("10.0.0.1", "alice"), None);
        assert_eq!(check("10.0.0.1", "bob"), None);
        let wait = check("10.0.0.1", "carol").expect("the address is limited");
        assert!((1..=30).contains(&wait), "{wait}");
        assert_eq!(
            check("10.0.0.2", "ALICE"),
            None,
            "names are case-insensitive"
        );
        assert!(
            check("10.0.0.3", "Alice").is_some(),
            "alice's third try this minute"
        );
    }

    #[test]
    fn reads_are_never_refused() {
        assert!(!is_cross_site(
            &req(Method::GET, &[("sec-fetch-site", "cross-site")]),
            &allowed()
        ));
    }
}

//! Browser-facing protections: cross-site request rejection and security headers with a CSP nonce.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use app::state::CspNonce;

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
    fn reads_are_never_refused() {
        assert!(!is_cross_site(
            &req(Method::GET, &[("sec-fetch-site", "cross-site")]),
            &allowed()
        ));
    }
}

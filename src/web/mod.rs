//! HTTP middleware and small routes around the Leptos app.

pub mod assets;
pub mod callback;
pub mod events;
pub mod export;
pub mod guard;
pub mod health;
pub mod metrics;
pub mod mp_api;
pub mod openapi;
pub mod security;
pub mod send_api;
pub mod server_fns;
pub mod sheets;

use axum::http::{header, HeaderMap};

/// The token of `Authorization: Bearer <token>` (the scheme in any case), if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_a_bearer_token_is_taken() {
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            bearer_token(&h).map(str::to_owned)
        };
        assert_eq!(with("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(with("bearer  abc ").as_deref(), Some("abc"));
        assert_eq!(with("Basic abc"), None);
        assert_eq!(with("Bearer"), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}

//! Server state handed to every route and server function.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

#[derive(Clone, Debug)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub engine: engine::Engine,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
    pub trust_forwarded_for: bool,
    /// How browsers and WeChat reach this console (callback URLs shown to admins).
    pub public_url: String,
    /// Cookies are marked `Secure` (the console is served over HTTPS).
    pub cookie_secure: bool,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The per-request CSP nonce, put into the request by the security middleware and used by the
/// hydration scripts.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

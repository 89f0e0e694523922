//! Access tokens: `cgi-bin/token` (rotates on every call, 5-minute grace) and
//! `cgi-bin/stable_token` (idempotent, pre-rotation, force_refresh) as separate families, and
//! the token check every other API performs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use parking_lot::RwLock;
use serde::Serialize;

use crate::errors::{wx_ok, WxError};
use crate::ids::{hash2, token_chars};
use crate::quota::Api;
use crate::state::{parse_params, AccountKind, Params, SimState};

/// How long a superseded `cgi-bin/token` token keeps working.
const GRACE_MS: i64 = 5 * 60 * 1000;
/// Minimum spacing of effective `force_refresh` calls.
const FORCE_SPACING_MS: i64 = 30 * 1000;
/// Expired or revoked tokens are forgotten this long after they stop working.
const FORGET_AFTER_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Basic,
    Stable,
}

#[derive(Debug, Clone)]
struct TokenRec {
    account: AccountKind,
    expires_ms: i64,
    /// From this instant on the token gives 40001.
    revoked_at_ms: Option<i64>,
    seq: u64,
}

#[derive(Debug, Default)]
struct Inner {
    by_token: HashMap<String, TokenRec>,
    current: HashMap<(AccountKind, u8), String>,
    last_force_ms: HashMap<AccountKind, i64>,
    next_seq: u64,
    min_valid_seq: u64,
}

/// Why a token does not work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    Valid(AccountKind),
    Unknown,
    Superseded,
    Expired,
}

/// All issued tokens.
#[derive(Debug)]
pub struct TokenStore {
    inner: RwLock<Inner>,
    lifetime_ms: i64,
    seed: u64,
}

/// `{"access_token":…,"expires_in":…}`.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: i64,
}

impl TokenStore {
    /// An empty store minting tokens that live `lifetime_secs`.
    pub fn new(lifetime_secs: u64, seed: u64) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            lifetime_ms: i64::try_from(lifetime_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 4),
            seed,
        }
    }

    fn family_key(account: AccountKind, family: Family) -> (AccountKind, u8) {
        (account, family as u8)
    }

    /// The state of `token` at `now`.
    pub fn check(&self, token: &str, now_ms: i64) -> TokenState {
        let inner = self.inner.read();
        let Some(rec) = inner.by_token.get(token) else {
            return TokenState::Unknown;
        };
        rec_state(rec, &inner, now_ms)
    }

    fn mint(&self, inner: &mut Inner, account: AccountKind, family: Family, now_ms: i64) -> String {
        if inner.by_token.len() > 4096 {
            inner.by_token.retain(|_, rec| {
                let dead_at = rec
                    .revoked_at_ms
                    .unwrap_or(rec.expires_ms)
                    .min(rec.expires_ms);
                now_ms - dead_at < FORGET_AFTER_MS
            });
        }
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let body = token_chars(
            hash2(self.seed ^ 0x706b, seq ^ (now_ms as u64).rotate_left(20)),
            133,
        );
        let token = format!("92_{body}");
        inner.by_token.insert(
            token.clone(),
            TokenRec {
                account,
                expires_ms: now_ms + self.lifetime_ms,
                revoked_at_ms: None,
                seq,
            },
        );
        inner
            .current
            .insert(Self::family_key(account, family), token.clone());
        token
    }

    /// `cgi-bin/token`: a new token; the previous one works for 5 more minutes.
    pub fn basic(&self, account: AccountKind, now_ms: i64) -> TokenResponse {
        let mut inner = self.inner.write();
        let key = Self::family_key(account, Family::Basic);
        if let Some(prev) = inner.current.get(&key).cloned() {
            if let Some(rec) = inner.by_token.get_mut(&prev) {
                let grace_end = now_ms + GRACE_MS;
                rec.revoked_at_ms = Some(rec.revoked_at_ms.map_or(grace_end, |r| r.min(grace_end)));
            }
        }
        let access_token = self.mint(&mut inner, account, Family::Basic, now_ms);
        TokenResponse {
            access_token,
            expires_in: self.lifetime_ms / 1000,
        }
    }

    /// `cgi-bin/stable_token` without force_refresh: the live token with its remaining life;
    /// in its last minutes (5, or half the lifetime if shorter) a new one, the old one keeping
    /// its natural expiry.
    pub fn stable(&self, account: AccountKind, now_ms: i64) -> TokenResponse {
        let mut inner = self.inner.write();
        if let Some((token, remaining)) = self.live_stable(&inner, account, now_ms) {
            if remaining > self.prerotate_window_ms() {
                return TokenResponse {
                    access_token: token,
                    expires_in: remaining / 1000,
                };
            }
        }
        let access_token = self.mint(&mut inner, account, Family::Stable, now_ms);
        TokenResponse {
            access_token,
            expires_in: self.lifetime_ms / 1000,
        }
    }

    /// `stable_token` with `force_refresh: true`: the old token stops working at once. Within
    /// 30 s of the previous effective force refresh nothing is refreshed (the live token is
    /// returned). `None` = the caller must check the force-refresh quota first and call
    /// [`TokenStore::force_refresh_now`].
    pub fn force_refresh_suppressed(
        &self,
        account: AccountKind,
        now_ms: i64,
    ) -> Option<TokenResponse> {
        let inner = self.inner.read();
        let last = inner.last_force_ms.get(&account).copied()?;
        if now_ms - last >= FORCE_SPACING_MS {
            return None;
        }
        self.live_stable(&inner, account, now_ms)
            .map(|(access_token, remaining)| TokenResponse {
                access_token,
                expires_in: remaining / 1000,
            })
    }

    /// Revokes the live stable token and mints a new one.
    pub fn force_refresh_now(&self, account: AccountKind, now_ms: i64) -> TokenResponse {
        let mut inner = self.inner.write();
        let key = Self::family_key(account, Family::Stable);
        if let Some(prev) = inner.current.get(&key).cloned() {
            if let Some(rec) = inner.by_token.get_mut(&prev) {
                rec.revoked_at_ms = Some(rec.revoked_at_ms.map_or(now_ms, |r| r.min(now_ms)));
            }
        }
        inner.last_force_ms.insert(account, now_ms);
        let access_token = self.mint(&mut inner, account, Family::Stable, now_ms);
        TokenResponse {
            access_token,
            expires_in: self.lifetime_ms / 1000,
        }
    }

    fn prerotate_window_ms(&self) -> i64 {
        GRACE_MS.min(self.lifetime_ms / 2)
    }

    fn live_stable(
        &self,
        inner: &Inner,
        account: AccountKind,
        now_ms: i64,
    ) -> Option<(String, i64)> {
        let token = inner
            .current
            .get(&Self::family_key(account, Family::Stable))?;
        let rec = inner.by_token.get(token)?;
        match rec_state(rec, inner, now_ms) {
            TokenState::Valid(_) => Some((token.clone(), rec.expires_ms - now_ms)),
            _ => None,
        }
    }

    /// Every token issued so far gives 40001 from now on.
    pub fn invalidate_all(&self) {
        let mut inner = self.inner.write();
        inner.min_valid_seq = inner.next_seq;
    }
}

fn rec_state(rec: &TokenRec, inner: &Inner, now_ms: i64) -> TokenState {
    if rec.seq < inner.min_valid_seq || rec.revoked_at_ms.is_some_and(|r| now_ms >= r) {
        TokenState::Superseded
    } else if now_ms >= rec.expires_ms {
        TokenState::Expired
    } else {
        TokenState::Valid(rec.account)
    }
}

/// The token check of every API: 41001 missing, 40014 unknown, 40001 superseded/revoked,
/// 42001 expired, 48001 another account's token.
pub fn authorize(state: &SimState, params: &Params, want: AccountKind) -> Result<(), WxError> {
    let token = params
        .get("access_token")
        .map(String::as_str)
        .unwrap_or_default();
    if token.is_empty() {
        return Err(WxError::new(41001));
    }
    match state.tokens.check(token, state.clock.now_ms()) {
        TokenState::Valid(account) if account == want => Ok(()),
        TokenState::Valid(_) => Err(WxError::new(48001)),
        TokenState::Unknown => Err(WxError::new(40014)),
        TokenState::Superseded => Err(WxError::new(40001)),
        TokenState::Expired => Err(WxError::new(42001)),
    }
}

/// Checks appid / grant_type / secret in WeChat's order: 41002, 40002, 40013, 41004, 40125.
fn credentials(
    state: &SimState,
    appid: Option<&str>,
    secret: Option<&str>,
    grant_type: Option<&str>,
) -> Result<AccountKind, WxError> {
    let appid = appid.unwrap_or_default();
    if appid.is_empty() {
        return Err(WxError::new(41002));
    }
    if grant_type != Some("client_credential") {
        return Err(WxError::new(40002));
    }
    let account = state.account_by_appid(appid).ok_or(WxError::new(40013))?;
    let secret = secret.unwrap_or_default();
    if secret.is_empty() {
        return Err(WxError::new(41004));
    }
    if secret != state.secret_of(account) {
        return Err(WxError::new(40125));
    }
    Ok(account)
}

/// `GET cgi-bin/token?grant_type=client_credential&appid=&secret=`.
pub async fn token(State(state): State<Arc<SimState>>, RawQuery(query): RawQuery) -> Response {
    let params = parse_params(query.as_deref());
    let account = match credentials(
        &state,
        params.get("appid").map(String::as_str),
        params.get("secret").map(String::as_str),
        params.get("grant_type").map(String::as_str),
    ) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let now = state.clock.now_ms();
    if !state.quotas.take(account, Api::Token, now) {
        return WxError::new(45009).into_response();
    }
    wx_ok(&state.tokens.basic(account, now))
}

/// `POST cgi-bin/stable_token` with a JSON body; anything else than JSON → 41002.
pub async fn stable_token(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let Ok(serde_json::Value::Object(req)) = serde_json::from_slice::<serde_json::Value>(&body)
    else {
        return WxError::new(41002).into_response();
    };
    let text = |k: &str| req.get(k).and_then(serde_json::Value::as_str);
    let account = match credentials(&state, text("appid"), text("secret"), text("grant_type")) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let force = match req.get("force_refresh") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Bool(b)) => *b,
        Some(_) => return WxError::new(47001).into_response(),
    };
    let now = state.clock.now_ms();
    if !state.quotas.take(account, Api::StableToken, now) {
        return WxError::new(45009).into_response();
    }
    if !force {
        return wx_ok(&state.tokens.stable(account, now));
    }
    if let Some(live) = state.tokens.force_refresh_suppressed(account, now) {
        return wx_ok(&live);
    }
    if !state.quotas.take(account, Api::ForceRefresh, now) {
        return WxError::new(45009).into_response();
    }
    wx_ok(&state.tokens.force_refresh_now(account, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn basic_tokens_rotate_with_grace() {
        let store = TokenStore::new(7200, 1);
        let a = store.basic(AccountKind::Oa, 0).access_token;
        assert!(a.starts_with("92_") && a.len() > 100);
        let b = store.basic(AccountKind::Oa, MIN).access_token;
        assert_ne!(a, b);
        assert_eq!(store.check(&a, 5 * MIN), TokenState::Valid(AccountKind::Oa));
        assert_eq!(store.check(&a, 6 * MIN), TokenState::Superseded);
        assert_eq!(store.check(&b, 6 * MIN), TokenState::Valid(AccountKind::Oa));
        assert_eq!(store.check(&b, 121 * MIN), TokenState::Expired);
        assert_eq!(store.check("92_nope", 0), TokenState::Unknown);
    }

    #[test]
    fn stable_tokens_are_idempotent_and_prerotate() {
        let store = TokenStore::new(7200, 1);
        let first = store.stable(AccountKind::Oa, 0);
        let again = store.stable(AccountKind::Oa, 10 * MIN);
        assert_eq!(first.access_token, again.access_token);
        assert_eq!(again.expires_in, 110 * 60);
        let late = store.stable(AccountKind::Oa, 116 * MIN);
        assert_ne!(late.access_token, first.access_token);
        assert_eq!(late.expires_in, 7200);
        assert_eq!(
            store.check(&first.access_token, 119 * MIN),
            TokenState::Valid(AccountKind::Oa)
        );
        assert_eq!(
            store.check(&first.access_token, 120 * MIN),
            TokenState::Expired
        );
        // The MP's stable token and the OA's basic tokens are separate.
        let mp = store.stable(AccountKind::Mp, 116 * MIN);
        assert_ne!(mp.access_token, late.access_token);
        let basic = store.basic(AccountKind::Oa, 116 * MIN);
        assert_eq!(
            store.check(&late.access_token, 200 * MIN),
            TokenState::Valid(AccountKind::Oa)
        );
        assert_ne!(basic.access_token, late.access_token);
    }

    #[test]
    fn force_refresh_revokes_and_invalidate_all_kills_everything() {
        let store = TokenStore::new(7200, 1);
        let old = store.stable(AccountKind::Oa, 0).access_token;
        assert!(store.force_refresh_suppressed(AccountKind::Oa, 0).is_none());
        let new = store.force_refresh_now(AccountKind::Oa, 0).access_token;
        assert_eq!(store.check(&old, 0), TokenState::Superseded);
        let within = store
            .force_refresh_suppressed(AccountKind::Oa, 10_000)
            .unwrap();
        assert_eq!(within.access_token, new);
        assert!(store
            .force_refresh_suppressed(AccountKind::Oa, 30_000)
            .is_none());
        store.invalidate_all();
        assert_eq!(store.check(&new, 1), TokenState::Superseded);
        let fresh = store.stable(AccountKind::Oa, 2).access_token;
        assert_ne!(fresh, new);
        assert_eq!(store.check(&fresh, 3), TokenState::Valid(AccountKind::Oa));
    }
}

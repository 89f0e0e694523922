//! `sns/jscode2session` and the login codes minted by the control API (single use, 5 minutes,
//! optionally "blocked").

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use rand::distr::Alphanumeric;
use rand::Rng;
use serde::Serialize;

use crate::errors::{wx_ok, WxError};
use crate::state::{parse_params, AccountKind, SimState};

/// How long a code can be exchanged.
pub const CODE_TTL_MS: i64 = 5 * 60 * 1000;
/// Used and expired codes are forgotten after this.
const CODE_FORGET_MS: i64 = 60 * 60 * 1000;

#[derive(Debug, Clone, Copy)]
struct Code {
    user: u32,
    issued_ms: i64,
    used: bool,
    blocked: bool,
}

/// Outstanding codes.
#[derive(Debug, Default)]
pub struct Codes {
    inner: Mutex<HashMap<String, Code>>,
}

impl Codes {
    /// A new 32-character code for MP user `user`.
    pub fn mint(&self, state: &SimState, user: u32, blocked: bool) -> String {
        let now = state.clock.now_ms();
        let code: String = {
            let mut rng = state.rng.lock();
            (0..32)
                .map(|_| char::from(rng.sample(Alphanumeric)))
                .collect()
        };
        let mut inner = self.inner.lock();
        if inner.len() > 10_000 {
            inner.retain(|_, c| now - c.issued_ms < CODE_FORGET_MS);
        }
        inner.insert(
            code.clone(),
            Code {
                user,
                issued_ms: now,
                used: false,
                blocked,
            },
        );
        code
    }

    /// Exchanges a code: 40029 unknown/expired, 40163 used, 40226 blocked.
    fn redeem(&self, code: &str, now_ms: i64) -> Result<u32, WxError> {
        let mut inner = self.inner.lock();
        let entry = inner.get_mut(code).ok_or(WxError::new(40029))?;
        if entry.used {
            return Err(WxError::new(40163));
        }
        if now_ms - entry.issued_ms >= CODE_TTL_MS {
            return Err(WxError::new(40029));
        }
        entry.used = true;
        if entry.blocked {
            return Err(WxError::new(40226));
        }
        Ok(entry.user)
    }
}

#[derive(Serialize)]
struct Session {
    openid: String,
    session_key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    unionid: Option<String>,
}

/// `GET sns/jscode2session?appid=&secret=&js_code=&grant_type=authorization_code`.
/// Checks: 41002 appid missing, 40013 not the MP, 41004 secret missing, 40125 wrong secret,
/// 40002 grant_type, 41008 js_code missing, then the code.
pub async fn jscode2session(State(state): State<Arc<SimState>>, RawQuery(q): RawQuery) -> Response {
    let params = parse_params(q.as_deref());
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    let result = (|| {
        if get("appid").is_empty() {
            return Err(WxError::new(41002));
        }
        if state.account_by_appid(get("appid")) != Some(AccountKind::Mp) {
            return Err(WxError::new(40013));
        }
        if get("secret").is_empty() {
            return Err(WxError::new(41004));
        }
        if get("secret") != state.config.mp_secret {
            return Err(WxError::new(40125));
        }
        if get("grant_type") != "authorization_code" {
            return Err(WxError::new(40002));
        }
        if get("js_code").is_empty() {
            return Err(WxError::new(41008));
        }
        state.codes.redeem(get("js_code"), state.clock.now_ms())
    })();
    let user = match result {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    let key: [u8; 16] = state.rng.lock().random();
    wx_ok(&Session {
        openid: state.mp.openid(user),
        session_key: base64_std(&key),
        unionid: state.mp.unionid(&state.population, user),
    })
}

/// Standard base64 with padding (session keys look like `tiihtNczf5v6AKRyjwEUhQ==`).
fn base64_std(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(A[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_known_values() {
        assert_eq!(super::base64_std(b"hello"), "aGVsbG8=");
        assert_eq!(super::base64_std(&[0u8; 16]), "AAAAAAAAAAAAAAAAAAAAAA==");
    }
}

//! Fault injection: latency and jitter, slow calls, HTTP 5xx, injected errcodes, lost responses;
//! applied by a middleware in front of every WeChat endpoint, drawn from a seeded RNG.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::{Mutex, RwLock};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{ErrorScope, FaultConfig};
use crate::errors::WxError;
use crate::state::SimState;

/// The faults in force and their RNG.
#[derive(Debug)]
pub struct FaultState {
    current: RwLock<Arc<FaultConfig>>,
    rng: Mutex<StdRng>,
}

impl FaultState {
    /// Starts with `config`.
    pub fn new(config: FaultConfig, seed: u64) -> Self {
        Self {
            current: RwLock::new(Arc::new(config)),
            rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0x000f_a017)),
        }
    }

    /// The faults in force.
    pub fn current(&self) -> Arc<FaultConfig> {
        self.current.read().clone()
    }

    /// Replaces the faults.
    pub fn set(&self, config: FaultConfig) {
        *self.current.write() = Arc::new(config);
    }

    /// A uniform draw in `[0, 1)`.
    pub fn draw(&self) -> f64 {
        self.rng.lock().random::<f64>()
    }

    /// A uniform draw in `0..=max`.
    pub fn draw_upto(&self, max: u64) -> u64 {
        if max == 0 {
            0
        } else {
            self.rng.lock().random_range(0..=max)
        }
    }
}

/// Whether a path is one of the two send endpoints.
pub fn is_send_path(path: &str) -> bool {
    path.ends_with("/message/template/send") || path.ends_with("/message/subscribe/send")
}

/// The errcode injected for a draw `u`, if any (rates are cumulative in errcode order).
fn pick_error(config: &FaultConfig, u: f64) -> Option<i64> {
    let mut acc = 0.0;
    for (&code, &rate) in &config.errors {
        acc += rate;
        if u < acc {
            return Some(code);
        }
    }
    None
}

fn gateway_error(status: StatusCode) -> Response {
    let text = format!(
        "<html>\r\n<head><title>{status}</title></head>\r\n<body>\r\n<center><h1>{status}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    let mut resp = (status, Body::from(text)).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
    resp
}

/// The middleware in front of the WeChat endpoints.
pub async fn inject(State(state): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    let config = state.current_faults();
    if config.is_quiet() {
        return next.run(req).await;
    }
    let faults = &state.faults;
    let mut delay = config.latency_ms + faults.draw_upto(config.jitter_ms);
    if config.slow_rate > 0.0 && faults.draw() < config.slow_rate {
        delay += config.slow_ms;
    }
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if config.http_5xx_rate > 0.0 && faults.draw() < config.http_5xx_rate {
        let status = if faults.draw() < 0.5 {
            StatusCode::BAD_GATEWAY
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return gateway_error(status);
    }
    let send = is_send_path(req.uri().path());
    if !config.errors.is_empty() && (send || config.error_scope == ErrorScope::All) {
        if let Some(code) = pick_error(&config, faults.draw()) {
            return WxError::new(code).into_response();
        }
    }
    let resp = next.run(req).await;
    if send && config.lost_response_rate > 0.0 && faults.draw() < config.lost_response_rate {
        return gateway_error(StatusCode::GATEWAY_TIMEOUT);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_error_rates() {
        let mut c = FaultConfig::default();
        c.errors.insert(-1, 0.1);
        c.errors.insert(45011, 0.2);
        assert_eq!(pick_error(&c, 0.05), Some(-1));
        assert_eq!(pick_error(&c, 0.25), Some(45011));
        assert_eq!(pick_error(&c, 0.5), None);
    }
}

//! A token bucket per account (GCRA): at most `rate` sends per second, bursts of a tenth of a second.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct Limiter {
    start: Instant,
    /// Theoretical arrival time of the next send, in seconds since `start`.
    tat: Mutex<f64>,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter {
            start: Instant::now(),
            tat: Mutex::new(0.0),
        }
    }
}

impl Limiter {
    /// Reserves one send at `rate` per second and returns how long to wait before it.
    pub(crate) fn reserve(&self, rate: i64) -> Duration {
        let rate = rate.max(1) as f64;
        let interval = 1.0 / rate;
        // A burst of up to a tenth of a second's worth (at least one message).
        let tolerance = ((rate / 10.0).floor().max(1.0) - 1.0) * interval;
        let now = self.start.elapsed().as_secs_f64();
        let mut tat = self.tat.lock().unwrap_or_else(|p| p.into_inner());
        let at = tat.max(now);
        *tat = at + interval;
        let wait = at - tolerance - now;
        if wait > 0.0 {
            Duration::from_secs_f64(wait)
        } else {
            Duration::ZERO
        }
    }

    /// Waits for a slot at `rate` per second.
    pub(crate) async fn acquire(&self, rate: i64) {
        let wait = self.reserve(rate);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spaces_sends_at_the_rate() {
        let l = Limiter::default();
        let waits: Vec<Duration> = (0..5).map(|_| l.reserve(10)).collect();
        // 10/s: a burst of one, then one every 100 ms.
        assert_eq!(waits[0], Duration::ZERO);
        assert!((waits[1].as_secs_f64() - 0.1).abs() < 5e-3);
        assert!((waits[4].as_secs_f64() - 0.4).abs() < 5e-3);
    }

    #[test]
    fn allows_a_short_burst_at_high_rates() {
        let l = Limiter::default();
        let waits: Vec<Duration> = (0..100).map(|_| l.reserve(1000)).collect();
        assert!(waits.iter().all(|w| w.is_zero()));
        assert!(l.reserve(1000) > Duration::ZERO);
    }
}

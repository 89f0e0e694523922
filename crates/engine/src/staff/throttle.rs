//! Login throttling by the source of the failures. A trusted device (a browser its staff member
//! logged in from before, known by its cookie) is locked after `LIMIT` failures of its own; any
//! other client after `LIMIT` failures for one username from its IP, `IP_LIMIT` from its IP for
//! any username, or when untrusted clients everywhere failed `UNTRUSTED_USER_LIMIT` times for
//! the username (guessing from many addresses). Nobody can lock a staff member out of their
//! own browser.

/// Failures that lock one source: a trusted device, or a username from one IP.
pub const LIMIT: usize = 5;
/// Failures from one IP, any usernames, that lock that IP for untrusted clients (offices share
/// an address, so more than `LIMIT`).
pub const IP_LIMIT: usize = 20;
/// Failures for one username from untrusted clients anywhere that lock it for them (a botnet);
/// its trusted devices still log in.
pub const UNTRUSTED_USER_LIMIT: usize = 50;
/// The window the failures are counted in: 15 minutes.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

/// How long a source must still wait, given the `limit`-th most recent of its failures within
/// the window (`None`: fewer failures, not locked). The lock lifts when that failure leaves the
/// window. (The database picks that failure: `auth::throttled_for`.)
pub fn wait_after(nth_failure_ms: Option<i64>, now_ms: i64) -> Option<i64> {
    nth_failure_ms
        .map(|at| at + WINDOW_MS - now_ms)
        .filter(|wait| *wait > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn fewer_failures_do_not_lock() {
        assert_eq!(wait_after(None, NOW), None);
    }

    #[test]
    fn the_lock_lasts_until_that_failure_leaves_the_window() {
        assert_eq!(
            wait_after(Some(NOW - 60_000), NOW),
            Some(WINDOW_MS - 60_000)
        );
        assert_eq!(wait_after(Some(NOW - WINDOW_MS), NOW), None);
        let wait = wait_after(Some(NOW - 1_000), NOW).unwrap();
        assert_eq!(wait_after(Some(NOW - 1_000), NOW + wait), None);
        assert!(wait_after(Some(NOW - 1_000), NOW + wait - 1).is_some());
    }
}

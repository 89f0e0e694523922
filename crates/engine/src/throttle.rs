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

/// Given the times of recent failures (any order), returns how many milliseconds remain until a
/// new attempt is allowed, or `None` when one is allowed now. The lock lifts when the oldest of
/// the last `limit` failures leaves the window.
pub fn locked_for_n(failures_ms: &[i64], now_ms: i64, limit: usize) -> Option<i64> {
    let limit = limit.max(1);
    let mut recent: Vec<i64> = failures_ms
        .iter()
        .copied()
        .filter(|t| *t > now_ms - WINDOW_MS && *t <= now_ms)
        .collect();
    if recent.len() < limit {
        return None;
    }
    recent.sort_unstable_by(|a, b| b.cmp(a));
    let oldest_of_last = recent[limit - 1];
    Some(oldest_of_last + WINDOW_MS - now_ms)
}

/// [`locked_for_n`] with the per-source `LIMIT`.
pub fn locked_for(failures_ms: &[i64], now_ms: i64) -> Option<i64> {
    locked_for_n(failures_ms, now_ms, LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn four_failures_do_not_lock() {
        let f = [NOW - 1000, NOW - 2000, NOW - 3000, NOW - 4000];
        assert_eq!(locked_for(&f, NOW), None);
    }

    #[test]
    fn five_failures_lock_until_the_oldest_leaves_the_window() {
        let f = [NOW - 1000, NOW - 2000, NOW - 3000, NOW - 4000, NOW - 60_000];
        assert_eq!(locked_for(&f, NOW), Some(WINDOW_MS - 60_000));
    }

    #[test]
    fn failures_older_than_the_window_do_not_count() {
        let f = [
            NOW - 1000,
            NOW - 2000,
            NOW - 3000,
            NOW - 4000,
            NOW - WINDOW_MS,
        ];
        assert_eq!(locked_for(&f, NOW), None);
    }

    #[test]
    fn with_many_failures_the_lock_follows_the_fifth_most_recent() {
        let f: Vec<i64> = (1..=8).map(|i| NOW - i * 1000).collect();
        assert_eq!(locked_for(&f, NOW), Some(WINDOW_MS - 5000));
    }

    #[test]
    fn lock_lifts_once_time_passes() {
        let f: Vec<i64> = (1..=5).map(|i| NOW - i * 1000).collect();
        let wait = locked_for(&f, NOW).unwrap();
        assert_eq!(locked_for(&f, NOW + wait), None);
        assert!(locked_for(&f, NOW + wait - 1).is_some());
    }
}

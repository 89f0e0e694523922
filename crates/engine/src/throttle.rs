//! Login throttling: after `LIMIT` failures for one username or one IP inside `WINDOW_MS`, refuse.

/// Failures that lock a username or an IP.
pub const LIMIT: usize = 5;
/// The window the failures are counted in: 15 minutes.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

/// Given the times of recent failures (any order), returns how many milliseconds remain until a
/// new attempt is allowed, or `None` when one is allowed now. The lock lifts when the oldest of
/// the last `LIMIT` failures leaves the window.
pub fn locked_for(failures_ms: &[i64], now_ms: i64) -> Option<i64> {
    let mut recent: Vec<i64> = failures_ms
        .iter()
        .copied()
        .filter(|t| *t > now_ms - WINDOW_MS && *t <= now_ms)
        .collect();
    if recent.len() < LIMIT {
        return None;
    }
    recent.sort_unstable_by(|a, b| b.cmp(a));
    let oldest_of_last = recent[LIMIT - 1];
    Some(oldest_of_last + WINDOW_MS - now_ms)
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

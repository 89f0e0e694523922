//! Daily call quotas per account and API, reset at Beijing midnight like WeChat's.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::clock::beijing_day;
use crate::state::AccountKind;

/// The APIs with a daily quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Token,
    StableToken,
    ForceRefresh,
    UserGet,
    UserInfo,
    TemplateSend,
    SubscribeSend,
}

const APIS: usize = 7;

/// Counters for both accounts.
#[derive(Debug)]
pub struct Quotas {
    counters: [[Mutex<(i64, u64)>; APIS]; 2],
    limits: [AtomicU64; APIS],
}

impl Quotas {
    /// Quotas with the given limits (0 = unlimited), indexed like [`Api`].
    pub fn new(limits: [u64; APIS]) -> Self {
        Self {
            counters: Default::default(),
            limits: limits.map(AtomicU64::new),
        }
    }

    /// Counts one call; `false` once the day's limit is reached.
    pub fn take(&self, account: AccountKind, api: Api, now_ms: i64) -> bool {
        let limit = self.limits[api as usize].load(Ordering::Relaxed);
        let day = beijing_day(now_ms);
        let mut counter = self.counters[account as usize][api as usize].lock();
        if counter.0 != day {
            *counter = (day, 0);
        }
        if limit != 0 && counter.1 >= limit {
            return false;
        }
        counter.1 += 1;
        true
    }

    /// Calls counted today.
    pub fn used(&self, account: AccountKind, api: Api, now_ms: i64) -> u64 {
        let counter = self.counters[account as usize][api as usize].lock();
        if counter.0 == beijing_day(now_ms) {
            counter.1
        } else {
            0
        }
    }

    /// Changes a limit at runtime.
    pub fn set_limit(&self, api: Api, limit: u64) {
        self.limits[api as usize].store(limit, Ordering::Relaxed);
    }

    /// The current limit.
    pub fn limit(&self, api: Api) -> u64 {
        self.limits[api as usize].load(Ordering::Relaxed)
    }

    /// Forgets today's counts (like WeChat's `clear_quota`).
    pub fn reset(&self) {
        for account in &self.counters {
            for counter in account {
                *counter.lock() = (0, 0);
            }
        }
    }
}

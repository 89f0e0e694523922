//! What accepting an API message reads again and again, kept for a second in this process: the
//! account with its linked Mini Program, a preset with its template, and the account's API job.
//! A change made by another process shows within a second, one made in this process at once.
//! Keys are not kept: a revoked key is refused by the next request, whichever process revoked it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::accounts::Account;
use crate::templates::presets::Preset;
use crate::templates::StoredTemplate;

/// How long a value is used before it is read again.
const FRESH: Duration = Duration::from_secs(1);
/// Entries kept at most per map (a map that grows past it starts over).
const MAX_ENTRIES: usize = 10_000;

/// Values of one kind, each fresh for [`FRESH`].
pub(crate) struct Fresh<K, V> {
    map: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Default for Fresh<K, V> {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Fresh<K, V> {
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(at, _)| at.elapsed() < FRESH)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn put(&self, key: K, value: V) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (Instant::now(), value));
    }

    pub(crate) fn clear(&self) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// An Official Account as a message needs it: itself, its linked Mini Program, and the AppIDs
/// its messages may open.
#[derive(Clone)]
pub(crate) struct AccountView {
    pub account: Account,
    pub mp: Option<Account>,
    pub linked: Vec<String>,
}

#[derive(Default)]
pub(crate) struct AcceptCache {
    pub accounts: Fresh<i64, AccountView>,
    pub presets: Fresh<i64, (Preset, StoredTemplate)>,
    /// Account id → its API job (which never goes away while the account exists).
    pub api_jobs: Fresh<i64, i64>,
}

impl AcceptCache {
    fn clear(&self) {
        self.accounts.clear();
        self.presets.clear();
        self.api_jobs.clear();
    }
}

impl crate::Engine {
    /// Forgets what accepting kept: an account, a preset or a template changed.
    pub(crate) fn forget_for_accepting(&self) {
        self.inner.accept_cache.clear();
    }
}

impl std::fmt::Debug for AcceptCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AcceptCache")
    }
}

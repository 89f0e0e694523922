//! The shared simulator state: accounts, population, tokens, templates, ledger, faults, callback.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::clock::Clock;
use crate::config::{FaultConfig, SimConfig};
use crate::error::SimError;
use crate::faults::FaultState;
use crate::followers::{Population, Subscriptions};
use crate::ids::{hash2, mix};
use crate::ledger::Ledger;
use crate::mp::MpUsers;
use crate::quota::{Api, Quotas};
use crate::receipts::{ActiveCallback, Receipts};
use crate::sns::Codes;
use crate::subscribe::Credits;
use crate::templates::{default_mp_templates, default_oa_templates, MpTemplate, OaTemplate};
use crate::tokens::TokenStore;

/// Query-string parameters.
pub type Params = HashMap<String, String>;

/// Parses a raw query string (lossy, never fails).
pub fn parse_params(raw: Option<&str>) -> Params {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default()
}

/// The two simulated accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// The Official Account.
    Oa = 0,
    /// The linked Mini Program.
    Mp = 1,
}

/// First msgid; real ones are 19-digit integers above 2^53.
const MSGID_BASE: i64 = 3_400_000_000_000_000_000;

/// Everything the handlers share. Obtain one with [`SimState::new`]; mount it with
/// [`crate::router`].
#[derive(Debug)]
pub struct SimState {
    pub(crate) config: SimConfig,
    pub(crate) clock: Clock,
    pub(crate) population: Population,
    pub(crate) subs: RwLock<Subscriptions>,
    pub(crate) mp: MpUsers,
    pub(crate) tokens: TokenStore,
    pub(crate) quotas: Quotas,
    pub(crate) oa_templates: RwLock<Vec<OaTemplate>>,
    pub(crate) mp_templates: RwLock<Vec<MpTemplate>>,
    pub(crate) ledger: Ledger,
    pub(crate) credits: Credits,
    pub(crate) codes: Codes,
    pub(crate) faults: FaultState,
    pub(crate) callback: RwLock<Option<Arc<ActiveCallback>>>,
    /// The Mini Program's server URL (subscribe-message events).
    pub(crate) mp_callback: RwLock<Option<Arc<ActiveCallback>>>,
    pub(crate) receipts: Receipts,
    /// Follower index → blocks the account (overrides `blocked_ratio`).
    pub(crate) blocked: RwLock<HashMap<u32, bool>>,
    /// Followers in the account's blacklist (template/send → 43019).
    pub(crate) blacklisted: RwLock<HashSet<u32>>,
    pub(crate) rng: Mutex<StdRng>,
    msgid_counter: AtomicU64,
    template_counter: AtomicU64,
}

impl SimState {
    /// Builds the state; cheap even for millions of followers.
    pub fn new(config: SimConfig) -> Result<Arc<Self>, SimError> {
        config.validate()?;
        let seed = config.seed;
        let population = Population::new(
            &config.oa_appid,
            config.followers,
            config.former_followers,
            config.unionid_ratio,
            seed,
        );
        let mp = MpUsers::new(
            &config.mp_appid,
            config.mp_users,
            config.matched_ratio,
            config.mp_unionid_ratio,
            &population,
            seed,
        );
        let subs = Subscriptions::new(&population, mp.matched_ranks());
        let limits = &config.limits;
        let quota = config.faults.quota.unwrap_or(config.template_send_quota);
        let mut quota_limits = [0u64; 7];
        quota_limits[Api::Token as usize] = limits.token;
        quota_limits[Api::StableToken as usize] = limits.stable_token;
        quota_limits[Api::ForceRefresh as usize] = limits.force_refresh;
        quota_limits[Api::UserGet as usize] = limits.user_get;
        quota_limits[Api::UserInfo as usize] = limits.user_info;
        quota_limits[Api::TemplateSend as usize] = quota;
        quota_limits[Api::SubscribeSend as usize] = limits.subscribe_send;
        let callback = match &config.callback {
            Some(cb) => Some(Arc::new(ActiveCallback::from_config(cb)?)),
            None => None,
        };
        let mp_callback = match &config.mp_callback {
            Some(cb) => Some(Arc::new(ActiveCallback::from_config(cb)?)),
            None => None,
        };
        let msgid_start = (mix(seed ^ 0x6d73_6769) % 1_000_000) * 1_000_000;
        Ok(Arc::new(Self {
            clock: Clock::default(),
            subs: RwLock::new(subs),
            tokens: TokenStore::new(config.token_lifetime_secs, seed),
            quotas: Quotas::new(quota_limits),
            oa_templates: RwLock::new(default_oa_templates(seed)),
            mp_templates: RwLock::new(default_mp_templates(seed)),
            ledger: Ledger::new(config.ledger_capacity),
            credits: Credits::default(),
            codes: Codes::default(),
            faults: FaultState::new(config.faults.clone(), seed),
            callback: RwLock::new(callback),
            mp_callback: RwLock::new(mp_callback),
            receipts: Receipts::new(&config.receipts),
            blocked: RwLock::new(HashMap::new()),
            blacklisted: RwLock::new(HashSet::new()),
            rng: Mutex::new(StdRng::seed_from_u64(seed ^ 0x0072_6e67)),
            msgid_counter: AtomicU64::new(msgid_start),
            template_counter: AtomicU64::new(0),
            population,
            mp,
            config,
        }))
    }

    /// The account an appid belongs to.
    pub(crate) fn account_by_appid(&self, appid: &str) -> Option<AccountKind> {
        if appid == self.config.oa_appid {
            Some(AccountKind::Oa)
        } else if appid == self.config.mp_appid {
            Some(AccountKind::Mp)
        } else {
            None
        }
    }

    /// The AppSecret of an account.
    pub(crate) fn secret_of(&self, account: AccountKind) -> &str {
        match account {
            AccountKind::Oa => &self.config.oa_secret,
            AccountKind::Mp => &self.config.mp_secret,
        }
    }

    /// A fresh 19-digit msgid, strictly increasing, with irregular gaps like real ones.
    pub(crate) fn next_msgid(&self) -> i64 {
        let n = self.msgid_counter.fetch_add(1, Ordering::Relaxed);
        let jitter = (mix(n ^ self.config.seed) % 4096) as i64;
        MSGID_BASE + (n as i64) * 4096 + jitter
    }

    /// A fresh id for an added template.
    pub(crate) fn next_template_seed(&self) -> u64 {
        hash2(
            self.config.seed ^ 0x0074_706c,
            self.template_counter.fetch_add(1, Ordering::Relaxed) + 1000,
        )
    }

    /// Whether follower `index` blocked the account.
    pub(crate) fn is_blocked(&self, index: u32) -> bool {
        if let Some(&b) = self.blocked.read().get(&index) {
            return b;
        }
        self.population
            .blocks_by_default(index, self.config.blocked_ratio)
    }

    /// The fault configuration in force.
    pub(crate) fn current_faults(&self) -> Arc<FaultConfig> {
        self.faults.current()
    }
}

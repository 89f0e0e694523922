//! Simulator configuration: accounts, population, limits, callback, faults; defaults and the sandbox demo.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::SimError;

/// Everything the simulator is started with. Runtime changes go through the control API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    /// The Official Account's appid (`wx` + 16 hex).
    pub oa_appid: String,
    /// The Official Account's AppSecret.
    pub oa_secret: String,
    /// The Official Account's original id (`gh_…`), `ToUserName` of every push.
    pub oa_gh_id: String,
    /// The linked Mini Program's appid.
    pub mp_appid: String,
    /// The linked Mini Program's AppSecret.
    pub mp_secret: String,
    /// The Mini Program's original id (`gh_…`), `ToUserName` of its pushes.
    pub mp_gh_id: String,
    /// Current followers of the OA at start (`user/get` total).
    pub followers: u32,
    /// Former followers (unsubscribed before start): absent from `user/get`, answer
    /// `user/info` with `subscribe: 0`, can be re-subscribed through the control API.
    pub former_followers: u32,
    /// Share of OA users (followers and former followers) that have a unionid.
    pub unionid_ratio: f64,
    /// Number of Mini Program users.
    pub mp_users: u32,
    /// Share of MP users whose unionid is the unionid of an OA user (capped by the number of
    /// OA users with a unionid). A few of those OA users may be former followers.
    pub matched_ratio: f64,
    /// Share of MP users that have a unionid at all (matched ones included); the rest of the
    /// unionid holders are people who never followed the OA.
    pub mp_unionid_ratio: f64,
    /// Seed of every generated id, attribute and random decision.
    pub seed: u64,
    /// Access-token lifetime (WeChat: 7200 s).
    pub token_lifetime_secs: u64,
    /// Daily quota of `message/template/send` (WeChat default 100,000). 0 = unlimited.
    pub template_send_quota: u64,
    /// Daily quotas of the other APIs.
    pub limits: ApiLimits,
    /// Pages of the released Mini Program (`miniprogram.pagepath` / `page` must be one of
    /// these, query string allowed).
    pub mp_pages: Vec<String>,
    /// Share of followers who blocked the account: their receipts say `failed:user block`.
    pub blocked_ratio: f64,
    /// Where receipts and follow events are pushed; `None` = no push.
    pub callback: Option<CallbackConfig>,
    /// The Mini Program's server URL: subscribe-message events (popup, change, sent) are pushed
    /// there, encrypted with the MP appid; `None` = no push.
    pub mp_callback: Option<CallbackConfig>,
    /// Faults active from the start.
    pub faults: FaultConfig,
    /// Receipt push behaviour.
    pub receipts: ReceiptConfig,
    /// How many accepted messages the ledger keeps with their full payload (counts are always
    /// exact; only the message list is bounded).
    pub ledger_capacity: usize,
}

/// Daily call quotas per account (Beijing day). 0 = unlimited.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ApiLimits {
    /// `cgi-bin/token` (WeChat: 2000/day).
    pub token: u64,
    /// `cgi-bin/stable_token` (WeChat: 500,000/day).
    pub stable_token: u64,
    /// `stable_token` with `force_refresh` (WeChat: 20/day).
    pub force_refresh: u64,
    /// `cgi-bin/user/get` (WeChat: 500/day).
    pub user_get: u64,
    /// `cgi-bin/user/info` and `user/info/batchget` together (WeChat: 5,000,000/day).
    pub user_info: u64,
    /// `message/subscribe/send` (WeChat: 10,000,000/day without WeChat Pay).
    pub subscribe_send: u64,
}

impl ApiLimits {
    /// No quota at all: for benchmarks, which measure wxpush rather than WeChat's quotas.
    pub fn unlimited() -> Self {
        Self {
            token: 0,
            stable_token: 0,
            force_refresh: 0,
            user_get: 0,
            user_info: 0,
            subscribe_send: 0,
        }
    }
}

impl Default for ApiLimits {
    fn default() -> Self {
        Self {
            token: 2000,
            stable_token: 500_000,
            force_refresh: 20,
            user_get: 500,
            user_info: 5_000_000,
            subscribe_send: 10_000_000,
        }
    }
}

/// How pushes to a server URL (the OA's or the MP's) are signed and encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CallbackMode {
    /// Plaintext XML, `signature` only.
    #[default]
    Plain,
    /// Plaintext fields plus `Encrypt` in the same XML, `encrypt_type=aes&msg_signature=`.
    Compat,
    /// Only `ToUserName` + `Encrypt`, `encrypt_type=aes&msg_signature=`.
    Safe,
}

/// A configured server URL (the OA's or the MP's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallbackConfig {
    /// Where events are POSTed.
    pub url: String,
    /// The callback Token (signatures).
    pub token: String,
    /// The 43-character EncodingAESKey (required for compat/safe).
    #[serde(default)]
    pub encoding_aes_key: Option<String>,
    /// Message encryption mode.
    #[serde(default)]
    pub mode: CallbackMode,
}

/// Which endpoints injected errcodes apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ErrorScope {
    /// `message/template/send` and `message/subscribe/send` only.
    #[default]
    Send,
    /// Every WeChat endpoint (token endpoints included).
    All,
}

/// Fault injection. Rates are probabilities in `[0, 1]`, drawn from the seeded RNG.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct FaultConfig {
    /// Fixed delay added to every WeChat API call.
    pub latency_ms: u64,
    /// Uniform random extra delay `0..=jitter_ms`.
    pub jitter_ms: u64,
    /// errcode → rate, e.g. `{"45011": 0.1, "-1": 0.05}`; the call is not processed.
    pub errors: BTreeMap<i64, f64>,
    /// Endpoints `errors` applies to.
    pub error_scope: ErrorScope,
    /// Share of calls answered with HTTP 502/503 (HTML body), not processed.
    pub http_5xx_rate: f64,
    /// Share of calls delayed by `slow_ms` on top of the latency (beyond client timeouts).
    pub slow_rate: f64,
    /// Delay of a slow call.
    pub slow_ms: u64,
    /// Share of send calls that ARE processed (delivered, recorded, receipt pushed) but whose
    /// response is lost: HTTP 504 with an HTML body. Tests idempotent retries.
    pub lost_response_rate: f64,
    /// Share of delivered template messages whose receipt says `failed: system failed`.
    pub receipt_failure_rate: f64,
    /// Overrides the template-send daily quota while set.
    pub quota: Option<u64>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            jitter_ms: 0,
            errors: BTreeMap::new(),
            error_scope: ErrorScope::Send,
            http_5xx_rate: 0.0,
            slow_rate: 0.0,
            slow_ms: 30_000,
            lost_response_rate: 0.0,
            receipt_failure_rate: 0.0,
            quota: None,
        }
    }
}

impl FaultConfig {
    /// Rejects rates outside `[0, 1]`.
    pub fn validate(&self) -> Result<(), SimError> {
        let rates = [
            ("http_5xx_rate", self.http_5xx_rate),
            ("slow_rate", self.slow_rate),
            ("lost_response_rate", self.lost_response_rate),
            ("receipt_failure_rate", self.receipt_failure_rate),
        ];
        for (name, rate) in rates {
            check_ratio(name, rate)?;
        }
        for (code, rate) in &self.errors {
            check_ratio(&format!("errors.{code}"), *rate)?;
        }
        let total: f64 = self.errors.values().sum();
        if total > 1.0 + 1e-9 {
            return Err(SimError::Config(format!(
                "error rates add up to {total}, more than 1"
            )));
        }
        Ok(())
    }

    /// `true` when nothing is injected.
    pub fn is_quiet(&self) -> bool {
        *self == Self::default()
    }
}

/// How receipts are pushed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ReceiptConfig {
    /// Pushes in flight at once.
    pub concurrency: usize,
    /// Per-attempt timeout (WeChat drops the connection after 5 s).
    pub timeout_ms: u64,
    /// Attempts in total (WeChat: 3).
    pub attempts: u32,
    /// Pause before a retry.
    pub retry_delay_ms: u64,
    /// Delay between an accepted send and its receipt push.
    pub delay_ms: u64,
}

impl Default for ReceiptConfig {
    fn default() -> Self {
        Self {
            concurrency: 32,
            timeout_ms: 5_000,
            attempts: 3,
            retry_delay_ms: 500,
            delay_ms: 0,
        }
    }
}

/// Pages of the demo Mini Program.
pub fn default_mp_pages() -> Vec<String> {
    [
        "pages/index/index",
        "pages/order/detail",
        "pages/order/list",
        "pages/user/center",
        "pages/coupon/list",
        "pages/message/detail",
    ]
    .iter()
    .map(|p| (*p).to_owned())
    .collect()
}

impl Default for SimConfig {
    /// A small, fast account pair (1,000 followers, 400 MP users) for tests.
    fn default() -> Self {
        Self {
            oa_appid: "wx5e1a00000000a001".into(),
            oa_secret: "5ec0a1b2c3d4e5f60718293a4b5c6d7e".into(),
            oa_gh_id: "gh_5e1a0000a001".into(),
            mp_appid: "wx5e1a00000000b002".into(),
            mp_secret: "5ec0b2c3d4e5f60718293a4b5c6d7e8f".into(),
            mp_gh_id: "gh_5e1a0000b002".into(),
            followers: 1_000,
            former_followers: 20,
            unionid_ratio: 0.7,
            mp_users: 400,
            matched_ratio: 0.6,
            mp_unionid_ratio: 0.9,
            seed: 20_240_601,
            token_lifetime_secs: 7200,
            template_send_quota: 100_000,
            limits: ApiLimits::default(),
            mp_pages: default_mp_pages(),
            blocked_ratio: 0.0,
            callback: None,
            mp_callback: None,
            faults: FaultConfig::default(),
            receipts: ReceiptConfig::default(),
            ledger_capacity: 100_000,
        }
    }
}

/// The sandbox: 20,000 followers (~70 % with unionid), 600 former followers, 8,000 MP users
/// (60 % matched), 1 % of followers blocking the account.
pub fn demo_config() -> SimConfig {
    SimConfig {
        followers: 20_000,
        former_followers: 600,
        unionid_ratio: 0.7,
        mp_users: 8_000,
        matched_ratio: 0.6,
        mp_unionid_ratio: 0.9,
        blocked_ratio: 0.01,
        ..SimConfig::default()
    }
}

fn check_ratio(name: &str, value: f64) -> Result<(), SimError> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(SimError::Config(format!(
            "{name} must be within 0..=1, got {value}"
        )))
    }
}

impl SimConfig {
    /// Rejects inconsistent settings.
    pub fn validate(&self) -> Result<(), SimError> {
        for (name, value) in [
            ("oa_appid", &self.oa_appid),
            ("oa_secret", &self.oa_secret),
            ("mp_appid", &self.mp_appid),
            ("mp_secret", &self.mp_secret),
            ("oa_gh_id", &self.oa_gh_id),
            ("mp_gh_id", &self.mp_gh_id),
        ] {
            if value.trim().is_empty() {
                return Err(SimError::Config(format!("{name} must not be empty")));
            }
        }
        if self.oa_appid == self.mp_appid {
            return Err(SimError::Config("oa_appid and mp_appid must differ".into()));
        }
        for (name, value) in [
            ("unionid_ratio", self.unionid_ratio),
            ("matched_ratio", self.matched_ratio),
            ("mp_unionid_ratio", self.mp_unionid_ratio),
            ("blocked_ratio", self.blocked_ratio),
        ] {
            check_ratio(name, value)?;
        }
        if self.matched_ratio > self.mp_unionid_ratio {
            return Err(SimError::Config(
                "matched_ratio cannot exceed mp_unionid_ratio".into(),
            ));
        }
        if u64::from(self.followers) + u64::from(self.former_followers) > u64::from(u32::MAX) {
            return Err(SimError::Config("too many followers".into()));
        }
        if self.token_lifetime_secs == 0 {
            return Err(SimError::Config("token_lifetime_secs must be > 0".into()));
        }
        if self.receipts.attempts == 0 || self.receipts.concurrency == 0 {
            return Err(SimError::Config(
                "receipts.attempts and receipts.concurrency must be > 0".into(),
            ));
        }
        for cb in [&self.callback, &self.mp_callback].into_iter().flatten() {
            crate::receipts::ActiveCallback::from_config(cb)?;
        }
        self.faults.validate()
    }
}

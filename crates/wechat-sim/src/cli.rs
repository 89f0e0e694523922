//! Command-line entry (`wxpush sim`): flags on top of the demo configuration, a printed summary,
//! serving until Ctrl-C / SIGTERM.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::config::{demo_config, CallbackConfig, CallbackMode, ErrorScope, SimConfig};
use crate::error::SimError;
use crate::handle::{start, SimHandle};

/// Flags of the simulator. Unset flags keep the values of [`demo_config`].
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "wechat-sim",
    about = "A faithful WeChat API simulator (OA + Mini Program)"
)]
pub struct SimArgs {
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub host: IpAddr,
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 8900)]
    pub port: u16,
    /// OA appid.
    #[arg(long)]
    pub appid: Option<String>,
    /// OA AppSecret.
    #[arg(long)]
    pub secret: Option<String>,
    /// OA original id (gh_…).
    #[arg(long)]
    pub gh_id: Option<String>,
    /// Mini Program appid.
    #[arg(long)]
    pub mp_appid: Option<String>,
    /// Mini Program AppSecret.
    #[arg(long)]
    pub mp_secret: Option<String>,
    /// Current followers at start.
    #[arg(long)]
    pub followers: Option<u32>,
    /// Former followers (unsubscribed) at start.
    #[arg(long)]
    pub former_followers: Option<u32>,
    /// Share of OA users with a unionid (0..=1).
    #[arg(long)]
    pub unionid_ratio: Option<f64>,
    /// Mini Program users.
    #[arg(long)]
    pub mp_users: Option<u32>,
    /// Share of MP users whose unionid is an OA user's (0..=1).
    #[arg(long)]
    pub matched_ratio: Option<f64>,
    /// Share of MP users with any unionid (0..=1).
    #[arg(long)]
    pub mp_unionid_ratio: Option<f64>,
    /// Seed of everything generated.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Access-token lifetime in seconds.
    #[arg(long)]
    pub token_lifetime: Option<u64>,
    /// Daily template/send quota (0 = unlimited).
    #[arg(long)]
    pub quota: Option<u64>,
    /// Lift the other daily API limits (token 2000, user/get 500, …) — for benchmarks.
    #[arg(long)]
    pub no_daily_limits: bool,
    /// Fixed latency added to every WeChat call.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Random extra latency 0..=N ms.
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
    /// Inject an errcode at a rate, e.g. `--error-rate 45011=0.1 --error-rate -1=0.05`.
    #[arg(long = "error-rate", value_parser = parse_error_rate, allow_hyphen_values = true)]
    pub error_rates: Vec<(i64, f64)>,
    /// Injected errors hit `send` endpoints only, or `all` endpoints.
    #[arg(long, value_parser = parse_scope)]
    pub error_scope: Option<ErrorScope>,
    /// Share of calls answered with HTTP 502/503.
    #[arg(long)]
    pub http_5xx_rate: Option<f64>,
    /// Share of calls delayed by --slow-ms.
    #[arg(long)]
    pub slow_rate: Option<f64>,
    /// Delay of a slow call.
    #[arg(long)]
    pub slow_ms: Option<u64>,
    /// Share of sends processed but answered with HTTP 504.
    #[arg(long)]
    pub lost_response_rate: Option<f64>,
    /// Share of receipts saying `failed: system failed`.
    #[arg(long)]
    pub receipt_failure_rate: Option<f64>,
    /// Share of followers who blocked the account (receipts `failed:user block`).
    #[arg(long)]
    pub blocked_ratio: Option<f64>,
    /// The OA's server URL receipts and follow events are pushed to.
    #[arg(long)]
    pub callback_url: Option<String>,
    /// The callback Token.
    #[arg(long, default_value = "wxpush")]
    pub callback_token: String,
    /// The callback EncodingAESKey (43 characters).
    #[arg(long)]
    pub callback_aes_key: Option<String>,
    /// plain | compat | safe.
    #[arg(long, value_parser = parse_mode)]
    pub callback_mode: Option<CallbackMode>,
}

fn parse_error_rate(s: &str) -> Result<(i64, f64), String> {
    let (code, rate) = s
        .split_once('=')
        .ok_or_else(|| format!("expected CODE=RATE, got `{s}`"))?;
    let code: i64 = code
        .trim()
        .parse()
        .map_err(|_| format!("bad errcode `{code}`"))?;
    let rate: f64 = rate
        .trim()
        .parse()
        .map_err(|_| format!("bad rate `{rate}`"))?;
    Ok((code, rate))
}

fn parse_scope(s: &str) -> Result<ErrorScope, String> {
    match s {
        "send" => Ok(ErrorScope::Send),
        "all" => Ok(ErrorScope::All),
        _ => Err("expected `send` or `all`".into()),
    }
}

fn parse_mode(s: &str) -> Result<CallbackMode, String> {
    match s {
        "plain" => Ok(CallbackMode::Plain),
        "compat" => Ok(CallbackMode::Compat),
        "safe" => Ok(CallbackMode::Safe),
        _ => Err("expected `plain`, `compat` or `safe`".into()),
    }
}

impl SimArgs {
    /// The configuration these flags describe ([`demo_config`] plus overrides).
    pub fn to_config(&self) -> Result<SimConfig, SimError> {
        let mut c = demo_config();
        macro_rules! set {
            ($($flag:ident => $field:expr),* $(,)?) => {
                $(if let Some(v) = self.$flag.clone() { $field = v; })*
            };
        }
        set! {
            appid => c.oa_appid,
            secret => c.oa_secret,
            gh_id => c.oa_gh_id,
            mp_appid => c.mp_appid,
            mp_secret => c.mp_secret,
            followers => c.followers,
            former_followers => c.former_followers,
            unionid_ratio => c.unionid_ratio,
            mp_users => c.mp_users,
            matched_ratio => c.matched_ratio,
            mp_unionid_ratio => c.mp_unionid_ratio,
            seed => c.seed,
            token_lifetime => c.token_lifetime_secs,
            quota => c.template_send_quota,
            blocked_ratio => c.blocked_ratio,
            error_scope => c.faults.error_scope,
            http_5xx_rate => c.faults.http_5xx_rate,
            slow_rate => c.faults.slow_rate,
            slow_ms => c.faults.slow_ms,
            lost_response_rate => c.faults.lost_response_rate,
            receipt_failure_rate => c.faults.receipt_failure_rate,
        }
        if self.no_daily_limits {
            let l = &mut c.limits;
            (
                l.token,
                l.stable_token,
                l.force_refresh,
                l.user_get,
                l.user_info,
                l.subscribe_send,
            ) = (0, 0, 0, 0, 0, 0);
        }
        c.faults.latency_ms = self.latency_ms;
        c.faults.jitter_ms = self.jitter_ms;
        c.faults.errors.extend(self.error_rates.iter().copied());
        if let Some(url) = &self.callback_url {
            c.callback = Some(CallbackConfig {
                url: url.clone(),
                token: self.callback_token.clone(),
                encoding_aes_key: self.callback_aes_key.clone(),
                mode: self
                    .callback_mode
                    .unwrap_or(if self.callback_aes_key.is_some() {
                        CallbackMode::Safe
                    } else {
                        CallbackMode::Plain
                    }),
            });
        }
        c.validate()?;
        Ok(c)
    }
}

/// The human-readable summary printed at start.
pub fn describe(handle: &SimHandle) -> String {
    let c = handle.config();
    let t = handle.truth();
    let mut out = String::new();
    let _ = writeln!(out, "wechat-sim listening on {}", handle.base_url);
    let _ = writeln!(
        out,
        "  OA  appid={} secret={} gh_id={}",
        c.oa_appid, c.oa_secret, c.oa_gh_id
    );
    let _ = writeln!(
        out,
        "  MP  appid={} secret={} gh_id={}",
        c.mp_appid, c.mp_secret, c.mp_gh_id
    );
    let _ = writeln!(
        out,
        "  followers={} (with unionid {}) former={} mp_users={} matched={} seed={}",
        t.followers, t.with_unionid, t.unsubscribed, t.mp_users, t.matched, c.seed
    );
    let _ = writeln!(
        out,
        "  token_lifetime={}s template_send_quota={} blocked_ratio={}",
        c.token_lifetime_secs, c.template_send_quota, c.blocked_ratio
    );
    match handle.callback() {
        Some(cb) => {
            let _ = writeln!(
                out,
                "  callback {} mode={:?} token={}",
                cb.url, cb.mode, cb.token
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  callback: none (POST {}/sim/accounts/oa/callback)",
                handle.base_url
            );
        }
    }
    if let Some(cb) = handle.mp_callback() {
        let _ = writeln!(
            out,
            "  MP callback {} mode={:?} token={}",
            cb.url, cb.mode, cb.token
        );
    }
    let f = handle.faults();
    if f.is_quiet() {
        let _ = writeln!(out, "  faults: none");
    } else {
        let _ = writeln!(
            out,
            "  faults: {}",
            serde_json::to_string(&f).unwrap_or_default()
        );
    }
    let _ = write!(
        out,
        "  control API: {}/sim/accounts, /sim/truth, /sim/ledger/summary",
        handle.base_url
    );
    out
}

async fn terminate_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Starts the simulator from flags, prints the effective configuration and serves until
/// Ctrl-C or SIGTERM.
pub async fn run_cli(args: SimArgs) -> Result<(), SimError> {
    let config = args.to_config()?;
    let mut handle = start(config, SocketAddr::new(args.host, args.port)).await?;
    println!("{}", describe(&handle));
    tokio::select! {
        _ = terminate_signal() => {}
        result = handle.serve_until_stopped() => return result,
    }
    handle.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_override_the_demo() {
        let args = SimArgs::try_parse_from([
            "sim",
            "--followers",
            "25001",
            "--error-rate",
            "45011=0.1",
            "--error-rate",
            "-1=0.05",
            "--callback-url",
            "http://127.0.0.1:9/cb",
        ])
        .unwrap();
        let c = args.to_config().unwrap();
        assert_eq!(c.followers, 25_001);
        assert_eq!(c.mp_users, 8_000);
        assert_eq!(c.faults.errors.get(&-1), Some(&0.05));
        assert_eq!(c.callback.unwrap().mode, CallbackMode::Plain);
        assert!(SimArgs::try_parse_from(["sim", "--error-rate", "x"]).is_err());
    }
}

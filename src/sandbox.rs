//! Sandbox mode: the WeChat simulator runs in-process with a demo Official Account and linked
//! Mini Program, registered as sandbox accounts so every screen can be tried without WeChat; the
//! simulator pushes its events (receipts, follows, subscribe popups) to wxpush's callback URLs.

use std::net::SocketAddr;

use engine::accounts::{AccountChanges, AccountKind, NewAccount, Secret};
use engine::audit::Actor;
use engine::Engine;
use wechat_sim::{CallbackConfig, CallbackMode, SimHandle};

/// When to start the sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SandboxMode {
    /// Never.
    Off,
    /// Always, beside any real accounts.
    On,
    /// Only while no real (non-sandbox) account is configured: what `make run` uses.
    Auto,
}

/// Starts the simulator and registers (or re-points) the sandbox accounts, if `mode` says so.
/// `addr` is where this wxpush listens: the simulator pushes events to its callback URLs.
pub async fn start(
    engine: &Engine,
    mode: SandboxMode,
    addr: SocketAddr,
) -> Result<Option<SimHandle>, String> {
    let accounts = engine.accounts().await.map_err(|e| e.to_string())?;
    let has_real = accounts.iter().any(|a| !a.sandbox);
    if mode == SandboxMode::Off || (mode == SandboxMode::Auto && has_real) {
        return Ok(None);
    }
    let sim = wechat_sim::start(wechat_sim::demo_config(), ([127, 0, 0, 1], 0).into())
        .await
        .map_err(|e| format!("cannot start the sandbox simulator: {e}"))?;
    let cfg = sim.config();
    let actor = Actor::system();
    let oa = register(
        engine,
        &actor,
        AccountKind::Oa,
        "沙箱公众号",
        &cfg.oa_appid,
        &cfg.oa_secret,
        &sim.base_url,
        None,
    )
    .await?;
    let mp = register(
        engine,
        &actor,
        AccountKind::Mp,
        "沙箱小程序",
        &cfg.mp_appid,
        &cfg.mp_secret,
        &sim.base_url,
        Some(oa),
    )
    .await?;
    seed_mp_users(engine, &actor, &sim, mp).await?;
    let base = callback_base(addr);
    for (id, mp_side) in [(oa, false), (mp, true)] {
        let account = engine
            .account(id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the sandbox account vanished")?;
        let callback = CallbackConfig {
            url: format!("{base}/wechat/callback/{}", account.appid),
            token: account.callback_token.expose().to_owned(),
            encoding_aes_key: None,
            mode: CallbackMode::Plain,
        };
        let set = if mp_side {
            sim.set_mp_callback(Some(callback))
        } else {
            sim.set_callback(Some(callback))
        };
        set.map_err(|e| format!("cannot point the sandbox simulator at wxpush: {e}"))?;
    }
    tracing::warn!(
        simulator = %sim.base_url,
        "SANDBOX: demo accounts talk to the built-in WeChat simulator; no real message is sent"
    );
    Ok(Some(sim))
}

/// Imports the demo Mini Program's users once, as an admin would with a CSV file, so matching
/// shows real figures right away.
async fn seed_mp_users(
    engine: &Engine,
    actor: &Actor,
    sim: &SimHandle,
    mp: i64,
) -> Result<(), String> {
    if engine.count_mp_users(mp).await.map_err(|e| e.to_string())? > 0 {
        return Ok(());
    }
    let mut csv = String::from("openid,unionid\n");
    for i in 0..sim.config().mp_users {
        if let Some(openid) = sim.mp_openid(i) {
            csv.push_str(&format!(
                "{openid},{}\n",
                sim.mp_unionid(i).unwrap_or_default()
            ));
        }
    }
    let report = engine
        .import_mp_users_csv(actor, mp, &csv)
        .await
        .map_err(|e| format!("cannot seed the sandbox Mini Program users: {e}"))?;
    tracing::info!(
        inserted = report.inserted,
        "sandbox Mini Program users imported"
    );
    Ok(())
}

/// The URL the in-process simulator reaches this server at (a wildcard address is reached on
/// loopback).
fn callback_base(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => "127.0.0.1".to_owned(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        ip => ip.to_string(),
    };
    format!("http://{ip}:{}", addr.port())
}

/// A callback token for a sandbox account that has none yet.
fn new_token() -> Secret {
    Secret::new(hex::encode(rand::random::<[u8; 16]>()))
}

#[allow(clippy::too_many_arguments)]
async fn register(
    engine: &Engine,
    actor: &Actor,
    kind: AccountKind,
    name: &str,
    appid: &str,
    secret: &str,
    base: &str,
    linked: Option<i64>,
) -> Result<i64, String> {
    let existing = engine
        .account_by_appid(appid)
        .await
        .map_err(|e| e.to_string())?;
    let account = match existing {
        Some(a) if a.sandbox => engine
            .update_account(
                actor,
                a.id,
                AccountChanges {
                    api_base: Some(base.into()),
                    secret: Some(Secret::new(secret)),
                    callback_token: (!a.callback_token.is_set()).then(new_token),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| e.to_string())?,
        Some(a) => {
            return Err(format!(
                "AppID {} is registered as a real account; sandbox not started",
                a.appid
            ))
        }
        None => engine
            .create_account(
                actor,
                NewAccount {
                    kind,
                    name: name.into(),
                    appid: appid.into(),
                    secret: Secret::new(secret),
                    callback_token: new_token(),
                    encoding_aes_key: Secret::default(),
                    api_base: base.into(),
                    linked_account_id: linked,
                    sandbox: true,
                },
            )
            .await
            .map_err(|e| e.to_string())?,
    };
    Ok(account.id)
}

//! Benchmark: syncs 1,000,000 followers from the in-process simulator into a fresh SQLite file,
//! with a linked Mini Program of 300,000 users, half of them matched (the counts at the end of
//! a sync look every one of them up), while 10 staff members log in, one after the other each.
//!
//! `cargo run --release -p engine --example bench_sync` prints `bench sync_1m_s`,
//! `bench sync_followers_per_s`, `bench sync_peak_rss_mb` (VmHWM of this process, simulator
//! included) and `bench login_p99_during_sync_ms`; phase timings go to stderr. With `-- --postgres` it syncs into a fresh database
//! beside `WXPUSH_TEST_POSTGRES_URL` instead and prefixes the names with `pg_`.

mod common;

use std::time::{Duration, Instant};

use engine::accounts::{AccountKind, NewAccount, Secret};
use engine::audit::Actor;
use engine::followers::sync::SyncState;
use engine::Engine;
use wechat_sim::SimConfig;

const FOLLOWERS: u32 = 1_000_000;
const MP_USERS: u32 = 300_000;
/// Staff members logging in during the sync, each in a loop.
const LOGIN_CLIENTS: usize = 10;
const LOGIN_PASSWORD: &str = "bench-login-password";
/// How often each client logs in.
const LOGIN_EVERY: Duration = Duration::from_secs(1);

/// Peak resident set size in MB, from `/proc/self/status` (0 where that does not exist).
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `RUST_LOG=engine=debug` shows the time of every commit.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let sim = wechat_sim::start(
        SimConfig {
            followers: FOLLOWERS,
            unionid_ratio: 0.7,
            mp_users: MP_USERS,
            matched_ratio: 0.5,
            mp_unionid_ratio: 0.9,
            limits: wechat_sim::ApiLimits::unlimited(),
            ..SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await?;
    let db = common::bench_database("sync").await?;
    let (url, prefix) = (db.url.clone(), db.prefix);
    // `make bench` serves this database afterwards, so the secrets go under its master key.
    let engine = match std::env::var(engine::accounts::vault::KEY_VAR) {
        Ok(text) => {
            Engine::open_with_key(&url, engine::accounts::vault::MasterKey::parse(&text)?).await?
        }
        Err(_) => Engine::open(&url).await?,
    };
    let account = engine
        .create_account(
            &Actor::cli(),
            NewAccount {
                kind: AccountKind::Oa,
                name: "bench".into(),
                appid: sim.config().oa_appid.clone(),
                secret: Secret::new(sim.config().oa_secret.clone()),
                callback_token: Secret::default(),
                encoding_aes_key: Secret::default(),
                api_base: sim.base_url.clone(),
                linked_account_id: None,
                sandbox: false,
            },
        )
        .await?;

    let mp = engine
        .create_account(
            &Actor::cli(),
            NewAccount {
                kind: AccountKind::Mp,
                name: "bench mp".into(),
                appid: sim.config().mp_appid.clone(),
                secret: Secret::new(sim.config().mp_secret.clone()),
                callback_token: Secret::default(),
                encoding_aes_key: Secret::default(),
                api_base: sim.base_url.clone(),
                linked_account_id: Some(account.id),
                sandbox: false,
            },
        )
        .await?;
    let imported = Instant::now();
    for part in (0..MP_USERS).collect::<Vec<_>>().chunks(150_000) {
        let mut csv = String::from("openid,unionid\n");
        for &i in part {
            if let Some(openid) = sim.mp_openid(i) {
                csv.push_str(&format!(
                    "{openid},{}\n",
                    sim.mp_unionid(i).unwrap_or_default()
                ));
            }
        }
        engine
            .import_mp_users_csv(&Actor::cli(), mp.id, &csv)
            .await?;
    }
    eprintln!(
        "{MP_USERS} Mini Program users imported in {:.1} s",
        imported.elapsed().as_secs_f64()
    );
    for i in 0..LOGIN_CLIENTS {
        engine
            .create_staff(
                &Actor::cli(),
                &format!("bench.login{i}"),
                LOGIN_PASSWORD,
                engine::Role::Operator,
            )
            .await?;
    }

    // The sync on its own.
    let (secs, _) = timed_sync(&engine, account.id, 0).await?;
    let stats = engine
        .follower_stats(account.id)
        .await?
        .ok_or("no follower counts after the sync")?;
    let truth = sim.truth();
    eprintln!(
        "followers {} subscribed {} with_unionid {} matched {} mp_users {} (truth {} / {})",
        stats.followers,
        stats.subscribed,
        stats.with_unionid,
        stats.matched,
        stats.mp_users,
        truth.subscribed,
        truth.with_unionid
    );
    if stats.mp_users != i64::from(MP_USERS) || stats.matched < i64::from(MP_USERS) / 3 {
        return Err(format!("the Mini Program users were not counted: {stats:?}").into());
    }
    println!("bench {prefix}sync_1m_s {secs:.2} s");
    println!(
        "bench {prefix}sync_followers_per_s {:.0} followers/s",
        f64::from(FOLLOWERS) / secs
    );
    println!("bench {prefix}sync_peak_rss_mb {:.1} MB", peak_rss_mb());

    // The same sync again (the daily case) while staff log in.
    let (again, mut login_ms) = timed_sync(&engine, account.id, LOGIN_CLIENTS).await?;
    login_ms.sort_by(f64::total_cmp);
    let at = |q: usize| {
        login_ms
            .get((login_ms.len() * q).div_ceil(100).saturating_sub(1))
            .copied()
            .unwrap_or(f64::NAN)
    };
    eprintln!(
        "re-sync with {LOGIN_CLIENTS} clients logging in: {again:.2} s; {} logins, median {:.0} ms, \
         p99 {:.0} ms, max {:.0} ms",
        login_ms.len(),
        at(50),
        at(99),
        login_ms.last().copied().unwrap_or(f64::NAN)
    );
    println!("bench {prefix}login_p99_during_sync_ms {:.0} ms", at(99));

    drop(engine);
    sim.shutdown().await;
    drop(db);
    Ok(())
}

/// Syncs `account_id` once while `clients` staff members log in, one login after the other
/// each; returns the sync's seconds and every login's milliseconds (a failed login is an
/// error).
async fn timed_sync(
    engine: &Engine,
    account_id: i64,
    clients: usize,
) -> Result<(f64, Vec<f64>), Box<dyn std::error::Error>> {
    let started = Instant::now();
    let run_id = engine.start_sync(&Actor::cli(), account_id).await?;
    let syncing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let logins: Vec<_> = (0..clients)
        .map(|i| {
            let engine = engine.clone();
            let syncing = syncing.clone();
            tokio::spawn(async move {
                let mut times = Vec::new();
                let ip = format!("198.51.100.{i}");
                while syncing.load(std::sync::atomic::Ordering::Relaxed) {
                    let at = Instant::now();
                    engine
                        .login(&format!("bench.login{i}"), LOGIN_PASSWORD, &ip)
                        .await
                        .map_err(|e| format!("a login failed during the sync: {e}"))?;
                    times.push(at.elapsed().as_secs_f64() * 1000.0);
                    // A person logs in, then again: one login a second per client.
                    tokio::time::sleep(LOGIN_EVERY.saturating_sub(at.elapsed())).await;
                }
                Ok::<_, String>(times)
            })
        })
        .collect();
    let watcher = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut state = SyncState::Listing;
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let Ok(Some(p)) = engine.sync_run(run_id).await else {
                    return;
                };
                if p.state != state {
                    eprintln!(
                        "{:>6.2} s  {} → {} (listed {}, detailed {})",
                        started.elapsed().as_secs_f64(),
                        state.as_str(),
                        p.state.as_str(),
                        p.listed,
                        p.detailed
                    );
                    state = p.state;
                }
                if p.is_finished() {
                    return;
                }
            }
        })
    };
    let progress = engine.run_sync(run_id).await?;
    let secs = started.elapsed().as_secs_f64();
    syncing.store(false, std::sync::atomic::Ordering::Relaxed);
    let mut login_ms = Vec::new();
    for task in logins {
        login_ms.extend(task.await??);
    }
    let _ = watcher.await;
    if progress.state != SyncState::Done || progress.listed != i64::from(FOLLOWERS) {
        return Err(format!("the sync did not complete: {progress:?}").into());
    }
    Ok((secs, login_ms))
}

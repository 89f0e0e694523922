//! Benchmark: syncs 1,000,000 followers from the in-process simulator into a fresh SQLite file.
//!
//! `cargo run --release -p engine --example bench_sync` prints `bench sync_1m_s`,
//! `bench sync_followers_per_s` and `bench sync_peak_rss_mb` (VmHWM of this process, simulator
//! included); phase timings go to stderr. With `-- --postgres` it syncs into a fresh database
//! beside `WXPUSH_TEST_POSTGRES_URL` instead and prefixes the names with `pg_`.

mod common;

use std::time::{Duration, Instant};

use engine::accounts::{AccountKind, NewAccount, Secret};
use engine::audit::Actor;
use engine::Engine;
use wechat_sim::SimConfig;

const FOLLOWERS: u32 = 1_000_000;

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
            limits: wechat_sim::ApiLimits::unlimited(),
            ..SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await?;
    let db = common::bench_database("sync").await?;
    let (url, prefix) = (db.url.clone(), db.prefix);
    // `make bench` serves this database afterwards, so the secrets go under its master key.
    let engine = match std::env::var(engine::vault::KEY_VAR) {
        Ok(text) => Engine::open_with_key(&url, engine::vault::MasterKey::parse(&text)?).await?,
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

    let started = Instant::now();
    let run_id = engine.start_sync(&Actor::cli(), account.id).await?;
    let watcher = {
        let engine = engine.clone();
        tokio::spawn(async move {
            let mut state = String::from("listing");
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let Ok(Some(p)) = engine.sync_run(run_id).await else {
                    return;
                };
                if p.state != state {
                    eprintln!(
                        "{:>6.2} s  {} → {} (listed {}, detailed {})",
                        started.elapsed().as_secs_f64(),
                        state,
                        p.state,
                        p.listed,
                        p.detailed
                    );
                    state = p.state.clone();
                }
                if p.is_finished() {
                    return;
                }
            }
        })
    };
    let progress = engine.run_sync(run_id).await?;
    let secs = started.elapsed().as_secs_f64();
    let _ = watcher.await;
    if progress.state != "done" || progress.listed != i64::from(FOLLOWERS) {
        return Err(format!("the sync did not complete: {progress:?}").into());
    }
    let stats = engine.recompute_stats(account.id).await?;
    let truth = sim.truth();
    eprintln!(
        "followers {} subscribed {} with_unionid {} (truth {} / {})",
        stats.followers, stats.subscribed, stats.with_unionid, truth.subscribed, truth.with_unionid
    );

    println!("bench {prefix}sync_1m_s {secs:.2} s");
    println!(
        "bench {prefix}sync_followers_per_s {:.0} followers/s",
        f64::from(FOLLOWERS) / secs
    );
    println!("bench {prefix}sync_peak_rss_mb {:.1} MB", peak_rss_mb());

    drop(engine);
    sim.shutdown().await;
    drop(db);
    Ok(())
}

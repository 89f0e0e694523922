//! Benchmark: send jobs against the in-process simulator.
//!
//! `cargo run --release -p engine --example bench_dispatch` prints
//! - `bench dispatch_vs_sim_ratio`: the dispatcher's throughput on a job of N recipients divided
//!   by the simulator's raw capacity — a plain reqwest loop sending N valid template messages with
//!   unique client_msg_ids, measured before and after the job (the mean) — at the same
//!   concurrency and 2 ms simulated latency (goal ≥ 0.9);
//! - `bench dispatch_msgs_per_s`: that dispatcher throughput;
//! - `bench dispatch_100k_20ms_s`: a job of 100,000 followers with 20 ms simulated latency;
//! - `bench dispatch_100k_duplicates`: messages WeChat delivered twice in that run (must be 0).
//!
//! SQLite in a temporary folder by default (`WXPUSH_BENCH_DB=PATH` for another file); with
//! `-- --postgres` a fresh database beside `WXPUSH_TEST_POSTGRES_URL`, names prefixed `pg_`.
//! `WXPUSH_BENCH_RATIO_N` (default 30,000) and `WXPUSH_BENCH_CONCURRENCY` (default 64) tune the
//! ratio run; `WXPUSH_BENCH_100K_CONCURRENCY` (default 256) the 100k run.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::accounts::{Account, AccountKind, NewAccount, Secret};
use engine::audit::Actor;
use engine::followers::sync::SyncState;
use engine::jobs::{DispatchConfig, JobState, RecipientSource};
use engine::templates::presets::PresetInput;
use engine::testing::cpu_secs;
use engine::Engine;
use message::{FieldValue, PresetBody};
use wechat::api::TemplateMessage;
use wechat_sim::{FaultConfig, SimConfig, SimHandle};

const FOLLOWERS: u32 = 100_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn latency(ms: u64) -> FaultConfig {
    FaultConfig {
        latency_ms: ms,
        ..FaultConfig::default()
    }
}

async fn setup(
    engine: &Engine,
    sim: &SimHandle,
) -> Result<(Account, i64), Box<dyn std::error::Error>> {
    let actor = Actor::cli();
    let cfg = sim.config();
    let account = engine
        .create_account(
            &actor,
            NewAccount {
                kind: AccountKind::Oa,
                name: "bench".into(),
                appid: cfg.oa_appid.clone(),
                secret: Secret::new(cfg.oa_secret.clone()),
                callback_token: Secret::default(),
                encoding_aes_key: Secret::default(),
                api_base: sim.base_url.clone(),
                linked_account_id: None,
                sandbox: false,
            },
        )
        .await?;
    let started = Instant::now();
    let run = engine.start_sync(&actor, account.id).await?;
    let synced = engine.run_sync(run).await?;
    if synced.state != SyncState::Done {
        return Err(format!("follower sync failed: {synced:?}").into());
    }
    eprintln!(
        "synced {} followers in {:.2} s",
        synced.listed,
        started.elapsed().as_secs_f64()
    );
    engine.sync_templates(&actor, &account).await?;
    let template_ref = engine
        .templates_of(account.id, true)
        .await?
        .into_iter()
        .find(|t| t.remote.title == "订单状态通知")
        .ok_or("template 订单状态通知 missing")?
        .id;
    let values = [
        ("thing1", "无线蓝牙耳机"),
        ("character_string2", "20231018123456"),
        ("time3", "2023年10月18日 14:30"),
        ("amount4", "¥199.00"),
        ("const5", "已发货"),
    ]
    .into_iter()
    .map(|(k, v)| {
        (
            k.to_owned(),
            FieldValue {
                value: v.to_owned(),
                color: String::new(),
            },
        )
    })
    .collect();
    let preset = engine
        .create_preset(
            &actor,
            &account,
            PresetInput {
                name: "bench".into(),
                template_ref,
                body: PresetBody {
                    values,
                    ..PresetBody::default()
                },
            },
        )
        .await?;
    Ok((account, preset.id))
}

/// The simulator's raw capacity: `concurrency` workers sending `openids` as fast as it answers,
/// each request built and read the way the WeChat client does (typed body, whole answer).
async fn raw_capacity(
    base: &str,
    token: &str,
    body: TemplateMessage,
    openids: Arc<Vec<String>>,
    concurrency: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(15))
        .build()?;
    let url = format!("{base}/cgi-bin/message/template/send?access_token={token}");
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, url, body, openids) =
                (http.clone(), url.clone(), body.clone(), openids.clone());
            let (next, errors) = (next.clone(), errors.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(openid) = openids.get(i) else {
                        return;
                    };
                    let mut m = body.clone();
                    m.touser.clone_from(openid);
                    m.client_msg_id = Some(format!("raw-{i}"));
                    let ok = match http.post(&url).json(&m).send().await {
                        Ok(r) => r
                            .bytes()
                            .await
                            .is_ok_and(|b| b.windows(12).any(|w| w == b"\"errcode\":0,")),
                        Err(_) => false,
                    };
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let errors = errors.load(Ordering::Relaxed);
    if errors > 0 {
        return Err(format!("{errors} raw sends failed").into());
    }
    Ok(openids.len() as f64 / secs)
}

/// Runs a job to the end with a fresh dispatcher; returns the seconds from start to done.
async fn run_job(
    engine: &Engine,
    job_id: i64,
    config: DispatchConfig,
) -> Result<f64, Box<dyn std::error::Error>> {
    let started = Instant::now();
    let dispatcher = engine.start_dispatcher(config);
    let mut last_report = Instant::now();
    loop {
        let job = engine.job(job_id).await?.ok_or("job gone")?;
        if job.state == JobState::Done {
            break;
        }
        if job.state != JobState::Running {
            dispatcher.abort();
            return Err(format!("job stopped: {job:?}").into());
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            last_report = Instant::now();
            if let Some(p) = engine.job_progress(job_id).await? {
                eprintln!(
                    "{:>6.1} s  sent {} pending {} sending {} failed {} ({:.0}/s)",
                    started.elapsed().as_secs_f64(),
                    p.sent,
                    p.pending,
                    p.sending,
                    p.failed,
                    p.rate_per_s
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    dispatcher.abort();
    let _ = dispatcher.await;
    Ok(secs)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let ratio_n = env_usize("WXPUSH_BENCH_RATIO_N", 30_000).min(FOLLOWERS as usize);
    let concurrency = env_usize("WXPUSH_BENCH_CONCURRENCY", 64);
    let big_concurrency = env_usize("WXPUSH_BENCH_100K_CONCURRENCY", 256);
    let sim = wechat_sim::start(
        SimConfig {
            // A fresh appid per run: a kept database may hold the sync bench's account.
            oa_appid: format!("wxd1{:014x}", std::process::id()),
            followers: FOLLOWERS,
            former_followers: 0,
            mp_users: 10,
            template_send_quota: 0,
            limits: wechat_sim::ApiLimits::unlimited(),
            ledger_capacity: 1_000,
            ..SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await?;
    let db = common::bench_database("dispatch").await?;
    let (url, prefix) = (db.url.clone(), db.prefix);
    let engine = Engine::open(&url).await?;
    let (account, preset_id) = setup(&engine, &sim).await?;
    let actor = Actor::cli();
    // One operator runs the benchmark: its 100,000-recipient job needs no second admin.
    engine
        .set_approval_threshold(&actor, model::rules::APPROVAL_THRESHOLD_MAX)
        .await?;

    // 1. Raw capacity versus the dispatcher, same N, concurrency and latency.
    let openids = Arc::new(sim.followers_openids(0..ratio_n as u32));
    let preset = engine.preset(preset_id).await?.ok_or("preset")?;
    let body: TemplateMessage = serde_json::from_value(
        engine
            .preset_payload(&account, &preset, "", None)
            .await?
            .to_json(),
    )?;
    let token = engine.access_token(&account).await?;
    sim.set_faults(latency(2))?;
    let cpu = cpu_secs("self");
    let raw_before = raw_capacity(
        &sim.base_url,
        &token,
        body.clone(),
        openids.clone(),
        concurrency,
    )
    .await?;
    let raw_cpu = (cpu_secs("self") - cpu) / ratio_n as f64;
    sim.reset_ledger();
    let job = engine
        .create_job(
            &actor,
            &account,
            preset_id,
            "ratio",
            &RecipientSource::Openids(openids.to_vec()),
            model::rules::RATE_LIMIT_MAX,
        )
        .await?;
    eprintln!("raw capacity {raw_before:.0}/s; dispatching the same {ratio_n}…");
    let cpu = cpu_secs("self");
    let secs = run_job(
        &engine,
        job.id,
        DispatchConfig {
            concurrency,
            ..DispatchConfig::default()
        },
    )
    .await?;
    let dispatch_cpu = (cpu_secs("self") - cpu) / ratio_n as f64;
    let dispatched = ratio_n as f64 / secs;
    let ledger = sim.ledger_summary();
    if ledger.template_sends != ratio_n as u64 || ledger.duplicates_delivered != 0 {
        return Err(format!("ratio run delivered wrongly: {ledger:?}").into());
    }
    // Raw capacity again: the mean of before and after cancels drift in the machine's load.
    sim.reset_ledger();
    let raw_after = raw_capacity(&sim.base_url, &token, body, openids.clone(), concurrency).await?;
    let raw = (raw_before + raw_after) / 2.0;
    eprintln!(
        "N {ratio_n}, concurrency {concurrency}, 2 ms latency: raw {raw_before:.0}/s then {raw_after:.0}/s, dispatcher {dispatched:.0}/s; \
         CPU per message (simulator included): raw {:.0} µs, dispatcher {:.0} µs",
        raw_cpu * 1e6,
        dispatch_cpu * 1e6
    );
    println!(
        "bench {prefix}dispatch_vs_sim_ratio {:.3} ratio",
        dispatched / raw
    );
    println!("bench {prefix}dispatch_msgs_per_s {dispatched:.0} msg/s");

    // 2. 100,000 followers, 20 ms latency (`WXPUSH_BENCH_SKIP_100K` skips it).
    if std::env::var("WXPUSH_BENCH_SKIP_100K").is_err() {
        hundred_k(&engine, &sim, &account, preset_id, big_concurrency, prefix).await?;
    }

    drop(engine);
    sim.shutdown().await;
    drop(db);
    Ok(())
}

/// A job to every one of the 100,000 followers against 20 ms of simulated latency.
async fn hundred_k(
    engine: &Engine,
    sim: &SimHandle,
    account: &Account,
    preset_id: i64,
    big_concurrency: usize,
    prefix: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let actor = Actor::cli();
    sim.reset_ledger();
    sim.set_faults(latency(20))?;
    let started = Instant::now();
    let job = engine
        .create_job(
            &actor,
            account,
            preset_id,
            "100k",
            &RecipientSource::AllSubscribed,
            model::rules::RATE_LIMIT_MAX,
        )
        .await?;
    eprintln!(
        "100k job created (recipients frozen) in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let secs = run_job(
        engine,
        job.id,
        DispatchConfig {
            concurrency: big_concurrency,
            ..DispatchConfig::default()
        },
    )
    .await?;
    let timed = Instant::now();
    let p = engine.job_progress(job.id).await?.ok_or("job")?;
    let progress_ms = timed.elapsed().as_secs_f64() * 1e3;
    let timed = Instant::now();
    let sent_today = engine.sent_today(account.id).await?;
    let sent_today_ms = timed.elapsed().as_secs_f64() * 1e3;
    let timed = Instant::now();
    let page = engine
        .job_recipients(
            job.id,
            &engine::jobs::RecipientFilter {
                state: Some(engine::jobs::RecipientState::Sent),
                ..Default::default()
            },
            50_000,
            51,
        )
        .await?;
    let page_ms = timed.elapsed().as_secs_f64() * 1e3;
    eprintln!(
        "reads on the 100k job: progress {progress_ms:.1} ms, sent today ({sent_today}) {sent_today_ms:.1} ms, a page of {} recipients {page_ms:.1} ms",
        page.len()
    );
    let ledger = sim.ledger_summary();
    eprintln!(
        "100k, concurrency {big_concurrency}, 20 ms latency: {secs:.2} s ({:.0}/s); sent {} failed {} unknown {}; {ledger:?}",
        f64::from(FOLLOWERS) / secs,
        p.sent,
        p.failed,
        p.unknown
    );
    if p.sent != i64::from(FOLLOWERS) || ledger.distinct_recipients != u64::from(FOLLOWERS) {
        return Err("the 100k job did not reach everyone".into());
    }
    println!("bench {prefix}dispatch_100k_20ms_s {secs:.2} s");
    println!(
        "bench {prefix}dispatch_100k_duplicates {} count",
        ledger.duplicates_delivered
    );
    Ok(())
}

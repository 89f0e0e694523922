//! `make bench` helper: the send API (`POST /api/v1/messages`) of one release `wxpush serve` on
//! SQLite, against the in-process simulator.
//!
//! Usage: `bench_api <path to a release wxpush binary>`. It starts the simulator with N followers
//! who all have a unionid (no quotas), starts `wxpush serve` on a fresh SQLite file, prepares the
//! Official Account, its followers and a template preset through the server functions, creates a
//! send key with `wxpush apikey add --rate 10000`, then adds `latency_ms` to every WeChat call and
//! sends N distinct valid messages — message i to follower i, by unionid or OA openid in turn,
//! with its own value and idempotency key — from `clients` concurrent clients. It prints
//! - `bench api_accept_per_s`: accepted requests (202) ÷ the time from the first request to the
//!   last answer;
//! - `bench api_accept_p99_ms`: the 99th percentile of those requests' latency;
//! - `bench api_end_to_end_msgs_per_s`: N ÷ (the simulator's ledger reaching N deliveries − the
//!   first request): accepted *and* sent, the dispatcher working while requests come in;
//! - `bench api_duplicates` and `bench api_lost`: once everything was sent, every request is sent
//!   again with the same idempotency key and body (each must answer 202 with `replayed: true`
//!   and the first id); after a settling pause the ledger must count exactly one message for
//!   each follower. Messages beyond one per follower are duplicates, followers without one are
//!   lost; the program fails when either is not 0.
//!
//! Context (counts, wall times, the replays' rate, CPU of the server and of the benchmark with
//! the simulator) goes to stderr. Tunables: `WXPUSH_BENCH_API_MESSAGES` (N, 50,000),
//! `WXPUSH_BENCH_API_CLIENTS` (64), `WXPUSH_BENCH_API_LATENCY_MS` (20),
//! `WXPUSH_BENCH_API_CONCURRENCY` (the server's `WXPUSH_DISPATCH_CONCURRENCY`; unset: its
//! default), `WXPUSH_BENCH_API_DB` (the SQLite file; default a fresh temporary folder, removed
//! afterwards), `WXPUSH_BENCH_API_LOG` (the server's `WXPUSH_LOG`, `warn`; its log goes to
//! stderr).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::testing::cpu_secs;
use serde_json::{json, Value};
use wechat_sim::{ApiLimits, FaultConfig, SimConfig, SimHandle};

#[path = "common/mod.rs"]
mod common;

use common::{env_num, machine_ticks, shop, BoxError, PASSWORD};

/// A fixed, throw-away master key.
const MASTER_KEY: &str = "5d2a7c9e1b3f4a6c8e0d2b4f6a8c0e1d3b5f7a9c1e3d5b7f9a0c2e4d6b8f0a1c";
/// The key's rate: the most a key may have, so that it limits nothing.
const KEY_RATE: &str = "10000";
/// How long the ledger must stay unchanged after the replays before it is counted.
const SETTLE: Duration = Duration::from_secs(3);

/// CPU seconds of the server, of this process (clients and simulator) and the machine's
/// busy share, from one point on.
struct CpuMeter {
    server_pid: String,
    server: f64,
    own: f64,
    machine: (f64, f64),
}

impl CpuMeter {
    fn start(server_pid: &str) -> CpuMeter {
        CpuMeter {
            server_pid: server_pid.to_owned(),
            server: cpu_secs(server_pid),
            own: cpu_secs("self"),
            machine: machine_ticks(),
        }
    }

    fn report(&self) -> String {
        let machine = machine_ticks();
        let busy = (machine.0 - self.machine.0) / (machine.1 - self.machine.1).max(1.0);
        format!(
            "CPU s: wxpush serve {:.1}, benchmark clients + simulator {:.1}; machine busy {:.0} % \
             of {} cores",
            cpu_secs(&self.server_pid) - self.server,
            cpu_secs("self") - self.own,
            busy * 100.0,
            std::thread::available_parallelism().map_or(0, |p| p.get()),
        )
    }
}

/// The `wxpush serve` process, killed when dropped (also on an error), and the folder of its
/// database when the benchmark made one.
struct Server {
    child: Child,
    base: String,
    temp_dir: Option<PathBuf>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn wxpush(bin: &str, db_url: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("WXPUSH_DATABASE_URL", db_url)
        .env("WXPUSH_MASTER_KEY", MASTER_KEY)
        .env(
            "WXPUSH_LOG",
            std::env::var("WXPUSH_BENCH_API_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .env_remove("WXPUSH_MASTER_KEY_FILE");
    cmd
}

async fn start_server(bin: &str) -> Result<(Server, String), BoxError> {
    let (db_path, temp_dir) = match std::env::var("WXPUSH_BENCH_API_DB") {
        Ok(path) => {
            // A fresh database each run: a kept one would hold the last run's account.
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
            (PathBuf::from(path), None)
        }
        Err(_) => {
            let dir = std::env::temp_dir().join(format!("wxpush-bench-api-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            (dir.join("bench.db"), Some(dir))
        }
    };
    let db_url = format!("sqlite:{}", db_path.display());
    let mut add = wxpush(bin, &db_url)
        .args(["user", "add", "--username", "bench", "--role", "admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    writeln!(add.stdin.take().ok_or("no stdin")?, "{PASSWORD}")?;
    if !add.wait()?.success() {
        return Err("wxpush user add failed".into());
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut serve = wxpush(bin, &db_url);
    serve
        .args(["serve", "--sandbox", "off"])
        .env("WXPUSH_ADDR", format!("127.0.0.1:{port}"))
        .env("WXPUSH_SITE_ROOT", std::env::temp_dir())
        .stdout(Stdio::null());
    if let Ok(c) = std::env::var("WXPUSH_BENCH_API_CONCURRENCY") {
        serve.env("WXPUSH_DISPATCH_CONCURRENCY", c);
    }
    let mut server = Server {
        child: serve.spawn()?,
        base: format!("http://127.0.0.1:{port}"),
        temp_dir,
    };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = server.child.try_wait()? {
            return Err(format!("wxpush serve exited at start: {status}").into());
        }
        let ready = http.get(format!("{}/readyz", server.base)).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        if Instant::now() > deadline {
            return Err("wxpush serve not ready after 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok((server, db_url))
}

/// A server function, as the hydrated pages call it; the JSON answer or an error naming it.
/// Account, followers, templates and a preset, through the server functions: the preset id.
async fn prepare(base: &str, sim: &SimHandle) -> Result<i64, BoxError> {
    let client = reqwest::Client::builder().cookie_store(true).build()?;
    shop(&client, base, sim, "发货提醒").await
}

/// `wxpush apikey add`: the key it prints.
fn create_key(bin: &str, db_url: &str, appid: &str) -> Result<String, BoxError> {
    let out = wxpush(bin, db_url)
        .args(["apikey", "add", "--account", appid, "--name", "bench"])
        .args(["--presets", "all", "--rate", KEY_RATE])
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "wxpush apikey add: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let key = String::from_utf8(out.stdout)?.trim().to_owned();
    if !key.starts_with("wxs_") {
        return Err(format!("wxpush apikey add printed {key:?}").into());
    }
    Ok(key)
}

/// What one pass of requests found.
struct Pass {
    /// Each message's id, by message index.
    ids: Vec<String>,
    /// Latency of each accepted request.
    latencies: Vec<Duration>,
    /// From the first request to the last answer.
    wall: Duration,
    /// Answers of `replayed: true` (in the first pass: should be 0; in the replay pass: N).
    replayed: usize,
    /// 429 answers, retried after a pause.
    rate_limited: usize,
}

/// Sends message 0..bodies.len() from `clients` concurrent clients, each taking the next
/// index; fails on any answer other than 202 (429 is retried).
async fn send_all(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    bodies: Arc<Vec<Value>>,
    clients: usize,
) -> Result<Pass, BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (http, url, key) = (http.clone(), url.to_owned(), key.to_owned());
        let (next, bodies) = (next.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let mut answers: Vec<(usize, String, Duration, bool)> = Vec::new();
            let mut limited = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return Ok::<_, BoxError>((answers, limited));
                };
                loop {
                    let sent = Instant::now();
                    let r = http.post(&url).bearer_auth(&key).json(body).send().await?;
                    let status = r.status();
                    let answer: Value = r.json().await.unwrap_or(Value::Null);
                    let took = sent.elapsed();
                    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
                        limited += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                    if status != reqwest::StatusCode::ACCEPTED {
                        return Err(format!("message {i}: {status} {answer}").into());
                    }
                    let id = answer["id"]
                        .as_str()
                        .ok_or_else(|| format!("message {i}: no id in {answer}"))?;
                    let replayed = answer["replayed"] == json!(true);
                    answers.push((i, id.to_owned(), took, replayed));
                    break;
                }
            }
        }));
    }
    let mut pass = Pass {
        ids: vec![String::new(); bodies.len()],
        latencies: Vec::with_capacity(bodies.len()),
        wall: Duration::ZERO,
        replayed: 0,
        rate_limited: 0,
    };
    for task in tasks {
        let (answers, limited) = task.await??;
        pass.rate_limited += limited;
        for (i, id, took, replayed) in answers {
            pass.ids[i] = id;
            pass.latencies.push(took);
            pass.replayed += usize::from(replayed);
        }
    }
    pass.wall = started.elapsed();
    Ok(pass)
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let bin = std::env::args()
        .nth(1)
        .ok_or("usage: bench_api <path to the wxpush binary>")?;
    let n = env_num("WXPUSH_BENCH_API_MESSAGES", 50_000).max(1);
    let clients = env_num("WXPUSH_BENCH_API_CLIENTS", 64).max(1) as usize;
    let latency_ms = env_num("WXPUSH_BENCH_API_LATENCY_MS", 20);
    let sim = wechat_sim::start(
        SimConfig {
            followers: u32::try_from(n)?,
            former_followers: 0,
            unionid_ratio: 1.0,
            mp_users: 10,
            template_send_quota: 0,
            limits: ApiLimits::unlimited(),
            ledger_capacity: 1_000,
            ..SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await?;
    let result = run(&bin, &sim, n, clients, latency_ms).await;
    sim.shutdown().await;
    result
}

async fn run(
    bin: &str,
    sim: &SimHandle,
    n: u64,
    clients: usize,
    latency_ms: u64,
) -> Result<(), BoxError> {
    let (server, db_url) = start_server(bin).await?;
    let prepared = Instant::now();
    let preset = prepare(&server.base, sim).await?;
    let key = create_key(bin, &db_url, &sim.config().oa_appid)?;
    eprintln!(
        "bench_api: {n} followers synced, preset and key ready in {:.1} s; {n} messages from \
         {clients} clients, simulator latency {latency_ms} ms per call, no quotas; key rate \
         {KEY_RATE}/s; WXPUSH_DISPATCH_CONCURRENCY {}",
        prepared.elapsed().as_secs_f64(),
        std::env::var("WXPUSH_BENCH_API_CONCURRENCY").unwrap_or_else(|_| "default".into()),
    );

    // Message i to follower i, by unionid and by OA openid in turn, each with its own value.
    let mut openids = Vec::with_capacity(n as usize);
    let mut bodies = Vec::with_capacity(n as usize);
    for i in 0..u32::try_from(n)? {
        let openid = sim.follower_openid(i).ok_or("a follower is missing")?;
        let to = if i % 2 == 0 {
            json!({ "unionid": sim.follower_unionid(i).ok_or("a unionid is missing")? })
        } else {
            json!({ "oa_openid": openid })
        };
        bodies.push(json!({
            "to": to,
            "preset": preset,
            "values": { "character_string2": format!("BENCH{i:08}") },
            "idempotency_key": format!("bench-order-{i}-shipped"),
        }));
        openids.push(openid);
    }
    let bodies = Arc::new(bodies);
    sim.set_faults(FaultConfig {
        latency_ms,
        ..FaultConfig::default()
    })?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients * 2)
        .timeout(Duration::from_secs(60))
        .build()?;
    let url = format!("{}/api/v1/messages", server.base);
    let server_pid = server.child.id().to_string();

    // Accepting, while the dispatcher sends; the ledger watched for the last delivery.
    let ledger_before = sim.ledger_summary().accepted;
    if ledger_before != 0 {
        return Err(format!("the ledger holds {ledger_before} messages before the run").into());
    }
    let cpu = CpuMeter::start(&server_pid);
    let started = Instant::now();
    let watch = {
        let state = sim.state().clone();
        tokio::spawn(async move {
            let deadline = Duration::from_secs(600);
            // Deliveries at each whole second, for stderr.
            let mut timeline = Vec::new();
            loop {
                let delivered = state.ledger_summary().accepted;
                let at = started.elapsed();
                if at.as_secs() >= timeline.len() as u64 {
                    timeline.push(delivered);
                }
                if delivered >= n {
                    return (Some(at), timeline);
                }
                if at > deadline {
                    return (None, timeline);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let mut first = send_all(&http, &url, &key, bodies.clone(), clients).await?;
    let sent_when_accepted = sim.ledger_summary().accepted;
    let accept_cpu = cpu.report();
    let (last_sent, timeline) = watch.await?;
    let timeline: Vec<String> = timeline.iter().map(u64::to_string).collect();
    eprintln!("delivered at each second: {}", timeline.join(" "));
    let last_sent =
        last_sent.ok_or_else(|| format!("not all sent after 600 s: {:?}", sim.ledger_summary()))?;
    let all_cpu = cpu.report();
    if first.replayed != 0 {
        return Err(format!("{} first requests answered as replays", first.replayed).into());
    }
    let accept_per_s = n as f64 / first.wall.as_secs_f64();
    first.latencies.sort_unstable();
    let (p50, p99, max) = (
        percentile_ms(&first.latencies, 0.50),
        percentile_ms(&first.latencies, 0.99),
        percentile_ms(&first.latencies, 1.0),
    );
    let end_to_end = n as f64 / last_sent.as_secs_f64();
    eprintln!(
        "accepted {n} in {:.2} s ({accept_per_s:.0}/s; latency p50 {p50:.1} ms, p99 {p99:.1} ms, \
         max {max:.1} ms; {} answers 429, retried); {sent_when_accepted} of them sent by then",
        first.wall.as_secs_f64(),
        first.rate_limited,
    );
    eprintln!("  {accept_cpu}");
    eprintln!(
        "all {n} sent {:.2} s after the first request ({end_to_end:.0} msg/s end to end; the \
         dispatcher's ceiling at this latency is its concurrency ÷ {latency_ms} ms, and the \
         account's API rate {} msg/s)",
        last_sent.as_secs_f64(),
        engine::send_api::API_SEND_RATE,
    );
    eprintln!("  {all_cpu}");

    // Every request again, with the same idempotency key and body: the first message, nothing sent.
    let replay_cpu = CpuMeter::start(&server_pid);
    let replays = send_all(&http, &url, &key, bodies.clone(), clients).await?;
    let changed: usize = replays
        .ids
        .iter()
        .zip(&first.ids)
        .filter(|(again, id)| again != id)
        .count();
    eprintln!(
        "replayed {n} in {:.2} s ({:.0}/s): {} answered as replays, {changed} with another id; \
         {}",
        replays.wall.as_secs_f64(),
        n as f64 / replays.wall.as_secs_f64(),
        replays.replayed,
        replay_cpu.report(),
    );
    // Anything a replay queued would be sent within the pause at this latency.
    let mut seen = sim.ledger_summary();
    let mut still = Instant::now();
    while still.elapsed() < SETTLE {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = sim.ledger_summary();
        if now.accepted != seen.accepted {
            still = Instant::now();
        }
        seen = now;
    }
    // The status the API tells of the last messages accepted.
    let mut not_sent = 0;
    for id in first.ids.iter().rev().take(clients) {
        let status: Value = http
            .get(format!("{url}/{id}"))
            .bearer_auth(&key)
            .send()
            .await?
            .json()
            .await?;
        if status["state"] != "sent" {
            not_sent += 1;
            eprintln!("message {id} is not sent: {status}");
        }
    }
    drop(server);

    // One message per follower, no more, no less.
    let (mut duplicates, mut lost) = (0u64, 0u64);
    for openid in &openids {
        match sim.ledger_received(openid) {
            0 => lost += 1,
            k => duplicates += k - 1,
        }
    }
    let ledger = sim.ledger_summary();
    // Deliveries to anybody else (there is nobody else) count as duplicates too.
    duplicates += ledger.accepted.saturating_sub(n - lost + duplicates);
    eprintln!(
        "ledger: {} delivered, {} distinct followers, most to one follower {}, \
         {} calls de-duplicated by client_msg_id, {} delivered twice",
        ledger.accepted,
        ledger.distinct_recipients,
        ledger.max_received,
        ledger.duplicates_suppressed,
        ledger.duplicates_delivered,
    );

    println!("bench api_accept_per_s {accept_per_s:.0} req/s");
    println!("bench api_accept_p99_ms {p99:.1} ms");
    println!("bench api_end_to_end_msgs_per_s {end_to_end:.0} msg/s");
    println!("bench api_duplicates {duplicates} count");
    println!("bench api_lost {lost} count");
    let mut failures = Vec::new();
    if duplicates != 0 || lost != 0 {
        failures.push(format!(
            "each follower must get exactly one message: {duplicates} duplicates, {lost} lost"
        ));
    }
    if replays.replayed as u64 != n || changed != 0 {
        failures.push(format!(
            "every replay must answer the first message: {} of {n} replayed, {changed} other ids",
            replays.replayed
        ));
    }
    if not_sent != 0 {
        failures.push(format!(
            "{not_sent} of the last messages not `sent` by the API"
        ));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; ").into())
    }
}

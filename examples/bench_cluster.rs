//! `make bench` helper: send-job throughput of 1, 2 and 4 wxpush processes sharing one PostgreSQL.
//!
//! Usage: `bench_cluster <path to a release wxpush binary>`. For each process count it starts a
//! fresh in-process simulator (no quotas), creates a fresh database beside
//! `WXPUSH_TEST_POSTGRES_URL` (default `postgres://root@127.0.0.1:5432/test`), starts the
//! processes with one master key, prepares account, followers, templates and a preset through
//! the first one, adds `latency_ms` to every WeChat call and creates one template job to every
//! follower. Every process's dispatcher takes part. It prints
//! - `bench dispatch_msgs_per_s_<n>proc`: recipients ÷ (last `sent_ms` − first `first_try_ms`);
//! - `bench dispatch_2proc_duplicates`: messages the simulator delivered twice in the 2-process
//!   run (every run fails unless each recipient received exactly one message).
//!
//! Context (recipients, concurrency, latency, wall times, CPU of each part) goes to stderr.
//! Tunables: `WXPUSH_BENCH_CLUSTER_RECIPIENTS` (20,000), `WXPUSH_BENCH_CLUSTER_CONCURRENCY`
//! (`WXPUSH_DISPATCH_CONCURRENCY` of each process, 32), `WXPUSH_BENCH_CLUSTER_LATENCY_MS` (50),
//! `WXPUSH_BENCH_CLUSTER_PROCS` (`1,2,4`), `WXPUSH_BENCH_CLUSTER_RATE_LIMIT` (the job's 限速,
//! 10,000: no limit in effect).

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use engine::testing::cpu_secs;
use serde_json::Value;
use wechat_sim::{ApiLimits, FaultConfig, SimConfig, SimHandle};

#[path = "common/mod.rs"]
mod common;

use common::{call, env_num, machine_ticks, shop, wait_for, BoxError, PASSWORD};

/// The job's 限速: the most create_job accepts by default, so that it limits nothing.
const RATE_VAR: &str = "WXPUSH_BENCH_CLUSTER_RATE_LIMIT";
/// How often the job's progress and the rows' owners are read while it runs.
const POLL: Duration = Duration::from_millis(250);
/// A fixed, throw-away master key: every process of a deployment must use the same one.
const MASTER_KEY: &str = "7b3c1f0e9d8a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c";

/// CPU seconds of the PostgreSQL processes that serve `database` (its backends and the
/// server's own background processes, not other databases' backends), by pid.
fn postgres_cpu(database: &str) -> BTreeMap<String, f64> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .filter(|pid| {
            // A backend's title names its database and client ("… root db 127.0.0.1(5432) idle").
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let title = String::from_utf8_lossy(&c);
                title.contains(database) || !title.contains('(')
            })
        })
        .map(|pid| {
            let cpu = cpu_secs(&pid);
            (pid, cpu)
        })
        .collect()
}

/// CPU seconds PostgreSQL spent for `database` since `before` (backends that ended meanwhile
/// are not counted).
fn postgres_cpu_since(database: &str, before: &BTreeMap<String, f64>) -> f64 {
    postgres_cpu(database)
        .iter()
        .map(|(pid, cpu)| cpu - before.get(pid).unwrap_or(&0.0))
        .sum()
}

/// A fresh PostgreSQL database beside the admin URL; [`BenchDb::drop_database`] removes it.
struct BenchDb {
    admin: sqlx::PgPool,
    name: String,
    url: String,
}

impl BenchDb {
    async fn create(admin_url: &str, n: usize) -> Result<BenchDb, BoxError> {
        let admin = sqlx::PgPool::connect(admin_url)
            .await
            .map_err(|e| format!("cannot connect to {admin_url}: {e}"))?;
        let name = format!("wxpush_bench_{}_{n}", std::process::id());
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await?;
        let base = admin_url.split_once('?').map_or(admin_url, |(b, _)| b);
        let prefix = base.rsplit_once('/').map_or(base, |(p, _)| p);
        Ok(BenchDb {
            url: format!("{prefix}/{name}"),
            admin,
            name,
        })
    }

    async fn drop_database(self) {
        let dropped = sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&self.admin)
        .await;
        if let Err(e) = dropped {
            eprintln!("could not drop the bench database {}: {e}", self.name);
        }
        self.admin.close().await;
    }
}

/// The `wxpush serve` processes of one measurement, killed when dropped (also on an error).
struct Cluster {
    children: Vec<Child>,
    bases: Vec<String>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> Result<u16, BoxError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn wxpush(bin: &str, db_url: &str) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env("WXPUSH_DATABASE_URL", db_url)
        .env("WXPUSH_MASTER_KEY", MASTER_KEY)
        .env("WXPUSH_LOG", "warn")
        .env_remove("WXPUSH_MASTER_KEY_FILE");
    cmd
}

async fn start_cluster(
    bin: &str,
    db_url: &str,
    n: usize,
    concurrency: u64,
) -> Result<Cluster, BoxError> {
    let mut add = wxpush(bin, db_url)
        .args(["user", "add", "--username", "bench", "--role", "admin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    writeln!(add.stdin.take().ok_or("no stdin")?, "{PASSWORD}")?;
    if !add.wait()?.success() {
        return Err("wxpush user add failed".into());
    }
    let mut cluster = Cluster {
        children: Vec::new(),
        bases: Vec::new(),
    };
    // All at once, as a deployment restarts: the migrations must cope with that.
    for _ in 0..n {
        let port = free_port()?;
        let child = wxpush(bin, db_url)
            .args(["serve", "--sandbox", "off"])
            .env("WXPUSH_ADDR", format!("127.0.0.1:{port}"))
            .env("WXPUSH_DISPATCH_CONCURRENCY", concurrency.to_string())
            .env("WXPUSH_SITE_ROOT", std::env::temp_dir())
            .stdout(Stdio::null())
            .spawn()?;
        cluster.children.push(child);
        cluster.bases.push(format!("http://127.0.0.1:{port}"));
    }
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for (base, child) in cluster.bases.iter().zip(cluster.children.iter_mut()) {
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(format!("wxpush serve ({base}) exited at start: {status}").into());
            }
            let ready = http.get(format!("{base}/readyz")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("wxpush serve ({base}) not ready after 60 s").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(cluster)
}

/// A server function, as the hydrated pages call it; the JSON answer or an error naming it.
/// Account, followers, templates and a preset, through one process: the preset id.
async fn prepare(
    client: &reqwest::Client,
    base: &str,
    sim: &SimHandle,
    recipients: u64,
) -> Result<String, BoxError> {
    let preset = shop(client, base, sim, "bench").await?;
    // One admin runs the benchmark: no second admin's approval.
    let threshold = (recipients + 1).to_string();
    call(
        client,
        base,
        "set_approval_threshold",
        &[("threshold", &threshold)],
    )
    .await?;
    let plan = call(
        client,
        base,
        "plan_job",
        &[
            ("source", "\"AllSubscribed\""),
            ("channel", "template"),
            ("mp_preset_id", "0"),
        ],
    )
    .await?;
    if plan["will_receive"].as_u64() != Some(recipients) {
        return Err(format!("plan: expected {recipients} recipients, got {plan}").into());
    }
    Ok(preset.to_string())
}

/// What one measurement found.
struct Measured {
    msgs_per_s: f64,
    duplicates: u64,
}

async fn measure(
    bin: &str,
    admin_url: &str,
    n: usize,
    recipients: u64,
    concurrency: u64,
    latency_ms: u64,
) -> Result<Measured, BoxError> {
    let sim = wechat_sim::start(
        SimConfig {
            followers: u32::try_from(recipients)?,
            former_followers: 0,
            mp_users: 10,
            template_send_quota: 0,
            limits: ApiLimits::unlimited(),
            ledger_capacity: 1_000,
            ..SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await?;
    let db = BenchDb::create(admin_url, n).await?;
    let result = measure_on(&sim, &db.url, bin, n, recipients, concurrency, latency_ms).await;
    db.drop_database().await;
    sim.shutdown().await;
    result
}

async fn measure_on(
    sim: &SimHandle,
    db_url: &str,
    bin: &str,
    n: usize,
    recipients: u64,
    concurrency: u64,
    latency_ms: u64,
) -> Result<Measured, BoxError> {
    let db_name = db_url.rsplit('/').next().unwrap_or_default().to_owned();
    let rate_limit = env_num(RATE_VAR, 10_000).to_string();
    let cluster = start_cluster(bin, db_url, n, concurrency).await?;
    let base = cluster.bases[0].as_str();
    let client = reqwest::Client::builder().cookie_store(true).build()?;
    let preset = prepare(&client, base, sim, recipients).await?;
    sim.set_faults(FaultConfig {
        latency_ms,
        ..FaultConfig::default()
    })?;

    let pids: Vec<String> = cluster
        .children
        .iter()
        .map(|c| c.id().to_string())
        .collect();
    let cpu_before: Vec<f64> = pids.iter().map(|p| cpu_secs(p)).collect();
    let (self_before, pg_before, machine_before) =
        (cpu_secs("self"), postgres_cpu(&db_name), machine_ticks());
    let started = Instant::now();
    let job = call(
        &client,
        base,
        "create_job",
        &[
            ("preset_id", &preset),
            ("mp_preset_id", "0"),
            ("channel", "template"),
            ("name", "bench"),
            ("source", "\"AllSubscribed\""),
            ("rate_limit", &rate_limit),
        ],
    )
    .await?;
    let job = job.as_i64().ok_or("create_job answered no id")?.to_string();
    let created = started.elapsed().as_secs_f64();
    let pool = sqlx::PgPool::connect(db_url).await?;
    let mut progress = Value::Null;
    // Which dispatcher holds how many rows, sampled at each poll: every process should take part.
    let mut held: BTreeMap<String, (f64, i64)> = BTreeMap::new();
    // The figure comes from the rows' timestamps, so polling only needs to notice the end; more
    // often would add load to the database being measured.
    wait_for("the job to finish", 600, POLL, async || {
        progress = call(&client, base, "job_progress", &[("id", &job)]).await?;
        let owners: Vec<(String, i64)> = sqlx::query_as(
            "SELECT lease_owner, COUNT(*) FROM job_recipients \
             WHERE job_id = $1::int8 AND state = 'sending' GROUP BY lease_owner",
        )
        .bind(&job)
        .fetch_all(&pool)
        .await?;
        for (owner, rows) in owners {
            let seen = held
                .entry(owner)
                .or_insert((started.elapsed().as_secs_f64(), 0));
            seen.1 += rows;
        }
        match progress["job"]["state"].as_str() {
            Some("done") => Ok(true),
            Some("running") => Ok(false),
            _ => Err(format!("the job stopped: {progress}").into()),
        }
    })
    .await?;
    let wall = started.elapsed().as_secs_f64();
    let cpu: Vec<f64> = pids
        .iter()
        .zip(&cpu_before)
        .map(|(p, before)| cpu_secs(p) - before)
        .collect();
    let self_cpu = cpu_secs("self") - self_before;
    let pg_cpu = postgres_cpu_since(&db_name, &pg_before);
    let machine_after = machine_ticks();
    let busy = (machine_after.0 - machine_before.0) / (machine_after.1 - machine_before.1).max(1.0);
    drop(cluster);

    for (what, want) in [("sent", recipients), ("failed", 0), ("unknown", 0)] {
        if progress[what].as_u64() != Some(want) {
            return Err(format!("{n} processes: {what} should be {want}: {progress}").into());
        }
    }
    let ledger = sim.ledger_summary();
    if ledger.accepted != recipients
        || ledger.distinct_recipients != recipients
        || ledger.duplicates_delivered != 0
        || ledger.max_received != 1
    {
        return Err(format!(
            "{n} processes: every recipient must get exactly one message: {ledger:?}"
        )
        .into());
    }

    let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT MIN(first_try_ms), MAX(sent_ms) FROM job_recipients WHERE job_id = $1::int8",
    )
    .bind(&job)
    .fetch_one(&pool)
    .await?;
    pool.close().await;
    let (Some(first), Some(last)) = (first, last) else {
        return Err("no send times recorded".into());
    };
    let secs = ((last - first) as f64 / 1000.0).max(0.001);
    let msgs_per_s = recipients as f64 / secs;
    let per_proc: Vec<String> = cpu.iter().map(|c| format!("{c:.1}")).collect();
    let total_held: i64 = held.values().map(|(_, rows)| rows).sum();
    let joined: Vec<String> = held
        .values()
        .map(|(at, rows)| {
            format!(
                "{:.0} % from {at:.1} s",
                *rows as f64 * 100.0 / total_held.max(1) as f64
            )
        })
        .collect();
    eprintln!(
        "{n} process(es): {recipients} sent in {secs:.2} s from the first claim to the last \
         answer ({msgs_per_s:.0} msg/s; {wall:.1} s wall from create_job, which took \
         {created:.2} s, to done seen); at most {} msg/s at {concurrency} in flight per process \
         and {latency_ms} ms latency",
        1000 * concurrency * n as u64 / latency_ms.max(1),
    );
    eprintln!(
        "  dispatchers holding rows (share of sampled rows, first seen): {}",
        joined.join("; ")
    );
    eprintln!(
        "  CPU s: wxpush [{}], bench+simulator {self_cpu:.1}, postgres {pg_cpu:.1}; machine busy \
         {:.0} % of {} cores; ledger {} accepted, {} distinct, {} duplicates",
        per_proc.join(", "),
        busy * 100.0,
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        ledger.accepted,
        ledger.distinct_recipients,
        ledger.duplicates_delivered,
    );
    Ok(Measured {
        msgs_per_s,
        duplicates: ledger.duplicates_delivered,
    })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let bin = std::env::args()
        .nth(1)
        .ok_or("usage: bench_cluster <path to the wxpush binary>")?;
    let admin_url = std::env::var("WXPUSH_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".into());
    let recipients = env_num("WXPUSH_BENCH_CLUSTER_RECIPIENTS", 20_000);
    let concurrency = env_num("WXPUSH_BENCH_CLUSTER_CONCURRENCY", 32);
    let latency_ms = env_num("WXPUSH_BENCH_CLUSTER_LATENCY_MS", 50);
    let procs: Vec<usize> = std::env::var("WXPUSH_BENCH_CLUSTER_PROCS")
        .unwrap_or_else(|_| "1,2,4".into())
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .filter(|p| *p > 0)
        .collect();
    eprintln!(
        "bench_cluster: one template job to {recipients} followers per run; \
         WXPUSH_DISPATCH_CONCURRENCY={concurrency} per process; simulator latency \
         {latency_ms} ms per call, no quotas; job rate limit {} msg/s; PostgreSQL beside \
         {admin_url}",
        env_num(RATE_VAR, 10_000)
    );
    for n in procs {
        let m = measure(&bin, &admin_url, n, recipients, concurrency, latency_ms).await?;
        println!(
            "bench dispatch_msgs_per_s_{n}proc {:.0} msg/s",
            m.msgs_per_s
        );
        if n == 2 {
            println!("bench dispatch_2proc_duplicates {} count", m.duplicates);
        }
    }
    Ok(())
}

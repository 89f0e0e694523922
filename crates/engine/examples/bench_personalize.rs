//! Benchmark: a send job with each person's own values from a 100,000-row .xlsx.
//!
//! `cargo run --release -p engine --example bench_personalize` prints
//! - `bench personalize_100k_s`: upload (parse the workbook, keep it) and create the job (every
//!   row's person resolved, message rendered and checked, frozen) for 100,000 rows with 5
//!   variables — goal ≤ 10 s;
//! - `bench personalize_peak_mb`: the peak resident memory of the process doing that — a
//!   process of its own, as a console serving the upload would be (the simulator and the
//!   follower sync that set the database up run in the parent) — goal ≤ 300 MB.
//!
//! The followers come from the in-process simulator; SQLite in a temporary folder by default
//! (`-- --postgres` for PostgreSQL beside `WXPUSH_TEST_POSTGRES_URL`, names prefixed `pg_`).

mod common;

use std::time::Instant;

use engine::accounts::{AccountKind, NewAccount, Secret};
use engine::audit::Actor;
use engine::followers::sync::SyncState;
use engine::jobs::{NewJob, RecipientSource};
use engine::templates::presets::PresetInput;
use engine::Engine;
use message::{FieldValue, PresetBody};
use model::Channel;
use rust_xlsxwriter::Workbook;
use wechat_sim::SimConfig;

const ROWS: u32 = 100_000;

/// The peak resident memory of this process in MB (`VmHWM`), 0 where unknown.
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// `--measure DB_URL FILE ACCOUNT_ID PRESET_ID`: uploads the workbook and creates the job,
/// printing the figures; the peak is this process's whole life.
async fn measure(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let [url, path, account_id, preset_id] = args else {
        return Err("--measure DB_URL FILE ACCOUNT_ID PRESET_ID".into());
    };
    let engine = Engine::open(url).await?;
    let account = engine
        .account(account_id.parse()?)
        .await?
        .ok_or("no such account")?;
    let actor = Actor::cli();
    let file = std::fs::read(path)?;
    let started = Instant::now();
    let upload = engine
        .upload_sheet(&account, "bench", "bench.xlsx", &file)
        .await?;
    let parsed = started.elapsed().as_secs_f64();
    let job = engine
        .create_job_with(
            &actor,
            &account,
            &NewJob {
                start_at_ms: None,
                name: "bench personalize".into(),
                channel: Channel::Template,
                preset_id: Some(preset_id.parse()?),
                mp_preset_id: None,
                source: RecipientSource::Sheet(upload.id),
                rate_limit: 0,
            },
        )
        .await?;
    let secs = started.elapsed().as_secs_f64();
    let peak = peak_mb();
    if job.will_receive != i64::from(ROWS) {
        return Err(format!("only {} of {ROWS} rows will receive", job.will_receive).into());
    }
    // The job is not sent: the dispatcher's own benchmark measures sending.
    engine.cancel_job(&actor, job.id).await?;
    eprintln!("upload {parsed:.2} s, job {:.2} s", secs - parsed);
    println!("bench personalize_100k_s {secs:.2} s");
    println!("bench personalize_peak_mb {peak:.0} MB");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--measure") {
        return measure(&args[i + 1..]).await;
    }
    let sim = wechat_sim::start(
        SimConfig {
            oa_appid: format!("wxd2{:014x}", std::process::id()),
            followers: ROWS,
            former_followers: 0,
            mp_users: 10,
            limits: wechat_sim::ApiLimits::unlimited(),
            ledger_capacity: 1_000,
            ..SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await?;
    let db = common::bench_database("personalize").await?;
    let engine = Engine::open(&db.url).await?;
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
    let synced = engine
        .run_sync(engine.start_sync(&actor, account.id).await?)
        .await?;
    if synced.state != SyncState::Done {
        return Err(format!("follower sync failed: {synced:?}").into());
    }
    engine.sync_templates(&actor, &account).await?;
    engine
        .set_approval_threshold(&actor, model::rules::APPROVAL_THRESHOLD_MAX)
        .await?;
    let template_ref = engine
        .templates_of(account.id, true)
        .await?
        .into_iter()
        .find(|t| t.remote.title == "订单状态通知")
        .ok_or("template 订单状态通知 missing")?
        .id;
    let values = [
        ("thing1", "{{商品}}"),
        ("character_string2", "{{订单号}}"),
        ("time3", "{{时间}}"),
        ("amount4", "¥{{金额}}"),
        ("const5", "已发货"),
    ]
    .into_iter()
    .map(|(k, v)| {
        let value = FieldValue {
            value: v.to_owned(),
            color: String::new(),
        };
        (k.to_owned(), value)
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
                    url: "https://shop.example.com/o/{{订单号}}?c={{渠道}}".into(),
                    ..PresetBody::default()
                },
            },
        )
        .await?;

    // 100,000 followers, 5 variables each.
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    for (c, name) in ["openid", "商品", "订单号", "时间", "金额", "渠道"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *name)?;
    }
    for i in 0..ROWS {
        let r = i + 1;
        let openid = sim.follower_openid(i).ok_or("follower missing")?;
        sheet.write_string(r, 0, &openid)?;
        sheet.write_string(r, 1, format!("商品 {}", i % 997))?;
        sheet.write_string(r, 2, format!("ORD{i:010}"))?;
        sheet.write_string(r, 3, "2026年12月31日 19:30")?;
        sheet.write_number(r, 4, f64::from(i % 5_000) + 0.5)?;
        sheet.write_string(r, 5, "app")?;
    }
    let file = book.save_to_buffer()?;
    drop(book);
    eprintln!("workbook: {} rows, {:.1} MB", ROWS, file.len() as f64 / 1e6);
    let path = std::env::temp_dir().join(format!("wxpush-bench-{}.xlsx", std::process::id()));
    std::fs::write(&path, &file)?;
    drop(file);

    // Measured in a process of its own, as a console serving the upload would be: the
    // simulator and the follower sync above do not count towards its memory.
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["--measure", &db.url])
        .arg(&path)
        .args([account.id.to_string(), preset.id.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output();
    let _ = std::fs::remove_file(&path);
    let out = out?;
    if !out.status.success() {
        return Err(format!("the measuring process failed: {}", out.status).into());
    }
    let p = db.prefix;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if let Some(figure) = line.strip_prefix("bench ") {
            println!("bench {p}{figure}");
        }
    }
    Ok(())
}

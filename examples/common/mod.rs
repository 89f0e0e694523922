//! What the `make bench` examples that drive a release `wxpush serve` share: tunables from the
//! environment, the machine's CPU ticks, calling server functions, and a shop to send from (an
//! Official Account on the simulator, its followers synced, and an order preset).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use wechat_sim::SimHandle;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The admin the benchmarks log in as (created with `wxpush user add`).
pub const PASSWORD: &str = "bench-password-1";

/// A tunable: the variable's number, or `default`.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// (busy, total) CPU ticks of the whole machine, from `/proc/stat`.
pub fn machine_ticks() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return (0.0, 0.0);
    };
    let values: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: f64 = values.iter().take(8).sum();
    // idle and iowait
    let idle = values.get(3).unwrap_or(&0.0) + values.get(4).unwrap_or(&0.0);
    (total - idle, total)
}

/// Calls a server function as the console does (a form, JSON back).
pub async fn call(
    client: &reqwest::Client,
    base: &str,
    endpoint: &str,
    form: &[(&str, &str)],
) -> Result<Value, BoxError> {
    let r = client
        .post(format!("{base}/api/{endpoint}"))
        .header("Accept", "application/json")
        .form(form)
        .send()
        .await?;
    let status = r.status();
    let body = r.text().await?;
    if !status.is_success() {
        return Err(format!("{endpoint}: {status} {body}").into());
    }
    Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Checks every `every` until `check` says yes, for at most `secs` seconds.
pub async fn wait_for(
    what: &str,
    secs: u64,
    every: Duration,
    mut check: impl AsyncFnMut() -> Result<bool, BoxError>,
) -> Result<(), BoxError> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await? {
        if Instant::now() > deadline {
            return Err(format!("timed out waiting for {what}").into());
        }
        tokio::time::sleep(every).await;
    }
    Ok(())
}

/// Logs in as `bench`, adds the simulator's Official Account, syncs its followers and
/// templates, and saves an order preset named `preset_name`: its id.
pub async fn shop(
    client: &reqwest::Client,
    base: &str,
    sim: &SimHandle,
    preset_name: &str,
) -> Result<i64, BoxError> {
    call(
        client,
        base,
        "login",
        &[("username", "bench"), ("password", PASSWORD)],
    )
    .await?;
    let cfg = sim.config().clone();
    call(
        client,
        base,
        "create_account",
        &[
            ("kind", "oa"),
            ("name", "bench"),
            ("appid", &cfg.oa_appid),
            ("secret", &cfg.oa_secret),
            ("callback_token", "benchtoken1"),
            ("encoding_aes_key", ""),
            ("api_base", &sim.base_url),
            ("linked_account_id", ""),
        ],
    )
    .await?;
    call(client, base, "start_follower_sync", &[]).await?;
    wait_for(
        "the follower sync",
        300,
        Duration::from_millis(100),
        async || {
            let s = call(client, base, "sync_status", &[]).await?["progress"].take();
            match s["state"].as_str() {
                Some("done") => Ok(true),
                Some("failed") | Some("cancelled") => Err(format!("follower sync: {s}").into()),
                _ => Ok(false),
            }
        },
    )
    .await?;
    call(client, base, "sync_templates", &[("kind", "oa")]).await?;
    let page = call(client, base, "templates_page", &[]).await?;
    let template = page["oa_templates"]
        .as_array()
        .and_then(|ts| ts.iter().find(|t| t["title"] == "订单状态通知"))
        .and_then(|t| t["id"].as_i64())
        .ok_or("template 订单状态通知 missing")?;
    let body = json!({ "values": {
        "thing1": { "value": "无线蓝牙耳机" },
        "character_string2": { "value": "20231018123456" },
        "time3": { "value": "2023-10-18 14:30" },
        "amount4": { "value": "¥199.00" },
        "const5": { "value": "已发货" }
    }});
    let preset = call(
        client,
        base,
        "save_preset",
        &[
            ("id", "0"),
            ("name", preset_name),
            ("template_ref", &template.to_string()),
            ("body", &body.to_string()),
        ],
    )
    .await?;
    preset
        .as_i64()
        .ok_or_else(|| format!("save_preset answered {preset}").into())
}

//! `make bench` helper: p50/p99 latency of the dashboard and the followers page under 50
//! concurrent clients, against a running wxpush on a database with a million followers.
//!
//! Usage: bench_pages <base-url> <username> <password>

use std::sync::Arc;
use std::time::{Duration, Instant};

const CONCURRENCY: usize = 50;
const REQUESTS: usize = 2_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, base, user, password] = args.as_slice() else {
        return Err("usage: bench_pages <base-url> <username> <password>".into());
    };
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .pool_max_idle_per_host(CONCURRENCY)
        .build()?;
    let login = client
        .post(format!("{base}/api/login"))
        .header("Accept", "application/json")
        .form(&[("username", user.as_str()), ("password", password.as_str())])
        .send()
        .await?;
    if !login.status().is_success() {
        return Err(format!("login failed: {}", login.status()).into());
    }
    // No filter: every follower (the page's first load).
    let empty_filter = [("filter[search]", ""), ("after", "")];
    for (name, endpoint, form) in [
        ("dashboard", "dashboard", &[][..]),
        ("followers_page", "list_followers", &empty_filter[..]),
    ] {
        let form: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // Warm up connections and caches.
        for _ in 0..CONCURRENCY {
            post(&client, base, endpoint, &form).await?;
        }
        let latencies = Arc::new(tokio::sync::Mutex::new(Vec::with_capacity(REQUESTS)));
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..CONCURRENCY {
            let (client, base, form, latencies, next) = (
                client.clone(),
                base.clone(),
                form.clone(),
                latencies.clone(),
                next.clone(),
            );
            workers.push(tokio::spawn(async move {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < REQUESTS {
                    let t = Instant::now();
                    if post(&client, &base, endpoint, &form).await.is_ok() {
                        latencies.lock().await.push(t.elapsed());
                    }
                }
            }));
        }
        for w in workers {
            w.await?;
        }
        let mut l = latencies.lock().await.clone();
        if l.len() < REQUESTS / 2 {
            return Err(
                format!("{name}: only {} of {REQUESTS} requests succeeded", l.len()).into(),
            );
        }
        l.sort();
        let pct = |p: f64| l[((l.len() as f64 - 1.0) * p) as usize];
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!("bench {name}_p50_ms {:.1} ms", ms(pct(0.50)));
        println!("bench {name}_p99_ms {:.1} ms", ms(pct(0.99)));
    }
    Ok(())
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    endpoint: &str,
    form: &[(String, String)],
) -> Result<(), reqwest::Error> {
    client
        .post(format!("{base}/api/{endpoint}"))
        .header("Accept", "application/json")
        .form(form)
        .send()
        .await?
        .error_for_status()?
        .bytes()
        .await
        .map(|_| ())
}

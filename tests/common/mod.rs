//! Test harness: a real `wxpush` process on a test database.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::redirect::Policy;
use serde_json::{json, Value};

pub const BIN: &str = env!("CARGO_BIN_EXE_wxpush");

pub use engine::testing::TestDb;

/// A port for a server to listen on: below Linux's ephemeral range (32768–60999), so that no
/// outgoing connection and no `bind(0)` (the sandbox's simulator, say) takes it between this
/// check and the server's bind; each one handed out once per test binary.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Test binaries run one after another; the pid keeps a stray earlier one out of the way.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 100) as u16 * 100;
    loop {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 2_800;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// The WeChat simulator on a free port: `followers` followers (none who left), each call
/// delayed by `latency_ms`.
pub async fn start_sim(followers: u32, latency_ms: u64) -> wechat_sim::SimHandle {
    wechat_sim::start(
        wechat_sim::SimConfig {
            followers,
            former_followers: 0,
            faults: wechat_sim::FaultConfig {
                latency_ms,
                ..wechat_sim::FaultConfig::default()
            },
            ..wechat_sim::SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap()
}

/// Runs `wxpush user add` against `db` with the password on stdin.
pub fn add_user(db: &TestDb, username: &str, role: &str, password: &str) {
    let mut child = Command::new(BIN)
        .args(["user", "add", "--username", username, "--role", role])
        .env("WXPUSH_DATABASE_URL", &db.url)
        .env("WXPUSH_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `wxpush apikey ARGS…` against `db`; returns stdout, or panics with stderr.
pub fn apikey(db: &TestDb, args: &[&str]) -> String {
    let out = Command::new(BIN)
        .arg("apikey")
        .args(args)
        .env("WXPUSH_DATABASE_URL", &db.url)
        .env("WXPUSH_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "apikey {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub struct Server {
    child: Child,
    pub base: String,
    /// The setup link the server logged at start-up, if it logged one.
    pub setup_link: Option<String>,
    pub log: mpsc::Receiver<String>,
}

impl Server {
    pub fn start(db: &TestDb) -> Server {
        Self::start_with(db, &[])
    }

    pub fn start_with(db: &TestDb, env: &[(&str, &str)]) -> Server {
        Self::start_full(db, &[], env)
    }

    /// Starts `wxpush serve ARGS…` with extra environment variables.
    pub fn start_full(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .args(args)
            .env("WXPUSH_ADDR", format!("127.0.0.1:{port}"))
            .env("WXPUSH_DATABASE_URL", &db.url)
            .env("WXPUSH_LOG", "info")
            .env("WXPUSH_SITE_ROOT", std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut setup_link = None;
        // What it said before it was ready: shown should it never be.
        let mut said: Vec<String> = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).unwrap_or_else(|e| {
                let exit = child.try_wait().ok().flatten();
                panic!(
                    "server did not start ({e}; exit {exit:?}); its log:\n{}",
                    said.join("\n")
                )
            });
            said.push(line.clone());
            if let Some(i) = line.find("/setup?token=") {
                let token: String = line[i + 13..]
                    .chars()
                    .take_while(|c| c.is_ascii_hexdigit())
                    .collect();
                setup_link = Some(format!("/setup?token={token}"));
            }
            if line.contains("wxpush listening on") {
                break;
            }
        }
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            setup_link,
            log: rx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A browser-like client: keeps cookies, does not follow redirects.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs a server function the way a hydrated page does.
pub async fn call(
    client: &reqwest::Client,
    server: &Server,
    endpoint: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    client
        .post(server.url(&format!("/api/{endpoint}")))
        .header("Accept", "application/json")
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Calls a server function whose arguments travel as JSON (`plan_job`, `create_job`).
pub async fn call_json(
    client: &reqwest::Client,
    server: &Server,
    endpoint: &str,
    args: &serde_json::Value,
) -> reqwest::Response {
    client
        .post(server.url(&format!("/api/{endpoint}")))
        .header("Accept", "application/json")
        .json(args)
        .send()
        .await
        .unwrap()
}

pub fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.cookies()
        .find(|c| c.name() == "wxpush_session")
        .map(|c| c.value().to_owned())
}

/// Logs in through the server function, as the hydrated login page does.
pub async fn login(
    client: &reqwest::Client,
    server: &Server,
    username: &str,
    password: &str,
) -> reqwest::Response {
    call(
        client,
        server,
        "login",
        &[("username", username), ("password", password)],
    )
    .await
}

/// The HTML of a page.
pub async fn page_text(client: &reqwest::Client, server: &Server, path: &str) -> String {
    client
        .get(server.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Fields of the "add account" form, as an admin posts them.
pub struct NewAccount<'a> {
    pub kind: &'a str,
    pub name: &'a str,
    pub appid: &'a str,
    pub secret: &'a str,
    pub callback_token: &'a str,
    pub encoding_aes_key: &'a str,
    pub api_base: &'a str,
}

/// Adds a WeChat account through the server function and returns its id.
pub async fn create_account(client: &reqwest::Client, server: &Server, a: NewAccount<'_>) -> i64 {
    let r = call(
        client,
        server,
        "create_account",
        &[
            ("kind", a.kind),
            ("name", a.name),
            ("appid", a.appid),
            ("secret", a.secret),
            ("callback_token", a.callback_token),
            ("encoding_aes_key", a.encoding_aes_key),
            ("api_base", a.api_base),
            ("linked_account_id", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), reqwest::StatusCode::OK, "create_account");
    r.json().await.unwrap()
}

/// The JSON body of a server function's answer, which must be 200.
pub async fn json_ok(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{:?}", r.url().path());
    r.json().await.unwrap()
}

/// Polls `check` every 100 ms until it holds; fails the test after `secs` seconds.
pub async fn wait_for(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An Official Account on `sim` with its followers and templates synced and a 发货提醒 preset of
/// 订单状态通知 saved, through the server functions; returns the preset id.
pub async fn prepare_template_job(
    client: &reqwest::Client,
    server: &Server,
    sim: &wechat_sim::SimHandle,
) -> i64 {
    add_sim_oa(client, server, sim).await;
    json_ok(call(client, server, "start_follower_sync", &[]).await).await;
    wait_for_sync(client, server).await;
    save_order_preset(client, server).await
}

/// Adds `sim`'s Official Account through the server function; returns its id.
pub async fn add_sim_oa(
    client: &reqwest::Client,
    server: &Server,
    sim: &wechat_sim::SimHandle,
) -> i64 {
    let cfg = sim.config().clone();
    create_account(
        client,
        server,
        NewAccount {
            kind: "oa",
            name: "发送测试号",
            appid: &cfg.oa_appid,
            secret: &cfg.oa_secret,
            callback_token: "dispatchtoken1",
            encoding_aes_key: "",
            api_base: &sim.base_url,
        },
    )
    .await
}

/// Waits until the current account's follower sync is done; returns its progress.
pub async fn wait_for_sync(client: &reqwest::Client, server: &Server) -> Value {
    let mut last = Value::Null;
    wait_for("the follower sync", 120, async || {
        last = json_ok(call(client, server, "sync_status", &[]).await).await["progress"].take();
        last["state"] == "done"
    })
    .await;
    last
}

/// Syncs the OA templates and saves a 发货提醒 preset of 订单状态通知; returns the preset id.
pub async fn save_order_preset(client: &reqwest::Client, server: &Server) -> i64 {
    json_ok(call(client, server, "sync_templates", &[("kind", "oa")]).await).await;
    let page = json_ok(call(client, server, "templates_page", &[]).await).await;
    let template = page["oa_templates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["title"] == "订单状态通知")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let body = json!({ "values": {
        "thing1": { "value": "无线蓝牙耳机" },
        "character_string2": { "value": "20231018123456" },
        "time3": { "value": "2023-10-18 14:30" },
        "amount4": { "value": "¥199.00" },
        "const5": { "value": "已发货" }
    }});
    json_ok(
        call(
            client,
            server,
            "save_preset",
            &[
                ("id", "0"),
                ("name", "发货提醒"),
                ("template_ref", &template.to_string()),
                ("body", &body.to_string()),
            ],
        )
        .await,
    )
    .await
    .as_i64()
    .unwrap()
}

/// Creates a template job to every subscribed follower with `preset`; returns its id.
pub async fn create_template_job(
    client: &reqwest::Client,
    server: &Server,
    preset: i64,
    name: &str,
    rate_limit: u32,
) -> String {
    json_ok(
        call_json(
            client,
            server,
            "create_job",
            &serde_json::json!({
                "preset_id": preset,
                "mp_preset_id": 0,
                "channel": "template",
                "name": name,
                "source": "AllSubscribed",
                "rate_limit": rate_limit,
            }),
        )
        .await,
    )
    .await
    .as_i64()
    .unwrap()
    .to_string()
}

/// A job's progress (`job_progress`).
pub async fn job_progress(client: &reqwest::Client, server: &Server, job: &str) -> Value {
    json_ok(call(client, server, "job_progress", &[("id", job)]).await).await
}

/// Sends only the head of a form POST announcing `len` bytes and returns the status and the
/// text the server answers before the body arrives (status 0 when it waits for the body and
/// times out). A client that sent the body would meet a closed connection instead.
pub async fn announce_body(server: &Server, path: &str, len: usize, cookie: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len}\r\n\
         Cookie: {cookie}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
        Ok(Ok(n)) => n,
        _ => return (0, String::new()),
    };
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

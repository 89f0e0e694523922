//! Rate and body-size limits through the real binary: login (per IP and per username), the WeChat callback (per AppID and IP, body size), the Mini Program API, and server functions.

mod common;

use std::time::Duration;

use common::{add_user, call, create_account, login, NewAccount, Server, TestDb};
use engine::on_both_databases;
use reqwest::StatusCode;

const ADMIN_PW: &str = "admin-password-1";
const CB_TOKEN: &str = "cbtoken2024";
const OA_APPID: &str = "wx5e1a00000000a001";
const MP_APPID: &str = "wx5e1a00000000b002";

fn retry_after(r: &reqwest::Response) -> Option<u64> {
    r.headers().get("retry-after")?.to_str().ok()?.parse().ok()
}

async fn attempt(
    client: &reqwest::Client,
    server: &Server,
    username: &str,
    password: &str,
    ip: &str,
) -> reqwest::Response {
    client
        .post(server.url("/api/login"))
        .header("Accept", "application/json")
        .header("X-Forwarded-For", ip)
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .unwrap()
}

async fn login_is_rate_limited_per_ip_and_per_username(db: TestDb) {
    add_user(&db, "alice", "operator", ADMIN_PW);
    add_user(&db, "bob", "operator", ADMIN_PW);
    let server = Server::start_with(
        &db,
        &[
            ("WXPUSH_TRUST_FORWARDED_FOR", "true"),
            ("WXPUSH_LOGIN_PER_IP_PER_MIN", "3"),
            ("WXPUSH_LOGIN_PER_USER_PER_MIN", "2"),
        ],
    );
    // Clients without a device cookie: a browser that logged in as alice before is throttled
    // on its own failures only (tests/http.rs).
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // Per username: two logins a minute for alice, from anywhere, even with the right password.
    for ip in ["10.0.0.1", "10.0.0.2"] {
        let r = attempt(&client, &server, "alice", ADMIN_PW, ip).await;
        assert_eq!(r.status(), StatusCode::OK, "login from {ip}");
    }
    let r = attempt(&client, &server, "Alice", ADMIN_PW, "10.0.0.3").await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "alice's third login"
    );
    let wait = retry_after(&r).expect("Retry-After");
    assert!((1..=30).contains(&wait), "Retry-After {wait}");
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Throttled") && body.contains("retry_after_secs"),
        "{body}"
    );
    let r = attempt(&client, &server, "bob", ADMIN_PW, "10.0.0.3").await;
    assert_eq!(r.status(), StatusCode::OK, "bob is not limited by alice");

    // Per IP: three attempts a minute from one address, whatever the names.
    for name in ["carol", "dave", "erin"] {
        let r = attempt(&client, &server, name, "wrong-password", "10.9.9.9").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{name}");
    }
    let r = attempt(&client, &server, "bob", ADMIN_PW, "10.9.9.9").await;
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the address is limited"
    );
    assert!(retry_after(&r).is_some());

    // The login page says so, in Chinese first and English second (here without JavaScript:
    // the form posts and comes back with the error).
    let client = server.client();
    let res = client
        .post(server.url("/api/login"))
        .header("Accept", "text/html")
        .header("Referer", server.url("/login"))
        .header("X-Forwarded-For", "10.9.9.9")
        .form(&[("username", "bob"), ("password", ADMIN_PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = res.headers()["location"].to_str().unwrap().to_owned();
    let page = client
        .get(&back)
        .header("X-Forwarded-For", "10.9.9.9")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let zh = page
        .find("登录尝试过于频繁")
        .unwrap_or_else(|| panic!("the Chinese message at {back}: {page}"));
    let en = page
        .find("Too many login attempts")
        .expect("the English message");
    assert!(zh < en, "Chinese first");
}
on_both_databases!(login_is_rate_limited_per_ip_and_per_username);

/// A plain-mode push signed with `CB_TOKEN`, as WeChat sends it.
fn signed_push(
    client: &reqwest::Client,
    server: &Server,
    appid: &str,
    body: String,
) -> reqwest::RequestBuilder {
    let ts = (engine::now_ms() / 1000).to_string();
    // A fresh nonce each time, as WeChat sends: a repeated one is refused as a replay.
    let nonce = rand_nonce();
    let sig = wechat::callback::signature::signature(CB_TOKEN, &ts, &nonce);
    client
        .post(server.url(&format!(
            "/wechat/callback/{appid}?signature={sig}&timestamp={ts}&nonce={nonce}"
        )))
        .body(body)
}

fn rand_nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!(
        "{}{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn view_event(i: usize) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_sweep]]></ToUserName><FromUserName><![CDATA[oUser{i:023}]]></FromUserName>\
         <CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[VIEW]]></Event>\
         <EventKey><![CDATA[https://example.com/{i}]]></EventKey></xml>"
    )
}

async fn admin_with_oa(server: &Server) -> reqwest::Client {
    let admin = server.client();
    let r = login(&admin, server, "admin", ADMIN_PW).await;
    assert_eq!(r.status(), StatusCode::OK);
    create_account(
        &admin,
        server,
        NewAccount {
            kind: "oa",
            name: "限流测试号",
            appid: OA_APPID,
            secret: "0123456789abcdef0123456789abcdef",
            callback_token: CB_TOKEN,
            encoding_aes_key: "",
            api_base: "http://127.0.0.1:9",
        },
    )
    .await;
    admin
}

async fn callback_limits(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);

    // Small limits: a burst of 2 pushes per AppID and address, then 1 a second; bodies up to
    // 1 KiB.
    let server = Server::start_with(
        &db,
        &[
            ("WXPUSH_CALLBACK_PER_SEC", "1"),
            ("WXPUSH_CALLBACK_MAX_BODY_KB", "1"),
        ],
    );
    let client = server.client();
    let _admin = admin_with_oa(&server).await;
    let big = format!("<xml><Pad>{}</Pad></xml>", "x".repeat(2048));
    let r = signed_push(&client, &server, OA_APPID, big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "a 2 KiB push");
    let mut statuses = Vec::new();
    for i in 0..8 {
        let r = signed_push(&client, &server, OA_APPID, view_event(i))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(retry_after(&r).is_some(), "Retry-After");
        }
        statuses.push(r.status());
    }
    assert!(
        statuses[..2].iter().all(|s| *s == StatusCode::OK),
        "the burst passes: {statuses:?}"
    );
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(limited >= 3, "beyond the burst: {statuses:?}");
    let r = signed_push(&client, &server, "wx5e1a00000000ffff", view_event(0))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "another AppID has its own bucket"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = signed_push(&client, &server, OA_APPID, view_event(99))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the bucket refills");
    drop(server);

    // The defaults let a burst of WeChat pushes (and its retries) through.
    let server = Server::start(&db);
    let client = server.client();
    let login_client = server.client();
    let r = login(&login_client, &server, "admin", ADMIN_PW).await;
    assert_eq!(r.status(), StatusCode::OK);
    let pushes = (0..300).map(|i| signed_push(&client, &server, OA_APPID, view_event(i)).send());
    let answers = join_all(pushes).await;
    let refused: Vec<StatusCode> = answers
        .iter()
        .map(|r| r.status())
        .filter(|s| *s != StatusCode::OK)
        .collect();
    assert!(refused.is_empty(), "300 pushes at once: {refused:?}");
    let big = format!("<xml><Pad>{}</Pad></xml>", "x".repeat(70 * 1024));
    let r = signed_push(&client, &server, OA_APPID, big)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::PAYLOAD_TOO_LARGE,
        "over 64 KiB by default"
    );
}
on_both_databases!(callback_limits);

async fn mini_program_api_limits(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start_with(
        &db,
        &[
            ("WXPUSH_TRUST_FORWARDED_FOR", "true"),
            ("WXPUSH_MP_API_PER_IP_PER_SEC", "1"),
            ("WXPUSH_MP_API_PER_KEY_PER_SEC", "1"),
        ],
    );
    let admin = server.client();
    let r = login(&admin, &server, "admin", ADMIN_PW).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mp_id = create_account(
        &admin,
        &server,
        NewAccount {
            kind: "mp",
            name: "限流小程序",
            appid: MP_APPID,
            secret: "fedcba9876543210fedcba9876543210",
            callback_token: "",
            encoding_aes_key: "",
            api_base: "http://127.0.0.1:9",
        },
    )
    .await;
    let r = call(
        &admin,
        &server,
        "create_mp_api_key",
        &[("account_id", &mp_id.to_string())],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    let key = v["key"].as_str().expect("the new key").to_owned();
    let api = reqwest::Client::new();
    let url = server.url(&format!("/api/mp/{MP_APPID}/login"));

    // Per IP (before the key is checked): a burst of 2 × 1, then 429.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = api
            .post(&url)
            .header("X-Forwarded-For", "10.1.1.1")
            .body("{}")
            .send()
            .await
            .unwrap();
        statuses.push((r.status(), retry_after(&r)));
    }
    assert!(
        statuses[..2]
            .iter()
            .all(|(s, _)| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert!(
        statuses[2..]
            .iter()
            .all(|(s, wait)| *s == StatusCode::TOO_MANY_REQUESTS && wait.is_some()),
        "{statuses:?}"
    );

    // Per key: a burst of 2 × 1 from any address, then 429 (a bad body answers 400 before
    // WeChat is asked).
    let mut statuses = Vec::new();
    for i in 0..3 {
        let r = api
            .post(&url)
            .bearer_auth(&key)
            .header("X-Forwarded-For", format!("10.2.2.{i}"))
            .body("not json")
            .send()
            .await
            .unwrap();
        statuses.push(r.status());
    }
    assert_eq!(
        statuses,
        [
            StatusCode::BAD_REQUEST,
            StatusCode::BAD_REQUEST,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );

    // Bodies over 16 KiB are refused with a JSON 413.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = api
        .post(&url)
        .bearer_auth(&key)
        .header("X-Forwarded-For", "10.3.3.3")
        .body(format!("{{\"code\":\"{}\"}}", "a".repeat(17 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: serde_json::Value = r.json().await.unwrap();
    assert!(v["error"].as_str().unwrap_or("").contains("16 KiB"), "{v}");
}
on_both_databases!(mini_program_api_limits);

async fn server_function_bodies_are_limited_to_1_mib(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);
    let admin = server.client();
    let r = login(&admin, &server, "admin", ADMIN_PW).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = format!(
        "wxpush_session={}",
        common::session_cookie(&r).expect("a session")
    );

    // A 900 KiB pasted list reaches the function (which answers; no account 999999 here).
    let lines = "o".repeat(27) + "\n";
    let csv = lines.repeat(900 * 1024 / lines.len());
    let r = call(
        &admin,
        &server,
        "import_mp_users",
        &[("account_id", "999999"), ("csv", &csv)],
    )
    .await;
    assert_ne!(r.status(), StatusCode::PAYLOAD_TOO_LARGE, "900 KiB passes");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Over 1 MiB: 413 from the announced length, before anything reads the body.
    for path in ["/api/import_mp_users", "/api/login"] {
        let status = announce_body(&server, path, 1024 * 1024 + 1, &cookie).await;
        assert_eq!(status, 413, "{path}");
    }
    assert_ne!(
        announce_body(&server, "/api/login", 1024 * 1024, "").await,
        413,
        "1 MiB exactly is allowed (the body then never comes: any answer but 413)"
    );
}
on_both_databases!(server_function_bodies_are_limited_to_1_mib);

async fn announce_body(server: &Server, path: &str, len: usize, cookie: &str) -> u16 {
    common::announce_body(server, path, len, cookie).await.0
}

/// Runs the requests concurrently and waits for all answers.
async fn join_all<F>(requests: impl Iterator<Item = F>) -> Vec<reqwest::Response>
where
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
{
    let tasks: Vec<_> = requests.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap().unwrap());
    }
    out
}

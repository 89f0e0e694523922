//! Defects found by an adversarial test, each through the real binary on SQLite and PostgreSQL:
//! the login redirect, callback downgrade and replay, late and replayed follow events, openids
//! at the edge and formulas in CSV exports, malformed requests that answered 500, and the page
//! guard with dot segments; and refusals passed on as data.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use common::{add_user, call, call_json, create_account, login, NewAccount, Server, TestDb};
use engine::on_both_databases;
use reqwest::StatusCode;
use serde_json::{json, Value};
use wechat::callback::crypto::encrypt;
use wechat::callback::signature::{msg_signature, signature};
use wechat::callback::AesKey;

const ADMIN_PW: &str = "admin-password-1";
const CB_TOKEN: &str = "cbtoken2024";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const SAFE_APPID: &str = "wx5e1a00000000b001";
const PLAIN_APPID: &str = "wx5e1a00000000b002";

fn nonce() -> String {
    static N: AtomicU64 = AtomicU64::new(1);
    format!(
        "{}{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn now_secs() -> i64 {
    engine::now_ms() / 1000
}

fn follow_xml(openid: &str, event: &str, create_time: i64) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_hardening]]></ToUserName>\
         <FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{create_time}</CreateTime>\
         <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event></xml>"
    )
}

/// A safe-mode push of `xml` to `appid` (signed and encrypted as WeChat does): the query
/// string and the body.
fn safe_push(appid: &str, xml: &str) -> (String, String) {
    let key = AesKey::from_encoding_aes_key(AES_KEY).unwrap();
    let (ts, nonce) = (now_secs().to_string(), nonce());
    let encrypted = encrypt(&key, xml, appid);
    let sig = signature(CB_TOKEN, &ts, &nonce);
    let msg_sig = msg_signature(CB_TOKEN, &ts, &nonce, &encrypted);
    (
        format!(
            "signature={sig}&timestamp={ts}&nonce={nonce}&encrypt_type=aes&msg_signature={msg_sig}"
        ),
        format!("<xml><ToUserName><![CDATA[gh_hardening]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"),
    )
}

/// Sends `xml` as a genuine safe-mode push of `appid` and returns the answer.
async fn deliver(
    client: &reqwest::Client,
    server: &Server,
    appid: &str,
    xml: &str,
) -> (StatusCode, String) {
    let (query, body) = safe_push(appid, xml);
    post(client, server, appid, &query, &body).await
}

/// A plain-mode push: the query string (the signature covers no body).
fn plain_query() -> String {
    let (ts, nonce) = (now_secs().to_string(), nonce());
    let sig = signature(CB_TOKEN, &ts, &nonce);
    format!("signature={sig}&timestamp={ts}&nonce={nonce}")
}

async fn post(
    client: &reqwest::Client,
    server: &Server,
    appid: &str,
    query: &str,
    body: &str,
) -> (StatusCode, String) {
    let r = client
        .post(server.url(&format!("/wechat/callback/{appid}?{query}")))
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap_or_default())
}

async fn admin(server: &Server) -> reqwest::Client {
    let client = server.client();
    assert_eq!(
        login(&client, server, "admin", ADMIN_PW).await.status(),
        StatusCode::OK
    );
    client
}

async fn add_oa(client: &reqwest::Client, server: &Server, appid: &str, aes_key: &str) -> i64 {
    create_account(
        client,
        server,
        NewAccount {
            kind: "oa",
            name: appid,
            appid,
            secret: "0123456789abcdef0123456789abcdef",
            callback_token: CB_TOKEN,
            encoding_aes_key: aes_key,
            api_base: "http://127.0.0.1:9",
        },
    )
    .await
}

/// Whether `openid` is stored as a follower of the current account, and following.
async fn follower(client: &reqwest::Client, server: &Server, openid: &str) -> Option<bool> {
    let r = call(
        client,
        server,
        "list_followers",
        &[("filter[search]", openid), ("after", "")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page: Value = r.json().await.unwrap();
    page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["openid"] == openid)
        .map(|r| r["subscribed"].as_bool().unwrap())
}

async fn select(client: &reqwest::Client, server: &Server, id: i64) {
    let r = call(client, server, "select_account", &[("id", &id.to_string())]).await;
    assert_eq!(r.status(), StatusCode::OK);
}

// 1 ──────────────────────────────────────────────────────────────────────────────────────────

/// `next` after login: local paths only, parsed as a browser reads them; no input panics the
/// handler (a bad header value used to close the connection without an answer).
async fn login_redirects_only_to_local_paths(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    // Two dozen logins in a row: above the default rate limits, which are not tested here.
    let server = Server::start_with(
        &db,
        &[
            ("WXPUSH_LOGIN_PER_IP_PER_MIN", "1000"),
            ("WXPUSH_LOGIN_PER_USER_PER_MIN", "1000"),
        ],
    );
    let cases: &[(&str, &str)] = &[
        ("/%09/evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("/\r", "/"),
        ("/\n", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/x/..//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/%0D%0ASet-Cookie:x=1", "/"),
        ("/followers?tag=1", "/followers?tag=1"),
        ("/jobs/../followers", "/followers"),
    ];
    for (next, expected) in cases {
        // As the hydrated page asks (JSON), and as a plain form post (HTML, a 302).
        let client = server.client();
        let r = client
            .post(server.url("/api/login"))
            .header("Accept", "application/json")
            .form(&[
                ("username", "admin"),
                ("password", ADMIN_PW),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{next:?}");
        let target: String = r.json().await.unwrap();
        assert_eq!(&target, expected, "JSON login with next={next:?}");

        let client = server.client();
        let r = client
            .post(server.url("/api/login"))
            .header("Accept", "text/html")
            .header("Referer", server.url("/login"))
            .form(&[
                ("username", "admin"),
                ("password", ADMIN_PW),
                ("next", next),
            ])
            .send()
            .await
            .unwrap_or_else(|e| panic!("form login with next={next:?}: no answer: {e}"));
        assert_eq!(r.status(), StatusCode::FOUND, "{next:?}");
        assert_eq!(
            r.headers()["location"].to_str().unwrap(),
            *expected,
            "form login with next={next:?}"
        );
    }
}
on_both_databases!(login_redirects_only_to_local_paths);

// 2, 3, 4 ────────────────────────────────────────────────────────────────────────────────────

/// An account with an EncodingAESKey takes encrypted pushes only; a request is taken once; the
/// newest follow event wins; pushes that can never apply are acknowledged and change nothing.
async fn callbacks_refuse_downgrades_replays_and_stale_events(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);
    let client = admin(&server).await;
    let safe = add_oa(&client, &server, SAFE_APPID, AES_KEY).await;
    select(&client, &server, safe).await;
    let raw = reqwest::Client::new();
    let who = "oHardening000000000000000001";
    let t = now_secs();

    // A genuine safe-mode push: a new follower.
    let (query, body) = safe_push(SAFE_APPID, &follow_xml(who, "subscribe", t - 5));
    assert_eq!(
        post(&raw, &server, SAFE_APPID, &query, &body).await,
        (StatusCode::OK, "success".into())
    );
    assert_eq!(follower(&client, &server, who).await, Some(true));

    // The same request again (its signature, timestamp and nonce from an access log): refused.
    let (status, _) = post(&raw, &server, SAFE_APPID, &query, &body).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a replayed request");

    // Downgrade: a plaintext push with the genuine signature of that push and any body.
    let plain_sig = query
        .split('&')
        .filter(|p| !p.starts_with("encrypt_type") && !p.starts_with("msg_signature"))
        .collect::<Vec<_>>()
        .join("&");
    let forged_one = "oHardeningForged0000000000001";
    let (status, _) = post(
        &raw,
        &server,
        SAFE_APPID,
        &plain_sig,
        &follow_xml(forged_one, "subscribe", t),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a plaintext push to a safe-mode account"
    );
    let (status, _) = post(
        &raw,
        &server,
        SAFE_APPID,
        &plain_query(),
        &follow_xml(forged_one, "subscribe", t),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "even freshly signed: plaintext is never taken"
    );
    assert_eq!(follower(&client, &server, forged_one).await, None);

    // Compat mode: plaintext fields and Encrypt; only the encrypted part counts.
    let key = AesKey::from_encoding_aes_key(AES_KEY).unwrap();
    let (ts, n) = (now_secs().to_string(), nonce());
    let inner = follow_xml(who, "unsubscribe", t);
    let encrypted = encrypt(&key, &inner, SAFE_APPID);
    let compat_body = format!(
        "<xml><ToUserName><![CDATA[gh_hardening]]></ToUserName><FromUserName><![CDATA[{forged_one}]]></FromUserName>\
         <CreateTime>{t}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>\
         <Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    );
    let compat_query = format!(
        "signature={}&timestamp={ts}&nonce={n}&encrypt_type=aes&msg_signature={}",
        signature(CB_TOKEN, &ts, &n),
        msg_signature(CB_TOKEN, &ts, &n, &encrypted)
    );
    assert_eq!(
        post(&raw, &server, SAFE_APPID, &compat_query, &compat_body)
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        follower(&client, &server, who).await,
        Some(false),
        "the encrypted unsubscribe"
    );
    assert_eq!(
        follower(&client, &server, forged_one).await,
        None,
        "not the plaintext fields"
    );

    // The first subscribe again, as WeChat's retry (a new nonce): de-duplicated.
    assert_eq!(
        deliver(
            &raw,
            &server,
            SAFE_APPID,
            &follow_xml(who, "subscribe", t - 5)
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        follower(&client, &server, who).await,
        Some(false),
        "a retried subscribe(t-5)"
    );
    // A late subscribe older than the unsubscribe: changes nothing either.
    assert_eq!(
        deliver(
            &raw,
            &server,
            SAFE_APPID,
            &follow_xml(who, "subscribe", t - 3)
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        follower(&client, &server, who).await,
        Some(false),
        "a late subscribe(t-3)"
    );
    // A newer one does.
    assert_eq!(
        deliver(
            &raw,
            &server,
            SAFE_APPID,
            &follow_xml(who, "subscribe", t + 1)
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        follower(&client, &server, who).await,
        Some(true),
        "subscribe(t+1)"
    );

    // Senders that are no openid: acknowledged (WeChat stops retrying), never stored.
    for bad in [
        "=cmd|' /C calc'!A0",
        &"o".repeat(129),
        "o<script>alert(1)</script>0000",
    ] {
        let (query, body) = safe_push(SAFE_APPID, &follow_xml(bad, "subscribe", t));
        assert_eq!(
            post(&raw, &server, SAFE_APPID, &query, &body).await,
            (StatusCode::OK, "success".into()),
            "{bad:?}"
        );
    }
    // Signed and encrypted, but unreadable: acknowledged too.
    let (query, body) = safe_push(SAFE_APPID, "<xml><MsgType>");
    assert_eq!(
        post(&raw, &server, SAFE_APPID, &query, &body).await,
        (StatusCode::OK, "success".into()),
        "an unreadable push"
    );
    let dash: Value = call(&client, &server, "dashboard", &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(dash["followers"], 1, "only the genuine follower: {dash}");

    // A plaintext account takes plaintext pushes, once each.
    let plain = add_oa(&client, &server, PLAIN_APPID, "").await;
    select(&client, &server, plain).await;
    let q = plain_query();
    let other = "oHardeningPlain000000000000001";
    assert_eq!(
        post(
            &raw,
            &server,
            PLAIN_APPID,
            &q,
            &follow_xml(other, "subscribe", t)
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(follower(&client, &server, other).await, Some(true));
    let (status, _) = post(
        &raw,
        &server,
        PLAIN_APPID,
        &q,
        &follow_xml(other, "unsubscribe", t + 1),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "its signature reused with another body"
    );
    assert_eq!(follower(&client, &server, other).await, Some(true));
}
on_both_databases!(callbacks_refuse_downgrades_replays_and_stale_events);

/// Every CSV export neutralises formulas (OWASP) and keeps numbers such as `-1` as they are.
async fn csv_exports_neutralise_formulas(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);
    // A login attempt's username lands in the audit log as typed.
    let r = login(
        &server.client(),
        &server,
        "=HYPERLINK(\"http://evil.example\")",
        "x",
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let client = admin(&server).await;
    let csv = client
        .get(server.url("/export/audit.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
        "the formula is text: {csv}"
    );
    for line in csv.lines() {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(
                !cell.starts_with(['=', '+', '@']),
                "a live formula cell in {line}"
            );
        }
    }
}
on_both_databases!(csv_exports_neutralise_formulas);

// 5 ──────────────────────────────────────────────────────────────────────────────────────────

/// Requests that answered 500: a 4xx naming the field now, and no internals.
async fn malformed_requests_are_refused_by_field(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);

    // Anonymous, with a mistyped id: the arguments are checked first.
    let r = call(
        &server.client(),
        &server,
        "delete_account",
        &[("id", "abc")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("BadRequest") && body.contains("\"id\""),
        "{body}"
    );

    let client = admin(&server).await;
    let oa = add_oa(&client, &server, PLAIN_APPID, "").await;
    select(&client, &server, oa).await;
    // A filter value that is not one of the choices is a malformed argument: 400 naming it.
    for (k, v) in [("tag", "abc"), ("subscribed", "maybe"), ("matched", "1")] {
        let key = format!("filter[{k}]");
        for endpoint in ["count_followers", "list_followers"] {
            let mut form = vec![(key.as_str(), v)];
            if endpoint == "list_followers" {
                form.push(("after", ""));
            }
            let r = call(&client, &server, endpoint, &form).await;
            let status = r.status();
            let body = r.text().await.unwrap();
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{endpoint} {k}={v}: {body}"
            );
            assert!(
                body.contains(&format!("\"filter.{k}\"")),
                "{endpoint} {k}={v}: {body}"
            );
        }
    }
    // The followers export reads the page's URL: a value not offered is refused by name.
    let r = client
        .get(server.url("/export/followers.csv?matched=maybe"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("匹配状态"));
    let r = call_json(
        &client,
        &server,
        "plan_job",
        &json!({
            "source": { "Filter": { "subscribed": "maybe" } },
            "channel": "template",
            "mp_preset_id": 0,
        }),
    )
    .await;
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("\"source.Filter.subscribed\""), "{body}");
    let r = call(
        &client,
        &server,
        "create_account",
        &[
            ("kind", "oa"),
            ("name", "x"),
            ("appid", "wx5e1a00000000b009"),
            ("secret", "0123456789abcdef0123456789abcdef"),
            ("callback_token", ""),
            ("encoding_aes_key", ""),
            ("api_base", "http://127.0.0.1:9"),
            ("linked_account_id", "abc"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("linked_account_id"));
    let r = call(
        &client,
        &server,
        "import_mp_users",
        &[
            ("account_id", &oa.to_string()),
            ("csv", "openid\n"),
            ("first_line", "-3"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("first_line"));

    // Deleting an account asks for its AppID first.
    let r = call(
        &client,
        &server,
        "delete_account",
        &[("id", &oa.to_string()), ("confirm", "yes")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains(r#""code":"confirm_mismatch""#));
    let r = call(
        &client,
        &server,
        "delete_account",
        &[("id", &oa.to_string()), ("confirm", PLAIN_APPID)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}
on_both_databases!(malformed_requests_are_refused_by_field);

/// The engine's refusals reach server-function clients unchanged (issue 16): 422 with the field,
/// the problem's code and its parameters, not a generic "choose one of the listed options".
async fn refusals_reach_clients_as_data(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);
    let client = admin(&server).await;
    let r = call(
        &client,
        &server,
        "set_approval_threshold",
        &[("threshold", "100000001")],
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "Refused": {
            "field": "approval_threshold",
            "problem": { "code": "out_of_range", "params": { "min": 0, "max": 100_000_000 } },
        } })
    );
}
on_both_databases!(refusals_reach_clients_as_data);

// 7 ──────────────────────────────────────────────────────────────────────────────────────────

/// `GET path` sent as is (HTTP clients resolve dot segments before sending): the status and the
/// `Location` header.
async fn raw_get(server: &Server, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let location = text
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("location")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_default();
    (status, location)
}

/// `/pkg/../staff` is `/staff`: resolved before the guard decides, so it asks for a login.
async fn the_page_guard_resolves_dot_segments(db: TestDb) {
    let server = Server::start(&db);
    for path in [
        "/pkg/../staff",
        "/pkg/%2e%2e/staff",
        "/api/../staff",
        "/wechat/./../staff",
    ] {
        assert_eq!(
            raw_get(&server, path).await,
            (308, "/staff".to_owned()),
            "{path}"
        );
    }
    assert_eq!(
        raw_get(&server, "/pkg/../staff?tab=1").await,
        (308, "/staff?tab=1".to_owned())
    );
    assert_eq!(
        raw_get(&server, "/staff").await,
        (303, "/login?next=/staff".to_owned())
    );
}
on_both_databases!(the_page_guard_resolves_dot_segments);

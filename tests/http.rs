//! The console over HTTP, as browsers and the WeChat-facing clients see it, on both databases.

mod common;

use common::{add_user, call, login, page_text, session_cookie, Server, TestDb};
use engine::on_both_databases;
use reqwest::StatusCode;

const ADMIN_PW: &str = "admin-password-1";

async fn setup_link_works_once(db: TestDb) {
    let server = Server::start(&db);
    let link = server
        .setup_link
        .clone()
        .expect("a fresh install logs a setup link");
    let token = link.trim_start_matches("/setup?token=").to_owned();
    let client = server.client();

    let page = client.get(server.url(&link)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text().await.unwrap().contains("创建管理员"),
        "the setup form is shown"
    );

    let bad = call(
        &client,
        &server,
        "setup_admin",
        &[
            ("token", &token),
            ("username", "boss"),
            ("password", "short"),
            ("password_confirm", "short"),
        ],
    )
    .await;
    assert_eq!(
        bad.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "a short password is refused"
    );

    let res = call(
        &client,
        &server,
        "setup_admin",
        &[
            ("token", &token),
            ("username", "boss"),
            ("password", ADMIN_PW),
            ("password_confirm", ADMIN_PW),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let dash = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(dash.status(), StatusCode::OK, "the new admin is logged in");
    assert!(dash.text().await.unwrap().contains("boss"));

    let other = server.client();
    let again = call(
        &other,
        &server,
        "setup_admin",
        &[
            ("token", &token),
            ("username", "mallory"),
            ("password", ADMIN_PW),
            ("password_confirm", ADMIN_PW),
        ],
    )
    .await;
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    assert!(again.text().await.unwrap().contains("SetupClosed"));
    let page = page_text(&other, &server, &link).await;
    assert!(
        page.contains("此设置链接无效或已被使用"),
        "the link is dead"
    );
    assert!(!page.contains("创建管理员</button>"));

    let refused = login(&other, &server, "mallory", ADMIN_PW).await;
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "the second setup created nobody"
    );
    assert!(server.stop().success(), "SIGTERM ends the server cleanly");

    let restarted = Server::start(&db);
    assert!(
        restarted.setup_link.is_none(),
        "no setup link once staff exist"
    );
}
on_both_databases!(setup_link_works_once);

async fn login_logout_and_the_guard(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);
    assert!(server.setup_link.is_none());
    let client = server.client();

    let res = client.get(server.url("/followers")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login?next=/followers");
    let res = client.get(server.url("/")).send().await.unwrap();
    assert_eq!(res.headers()["location"], "/login");
    let login_page = client.get(server.url("/login")).send().await.unwrap();
    assert_eq!(login_page.status(), StatusCode::OK);

    // An anonymous session exists before login (the language choice), and login replaces its id.
    let pre = call(&client, &server, "set_language", &[("lang", "zh")]).await;
    let before = session_cookie(&pre).expect("anonymous session cookie");

    let wrong = call(
        &client,
        &server,
        "login",
        &[("username", "admin"), ("password", "not-the-password")],
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.text().await.unwrap(), "\"InvalidCredentials\"");
    let unknown = login(&client, &server, "nobody", ADMIN_PW).await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);

    let ok = call(
        &client,
        &server,
        "login",
        &[
            ("username", "admin"),
            ("password", ADMIN_PW),
            ("next", "/followers"),
        ],
    )
    .await;
    assert_eq!(ok.status(), StatusCode::OK);
    let cookie_header = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(cookie_header.contains("HttpOnly"), "{cookie_header}");
    assert!(cookie_header.contains("SameSite=Strict"), "{cookie_header}");
    let after = session_cookie(&ok).expect("session cookie after login");
    assert_ne!(before, after, "the session id is cycled at login");
    assert_eq!(
        ok.text().await.unwrap(),
        "\"/followers\"",
        "next is honoured"
    );

    let page = client.get(server.url("/followers")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("粉丝") && html.contains("admin"));

    // An off-site `next` is never followed.
    let other = server.client();
    let res = call(
        &other,
        &server,
        "login",
        &[
            ("username", "admin"),
            ("password", ADMIN_PW),
            ("next", "//evil.example/x"),
        ],
    )
    .await;
    assert_eq!(res.text().await.unwrap(), "\"/\"");

    // The old anonymous session id grants nothing.
    let stale = server.client();
    let res = stale
        .get(server.url("/"))
        .header("cookie", format!("wxpush_session={before}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let out = call(&client, &server, "logout", &[]).await;
    assert_eq!(out.status(), StatusCode::OK);
    let res = client.get(server.url("/followers")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "logged out");
    let res = server
        .client()
        .get(server.url("/"))
        .header("cookie", format!("wxpush_session={after}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the logged-out session id is dead"
    );
}
on_both_databases!(login_logout_and_the_guard);

async fn plain_form_login_without_javascript(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);
    let client = server.client();
    let form = |pw: &'static str| {
        client
            .post(server.url("/api/login"))
            .header("Accept", "text/html")
            .header("Referer", server.url("/login?next=/jobs"))
            .form(&[("username", "admin"), ("password", pw), ("next", "/jobs")])
    };
    let res = form("wrong-password").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let back = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(back.contains("/login"), "back to the form: {back}");
    let page = client
        .get(&back)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("用户名或密码错误"),
        "the error is shown without JavaScript"
    );

    let res = form(ADMIN_PW).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/jobs");
    assert_eq!(
        client
            .get(server.url("/jobs"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}
on_both_databases!(plain_form_login_without_javascript);

async fn throttling_by_username_and_by_ip(db: TestDb) {
    add_user(&db, "alice", "operator", ADMIN_PW);
    add_user(&db, "bob", "operator", ADMIN_PW);
    let server = Server::start_with(&db, &[("WXPUSH_TRUST_FORWARDED_FOR", "true")]);
    let client = server.client();
    let attempt = |user: &'static str, pw: &'static str, ip: String| {
        client
            .post(server.url("/api/login"))
            .header("Accept", "application/json")
            .header("X-Forwarded-For", ip)
            .form(&[("username", user), ("password", pw)])
            .send()
    };

    // Username: five failures from five addresses lock alice, even with the right password.
    for i in 0..4 {
        let r = attempt("alice", "wrong-password", format!("10.0.0.{i}"))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = attempt("alice", ADMIN_PW, "10.0.0.50".into())
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "four failures do not lock; success clears them"
    );
    for i in 0..5 {
        attempt("alice", "wrong-password", format!("10.0.1.{i}"))
            .await
            .unwrap();
    }
    let r = attempt("alice", ADMIN_PW, "10.0.1.99".into())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Throttled") && body.contains("retry_after_secs"),
        "{body}"
    );

    // IP: five failures from one address for several names lock that address for everyone.
    for name in ["carol", "dave", "erin", "frank", "grace"] {
        let r = client
            .post(server.url("/api/login"))
            .header("X-Forwarded-For", "10.9.9.9")
            .form(&[("username", name), ("password", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = attempt("bob", ADMIN_PW, "10.9.9.9".into()).await.unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the address is locked"
    );
    let r = attempt("bob", ADMIN_PW, "10.9.9.10".into()).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "another address is not");
}
on_both_databases!(throttling_by_username_and_by_ip);

async fn language_is_remembered_per_user(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);
    let client = server.client();
    login(&client, &server, "admin", ADMIN_PW).await;
    let html = page_text(&client, &server, "/").await;
    assert!(html.contains("<html lang=\"zh-CN\"") && html.contains("仪表盘"));
    let r = call(&client, &server, "set_language", &[("lang", "en")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let bad = call(&client, &server, "set_language", &[("lang", "fr")]).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    call(&client, &server, "logout", &[]).await;

    let fresh = server.client();
    login(&fresh, &server, "admin", ADMIN_PW).await;
    let html = page_text(&fresh, &server, "/").await;
    assert!(
        html.contains("<html lang=\"en\"") && html.contains("Dashboard"),
        "English after a new login"
    );
}
on_both_databases!(language_is_remembered_per_user);

async fn web_security_and_health(db: TestDb) {
    let server = Server::start(&db);
    let client = server.client();

    let r = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), "ready");

    let r = client.get(server.url("/login")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        csp.contains("'wasm-unsafe-eval'"),
        "hydration needs WebAssembly: {csp}"
    );
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("a nonce")
        .to_owned();
    let html = r.text().await.unwrap();
    assert!(
        html.contains(&format!("nonce=\"{nonce}\"")),
        "the hydration script carries the nonce"
    );
    let again = client.get(server.url("/login")).send().await.unwrap();
    assert!(
        !again.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains(&nonce),
        "a new nonce per response"
    );

    for headers in [
        vec![("Origin", "https://evil.example")],
        vec![("Sec-Fetch-Site", "cross-site")],
    ] {
        let mut req = client
            .post(server.url("/api/login"))
            .form(&[("username", "a"), ("password", "b")]);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "cross-site POST refused");
    }
    let r = client
        .post(server.url("/api/login"))
        .header("Origin", server.base.clone())
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("username", "a"), ("password", "b")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "same-origin POST reaches the login"
    );
}
on_both_databases!(web_security_and_health);

#[test]
fn migrate_command_and_bad_configuration() {
    let db = TestDb::sqlite();
    let out = std::process::Command::new(common::BIN)
        .arg("migrate")
        .env("WXPUSH_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("database migrated (sqlite)"));

    let out = std::process::Command::new(common::BIN)
        .arg("migrate")
        .env("WXPUSH_DATABASE_URL", "mysql://x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WXPUSH_DATABASE_URL"));

    let out = std::process::Command::new(common::BIN)
        .args(["user", "add", "--username", "x y", "--role", "admin"])
        .env("WXPUSH_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--username"));
}

#[test]
fn user_add_refuses_a_duplicate() {
    let db = TestDb::sqlite();
    add_user(&db, "ops", "operator", ADMIN_PW);
    let mut child = std::process::Command::new(common::BIN)
        .args(["user", "add", "--username", "ops", "--role", "admin"])
        .env("WXPUSH_DATABASE_URL", &db.url)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{ADMIN_PW}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

async fn sandbox_registers_linked_demo_accounts(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    let accounts = |client: reqwest::Client, server_url: String| async move {
        let r = client
            .post(format!("{server_url}/api/list_accounts"))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        r.json::<Vec<serde_json::Value>>().await.unwrap()
    };
    for round in 0..2 {
        // The second start re-points the same accounts at a new simulator instead of adding more.
        let server = Server::start_full(&db, &["--sandbox"], &[]);
        let client = server.client();
        login(&client, &server, "admin", ADMIN_PW).await;
        let list = accounts(client.clone(), server.base.clone()).await;
        assert_eq!(list.len(), 2, "round {round}: one OA and one MP");
        assert!(list.iter().all(|a| a["sandbox"] == true));
        let oa = list.iter().find(|a| a["kind"] == "oa").unwrap();
        let mp = list.iter().find(|a| a["kind"] == "mp").unwrap();
        assert_eq!(oa["linked_account_id"], mp["id"]);
        assert_eq!(mp["linked_account_id"], oa["id"]);
        assert!(
            !oa.to_string().contains("secret\":\""),
            "no secret value is serialized"
        );
        let r = call(
            &client,
            &server,
            "test_account_connection",
            &[("id", &oa["id"].to_string())],
        )
        .await;
        let test: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            test["ok"], true,
            "round {round}: the sandbox simulator answers: {test}"
        );
        let html = page_text(&client, &server, "/").await;
        assert!(
            html.contains("沙箱公众号"),
            "the switcher names the sandbox account"
        );
    }
    let server = Server::start_full(&db, &["--sandbox", "auto"], &[]);
    let client = server.client();
    login(&client, &server, "admin", ADMIN_PW).await;
    assert_eq!(
        accounts(client, server.base.clone()).await.len(),
        2,
        "auto with only sandbox accounts keeps the sandbox"
    );
}
on_both_databases!(sandbox_registers_linked_demo_accounts);

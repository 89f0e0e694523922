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

async fn throttling_by_the_source_of_failures(db: TestDb) {
    add_user(&db, "alice", "operator", ADMIN_PW);
    add_user(&db, "bob", "operator", ADMIN_PW);
    // The in-memory rate limits are not what this test is about.
    let server = Server::start_with(
        &db,
        &[
            ("WXPUSH_TRUST_FORWARDED_FOR", "true"),
            ("WXPUSH_LOGIN_PER_IP_PER_MIN", "10000"),
            ("WXPUSH_LOGIN_PER_USER_PER_MIN", "10000"),
        ],
    );
    // Alice's own browser: it logged in before, so it holds her device cookie.
    let alice_browser = server.client();
    let attacker = server.client();
    let attempt = |client: &reqwest::Client, user: &str, pw: &str, ip: &str| {
        client
            .post(server.url("/api/login"))
            .header("Accept", "application/json")
            .header("X-Forwarded-For", ip.to_owned())
            .form(&[("username", user), ("password", pw)])
            .send()
    };
    let r = attempt(&alice_browser, "alice", ADMIN_PW, "10.0.0.1")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let device = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("wxpush_device="))
        .expect("a device cookie")
        .to_owned();
    assert!(
        device.contains("HttpOnly") && device.contains("SameSite=Strict"),
        "{device}"
    );
    call(&alice_browser, &server, "logout", &[]).await;

    // Five wrong passwords from one address lock alice there, for untrusted clients...
    for _ in 0..5 {
        let r = attempt(&attacker, "alice", "wrong-password", "10.6.6.6")
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = attempt(&attacker, "alice", ADMIN_PW, "10.6.6.6")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("Throttled") && body.contains("retry_after_secs"),
        "{body}"
    );
    // ...but not from elsewhere, and never from her own browser, even at that address.
    let r = attempt(&server.client(), "alice", ADMIN_PW, "10.0.0.2")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "another address");
    let r = attempt(&alice_browser, "alice", ADMIN_PW, "10.6.6.6")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "her trusted browser");
    call(&alice_browser, &server, "logout", &[]).await;

    // A device cookie from someone else's browser or made up is no trust for alice.
    let forged = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = forged
        .post(server.url("/api/login"))
        .header("Accept", "application/json")
        .header("X-Forwarded-For", "10.6.6.6")
        .header("Cookie", format!("wxpush_device={}", "ab".repeat(32)))
        .form(&[("username", "alice"), ("password", ADMIN_PW)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    // Guessing from many addresses: after 50 untrusted failures, untrusted clients are locked
    // out of alice everywhere; her browser still logs in.
    for i in 0..50 {
        attempt(
            &attacker,
            "alice",
            "wrong-password",
            &format!("10.7.{}.{}", i / 200, i % 200),
        )
        .await
        .unwrap();
    }
    let r = attempt(&server.client(), "alice", ADMIN_PW, "10.8.0.1")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let r = attempt(&alice_browser, "alice", ADMIN_PW, "10.8.0.1")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "her trusted browser");

    // An address failing for many names is locked for untrusted clients (20 failures).
    for i in 0..20 {
        let r = attempt(&attacker, &format!("user{i}"), "x", "10.9.9.9")
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
    let r = attempt(&server.client(), "bob", ADMIN_PW, "10.9.9.9")
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the address is locked"
    );
    let r = attempt(&server.client(), "bob", ADMIN_PW, "10.9.9.10")
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "another address is not");
}
on_both_databases!(throttling_by_the_source_of_failures);

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

async fn migrate_command_and_bad_configuration(db: TestDb) {
    let dialect = if db.url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let out = std::process::Command::new(common::BIN)
        .arg("migrate")
        .env("WXPUSH_DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("database migrated ({dialect})"))
    );

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
on_both_databases!(migrate_command_and_bad_configuration);

async fn user_add_refuses_a_duplicate(db: TestDb) {
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
on_both_databases!(user_add_refuses_a_duplicate);

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
        let dash: serde_json::Value = call(&client, &server, "dashboard", &[])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            dash["mp_users"], 8_000,
            "round {round}: the demo Mini Program users are known, once"
        );
    }
    let server = Server::start_full(&db, &["--sandbox", "auto"], &[]);
    let client = server.client();
    login(&client, &server, "admin", ADMIN_PW).await;
    let list = accounts(client, server.base.clone()).await;
    assert_eq!(
        list.len(),
        2,
        "auto with only sandbox accounts keeps the sandbox"
    );

    // The sandbox simulator pushes to wxpush's callback URLs: a subscribe popup is accepted
    // (signed with the sandbox account's token), not refused.
    let sim = list[0]["api_base"]
        .as_str()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let cfg: serde_json::Value = reqwest::get(format!("{sim}/sim/accounts"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for side in ["oa", "mp"] {
        assert_eq!(
            cfg[side]["callback"]["url"],
            format!(
                "{}/wechat/callback/{}",
                server.base,
                cfg[side]["appid"].as_str().unwrap()
            ),
            "{side}: {cfg}"
        );
    }
    let templates: serde_json::Value = reqwest::get(format!("{sim}/sim/templates"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let users: serde_json::Value = reqwest::get(format!("{sim}/sim/mp/users?offset=0&limit=1"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let popup = reqwest::Client::new()
        .post(format!("{sim}/sim/mp/popup"))
        .json(&serde_json::json!({
            "openid": users["users"][0]["openid"],
            "template_id": templates["mp"][0]["priTmplId"],
            "status": "accept",
        }))
        .send()
        .await
        .unwrap();
    assert!(popup.status().is_success());
    let mut stats = serde_json::Value::Null;
    for _ in 0..100 {
        stats = reqwest::get(format!("{sim}/sim/receipts"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if stats["pending"] == 0 && stats["pushed"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(stats["pushed"], 1, "{stats}");
    assert_eq!(stats["failed"], 0, "{stats}");
}
on_both_databases!(sandbox_registers_linked_demo_accounts);

/// The Mini Program backend's login API: keys created by an admin on the settings page, every
/// answer JSON, codes exchanged with the (in-process) simulator, rate limits per key.
async fn mini_program_login_api(db: TestDb) {
    let sim = wechat_sim::start(
        wechat_sim::SimConfig {
            followers: 20,
            mp_users: 10,
            mp_unionid_ratio: 0.5,
            matched_ratio: 0.4,
            ..wechat_sim::SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    let cfg = sim.config();
    add_user(&db, "admin", "admin", ADMIN_PW);
    add_user(&db, "ops", "operator", ADMIN_PW);
    let server = Server::start(&db);
    let admin = server.client();
    assert_eq!(
        login(&admin, &server, "admin", ADMIN_PW).await.status(),
        StatusCode::OK
    );
    let r = call(
        &admin,
        &server,
        "create_account",
        &[
            ("kind", "mp"),
            ("name", "测试小程序"),
            ("appid", &cfg.mp_appid),
            ("secret", &cfg.mp_secret),
            ("callback_token", ""),
            ("encoding_aes_key", ""),
            ("api_base", &sim.base_url),
            ("linked_account_id", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mp_id = r.json::<i64>().await.unwrap().to_string();
    let create_key = {
        let (admin, server, mp_id) = (&admin, &server, mp_id.as_str());
        move || async move {
            let r = call(admin, server, "create_mp_api_key", &[("account_id", mp_id)]).await;
            assert_eq!(r.status(), StatusCode::OK);
            let v: serde_json::Value = r.json().await.unwrap();
            (
                v["key"].as_str().unwrap().to_owned(),
                v["info"]["id"].to_string(),
            )
        }
    };
    let (key, key_id) = create_key().await;
    assert!(key.starts_with("wxp_"));
    let r = call(&admin, &server, "list_mp_api_keys", &[]).await;
    let listed = r.text().await.unwrap();
    assert!(listed.contains(&key[..12]), "{listed}");
    assert!(!listed.contains(&key), "the list never holds a key");
    assert!(listed.contains(&format!("/api/mp/{}/login", cfg.mp_appid)));
    let html = page_text(&admin, &server, "/settings").await;
    assert!(html.contains("小程序后端接口") && html.contains(&key[..12]));
    assert!(
        !html.contains(&key),
        "the settings page never shows a stored key"
    );

    // Operators and anonymous callers cannot manage keys.
    let ops = server.client();
    login(&ops, &server, "ops", ADMIN_PW).await;
    for (endpoint, form) in [
        ("create_mp_api_key", vec![("account_id", mp_id.as_str())]),
        ("list_mp_api_keys", vec![]),
        ("revoke_mp_api_key", vec![("key_id", key_id.as_str())]),
        (
            "import_mp_users",
            vec![("account_id", mp_id.as_str()), ("csv", "")],
        ),
    ] {
        let r = call(&ops, &server, endpoint, &form).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "operator: {endpoint}");
        let r = call(&server.client(), &server, endpoint, &form).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "anonymous: {endpoint}"
        );
    }

    let api = reqwest::Client::new();
    let url = server.url(&format!("/api/mp/{}/login", cfg.mp_appid));
    let post = |key: Option<&str>, body: serde_json::Value| {
        let mut req = api.post(&url).json(&body);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        req.send()
    };

    // A login: openid and unionid as WeChat gave them, never the session key.
    for index in 0..4 {
        let code = sim.mint_code(index, false).unwrap();
        let r = post(Some(&key), serde_json::json!({ "code": code }))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let text = r.text().await.unwrap();
        assert!(!text.contains("session_key"), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["openid"], sim.mp_openid(index).unwrap().as_str());
        assert_eq!(
            v["unionid"],
            sim.mp_unionid(index)
                .map_or(serde_json::Value::Null, serde_json::Value::from)
        );
        if index == 0 {
            // The same code again: WeChat says it was used.
            let r = post(Some(&key), serde_json::json!({ "code": code }))
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST);
            let v: serde_json::Value = r.json().await.unwrap();
            assert_eq!(v["errcode"], 40163);
            assert!(v["error"].as_str().unwrap().contains("already been used"));
        }
    }
    let code = sim.mint_code(5, false).unwrap();
    let r = api
        .post(&url)
        .header("X-Api-Key", &key)
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "X-Api-Key works too");
    let blocked = sim.mint_code(6, true).unwrap();
    let r = post(Some(&key), serde_json::json!({ "code": blocked }))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["errcode"],
        40226
    );

    // Authentication, routing and body errors, all JSON.
    let code = sim.mint_code(7, false).unwrap();
    let r = post(None, serde_json::json!({ "code": code }))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("www-authenticate"));
    assert!(r.json::<serde_json::Value>().await.unwrap()["error"].is_string());
    let wrong = format!("wxp_{}", "0".repeat(64));
    let r = post(Some(&wrong), serde_json::json!({ "code": code }))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = api
        .post(server.url("/api/mp/wx0000000000000000/login"))
        .bearer_auth(&key)
        .json(&serde_json::json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    for body in [serde_json::json!({}), serde_json::json!({ "code": 5 })] {
        let r = post(Some(&key), body).await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.json::<serde_json::Value>().await.unwrap()["error"].is_string());
    }
    let r = api
        .post(&url)
        .bearer_auth(&key)
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // The users are known now; an import adds more and reports its bad lines.
    let csv = format!(
        "openid,unionid\n{}\nbad-openid\n{}\n",
        sim.mp_openid(8).unwrap(),
        sim.mp_openid(0).unwrap()
    );
    let r = call(
        &admin,
        &server,
        "import_mp_users",
        &[("account_id", &mp_id), ("csv", &csv)],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: serde_json::Value = r.json().await.unwrap();
    let report = &v["Imported"];
    assert_eq!(report["inserted"], 1, "{v}");
    assert_eq!(report["updated"], 1, "{v}");
    assert_eq!(report["errors"][0]["line"], 3, "{v}");

    // A revoked key is refused.
    let r = call(&admin, &server, "revoke_mp_api_key", &[("key_id", &key_id)]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(Some(&key), serde_json::json!({ "code": code }))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A burst beyond the per-key limit is slowed down with 429 and Retry-After.
    let (fresh, _) = create_key().await;
    let requests = (0..100).map(|_| {
        api.post(&url)
            .bearer_auth(&fresh)
            .json(&serde_json::json!({ "code": "unknowncode" }))
            .send()
    });
    let answers = futures_join_all(requests).await;
    let limited: Vec<_> = answers
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(!limited.is_empty(), "the burst hits the limit");
    assert!(limited
        .iter()
        .all(|r| r.headers().contains_key("retry-after")));
    assert!(
        answers
            .iter()
            .any(|r| r.status() == StatusCode::BAD_REQUEST),
        "the first requests of the burst reach WeChat (unknown code → 40029)"
    );
    sim.shutdown().await;
}
on_both_databases!(mini_program_login_api);

/// Runs the requests concurrently and waits for all answers.
async fn futures_join_all<F>(requests: impl Iterator<Item = F>) -> Vec<reqwest::Response>
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

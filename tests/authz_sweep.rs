//! Authorization sweep: every server function, route and page is classified here, refused without a session, and admin-only ones are forbidden to operators.
//!
//! The server functions are listed from server_fn's registry (the root crate links `app` with
//! `ssr`) and from the `#[server(…)]` attributes in `app/src`; the plain routes from the
//! `.route("…")` calls in `src/`; the pages from the `path!("…")` routes in `app/src/app.rs`. A
//! path that is not in the tables below fails the test: classify it (public, staff or admin)
//! and give it minimal well-formed arguments, so that the call reaches the check instead of
//! failing to decode (the answer's body proves it: `"Unauthenticated"` / `"Forbidden"`).

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{add_user, announce_body, login, Server, TestDb};
use engine::on_both_databases;
use reqwest::StatusCode;

const ADMIN_PW: &str = "admin-password-1";
const OPERATOR_PW: &str = "operator-password-1";
/// `WXPUSH_METRICS_TOKEN` of the swept server (so `/metrics` is on and must refuse).
const METRICS_TOKEN: &str = "sweep-metrics-token-0123456789";

/// Who may call a server function or load a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// Anyone (login, setup, language, health).
    Public,
    /// Any logged-in staff member (operators included): 401 without a session.
    Staff,
    /// Admins only: 401 without a session, 403 for an operator.
    Admin,
    /// Not a browser route: authenticated by WeChat's signature or a Mini Program API key.
    External,
    /// Not a browser route: `Authorization: Bearer` with `WXPUSH_METRICS_TOKEN`; 401 without
    /// it, whether logged in or not.
    MetricsToken,
    /// The send API: `Authorization: Bearer` with a send key; 401 without one, whether logged
    /// in as an admin or not.
    SendKey,
}
use Access::*;

/// Form fields of a call.
type Args = &'static [(&'static str, &'static str)];
/// A server function's endpoint, access and arguments.
type FnEntry = (&'static str, Access, Args);

/// Every server function: its endpoint under `/api/`, who may call it, and minimal arguments
/// that decode (an id that does not exist is fine: the check comes first).
const SERVER_FNS: &[FnEntry] = &[
    // auth.rs
    (
        "login",
        Public,
        &[("username", "nobody"), ("password", "x")],
    ),
    ("logout", Public, &[]),
    ("setup_status", Public, &[("token", "x")]),
    (
        "setup_admin",
        Public,
        &[
            ("token", "x"),
            ("username", "nobody"),
            ("password", "a-long-password-1"),
            ("password_confirm", "a-long-password-1"),
        ],
    ),
    ("set_language", Public, &[("lang", "zh")]),
    // accounts.rs
    ("list_accounts", Admin, &[]),
    (
        "create_account",
        Admin,
        &[
            ("kind", "oa"),
            ("name", "sweep"),
            ("appid", "wx0000000000000000"),
            ("secret", "0123456789abcdef0123456789abcdef"),
            ("callback_token", ""),
            ("encoding_aes_key", ""),
            ("api_base", "http://127.0.0.1:9"),
            ("linked_account_id", ""),
        ],
    ),
    (
        "delete_account",
        Admin,
        &[("id", "999999"), ("confirm", "wx0000000000000000")],
    ),
    ("test_account_connection", Admin, &[("id", "999999")]),
    ("account_choice", Staff, &[]),
    ("select_account", Staff, &[("id", "999999")]),
    // audit.rs
    (
        "list_audit",
        Admin,
        &[
            ("action", ""),
            ("actor", ""),
            ("from", ""),
            ("until", ""),
            ("q", ""),
            ("before", ""),
        ],
    ),
    // followers.rs
    (
        "list_followers",
        Staff,
        &[("filter[subscribed]", "true"), ("after", "")],
    ),
    ("count_followers", Staff, &[("filter[tag]", "2")]),
    ("start_follower_sync", Staff, &[]),
    ("cancel_follower_sync", Staff, &[]),
    ("sync_status", Staff, &[]),
    ("dashboard", Staff, &[]),
    // instances.rs
    ("list_instances", Admin, &[]),
    // jobs.rs
    (
        "plan_job",
        Staff,
        &[
            ("source", "\"AllSubscribed\""),
            ("channel", "template"),
            ("mp_preset_id", "0"),
        ],
    ),
    (
        "create_job",
        Staff,
        &[
            ("preset_id", "999999"),
            ("mp_preset_id", "0"),
            ("channel", "template"),
            ("name", "sweep"),
            ("source", "\"AllSubscribed\""),
            ("rate_limit", "10"),
        ],
    ),
    ("list_jobs", Staff, &[]),
    ("job_progress", Staff, &[("id", "999999")]),
    ("approval_threshold", Staff, &[]),
    ("set_approval_threshold", Admin, &[("threshold", "10000")]),
    ("sheet_summary", Staff, &[("sheet_id", "999999")]),
    (
        "reschedule_job",
        Staff,
        &[
            ("id", "999999"),
            ("start_at", "2030-01-01T09:00"),
            ("name", "x"),
            ("rate_limit", "10"),
        ],
    ),
    (
        "review_sheet",
        Staff,
        &[("sheet_id", "999999"), ("preset_id", "999999")],
    ),
    ("new_job_from_failures", Staff, &[("id", "999999")]),
    // schedules.rs
    ("schedules_page", Staff, &[]),
    ("schedule_page", Staff, &[("id", "999999")]),
    (
        "preview_rhythm",
        Staff,
        &[("rhythm", r#"{"kind":"daily","at":{"hour":10,"minute":0}}"#)],
    ),
    (
        "create_schedule",
        Staff,
        &[
            ("name", "sweep"),
            ("channel", "template"),
            ("preset_id", "999999"),
            ("mp_preset_id", "0"),
            ("source", "\"AllSubscribed\""),
            ("rhythm", r#"{"kind":"daily","at":{"hour":10,"minute":0}}"#),
            ("rate_limit", "10"),
        ],
    ),
    (
        "control_schedule",
        Staff,
        &[("id", "999999"), ("action", "pause")],
    ),
    // send_rules.rs
    ("load_send_rules", Admin, &[]),
    (
        "set_console_time_zone",
        Admin,
        &[("time_zone", "Asia/Shanghai")],
    ),
    (
        "save_send_rules",
        Admin,
        &[
            ("quiet_on", "false"),
            ("quiet_start", "22:00"),
            ("quiet_end", "08:00"),
            ("cap_on", "false"),
            ("daily_cap", ""),
        ],
    ),
    (
        "job_recipients",
        Staff,
        &[
            ("id", "999999"),
            ("state_filter", "sent"),
            ("errcode", ""),
            ("search", ""),
            ("after", "0"),
        ],
    ),
    (
        "control_job",
        Staff,
        &[("id", "999999"), ("action", "pause")],
    ),
    // mp.rs
    ("create_mp_api_key", Admin, &[("account_id", "999999")]),
    ("list_mp_api_keys", Admin, &[]),
    ("revoke_mp_api_key", Admin, &[("key_id", "999999")]),
    (
        "import_mp_users",
        Admin,
        &[("account_id", "999999"), ("csv", "openid,unionid\n")],
    ),
    // send_api.rs
    ("list_send_keys", Admin, &[]),
    (
        "create_send_key",
        Admin,
        &[("name", "x"), ("preset", "0"), ("rate", "10")],
    ),
    ("revoke_send_key", Admin, &[("key_id", "999999")]),
    ("api_messages", Staff, &[("filter[key]", "1")]),
    ("load_api_message", Staff, &[("id", "999999")]),
    (
        "set_send_key_webhook",
        Admin,
        &[("key_id", "999999"), ("url", "")],
    ),
    // profile.rs
    ("my_test_openids", Staff, &[]),
    (
        "set_my_test_openid",
        Staff,
        &[("account_id", "999999"), ("openid", "")],
    ),
    // staff.rs: staff management is admin-only; one's own password is any staff member's.
    ("list_staff_members", Admin, &[]),
    (
        "add_staff",
        Admin,
        &[
            ("username", "sweep.user"),
            ("role", "operator"),
            ("password", "a-long-password-1"),
            ("password_confirm", "a-long-password-1"),
        ],
    ),
    (
        "change_staff_role",
        Admin,
        &[("id", "999999"), ("role", "admin")],
    ),
    (
        "set_staff_disabled",
        Admin,
        &[("id", "999999"), ("disabled", "true")],
    ),
    ("reset_staff_password", Admin, &[("id", "999999")]),
    (
        "change_my_password",
        Staff,
        &[
            ("current_password", "not-the-password"),
            ("new_password", "a-long-password-2"),
            ("new_password_confirm", "a-long-password-2"),
        ],
    ),
    // templates.rs
    ("templates_page", Staff, &[]),
    ("sync_templates", Admin, &[("kind", "oa")]),
    ("preset_editor", Staff, &[("id", "999999")]),
    (
        "save_preset",
        Admin,
        &[
            ("id", "0"),
            ("name", "sweep"),
            ("template_ref", "999999"),
            ("body", "{}"),
        ],
    ),
    ("duplicate_preset", Admin, &[("id", "999999")]),
    ("delete_preset", Admin, &[("id", "999999")]),
    ("test_send_preset", Staff, &[("id", "999999")]),
];

/// Every plain axum route as written in `src/` (`.route("…")`), who may load it, and a URL.
const ROUTES: &[(&str, Access, &str)] = &[
    ("/healthz", Public, "/healthz"),
    ("/readyz", Public, "/readyz"),
    ("/metrics", MetricsToken, "/metrics"),
    ("/events/sync", Staff, "/events/sync"),
    ("/export/followers.csv", Staff, "/export/followers.csv"),
    ("/export/jobs/{file}", Staff, "/export/jobs/1.csv"),
    ("/export/audit.csv", Admin, "/export/audit.csv"),
    ("/jobs/sheets", Staff, "/jobs/sheets"),
    (
        "/wechat/callback/{appid}",
        External,
        "/wechat/callback/wx0000000000000000",
    ),
    (
        "/api/mp/{appid}/login",
        External,
        "/api/mp/wx0000000000000000/login",
    ),
    (
        "/api/mp/{appid}/subscriptions",
        External,
        "/api/mp/wx0000000000000000/subscriptions",
    ),
    ("/api/v1/messages", SendKey, "/api/v1/messages"),
    ("/api/v1/messages/{id}", SendKey, "/api/v1/messages/1"),
    ("/api/v1/messages/batch", SendKey, "/api/v1/messages/batch"),
    ("/api/v1/openapi.json", Public, "/api/v1/openapi.json"),
];

/// Every page route in `app/src/app.rs` (`path!("…")`), who may load it, and a URL. Pages need
/// a login; what an admin-only page shows comes from admin-only server functions (above).
const PAGES: &[(&str, Access, &str)] = &[
    ("/login", Public, "/login"),
    ("/setup", Public, "/setup"),
    ("", Staff, "/"),
    ("followers", Staff, "/followers"),
    ("templates", Staff, "/templates"),
    ("templates/presets/:id", Staff, "/templates/presets/1"),
    ("jobs", Staff, "/jobs"),
    ("jobs/new", Staff, "/jobs/new"),
    ("jobs/:id", Staff, "/jobs/1"),
    ("schedules", Staff, "/schedules"),
    ("schedules/:id", Staff, "/schedules/1"),
    ("api-messages", Staff, "/api-messages"),
    ("api-messages/:id", Staff, "/api-messages/1"),
    ("settings", Staff, "/settings"),
    ("staff", Admin, "/staff"),
    ("audit", Admin, "/audit"),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The string literals that follow `marker` in `files` (whitespace and line breaks allowed
/// between them), e.g. the `"…"` of `.route(\n    "…"`.
fn literals_after(files: &[std::path::PathBuf], marker: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        for piece in text.split(marker).skip(1) {
            if let Some(lit) = piece.trim_start().strip_prefix('"') {
                if let Some(end) = lit.find('"') {
                    found.insert(lit[..end].to_owned());
                }
            }
        }
    }
    found
}

/// Server function paths from the `#[server(… endpoint = "…")]` attributes in `app/src`.
fn server_fns_in_source() -> BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root().join("app/src"), &mut files);
    let mut found = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        // `#[server(default)]` marks an optional argument, not a function.
        for (i, _) in text
            .match_indices("#[server(")
            .filter(|(i, _)| !text[*i..].starts_with("#[server(default)]"))
        {
            let attr = &text[i..text[i..].find(")]").map_or(text.len(), |e| i + e)];
            let endpoint = attr
                .split("endpoint = \"")
                .nth(1)
                .and_then(|s| s.split('"').next());
            match endpoint {
                Some(e) => found.insert(format!("/api/{e}")),
                None => panic!(
                    "{}: a #[server] without `endpoint = \"…\"`; name it so the sweep can list it",
                    file.display()
                ),
            };
        }
    }
    found
}

/// Server function paths and methods from server_fn's registry in this (ssr) build.
fn registered_server_fns() -> BTreeSet<(String, String)> {
    // What the server does first: this links the whole app (and its server functions' registry
    // entries) into the test binary.
    let _ = leptos_axum::generate_route_list(app::app::App);
    leptos::server_fn::axum::server_fn_paths()
        .map(|(path, method)| (path.to_owned(), method.to_string()))
        .collect()
}

/// The registry's server functions, and any `#[server]` in the source it lacks (as POST).
fn all_server_fns() -> BTreeSet<(String, String)> {
    let mut all = registered_server_fns();
    for path in server_fns_in_source() {
        if !all.iter().any(|(p, _)| *p == path) {
            all.insert((path, "POST".to_owned()));
        }
    }
    all
}

fn table_fn(path: &str) -> Option<&'static FnEntry> {
    SERVER_FNS
        .iter()
        .find(|(endpoint, _, _)| format!("/api/{endpoint}") == path)
}

/// Checks that the tables list exactly what the build and the source register.
#[test]
fn every_server_function_route_and_page_is_classified() {
    let registered = registered_server_fns();
    let in_source = server_fns_in_source();
    let registered_paths: BTreeSet<String> = registered.iter().map(|(p, _)| p.clone()).collect();
    assert!(
        !registered.is_empty(),
        "server_fn's registry is empty: the app's server functions are not linked in"
    );
    assert_eq!(
        registered_paths, in_source,
        "server_fn's registry and the #[server] attributes in app/src disagree"
    );
    let unclassified: Vec<&String> = registered_paths
        .iter()
        .filter(|p| table_fn(p).is_none())
        .collect();
    assert!(
        unclassified.is_empty(),
        "server functions missing from SERVER_FNS in tests/authz_sweep.rs: {unclassified:?}; \
         classify each (Public, Staff or Admin) and give it minimal well-formed arguments"
    );
    let diagnosed: BTreeSet<String> = app::args::known_paths()
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        diagnosed, registered_paths,
        "app/src/args.rs must list every server function (it names the field of a malformed call)"
    );
    let stale: Vec<&str> = SERVER_FNS
        .iter()
        .map(|(e, _, _)| *e)
        .filter(|e| !registered_paths.contains(&format!("/api/{e}")))
        .collect();
    assert!(
        stale.is_empty(),
        "SERVER_FNS lists server functions that no longer exist: {stale:?}"
    );

    let mut sources = Vec::new();
    rust_files(&root().join("src"), &mut sources);
    let routes = literals_after(&sources, ".route(");
    let classified: BTreeSet<String> = ROUTES.iter().map(|(p, _, _)| (*p).to_owned()).collect();
    let unclassified: Vec<&String> = routes.difference(&classified).collect();
    assert!(
        unclassified.is_empty(),
        "routes missing from ROUTES in tests/authz_sweep.rs: {unclassified:?}; classify each"
    );
    let stale: Vec<&String> = classified.difference(&routes).collect();
    assert!(
        stale.is_empty(),
        "ROUTES lists routes that no longer exist: {stale:?}"
    );

    let pages = literals_after(&[root().join("app/src/app.rs")], "path!(");
    let classified: BTreeSet<String> = PAGES.iter().map(|(p, _, _)| (*p).to_owned()).collect();
    let unclassified: Vec<&String> = pages.difference(&classified).collect();
    assert!(
        unclassified.is_empty(),
        "pages missing from PAGES in tests/authz_sweep.rs: {unclassified:?}; classify each"
    );
    let stale: Vec<&String> = classified.difference(&pages).collect();
    assert!(
        stale.is_empty(),
        "PAGES lists pages that no longer exist: {stale:?}"
    );
}

/// A malformed call: how it is malformed, its form, and the field a 400 must name (a number
/// that was sent as text).
type Malformed = (
    String,
    Vec<(&'static str, &'static str)>,
    Option<&'static str>,
);

/// Server functions whose arguments travel as JSON (they are nested: a recipient source).
const JSON_FNS: &[&str] = &[
    "/api/plan_job",
    "/api/create_job",
    "/api/preview_rhythm",
    "/api/create_schedule",
];

/// Calls a server function the way a hydrated page does (its registered method and encoding).
/// For a JSON function each value is sent as the JSON it spells, or else as a string.
async fn call_fn(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    method: &str,
    args: &[(&str, &str)],
) -> (StatusCode, String) {
    let req = if method.eq_ignore_ascii_case("GET") {
        client.get(server.url(path)).query(args)
    } else if JSON_FNS.contains(&path) {
        let body: serde_json::Map<String, serde_json::Value> = args
            .iter()
            .map(|(k, v)| {
                let value = serde_json::from_str(v).unwrap_or_else(|_| (*v).into());
                ((*k).to_owned(), value)
            })
            .collect();
        client.post(server.url(path)).json(&body)
    } else {
        client.post(server.url(path)).form(args)
    };
    let res = req
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.text().await.unwrap_or_default())
}

async fn sweep(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    add_user(&db, "operator", "operator", OPERATOR_PW);
    let server = Server::start_with(&db, &[("WXPUSH_METRICS_TOKEN", METRICS_TOKEN)]);
    let registered = all_server_fns();
    let mut failures = Vec::new();

    // Without a session: every non-public server function answers 401 from its own check.
    let anonymous = server.client();
    let mut checked = 0;
    for (path, method) in &registered {
        let Some((_, access, args)) = table_fn(path) else {
            failures.push(format!("{path}: not classified in SERVER_FNS"));
            continue;
        };
        if *access == Public {
            continue;
        }
        let (status, body) = call_fn(&anonymous, &server, path, method, args).await;
        checked += 1;
        if status != StatusCode::UNAUTHORIZED || !body.contains("Unauthenticated") {
            failures.push(format!(
                "{path} without a session answered {status} {body:.200} (expected 401 Unauthenticated)"
            ));
        }
    }

    // As an operator: admin-only functions answer 403; staff functions run (their arguments
    // decode, and they refuse neither the session nor the role).
    let operator = server.client();
    let r = login(&operator, &server, "operator", OPERATOR_PW).await;
    assert_eq!(r.status(), StatusCode::OK, "operator login");
    for (path, method) in &registered {
        let Some((_, access, args)) = table_fn(path) else {
            continue;
        };
        match access {
            Admin => {
                let (status, body) = call_fn(&operator, &server, path, method, args).await;
                if status != StatusCode::FORBIDDEN || !body.contains("Forbidden") {
                    failures.push(format!(
                        "{path} as an operator answered {status} {body:.200} (expected 403 Forbidden)"
                    ));
                }
            }
            Staff => {
                let (status, body) = call_fn(&operator, &server, path, method, args).await;
                // (A 401 `InvalidCredentials` is an answer: a wrong current password.)
                if body.contains("Forbidden")
                    || body.contains("Unauthenticated")
                    || body.contains("Transport")
                {
                    failures.push(format!(
                        "{path} as an operator answered {status} {body:.200} \
                         (a staff function: it should run; if it is admin-only, classify it Admin; \
                         a Transport error means its arguments in SERVER_FNS do not decode)"
                    ));
                }
            }
            Public | External | MetricsToken | SendKey => {}
        }
    }

    // Malformed arguments, as an admin (so a call that decodes runs to its own checks): each
    // argument missing, each of the wrong type, and a body over the limit. Every one is a 4xx
    // (never a 500), a mistyped number names its field, and no answer echoes internals.
    let admin = server.client();
    let r = login(&admin, &server, "admin", ADMIN_PW).await;
    assert_eq!(r.status(), StatusCode::OK, "admin login");
    let admin_cookie = format!(
        "wxpush_session={}",
        common::session_cookie(&r).expect("a session")
    );
    let mut malformed = 0;
    for (path, method) in &registered {
        let Some((_, _, args)) = table_fn(path) else {
            continue;
        };
        let mut variants: Vec<Malformed> = Vec::new();
        for (i, (name, value)) in args.iter().enumerate() {
            let mut missing: Vec<(&str, &str)> = args.to_vec();
            missing.remove(i);
            variants.push((format!("without `{name}`"), missing, None));
            let mut mistyped: Vec<(&str, &str)> = args.to_vec();
            mistyped[i].1 = "not-a-number";
            let numeric = value.parse::<i64>().is_ok() || *value == "true";
            variants.push((
                format!("with `{name}` mistyped"),
                mistyped,
                numeric.then_some(*name),
            ));
        }
        for (how, form, names) in variants {
            let (status, body) = call_fn(&admin, &server, path, method, &form).await;
            malformed += 1;
            if status.is_server_error() {
                failures.push(format!("{path} {how} answered {status} {body:.200}"));
            }
            if let Some(field) = names {
                // A nested form key (`filter[tag]`) is named by its path (`filter.tag`).
                let field = field.replace('[', ".").replace(']', "");
                if status != StatusCode::BAD_REQUEST || !body.contains(&format!("\"{field}\"")) {
                    failures.push(format!(
                        "{path} {how} answered {status} {body:.200} (expected 400 naming `{field}`)"
                    ));
                }
            }
            for internal in ["sqlx", "database", "panicked", "Deserialization", "Args("] {
                if body.contains(internal) {
                    failures.push(format!("{path} {how} echoes internals: {body:.200}"));
                }
            }
        }
        if *path == "/api/logout" {
            continue;
        }
        // Announced, not sent: the answer comes from the length alone.
        let (status, body) = announce_body(&server, path, 2 * 1024 * 1024, &admin_cookie).await;
        malformed += 1;
        if status != 413 || !body.contains("PayloadTooLarge") {
            failures.push(format!(
                "{path} announcing a 2 MiB body answered {status} {body:.300} (expected 413)"
            ));
        }
    }
    assert!(malformed > 100, "malformed calls made: {malformed}");

    // Plain routes: refused without a session (the guard's redirect to the login page, or the
    // handler's own 401); the WeChat callback and the Mini Program API refuse requests without
    // a signature or a key.
    for (pattern, access, url) in ROUTES {
        match access {
            Staff | Admin => {
                let r = anonymous.get(server.url(url)).send().await.unwrap();
                let status = r.status();
                let location = r
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let redirected = status == StatusCode::SEE_OTHER && location.starts_with("/login");
                if !(redirected || status == StatusCode::UNAUTHORIZED) {
                    failures.push(format!(
                        "route {pattern} without a session answered {status} (expected 401 or a redirect to /login)"
                    ));
                }
                if *access == Admin {
                    let r = operator.get(server.url(url)).send().await.unwrap();
                    if r.status() != StatusCode::FORBIDDEN {
                        failures.push(format!(
                            "route {pattern} as an operator answered {} (expected 403)",
                            r.status()
                        ));
                    }
                }
            }
            SendKey => {
                let body = serde_json::json!({ "to": { "unionid": "x" }, "preset": 1 });
                let attempts = [
                    ("without a key", anonymous.post(server.url(url)).json(&body)),
                    ("as an admin", admin.post(server.url(url)).json(&body)),
                    ("reading without a key", anonymous.get(server.url(url))),
                    ("reading as an admin", admin.get(server.url(url))),
                ];
                let mut refused = 0;
                for (how, req) in attempts {
                    let r = req.send().await.unwrap();
                    refused += usize::from(r.status() == StatusCode::UNAUTHORIZED);
                    // A route answers one method (the other is 405), and never without a key.
                    if !matches!(
                        r.status(),
                        StatusCode::UNAUTHORIZED | StatusCode::METHOD_NOT_ALLOWED
                    ) {
                        failures.push(format!(
                            "route {pattern} {how} answered {} (expected 401)",
                            r.status()
                        ));
                    }
                }
                if refused != 2 {
                    failures.push(format!(
                        "route {pattern}: its own method answered 401 {refused} times of 2"
                    ));
                }
            }
            External if url.starts_with("/api/mp/") => {
                let r = anonymous
                    .post(server.url(url))
                    .json(&serde_json::json!({ "code": "x" }))
                    .send()
                    .await
                    .unwrap();
                if r.status() != StatusCode::UNAUTHORIZED {
                    failures.push(format!(
                        "route {pattern} without an API key answered {} (expected 401)",
                        r.status()
                    ));
                }
            }
            External => {
                let r = anonymous
                    .post(server.url(url))
                    .body("<xml><Event><![CDATA[unsubscribe]]></Event></xml>")
                    .send()
                    .await
                    .unwrap();
                if !matches!(r.status(), StatusCode::FORBIDDEN | StatusCode::NOT_FOUND) {
                    failures.push(format!(
                        "route {pattern} without a signature answered {} (expected 403, or 404 for an unknown AppID)",
                        r.status()
                    ));
                }
            }
            MetricsToken => {
                let attempts = [
                    ("without a session", anonymous.get(server.url(url))),
                    ("as an operator", operator.get(server.url(url))),
                    (
                        "with a wrong token",
                        anonymous
                            .get(server.url(url))
                            .bearer_auth("sweep-metrics-token-0123456780"),
                    ),
                    (
                        "with the token as a cookie",
                        anonymous
                            .get(server.url(url))
                            .header("Cookie", format!("token={METRICS_TOKEN}")),
                    ),
                ];
                for (how, request) in attempts {
                    let r = request.send().await.unwrap();
                    let challenged = r
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.starts_with("Bearer"));
                    if r.status() != StatusCode::UNAUTHORIZED || !challenged {
                        failures.push(format!(
                            "route {pattern} {how} answered {} (expected 401 with WWW-Authenticate: Bearer)",
                            r.status()
                        ));
                    }
                }
                let r = anonymous
                    .get(server.url(url))
                    .bearer_auth(METRICS_TOKEN)
                    .send()
                    .await
                    .unwrap();
                if r.status() != StatusCode::OK {
                    failures.push(format!(
                        "route {pattern} with the token answered {} (expected 200)",
                        r.status()
                    ));
                }
            }
            Public => {}
        }
    }

    // Pages: the guard sends anyone without a session to the login page (with the page to come
    // back to); a logged-in operator gets them.
    for (pattern, access, url) in PAGES {
        if *access == Public {
            let r = anonymous.get(server.url(url)).send().await.unwrap();
            if r.status() != StatusCode::OK {
                failures.push(format!("public page {url} answered {}", r.status()));
            }
            continue;
        }
        let r = anonymous.get(server.url(url)).send().await.unwrap();
        // The guard's redirect (`/login?next=…`; the dashboard needs no `next`).
        let expected = if *url == "/" {
            "/login".to_owned()
        } else {
            format!("/login?next={url}")
        };
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        if r.status() != StatusCode::SEE_OTHER || location != expected {
            failures.push(format!(
                "page {pattern} ({url}) without a session answered {} to {location:?} (expected 303 to {expected})",
                r.status()
            ));
        }
        let r = operator.get(server.url(url)).send().await.unwrap();
        if r.status().is_redirection() {
            failures.push(format!(
                "page {pattern} ({url}) sent a logged-in operator away ({})",
                r.status()
            ));
        }
    }

    let protected = SERVER_FNS.iter().filter(|(_, a, _)| *a != Public).count();
    assert_eq!(
        checked, protected,
        "every protected server function was called"
    );
    assert!(
        failures.is_empty(),
        "authorization sweep ({checked} protected server functions, {} routes, {} pages):\n{}",
        ROUTES.len(),
        PAGES.len(),
        failures.join("\n")
    );
}
on_both_databases!(sweep);

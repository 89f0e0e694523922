//! Several `wxpush serve` processes on one database, as behind a load balancer: sessions, the
//! access token, the follower sync and send jobs are shared; a process killed mid-job loses
//! nothing and sends nothing twice.

mod common;

use common::{
    add_sim_oa, add_user, call, create_template_job, job_progress, json_ok, login,
    save_order_preset, start_sim, wait_for, wait_for_sync, Server, TestDb,
};
use engine::on_both_databases;
use rand::Rng;
use reqwest::StatusCode;
use wechat_sim::{AccountKind, Api, SimHandle};

const ADMIN_PW: &str = "admin-password-1";
const METRICS_TOKEN: &str = "cluster-metrics-token-1";

/// Two processes on `db` with one master key (as a deployment shares it), a short dispatch
/// lease so the survivor of a crash takes over quickly, and metrics on.
fn two_processes(db: &TestDb) -> (Server, Server) {
    two_processes_with_lease(db, "2")
}

fn two_processes_with_lease(db: &TestDb, lease_secs: &str) -> (Server, Server) {
    let key = hex::encode(rand::random::<[u8; 32]>());
    let env = [
        ("WXPUSH_MASTER_KEY", key.as_str()),
        ("WXPUSH_DISPATCH_LEASE_SECS", lease_secs),
        ("WXPUSH_METRICS_TOKEN", METRICS_TOKEN),
    ];
    (Server::start_with(db, &env), Server::start_with(db, &env))
}

/// The value of one sample of `/metrics` (`name{labels}` exactly as printed), 0 when absent.
async fn metric(server: &Server, sample: &str) -> f64 {
    let text = reqwest::Client::new()
        .get(server.url("/metrics"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

const SENT: &str = r#"wxpush_sends_total{channel="template",result="sent",errcode="0"}"#;

async fn stable_token_calls(sim: &SimHandle) -> u64 {
    sim.state()
        .api_calls_today(AccountKind::Oa, Api::StableToken)
}

async fn processes_share_sessions_the_token_and_the_follower_sync(db: TestDb) {
    const FOLLOWERS: u32 = 4_000;
    let sim = start_sim(FOLLOWERS, 20).await;
    add_user(&db, "admin", "admin", ADMIN_PW);
    // Nobody crashes here: a lease long enough that a process starved of CPU (ten processes
    // share two cores while this binary's tests run) never loses its rows to the other, which
    // would resend them — de-duplicated by WeChat, but counted as sent by both.
    let (a, b) = two_processes_with_lease(&db, "60");

    // Logged in through A, the same browser session works through B (one cookie for both, as
    // behind a load balancer), for an admin function too.
    let client = a.client();
    let r = login(&client, &a, "admin", ADMIN_PW).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        call(&client, &b, "sync_status", &[]).await.status(),
        StatusCode::OK,
        "B knows A's session"
    );
    add_sim_oa(&client, &b, &sim).await;

    // Both processes are asked to sync at once: one run, whichever process took it.
    let (ra, rb) = tokio::join!(
        call(&client, &a, "start_follower_sync", &[]),
        call(&client, &b, "start_follower_sync", &[])
    );
    let mut codes = [ra.status(), rb.status()];
    codes.sort();
    assert_eq!(
        codes,
        [StatusCode::OK, StatusCode::CONFLICT],
        "one start wins, the other is told a sync is in progress"
    );
    let done_a = wait_for_sync(&client, &a).await;
    let done_b = wait_for_sync(&client, &b).await;
    assert_eq!(done_a["run_id"], done_b["run_id"], "both show the same run");
    assert_eq!(done_a["total"], FOLLOWERS);
    let batches = sim.state().api_calls_today(AccountKind::Oa, Api::UserInfo);
    assert_eq!(
        batches,
        u64::from(FOLLOWERS).div_ceil(100),
        "every follower's details fetched once, by one process"
    );
    let synced = format!(
        r#"wxpush_follower_sync_total{{appid="{}"}}"#,
        sim.config().oa_appid
    );
    for server in [&a, &b] {
        assert_eq!(
            metric(server, &synced).await,
            f64::from(FOLLOWERS),
            "every process's metrics show the deployment's sync"
        );
    }

    // The token nears its expiry; both processes need it at once (each syncs the templates):
    // one refresh for the deployment.
    assert_eq!(stable_token_calls(&sim).await, 1, "one token so far");
    // 200 s of life left: inside every process's refresh-ahead window.
    execute(
        &db,
        "UPDATE wechat_tokens SET expires_at_ms = expires_at_ms - 7000000",
    )
    .await;
    let (ra, rb) = tokio::join!(
        call(&client, &a, "sync_templates", &[("kind", "oa")]),
        call(&client, &b, "sync_templates", &[("kind", "oa")])
    );
    assert_eq!((ra.status(), rb.status()), (StatusCode::OK, StatusCode::OK));
    assert_eq!(stable_token_calls(&sim).await, 2, "one refresh per expiry");

    // A job both processes work on; in the middle WeChat rejects every token issued so far
    // (40001): both see it, one refreshes.
    let preset = save_order_preset(&client, &a).await;
    let job = create_template_job(&client, &a, preset, "双进程", 500).await;
    wait_for("both processes sending", 60, async || {
        metric(&a, SENT).await > 0.0 && metric(&b, SENT).await > 0.0
    })
    .await;
    sim.state().invalidate_tokens();
    let sent_at_rejection = job_progress(&client, &b, &job).await["sent"]
        .as_i64()
        .unwrap();
    wait_for("the job to finish", 120, async || {
        job_progress(&client, &b, &job).await["job"]["state"] == "done"
    })
    .await;
    let p = job_progress(&client, &a, &job).await;
    assert!(
        sent_at_rejection < i64::from(FOLLOWERS),
        "the token was rejected while the job ran"
    );
    assert_eq!(p["sent"], FOLLOWERS, "{p}");
    assert_eq!(
        stable_token_calls(&sim).await,
        3,
        "one refresh for the rejection, for both processes together"
    );
    let ledger = sim.state().ledger_summary();
    assert_eq!(ledger.distinct_recipients, u64::from(FOLLOWERS));
    assert_eq!(ledger.max_received, 1, "nobody received two messages");
    let (sent_a, sent_b) = (metric(&a, SENT).await, metric(&b, SENT).await);
    assert!(
        sent_a > 0.0 && sent_b > 0.0,
        "both sent: {sent_a} + {sent_b}"
    );
    assert_eq!(
        (sent_a + sent_b) as u32,
        FOLLOWERS,
        "together they sent each message once"
    );

    // Logging out through B ends the session for A too.
    json_ok(call(&client, &b, "logout", &[]).await).await;
    assert_eq!(
        call(&client, &a, "sync_status", &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
}
on_both_databases!(processes_share_sessions_the_token_and_the_follower_sync);

async fn a_process_killed_mid_job_loses_nothing_and_sends_nothing_twice(db: TestDb) {
    const FOLLOWERS: u32 = 20_000;
    let sim = start_sim(FOLLOWERS, 5).await;
    add_user(&db, "admin", "admin", ADMIN_PW);
    add_user(&db, "admin2", "admin", ADMIN_PW);
    let (a, b) = two_processes(&db);
    let client = a.client();
    login(&client, &a, "admin", ADMIN_PW).await;
    add_sim_oa(&client, &a, &sim).await;
    json_ok(call(&client, &a, "start_follower_sync", &[]).await).await;
    wait_for_sync(&client, &a).await;
    let preset = save_order_preset(&client, &b).await;

    // A random moment and a random victim; printed so that a failure can be replayed.
    let (kill_a, fraction) = {
        let mut rng = rand::rng();
        (rng.random_bool(0.5), rng.random_range(0.05..0.85))
    };
    let kill_at = (f64::from(FOLLOWERS) * fraction) as i64;
    eprintln!(
        "killing {} after {kill_at} sends",
        if kill_a { "A" } else { "B" }
    );
    let job = create_template_job(&client, &a, preset, "两万人", 10_000).await;
    // 20,000 people is above the default approval threshold: a second admin approves the job
    // through the other process.
    let second = b.client();
    login(&second, &b, "admin2", ADMIN_PW).await;
    json_ok(
        call(
            &second,
            &b,
            "control_job",
            &[("id", job.as_str()), ("action", "approve")],
        )
        .await,
    )
    .await;
    let (victim, survivor) = if kill_a { (a, b) } else { (b, a) };
    wait_for("the moment to kill", 120, async || {
        job_progress(&client, &survivor, &job).await["sent"]
            .as_i64()
            .unwrap()
            >= kill_at
    })
    .await;
    drop(victim); // SIGKILL: its in-flight sends are cut off, its claimed rows stay leased.
    let at_kill = sim.state().ledger_summary();

    wait_for("the survivor to finish the job", 300, async || {
        job_progress(&client, &survivor, &job).await["job"]["state"] == "done"
    })
    .await;
    let p = job_progress(&client, &survivor, &job).await;
    assert!(
        at_kill.accepted < u64::from(FOLLOWERS),
        "killed before the end"
    );
    assert_eq!(p["sent"], FOLLOWERS, "{p}");
    assert_eq!(p["failed"], 0, "{p}");
    assert_eq!(p["unknown"], 0, "{p}");
    let ledger = sim.state().ledger_summary();
    assert_eq!(
        ledger.distinct_recipients,
        u64::from(FOLLOWERS),
        "none missing"
    );
    assert_eq!(ledger.duplicates_delivered, 0, "none delivered twice");
    assert_eq!(ledger.max_received, 1, "nobody received two messages");
    assert!(
        metric(&survivor, SENT).await > 0.0,
        "the survivor's metrics count its sends"
    );
}
on_both_databases!(a_process_killed_mid_job_loses_nothing_and_sends_nothing_twice);

/// Runs one statement on the test database directly.
async fn execute(db: &TestDb, sql: &str) {
    if db.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
}

async fn every_process_logs_a_setup_link_that_works(db: TestDb) {
    let (a, b) = two_processes(&db);
    let (link_a, link_b) = (a.setup_link.clone().unwrap(), b.setup_link.clone().unwrap());
    assert_ne!(link_a, link_b);
    // B started last, yet A's link works — through B.
    let client = b.client();
    let token = link_a.trim_start_matches("/setup?token=");
    let r = call(
        &client,
        &b,
        "setup_admin",
        &[
            ("token", token),
            ("username", "boss"),
            ("password", ADMIN_PW),
            ("password_confirm", ADMIN_PW),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let other = a.client();
    let r = call(
        &other,
        &a,
        "setup_admin",
        &[
            ("token", link_b.trim_start_matches("/setup?token=")),
            ("username", "mallory"),
            ("password", ADMIN_PW),
            ("password_confirm", ADMIN_PW),
        ],
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "the first admin closes every link"
    );
}
on_both_databases!(every_process_logs_a_setup_link_that_works);

/// `list_instances` through `server`: the processes of the deployment, as JSON.
async fn listed_instances(client: &reqwest::Client, server: &Server) -> Vec<serde_json::Value> {
    let list = json_ok(call(client, server, "list_instances", &[]).await).await;
    list.as_array().cloned().unwrap_or_default()
}

/// The listed process that serves `server`'s address.
fn instance_at<'a>(list: &'a [serde_json::Value], server: &Server) -> &'a serde_json::Value {
    let addr = server.base.trim_start_matches("http://");
    list.iter()
        .find(|i| i["instance"]["listen_addr"] == addr)
        .unwrap_or_else(|| panic!("no process listed at {addr}: {list:?}"))
}

async fn admins_see_the_processes_and_which_stopped(db: TestDb) {
    add_user(&db, "admin", "admin", ADMIN_PW);
    add_user(&db, "operator", "operator", ADMIN_PW);
    let (a, b) = two_processes(&db);
    let client = a.client();
    login(&client, &a, "admin", ADMIN_PW).await;

    // Either process lists both, running, each with its own pid and address, and knows which
    // one it is.
    for (me, other) in [(&a, &b), (&b, &a)] {
        let list = listed_instances(&client, me).await;
        assert_eq!(list.len(), 2, "{list:?}");
        let (mine, theirs) = (instance_at(&list, me), instance_at(&list, other));
        assert_eq!(mine["instance"]["state"], "Alive");
        assert_eq!(theirs["instance"]["state"], "Alive");
        assert_ne!(mine["instance"]["pid"], theirs["instance"]["pid"]);
        assert_ne!(mine["instance"]["id"], theirs["instance"]["id"]);
        assert_eq!(mine["this_process"], true);
        assert_eq!(theirs["this_process"], false);
        assert_eq!(mine["instance"]["version"], env!("CARGO_PKG_VERSION"));
    }
    assert_eq!(metric(&b, r#"wxpush_instances{state="alive"}"#).await, 2.0);

    // The settings page shows them to admins, not to operators.
    let list = listed_instances(&client, &a).await;
    let id_a = instance_at(&list, &a)["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let id_b = instance_at(&list, &b)["instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let html = common::page_text(&client, &b, "/settings").await;
    assert!(html.contains("processes-heading") && html.contains(&id_a) && html.contains(&id_b));
    let operator = b.client();
    login(&operator, &b, "operator", ADMIN_PW).await;
    let html = common::page_text(&operator, &b, "/settings").await;
    assert!(
        html.contains("change-password"),
        "an operator's settings page"
    );
    assert!(!html.contains("processes-heading") && !html.contains(&id_a));
    assert_eq!(
        call(&operator, &b, "list_instances", &[]).await.status(),
        StatusCode::FORBIDDEN
    );

    // A stops with SIGTERM: B lists it as stopped and itself as running.
    let a_addr = a.base.clone();
    assert!(a.stop().success(), "a clean stop");
    let list = listed_instances(&client, &b).await;
    let stopped = list
        .iter()
        .find(|i| i["instance"]["id"] == id_a.as_str())
        .unwrap_or_else(|| panic!("{a_addr} no longer listed: {list:?}"));
    assert_eq!(stopped["instance"]["state"], "Stopped", "{list:?}");
    assert_eq!(instance_at(&list, &b)["instance"]["state"], "Alive");
    assert_eq!(metric(&b, r#"wxpush_instances{state="alive"}"#).await, 1.0);
    assert_eq!(metric(&b, r#"wxpush_instances{state="gone"}"#).await, 1.0);
}
on_both_databases!(admins_see_the_processes_and_which_stopped);

async fn a_process_stopped_cleanly_hands_its_recipients_back_at_once(db: TestDb) {
    const FOLLOWERS: u32 = 3_000;
    let sim = start_sim(FOLLOWERS, 20).await;
    add_user(&db, "admin", "admin", ADMIN_PW);
    // A lease far longer than the test waits: rows the stopped process kept would hold the job.
    let (a, b) = two_processes_with_lease(&db, "600");
    let client = b.client();
    login(&client, &b, "admin", ADMIN_PW).await;
    add_sim_oa(&client, &b, &sim).await;
    json_ok(call(&client, &b, "start_follower_sync", &[]).await).await;
    wait_for_sync(&client, &b).await;
    let preset = save_order_preset(&client, &b).await;
    let job = create_template_job(&client, &b, preset, "滚动升级", 300).await;
    wait_for("both processes sending", 60, async || {
        metric(&a, SENT).await > 0.0 && metric(&b, SENT).await > 0.0
    })
    .await;

    // SIGTERM, as a rolling upgrade stops a process.
    assert!(a.stop().success());
    let processes = json_ok(call(&client, &b, "list_instances", &[]).await).await;
    let stopped = processes
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["this_process"] == false)
        .unwrap()
        .clone();
    assert_eq!(
        stopped["instance"]["sending"], 0,
        "the stopped process holds no recipient: {stopped}"
    );
    wait_for("the other process to finish the job", 120, async || {
        job_progress(&client, &b, &job).await["job"]["state"] == "done"
    })
    .await;
    let p = job_progress(&client, &b, &job).await;
    assert_eq!(p["sent"], FOLLOWERS, "{p}");
    assert_eq!(p["unknown"], 0, "{p}");
    let ledger = sim.state().ledger_summary();
    assert_eq!(ledger.distinct_recipients, u64::from(FOLLOWERS));
    assert_eq!(ledger.max_received, 1, "nobody received two messages");
}
on_both_databases!(a_process_stopped_cleanly_hands_its_recipients_back_at_once);

//! Send jobs through the real server: killed mid-job (SIGKILL) and restarted, every recipient
//! gets exactly one message; jobs are guarded by session and account; receipts arrive through
//! the callback URL.

mod common;

use common::{
    add_user, call, call_json, create_template_job, job_progress, json_ok, login,
    prepare_template_job, start_sim, wait_for, Server, TestDb,
};
use engine::on_both_databases;
use reqwest::StatusCode;
use serde_json::Value;

const ADMIN_PW: &str = "admin-password-1";
const FOLLOWERS: u32 = 1_500;

async fn killed_mid_job_then_restarted_sends_each_once(db: TestDb) {
    let sim = start_sim(FOLLOWERS, 0).await;
    add_user(&db, "admin", "admin", ADMIN_PW);
    // A short lease so the restarted process takes over the dead one's rows quickly.
    let env = [("WXPUSH_DISPATCH_LEASE_SECS", "2")];
    let server = Server::start_with(&db, &env);
    let client = server.client();
    login(&client, &server, "admin", ADMIN_PW).await;
    let preset = prepare_template_job(&client, &server, &sim).await;

    let plan = json_ok(
        call_json(
            &client,
            &server,
            "plan_job",
            &serde_json::json!({
                "source": "AllSubscribed",
                "channel": "template",
                "mp_preset_id": 0,
            }),
        )
        .await,
    )
    .await;
    let receive = plan["plan"]["will_receive"].as_i64().unwrap();
    let truth: Value = reqwest::get(format!("{}/sim/truth", sim.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(receive, truth["subscribed"].as_i64().unwrap());

    // Slow enough to be killed in the middle.
    let job = create_template_job(&client, &server, preset, "崩溃测试", 300).await;
    wait_for("some sends", 30, async || {
        job_progress(&client, &server, &job).await["sent"]
            .as_i64()
            .unwrap()
            > receive / 4
    })
    .await;
    drop(server); // SIGKILL: in-flight sends are cut off, rows stay "sending".
    let before = sim.state().ledger_summary();
    assert!(before.accepted < receive as u64, "killed before the end");

    let server = Server::start_with(&db, &env);
    let client = server.client();
    login(&client, &server, "admin", ADMIN_PW).await;
    wait_for("the job to finish after the restart", 60, async || {
        job_progress(&client, &server, &job).await["job"]["state"] == "done"
    })
    .await;
    let p = job_progress(&client, &server, &job).await;
    assert_eq!(p["sent"].as_i64().unwrap(), receive, "{p}");
    assert_eq!(p["failed"], 0);
    assert_eq!(p["unknown"], 0);
    let ledger = sim.state().ledger_summary();
    assert_eq!(ledger.distinct_recipients, receive as u64, "none missing");
    assert_eq!(ledger.duplicates_delivered, 0, "none twice");
    assert_eq!(ledger.max_received, 1, "nobody received two messages");

    // Another session's view of the job is limited to its own account; anonymous gets nothing.
    let anon = server.client();
    let r = call(&anon, &server, "job_progress", &[("id", &job)]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = anon
        .get(server.url(&format!("/export/jobs/{job}.csv")))
        .send()
        .await
        .unwrap();
    assert_ne!(r.status(), StatusCode::OK);
    let csv = client
        .get(server.url(&format!("/export/jobs/{job}.csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        csv.lines().count() as i64,
        p["job"]["total"].as_i64().unwrap() + 1
    );
    assert!(csv.lines().nth(1).unwrap().contains(",sent,"));
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .ends_with("delivery,updated_at,channel,unionid,earlier_failures"),
        "the header names every column"
    );
    assert!(
        csv.lines()
            .skip(1)
            .all(|l| l.split(',').nth(10) == Some("template")),
        "every row of a template job says so"
    );
}
on_both_databases!(killed_mid_job_then_restarted_sends_each_once);

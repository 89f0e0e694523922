//! Followers over HTTP: the live progress stream, the streamed CSV export and their guards.

mod common;

use std::time::{Duration, Instant};

use common::{add_user, call, create_account, login, NewAccount, Server, TestDb};
use engine::on_both_databases;
use model::SyncState;
use reqwest::StatusCode;

const ADMIN_PW: &str = "admin-password-1";

async fn progress_stream_and_csv_export(db: TestDb) {
    let sim = wechat_sim::start(
        wechat_sim::SimConfig {
            followers: 12_345,
            unionid_ratio: 0.5,
            ..wechat_sim::SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);
    let client = server.client();

    // Both routes check the session themselves.
    let anon = server.client();
    let r = anon
        .get(server.url("/export/followers.csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "the guard sends anonymous visitors to login"
    );

    login(&client, &server, "admin", ADMIN_PW).await;
    let cfg = sim.config().clone();
    create_account(
        &client,
        &server,
        NewAccount {
            kind: "oa",
            name: "导出测试号",
            appid: &cfg.oa_appid,
            secret: &cfg.oa_secret,
            callback_token: "",
            encoding_aes_key: "",
            api_base: &sim.base_url,
        },
    )
    .await;
    assert_eq!(
        call(&client, &server, "start_follower_sync", &[])
            .await
            .status(),
        StatusCode::OK
    );
    let again = call(&client, &server, "start_follower_sync", &[]).await;
    assert_eq!(again.status(), StatusCode::CONFLICT, "one sync at a time");

    // The event stream reports progress until the sync is done, then ends.
    let started = Instant::now();
    let body = client
        .get(server.url("/events/sync"))
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .unwrap();
    assert_eq!(body.headers()["content-type"], "text/event-stream");
    let text = body.text().await.unwrap();
    let events: Vec<model::sync::SyncProgress> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter_map(model::sync::SyncProgress::decode)
        .collect();
    let last = events.last().expect("at least one progress event");
    assert_eq!(
        last.state,
        SyncState::Done,
        "the stream ends with the finished sync"
    );
    assert_eq!(last.percent(), 100);
    assert_eq!(last.total, 12_345);
    assert!(
        events.windows(2).all(|w| w[0].percent() <= w[1].percent()),
        "progress never goes back"
    );
    assert!(started.elapsed() < Duration::from_secs(60));

    let truth = sim.truth();
    let csv = client
        .get(server.url("/export/followers.csv?unionid=no"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("followers.csv"));
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("\u{feff}openid,unionid,subscribed,subscribe_time,tags,mp_openid\n"));
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(
        rows.len() as u64,
        truth.followers_without_unionid,
        "every follower without unionid, across chunks"
    );
    assert!(
        rows.iter().all(|r| r.split(',').nth(1) == Some("")),
        "the filter applies"
    );
    let mut openids: Vec<&str> = rows
        .iter()
        .map(|r| r.split(',').next().unwrap_or(""))
        .collect();
    openids.dedup();
    assert_eq!(openids.len(), rows.len(), "no row twice");

    let bad = client
        .get(server.url("/export/followers.csv?subscribed=maybe"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}
on_both_databases!(progress_stream_and_csv_export);

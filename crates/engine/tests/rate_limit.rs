//! A job's rate limit holds for the whole deployment: processes sharing a job keep it together.

mod common;

use engine::jobs::RecipientSource;
use engine::testing::TestDb;
use engine::{on_both_databases, Engine};
use wechat_sim::SimConfig;

use common::{
    admin, fast, lease_owners_until_done, linked_accounts, order_status_preset, start_sim,
    sync_followers, Dispatcher,
};

async fn two_processes_send_at_the_jobs_rate_together(db: TestDb) {
    const RECIPIENTS: u32 = 600;
    const RATE: i64 = 200;
    let sim = start_sim(SimConfig {
        followers: RECIPIENTS,
        mp_users: 10,
        ..SimConfig::default()
    })
    .await;
    let engine = Engine::open(&db.url).await.unwrap();
    let (oa, _mp) = linked_accounts(&engine, &sim).await;
    sync_followers(&engine, &oa).await;
    engine.sync_templates(&admin(), &oa).await.unwrap();
    let preset = order_status_preset(&engine, &oa).await;
    let job = engine
        .create_job(
            &admin(),
            &oa,
            preset.id,
            "限速任务",
            &RecipientSource::AllSubscribed,
            RATE,
        )
        .await
        .unwrap();
    assert_eq!(job.total, i64::from(RECIPIENTS));

    // Two processes on one database.
    let other = Engine::open(&db.url).await.unwrap();
    let _a = Dispatcher(engine.start_dispatcher(fast()));
    let _b = Dispatcher(other.start_dispatcher(fast()));
    let owners = lease_owners_until_done(&engine, job.id).await;
    let p = engine.job_progress(job.id).await.unwrap().unwrap();
    assert_eq!((p.sent, p.failed, p.unknown), (i64::from(RECIPIENTS), 0, 0));
    assert_eq!(owners.len(), 2, "both processes sent: {owners:?}");

    // Everyone got the message once.
    let ledger = sim.ledger_summary();
    assert_eq!(ledger.template_sends, u64::from(RECIPIENTS));
    assert_eq!(ledger.distinct_recipients, u64::from(RECIPIENTS));
    assert_eq!(ledger.duplicates_delivered, 0);
    assert_eq!(ledger.max_received, 1);

    // 600 messages at 200/s take 3 s (less one interval) together, not 1.5 s: a lower bound
    // only, a slow machine makes it longer.
    let sent = sim.messages(2 * RECIPIENTS as usize, None);
    assert_eq!(sent.len(), RECIPIENTS as usize);
    let first = sent.iter().map(|m| m.at_ms).min().unwrap();
    let last = sent.iter().map(|m| m.at_ms).max().unwrap();
    assert!(
        last - first >= 2_700,
        "{RECIPIENTS} messages at {RATE}/s went out in {} ms",
        last - first
    );
}
on_both_databases!(two_processes_send_at_the_jobs_rate_together);

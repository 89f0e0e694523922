//! The registry of processes: engines on one database register and heartbeat; admins list them
//! as alive, stopped or lost, each with the send rows, syncs and token refreshes it holds.

use std::time::{Duration, Instant};

mod common;

use engine::instances::{Instance, InstanceInfo, InstanceState};
use engine::jobs::{DispatchConfig, RecipientSource};
use engine::testing::TestDb;
use engine::{now_ms, on_both_databases, on_db, Engine};
use wechat_sim::{FaultConfig, SimConfig};

use common::{admin, linked_accounts, order_status_preset, start_sim, sync_followers};

fn info(host: &str, pid: i64, addr: &str) -> InstanceInfo {
    InstanceInfo {
        hostname: host.into(),
        pid,
        version: "1.2.3".into(),
        listen_addr: addr.into(),
        started_ms: now_ms(),
    }
}

async fn listed(engine: &Engine, id: &str) -> Option<Instance> {
    engine
        .instances()
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.id == id)
}

async fn execute(engine: &Engine, sql: &str, id: &str) {
    on_db!(engine.db(), |pool| sqlx::query(sql)
        .bind(id)
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap());
}

async fn sending_rows(engine: &Engine) -> i64 {
    on_db!(engine.db(), |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM job_recipients WHERE state = 'sending'"
    )
    .fetch_one(pool)
    .await
    .unwrap())
}

async fn metrics_line(engine: &Engine, state: &str) -> String {
    let prefix = format!("wxpush_instances{{state=\"{state}\"}} ");
    let text = engine.render_metrics().await.unwrap();
    text.lines()
        .find(|l| l.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in the metrics"))
        .to_owned()
}

async fn processes_are_listed_with_what_they_hold(db: TestDb) {
    let sim = start_sim(SimConfig {
        followers: 60,
        mp_users: 5,
        ..SimConfig::default()
    })
    .await;
    let a = Engine::open(&db.url).await.unwrap();
    let b = Engine::open(&db.url).await.unwrap();
    assert_ne!(a.instance_id(), b.instance_id());
    let (info_a, info_b) = (
        info("web-1", 101, "10.0.0.1:3001"),
        info("web-2", 202, "10.0.0.2:3001"),
    );
    a.register_instance(&info_a).await.unwrap();
    b.register_instance(&info_b).await.unwrap();

    // Both alive, as either process lists them.
    for engine in [&a, &b] {
        let list = engine.instances().await.unwrap();
        assert_eq!(list.len(), 2, "{list:?}");
        assert!(list.iter().all(|i| i.state == InstanceState::Alive));
        let mine = list.iter().find(|i| i.id == a.instance_id()).unwrap();
        assert_eq!(
            (mine.hostname.as_str(), mine.pid, mine.listen_addr.as_str()),
            ("web-1", 101, "10.0.0.1:3001")
        );
        assert_eq!(mine.version, "1.2.3");
    }
    assert_eq!(
        metrics_line(&a, "alive").await,
        r#"wxpush_instances{state="alive"} 2"#
    );
    assert_eq!(
        metrics_line(&a, "gone").await,
        r#"wxpush_instances{state="gone"} 0"#
    );

    // A's dispatcher claims rows while WeChat answers slowly, then A dies mid-send (abort):
    // the rows it left under lease are A's, none B's.
    let (oa, _mp) = linked_accounts(&a, &sim).await;
    sync_followers(&a, &oa).await;
    a.sync_templates(&admin(), &oa).await.unwrap();
    let preset = order_status_preset(&a, &oa).await;
    sim.set_faults(FaultConfig {
        latency_ms: 3_000,
        ..FaultConfig::default()
    })
    .unwrap();
    a.create_job(
        &admin(),
        &oa,
        preset.id,
        "慢速任务",
        &RecipientSource::AllSubscribed,
        1_000,
    )
    .await
    .unwrap();
    let dispatcher = a.start_dispatcher(DispatchConfig {
        concurrency: 4,
        batch: 10,
        poll_ms: 20,
        ..DispatchConfig::default()
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while sending_rows(&a).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the dispatcher never claimed rows"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    dispatcher.abort();
    let _ = dispatcher.await;
    // A claim already sent to the database may still commit: wait until the count settles.
    let mut held = sending_rows(&a).await;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = sending_rows(&a).await;
        if now == held {
            break;
        }
        held = now;
    }
    assert!(held > 0);
    assert_eq!(listed(&b, a.instance_id()).await.unwrap().sending, held);
    assert_eq!(listed(&b, b.instance_id()).await.unwrap().sending, 0);

    // B holds the token's refresh lease and a sync's lease.
    execute(
        &a,
        "UPDATE wechat_tokens SET lease_owner = $1, lease_until_ms = 9000000000000 \
         WHERE account_id = (SELECT MIN(account_id) FROM wechat_tokens)",
        b.instance_id(),
    )
    .await;
    execute(
        &a,
        "UPDATE sync_runs SET state = 'detailing', lease_owner = $1, lease_until_ms = 9000000000000",
        b.instance_id(),
    )
    .await;
    let bb = listed(&a, b.instance_id()).await.unwrap();
    assert_eq!((bb.token_refreshes, bb.syncs), (1, 1));
    let aa = listed(&a, a.instance_id()).await.unwrap();
    assert_eq!((aa.token_refreshes, aa.syncs), (0, 0));

    // B stops heartbeating: a minute later it is lost, A still alive; its next heartbeat brings
    // it back.
    execute(
        &a,
        "UPDATE instances SET seen_ms = seen_ms - 60000 WHERE id = $1",
        b.instance_id(),
    )
    .await;
    assert_eq!(
        listed(&a, b.instance_id()).await.unwrap().state,
        InstanceState::Lost
    );
    assert_eq!(
        listed(&b, a.instance_id()).await.unwrap().state,
        InstanceState::Alive
    );
    assert_eq!(
        metrics_line(&a, "alive").await,
        r#"wxpush_instances{state="alive"} 1"#
    );
    assert_eq!(
        metrics_line(&a, "gone").await,
        r#"wxpush_instances{state="gone"} 1"#
    );
    b.instance_heartbeat(&info_b).await.unwrap();
    assert!(listed(&a, b.instance_id()).await.unwrap().is_alive());

    // A stops cleanly: listed as stopped, and a late heartbeat does not bring it back. The rows
    // it left are still counted until someone takes them over.
    a.deregister_instance().await.unwrap();
    a.instance_heartbeat(&info_a).await.unwrap();
    let aa = listed(&b, a.instance_id()).await.unwrap();
    assert_eq!(aa.state, InstanceState::Stopped);
    assert!(aa.stopped_ms.is_some());
    assert_eq!(aa.sending, held);
    let list = b.instances().await.unwrap();
    assert_eq!(list[0].id, b.instance_id(), "alive ones first");

    // A process not seen for a day is forgotten at the next heartbeat of any process.
    execute(
        &a,
        "UPDATE instances SET seen_ms = seen_ms - 90000000 WHERE id = $1",
        a.instance_id(),
    )
    .await;
    b.instance_heartbeat(&info_b).await.unwrap();
    let list = b.instances().await.unwrap();
    assert_eq!(
        list.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        [b.instance_id()]
    );
    let rows: i64 = on_db!(a.db(), |pool| sqlx::query_scalar(
        "SELECT COUNT(*) FROM instances"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(rows, 1, "the forgotten row is deleted");
}
on_both_databases!(processes_are_listed_with_what_they_hold);

/// A process that never registered (the database was down at its start) appears with its first
/// heartbeat.
async fn a_heartbeat_registers_a_missing_process(db: TestDb) {
    let a = Engine::open(&db.url).await.unwrap();
    assert!(a.instances().await.unwrap().is_empty());
    a.instance_heartbeat(&info("web-1", 7, "127.0.0.1:3000"))
        .await
        .unwrap();
    let list = a.instances().await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0].pid, list[0].is_alive()), (7, true));
}
on_both_databases!(a_heartbeat_registers_a_missing_process);

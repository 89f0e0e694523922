//! The follower sync against the WeChat simulator: full sync and counts, resume after a crash
//! (listing and detailing), reconciliation of unfollows, cancel, one run at a time, failures,
//! transient errors and idempotent follow events — on SQLite and PostgreSQL.

use std::time::Duration;

mod common;

use common::{import_mp_users, linked_mp, oa_account, sim_account, start_sim};
use engine::accounts::{Account, AccountKind, NewAccount, Secret};
use engine::audit::Actor;
use engine::followers::stats::FollowerStats;
use engine::followers::sync::{SyncProgress, SyncState};
use engine::testing::TestDb;
use engine::{on_both_databases, on_db, Engine, Error};
use wechat_sim::{ApiLimits, ErrorScope, FaultConfig, SimConfig, SimHandle};

fn followers(n: u32) -> SimConfig {
    SimConfig {
        followers: n,
        ..SimConfig::default()
    }
}

fn latency(ms: u64) -> FaultConfig {
    FaultConfig {
        latency_ms: ms,
        ..FaultConfig::default()
    }
}

async fn scalar(engine: &Engine, sql: &str, account_id: i64) -> i64 {
    on_db!(engine.db(), |pool| sqlx::query_scalar::<_, i64>(sql)
        .bind(account_id)
        .fetch_one(pool)
        .await)
    .unwrap()
}

async fn subscribed_flag(engine: &Engine, account_id: i64, openid: &str) -> Option<bool> {
    on_db!(engine.db(), |pool| sqlx::query_scalar::<_, bool>(
        "SELECT subscribed FROM followers WHERE account_id = $1 AND openid = $2"
    )
    .bind(account_id)
    .bind(openid)
    .fetch_optional(pool)
    .await)
    .unwrap()
}

async fn sync(engine: &Engine, account: &Account) -> SyncProgress {
    let run_id = engine.start_sync(&Actor::cli(), account.id).await.unwrap();
    engine.run_sync(run_id).await.unwrap()
}

async fn wait_for(engine: &Engine, run_id: i64, until: impl Fn(&SyncProgress) -> bool) {
    for _ in 0..3000 {
        let p = engine.sync_run(run_id).await.unwrap().unwrap();
        if until(&p) {
            return;
        }
        assert!(!p.is_finished(), "the run ended too early: {p:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the run never got there");
}

fn assert_matches_truth(stats: &FollowerStats, sim: &SimHandle) {
    let truth = sim.truth();
    assert_eq!(stats.subscribed as u64, truth.subscribed, "subscribed");
    assert_eq!(
        stats.with_unionid as u64, truth.with_unionid,
        "with_unionid"
    );
    assert_eq!(
        stats.without_unionid_subscribed as u64, truth.followers_without_unionid,
        "without_unionid_subscribed"
    );
}

/// Stats moved by events equal stats counted from scratch.
async fn assert_stats_consistent(engine: &Engine, account_id: i64) -> FollowerStats {
    let cached = engine.follower_stats(account_id).await.unwrap().unwrap();
    let counted = engine.recompute_stats(account_id).await.unwrap();
    assert_eq!(
        FollowerStats {
            computed_at_ms: 0,
            ..cached
        },
        FollowerStats {
            computed_at_ms: 0,
            ..counted.clone()
        }
    );
    counted
}

/// "Crashes" a process: an engine on a runtime of its own starts a sync, and the runtime is
/// dropped (every task stops where it is, the lease stays) once `until` holds.
fn crash_during_sync(
    url: String,
    account_id: i64,
    until: impl Fn(&SyncProgress) -> bool + Send + 'static,
) -> i64 {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let run_id = rt.block_on(async {
            let a = Engine::open(&url).await.unwrap();
            let run_id = a.start_sync(&Actor::cli(), account_id).await.unwrap();
            wait_for(&a, run_id, until).await;
            run_id
        });
        drop(rt);
        run_id
    })
    .join()
    .unwrap()
}

async fn expire_lease(engine: &Engine, run_id: i64) {
    on_db!(engine.db(), |pool| sqlx::query(
        "UPDATE sync_runs SET lease_until_ms = 0 WHERE id = $1"
    )
    .bind(run_id)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
}

async fn full_sync_of_25001_followers(db: TestDb) {
    // Three user/get calls are all it may take: a fourth (past the last page) would be 45009.
    let sim = start_sim(SimConfig {
        limits: ApiLimits {
            user_get: 3,
            ..ApiLimits::default()
        },
        ..followers(25_001)
    })
    .await;
    let engine = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&engine, &sim).await;
    let mp = linked_mp(&engine, &sim, &oa).await;
    import_mp_users(&engine, &sim, &mp).await;
    let oa = engine.account(oa.id).await.unwrap().unwrap();

    let p = sync(&engine, &oa).await;
    assert_eq!(p.state, SyncState::Done, "{p:?}");
    assert_eq!(
        (p.total, p.pages_done, p.listed, p.detailed, p.unsubscribed),
        (25_001, 3, 25_001, 25_001, 0)
    );
    assert!(p.error.is_none() && p.finished_at_ms.is_some());
    assert_eq!(engine.sync_progress(oa.id).await.unwrap(), Some(p.clone()));

    let rows = "SELECT COUNT(*) FROM followers WHERE account_id = $1";
    assert_eq!(scalar(&engine, rows, oa.id).await, 25_001);
    let complete = "SELECT COUNT(*) FROM followers WHERE account_id = $1 \
                    AND seen_run IS NOT NULL AND detailed_run = seen_run";
    assert_eq!(scalar(&engine, complete, oa.id).await, 25_001);

    let stats = engine.follower_stats(oa.id).await.unwrap().unwrap();
    let truth = sim.truth();
    assert_eq!(stats.followers, 25_001);
    assert_matches_truth(&stats, &sim);
    assert_eq!(stats.without_unionid_unsubscribed, 0);
    assert_eq!(stats.mp_users as u64, truth.mp_users);
    assert_eq!(stats.matched as u64, truth.matched);
    assert_eq!(stats.mp_not_following as u64, truth.mp_not_following);
    assert!(stats.matched > 0);
    assert_stats_consistent(&engine, oa.id).await;

    // One follower as WeChat describes it.
    let openid = sim.follower_openid(12_345).unwrap();
    let token = engine.access_token(&oa).await.unwrap();
    let info = engine
        .wechat()
        .user_info(&oa.api_base, &token, &openid, None)
        .await
        .unwrap();
    let (unionid, time, tags, remark, language, scene): (
        Option<String>,
        Option<i64>,
        String,
        String,
        Option<String>,
        Option<String>,
    ) = on_db!(engine.db(), |pool| sqlx::query_as(
        "SELECT unionid, subscribe_time, tagid_list, remark, language, subscribe_scene \
         FROM followers WHERE account_id = $1 AND openid = $2"
    )
    .bind(oa.id)
    .bind(&openid)
    .fetch_one(pool)
    .await)
    .unwrap();
    assert_eq!(unionid, info.unionid);
    assert_eq!(time, info.subscribe_time);
    assert_eq!(tags, engine::followers::sync::tag_list(&info.tagid_list));
    assert_eq!(remark, info.remark.unwrap_or_default());
    assert_eq!(language, info.language);
    assert_eq!(scene, info.subscribe_scene);

    let audit = engine
        .audit_recent(Some("followers.sync.finish"), 5)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(audit[0].detail.contains("\"listed\":25001"));
    assert_eq!(
        engine
            .audit_recent(Some("followers.sync.start"), 5)
            .await
            .unwrap()
            .len(),
        1
    );

    // Mini Programs have no followers.
    let err = engine.start_sync(&Actor::cli(), mp.id).await.unwrap_err();
    assert!(matches!(err, Error::Refused(_)), "{err:?}");
}
on_both_databases!(full_sync_of_25001_followers);

async fn a_crash_while_listing_resumes_after_the_last_finished_page(db: TestDb) {
    // 3 pages; 4 calls allowed: pages 1–2 before the crash, page 3 perhaps in flight when the
    // process died, page 3 again after. Fetching pages 1–2 again would run into 45009.
    let sim = start_sim(SimConfig {
        limits: ApiLimits {
            user_get: 4,
            ..ApiLimits::default()
        },
        faults: latency(400),
        ..followers(25_001)
    })
    .await;
    let setup = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&setup, &sim).await;
    let run_id = crash_during_sync(db.url.clone(), oa.id, |p| p.pages_done >= 2);

    let b = Engine::open(&db.url).await.unwrap();
    let p = b.sync_run(run_id).await.unwrap().unwrap();
    assert_eq!(
        (p.state, p.pages_done, p.listed),
        (SyncState::Listing, 2, 20_000)
    );
    let err = b.run_sync(run_id).await.unwrap_err();
    assert!(
        matches!(err, Error::Conflict(_)),
        "the crashed process's lease is still live: {err:?}"
    );
    assert!(matches!(
        b.start_sync(&Actor::cli(), oa.id).await,
        Err(Error::Conflict(_))
    ));

    // The lease lapses (as it would 30 s after the crash) and the next start resumes the run.
    expire_lease(&b, run_id).await;
    sim.clear_faults();
    assert_eq!(b.resume_syncs().await.unwrap(), 1);
    let p = b.run_sync(run_id).await.unwrap();
    assert_eq!(p.state, SyncState::Done, "{p:?}");
    assert_eq!(
        (p.pages_done, p.listed, p.detailed, p.total),
        (3, 25_001, 25_001, 25_001)
    );
    let stats = b.follower_stats(oa.id).await.unwrap().unwrap();
    assert_eq!(stats.followers, 25_001);
    assert_matches_truth(&stats, &sim);
}
on_both_databases!(a_crash_while_listing_resumes_after_the_last_finished_page);

async fn a_running_process_takes_over_the_sync_of_one_that_died(db: TestDb) {
    let sim = start_sim(SimConfig {
        faults: latency(100),
        ..followers(25_001)
    })
    .await;
    // The survivor was up before the other process started the sync and died.
    let survivor = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&survivor, &sim).await;
    let _watch = survivor.watch_syncs(Duration::from_millis(200));
    let run_id = crash_during_sync(db.url.clone(), oa.id, |p| p.pages_done >= 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let p = survivor.sync_run(run_id).await.unwrap().unwrap();
    assert_eq!(
        p.state,
        SyncState::Listing,
        "nobody takes a live lease: {p:?}"
    );

    // The dead process's lease lapses: the survivor finishes the run on its own.
    expire_lease(&survivor, run_id).await;
    sim.clear_faults();
    wait_for(&survivor, run_id, |p| p.is_finished()).await;
    let p = survivor.sync_run(run_id).await.unwrap().unwrap();
    assert_eq!(p.state, SyncState::Done, "{p:?}");
    assert_eq!((p.listed, p.detailed, p.total), (25_001, 25_001, 25_001));
    let stats = survivor.follower_stats(oa.id).await.unwrap().unwrap();
    assert_matches_truth(&stats, &sim);
}
on_both_databases!(a_running_process_takes_over_the_sync_of_one_that_died);

async fn a_crash_while_detailing_fetches_only_undetailed_followers(db: TestDb) {
    // 251 batchgets are needed. The crash comes after ≥ 150 committed ones; what was fetched but
    // not committed (≤ 74 calls) is fetched again. Re-fetching everything would need ≥ 401
    // calls and run into 45009 at 341.
    let sim = start_sim(SimConfig {
        limits: ApiLimits {
            user_info: 341,
            ..ApiLimits::default()
        },
        faults: latency(150),
        ..followers(25_001)
    })
    .await;
    let setup = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&setup, &sim).await;
    let run_id = crash_during_sync(db.url.clone(), oa.id, |p| p.detailed >= 15_000);

    let b = Engine::open(&db.url).await.unwrap();
    let before = b.sync_run(run_id).await.unwrap().unwrap();
    assert_eq!(before.state, SyncState::Detailing);
    assert_eq!(before.pages_done, 3);
    assert!(
        before.detailed < 25_001,
        "the crash came mid-way: {before:?}"
    );
    expire_lease(&b, run_id).await;
    sim.clear_faults();
    let p = b.run_sync(run_id).await.unwrap();
    assert_eq!(p.state, SyncState::Done, "{p:?}");
    assert_eq!(
        p.detailed, 25_001,
        "each follower was detailed (and counted) once"
    );
    assert_eq!(p.pages_done, 3, "no page listed again");
    let stats = b.follower_stats(oa.id).await.unwrap().unwrap();
    assert_matches_truth(&stats, &sim);
}
on_both_databases!(a_crash_while_detailing_fetches_only_undetailed_followers);

async fn unfollowers_are_marked_and_kept(db: TestDb) {
    let sim = start_sim(followers(3_000)).await;
    let engine = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&engine, &sim).await;
    assert_eq!(sync(&engine, &oa).await.unsubscribed, 0);

    let gone: Vec<String> = [7, 42, 100, 1_500, 2_999]
        .iter()
        .map(|&i| sim.follower_openid(i).unwrap())
        .collect();
    for openid in &gone {
        assert!(sim.state().unsubscribe(openid, false).unwrap());
    }
    let p = sync(&engine, &oa).await;
    assert_eq!(p.state, SyncState::Done);
    assert_eq!(p.unsubscribed, 5);
    assert_eq!((p.listed, p.total), (2_995, 2_995));
    for openid in &gone {
        assert_eq!(subscribed_flag(&engine, oa.id, openid).await, Some(false));
    }
    let unsubscribed = "SELECT COUNT(*) FROM followers WHERE account_id = $1 AND NOT subscribed";
    assert_eq!(scalar(&engine, unsubscribed, oa.id).await, 5);
    let stats = engine.follower_stats(oa.id).await.unwrap().unwrap();
    assert_eq!(stats.followers, 3_000, "former followers are kept");
    assert_eq!(stats.subscribed, 2_995);
    assert_matches_truth(&stats, &sim);

    // Nothing changed: nothing to reconcile. One comes back: subscribed again.
    assert_eq!(sync(&engine, &oa).await.unsubscribed, 0);
    assert!(sim.state().subscribe(&gone[2], false).unwrap());
    let p = sync(&engine, &oa).await;
    assert_eq!((p.unsubscribed, p.listed), (0, 2_996));
    assert_eq!(subscribed_flag(&engine, oa.id, &gone[2]).await, Some(true));
    let stats = engine.follower_stats(oa.id).await.unwrap().unwrap();
    assert_eq!((stats.followers, stats.subscribed), (3_000, 2_996));
    assert_matches_truth(&stats, &sim);
}
on_both_databases!(unfollowers_are_marked_and_kept);

async fn a_sync_can_be_cancelled(db: TestDb) {
    let sim = start_sim(SimConfig {
        faults: latency(300),
        ..followers(25_001)
    })
    .await;
    let engine = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&engine, &sim).await;
    let run_id = engine.start_sync(&Actor::cli(), oa.id).await.unwrap();
    wait_for(&engine, run_id, |p| p.pages_done >= 1).await;
    engine.cancel_sync(&Actor::cli(), oa.id).await.unwrap();
    let p = engine.run_sync(run_id).await.unwrap();
    assert_eq!(p.state, SyncState::Cancelled, "{p:?}");
    assert!(p.cancel_requested && p.finished_at_ms.is_some());
    assert!(p.pages_done < 3);
    assert_eq!(p.unsubscribed, 0);
    assert!(
        engine.follower_stats(oa.id).await.unwrap().is_none(),
        "no reconciliation, no counts"
    );
    assert!(matches!(
        engine.cancel_sync(&Actor::cli(), oa.id).await,
        Err(Error::NotFound)
    ));
    for action in ["followers.sync.cancel", "followers.sync.cancelled"] {
        assert_eq!(
            engine.audit_recent(Some(action), 5).await.unwrap().len(),
            1,
            "{action}"
        );
    }

    // The next sync starts from the beginning and completes.
    sim.clear_faults();
    let p = sync(&engine, &oa).await;
    assert_eq!((p.state, p.listed), (SyncState::Done, 25_001));
}
on_both_databases!(a_sync_can_be_cancelled);

async fn a_run_nobody_works_on_is_cancelled_at_once(db: TestDb) {
    let sim = start_sim(SimConfig {
        faults: latency(300),
        ..followers(25_001)
    })
    .await;
    let setup = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&setup, &sim).await;
    let run_id = crash_during_sync(db.url.clone(), oa.id, |p| p.pages_done >= 1);
    let b = Engine::open(&db.url).await.unwrap();
    expire_lease(&b, run_id).await;
    b.cancel_sync(&Actor::cli(), oa.id).await.unwrap();
    let p = b.sync_run(run_id).await.unwrap().unwrap();
    assert_eq!(p.state, SyncState::Cancelled);
    assert_eq!(b.resume_syncs().await.unwrap(), 0);
}
on_both_databases!(a_run_nobody_works_on_is_cancelled_at_once);

async fn one_sync_at_a_time(db: TestDb) {
    let sim = start_sim(SimConfig {
        faults: latency(300),
        ..followers(25_001)
    })
    .await;
    let first = Engine::open(&db.url).await.unwrap();
    let second = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&first, &sim).await;
    let run_id = first.start_sync(&Actor::cli(), oa.id).await.unwrap();
    for engine in [&first, &second] {
        let err = engine.start_sync(&Actor::cli(), oa.id).await.unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    }
    let err = second.run_sync(run_id).await.unwrap_err();
    assert!(
        matches!(err, Error::Conflict(_)),
        "a live process holds the run: {err:?}"
    );
    assert_eq!(
        first
            .audit_recent(Some("followers.sync.start"), 5)
            .await
            .unwrap()
            .len(),
        1
    );
    second.cancel_sync(&Actor::cli(), oa.id).await.unwrap();
    let p = first.run_sync(run_id).await.unwrap();
    assert_eq!(p.state, SyncState::Cancelled);
    // Finished: a new run may start.
    sim.clear_faults();
    assert_eq!(sync(&second, &oa).await.state, SyncState::Done);
}
on_both_databases!(one_sync_at_a_time);

async fn a_failed_sync_records_the_error(db: TestDb) {
    let sim = start_sim(followers(100)).await;
    let engine = Engine::open(&db.url).await.unwrap();
    let mut wrong = sim_account(&sim, AccountKind::Oa, "测试公众号", None);
    wrong.secret = Secret::new("0123456789abcdef0123456789abcdef");
    let oa = engine.create_account(&Actor::cli(), wrong).await.unwrap();
    let p = sync(&engine, &oa).await;
    assert_eq!(p.state, SyncState::Failed);
    let error = p.error.unwrap_or_default();
    assert!(
        error.contains("40125") && error.contains("AppSecret"),
        "{error}"
    );
    assert!(p.finished_at_ms.is_some());
    let audit = engine
        .audit_recent(Some("followers.sync.fail"), 5)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(audit[0].detail.contains("40125"));
    assert!(!audit[0].detail.contains("0123456789abcdef"));
    // A failed run does not block the next one.
    assert_eq!(sync(&engine, &oa).await.state, SyncState::Failed);
}
on_both_databases!(a_failed_sync_records_the_error);

async fn transient_errors_are_retried(db: TestDb) {
    let mut faults = FaultConfig {
        error_scope: ErrorScope::All,
        ..FaultConfig::default()
    };
    faults.errors.insert(-1, 0.1);
    let sim = start_sim(SimConfig {
        faults,
        ..followers(3_000)
    })
    .await;
    let engine = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&engine, &sim).await;
    let p = sync(&engine, &oa).await;
    assert_eq!(p.state, SyncState::Done, "{p:?}");
    assert_eq!((p.listed, p.detailed), (3_000, 3_000));
    let stats = engine.follower_stats(oa.id).await.unwrap().unwrap();
    assert_matches_truth(&stats, &sim);
}
on_both_databases!(transient_errors_are_retried);

async fn follow_events_are_idempotent(db: TestDb) {
    let sim = start_sim(followers(1_000)).await;
    let engine = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&engine, &sim).await;
    let mp = linked_mp(&engine, &sim, &oa).await;
    import_mp_users(&engine, &sim, &mp).await;
    assert_eq!(sync(&engine, &oa).await.state, SyncState::Done);
    let base = assert_stats_consistent(&engine, oa.id).await;
    assert!(base.matched > 0);

    // A follower with a unionid that an MP user shares.
    let matched = (0..sim.config().mp_users)
        .filter_map(|j| sim.mp_follower(j))
        .find(|&i| sim.is_following(i))
        .and_then(|i| sim.follower_openid(i))
        .expect("a matched follower");
    for _ in 0..2 {
        engine
            .apply_follow_event(oa.id, &matched, false, 1_700_000_000)
            .await
            .unwrap();
    }
    assert_eq!(subscribed_flag(&engine, oa.id, &matched).await, Some(false));
    let s = assert_stats_consistent(&engine, oa.id).await;
    assert_eq!(s.subscribed, base.subscribed - 1);
    assert_eq!(s.with_unionid, base.with_unionid - 1);
    assert_eq!(s.matched, base.matched - 1);
    assert_eq!(s.mp_not_following, base.mp_not_following + 1);
    for _ in 0..2 {
        engine
            .apply_follow_event(oa.id, &matched, true, 1_700_000_100)
            .await
            .unwrap();
    }
    let s = assert_stats_consistent(&engine, oa.id).await;
    assert_eq!(
        (s.subscribed, s.with_unionid, s.matched),
        (base.subscribed, base.with_unionid, base.matched)
    );
    let time = "SELECT subscribe_time FROM followers WHERE account_id = $1 AND openid = '";
    assert_eq!(
        scalar(&engine, &format!("{time}{matched}'"), oa.id).await,
        1_700_000_100
    );

    // A follower without a unionid.
    let plain = (0..1_000)
        .find(|&i| sim.follower_unionid(i).is_none())
        .and_then(|i| sim.follower_openid(i))
        .expect("a follower without unionid");
    for _ in 0..3 {
        engine
            .apply_follow_event(oa.id, &plain, false, 1_700_000_200)
            .await
            .unwrap();
    }
    let s = assert_stats_consistent(&engine, oa.id).await;
    assert_eq!(
        s.without_unionid_subscribed,
        base.without_unionid_subscribed - 1
    );
    assert_eq!(s.without_unionid_unsubscribed, 1);

    // Someone new (followed after the last sync).
    for _ in 0..2 {
        engine
            .apply_follow_event(oa.id, "oNEWFOLLOWER0000000000000001", true, 1_700_000_300)
            .await
            .unwrap();
    }
    let s = assert_stats_consistent(&engine, oa.id).await;
    assert_eq!(s.followers, base.followers + 1);
    assert_eq!(s.subscribed, base.subscribed);

    let err = engine
        .apply_follow_event(oa.id, "", true, 0)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Refused(_)));
}
on_both_databases!(follow_events_are_idempotent);

/// The dashboard reads the Mini Program figures from the cached counts: logins, imports and a
/// new link keep them equal to a count from scratch.
async fn mp_figures_follow_logins_imports_and_links(db: TestDb) {
    let sim = start_sim(followers(1_000)).await;
    let engine = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&engine, &sim).await;
    let mp = linked_mp(&engine, &sim, &oa).await;
    assert_eq!(sync(&engine, &oa).await.state, SyncState::Done);
    let s = assert_stats_consistent(&engine, oa.id).await;
    assert_eq!((s.mp_users, s.matched), (0, 0));

    // An import of the first half, then of users 100..300 (100 of them known already).
    let csv = |range: std::ops::Range<u32>| {
        range
            .filter_map(|i| {
                let openid = sim.mp_openid(i)?;
                Some(format!(
                    "{openid},{}\n",
                    sim.mp_unionid(i).unwrap_or_default()
                ))
            })
            .collect::<String>()
    };
    engine
        .import_mp_users_csv(&Actor::cli(), mp.id, &csv(0..200))
        .await
        .unwrap();
    let s = assert_stats_consistent(&engine, oa.id).await;
    assert_eq!(s.mp_users, 200);
    assert!(s.matched > 0, "some imported users follow");
    let report = engine
        .import_mp_users_csv(&Actor::cli(), mp.id, &csv(100..300))
        .await
        .unwrap();
    assert_eq!((report.inserted, report.updated), (100, 100));
    let s = assert_stats_consistent(&engine, oa.id).await;
    assert_eq!(s.mp_users, 300);

    // Logins: a new user who follows (counted once, however often they log in), and a known one.
    let new_follower = (300..sim.config().mp_users)
        .find(|&j| sim.mp_follower(j).is_some_and(|i| sim.is_following(i)))
        .expect("an MP user beyond the imports who follows");
    for index in [new_follower, new_follower, 5] {
        let code = sim.mint_code(index, false).unwrap();
        engine.mp_login(&mp, &code).await.unwrap();
    }
    let s = assert_stats_consistent(&engine, oa.id).await;
    assert_eq!(s.mp_users, 301);
    let dashboard = engine.dashboard_counts(oa.id).await.unwrap();
    assert_eq!(
        (
            dashboard.mp_users,
            dashboard.matched,
            dashboard.mp_not_following
        ),
        (s.mp_users, s.matched, s.mp_not_following)
    );

    // Another Mini Program linked to the OA takes the link: its users (none) count now.
    let other = engine
        .create_account(
            &Actor::cli(),
            NewAccount {
                appid: "wx00000000000000f1".into(),
                ..sim_account(&sim, AccountKind::Mp, "另一个小程序", Some(oa.id))
            },
        )
        .await
        .unwrap();
    let s = assert_stats_consistent(&engine, oa.id).await;
    assert_eq!((s.mp_users, s.matched), (0, 0));
    engine
        .import_mp_users_csv(&Actor::cli(), other.id, &csv(0..50))
        .await
        .unwrap();
    let s = assert_stats_consistent(&engine, oa.id).await;
    assert_eq!(s.mp_users, 50);
    assert_eq!(engine.dashboard_counts(oa.id).await.unwrap().mp_users, 50);

    // Deleting the linked Mini Program unlinks it: its users no longer count for the OA.
    engine
        .delete_account(&Actor::cli(), other.id)
        .await
        .unwrap();
    let dashboard = engine.dashboard_counts(oa.id).await.unwrap();
    assert_eq!((dashboard.mp_users, dashboard.matched), (0, 0));
    assert!(!dashboard.has_linked_mp);
    assert_stats_consistent(&engine, oa.id).await;
}
on_both_databases!(mp_figures_follow_logins_imports_and_links);

/// Follow events are ordered by their CreateTime per follower: a late or replayed older event
/// never overrides a newer state, and the counts follow only real changes.
async fn older_follow_events_never_override_newer_ones(db: TestDb) {
    let sim = start_sim(followers(200)).await;
    let engine = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&engine, &sim).await;
    assert_eq!(sync(&engine, &oa).await.state, SyncState::Done);
    let base = assert_stats_consistent(&engine, oa.id).await;
    let who = sim.follower_openid(3).expect("a follower");
    let t = 1_800_000_000;

    engine
        .apply_follow_event(oa.id, &who, true, t - 5)
        .await
        .unwrap();
    engine
        .apply_follow_event(oa.id, &who, false, t)
        .await
        .unwrap();
    // The first subscribe again (replayed), and one in between (late).
    engine
        .apply_follow_event(oa.id, &who, true, t - 5)
        .await
        .unwrap();
    engine
        .apply_follow_event(oa.id, &who, true, t - 1)
        .await
        .unwrap();
    assert_eq!(subscribed_flag(&engine, oa.id, &who).await, Some(false));
    let s = assert_stats_consistent(&engine, oa.id).await;
    assert_eq!(s.subscribed, base.subscribed - 1, "counted once");

    // A newer one wins; an unfollow older than it is late.
    engine
        .apply_follow_event(oa.id, &who, true, t + 10)
        .await
        .unwrap();
    engine
        .apply_follow_event(oa.id, &who, false, t + 9)
        .await
        .unwrap();
    assert_eq!(subscribed_flag(&engine, oa.id, &who).await, Some(true));
    let s = assert_stats_consistent(&engine, oa.id).await;
    assert_eq!(s.subscribed, base.subscribed);

    // Someone new, whose unfollow arrives before their (older) follow.
    let new = "oLATEFOLLOWER000000000000001";
    engine
        .apply_follow_event(oa.id, new, false, t + 20)
        .await
        .unwrap();
    engine
        .apply_follow_event(oa.id, new, true, t + 15)
        .await
        .unwrap();
    assert_eq!(subscribed_flag(&engine, oa.id, new).await, Some(false));
    let s = assert_stats_consistent(&engine, oa.id).await;
    assert_eq!(s.followers, base.followers + 1);

    // Openids are checked at the edge of the engine too.
    for bad in ["=cmd|' /C calc'!A0", &"o".repeat(129)] {
        assert!(matches!(
            engine.apply_follow_event(oa.id, bad, true, t).await,
            Err(Error::Refused(_))
        ));
    }
}
on_both_databases!(older_follow_events_never_override_newer_ones);

/// The counts at the end of a sync look Mini Program users up by unionid: on SQLite through
/// the unionid index, never a scan of the followers per user (a minute under the write lock
/// for 20,000 followers and 8,000 users).
async fn the_matched_count_uses_the_unionid_index(db: TestDb) {
    if !db.url.starts_with("sqlite:") {
        return;
    }
    let sim = start_sim(followers(2_000)).await;
    let engine = Engine::open(&db.url).await.unwrap();
    let oa = oa_account(&engine, &sim).await;
    let mp = linked_mp(&engine, &sim, &oa).await;
    import_mp_users(&engine, &sim, &mp).await;
    assert_eq!(sync(&engine, &oa).await.state, SyncState::Done);
    let engine::db::Db::Sqlite(pool) = engine.db() else {
        unreachable!("a sqlite url")
    };
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
        "EXPLAIN QUERY PLAN {}",
        engine::followers::stats::stats_sql(engine.db())
    ))
    .bind(oa.id)
    .bind(mp.id)
    .fetch_all(pool)
    .await
    .unwrap();
    let lines: Vec<&str> = plan.iter().map(|(_, _, _, d)| d.as_str()).collect();
    let lookup = lines
        .iter()
        .find(|d| d.starts_with("SEARCH x ") || d.starts_with("SCAN x"))
        .unwrap_or_else(|| panic!("the follower lookup in {lines:#?}"));
    assert!(
        lookup.contains("INDEX followers_unionid") && lookup.contains("unionid=?"),
        "the lookup must search the unionid index: {lines:#?}"
    );
    let stats = engine.follower_stats(oa.id).await.unwrap().unwrap();
    assert!(stats.matched > 0, "{stats:?}");
}
on_both_databases!(the_matched_count_uses_the_unionid_index);

//! Scheduled jobs on SQLite and PostgreSQL: a job waits as 已计划 until its time, then starts
//! exactly once with two engines on one database; its time, name and rate change until then;
//! approved early it still waits; and a job that fell due while wxpush was down starts at once
//! when it comes back. Time is chosen by the tests (`start_due_jobs(now)`), never waited for.

mod common;

use std::time::{Duration, Instant};

use engine::jobs::schedule::JobSchedule;
use engine::jobs::{JobState, NewJob, RecipientSource};
use engine::testing::TestDb;
use engine::{now_ms, on_both_databases, on_db, Engine, Error};
use model::{Channel, JobAction, PauseReason, Problem};

use common::world::{fast, world, World};
use common::{admin, Dispatcher};

const MINUTE: i64 = 60_000;

fn scheduled_job(w: &World, start_at_ms: i64) -> NewJob {
    NewJob {
        name: "明早九点提醒".into(),
        channel: Channel::Template,
        preset_id: Some(w.preset_id),
        mp_preset_id: None,
        source: RecipientSource::Openids(vec![
            w.sim.follower_openid(0).unwrap(),
            w.sim.follower_openid(1).unwrap(),
        ]),
        rate_limit: 0,
        start_at_ms: Some(start_at_ms),
    }
}

async fn starts_of(engine: &Engine, job_id: i64) -> usize {
    engine
        .audit_recent(Some("job.start"), 1_000)
        .await
        .unwrap()
        .iter()
        .filter(|e| {
            e.detail.contains(&format!("\"id\":{job_id},"))
                || e.detail.contains(&format!("\"id\":{job_id}}}"))
        })
        .count()
}

fn problem(e: Error) -> Problem {
    match e {
        Error::Refused(r) => r.problem,
        e => panic!("not a refusal: {e:?}"),
    }
}

async fn a_due_job_starts_once_with_two_engines(db: TestDb) {
    let w = world(&db).await;
    let other = Engine::open(&db.url).await.unwrap();
    let start = now_ms() + 10 * MINUTE;
    let job = w
        .engine
        .create_job_with(&admin(), &w.oa, &scheduled_job(&w, start))
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Paused);
    assert_eq!(job.pause_reason, Some(PauseReason::Scheduled));
    assert_eq!(job.start_at_ms, Some(start));
    assert_eq!(
        starts_of(&w.engine, job.id).await,
        0,
        "not started at creation"
    );

    // Before its time nothing happens, on either engine.
    assert!(w.engine.start_due_jobs(start - 1).await.unwrap().is_empty());
    assert!(other.start_due_jobs(start - 1).await.unwrap().is_empty());

    // At its time both passes race: one starts it.
    let (a, b) = tokio::join!(
        w.engine.start_due_jobs(start),
        other.start_due_jobs(start + 5)
    );
    let mut started = a.unwrap();
    started.extend(b.unwrap());
    assert_eq!(started, vec![job.id]);
    assert_eq!(starts_of(&w.engine, job.id).await, 1);
    let now = w.engine.job(job.id).await.unwrap().unwrap();
    assert_eq!((now.state, now.pause_reason), (JobState::Running, None));
    assert!(w
        .engine
        .start_due_jobs(start + MINUTE)
        .await
        .unwrap()
        .is_empty());

    // A start time must lie ahead.
    let past = w
        .engine
        .create_job_with(&admin(), &w.oa, &scheduled_job(&w, now_ms() - 1))
        .await
        .unwrap_err();
    assert_eq!(problem(past), Problem::StartTime);
}
on_both_databases!(a_due_job_starts_once_with_two_engines);

async fn the_plan_changes_until_it_starts_and_approval_keeps_the_time(db: TestDb) {
    let w = world(&db).await;
    let start = now_ms() + 10 * MINUTE;
    let job = w
        .engine
        .create_job_with(&admin(), &w.oa, &scheduled_job(&w, start))
        .await
        .unwrap();
    let later = start + 60 * MINUTE;
    let change = JobSchedule {
        start_at_ms: later,
        name: "改到十点".into(),
        rate_limit: 50,
    };
    let changed = w
        .engine
        .reschedule_job(&admin(), job.id, &change)
        .await
        .unwrap();
    assert_eq!(
        (
            changed.start_at_ms,
            changed.name.as_str(),
            changed.rate_limit
        ),
        (Some(later), "改到十点", 50)
    );
    let audit = w
        .engine
        .audit_recent(Some("job.reschedule"), 1)
        .await
        .unwrap();
    assert_eq!(audit[0].target, "改到十点");
    assert!(audit[0].detail.contains(&later.to_string()), "{audit:?}");
    // Refused: a past time, a name over the limit.
    let past = JobSchedule {
        start_at_ms: now_ms() - MINUTE,
        ..change.clone()
    };
    assert_eq!(
        problem(
            w.engine
                .reschedule_job(&admin(), job.id, &past)
                .await
                .unwrap_err()
        ),
        Problem::StartTime
    );
    let long = JobSchedule {
        name: "长".repeat(200),
        ..change.clone()
    };
    assert!(w
        .engine
        .reschedule_job(&admin(), job.id, &long)
        .await
        .is_err());
    // Started (as "start now" does), it can no longer be rescheduled.
    w.engine.resume_job(&admin(), job.id).await.unwrap();
    assert_eq!(
        problem(
            w.engine
                .reschedule_job(&admin(), job.id, &change)
                .await
                .unwrap_err()
        ),
        Problem::JobState {
            state: JobState::Running,
            action: JobAction::Reschedule
        }
    );

    // Above the approval threshold: approved before its time, it goes on waiting for it.
    w.engine.set_approval_threshold(&admin(), 1).await.unwrap();
    let big = w
        .engine
        .create_job_with(&admin(), &w.oa, &scheduled_job(&w, start))
        .await
        .unwrap();
    assert!(big.awaiting_approval());
    let second = engine::audit::Actor::staff(2, "second-admin", "127.0.0.1");
    let approved = w.engine.approve_job(&second, big.id).await.unwrap();
    assert_eq!(approved.pause_reason, Some(PauseReason::Scheduled));
    assert_eq!(approved.approved_by.as_deref(), Some("second-admin"));
    assert_eq!(starts_of(&w.engine, big.id).await, 0);
    assert_eq!(w.engine.start_due_jobs(start).await.unwrap(), vec![big.id]);
}
on_both_databases!(the_plan_changes_until_it_starts_and_approval_keeps_the_time);

async fn a_job_due_while_down_starts_when_wxpush_comes_back(db: TestDb) {
    let w = world(&db).await;
    let job = w
        .engine
        .create_job_with(&admin(), &w.oa, &scheduled_job(&w, now_ms() + 10 * MINUTE))
        .await
        .unwrap();
    // wxpush is down for an hour past the job's time (no dispatcher runs meanwhile).
    on_db!(w.engine.db(), |pool| sqlx::query(
        "UPDATE jobs SET start_at_ms = $1 WHERE id = $2"
    )
    .bind(now_ms() - 60 * MINUTE)
    .bind(job.id)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
    let restarted = Engine::open(&db.url).await.unwrap();
    let _d = Dispatcher(restarted.start_dispatcher(fast()));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let p = restarted.job_progress(job.id).await.unwrap().unwrap();
        if p.job.state == JobState::Done {
            assert_eq!(p.sent, 2);
            break;
        }
        assert!(Instant::now() < deadline, "never started: {p:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(starts_of(&restarted, job.id).await, 1);
    for i in 0..2 {
        assert_eq!(w.sim.ledger_received(&w.sim.follower_openid(i).unwrap()), 1);
    }
}
on_both_databases!(a_job_due_while_down_starts_when_wxpush_comes_back);

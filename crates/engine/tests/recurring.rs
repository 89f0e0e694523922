//! Recurring sends (定时任务) on SQLite and PostgreSQL: a due run creates exactly one job with
//! two engines racing on one database; after downtime it runs once, says how many runs it
//! stands for, and its people receive one message each; a run the rules refuse moves on and
//! says why; pausing, resuming and deleting are audited. Time is chosen by the tests
//! (`run_due_schedules(now)`), never waited for, except where a real dispatcher runs.

mod common;

use std::time::{Duration, Instant};

use engine::jobs::{JobState, RecipientSource};
use engine::schedules::NewSchedule;
use engine::testing::TestDb;
use engine::{now_ms, on_both_databases, on_db, Engine, Error};
use model::schedule::{Rhythm, ScheduleAction, TimeOfDay, Weekday};
use model::{Channel, Problem};

use common::world::{fast, world, World};
use common::{admin, Dispatcher};

const HOUR: i64 = 60 * 60_000;

fn weekly(w: &World, source: RecipientSource) -> NewSchedule {
    NewSchedule {
        name: "每周一提醒".into(),
        channel: Channel::Template,
        preset_id: Some(w.preset_id),
        mp_preset_id: None,
        source,
        rhythm: Rhythm::Weekly {
            days: vec![Weekday::Mon],
            at: TimeOfDay {
                hour: 10,
                minute: 0,
            },
        },
        rate_limit: 0,
    }
}

fn problem(e: Error) -> Problem {
    match e {
        Error::Refused(r) => r.problem,
        e => panic!("not a refusal: {e:?}"),
    }
}

/// Moves a schedule's next run to `at` (as if it had been computed then).
async fn due_at(engine: &Engine, id: i64, at: i64) {
    on_db!(engine.db(), |pool| sqlx::query(
        "UPDATE schedules SET next_run_ms = $1 WHERE id = $2"
    )
    .bind(at)
    .bind(id)
    .execute(pool)
    .await
    .map(|_| ()))
    .unwrap();
}

async fn audit_count(engine: &Engine, action: &str) -> usize {
    engine
        .audit_recent(Some(action), 1_000)
        .await
        .unwrap()
        .len()
}

async fn a_due_run_makes_one_job_with_two_engines(db: TestDb) {
    let w = world(&db).await;
    let other = Engine::open(&db.url).await.unwrap();
    let schedule = w
        .engine
        .create_schedule(&admin(), &w.oa, &weekly(&w, RecipientSource::AllSubscribed))
        .await
        .unwrap();
    assert!(schedule.next_run_ms > now_ms());
    assert_eq!(schedule.summary.zh, "每周一 10:00");
    assert_eq!(audit_count(&w.engine, "schedule.create").await, 1);
    // Nothing is due yet.
    assert!(w
        .engine
        .run_due_schedules(now_ms())
        .await
        .unwrap()
        .is_empty());

    let run = now_ms() - 1_000;
    due_at(&w.engine, schedule.id, run).await;
    let now = now_ms();
    let (a, b) = tokio::join!(
        w.engine.run_due_schedules(now),
        other.run_due_schedules(now)
    );
    let made: Vec<i64> = a
        .unwrap()
        .into_iter()
        .chain(b.unwrap())
        .filter_map(|o| o.job_id)
        .collect();
    assert_eq!(made.len(), 1, "one job for the run: {made:?}");
    let jobs = w.engine.schedule_jobs(schedule.id, 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.id, made[0]);
    assert_eq!(job.schedule_id, Some(schedule.id));
    assert!(job.name.starts_with("每周一提醒 · "), "{}", job.name);
    assert_eq!(job.created_by, "admin", "the run is its creator's job");
    assert_eq!(job.state, JobState::Running);
    let after = w.engine.schedule(schedule.id).await.unwrap().unwrap();
    assert_eq!(after.last_job_id, Some(job.id));
    assert_eq!(after.last_run_ms, Some(run));
    assert_eq!(after.last_skipped, 0);
    assert!(after.next_run_ms > now, "moved on to the next Monday");
    assert_eq!(audit_count(&w.engine, "schedule.run").await, 1);
    // A later pass finds nothing due.
    assert!(other.run_due_schedules(now_ms()).await.unwrap().is_empty());
}
on_both_databases!(a_due_run_makes_one_job_with_two_engines);

async fn after_downtime_it_runs_once_and_counts_the_missed_runs(db: TestDb) {
    let w = world(&db).await;
    let hourly = NewSchedule {
        rhythm: Rhythm::Cron {
            expr: "0 * * * *".into(),
        },
        ..weekly(&w, RecipientSource::AllSubscribed)
    };
    let schedule = w
        .engine
        .create_schedule(&admin(), &w.oa, &hourly)
        .await
        .unwrap();
    // wxpush was down for five hours and a bit: the run due then stands for the five since.
    let this_hour = now_ms() / HOUR * HOUR;
    due_at(&w.engine, schedule.id, this_hour - 5 * HOUR).await;
    let restarted = Engine::open(&db.url).await.unwrap();
    let _d = Dispatcher(restarted.start_dispatcher(fast()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let job = loop {
        let jobs = restarted.schedule_jobs(schedule.id, 10).await.unwrap();
        if let Some(job) = jobs.first() {
            let p = restarted.job_progress(job.id).await.unwrap().unwrap();
            if p.job.state == JobState::Done {
                break p;
            }
        }
        assert!(Instant::now() < deadline, "the run never finished");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        restarted
            .schedule_jobs(schedule.id, 10)
            .await
            .unwrap()
            .len(),
        1,
        "missed runs are not replayed"
    );
    let after = restarted.schedule(schedule.id).await.unwrap().unwrap();
    // Five missed runs, or six if an hour struck meanwhile: every hour between the one due
    // and the run, which leaves the next run the hour after.
    let due = this_hour - 5 * HOUR;
    assert!(after.next_run_ms > now_ms() - HOUR && after.next_run_ms <= now_ms() + HOUR);
    assert_eq!(after.last_skipped, (after.next_run_ms - HOUR - due) / HOUR);
    assert!(after.last_skipped >= 5);
    assert_eq!(job.sent, job.job.will_receive);
    assert!(p_sent_all(&w, job.sent));
}
on_both_databases!(after_downtime_it_runs_once_and_counts_the_missed_runs);

/// The run's people received its message exactly once each, according to the simulator.
fn p_sent_all(w: &World, sent: i64) -> bool {
    let received: Vec<u64> = w
        .sim
        .followers_openids(0..10_000)
        .iter()
        .map(|o| w.sim.ledger_received(o))
        .collect();
    sent > 0 && received.iter().sum::<u64>() == sent as u64 && received.iter().all(|n| *n <= 1)
}

async fn refused_runs_move_on_and_controls_are_audited(db: TestDb) {
    let w = world(&db).await;
    // Refused at creation: a fixed list, a cron that never comes, a name too long for its jobs.
    let refused = |new: NewSchedule| {
        let engine = w.engine.clone();
        let oa = w.oa.clone();
        async move {
            problem(
                engine
                    .create_schedule(&admin(), &oa, &new)
                    .await
                    .unwrap_err(),
            )
        }
    };
    let fixed = weekly(&w, RecipientSource::Openids(vec!["o".into()]));
    assert_eq!(refused(fixed).await, Problem::NotARecipientRule);
    let never = NewSchedule {
        rhythm: Rhythm::Cron {
            expr: "0 0 31 2 *".into(),
        },
        ..weekly(&w, RecipientSource::Matched)
    };
    assert_eq!(refused(never).await, Problem::CronFormat);
    let long = NewSchedule {
        name: "长".repeat(50),
        ..weekly(&w, RecipientSource::Matched)
    };
    // 60 characters for a job name, less the run's " · 2026-12-14 10:00".
    assert_eq!(refused(long).await, Problem::TooLong(41));
    assert_eq!(audit_count(&w.engine, "schedule.create").await, 0);

    // A tag nobody carries: the run creates nothing, says why, and moves on.
    let empty = w
        .engine
        .create_schedule(&admin(), &w.oa, &weekly(&w, RecipientSource::Tag(9_999)))
        .await
        .unwrap();
    due_at(&w.engine, empty.id, now_ms() - 1_000).await;
    let outcomes = w.engine.run_due_schedules(now_ms()).await.unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].job_id, None);
    let after = w.engine.schedule(empty.id).await.unwrap().unwrap();
    assert_eq!(
        after.last_refusal.map(|r| r.problem),
        Some(Problem::NoRecipients)
    );
    assert!(after.next_run_ms > now_ms());
    assert!(w
        .engine
        .run_due_schedules(now_ms())
        .await
        .unwrap()
        .is_empty());

    // Paused, a due run waits; resumed, it runs at the next time from now, not the missed one.
    due_at(&w.engine, empty.id, now_ms() - 1_000).await;
    let admin = admin();
    let control = |action| w.engine.control_schedule(&admin, empty.id, action);
    let paused = control(ScheduleAction::Pause).await.unwrap().unwrap();
    assert!(paused.paused);
    assert!(w
        .engine
        .run_due_schedules(now_ms())
        .await
        .unwrap()
        .is_empty());
    let resumed = control(ScheduleAction::Resume).await.unwrap().unwrap();
    assert!(!resumed.paused && resumed.next_run_ms > now_ms());
    assert!(w
        .engine
        .run_due_schedules(now_ms())
        .await
        .unwrap()
        .is_empty());
    let gone = control(ScheduleAction::Delete).await.unwrap();
    assert!(gone.is_none());
    assert!(w.engine.schedules(w.oa.id).await.unwrap().is_empty());
    for action in ["schedule.pause", "schedule.resume", "schedule.delete"] {
        assert_eq!(audit_count(&w.engine, action).await, 1, "{action}");
    }
}
on_both_databases!(refused_runs_move_on_and_controls_are_audited);

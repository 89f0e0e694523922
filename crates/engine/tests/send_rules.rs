//! Quiet hours and the per-person daily cap against the WeChat simulator, on SQLite and
//! PostgreSQL: the quiet-hours pass at times the test chooses (no sleeps) pauses running jobs
//! and API messages and resumes only what it paused; jobs created inside the window wait; the
//! dispatcher applies the window by itself; the cap holds across jobs, API messages and two
//! processes; the settings are checked and audited.

use std::collections::HashMap;
use std::time::{Duration, Instant};

mod common;

use chrono::TimeZone;
use engine::jobs::{JobProgress, JobState, RecipientSource, SkipReason};
use engine::testing::TestDb;
use engine::{now_ms, on_both_databases, on_db, Engine, Error};
use model::send_api::{MessageState, Person, PresetScope};
use model::send_rules::{QuietHours, SendRules};
use model::{Channel, PauseReason, Problem};

use common::world::{self, fast, wait_outcome, World};
use common::{admin, Dispatcher};

const MIN: i64 = 60_000;

/// Unix ms of a wall-clock time in Shanghai (the default console time zone).
fn shanghai(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap()
        .timestamp_millis()
}

/// Minutes after midnight in Shanghai now.
fn minute_now() -> u16 {
    engine::send_rules::local_minute(chrono_tz::Asia::Shanghai, now_ms())
}

/// A window from `from` to `to` minutes after now (wrapping around midnight).
fn window_around_now(from: i64, to: i64) -> QuietHours {
    let m = i64::from(minute_now());
    let at = |d: i64| (m + d).rem_euclid(1440) as u16;
    QuietHours::new(at(from), at(to)).unwrap()
}

fn follower(w: &World, i: u32) -> String {
    w.sim.follower_openid(i).expect("a follower")
}

async fn job_to(w: &World, name: &str, openids: Vec<String>, rate: i64) -> engine::jobs::Job {
    w.engine
        .create_job(
            &admin(),
            &w.oa,
            w.preset_id,
            name,
            &RecipientSource::Openids(openids),
            rate,
        )
        .await
        .unwrap()
}

async fn progress(engine: &Engine, id: i64) -> JobProgress {
    engine.job_progress(id).await.unwrap().unwrap()
}

async fn wait_for(
    engine: &Engine,
    id: i64,
    what: &str,
    until: impl Fn(&JobProgress) -> bool,
) -> JobProgress {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = progress(engine, id).await;
        if until(&p) {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {p:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn skipped(p: &JobProgress, reason: SkipReason) -> i64 {
    p.skip_reasons
        .iter()
        .filter(|(r, _)| *r == reason)
        .map(|(_, n)| n)
        .sum()
}

async fn api_job_id(engine: &Engine, account_id: i64) -> i64 {
    on_db!(engine.db(), |pool| sqlx::query_scalar::<_, i64>(
        "SELECT id FROM jobs WHERE account_id = $1 AND kind = 'api'"
    )
    .bind(account_id)
    .fetch_one(pool)
    .await
    .unwrap())
}

fn rules(quiet: Option<QuietHours>, cap: Option<i64>) -> SendRules {
    SendRules {
        quiet_hours: quiet,
        daily_cap: cap,
    }
}

// Quiet hours ────────────────────────────────────────────────────────────────────────────────

/// The pass at chosen times: 22:00–08:00 pauses running jobs (a batch job and the account's API
/// messages) at 23:30, keeps them paused at 07:59 the next morning, resumes them at 08:00 — and
/// never resumes a job paused by staff or waiting for approval.
async fn quiet_hours_pause_and_resume_at_the_times_given(db: TestDb) {
    let w = world::world(&db).await;
    let running = job_to(&w, "夜间促销", vec![follower(&w, 0), follower(&w, 1)], 10).await;
    let by_staff = job_to(&w, "暂停的任务", vec![follower(&w, 2)], 10).await;
    w.engine.pause_job(&admin(), by_staff.id).await.unwrap();
    w.engine.set_approval_threshold(&admin(), 2).await.unwrap();
    let big = job_to(&w, "大任务", (3..6).map(|i| follower(&w, i)).collect(), 10).await;
    assert_eq!(big.pause_reason, Some(PauseReason::Approval));
    let (_, key) = w
        .engine
        .create_send_key(&admin(), w.oa.id, "订单系统", PresetScope::All, 1_000)
        .await
        .unwrap();
    w.engine
        .accept_message(
            &key,
            &world::request(Person::OaOpenid(follower(&w, 7)), w.preset_id),
            "h1",
        )
        .await
        .unwrap();
    let api = api_job_id(&w.engine, w.oa.id).await;

    let night = QuietHours::parse("22:00", "08:00").unwrap();
    w.engine
        .set_send_rules(&admin(), &w.oa, rules(Some(night), None))
        .await
        .unwrap();

    let pass = w
        .engine
        .apply_quiet_hours(shanghai(2030, 1, 1, 21, 59))
        .await
        .unwrap();
    assert!(
        pass.paused.is_empty() && pass.resumed.is_empty(),
        "{pass:?}"
    );

    let pass = w
        .engine
        .apply_quiet_hours(shanghai(2030, 1, 1, 23, 30))
        .await
        .unwrap();
    let mut paused = pass.paused.clone();
    paused.sort();
    assert_eq!(
        paused,
        vec![running.id, api],
        "the batch job and the API messages pause"
    );
    for id in [running.id, api] {
        let job = w.engine.job(id).await.unwrap().unwrap();
        assert_eq!(
            (job.state, job.pause_reason),
            (JobState::Paused, Some(PauseReason::QuietHours))
        );
    }
    // A second pass, or another process's, changes nothing more.
    let again = w
        .engine
        .apply_quiet_hours(shanghai(2030, 1, 2, 7, 59))
        .await
        .unwrap();
    assert!(
        again.paused.is_empty() && again.resumed.is_empty(),
        "{again:?}"
    );

    let pass = w
        .engine
        .apply_quiet_hours(shanghai(2030, 1, 2, 8, 0))
        .await
        .unwrap();
    let mut resumed = pass.resumed.clone();
    resumed.sort();
    assert_eq!(
        resumed,
        vec![running.id, api],
        "resumed when the window ends"
    );
    let job = w.engine.job(running.id).await.unwrap().unwrap();
    assert_eq!((job.state, job.pause_reason), (JobState::Running, None));
    let staff = w.engine.job(by_staff.id).await.unwrap().unwrap();
    assert_eq!(
        staff.pause_reason,
        Some(PauseReason::Staff),
        "staff's pause stays"
    );
    let waiting = w.engine.job(big.id).await.unwrap().unwrap();
    assert!(waiting.awaiting_approval(), "approval is not skipped");

    // Every change is audited, by the system, with its reason.
    let pauses = w.engine.audit_recent(Some("job.pause"), 10).await.unwrap();
    let quiet_pauses: Vec<_> = pauses
        .iter()
        .filter(|e| e.detail.contains("quiet_hours"))
        .collect();
    assert_eq!(quiet_pauses.len(), 2, "{pauses:?}");
    assert!(quiet_pauses.iter().all(|e| e.actor == "system"));
    let resumes = w.engine.audit_recent(Some("job.resume"), 10).await.unwrap();
    assert_eq!(
        resumes
            .iter()
            .filter(|e| e.detail.contains("quiet_hours"))
            .count(),
        2
    );

    // Inside the window again, then quiet hours switched off: the next pass resumes.
    let pass = w
        .engine
        .apply_quiet_hours(shanghai(2030, 1, 2, 23, 0))
        .await
        .unwrap();
    assert_eq!(pass.paused.len(), 2);
    w.engine
        .set_send_rules(&admin(), &w.oa, rules(None, None))
        .await
        .unwrap();
    let pass = w
        .engine
        .apply_quiet_hours(shanghai(2030, 1, 2, 23, 1))
        .await
        .unwrap();
    assert_eq!(
        pass.resumed.len(),
        2,
        "switched off: nothing waits any more"
    );
}
on_both_databases!(quiet_hours_pause_and_resume_at_the_times_given);

/// With a dispatcher on real time: a job created inside the window starts paused and sends
/// nothing (the review says so); a running job pauses when its account's window begins; both
/// send everything once quiet hours are switched off.
async fn the_dispatcher_keeps_quiet_hours(db: TestDb) {
    let w = world::world(&db).await;
    let _d = Dispatcher(w.engine.start_dispatcher(fast()));

    // A slow job, running before the window.
    let slow: Vec<String> = (0..12).map(|i| follower(&w, i)).collect();
    let running = job_to(&w, "慢任务", slow, 2).await;
    wait_for(&w.engine, running.id, "a first send", |p| p.sent >= 1).await;

    // The window now: the dispatcher pauses the job within a pass.
    let now_window = window_around_now(-30, 30);
    w.engine
        .set_send_rules(&admin(), &w.oa, rules(Some(now_window), None))
        .await
        .unwrap();
    let p = wait_for(&w.engine, running.id, "the quiet-hours pause", |p| {
        p.job.pause_reason == Some(PauseReason::QuietHours) && p.sending == 0
    })
    .await;
    assert!(p.pending > 0, "paused before the end: {p:?}");
    let sent_at_pause = p.sent;

    // Created inside the window: paused from the start; the review warned.
    let plan = w
        .engine
        .plan_job(
            &w.oa,
            &RecipientSource::Openids(vec![follower(&w, 20)]),
            Channel::Template,
            None,
        )
        .await
        .unwrap();
    assert!(plan.send_rules.in_quiet_hours, "{:?}", plan.send_rules);
    assert_eq!(plan.send_rules.quiet_hours, Some(now_window));
    assert!(plan.send_rules.quiet_until_ms.unwrap() > now_ms());
    let created = job_to(
        &w,
        "夜里建的任务",
        vec![follower(&w, 20), follower(&w, 21)],
        100,
    )
    .await;
    assert_eq!(
        (created.state, created.pause_reason),
        (JobState::Paused, Some(PauseReason::QuietHours))
    );
    // A pass now (as the dispatcher's) keeps both paused.
    let pass = w.engine.apply_quiet_hours(now_ms()).await.unwrap();
    assert!(pass.resumed.is_empty(), "{pass:?}");
    assert_eq!(progress(&w.engine, running.id).await.sent, sent_at_pause);
    assert_eq!(progress(&w.engine, created.id).await.sent, 0);

    // Switched off: the dispatcher resumes both and they finish.
    w.engine
        .set_send_rules(&admin(), &w.oa, rules(None, None))
        .await
        .unwrap();
    let p = wait_for(&w.engine, created.id, "the new job", |p| {
        p.job.state == JobState::Done
    })
    .await;
    assert_eq!(p.sent, 2);
    let p = wait_for(&w.engine, running.id, "the slow job", |p| {
        p.job.state == JobState::Done
    })
    .await;
    assert_eq!(p.sent, 12);
    assert_eq!(w.sim.ledger_summary().duplicates_delivered, 0);
}
on_both_databases!(the_dispatcher_keeps_quiet_hours);

// Daily cap ─────────────────────────────────────────────────────────────────────────────────

/// Cap 1: a second job to the same people skips them (daily_cap) and the review counted them;
/// an API message to someone capped is not sent, and one sent counts for a later job.
async fn the_daily_cap_holds_across_jobs_and_api_messages(db: TestDb) {
    let w = world::world(&db).await;
    let _d = Dispatcher(w.engine.start_dispatcher(fast()));
    w.engine
        .set_send_rules(&admin(), &w.oa, rules(None, Some(1)))
        .await
        .unwrap();
    let (a, b, c, d) = (
        follower(&w, 0),
        follower(&w, 1),
        follower(&w, 2),
        follower(&w, 3),
    );

    let first = job_to(&w, "第一波", vec![a.clone(), b.clone()], 100).await;
    let p = wait_for(&w.engine, first.id, "the first job", |p| {
        p.job.state == JobState::Done
    })
    .await;
    assert_eq!(p.sent, 2);
    assert_eq!(
        w.engine.sent_today_to(w.oa.id, &a, now_ms()).await.unwrap(),
        1
    );

    let source = RecipientSource::Openids(vec![a.clone(), b.clone(), c.clone()]);
    let plan = w
        .engine
        .plan_job(&w.oa, &source, Channel::Template, None)
        .await
        .unwrap();
    assert_eq!(plan.send_rules.daily_cap, Some(1));
    assert_eq!(
        plan.send_rules.at_daily_cap, 2,
        "the review says who will be skipped"
    );
    assert_eq!(plan.will_receive, 3);

    let second = job_to(&w, "第二波", vec![a.clone(), b.clone(), c.clone()], 100).await;
    let p = wait_for(&w.engine, second.id, "the second job", |p| {
        p.job.state == JobState::Done
    })
    .await;
    assert_eq!((p.sent, p.skipped), (1, 2), "{p:?}");
    assert_eq!(skipped(&p, SkipReason::DailyCap), 2);
    for who in [&a, &b, &c] {
        assert_eq!(
            w.sim.messages(10, Some(who)).len(),
            1,
            "{who} got one message"
        );
    }

    // API messages count too: c is capped, d is not — and then is.
    let (_, key) = w
        .engine
        .create_send_key(&admin(), w.oa.id, "订单系统", PresetScope::All, 1_000)
        .await
        .unwrap();
    let to_c = w
        .engine
        .accept_message(
            &key,
            &world::request(Person::OaOpenid(c.clone()), w.preset_id),
            "h1",
        )
        .await
        .unwrap();
    let s = wait_outcome(&w.engine, &key, &to_c.id).await;
    assert_eq!(
        s.state,
        MessageState::Cancelled,
        "not sent over the cap: {s:?}"
    );
    let to_d = w
        .engine
        .accept_message(
            &key,
            &world::request(Person::OaOpenid(d.clone()), w.preset_id),
            "h2",
        )
        .await
        .unwrap();
    let s = wait_outcome(&w.engine, &key, &to_d.id).await;
    assert_eq!(s.state, MessageState::Sent);
    let third = job_to(&w, "第三波", vec![d.clone()], 100).await;
    let p = wait_for(&w.engine, third.id, "the third job", |p| {
        p.job.state == JobState::Done
    })
    .await;
    assert_eq!((p.sent, skipped(&p, SkipReason::DailyCap)), (0, 1));
    assert_eq!(w.sim.messages(10, Some(&d)).len(), 1);
    assert_eq!(w.sim.messages(10, Some(&c)).len(), 1);
}
on_both_databases!(the_daily_cap_holds_across_jobs_and_api_messages);

/// Two processes, two jobs to the same 30 people at the same moment, cap 1: each person gets
/// exactly one message; the other row of each is skipped for the cap.
async fn two_processes_never_exceed_the_cap(db: TestDb) {
    let w = world::world(&db).await;
    w.engine
        .set_send_rules(&admin(), &w.oa, rules(None, Some(1)))
        .await
        .unwrap();
    let people: Vec<String> = (0..30).map(|i| follower(&w, i)).collect();
    let mut reversed = people.clone();
    reversed.reverse();
    let one = job_to(&w, "甲", people.clone(), 100_000).await;
    let two = job_to(&w, "乙", reversed, 100_000).await;
    let other = Engine::open(&db.url).await.unwrap();
    let _a = Dispatcher(w.engine.start_dispatcher(fast()));
    let _b = Dispatcher(other.start_dispatcher(fast()));
    let mut sent = 0;
    let mut capped = 0;
    for id in [one.id, two.id] {
        let p = wait_for(&w.engine, id, "both jobs", |p| {
            p.job.state == JobState::Done
        })
        .await;
        sent += p.sent;
        capped += skipped(&p, SkipReason::DailyCap);
    }
    assert_eq!((sent, capped), (30, 30));
    let mut per_person: HashMap<String, usize> = HashMap::new();
    for who in &people {
        per_person.insert(who.clone(), w.sim.messages(10, Some(who)).len());
    }
    assert!(
        per_person.values().all(|n| *n == 1),
        "one message each: {per_person:?}"
    );
}
on_both_databases!(two_processes_never_exceed_the_cap);

// Settings ──────────────────────────────────────────────────────────────────────────────────

/// The time zone and send rules: checked, stored, audited in the same transaction.
async fn settings_are_checked_and_audited(db: TestDb) {
    let w = world::world(&db).await;
    assert_eq!(w.engine.time_zone().await.unwrap().name(), "Asia/Shanghai");
    match w.engine.set_time_zone(&admin(), "Mars/Olympus").await {
        Err(Error::Refused(r)) => {
            assert_eq!(
                (r.field.as_str(), r.problem),
                ("time_zone", Problem::UnknownTimeZone)
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    w.engine
        .set_time_zone(&admin(), "Europe/London")
        .await
        .unwrap();
    assert_eq!(w.engine.time_zone().await.unwrap().name(), "Europe/London");
    let audit = w
        .engine
        .audit_recent(Some("settings.time_zone"), 10)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "one entry, for the change made");
    assert!(audit[0].detail.contains("Asia/Shanghai") && audit[0].detail.contains("Europe/London"));

    // London: 22:00–08:00 is quiet at 23:00 London time, which is 07:00 in Shanghai the next day.
    let night = QuietHours::parse("22:00", "08:00").unwrap();
    w.engine
        .set_send_rules(&admin(), &w.oa, rules(Some(night), Some(3)))
        .await
        .unwrap();
    let london_23h = chrono_tz::Europe::London
        .with_ymd_and_hms(2030, 1, 1, 23, 0, 0)
        .single()
        .unwrap()
        .timestamp_millis();
    let until = w.engine.quiet_until(w.oa.id, london_23h).await.unwrap();
    assert_eq!(until, Some(london_23h + 9 * 60 * MIN));
    assert_eq!(
        w.engine
            .quiet_until(w.oa.id, london_23h - 2 * 60 * MIN)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        w.engine.send_rules(w.oa.id).await.unwrap(),
        rules(Some(night), Some(3))
    );
    let audit = w
        .engine
        .audit_recent(Some("settings.send_rules"), 10)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert!(
        audit[0].detail.contains("22:00–08:00"),
        "{}",
        audit[0].detail
    );

    for (bad, field, problem) in [
        (
            rules(None, Some(0)),
            "daily_cap",
            Problem::OutOfRange { min: 1, max: 1_000 },
        ),
        (
            rules(
                Some(QuietHours {
                    start_min: 60,
                    end_min: 60,
                }),
                None,
            ),
            "quiet_end",
            Problem::QuietHoursEmpty,
        ),
    ] {
        match w.engine.set_send_rules(&admin(), &w.oa, bad).await {
            Err(Error::Refused(r)) => assert_eq!((r.field.as_str(), r.problem), (field, problem)),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    match w
        .engine
        .set_send_rules(&admin(), &w.mp, rules(None, Some(2)))
        .await
    {
        Err(Error::Refused(r)) => assert_eq!(r.problem, Problem::OfficialAccountOnly),
        other => panic!("a Mini Program has no send rules: {other:?}"),
    }
    assert_eq!(
        w.engine
            .audit_recent(Some("settings.send_rules"), 10)
            .await
            .unwrap()
            .len(),
        1,
        "refusals change and audit nothing"
    );
}
on_both_databases!(settings_are_checked_and_audited);

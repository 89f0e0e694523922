//! Send jobs against the WeChat simulator, on SQLite and PostgreSQL: recipients frozen from
//! every kind of source, a job run to the end with each follower messaged exactly once — also
//! across a crash of the dispatcher —, a token WeChat revokes mid-job, the daily quota pausing a
//! job, permanent errors recorded and retried, cancel, and delivery receipts.

use std::collections::HashSet;
use std::time::{Duration, Instant};

mod common;

use engine::accounts::Account;
use engine::audit::Actor;
use engine::followers::FollowerFilter;
use engine::jobs::{
    DispatchConfig, ErrcodeCount, JobProgress, JobState, RecipientFilter, RecipientRow,
    RecipientSource, RecipientState, SkipReason, DEFAULT_DAILY_QUOTA,
};
use engine::testing::TestDb;
use engine::{on_both_databases, on_db, Engine, Error};
use model::{JobAction, PauseReason, Problem};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wechat_sim::{CallbackConfig, CallbackMode, FaultConfig, SimConfig, SimHandle};

use common::{
    admin, fast, import_mp_users, lease_owners_until_done, linked_accounts, order_status_preset,
    sync_followers, Dispatcher,
};

/// An Official Account of the simulator with its followers synced, its linked Mini Program's
/// users imported and one sendable preset.
struct World {
    sim: SimHandle,
    engine: Engine,
    oa: Account,
    preset_id: i64,
}

fn followers(n: u32) -> SimConfig {
    SimConfig {
        followers: n,
        mp_users: (n / 3).max(10),
        ..SimConfig::default()
    }
}

async fn world(db: &TestDb, config: SimConfig) -> World {
    let sim = wechat_sim::start(config, ([127, 0, 0, 1], 0).into())
        .await
        .expect("simulator starts");
    let engine = Engine::open(&db.url).await.unwrap();
    let (oa, mp) = linked_accounts(&engine, &sim).await;
    import_mp_users(&engine, &sim, &mp).await;
    sync_followers(&engine, &oa).await;
    engine.sync_templates(&admin(), &oa).await.unwrap();
    let preset = order_status_preset(&engine, &oa).await;
    World {
        sim,
        engine,
        oa,
        preset_id: preset.id,
    }
}

impl World {
    async fn create(&self, source: RecipientSource, rate_limit: i64) -> engine::jobs::Job {
        self.engine
            .create_job(
                &admin(),
                &self.oa,
                self.preset_id,
                "双十一发货通知",
                &source,
                rate_limit,
            )
            .await
            .unwrap()
    }

    fn start(&self, config: DispatchConfig) -> Dispatcher {
        Dispatcher(self.engine.start_dispatcher(config))
    }

    async fn progress(&self, job_id: i64) -> JobProgress {
        self.engine.job_progress(job_id).await.unwrap().unwrap()
    }

    async fn wait(
        &self,
        job_id: i64,
        timeout: Duration,
        until: impl Fn(&JobProgress) -> bool,
    ) -> JobProgress {
        let deadline = Instant::now() + timeout;
        loop {
            let p = self.progress(job_id).await;
            if until(&p) {
                return p;
            }
            assert!(Instant::now() < deadline, "timed out; last progress: {p:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_state(&self, job_id: i64, state: JobState, timeout: Duration) -> JobProgress {
        self.wait(job_id, timeout, |p| p.job.state == state).await
    }

    async fn rows(&self, job_id: i64, filter: &RecipientFilter) -> Vec<RecipientRow> {
        let mut out = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .engine
                .job_recipients(job_id, filter, after, 1000)
                .await
                .unwrap();
            let Some(last) = page.last() else {
                return out;
            };
            after = last.seq;
            out.extend(page);
        }
    }

    /// Openids the followers table holds as subscribed, in the sim's index order.
    fn follower(&self, i: u32) -> String {
        self.sim.follower_openid(i).unwrap()
    }

    async fn count(&self, q: FollowerFilter) -> i64 {
        self.engine.count_followers(self.oa.id, &q).await.unwrap()
    }
}

fn all() -> RecipientFilter {
    RecipientFilter::default()
}

fn skipped(p: &engine::jobs::RecipientPlan, reason: SkipReason) -> i64 {
    p.skipped
        .iter()
        .find(|(r, _)| *r == reason)
        .map_or(0, |(_, n)| *n)
}

// 1 ──────────────────────────────────────────────────────────────────────────────────────────

async fn plans_and_freezes_every_source(db: TestDb) {
    let w = world(&db, followers(60)).await;
    let (f0, f1, f2) = (w.follower(0), w.follower(1), w.follower(2));
    // f2 unfollows; a re-sync marks it.
    w.sim.unsubscribe(&f2, false).unwrap();
    sync_followers(&w.engine, &w.oa).await;

    // The selection: a stranger, someone who unfollowed, a repeat.
    let stranger = "oStrangerNotAFollower0000000".to_owned();
    let selection = RecipientSource::Openids(vec![
        f0.clone(),
        f1.clone(),
        f2.clone(),
        stranger.clone(),
        f0.clone(),
    ]);
    let plan = w.engine.plan_recipients(&w.oa, &selection).await.unwrap();
    assert_eq!(plan.will_receive, 2);
    assert_eq!(
        plan.skipped,
        vec![
            (SkipReason::Unsubscribed, 1),
            (SkipReason::UnknownOpenid, 1),
            (SkipReason::Duplicate, 1)
        ]
    );
    assert_eq!(plan.sample, vec![f0.clone(), f1.clone()]);
    assert_eq!(plan.daily_quota, DEFAULT_DAILY_QUOTA);
    assert_eq!(plan.sent_today, 0);
    assert!(plan.line_errors.is_empty());

    let job = w.create(selection, 0).await;
    assert_eq!(job.total, 5, "skipped recipients are frozen too");
    assert_eq!(job.state, JobState::Running);
    assert_eq!(job.rate_limit, 500, "0 = the default rate");
    assert_eq!(job.preset_name, "发货通知");
    assert_eq!(job.template_title, "订单状态通知");
    let rows = w.rows(job.id, &all()).await;
    let seen: Vec<(i64, &str, &str, Option<&str>)> = rows
        .iter()
        .map(|r| {
            (
                r.seq,
                r.openid.as_str(),
                r.state.as_str(),
                r.skip_reason.map(|r| r.as_str()),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, f0.as_str(), "pending", None),
            (2, f1.as_str(), "pending", None),
            (3, f2.as_str(), "skipped", Some("unsubscribed")),
            (4, stranger.as_str(), "skipped", Some("unknown_openid")),
            (5, f0.as_str(), "skipped", Some("duplicate")),
        ]
    );
    let p = w.progress(job.id).await;
    assert_eq!((p.pending, p.skipped, p.sent), (2, 3, 0));
    assert_eq!(p.skip_reasons.len(), 3);
    let audit = w.engine.audit_recent(Some("job.create"), 1).await.unwrap();
    assert!(audit[0].detail.contains("\"will_receive\":2"), "{audit:?}");

    // Every subscribed follower.
    let subscribed = w
        .count(FollowerFilter {
            subscribed: Some(true),
            ..FollowerFilter::default()
        })
        .await;
    assert_eq!(subscribed, 59);
    let plan = w
        .engine
        .plan_recipients(&w.oa, &RecipientSource::AllSubscribed)
        .await
        .unwrap();
    assert_eq!((plan.will_receive, plan.skipped.clone()), (59, vec![]));
    let job = w.create(RecipientSource::AllSubscribed, 100).await;
    assert_eq!(job.total, 59);

    // Matched with the Mini Program.
    let matched = w
        .count(FollowerFilter {
            subscribed: Some(true),
            matched: Some(true),
            ..FollowerFilter::default()
        })
        .await;
    assert!(matched > 0);
    let plan = w
        .engine
        .plan_recipients(&w.oa, &RecipientSource::Matched)
        .await
        .unwrap();
    assert_eq!(plan.will_receive, matched);
    let job = w.create(RecipientSource::Matched, 100).await;
    assert_eq!(job.total, matched);

    // A tag: those who unfollowed keep their tags and are skipped.
    let tagged = w
        .engine
        .followers_page(w.oa.id, &FollowerFilter::default(), None, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|f| !f.tags().is_empty())
        .expect("a tagged follower");
    let tag = tagged.tags()[0];
    let with_tag = |subscribed| FollowerFilter {
        tag: Some(tag),
        subscribed: Some(subscribed),
        ..FollowerFilter::default()
    };
    let plan = w
        .engine
        .plan_recipients(&w.oa, &RecipientSource::Tag(tag))
        .await
        .unwrap();
    assert_eq!(plan.will_receive, w.count(with_tag(true)).await);
    assert_eq!(
        skipped(&plan, SkipReason::Unsubscribed),
        w.count(with_tag(false)).await
    );

    // "All N matching this filter".
    let dto = FollowerFilter {
        has_unionid: Some(true),
        ..FollowerFilter::default()
    };
    let plan = w
        .engine
        .plan_recipients(&w.oa, &RecipientSource::Filter(dto.clone()))
        .await
        .unwrap();
    let with_unionid = |subscribed| FollowerFilter {
        has_unionid: Some(true),
        subscribed: Some(subscribed),
        ..FollowerFilter::default()
    };
    assert_eq!(plan.will_receive, w.count(with_unionid(true)).await);
    assert_eq!(
        plan.will_receive + skipped(&plan, SkipReason::Unsubscribed),
        w.count(dto).await
    );

    // Pasted openids with a header, blank lines and a line that is not an openid.
    let csv = format!("openid\n{f0}\n\n{f1}\nhello world\n{stranger}\n");
    let plan = w
        .engine
        .plan_recipients(&w.oa, &RecipientSource::CsvOpenids(csv))
        .await
        .unwrap();
    assert_eq!(plan.will_receive, 2);
    assert_eq!(skipped(&plan, SkipReason::UnknownOpenid), 1);
    assert_eq!(plan.line_errors.len(), 1);
    assert_eq!(
        (plan.line_errors[0].line, plan.line_errors[0].value.as_str()),
        (5, "hello world")
    );
    assert_eq!(plan.line_errors[0].message, "not an openid");

    // Unionids: mapped to the follower's openid; a bad line; a unionid nobody follows with.
    let (i, unionid) = (0..60)
        .find_map(|i| Some((i, w.sim.follower_unionid(i).filter(|_| i != 2)?)))
        .expect("a follower with a unionid");
    let nobody = "uNobodyHasThisUnionid0000000".to_owned();
    let csv = format!("unionid\r\n{unionid}\r\nnot a unionid!\r\n{nobody}\r\n{unionid}\r\n");
    let source = RecipientSource::CsvUnionids(csv);
    let plan = w.engine.plan_recipients(&w.oa, &source).await.unwrap();
    assert_eq!(plan.will_receive, 1);
    assert_eq!(plan.sample, vec![w.follower(i)]);
    assert_eq!(skipped(&plan, SkipReason::NoOaOpenid), 1);
    assert_eq!(skipped(&plan, SkipReason::Duplicate), 1);
    assert_eq!(plan.line_errors.len(), 1);
    assert_eq!(plan.line_errors[0].line, 3);
    assert_eq!(plan.line_errors[0].message, "not a unionid");
    let job = w.create(source, 100).await;
    let rows = w.rows(job.id, &all()).await;
    assert_eq!(rows.len() as i64, job.total);
    assert_eq!(job.total, 3);
    assert_eq!(rows[0].openid, w.follower(i));
    assert_eq!(rows[0].unionid.as_deref(), Some(unionid.as_str()));
    assert_eq!(rows[1].skip_reason, Some(SkipReason::NoOaOpenid));
    assert_eq!(rows[1].openid, "");
    assert_eq!(rows[1].unionid.as_deref(), Some(nobody.as_str()));

    // Nobody to send to: refused.
    let err = w
        .engine
        .create_job(
            &admin(),
            &w.oa,
            w.preset_id,
            "空任务",
            &RecipientSource::Openids(vec![f2.clone(), stranger]),
            0,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused(ref r) if r.field == "recipients" && r.problem == Problem::NoRecipients
        ),
        "{err:?}"
    );
    // Someone else's preset: not found.
    let err = w
        .engine
        .create_job(
            &admin(),
            &w.oa,
            w.preset_id + 100,
            "x",
            &RecipientSource::AllSubscribed,
            0,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound), "{err:?}");
    let jobs = w.engine.jobs(w.oa.id, 10).await.unwrap();
    assert_eq!(jobs.len(), 4);
    assert!(jobs.windows(2).all(|p| p[0].id > p[1].id), "newest first");
}
on_both_databases!(plans_and_freezes_every_source);

// 2 ──────────────────────────────────────────────────────────────────────────────────────────

async fn a_job_of_2000_reaches_everyone_once(db: TestDb) {
    let w = world(&db, followers(2_000)).await;
    let job = w.create(RecipientSource::AllSubscribed, 100_000).await;
    assert_eq!(job.total, 2_000);
    let _d = w.start(DispatchConfig {
        concurrency: 64,
        ..fast()
    });
    let p = w
        .wait_state(job.id, JobState::Done, Duration::from_secs(60))
        .await;
    assert_eq!(
        (p.sent, p.pending, p.sending, p.failed, p.unknown),
        (2_000, 0, 0, 0, 0)
    );
    assert!(p.job.finished_ms.is_some());
    assert!(p.errors.is_empty());
    assert_eq!(p.eta_secs, None, "a finished job has no ETA");

    let ledger = w.sim.ledger_summary();
    assert_eq!(ledger.template_sends, 2_000);
    assert_eq!(ledger.distinct_recipients, 2_000);
    assert_eq!(ledger.duplicates_delivered, 0);
    assert_eq!(ledger.max_received, 1);
    for i in 0..2_000 {
        assert_eq!(w.sim.ledger_received(&w.follower(i)), 1, "follower {i}");
    }

    let rows = w.rows(job.id, &all()).await;
    let msgids: HashSet<i64> = rows.iter().filter_map(|r| r.msgid).collect();
    assert_eq!(msgids.len(), 2_000, "every row has its own msgid");
    assert!(rows
        .iter()
        .all(|r| r.state == RecipientState::Sent && r.attempts == 1));
    // The stored msgid is WeChat's, the message is the preset's, the de-dup id the row's.
    let row = &rows[1234];
    let sent = &w.sim.messages(1, Some(&row.openid))[0];
    assert_eq!(Some(sent.msgid), row.msgid);
    assert_eq!(
        sent.client_msg_id.as_deref(),
        Some(format!("wxp-{}-{}", job.id, row.seq).as_str())
    );
    assert_eq!(sent.payload["data"]["thing1"]["value"], "无线蓝牙耳机");
    assert_eq!(sent.template_id, job.template_id);
    let plan = w
        .engine
        .plan_recipients(&w.oa, &RecipientSource::AllSubscribed)
        .await
        .unwrap();
    assert_eq!(plan.sent_today, 2_000);
}
on_both_databases!(a_job_of_2000_reaches_everyone_once);

// 3 ──────────────────────────────────────────────────────────────────────────────────────────

/// Starts a job against a slow WeChat, lets part of it go out, then kills the dispatcher
/// mid-flight. Returns the world (its engine dropped and reopened) and the job id.
async fn crash_mid_job(db: &TestDb) -> (World, i64) {
    let mut w = world(db, followers(1_500)).await;
    w.sim
        .set_faults(FaultConfig {
            latency_ms: 20,
            ..FaultConfig::default()
        })
        .unwrap();
    let job = w.create(RecipientSource::AllSubscribed, 100_000).await;
    let crashed = w.start(DispatchConfig {
        lease_ms: 1_000,
        ..fast()
    });
    w.wait(job.id, Duration::from_secs(30), |p| p.sent >= 300)
        .await;
    crashed.0.abort();
    drop(crashed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let p = w.progress(job.id).await;
    assert!(p.sending > 0, "rows left mid-send: {p:?}");
    assert!(p.pending > 0, "work left: {p:?}");
    assert_eq!(p.job.state, JobState::Running);
    // A new process on the same database.
    w.engine = Engine::open(&db.url).await.unwrap();
    w.sim.clear_faults();
    (w, job.id)
}

async fn exactly_once_across_a_crash(db: TestDb) {
    let (w, job_id) = crash_mid_job(&db).await;
    // Rows WeChat delivered whose result the crash lost: resent with their client_msg_id, each
    // must be de-duplicated (how many there are depends on where the crash fell).
    let unrecorded = w
        .rows(
            job_id,
            &RecipientFilter {
                state: Some(RecipientState::Sending),
                ..all()
            },
        )
        .await
        .iter()
        .filter(|r| w.sim.ledger_received(&r.openid) > 0)
        .count() as u64;
    let _d = w.start(DispatchConfig {
        lease_ms: 1_000,
        ..fast()
    });
    let p = w
        .wait_state(job_id, JobState::Done, Duration::from_secs(60))
        .await;
    assert_eq!((p.sent, p.unknown, p.failed), (1_500, 0, 0), "{p:?}");
    let ledger = w.sim.ledger_summary();
    assert_eq!(ledger.duplicates_delivered, 0, "{ledger:?}");
    assert_eq!(
        ledger.duplicates_suppressed, unrecorded,
        "rows delivered before the crash were resent and de-duplicated: {ledger:?}"
    );
    assert_eq!(ledger.max_received, 1, "{ledger:?}");
    assert_eq!(ledger.distinct_recipients, 1_500, "none missing");
    assert_eq!(ledger.template_sends, 1_500);
    let rows = w.rows(job_id, &all()).await;
    assert!(rows.iter().all(|r| r.msgid.is_some()));
}
on_both_databases!(exactly_once_across_a_crash);

async fn rows_stuck_past_the_window_become_unknown(db: TestDb) {
    let (w, job_id) = crash_mid_job(&db).await;
    // Eleven minutes pass before anything restarts: WeChat no longer de-duplicates a resend.
    let stuck = w
        .rows(
            job_id,
            &RecipientFilter {
                state: Some(RecipientState::Sending),
                ..all()
            },
        )
        .await;
    let shift = 11 * 60 * 1000_i64;
    on_db!(w.engine.db(), |pool| sqlx::query(
        "UPDATE job_recipients SET claimed_ms = claimed_ms - $1, \
         first_try_ms = first_try_ms - $1, lease_until_ms = lease_until_ms - $1 \
         WHERE job_id = $2 AND state = 'sending'"
    )
    .bind(shift)
    .bind(job_id)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();
    w.sim.advance_clock(Duration::from_millis(shift as u64));

    let _d = w.start(DispatchConfig {
        lease_ms: 1_000,
        ..fast()
    });
    let p = w
        .wait_state(job_id, JobState::Done, Duration::from_secs(60))
        .await;
    assert_eq!(p.unknown, stuck.len() as i64, "{p:?}");
    assert_eq!(p.sent + p.unknown, 1_500);
    assert_eq!(p.failed, 0);
    let ledger = w.sim.ledger_summary();
    assert_eq!(
        ledger.duplicates_delivered, 0,
        "never resent blindly: {ledger:?}"
    );
    assert_eq!(ledger.max_received, 1);
    let unknown = w
        .rows(
            job_id,
            &RecipientFilter {
                state: Some(RecipientState::Unknown),
                ..all()
            },
        )
        .await;
    let stuck_seqs: HashSet<i64> = stuck.iter().map(|r| r.seq).collect();
    assert!(unknown.iter().all(|r| stuck_seqs.contains(&r.seq)));
    assert!(unknown.iter().all(|r| r
        .errmsg
        .as_deref()
        .is_some_and(|m| m.contains("10 minutes"))));
    for r in w.rows(job_id, &all()).await {
        let received = w.sim.ledger_received(&r.openid);
        match r.state.as_str() {
            "sent" => assert_eq!(received, 1, "{r:?}"),
            "unknown" => assert!(received <= 1, "{r:?}"),
            other => panic!("unexpected state {other}"),
        }
    }
}
on_both_databases!(rows_stuck_past_the_window_become_unknown);

// 4 ──────────────────────────────────────────────────────────────────────────────────────────

async fn a_revoked_token_is_refreshed_mid_job(db: TestDb) {
    let w = world(&db, followers(1_000)).await;
    w.sim
        .set_faults(FaultConfig {
            latency_ms: 5,
            ..FaultConfig::default()
        })
        .unwrap();
    let job = w.create(RecipientSource::AllSubscribed, 100_000).await;
    let before = w.engine.token_health(w.oa.id).await.unwrap().refresh_count;
    let _d = w.start(DispatchConfig {
        concurrency: 16,
        ..fast()
    });
    w.wait(job.id, Duration::from_secs(30), |p| p.sent >= 200)
        .await;
    w.sim.invalidate_tokens();
    let p = w
        .wait_state(job.id, JobState::Done, Duration::from_secs(60))
        .await;
    assert_eq!((p.sent, p.failed, p.unknown), (1_000, 0, 0), "{p:?}");
    assert!(w.engine.token_health(w.oa.id).await.unwrap().refresh_count > before);
    let ledger = w.sim.ledger_summary();
    assert_eq!(
        (ledger.template_sends, ledger.duplicates_delivered),
        (1_000, 0)
    );
}
on_both_databases!(a_revoked_token_is_refreshed_mid_job);

// 5 ──────────────────────────────────────────────────────────────────────────────────────────

async fn the_daily_quota_pauses_the_job(db: TestDb) {
    let w = world(
        &db,
        SimConfig {
            template_send_quota: 300,
            ..followers(500)
        },
    )
    .await;
    let job = w.create(RecipientSource::AllSubscribed, 100_000).await;
    let _d = w.start(fast());
    let p = w
        .wait(job.id, Duration::from_secs(30), |p| {
            p.job.state == JobState::Paused && p.sending == 0
        })
        .await;
    assert_eq!(p.job.pause_reason, Some(PauseReason::WeChat(45009)));
    assert_eq!((p.sent, p.pending, p.failed), (300, 200, 0), "{p:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        w.progress(job.id).await.pending,
        200,
        "a paused job stays put"
    );

    // Next day (or clear_quota).
    w.sim.reset_quotas();
    w.engine.resume_job(&admin(), job.id).await.unwrap();
    let p = w
        .wait_state(job.id, JobState::Done, Duration::from_secs(30))
        .await;
    assert_eq!((p.sent, p.failed, p.unknown), (500, 0, 0));
    assert_eq!(p.job.pause_reason, None);
    let ledger = w.sim.ledger_summary();
    assert_eq!(
        (ledger.template_sends, ledger.duplicates_delivered),
        (500, 0)
    );
    let actions: Vec<String> = w
        .engine
        .audit_recent(Some("job.resume"), 5)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.detail)
        .collect();
    assert!(actions[0].contains("45009"), "{actions:?}");
}
on_both_databases!(the_daily_quota_pauses_the_job);

/// A template deleted in WeChat after the job was created: every send would get 40037, so the
/// job pauses with that errcode instead of failing everyone; back in WeChat, it resumes.
async fn a_job_wide_error_pauses_instead_of_failing_everyone(db: TestDb) {
    let w = world(&db, followers(300)).await;
    let job = w.create(RecipientSource::AllSubscribed, 100_000).await;
    let state = w.sim.state();
    let template = state
        .oa_templates()
        .into_iter()
        .find(|t| t.title == "订单状态通知")
        .unwrap();
    assert!(state.remove_oa_template(&template.template_id));
    let _d = w.start(fast());
    let p = w
        .wait(job.id, Duration::from_secs(30), |p| {
            p.job.state == JobState::Paused && p.sending == 0
        })
        .await;
    assert_eq!(p.job.pause_reason, Some(PauseReason::WeChat(40037)));
    assert_eq!((p.sent, p.failed), (0, 0), "{p:?}");
    assert_eq!(p.pending, job.will_receive);

    state
        .add_oa_template(wechat_sim::NewOaTemplate {
            template_id: Some(template.template_id.clone()),
            title: template.title.clone(),
            content: template.content.clone(),
            example: template.example.clone(),
            enums: template.enums.clone(),
            ..wechat_sim::NewOaTemplate::default()
        })
        .unwrap();
    w.engine.resume_job(&admin(), job.id).await.unwrap();
    let p = w
        .wait_state(job.id, JobState::Done, Duration::from_secs(30))
        .await;
    assert_eq!((p.sent, p.failed, p.unknown), (job.will_receive, 0, 0));
    assert_eq!(w.sim.ledger_summary().duplicates_delivered, 0);
}
on_both_databases!(a_job_wide_error_pauses_instead_of_failing_everyone);

// 6 ──────────────────────────────────────────────────────────────────────────────────────────

async fn permanent_errors_are_recorded_and_retried(db: TestDb) {
    let w = world(&db, followers(300)).await;
    let job = w.create(RecipientSource::AllSubscribed, 100_000).await;
    // After the list was frozen: 20 unfollow, 3 land on the blacklist.
    for i in 100..120 {
        w.sim.unsubscribe(&w.follower(i), false).unwrap();
    }
    for i in 200..203 {
        w.sim.set_blacklisted(&w.follower(i), true).unwrap();
    }
    let _d = w.start(fast());
    let p = w
        .wait_state(job.id, JobState::Done, Duration::from_secs(30))
        .await;
    assert_eq!((p.sent, p.failed), (277, 23));
    assert_eq!(
        p.errors,
        vec![
            ErrcodeCount {
                errcode: 43004,
                errmsg: "require subscribe".into(),
                count: 20
            },
            ErrcodeCount {
                errcode: 43019,
                errmsg: "require remove blacklist".into(),
                count: 3
            },
        ]
    );
    let failed = w
        .rows(
            job.id,
            &RecipientFilter {
                errcode: Some(43004),
                ..all()
            },
        )
        .await;
    assert_eq!(failed.len(), 20);
    assert!(failed[0]
        .errmsg
        .as_deref()
        .is_some_and(|m| m.starts_with("require subscribe")));
    assert_eq!(failed[0].state, RecipientState::Failed);
    let unfollowed: HashSet<String> = (100..120).map(|i| w.follower(i)).collect();
    assert!(failed.iter().all(|r| unfollowed.contains(&r.openid)));
    let one = w
        .rows(
            job.id,
            &RecipientFilter {
                search: w.follower(100),
                ..all()
            },
        )
        .await;
    assert_eq!(one.len(), 1);

    // Five come back; the blacklist is cleared; retry the failed rows.
    for i in 100..105 {
        w.sim.subscribe(&w.follower(i), false).unwrap();
    }
    for i in 200..203 {
        w.sim.set_blacklisted(&w.follower(i), false).unwrap();
    }
    assert_eq!(w.engine.retry_failed(&admin(), job.id).await.unwrap(), 23);
    let p = w
        .wait(job.id, Duration::from_secs(30), |p| {
            p.job.state == JobState::Done && p.failed == 15
        })
        .await;
    assert_eq!(p.sent, 285);
    assert_eq!(
        p.errors,
        vec![ErrcodeCount {
            errcode: 43004,
            errmsg: "require subscribe".into(),
            count: 15
        }]
    );
    let ledger = w.sim.ledger_summary();
    assert_eq!(
        (ledger.template_sends, ledger.duplicates_delivered),
        (285, 0)
    );
    assert_eq!(w.engine.retry_failed(&admin(), job.id).await.unwrap(), 15);
}
on_both_databases!(permanent_errors_are_recorded_and_retried);

// 7 ──────────────────────────────────────────────────────────────────────────────────────────

async fn cancel_stops_sending(db: TestDb) {
    let w = world(&db, followers(1_000)).await;
    w.sim
        .set_faults(FaultConfig {
            latency_ms: 100,
            ..FaultConfig::default()
        })
        .unwrap();
    let job = w.create(RecipientSource::AllSubscribed, 100_000).await;
    let concurrency = 8;
    let _d = w.start(DispatchConfig {
        concurrency,
        ..fast()
    });
    w.wait(job.id, Duration::from_secs(30), |p| p.sent >= 40)
        .await;
    w.engine.cancel_job(&admin(), job.id).await.unwrap();
    let at_cancel = w.sim.ledger_summary().template_sends;
    let p = w
        .wait(job.id, Duration::from_secs(10), |p| {
            p.sending == 0 && p.pending == 0
        })
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = w.sim.ledger_summary().template_sends;
    assert!(
        after <= at_cancel + concurrency as u64,
        "only sends in flight finish: {at_cancel} → {after}"
    );
    let p2 = w.progress(job.id).await;
    assert_eq!(p2.job.state, JobState::Cancelled);
    assert!(p2.job.finished_ms.is_some());
    assert_eq!(p2.sent as u64, after, "every delivered message is recorded");
    assert_eq!(p2.sent + p2.cancelled, 1_000, "{p2:?}");
    assert!(p2.cancelled > 800, "{p:?}");
    // Nothing is sent later either, nor can it be resumed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(w.sim.ledger_summary().template_sends, after);
    assert!(w.engine.resume_job(&admin(), job.id).await.is_err());
}
on_both_databases!(cancel_stops_sending);

// 8 ──────────────────────────────────────────────────────────────────────────────────────────

/// A minimal server URL: answers every push `success` and applies TEMPLATESENDJOBFINISH
/// receipts, as the web layer's callback endpoint does.
async fn callback_server(engine: Engine, account_id: i64) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let engine = engine.clone();
            tokio::spawn(async move {
                let mut buf: Vec<u8> = Vec::new();
                let mut chunk = [0_u8; 4096];
                loop {
                    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < end + 4 + len {
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned();
                    buf.drain(..end + 4 + len);
                    if let Ok(wechat::callback::events::Event::TemplateSendJobFinish {
                        msg_id,
                        status,
                        ..
                    }) = wechat::callback::events::parse_event(&body)
                    {
                        let applied = engine
                            .apply_receipt(
                                account_id,
                                msg_id,
                                engine::jobs::delivery_of_status(&status),
                            )
                            .await;
                        if let Err(e) = applied {
                            eprintln!("receipt {msg_id} not applied: {e}");
                            return;
                        }
                    }
                    let reply = "HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nsuccess";
                    if conn.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/wechat/callback")
}

async fn receipts_are_joined_by_msgid(db: TestDb) {
    let w = world(&db, followers(200)).await;
    for i in 0..10 {
        w.sim.set_blocked(&w.follower(i), true).unwrap();
    }
    let url = callback_server(w.engine.clone(), w.oa.id).await;
    w.sim
        .set_callback(Some(CallbackConfig {
            url,
            token: "wxpush".into(),
            encoding_aes_key: None,
            mode: CallbackMode::Plain,
        }))
        .unwrap();
    let job = w.create(RecipientSource::AllSubscribed, 100_000).await;
    let _d = w.start(fast());
    w.wait_state(job.id, JobState::Done, Duration::from_secs(30))
        .await;
    assert!(w.sim.wait_receipts_idle(Duration::from_secs(10)).await);
    // Receipts pushed before the worker stored the msgid wait in the backlog.
    let p = w
        .wait(job.id, Duration::from_secs(10), |p| {
            p.delivered + p.user_blocked == 200
        })
        .await;
    assert_eq!((p.delivered, p.user_blocked, p.system_failed), (190, 10, 0));
    let blocked = w
        .rows(
            job.id,
            &RecipientFilter {
                search: w.follower(3),
                ..all()
            },
        )
        .await;
    assert_eq!(blocked[0].delivery, Some(Delivery::UserBlock));

    // The same event again changes nothing; msgid 0 is ignored.
    let rows = w.rows(job.id, &all()).await;
    let msgid = rows[50].msgid.unwrap();
    use engine::jobs::Delivery;
    assert!(!w
        .engine
        .apply_receipt(w.oa.id, msgid, Delivery::SystemFailed)
        .await
        .unwrap());
    assert!(!w
        .engine
        .apply_receipt(w.oa.id, 0, Delivery::Delivered)
        .await
        .unwrap());
    let p = w.progress(job.id).await;
    assert_eq!((p.delivered, p.user_blocked, p.system_failed), (190, 10, 0));

    // A row without receipt yet: the first event counts, once.
    on_db!(w.engine.db(), |pool| sqlx::query(
        "UPDATE job_recipients SET delivery = NULL WHERE job_id = $1 AND msgid = $2"
    )
    .bind(job.id)
    .bind(msgid)
    .execute(pool)
    .await
    .map(|r| r.rows_affected()))
    .unwrap();
    assert!(w
        .engine
        .apply_receipt(w.oa.id, msgid, Delivery::UserBlock)
        .await
        .unwrap());
    assert!(!w
        .engine
        .apply_receipt(w.oa.id, msgid, Delivery::Delivered)
        .await
        .unwrap());
    // Another account's receipt does not touch this job.
    assert!(!w
        .engine
        .apply_receipt(w.oa.id + 1, rows[60].msgid.unwrap(), Delivery::UserBlock)
        .await
        .unwrap());
    let p = w.progress(job.id).await;
    assert_eq!((p.delivered, p.user_blocked), (189, 11));
}
on_both_databases!(receipts_are_joined_by_msgid);

// Scaling out ─────────────────────────────────────────────────────────────────────────────────

async fn two_processes_share_one_job(db: TestDb) {
    let w = world(&db, followers(3_000)).await;
    w.sim
        .set_faults(FaultConfig {
            latency_ms: 5,
            ..FaultConfig::default()
        })
        .unwrap();
    let job = w.create(RecipientSource::AllSubscribed, 100_000).await;
    let other = Engine::open(&db.url).await.unwrap();
    let _a = w.start(fast());
    let _b = Dispatcher(other.start_dispatcher(fast()));
    // Both workers hold rows at some point.
    let owners = lease_owners_until_done(&w.engine, job.id).await;
    assert_eq!(owners.len(), 2, "both processes sent: {owners:?}");
    let p = w.progress(job.id).await;
    assert_eq!((p.sent, p.failed, p.unknown), (3_000, 0, 0));
    let ledger = w.sim.ledger_summary();
    assert_eq!(ledger.template_sends, 3_000);
    assert_eq!(ledger.duplicates_delivered, 0);
    assert_eq!(ledger.duplicates_suppressed, 0, "no row was sent by both");
    assert_eq!(ledger.distinct_recipients, 3_000);
}
on_both_databases!(two_processes_share_one_job);

// Controls ──────────────────────────────────────────────────────────────────────────────────

async fn pause_and_resume(db: TestDb) {
    let w = world(&db, followers(400)).await;
    // 100/s: the job sends for about 4 s, so its rate shows (after 3 s of sending) before it ends.
    let job = w.create(RecipientSource::AllSubscribed, 100).await;
    let _d = w.start(fast());
    w.wait(job.id, Duration::from_secs(30), |p| p.sent >= 40)
        .await;
    w.engine.pause_job(&admin(), job.id).await.unwrap();
    let p = w
        .wait(job.id, Duration::from_secs(10), |p| p.sending == 0)
        .await;
    assert_eq!(p.job.state, JobState::Paused);
    assert_eq!(p.job.pause_reason, Some(PauseReason::Staff));
    assert_eq!(p.eta_secs, None);
    let sent = w.sim.ledger_summary().template_sends;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        w.sim.ledger_summary().template_sends,
        sent,
        "paused: nothing sent"
    );
    assert_eq!(w.progress(job.id).await.sent as u64, sent);
    w.engine.resume_job(&admin(), job.id).await.unwrap();
    w.wait(job.id, Duration::from_secs(10), |p| p.sent > sent as i64)
        .await;
    let p = w
        .wait(job.id, Duration::from_secs(10), |p| {
            p.rate_per_s > 0.0 || p.job.state == JobState::Done
        })
        .await;
    assert!(p.rate_per_s > 0.0 && p.eta_secs.is_some(), "{p:?}");
    let p = w
        .wait_state(job.id, JobState::Done, Duration::from_secs(30))
        .await;
    assert_eq!(p.sent, 400);
    assert_eq!(w.sim.ledger_summary().duplicates_delivered, 0);
    assert!(w.engine.pause_job(&admin(), job.id).await.is_err(), "done");
}
on_both_databases!(pause_and_resume);

// 13 ─────────────────────────────────────────────────────────────────────────────────────────

/// Four eyes: above the threshold a job waits, sends nothing, cannot be resumed or approved by
/// its creator, and starts once a second admin approves; below it a job starts at once.
async fn big_jobs_wait_for_a_second_admin(db: TestDb) {
    let w = world(&db, followers(40)).await;
    assert_eq!(
        w.engine.approval_threshold().await.unwrap(),
        engine::settings::DEFAULT_APPROVAL_THRESHOLD
    );
    let err = w
        .engine
        .set_approval_threshold(&admin(), -1)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Refused(ref r) if r.field == "approval_threshold"
            && r.problem == Problem::OutOfRange { min: 0, max: model::rules::APPROVAL_THRESHOLD_MAX }
    ));
    w.engine.set_approval_threshold(&admin(), 10).await.unwrap();
    let _d = w.start(fast());

    let creator = Actor::staff(7, "operator", "127.0.0.1");
    let big = w
        .engine
        .create_job(
            &creator,
            &w.oa,
            w.preset_id,
            "大任务",
            &RecipientSource::AllSubscribed,
            0,
        )
        .await
        .unwrap();
    assert!(big.awaiting_approval(), "{big:?}");
    assert_eq!(big.state, JobState::Paused);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        w.sim.ledger_summary().template_sends,
        0,
        "nothing before approval"
    );
    let err = w.engine.resume_job(&creator, big.id).await.unwrap_err();
    assert!(
        matches!(err, Error::Refused(ref r) if r.problem == Problem::AwaitingApproval),
        "{err:?}"
    );
    let err = w.engine.approve_job(&creator, big.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused(ref r) if r.field == "approver" && r.problem == Problem::OwnJob
        ),
        "{err:?}"
    );

    let approved = w.engine.approve_job(&admin(), big.id).await.unwrap();
    assert_eq!(approved.approved_by.as_deref(), Some("admin"));
    assert!(approved.approved_ms.is_some());
    assert!(!approved.awaiting_approval());
    let p = w
        .wait_state(big.id, JobState::Done, Duration::from_secs(30))
        .await;
    assert_eq!(p.sent, big.will_receive);
    let err = w.engine.approve_job(&admin(), big.id).await.unwrap_err();
    assert!(
        matches!(err, Error::Refused(ref r) if r.problem == Problem::NotAwaitingApproval),
        "approved once: {err:?}"
    );
    // A finished job cannot be resumed, cancelled or approved; the refusal names its state.
    for (refused, action) in [
        (
            w.engine.cancel_job(&admin(), big.id).await,
            JobAction::Cancel,
        ),
        (
            w.engine.resume_job(&admin(), big.id).await,
            JobAction::Resume,
        ),
    ] {
        let err = refused.map(|_| ()).unwrap_err();
        let want = Problem::JobState {
            state: JobState::Done,
            action,
        };
        assert!(
            matches!(err, Error::Refused(ref r) if r.field == "state" && r.problem == want),
            "{err:?}"
        );
    }

    // Small enough: starts at once.
    let small = w
        .engine
        .create_job(
            &creator,
            &w.oa,
            w.preset_id,
            "小任务",
            &RecipientSource::Openids(vec![w.follower(0)]),
            0,
        )
        .await
        .unwrap();
    assert_eq!(small.state, JobState::Running);
    w.wait_state(small.id, JobState::Done, Duration::from_secs(30))
        .await;

    let actions: Vec<String> = w
        .engine
        .audit_recent(None, 50)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    for action in [
        "settings.approval_threshold",
        "job.approve",
        "job.start",
        "job.finish",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}
on_both_databases!(big_jobs_wait_for_a_second_admin);

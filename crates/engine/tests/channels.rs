//! Job channels against the WeChat simulator, on SQLite and PostgreSQL: who gets an OA template
//! message, who an MP subscribe message and who cannot be reached (and why), per person; a
//! best-available job delivered once per person on the right channel with the credits spent;
//! WeChat's 43101 clearing a credit; a lost subscribe answer never resent.

use std::time::{Duration, Instant};

mod common;

use engine::jobs::{
    Channel, DispatchConfig, JobProgress, JobState, NewJob, RecipientFilter, RecipientRow,
    RecipientSource, RecipientState, RowChannel, SkipReason,
};
use engine::testing::TestDb;
use engine::{on_both_databases, Engine, Error};
use wechat_sim::{FaultConfig, SimConfig};

use common::world::{fast, world, world_of, Person, World};
use common::{admin, sync_followers, Dispatcher};

/// What these tests do with the shop.
trait Channels {
    fn new_job(&self, channel: Channel, source: RecipientSource) -> NewJob;
    async fn rows(&self, job_id: i64) -> Vec<RecipientRow>;
    async fn wait(&self, job_id: i64, until: impl Fn(&JobProgress) -> bool) -> JobProgress;
}

impl Channels for World {
    fn new_job(&self, channel: Channel, source: RecipientSource) -> NewJob {
        NewJob {
            start_at_ms: None,
            name: "渠道测试".into(),
            channel,
            preset_id: channel.uses_template().then_some(self.preset_id),
            mp_preset_id: channel.uses_subscribe().then_some(self.mp_preset_id),
            source,
            rate_limit: 1_000,
        }
    }

    async fn rows(&self, job_id: i64) -> Vec<RecipientRow> {
        self.engine
            .job_recipients(job_id, &RecipientFilter::default(), 0, 10_000)
            .await
            .unwrap()
    }

    async fn wait(&self, job_id: i64, until: impl Fn(&JobProgress) -> bool) -> JobProgress {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let p = self.engine.job_progress(job_id).await.unwrap().unwrap();
            if until(&p) {
                return p;
            }
            assert!(Instant::now() < deadline, "timed out; last progress: {p:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn skipped(p: &engine::jobs::RecipientPlan, reason: SkipReason) -> i64 {
    p.skipped
        .iter()
        .find(|(r, _)| *r == reason)
        .map_or(0, |(_, n)| *n)
}

fn row(rows: &[RecipientRow], seq: i64) -> &RecipientRow {
    rows.iter().find(|r| r.seq == seq).expect("row")
}

// 1 ──────────────────────────────────────────────────────────────────────────────────────────

/// Four matched people: A follows, B unfollowed but holds a credit, C unfollowed without one,
/// D follows and holds a credit; plus an OA follower who is no MP user (E, unfollowed).
async fn channel_is_chosen_per_person(db: TestDb) {
    let w = world(&db).await;
    let matched = w.matched();
    assert!(matched.len() >= 4, "the simulator matches enough people");
    let (a, b, c, d) = (&matched[0], &matched[1], &matched[2], &matched[3]);
    let matched_followers: Vec<&str> = matched.iter().map(|p| p.follower.as_str()).collect();
    let e = (0..w.sim.config().followers)
        .filter_map(|i| w.sim.follower_openid(i))
        .find(|o| !matched_followers.contains(&o.as_str()))
        .expect("a follower who is no MP user");
    for unfollows in [&b.follower, &c.follower, &e] {
        w.sim.unsubscribe(unfollows, false).unwrap();
    }
    sync_followers(&w.engine, &w.oa).await;
    w.grant(&b.mp_openid).await;
    w.grant(&d.mp_openid).await;
    let source = RecipientSource::Openids(vec![
        a.follower.clone(),
        b.follower.clone(),
        c.follower.clone(),
        d.follower.clone(),
        e.clone(),
    ]);

    // Template only: the followers.
    let plan = w
        .engine
        .plan_job(&w.oa, &source, Channel::Template, None)
        .await
        .unwrap();
    assert_eq!(plan.will_receive, 2);
    assert_eq!(plan.by_channel, vec![(RowChannel::Template, 2)]);
    assert_eq!(skipped(&plan, SkipReason::Unsubscribed), 3);

    // Subscribe only: whoever holds a credit, following or not.
    let plan = w
        .engine
        .plan_job(&w.oa, &source, Channel::Subscribe, Some(w.mp_preset_id))
        .await
        .unwrap();
    assert_eq!(plan.by_channel, vec![(RowChannel::Subscribe, 2)]);
    assert_eq!(skipped(&plan, SkipReason::NoCredit), 2, "A and C");
    assert_eq!(skipped(&plan, SkipReason::NoMpUser), 1, "E");

    // Best: the OA to A and D, the MP to B; C and E cannot be reached, each for its reason.
    let plan = w
        .engine
        .plan_job(&w.oa, &source, Channel::Best, Some(w.mp_preset_id))
        .await
        .unwrap();
    assert_eq!(plan.will_receive, 3);
    assert_eq!(
        plan.by_channel,
        vec![(RowChannel::Template, 2), (RowChannel::Subscribe, 1)]
    );
    assert_eq!(
        plan.skipped,
        vec![(SkipReason::NoMpUser, 1), (SkipReason::NoCredit, 1)]
    );

    let job = w
        .engine
        .create_job_with(&admin(), &w.oa, &w.new_job(Channel::Best, source))
        .await
        .unwrap();
    assert_eq!(job.channel, Channel::Best);
    let mp = job.mp.as_ref().expect("the MP side is kept");
    assert_eq!(mp.template_id, w.mp_template);
    assert_eq!(mp.preset_name, "小程序发货通知");
    let rows = w.rows(job.id).await;
    let expect = [
        (1, &a.follower, "template", "pending", None),
        (2, &b.mp_openid, "subscribe", "pending", None),
        (3, &c.mp_openid, "subscribe", "skipped", Some("no_credit")),
        (4, &d.follower, "template", "pending", None),
        (5, &e, "template", "skipped", Some("no_mp_user")),
    ];
    for (seq, openid, channel, state, reason) in expect {
        let r = row(&rows, seq);
        assert_eq!(
            (
                &r.openid,
                r.channel.as_str(),
                r.state.as_str(),
                r.skip_reason.map(|r| r.as_str())
            ),
            (openid, channel, state, reason),
            "row {seq}"
        );
    }

    // Sent: each on its channel, once; B's one-time credit is used up, D's is kept.
    let _d = Dispatcher(w.engine.start_dispatcher(fast()));
    let p = w.wait(job.id, |p| p.job.state == JobState::Done).await;
    assert_eq!((p.sent, p.failed, p.skipped), (3, 0, 2), "{p:?}");
    let by: Vec<(RowChannel, i64, i64)> = p
        .by_channel
        .iter()
        .map(|c| (c.channel, c.planned, c.sent))
        .collect();
    assert_eq!(
        by,
        vec![(RowChannel::Template, 2, 2), (RowChannel::Subscribe, 1, 1)]
    );
    let ledger = w.sim.ledger_summary();
    assert_eq!((ledger.template_sends, ledger.subscribe_sends), (2, 1));
    assert_eq!(ledger.max_received, 1);
    let sub = w.sim.messages(10, Some(&b.mp_openid));
    assert_eq!(sub.len(), 1);
    assert_eq!(sub[0].template_id, w.mp_template);
    assert_eq!(sub[0].payload["page"], "pages/order/detail?id=1");
    assert_eq!(sub[0].payload["data"]["thing2"]["value"], "无线蓝牙耳机");
    assert!(sub[0].payload.get("client_msg_id").is_none());
    assert_eq!(w.one_time(&b.mp_openid).await, 0, "B's credit spent");
    assert_eq!(w.one_time(&d.mp_openid).await, 1, "D got the OA message");
    let msgid = row(&w.rows(job.id).await, 2).msgid;
    assert!(msgid.is_some(), "the subscribe msgid is kept");
}
on_both_databases!(channel_is_chosen_per_person);

// 2 ──────────────────────────────────────────────────────────────────────────────────────────

/// The Mini Program's own users as a source: those without a unionid can only be reached by a
/// subscribe message; the template channel cannot reach them at all.
async fn mini_program_users_as_a_source(db: TestDb) {
    let w = world(&db).await;
    let lonely = w.mp_without_unionid();
    w.grant(&lonely).await;
    let total = w.sim.config().mp_users as i64;

    let template = w
        .engine
        .plan_job(&w.oa, &RecipientSource::MpUsers, Channel::Template, None)
        .await
        .unwrap();
    let no_follower = skipped(&template, SkipReason::NoOaOpenid);
    assert!(no_follower > 0);
    assert_eq!(
        template.will_receive + no_follower + skipped(&template, SkipReason::Unsubscribed),
        total
    );

    let best = w
        .engine
        .plan_job(
            &w.oa,
            &RecipientSource::MpUsers,
            Channel::Best,
            Some(w.mp_preset_id),
        )
        .await
        .unwrap();
    assert_eq!(
        best.by_channel,
        vec![
            (RowChannel::Template, template.will_receive),
            (RowChannel::Subscribe, 1)
        ]
    );
    assert_eq!(
        skipped(&best, SkipReason::NoCredit),
        total - template.will_receive - 1
    );

    // An OA preset is no subscribe preset, and best needs one.
    let err = w
        .engine
        .plan_job(
            &w.oa,
            &RecipientSource::AllSubscribed,
            Channel::Subscribe,
            Some(w.preset_id),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused(ref r) if r.field == "mp_preset"
        ),
        "an OA preset is no subscribe preset: {err:?}"
    );
    let err = w
        .engine
        .create_job_with(
            &admin(),
            &w.oa,
            &NewJob {
                mp_preset_id: None,
                ..w.new_job(Channel::Best, RecipientSource::AllSubscribed)
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused(ref r) if r.field == "mp_preset"
        ),
        "{err:?}"
    );
}
on_both_databases!(mini_program_users_as_a_source);

// 3 ──────────────────────────────────────────────────────────────────────────────────────────

/// wxpush believes in a credit WeChat no longer has: WeChat answers 43101, the row fails with
/// it and the credit is cleared, so the next plan no longer counts that person.
async fn refused_subscription_clears_the_credit(db: TestDb) {
    let w = world(&db).await;
    let person = &w.matched()[0];
    w.engine
        .record_subscribe_report(
            &w.mp,
            &person.mp_openid,
            &[(w.mp_template.clone(), "accept".into())],
        )
        .await
        .unwrap();
    let source = RecipientSource::Openids(vec![person.follower.clone()]);
    let job = w
        .engine
        .create_job_with(
            &admin(),
            &w.oa,
            &w.new_job(Channel::Subscribe, source.clone()),
        )
        .await
        .unwrap();
    let _d = Dispatcher(w.engine.start_dispatcher(fast()));
    let p = w.wait(job.id, |p| p.job.state == JobState::Done).await;
    assert_eq!((p.sent, p.failed), (0, 1), "{p:?}");
    assert_eq!(p.errors[0].errcode, 43101);
    assert_eq!(w.sim.ledger_summary().subscribe_sends, 0);
    let credit = w
        .engine
        .credit(w.mp.id, &person.mp_openid, &w.mp_template)
        .await
        .unwrap();
    assert_eq!((credit.one_time, credit.long_term), (0, false));
    let plan = w
        .engine
        .plan_job(&w.oa, &source, Channel::Subscribe, Some(w.mp_preset_id))
        .await
        .unwrap();
    assert_eq!(plan.will_receive, 0);
    assert_eq!(skipped(&plan, SkipReason::NoCredit), 1);
}
on_both_databases!(refused_subscription_clears_the_credit);

// 4 ──────────────────────────────────────────────────────────────────────────────────────────

/// subscribe/send has no client_msg_id: when WeChat delivers but its answer is lost, the row
/// becomes `unknown` and is never sent again (a template row would be resent and de-duplicated).
async fn lost_subscribe_answers_are_never_resent(db: TestDb) {
    let w = world(&db).await;
    let people: Vec<Person> = w.matched().into_iter().take(3).collect();
    for p in &people {
        w.grant(&p.mp_openid).await;
    }
    w.sim
        .set_faults(FaultConfig {
            lost_response_rate: 1.0,
            ..FaultConfig::default()
        })
        .unwrap();
    let source = RecipientSource::Openids(people.iter().map(|p| p.follower.clone()).collect());
    let job = w
        .engine
        .create_job_with(&admin(), &w.oa, &w.new_job(Channel::Subscribe, source))
        .await
        .unwrap();
    let _d = Dispatcher(w.engine.start_dispatcher(fast()));
    let p = w.wait(job.id, |p| p.job.state == JobState::Done).await;
    assert_eq!((p.sent, p.unknown), (0, 3), "{p:?}");
    let ledger = w.sim.ledger_summary();
    assert_eq!(ledger.subscribe_sends, 3, "each delivered once");
    assert_eq!(ledger.max_received, 1, "none twice: {ledger:?}");
    for r in w.rows(job.id).await {
        assert_eq!(r.attempts, 1, "never retried: {r:?}");
    }
}
on_both_databases!(lost_subscribe_answers_are_never_resent);

// 5 ──────────────────────────────────────────────────────────────────────────────────────────

/// A crash (the dispatcher's tasks dropped mid-send, as by kill -9) during a subscribe job:
/// only the attempts that had left for WeChat become `unknown`; the other claimed rows are sent
/// by the process that takes over, and nobody gets the message twice.
async fn a_crash_leaves_only_departed_subscribe_rows_unknown(db: TestDb) {
    let w = world_of(
        &db,
        SimConfig {
            followers: 400,
            mp_users: 400,
            matched_ratio: 1.0,
            mp_unionid_ratio: 1.0,
            faults: FaultConfig {
                latency_ms: 100,
                ..FaultConfig::default()
            },
            ..SimConfig::default()
        },
    )
    .await;
    let people: Vec<Person> = w.matched().into_iter().take(250).collect();
    assert_eq!(people.len(), 250, "the simulator matches enough people");
    for p in &people {
        w.grant(&p.mp_openid).await;
    }
    let source = RecipientSource::Openids(people.iter().map(|p| p.follower.clone()).collect());
    let job = w
        .engine
        .create_job_with(&admin(), &w.oa, &w.new_job(Channel::Subscribe, source))
        .await
        .unwrap();
    // Large claims, few senders: most claimed rows wait in the queue when the crash comes.
    let config = DispatchConfig {
        concurrency: 8,
        batch: 200,
        lease_ms: 1_000,
        ..fast()
    };
    let crashed = Dispatcher(w.engine.start_dispatcher(config.clone()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.sim.ledger_summary().subscribe_sends < 40 {
        assert!(Instant::now() < deadline, "the job never got going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(crashed);
    let held = w
        .rows(job.id)
        .await
        .iter()
        .filter(|r| r.state == RecipientState::Sending)
        .count();
    assert!(held > 100, "the crash left many claimed rows: {held}");

    // Another process takes over once the lease lapses.
    let other = Engine::open(&db.url).await.unwrap();
    let _d = Dispatcher(other.start_dispatcher(config.clone()));
    let p = w.wait(job.id, |p| p.job.state == JobState::Done).await;
    let ledger = w.sim.ledger_summary();
    // Delivered but not recorded as sent: their result was lost with the process.
    let delivered_unrecorded = ledger.subscribe_sends as i64 - p.sent;
    assert!(
        (delivered_unrecorded..=delivered_unrecorded + config.concurrency as i64)
            .contains(&p.unknown),
        "unknown must be what reached WeChat unrecorded ({delivered_unrecorded}) and at most \
         the {} sends in flight: {p:?}",
        config.concurrency
    );
    assert_eq!(p.sent + p.unknown, p.job.will_receive, "{p:?}");
    assert_eq!(ledger.max_received, 1, "nobody twice: {ledger:?}");
    assert!(
        ledger.subscribe_sends >= p.sent as u64
            && ledger.subscribe_sends <= p.job.will_receive as u64,
        "{ledger:?} vs {p:?}"
    );
}
on_both_databases!(a_crash_leaves_only_departed_subscribe_rows_unknown);

//! Subscription credits on SQLite and PostgreSQL: WeChat's popup, change and sent events, the
//! MP backend's reports and their pairing, sends and 43101, repeats counted once.

use std::collections::HashSet;

use engine::accounts::{Account, AccountKind, NewAccount, Secret};
use engine::audit::Actor;
use engine::subscriptions::Credit;
use engine::testing::TestDb;
use engine::{on_both_databases, Engine, Error};
use wechat::callback::{
    Event, SubscribeChangeItem, SubscribePopupItem, SubscribeSentItem, SubscribeStatus,
};
use wechat_sim::{SimConfig, SimHandle};

struct World {
    engine: Engine,
    sim: SimHandle,
    mp: Account,
    /// A one-time (type 2) and a long-term (type 3) template, synced.
    one_time: String,
    long_term: String,
}

async fn world(db: &TestDb) -> World {
    let sim = wechat_sim::start(
        SimConfig {
            followers: 50,
            mp_users: 20,
            ..SimConfig::default()
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .expect("simulator starts");
    let engine = Engine::open(&db.url).await.unwrap();
    let cfg = sim.config();
    let mp = engine
        .create_account(
            &Actor::cli(),
            NewAccount {
                kind: AccountKind::Mp,
                name: "MP".into(),
                appid: cfg.mp_appid.clone(),
                secret: Secret::new(cfg.mp_secret.clone()),
                callback_token: Secret::default(),
                encoding_aes_key: Secret::default(),
                api_base: sim.base_url.clone(),
                linked_account_id: None,
                sandbox: false,
            },
        )
        .await
        .unwrap();
    engine.sync_templates(&Actor::cli(), &mp).await.unwrap();
    let id_of = |title: &str| {
        sim.mp_templates()
            .into_iter()
            .find(|t| t.title == title)
            .unwrap()
            .pri_tmpl_id
    };
    let one_time = id_of("报名结果通知");
    let long_term = id_of("设备状态提醒");
    // The first ten MP users logged in (reports need a known user).
    let csv: String = (0..10)
        .map(|i| format!("{}\n", sim.mp_openid(i).unwrap()))
        .collect();
    engine
        .import_mp_users_csv(&Actor::cli(), mp.id, &csv)
        .await
        .unwrap();
    World {
        engine,
        sim,
        mp,
        one_time,
        long_term,
    }
}

fn popup(openid: &str, template_id: &str, status: SubscribeStatus, create_time: i64) -> Event {
    Event::SubscribeMsgPopupEvent {
        to_user: "gh_mp".into(),
        from_user: openid.into(),
        create_time,
        items: vec![SubscribePopupItem {
            template_id: template_id.into(),
            subscribe_status: status,
            popup_scene: Some("0".into()),
        }],
    }
}

fn change(openid: &str, template_id: &str, status: SubscribeStatus, create_time: i64) -> Event {
    Event::SubscribeMsgChangeEvent {
        to_user: "gh_mp".into(),
        from_user: openid.into(),
        create_time,
        items: vec![SubscribeChangeItem {
            template_id: template_id.into(),
            subscribe_status: status,
        }],
    }
}

fn sent(openid: &str, template_id: &str, msg_id: i64, error_code: i64, status: &str) -> Event {
    Event::SubscribeMsgSentEvent {
        to_user: "gh_mp".into(),
        from_user: openid.into(),
        create_time: 1_700_000_000,
        items: vec![SubscribeSentItem {
            template_id: template_id.into(),
            msg_id,
            error_code,
            error_status: status.into(),
        }],
    }
}

fn credit(one_time: i64, long_term: bool, refused: bool) -> Credit {
    Credit {
        one_time,
        long_term,
        refused,
    }
}

impl World {
    fn user(&self, i: u32) -> String {
        self.sim.mp_openid(i).unwrap()
    }

    async fn apply(&self, e: Event) {
        self.engine
            .apply_subscribe_event(&self.mp, &e)
            .await
            .unwrap();
    }

    async fn credit(&self, openid: &str, template_id: &str) -> Credit {
        self.engine
            .credit(self.mp.id, openid, template_id)
            .await
            .unwrap()
    }

    async fn report(&self, openid: &str, results: &[(&str, &str)]) -> engine::Result<Vec<Credit>> {
        let results: Vec<(String, String)> = results
            .iter()
            .map(|(t, s)| ((*t).to_owned(), (*s).to_owned()))
            .collect();
        self.engine
            .record_subscribe_report(&self.mp, openid, &results)
            .await
            .map(|v| v.into_iter().map(|c| c.credit).collect())
    }
}

async fn credits_from_events(db: TestDb) {
    let w = world(&db).await;
    let (a, b) = (w.user(0), w.user(1));
    let (t1, lt) = (w.one_time.clone(), w.long_term.clone());
    use SubscribeStatus::*;

    // One-time accepted twice → 2; WeChat repeating a push counts once.
    w.apply(popup(&a, &t1, Accept, 1_700_000_000)).await;
    w.apply(popup(&a, &t1, Accept, 1_700_000_100)).await;
    w.apply(popup(&a, &t1, Accept, 1_700_000_100)).await;
    assert_eq!(w.credit(&a, &t1).await, credit(2, false, false));
    // A rejected popup keeps what was granted before.
    w.apply(popup(&a, &t1, Reject, 1_700_000_200)).await;
    assert_eq!(w.credit(&a, &t1).await, credit(2, false, true));
    // Long-term, by the synced template's type; accepting twice stays on.
    w.apply(popup(&a, &lt, AcceptWithAudio, 1_700_000_300))
        .await;
    w.apply(popup(&a, &lt, Accept, 1_700_000_400)).await;
    assert_eq!(w.credit(&a, &lt).await, credit(0, true, false));
    assert_eq!(w.credit(&b, &t1).await, Credit::default());

    // Holders.
    let ids = vec![a.clone(), b.clone(), "nobody".to_owned()];
    let holders = w.engine.credit_holders(w.mp.id, &t1, &ids).await.unwrap();
    assert_eq!(holders, HashSet::from([a.clone()]));
    let holders = w.engine.credit_holders(w.mp.id, &lt, &ids).await.unwrap();
    assert_eq!(holders, HashSet::from([a.clone()]));

    // A sent event spends one; its repeat and our own spend of the same msgid count once.
    w.apply(sent(&a, &t1, 3_400_000_000_000_000_777, 0, "success"))
        .await;
    w.apply(sent(&a, &t1, 3_400_000_000_000_000_777, 0, "success"))
        .await;
    w.engine
        .spend_credit(
            w.mp.id,
            &a,
            &t1,
            Some(3_400_000_000_000_000_777),
            Some((9, 1)),
        )
        .await
        .unwrap();
    assert_eq!(w.credit(&a, &t1).await.one_time, 1);
    // Our spend first, the event after: once.
    w.engine
        .spend_credit(w.mp.id, &a, &t1, Some(778), Some((9, 2)))
        .await
        .unwrap();
    w.apply(sent(&a, &t1, 778, 0, "success")).await;
    assert_eq!(w.credit(&a, &t1).await.one_time, 0);
    // Never below 0; a spend without msgid is counted once per job row.
    w.engine
        .spend_credit(w.mp.id, &a, &t1, None, Some((9, 3)))
        .await
        .unwrap();
    assert_eq!(w.credit(&a, &t1).await.one_time, 0);
    // Long-term sends use nothing.
    w.engine
        .spend_credit(w.mp.id, &a, &lt, Some(779), None)
        .await
        .unwrap();
    assert_eq!(w.credit(&a, &lt).await, credit(0, true, false));

    // Switched off in the settings: nothing left; on again: long-term resumes, one-time not.
    w.apply(change(&a, &lt, Reject, 1_700_001_000)).await;
    assert_eq!(w.credit(&a, &lt).await, credit(0, false, true));
    w.apply(change(&a, &lt, Accept, 1_700_001_100)).await;
    assert_eq!(w.credit(&a, &lt).await, credit(0, true, false));
    w.apply(popup(&a, &t1, Accept, 1_700_001_200)).await;
    w.apply(change(&a, &t1, Reject, 1_700_001_300)).await;
    assert_eq!(w.credit(&a, &t1).await, credit(0, false, true));
    w.apply(change(&a, &t1, Accept, 1_700_001_400)).await;
    assert_eq!(w.credit(&a, &t1).await, credit(0, false, false));

    // 43101 from subscribe/send clears; a sent event saying the user refuses too.
    w.apply(popup(&b, &t1, Accept, 1_700_002_000)).await;
    w.apply(popup(&b, &t1, Accept, 1_700_002_001)).await;
    w.engine
        .clear_credit(w.mp.id, &b, &t1, Some((9, 4)))
        .await
        .unwrap();
    assert_eq!(w.credit(&b, &t1).await, credit(0, false, true));
    w.apply(popup(&b, &lt, Accept, 1_700_002_100)).await;
    w.apply(sent(
        &b,
        &lt,
        880,
        43101,
        "fail:user refuse to accept the msg",
    ))
    .await;
    assert_eq!(w.credit(&b, &lt).await, credit(0, false, true));
    // Another failure changes nothing.
    w.apply(popup(&b, &t1, Accept, 1_700_002_200)).await;
    w.apply(sent(&b, &t1, 881, -1, "fail:system error")).await;
    assert_eq!(w.credit(&b, &t1).await, credit(1, false, false));

    // An unknown template counts as one-time; an MP user wxpush does not know yet is fine.
    let stranger = w.user(15);
    w.apply(popup(
        &stranger,
        "not-synced-template",
        Accept,
        1_700_003_000,
    ))
    .await;
    w.apply(popup(
        &stranger,
        "not-synced-template",
        Accept,
        1_700_003_001,
    ))
    .await;
    assert_eq!(
        w.credit(&stranger, "not-synced-template").await,
        credit(2, false, false)
    );

    // The ledger tells why, newest first.
    let ledger = w
        .engine
        .subscription_ledger(w.mp.id, &b, 100)
        .await
        .unwrap();
    let sources: Vec<(&str, &str, i64)> = ledger
        .iter()
        .map(|e| (e.source.as_str(), e.status.as_str(), e.one_time_delta))
        .collect();
    assert_eq!(
        sources,
        vec![
            ("sent", "failed", 0),
            ("popup", "accept", 1),
            ("sent", "refused", 0),
            ("popup", "accept", 0),
            ("refused", "43101", -2),
            ("popup", "accept", 1),
            ("popup", "accept", 1),
        ]
    );
    assert_eq!(ledger[3].long_term, Some(true));
    assert_eq!(ledger[2].long_term, Some(false));
    assert_eq!((ledger[4].job_id, ledger[4].seq), (Some(9), Some(4)));
    assert_eq!(ledger[6].event_ms, 1_700_002_000_000);
    assert_eq!(
        w.engine
            .subscription_ledger(w.mp.id, &b, 2)
            .await
            .unwrap()
            .len(),
        2
    );
    let a_ledger = w
        .engine
        .subscription_ledger(w.mp.id, &a, 100)
        .await
        .unwrap();
    let spends: Vec<_> = a_ledger
        .iter()
        .filter(|e| e.dedup_key.as_deref() == Some("msg:3400000000000000777"))
        .collect();
    assert_eq!(spends.len(), 1, "one entry per msgid");
    assert_eq!(spends[0].source, "sent");
    let ours: Vec<_> = a_ledger
        .iter()
        .filter(|e| e.dedup_key.as_deref() == Some("msg:778"))
        .collect();
    assert_eq!(ours.len(), 1);
    assert_eq!((ours[0].source.as_str(), ours[0].job_id), ("send", Some(9)));
}
on_both_databases!(credits_from_events);

async fn reports_pair_with_popups(db: TestDb) {
    let w = world(&db).await;
    let (a, b, c) = (w.user(2), w.user(3), w.user(4));
    let (t1, lt) = (w.one_time.clone(), w.long_term.clone());
    let now_s = engine::now_ms() / 1000;
    use SubscribeStatus::*;

    // The MP backend's report and WeChat's popup event of the same click count once, in
    // either order.
    assert_eq!(
        w.report(&a, &[(&t1, "accept")]).await.unwrap(),
        vec![credit(1, false, false)]
    );
    w.apply(popup(&a, &t1, Accept, now_s)).await;
    assert_eq!(w.credit(&a, &t1).await.one_time, 1);
    w.apply(popup(&b, &t1, Accept, now_s - 60)).await;
    assert_eq!(
        w.report(&b, &[(&t1, "accept")]).await.unwrap(),
        vec![credit(1, false, false)]
    );
    let ledger = w.engine.subscription_ledger(w.mp.id, &b, 10).await.unwrap();
    assert!(ledger.iter().all(|e| e.paired), "{ledger:?}");
    assert_eq!(ledger[0].one_time_delta, 0);

    // Two reports are two clicks; a popup pairs with one of them only.
    w.report(&c, &[(&t1, "accept")]).await.unwrap();
    w.report(&c, &[(&t1, "accept")]).await.unwrap();
    assert_eq!(w.credit(&c, &t1).await.one_time, 2);
    w.apply(popup(&c, &t1, Accept, now_s)).await;
    assert_eq!(w.credit(&c, &t1).await.one_time, 2);
    // More than 5 minutes apart: two clicks.
    w.apply(popup(&c, &t1, Accept, now_s - 600)).await;
    assert_eq!(w.credit(&c, &t1).await.one_time, 3);
    // The already paired popup does not pair again.
    w.report(&c, &[(&t1, "accept")]).await.unwrap();
    assert_eq!(w.credit(&c, &t1).await.one_time, 4);

    // Several templates at once; long-term by the template; reject keeps, ban clears, filter
    // changes nothing.
    let d = w.user(5);
    let got = w
        .report(&d, &[(&t1, "accept"), (&lt, "accept"), ("zzz", "filter")])
        .await
        .unwrap();
    assert_eq!(
        got,
        vec![
            credit(1, false, false),
            credit(0, true, false),
            Credit::default()
        ]
    );
    w.report(&d, &[(&t1, "reject")]).await.unwrap();
    assert_eq!(w.credit(&d, &t1).await, credit(1, false, true));
    w.report(&d, &[(&lt, "ban"), (&t1, "ban")]).await.unwrap();
    assert_eq!(w.credit(&d, &lt).await, credit(0, false, true));
    assert_eq!(w.credit(&d, &t1).await, credit(0, false, true));

    // Refused reports.
    assert!(matches!(
        w.report(&w.user(15), &[(&t1, "accept")]).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(
        w.report(&d, &[(&t1, "yes")]).await,
        Err(Error::Refused(r)) if r.field == "result"
    ));
    let many: Vec<(String, String)> = (0..11)
        .map(|i| (format!("t{i}"), "accept".into()))
        .collect();
    assert!(matches!(
        w.engine.record_subscribe_report(&w.mp, &d, &many).await,
        Err(Error::Refused(_))
    ));

    // The dashboard figures.
    let by_template = w.engine.credits_by_template(w.mp.id).await.unwrap();
    let one = by_template.iter().find(|t| t.template_id == t1).unwrap();
    assert!(!one.long_term);
    assert_eq!(one.title, "报名结果通知");
    assert_eq!((one.holders, one.one_time_total), (3, 1 + 1 + 4));
    assert_eq!((one.long_term_users, one.refused_users), (0, 1));
    let long = by_template.iter().find(|t| t.template_id == lt).unwrap();
    assert!(long.long_term);
    assert_eq!(
        (
            long.holders,
            long.one_time_total,
            long.long_term_users,
            long.refused_users
        ),
        (0, 0, 0, 1)
    );
    assert!(by_template.iter().all(|t| t.template_id != "zzz"));
    assert_eq!(
        by_template.len(),
        w.sim.mp_templates().len(),
        "every synced template, with or without credits"
    );
}
on_both_databases!(reports_pair_with_popups);

async fn concurrent_spends_and_many_holders(db: TestDb) {
    let w = world(&db).await;
    let a = w.user(6);
    let t1 = w.one_time.clone();
    for i in 0..5 {
        w.apply(popup(&a, &t1, SubscribeStatus::Accept, 1_700_000_000 + i))
            .await;
    }
    // Ten sends racing for five credits: five are spent, never below zero.
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (engine, mp, a, t1) = (w.engine.clone(), w.mp.id, a.clone(), t1.clone());
            tokio::spawn(async move {
                engine
                    .spend_credit(mp, &a, &t1, Some(5_000 + i), Some((1, i)))
                    .await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(w.credit(&a, &t1).await.one_time, 0);
    let ledger = w
        .engine
        .subscription_ledger(w.mp.id, &a, 100)
        .await
        .unwrap();
    let spent: i64 = ledger
        .iter()
        .filter(|e| e.source == "send")
        .map(|e| e.one_time_delta)
        .sum();
    assert_eq!(spent, -5);
    assert_eq!(ledger.iter().filter(|e| e.source == "send").count(), 10);

    // credit_holders queries in chunks: holders anywhere in a long list are found.
    let mut ids: Vec<String> = (0..1_200).map(|i| format!("o{i:027}")).collect();
    for i in [3usize, 777, 1_111] {
        ids[i] = format!("oHOLDER{i:021}");
        w.apply(popup(&ids[i], &t1, SubscribeStatus::Accept, 1_700_000_000))
            .await;
    }
    let holders = w.engine.credit_holders(w.mp.id, &t1, &ids).await.unwrap();
    assert_eq!(
        holders,
        HashSet::from([ids[3].clone(), ids[777].clone(), ids[1_111].clone()])
    );
    assert!(w
        .engine
        .credit_holders(w.mp.id, &t1, &[])
        .await
        .unwrap()
        .is_empty());
}
on_both_databases!(concurrent_spends_and_many_holders);

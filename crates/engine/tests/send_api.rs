//! The send API's engine side against the WeChat simulator, on SQLite and PostgreSQL: a person
//! named by unionid, Mini Program openid or OA openid reached on the right channel exactly once,
//! idempotent replays and conflicts, every refusal with its field, and keys limited to presets.

use std::time::Duration;

mod common;

use engine::audit::AuditFilter;
use engine::testing::TestDb;
use engine::{now_ms, on_both_databases, Engine, Error};
use model::api_messages::ApiMessageFilter;
use model::send_api::{Accepted, MessageState, Person, PresetScope, SendKey, SendRequest};
use model::value::ValueProblem;
use model::{Channel, Problem, RowChannel};

use common::world::{fast, request, wait_outcome, world, World};
use common::{admin, Dispatcher};

fn in_state(state: MessageState) -> ApiMessageFilter {
    ApiMessageFilter {
        state: Some(state),
        ..ApiMessageFilter::default()
    }
}

fn with_values(mut r: SendRequest, pairs: &[(&str, &str)]) -> SendRequest {
    r.values = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    r
}

/// The hash the HTTP layer would compute: any stable text of the request does here.
fn hash(r: &SendRequest) -> String {
    serde_json::to_string(r).unwrap()
}

async fn accept(engine: &Engine, key: &SendKey, r: &SendRequest) -> Result<Accepted, Error> {
    engine.accept_message(key, r, &hash(r)).await
}

fn refusal(result: Result<Accepted, Error>) -> (String, Problem) {
    match result {
        Err(Error::Refused(r)) => (r.field, r.problem),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Simulator people: (MP index, follower openid, MP openid, unionid) of matched MP users who
/// follow the OA now.
fn following(w: &World) -> Vec<(String, String, String)> {
    (0..w.sim.config().mp_users)
        .filter_map(|i| {
            let f = w.sim.mp_follower(i)?;
            if !w.sim.is_following(f) {
                return None;
            }
            Some((
                w.sim.follower_openid(f)?,
                w.sim.mp_openid(i)?,
                w.sim.mp_unionid(i)?,
            ))
        })
        .collect()
}

async fn each_person_is_reached_once_on_their_channel(db: TestDb) {
    let w = world(&db).await;
    let _dispatcher = Dispatcher(w.engine.start_dispatcher(fast()));
    let (_, key) = w
        .engine
        .create_send_key(&admin(), w.oa.id, "订单系统", PresetScope::All, 1_000)
        .await
        .unwrap();
    let people = following(&w);
    assert!(
        people.len() >= 4,
        "the simulator has followers among MP users"
    );

    // By unionid, with an idempotency key and the order's own number.
    let (a_oa, _, a_union) = &people[0];
    let mut first = with_values(
        request(Person::Unionid(a_union.clone()), w.preset_id),
        &[("character_string2", "A1023")],
    );
    first.idempotency_key = Some("order-A1023-shipped".into());
    let accepted = accept(&w.engine, &key, &first).await.unwrap();
    assert_eq!(accepted.channel, RowChannel::Template);
    assert_eq!(accepted.oa_openid.as_deref(), Some(a_oa.as_str()));
    assert!(!accepted.replayed);
    // The same request again: the same message, nothing more queued.
    let again = accept(&w.engine, &key, &first).await.unwrap();
    assert_eq!(
        (again.id.as_str(), again.replayed),
        (accepted.id.as_str(), true)
    );
    // The same key with another body is a conflict.
    let mut changed = first.clone();
    changed
        .values
        .insert("character_string2".into(), "A1024".into());
    assert_eq!(
        refusal(accept(&w.engine, &key, &changed).await),
        ("idempotency_key".into(), Problem::IdempotencyConflict)
    );

    // By Mini Program openid and by OA openid.
    let (_, b_mp, _) = &people[1];
    let by_mp = accept(
        &w.engine,
        &key,
        &request(Person::MpOpenid(b_mp.clone()), w.preset_id),
    )
    .await
    .unwrap();
    assert_eq!(by_mp.oa_openid.as_deref(), Some(people[1].0.as_str()));
    let (c_oa, _, _) = &people[2];
    let by_oa = accept(
        &w.engine,
        &key,
        &request(Person::OaOpenid(c_oa.clone()), w.preset_id),
    )
    .await
    .unwrap();
    assert_eq!(by_oa.channel, RowChannel::Template);

    // Sent once each, with the request's value in the message WeChat received.
    for (id, openid) in [
        (&accepted.id, a_oa),
        (&by_mp.id, &people[1].0),
        (&by_oa.id, c_oa),
    ] {
        let s = wait_outcome(&w.engine, &key, id).await;
        assert_eq!(s.state, MessageState::Sent, "{s:?}");
        assert!(s.msgid.is_some());
        assert_eq!(w.sim.ledger_received(openid), 1, "{openid} got it once");
    }
    let received = w.sim.messages(10, Some(a_oa.as_str()));
    assert_eq!(
        received[0].payload["data"]["character_string2"]["value"], "A1023",
        "the person's own value was sent"
    );
    // A replay after sending answers with the state now, and sends nothing.
    let replay = accept(&w.engine, &key, &first).await.unwrap();
    assert_eq!((replay.state, replay.replayed), (MessageState::Sent, true));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(w.sim.ledger_received(a_oa), 1);
    // The console's list: newest first, filtered by state, with counts.
    let sent = w
        .engine
        .api_messages(w.oa.id, &in_state(MessageState::Sent), None, 50)
        .await
        .unwrap();
    let ids: Vec<String> = sent.iter().map(|e| e.status.id.clone()).collect();
    assert_eq!(
        ids,
        [by_oa.id.clone(), by_mp.id.clone(), accepted.id.clone()]
    );
    assert_eq!(sent[2].key_name, "订单系统");
    assert_eq!(sent[2].preset_name.as_deref(), Some("发货通知"));
    let queued = w
        .engine
        .api_messages(w.oa.id, &in_state(MessageState::Queued), None, 50)
        .await
        .unwrap();
    assert!(queued.is_empty());
    let older = w
        .engine
        .api_messages(
            w.oa.id,
            &ApiMessageFilter::default(),
            Some(sent[1].status.id.parse().unwrap()),
            50,
        )
        .await
        .unwrap();
    assert_eq!(older.len(), 1, "the page before an id");
    let counts = w
        .engine
        .api_message_counts(w.oa.id, &ApiMessageFilter::default())
        .await
        .unwrap();
    assert!(counts.contains(&(MessageState::Sent, 3)), "{counts:?}");
    // By person (as the request named them, or the openid it went to), key, channel, errcode.
    for person in [a_union.as_str(), a_oa.as_str()] {
        let filter = ApiMessageFilter {
            person: Some(person.into()),
            ..ApiMessageFilter::default()
        };
        let found = w
            .engine
            .api_messages(w.oa.id, &filter, None, 50)
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{person}");
        assert_eq!(found[0].status.id, accepted.id);
        let counts = w.engine.api_message_counts(w.oa.id, &filter).await.unwrap();
        assert!(counts.contains(&(MessageState::Sent, 1)), "{counts:?}");
    }
    let none = |f: ApiMessageFilter| {
        let engine = w.engine.clone();
        async move {
            engine
                .api_messages(w.oa.id, &f, None, 50)
                .await
                .unwrap()
                .len()
        }
    };
    let other_key = ApiMessageFilter {
        key: Some(key.id + 1000),
        ..ApiMessageFilter::default()
    };
    assert_eq!(none(other_key).await, 0);
    let own_key = ApiMessageFilter {
        key: Some(key.id),
        ..ApiMessageFilter::default()
    };
    assert_eq!(none(own_key).await, 3);
    let subscribe = ApiMessageFilter {
        channel: Some(RowChannel::Subscribe),
        ..ApiMessageFilter::default()
    };
    assert_eq!(none(subscribe).await, 0);
    let errcode = ApiMessageFilter {
        errcode: Some(43004),
        ..ApiMessageFilter::default()
    };
    assert_eq!(none(errcode).await, 0);
    // The last 24 hours by outcome, seen from the newest message: all three sent. A day
    // later they are out of the chart.
    let newest = sent[0].status.created_ms;
    let hours = w.engine.api_message_hours(w.oa.id, newest).await.unwrap();
    assert_eq!(hours.len(), 24);
    let sum = |f: fn(&model::api_messages::HourCounts) -> i64| hours.iter().map(f).sum::<i64>();
    assert_eq!((sum(|h| h.sent), sum(|h| h.total())), (3, 3), "{hours:?}");
    assert!(hours[23].sent >= 1, "the newest is in the current hour");
    let day = 24 * 60 * 60 * 1000;
    let later = w
        .engine
        .api_message_hours(w.oa.id, newest + day)
        .await
        .unwrap();
    assert_eq!(later.iter().map(|h| h.total()).sum::<i64>(), 0);
    // Each key's figures, and a message's detail with the payload as sent.
    let stats = w.engine.send_key_stats(w.oa.id, now_ms()).await.unwrap();
    assert_eq!(
        (
            stats[0].key_id,
            stats[0].total,
            stats[0].day_sent,
            stats[0].day_failed
        ),
        (key.id, 3, 3, 0)
    );
    let detail = w
        .engine
        .api_message_detail(w.oa.id, accepted.id.parse().unwrap())
        .await
        .unwrap()
        .expect("the account's message");
    let payload: serde_json::Value = serde_json::from_str(&detail.payload).unwrap();
    assert_eq!(payload["touser"], a_oa.as_str());
    assert_eq!(payload["data"]["character_string2"]["value"], "A1023");
    assert!(
        w.engine
            .api_message_detail(w.oa.id + 1000, accepted.id.parse().unwrap())
            .await
            .unwrap()
            .is_none(),
        "not another account's message"
    );
    // The API's messages are not a send job on the jobs page.
    assert!(w.engine.jobs(w.oa.id, 100).await.unwrap().is_empty());
}
on_both_databases!(each_person_is_reached_once_on_their_channel);

async fn refusals_name_the_field_and_the_reason(db: TestDb) {
    let w = world(&db).await;
    let _dispatcher = Dispatcher(w.engine.start_dispatcher(fast()));
    let (_, key) = w
        .engine
        .create_send_key(&admin(), w.oa.id, "订单系统", PresetScope::All, 1_000)
        .await
        .unwrap();
    let people = following(&w);
    let (_, _, union) = &people[0];
    let to = || Person::Unionid(union.clone());

    let long = with_values(request(to(), w.preset_id), &[("thing1", &"长".repeat(21))]);
    assert_eq!(
        refusal(accept(&w.engine, &key, &long).await),
        (
            "values.thing1".into(),
            Problem::Value(ValueProblem::TooLong(20))
        )
    );
    let stray = with_values(request(to(), w.preset_id), &[("keyword9", "x")]);
    assert_eq!(
        refusal(accept(&w.engine, &key, &stray).await),
        ("values.keyword9".into(), Problem::NotATemplateField)
    );
    let mut bad_url = request(to(), w.preset_id);
    bad_url.url = Some("ftp://example.com".into());
    assert_eq!(refusal(accept(&w.engine, &key, &bad_url).await).0, "url");
    let nobody = request(
        Person::Unionid("oNobodyKnowsThisUnionid00".into()),
        w.preset_id,
    );
    assert_eq!(
        refusal(accept(&w.engine, &key, &nobody).await),
        ("to".into(), Problem::UnknownPerson)
    );
    let malformed = request(Person::OaOpenid("not an openid".into()), w.preset_id);
    assert_eq!(
        refusal(accept(&w.engine, &key, &malformed).await),
        ("to.oa_openid".into(), Problem::OpenIdFormat)
    );
    let no_union = request(Person::MpOpenid(w.mp_without_unionid()), w.preset_id);
    assert_eq!(
        refusal(accept(&w.engine, &key, &no_union).await),
        ("to".into(), Problem::NoUnionid)
    );
    let wrong_kind = SendRequest {
        channel: Some(Channel::Template),
        ..request(to(), w.mp_preset_id)
    };
    assert_eq!(
        refusal(accept(&w.engine, &key, &wrong_kind).await),
        ("preset".into(), Problem::WrongPresetKind)
    );
    let missing = SendRequest {
        preset: None,
        ..request(to(), w.preset_id)
    };
    assert_eq!(
        refusal(accept(&w.engine, &key, &missing).await),
        ("preset".into(), Problem::Required)
    );

    // A person who stopped following: no template message; with `best` and a subscribe preset,
    // a subscribe message once they hold a subscription.
    let (b_oa, b_mp, b_union) = &people[1];
    w.engine
        .apply_follow_event(w.oa.id, b_oa, false, 1_900_000_000)
        .await
        .unwrap();
    let template_only = SendRequest {
        channel: Some(Channel::Template),
        ..request(Person::Unionid(b_union.clone()), w.preset_id)
    };
    assert_eq!(
        refusal(accept(&w.engine, &key, &template_only).await),
        ("to".into(), Problem::NotFollowing)
    );
    let best = SendRequest {
        subscribe_preset: Some(w.mp_preset_id),
        ..request(Person::Unionid(b_union.clone()), w.preset_id)
    };
    assert_eq!(
        refusal(accept(&w.engine, &key, &best).await),
        ("to".into(), Problem::NoSubscriptionCredit)
    );
    w.grant(b_mp).await;
    let accepted = accept(&w.engine, &key, &best).await.unwrap();
    assert_eq!(accepted.channel, RowChannel::Subscribe);
    assert_eq!(accepted.mp_openid.as_deref(), Some(b_mp.as_str()));
    let s = wait_outcome(&w.engine, &key, &accepted.id).await;
    assert_eq!(s.state, MessageState::Sent, "{s:?}");
    assert_eq!(w.one_time(b_mp).await, 0, "the subscription was spent");

    // A key limited to the subscribe preset may not use the template one; nor by name.
    let (_, narrow) = w
        .engine
        .create_send_key(
            &admin(),
            w.oa.id,
            "仅小程序",
            PresetScope::Only(vec![w.mp_preset_id]),
            10,
        )
        .await
        .unwrap();
    assert_eq!(
        refusal(accept(&w.engine, &narrow, &request(to(), w.preset_id)).await),
        ("preset".into(), Problem::PresetNotAllowed)
    );
    let by_name = SendRequest {
        preset: None,
        preset_name: Some("发货通知".into()),
        ..request(to(), 0)
    };
    assert_eq!(
        refusal(accept(&w.engine, &narrow, &by_name).await),
        ("preset_name".into(), Problem::PresetNotAllowed)
    );
    // Another key's message is not visible.
    assert!(w
        .engine
        .api_message(&narrow, accepted.id.parse().unwrap())
        .await
        .unwrap()
        .is_none());
}
on_both_databases!(refusals_name_the_field_and_the_reason);

async fn keys_are_checked_shown_once_and_revoked(db: TestDb) {
    let w = world(&db).await;
    let (secret, key) = w
        .engine
        .create_send_key(&admin(), w.oa.id, "  订单系统 ", PresetScope::All, 50)
        .await
        .unwrap();
    assert!(secret.starts_with("wxs_"));
    assert_eq!(key.name, "订单系统");
    let found = w.engine.send_key_by_secret(&secret).await.unwrap().unwrap();
    assert_eq!(found.id, key.id);
    assert!(w
        .engine
        .send_key_by_secret("wxs_nope")
        .await
        .unwrap()
        .is_none());
    let listed = w.engine.send_keys(w.oa.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        !format!("{listed:?}").contains(&secret[12..]),
        "only a prefix is kept"
    );

    for (name, rate, presets, field) in [
        ("", 10, PresetScope::All, "name"),
        ("x", 0, PresetScope::All, "rate_limit"),
        ("x", 10, PresetScope::Only(vec![999_999]), "preset"),
    ] {
        let e = w
            .engine
            .create_send_key(&admin(), w.oa.id, name, presets, rate)
            .await
            .unwrap_err();
        assert!(matches!(&e, Error::Refused(r) if r.field == field), "{e:?}");
    }
    let e = w
        .engine
        .create_send_key(&admin(), w.mp.id, "小程序", PresetScope::All, 10)
        .await
        .unwrap_err();
    assert!(matches!(&e, Error::Refused(r) if r.problem == Problem::OfficialAccountOnly));

    let revoked = w.engine.revoke_send_key(&admin(), key.id).await.unwrap();
    assert!(revoked.revoked_at_ms.is_some());
    let found = w.engine.send_key_by_secret(&secret).await.unwrap().unwrap();
    assert!(
        found.revoked_at_ms.is_some(),
        "the HTTP layer answers 401 for it"
    );
    let log = w
        .engine
        .audit_page(&AuditFilter::default(), None, 100)
        .await
        .unwrap();
    let codes: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert!(codes.contains(&"send_key.create"));
    assert!(codes.contains(&"send_key.revoke"));
    assert!(
        !format!("{log:?}").contains(&secret[12..]),
        "the key never reaches the log"
    );
}
on_both_databases!(keys_are_checked_shown_once_and_revoked);

/// Messages accepted at the same moment are written together: concurrent requests with one
/// idempotency key make one message (one answer is first, the rest replay it), and the other
/// requests of the same moment are each queued and sent once.
async fn concurrent_requests_are_written_together_and_duplicates_made_once(db: TestDb) {
    let w = world(&db).await;
    let _dispatcher = Dispatcher(w.engine.start_dispatcher(fast()));
    let (_, key) = w
        .engine
        .create_send_key(&admin(), w.oa.id, "订单系统", PresetScope::All, 1_000)
        .await
        .unwrap();
    let people = following(&w);
    let mut same = request(Person::OaOpenid(people[0].0.clone()), w.preset_id);
    same.idempotency_key = Some("order-A1-paid".into());
    let mut tasks = Vec::new();
    for i in 0..40 {
        let engine = w.engine.clone();
        let key = key.clone();
        let r = if i % 2 == 0 {
            same.clone()
        } else {
            let mut r = request(
                Person::OaOpenid(people[1 + i % (people.len() - 1)].0.clone()),
                w.preset_id,
            );
            r.idempotency_key = Some(format!("order-B{i}"));
            r
        };
        tasks.push(tokio::spawn(
            async move { (i, accept(&engine, &key, &r).await) },
        ));
    }
    let mut same_ids = std::collections::BTreeSet::new();
    let mut firsts = 0;
    let mut others = std::collections::BTreeSet::new();
    for t in tasks {
        let (i, answer) = t.await.unwrap();
        let a = answer.unwrap();
        if i % 2 == 0 {
            same_ids.insert(a.id.clone());
            firsts += usize::from(!a.replayed);
        } else {
            assert!(!a.replayed);
            others.insert(a.id.clone());
        }
    }
    assert_eq!(same_ids.len(), 1, "one message for one idempotency key");
    assert_eq!(firsts, 1, "one answer is the first, the others replay it");
    assert_eq!(others.len(), 20, "each other request is its own message");
    for id in others.iter().chain(&same_ids) {
        assert_eq!(
            wait_outcome(&w.engine, &key, id).await.state,
            MessageState::Sent
        );
    }
    assert_eq!(
        w.sim.ledger_received(&people[0].0),
        1,
        "the duplicate was sent once"
    );
}
on_both_databases!(concurrent_requests_are_written_together_and_duplicates_made_once);

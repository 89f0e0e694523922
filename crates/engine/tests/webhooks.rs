//! Status webhooks of the send API against a real HTTP receiver, on SQLite and PostgreSQL: each
//! message's final state and receipt posted once, signed with the key's secret over the
//! timestamp and body, retried with backoff after a failure and given up after 24 hours; a
//! bad URL refused; setting a webhook audited.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use engine::send_api::webhooks::webhook_client;
use engine::testing::TestDb;
use engine::{now_ms, on_both_databases, Error};
use hmac::{Hmac, Mac};
use model::send_api::{MessageState, Person, PresetScope, SendRequest};
use model::webhook::{DeliveryState, WebhookBody, WebhookEvent};
use model::{Delivery, Problem};
use sha2::Sha256;

use common::world::{self, fast, wait_outcome};
use common::{admin, Dispatcher};

/// What the receiver got, and the statuses it answers with (200 once they run out).
#[derive(Default)]
struct Receiver {
    got: Vec<(HeaderMap, String)>,
    answers: VecDeque<u16>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn receive(State(r): State<Shared>, headers: HeaderMap, body: String) -> StatusCode {
    let mut r = r.lock().unwrap();
    r.got.push((headers, body));
    let code = r.answers.pop_front().unwrap_or(200);
    StatusCode::from_u16(code).unwrap()
}

async fn start_receiver() -> (String, Shared) {
    let shared: Shared = Arc::default();
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, shared)
}

fn request(to: Person, preset: i64, idempotency_key: &str) -> SendRequest {
    SendRequest {
        idempotency_key: Some(idempotency_key.into()),
        ..world::request(to, preset)
    }
}

/// The signature a receiver computes: HMAC-SHA256 of `<timestamp>.<body>` under the secret.
fn expected_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

async fn outcomes_reach_the_webhook_signed_and_retried(db: TestDb) {
    let w = world::world(&db).await;
    let _dispatcher = Dispatcher(w.engine.start_dispatcher(fast()));
    let (url, receiver) = start_receiver().await;
    let (_, key) = w
        .engine
        .create_send_key(&admin(), w.oa.id, "订单系统", PresetScope::All, 1_000)
        .await
        .unwrap();

    // A URL that is not http(s) is refused, and nothing is set.
    match w
        .engine
        .set_send_key_webhook(&admin(), key.id, Some("ftp://orders.example.com"))
        .await
    {
        Err(Error::Refused(r)) => {
            assert_eq!(
                (r.field.as_str(), r.problem),
                ("webhook_url", Problem::UrlFormat)
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let (key, secret) = w
        .engine
        .set_send_key_webhook(&admin(), key.id, Some(&url))
        .await
        .unwrap();
    let secret = secret.expect("the signing secret, shown once");
    assert!(secret.starts_with("whsec_"));
    assert_eq!(key.webhook_url.as_deref(), Some(url.as_str()));
    let audit = w
        .engine
        .audit_recent(Some("send_key.webhook"), 10)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1, "setting a webhook is audited");
    assert!(
        !audit[0].detail.contains(&secret),
        "the secret is not in the audit log"
    );

    // A follower's message: sent, then its state reaches the webhook.
    let f = w.sim.follower_openid(0).unwrap();
    let accepted = w
        .engine
        .accept_message(
            &key,
            &request(Person::OaOpenid(f.clone()), w.preset_id, "o-1"),
            "h1",
        )
        .await
        .unwrap();
    let status = wait_outcome(&w.engine, &key, &accepted.id).await;
    assert_eq!(status.state, MessageState::Sent);
    let t0 = now_ms();
    assert_eq!(w.engine.note_webhook_events(t0, true).await.unwrap(), 1);
    assert_eq!(
        w.engine.note_webhook_events(t0, true).await.unwrap(),
        0,
        "an event is noted once"
    );

    // The receiver fails the first try: retried 10 s later, not before.
    receiver.lock().unwrap().answers.push_back(500);
    let client = webhook_client().unwrap();
    assert_eq!(w.engine.deliver_webhooks(&client, t0).await.unwrap(), 1);
    let id: i64 = accepted.id.parse().unwrap();
    let d = &w.engine.webhook_deliveries(id).await.unwrap()[0];
    assert_eq!(
        (d.state, d.attempts, d.last_status),
        (DeliveryState::Pending, 1, Some(500))
    );
    assert_eq!(d.next_try_ms, t0 + 10_000);
    assert_eq!(
        w.engine
            .deliver_webhooks(&client, t0 + 9_000)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        w.engine
            .deliver_webhooks(&client, t0 + 10_000)
            .await
            .unwrap(),
        1
    );
    let d = &w.engine.webhook_deliveries(id).await.unwrap()[0];
    assert_eq!((d.state, d.attempts), (DeliveryState::Delivered, 2));
    {
        let r = receiver.lock().unwrap();
        assert_eq!(r.got.len(), 2);
        let (headers, body) = &r.got[1];
        let ts = header(headers, "x-wxpush-timestamp");
        assert_eq!(ts, ((t0 + 10_000) / 1000).to_string());
        assert_eq!(
            header(headers, "x-wxpush-signature"),
            expected_signature(&secret, ts, body)
        );
        assert_eq!(header(headers, "x-wxpush-event"), "message.sent");
        let sent: WebhookBody = serde_json::from_str(body).unwrap();
        assert_eq!(sent.event, WebhookEvent::Sent);
        assert_eq!(sent.event_id, format!("{id}.message.sent"));
        assert_eq!(sent.message.id, accepted.id);
        assert_eq!(sent.message.msgid, status.msgid);
        assert_eq!(r.got[0].1, *body, "a retry posts the same event");
    }

    // WeChat's receipt follows as its own event.
    let msgid = status.msgid.unwrap();
    assert!(w
        .engine
        .apply_receipt(w.oa.id, msgid, Delivery::UserBlock)
        .await
        .unwrap());
    assert_eq!(
        w.engine.note_webhook_events(t0, false).await.unwrap(),
        0,
        "receipts are looked for on their own passes"
    );
    assert_eq!(w.engine.note_webhook_events(t0, true).await.unwrap(), 1);
    assert_eq!(w.engine.deliver_webhooks(&client, t0).await.unwrap(), 1);
    {
        let r = receiver.lock().unwrap();
        let receipt: WebhookBody = serde_json::from_str(&r.got[2].1).unwrap();
        assert_eq!(receipt.event, WebhookEvent::Receipt);
        assert_eq!(receipt.message.delivery, Some(Delivery::UserBlock));
    }

    // A receiver that never answers 2xx: tried with growing waits, given up after 24 hours.
    let second = w
        .engine
        .accept_message(
            &key,
            &request(Person::OaOpenid(f), w.preset_id, "o-2"),
            "h2",
        )
        .await
        .unwrap();
    wait_outcome(&w.engine, &key, &second.id).await;
    let t1 = now_ms();
    receiver.lock().unwrap().answers.extend([503; 10]);
    assert_eq!(w.engine.note_webhook_events(t1, false).await.unwrap(), 1);
    assert_eq!(w.engine.deliver_webhooks(&client, t1).await.unwrap(), 1);
    assert_eq!(
        w.engine
            .deliver_webhooks(&client, t1 + 20_000)
            .await
            .unwrap(),
        1
    );
    let id2: i64 = second.id.parse().unwrap();
    let d = &w.engine.webhook_deliveries(id2).await.unwrap()[0];
    assert_eq!(
        d.next_try_ms,
        t1 + 20_000 + 20_000,
        "the second wait is twice the first"
    );
    let day = 24 * 60 * 60 * 1000;
    assert_eq!(
        w.engine.deliver_webhooks(&client, t1 + day).await.unwrap(),
        1
    );
    let d = &w.engine.webhook_deliveries(id2).await.unwrap()[0];
    assert_eq!((d.state, d.attempts), (DeliveryState::Failed, 3));
    assert_eq!(
        w.engine
            .deliver_webhooks(&client, t1 + 2 * day)
            .await
            .unwrap(),
        0,
        "nothing is tried after giving up"
    );

    // Without a webhook, a message owes nothing.
    let (key, none) = w
        .engine
        .set_send_key_webhook(&admin(), key.id, None)
        .await
        .unwrap();
    assert!(none.is_none() && key.webhook_url.is_none());
    let third = w
        .engine
        .accept_message(
            &key,
            &request(
                Person::OaOpenid(w.sim.follower_openid(1).unwrap()),
                w.preset_id,
                "o-3",
            ),
            "h3",
        )
        .await
        .unwrap();
    wait_outcome(&w.engine, &key, &third.id).await;
    assert_eq!(
        w.engine.note_webhook_events(now_ms(), true).await.unwrap(),
        0
    );
    assert!(w
        .engine
        .webhook_deliveries(third.id.parse().unwrap())
        .await
        .unwrap()
        .is_empty());

    // A revoked key gets no new webhook.
    w.engine.revoke_send_key(&admin(), key.id).await.unwrap();
    match w
        .engine
        .set_send_key_webhook(&admin(), key.id, Some(&url))
        .await
    {
        Err(Error::Refused(r)) => assert_eq!(r.problem, Problem::KeyRevoked),
        other => panic!("expected a refusal, got {other:?}"),
    }
}
on_both_databases!(outcomes_reach_the_webhook_signed_and_retried);

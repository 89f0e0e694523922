//! The send API through the real binary, on SQLite and PostgreSQL: a key from `wxpush apikey
//! add`, one person's message accepted (202), sent once and read back; idempotent replays, a
//! conflicting body, each refusal with its status, code and field; batches; the key's rate
//! (429), the body limit (413), a revoked key (401); and a kill -9 mid-send.

mod common;

use common::{add_user, apikey, login, prepare_template_job, start_sim, wait_for, Server, TestDb};
use engine::on_both_databases;
use reqwest::StatusCode;
use serde_json::{json, Value};

const ADMIN_PW: &str = "admin-password-1";

struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    async fn post(&self, key: &str, body: &Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}/api/v1/messages", self.url))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, key: &str, id: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}/api/v1/messages/{id}", self.url))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

async fn business_systems_send_through_the_api(db: TestDb) {
    let sim = start_sim(40, 0).await;
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);
    let client = server.client();
    login(&client, &server, "admin", ADMIN_PW).await;
    let preset = prepare_template_job(&client, &server, &sim).await;
    let appid = sim.config().oa_appid.clone();
    let key = apikey(&db, &["add", "--account", &appid, "--name", "订单系统"]);
    assert!(key.starts_with("wxs_"), "the key alone on stdout: {key}");
    let listed = apikey(&db, &["list", "--account", &appid]);
    assert!(
        listed.contains("订单系统") && !listed.contains(&key[12..]),
        "{listed}"
    );
    let api = Api {
        http: reqwest::Client::new(),
        url: server.base.clone(),
    };
    let openid = sim.follower_openid(3).unwrap();

    // Accepted, then sent once, with the order's own value.
    let body = json!({
        "to": { "oa_openid": openid },
        "preset": preset,
        "values": { "character_string2": "A1023" },
        "idempotency_key": "order-A1023-shipped",
    });
    let (status, accepted) = api.post(&key, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["state"], "queued");
    assert_eq!(accepted["channel"], "template");
    assert_eq!(accepted["oa_openid"], openid.as_str());
    let id = accepted["id"].as_str().unwrap().to_owned();
    let mut last = Value::Null;
    wait_for("the message to be sent", 30, async || {
        last = api.get(&key, &id).await.1;
        last["state"] == "sent"
    })
    .await;
    assert!(last["msgid"].is_i64(), "{last}");
    assert_eq!(last["to"], json!({ "oa_openid": openid }));
    let sent = sim.messages(10, Some(openid.as_str()));
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].payload["data"]["character_string2"]["value"],
        "A1023"
    );

    // The same request again: the same message, nothing sent; another body: 409.
    let (status, replay) = api.post(&key, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        (replay["id"].as_str(), &replay["replayed"]),
        (Some(id.as_str()), &json!(true))
    );
    assert_eq!(replay["state"], "sent");
    let mut other = body.clone();
    other["values"]["character_string2"] = json!("A1024");
    let (status, conflict) = api.post(&key, &other).await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["error"]["code"], "idempotency_conflict");
    // The header says the same as the field.
    let r = api
        .http
        .post(format!("{}/api/v1/messages", api.url))
        .bearer_auth(&key)
        .header("Idempotency-Key", "order-A1023-shipped")
        .json(&json!({ "to": { "oa_openid": openid }, "preset": preset,
                       "values": { "character_string2": "A1023" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "another body under the same key"
    );
    assert_eq!(sim.messages(10, Some(openid.as_str())).len(), 1);

    // Refusals: status, code and field; nothing queued.
    let long = "长".repeat(21);
    for (body, status, code, field) in [
        (
            json!({ "to": { "oa_openid": openid }, "preset": preset, "values": { "thing1": long } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "value",
            "values.thing1",
        ),
        (
            json!({ "to": { "unionid": "oNobodyKnowsThisUnionid00" }, "preset": preset }),
            StatusCode::NOT_FOUND,
            "unknown_person",
            "to",
        ),
        (
            json!({ "to": { "email": "a@b.c" }, "preset": preset }),
            StatusCode::BAD_REQUEST,
            "malformed",
            "to",
        ),
        (
            json!({ "to": { "oa_openid": openid }, "preset": "twelve" }),
            StatusCode::BAD_REQUEST,
            "malformed",
            "preset",
        ),
        (
            json!({ "to": { "oa_openid": openid } }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
            "preset",
        ),
    ] {
        let (got, answer) = api.post(&key, &body).await;
        assert_eq!(got, status, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
        assert!(answer["error"]["message_zh"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(answer["error"]["message_en"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let (_, answer) = api
        .post(
            &key,
            &json!({ "to": { "oa_openid": openid }, "preset": preset,
                              "values": { "thing1": "长".repeat(21) } }),
        )
        .await;
    assert_eq!(
        answer["error"]["message_zh"],
        "values.thing1：最多 20 个字符"
    );
    let huge = json!({ "to": { "oa_openid": openid }, "preset": preset,
                       "values": { "thing1": "x".repeat(70 * 1024) } });
    assert_eq!(api.post(&key, &huge).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(sim.messages(10, Some(openid.as_str())).len(), 1);

    // A batch: each message its own answer, in order; the first request's replay included.
    let other_openid = sim.follower_openid(4).unwrap();
    let r = api
        .http
        .post(format!("{}/api/v1/messages/batch", api.url))
        .bearer_auth(&key)
        .json(&json!({ "messages": [
            { "to": { "oa_openid": other_openid }, "preset": preset, "idempotency_key": "b-1" },
            { "to": { "oa_openid": other_openid }, "preset": preset, "values": { "thing1": long } },
            body,
            { "to": { "phone": "1" }, "preset": preset },
        ]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let results: Value = r.json().await.unwrap();
    let statuses: Vec<i64> = results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [202, 422, 202, 400], "{results}");
    assert_eq!(results["results"][1]["error"]["field"], "values.thing1");
    assert_eq!(results["results"][2]["message"]["id"], id.as_str());
    assert_eq!(results["results"][2]["message"]["replayed"], true);
    let batch_id = results["results"][0]["message"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for("the batch's message to be sent", 30, async || {
        api.get(&key, &batch_id).await.1["state"] == "sent"
    })
    .await;
    assert_eq!(sim.messages(10, Some(other_openid.as_str())).len(), 1);
    assert_eq!(
        sim.messages(10, Some(openid.as_str())).len(),
        1,
        "the replay sent nothing"
    );

    // Another key's message is not found with this one; a key's rate is its own.
    let slow = apikey(
        &db,
        &[
            "add",
            "--account",
            &appid,
            "--name",
            "慢系统",
            "--rate",
            "1",
        ],
    );
    assert_eq!(api.get(&slow, &id).await.0, StatusCode::NOT_FOUND);
    let tries = (0..20).map(|i| {
        let api = &api;
        let slow = &slow;
        let openid = &openid;
        async move {
            let body = json!({ "to": { "oa_openid": openid }, "preset": preset,
                               "idempotency_key": format!("slow-{i}") });
            api.http
                .post(format!("{}/api/v1/messages", api.url))
                .bearer_auth(slow)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    });
    let answers = futures::future::join_all(tries).await;
    let limited: Vec<_> = answers
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    // One a second with a burst of one: 20 requests at once cannot all pass.
    assert!(limited.len() >= 15, "{} of 20 limited", limited.len());
    assert!(limited
        .iter()
        .all(|r| r.headers().contains_key("retry-after")));

    // Keys: none, a wrong one, a revoked one.
    let r = api
        .http
        .post(format!("{}/api/v1/messages", api.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (status, answer) = api.post("wxs_0000", &body).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_key"))
    );
    let list = apikey(&db, &["list"]);
    let key_id = list
        .lines()
        .find(|l| l.contains("订单系统"))
        .and_then(|l| l.split('\t').next())
        .unwrap()
        .to_owned();
    apikey(&db, &["revoke", &key_id]);
    let (status, answer) = api.post(&key, &body).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("key_revoked"))
    );
    assert!(apikey(&db, &["list"]).contains("revoked"));
}
on_both_databases!(business_systems_send_through_the_api);

/// kill -9 while 10,000 accepted messages are being sent, start again: every message answered 202 is
/// sent exactly once, none lost; the same requests again send nothing.
async fn killed_while_sending_then_restarted_sends_each_once(db: TestDb) {
    const PEOPLE: u32 = 10_000;
    let sim = start_sim(PEOPLE, 0).await;
    add_user(&db, "admin", "admin", ADMIN_PW);
    let env = [("WXPUSH_DISPATCH_LEASE_SECS", "2")];
    let server = Server::start_with(&db, &env);
    let client = server.client();
    login(&client, &server, "admin", ADMIN_PW).await;
    let preset = prepare_template_job(&client, &server, &sim).await;
    let key = apikey(
        &db,
        &[
            "add",
            "--account",
            &sim.config().oa_appid,
            "--name",
            "订单系统",
            "--rate",
            "10000",
        ],
    );
    let people: Vec<String> = (0..PEOPLE).filter_map(|i| sim.follower_openid(i)).collect();
    let batches: Vec<Value> = people
        .chunks(600)
        .map(|chunk| {
            json!({ "messages": chunk.iter().map(|openid| json!({
                "to": { "oa_openid": openid },
                "preset": preset,
                "values": { "character_string2": format!("A{}", &openid[openid.len() - 6..]) },
                "idempotency_key": format!("order-{openid}"),
            })).collect::<Vec<_>>() })
        })
        .collect();
    let post_batches = async |base: &str| {
        let http = reqwest::Client::new();
        let mut accepted = Vec::new();
        for batch in &batches {
            let r = http
                .post(format!("{base}/api/v1/messages/batch"))
                .bearer_auth(&key)
                .json(batch)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let v: Value = r.json().await.unwrap();
            for a in v["results"].as_array().unwrap() {
                assert_eq!(a["status"], 202, "{a}");
                accepted.push(a["message"].clone());
            }
        }
        accepted
    };
    // Slow answers while the messages are accepted and the process is killed (64 sends in
    // flight, 1.5 s each: about 40 a second), so the kill lands in the middle.
    let latency = |ms: u64| {
        sim.state()
            .set_faults(wechat_sim::FaultConfig {
                latency_ms: ms,
                ..sim.state().faults()
            })
            .unwrap()
    };
    latency(1_500);
    let accepted = post_batches(&server.base).await;
    assert_eq!(accepted.len(), people.len());
    wait_for("some sends", 30, async || {
        sim.state().ledger_summary().accepted > 100
    })
    .await;
    drop(server); // SIGKILL: in-flight sends are cut off, rows stay "sending".
    let before = sim.state().ledger_summary();
    assert!(
        before.accepted < people.len() as u64,
        "killed before the end"
    );

    latency(10);
    let server = Server::start_with(&db, &env);
    wait_for("every accepted message to be sent", 90, async || {
        sim.state().ledger_summary().accepted >= people.len() as u64
    })
    .await;
    // The same requests again: the same messages, nothing more sent.
    let again = post_batches(&server.base).await;
    for (first, replay) in accepted.iter().zip(&again) {
        assert_eq!(first["id"], replay["id"]);
        assert_eq!(replay["replayed"], true);
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let ledger = sim.state().ledger_summary();
    assert_eq!(
        ledger.accepted,
        people.len() as u64,
        "none twice, none lost"
    );
    assert_eq!(
        ledger.distinct_recipients,
        people.len() as u64,
        "none missing"
    );
    assert_eq!(ledger.duplicates_delivered, 0, "none twice");
    assert_eq!(ledger.max_received, 1, "nobody received two messages");
    let last = accepted.last().unwrap()["id"].as_str().unwrap().to_owned();
    let r = reqwest::Client::new()
        .get(server.url(&format!("/api/v1/messages/{last}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let status: Value = r.json().await.unwrap();
    assert_eq!(status["state"], "sent", "{status}");
}
on_both_databases!(killed_while_sending_then_restarted_sends_each_once);

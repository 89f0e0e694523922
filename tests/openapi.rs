//! The send API's OpenAPI document (`GET /api/v1/openapi.json`) through the real binary: public,
//! OpenAPI 3.1, the three operations with their statuses, the bearer scheme, the enums' real
//! words — and every real answer (202, 200, each refusal, a batch's entries) and request valid
//! against the document's schemas, with no property the document does not name.

mod common;

use boon::{Compiler, Schemas};
use common::{
    add_user, apikey, call, json_ok, login, prepare_template_job, start_sim, wait_for, Server,
    TestDb,
};
use engine::on_both_databases;
use model::send_api::MessageState;
use model::{Channel, Delivery, RowChannel};
use reqwest::StatusCode;
use serde_json::{json, Value};

const ADMIN_PW: &str = "admin-password-1";
const DOC_URL: &str = "https://wxpush.test/openapi.json";

/// The document, compiled for validation.
struct Spec {
    doc: Value,
    compiler: Compiler,
    schemas: Schemas,
}

/// `/api/v1/messages/{id}` as a JSON pointer token.
fn token(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

impl Spec {
    /// The served document, made strict for the test: an answer's object may carry only the
    /// properties the document names.
    fn new(doc: Value) -> Spec {
        let mut strict = doc.clone();
        let schemas = &mut strict["components"]["schemas"];
        for pointer in [
            "/Accepted",
            "/MessageStatus",
            "/BatchAnswer",
            "/ErrorAnswer",
            "/ErrorDetail/allOf/1",
            "/BatchEntry/oneOf/0",
            "/BatchEntry/oneOf/1",
        ] {
            let schema = schemas
                .pointer_mut(pointer)
                .unwrap_or_else(|| panic!("no schema {pointer}"));
            assert!(schema.get("properties").is_some(), "{pointer}: {schema}");
            schema["additionalProperties"] = json!(false);
        }
        let mut compiler = Compiler::new();
        compiler.add_resource(DOC_URL, strict).unwrap();
        Spec {
            doc,
            compiler,
            schemas: Schemas::new(),
        }
    }

    /// Checks `value` against the schema at `pointer` in the document.
    fn validate(&mut self, pointer: &str, value: &Value, what: &str) {
        assert!(
            self.doc.pointer(pointer).is_some(),
            "{what}: the document has nothing at {pointer}"
        );
        let index = self
            .compiler
            .compile(&format!("{DOC_URL}#{pointer}"), &mut self.schemas)
            .unwrap_or_else(|e| panic!("{what}: {e:#}"));
        if let Err(e) = self.schemas.validate(value, index) {
            panic!("{what}: {value}\nis not as documented: {e:#}");
        }
    }

    /// Whether `value` is valid against the schema at `pointer`.
    fn accepts(&mut self, pointer: &str, value: &Value) -> bool {
        let index = self
            .compiler
            .compile(&format!("{DOC_URL}#{pointer}"), &mut self.schemas)
            .unwrap_or_else(|e| panic!("{pointer}: {e:#}"));
        self.schemas.validate(value, index).is_ok()
    }

    /// Checks a real answer against the document's schema for its operation and status.
    fn answer(&mut self, method: &str, path: &str, status: StatusCode, body: &Value) {
        let pointer = format!(
            "/paths/{}/{method}/responses/{}/content/application~1json/schema",
            token(path),
            status.as_u16()
        );
        self.validate(&pointer, body, &format!("{method} {path} → {status}"));
    }

    /// Checks a request body against the document's schema for its operation.
    fn request(&mut self, method: &str, path: &str, body: &Value) {
        let pointer = format!(
            "/paths/{}/{method}/requestBody/content/application~1json/schema",
            token(path)
        );
        self.validate(&pointer, body, &format!("{method} {path} request"));
    }
}

/// The `enum` words of a component schema.
fn words(doc: &Value, name: &str) -> Vec<String> {
    doc["components"]["schemas"][name]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{name} is no enum"))
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect()
}

/// What the document says without the server doing anything.
fn check_the_document(doc: &Value) {
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let operations = [
        (
            "/api/v1/messages",
            "post",
            &[202, 400, 401, 403, 404, 409, 413, 422, 429, 500][..],
        ),
        (
            "/api/v1/messages/batch",
            "post",
            &[200, 400, 401, 413, 422, 500][..],
        ),
        ("/api/v1/messages/{id}", "get", &[200, 401, 404, 500][..]),
    ];
    assert_eq!(doc["paths"].as_object().unwrap().len(), operations.len());
    for (path, method, statuses) in operations {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let documented: Vec<u16> = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(documented, statuses, "{method} {path}");
        assert_eq!(
            op["security"],
            json!([{ "send_key": [] }]),
            "{method} {path}"
        );
        for (status, response) in op["responses"].as_object().unwrap() {
            let schema = &response["content"]["application/json"]["schema"]["$ref"];
            if !status.starts_with('2') {
                assert_eq!(
                    schema, "#/components/schemas/ErrorAnswer",
                    "{path} {status}"
                );
            }
        }
    }
    let send = &doc["paths"]["/api/v1/messages"]["post"];
    assert_eq!(send["parameters"][0]["name"], "Idempotency-Key");
    assert_eq!(send["parameters"][0]["in"], "header");
    assert!(send["responses"]["429"]["headers"]["Retry-After"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["send_key"],
        json!({ "type": "http", "scheme": "bearer", "bearerFormat": "wxs_…",
                "description": "A send key from `wxpush apikey add` or 设置 › 发送接口密钥" })
    );
    // The words the JSON carries, as serde writes them.
    let person: Vec<&Value> = doc["components"]["schemas"]["Person"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["required"][0])
        .collect();
    assert_eq!(
        person,
        [&json!("unionid"), &json!("mp_openid"), &json!("oa_openid")]
    );
    let all = |s: &[&str]| s.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
    let states: Vec<&str> = MessageState::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(words(doc, "MessageState"), all(&states));
    let channels: Vec<&str> = Channel::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(words(doc, "Channel"), all(&channels));
    let rows: Vec<&str> = RowChannel::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(words(doc, "RowChannel"), all(&rows));
    let deliveries: Vec<&str> = Delivery::ALL.iter().map(|d| d.as_str()).collect();
    assert_eq!(words(doc, "Delivery"), all(&deliveries));
}

struct Api {
    http: reqwest::Client,
    url: String,
    spec: Spec,
}

impl Api {
    /// `POST path` with `key` (none: no `Authorization`) and `headers`; the answer, checked
    /// against the document's schema for its status.
    async fn post(
        &mut self,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.post(format!("{}{path}", self.url)).json(body);
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let r = req.send().await.unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        let answer: Value = r.json().await.unwrap();
        self.spec.answer("post", path, status, &answer);
        (status, answer, headers)
    }

    async fn send(&mut self, key: &str, body: &Value) -> (StatusCode, Value) {
        let (status, answer, _) = self.post("/api/v1/messages", Some(key), &[], body).await;
        (status, answer)
    }

    async fn get(&mut self, key: Option<&str>, id: &str) -> (StatusCode, Value) {
        let mut req = self.http.get(format!("{}/api/v1/messages/{id}", self.url));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        let answer: Value = r.json().await.unwrap();
        self.spec
            .answer("get", "/api/v1/messages/{id}", status, &answer);
        (status, answer)
    }
}

async fn the_document_describes_the_real_api(db: TestDb) {
    let sim = start_sim(10, 0).await;
    add_user(&db, "admin", "admin", ADMIN_PW);
    let server = Server::start(&db);

    // Public, like a spec: no key, no session.
    let r = reqwest::get(server.url("/api/v1/openapi.json"))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc: Value = r.json().await.unwrap();
    check_the_document(&doc);
    assert_eq!(doc["servers"][0]["url"], server.base.as_str());

    let client = server.client();
    login(&client, &server, "admin", ADMIN_PW).await;
    let preset = prepare_template_job(&client, &server, &sim).await;
    let appid = sim.config().oa_appid.clone();
    let key = apikey(&db, &["add", "--account", &appid, "--name", "订单系统"]);
    // A key for a copy of the preset only: the preset itself is 403 to it.
    let copy = json_ok(
        call(
            &client,
            &server,
            "duplicate_preset",
            &[("id", &preset.to_string())],
        )
        .await,
    )
    .await;
    let scoped = apikey(
        &db,
        &[
            "add",
            "--account",
            &appid,
            "--name",
            "只发副本",
            "--presets",
            &copy.to_string(),
        ],
    );
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
    // A connection each: the server answers a body over its limit without reading it, and
    // closes that connection.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let mut api = Api {
        http,
        url: server.base.clone(),
        spec: Spec::new(doc),
    };
    // The checks below can fail: a code the API does not have, a property the document does
    // not name, a state by another word are all refused.
    let error = "/components/schemas/ErrorAnswer";
    let refusal = |code: &str| {
        json!({ "error": { "code": code, "params": null, "field": null,
                           "message_zh": "…", "message_en": "…" } })
    };
    assert!(api.spec.accepts(error, &refusal("missing_key")));
    assert!(api.spec.accepts(error, &refusal("unknown_person")));
    assert!(!api.spec.accepts(error, &refusal("no_such_code")));
    let mut extra = refusal("missing_key");
    extra["error"]["hint"] = json!("x");
    assert!(!api.spec.accepts(error, &extra));
    let accepted =
        json!({ "id": "1", "state": "queued", "channel": "template", "replayed": false });
    let accepted_at = "/components/schemas/Accepted";
    assert!(api.spec.accepts(accepted_at, &accepted));
    let mut renamed = accepted.clone();
    renamed["state"] = json!("Queued");
    assert!(!api.spec.accepts(accepted_at, &renamed));
    let mut extra = accepted.clone();
    extra["queue"] = json!(1);
    assert!(!api.spec.accepts(accepted_at, &extra));

    let openid = sim.follower_openid(3).unwrap();
    let other = sim.follower_openid(4).unwrap();

    // 202, then the same again, then another body under the same idempotency key (409).
    let body = json!({
        "to": { "oa_openid": openid },
        "preset": preset,
        "channel": "template",
        "values": { "character_string2": "A1023" },
        "url": "https://shop.example.com/orders/A1023",
        "idempotency_key": "order-A1023-shipped",
    });
    api.spec.request("post", "/api/v1/messages", &body);
    let (status, accepted) = api.send(&key, &body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_owned();
    assert_eq!(api.send(&key, &body).await.0, StatusCode::ACCEPTED);
    let mut conflict = body.clone();
    conflict["values"]["character_string2"] = json!("A1024");
    assert_eq!(api.send(&key, &conflict).await.0, StatusCode::CONFLICT);

    // Each refusal the API answers a single message with, as the document says.
    let long = "长".repeat(21);
    for (body, expected, code) in [
        (
            json!({ "to": { "oa_openid": openid }, "preset": preset,
                 "values": { "thing1": long } }),
            422,
            "value",
        ),
        (
            json!({ "to": { "oa_openid": openid }, "preset": preset,
                 "values": { "nothing9": "x" } }),
            422,
            "not_a_template_field",
        ),
        (json!({ "to": { "oa_openid": openid } }), 422, "required"),
        (
            json!({ "to": { "unionid": "oNobodyKnowsThisUnionid00" }, "preset": preset }),
            404,
            "unknown_person",
        ),
        (
            json!({ "to": { "email": "a@b.c" }, "preset": preset }),
            400,
            "malformed",
        ),
        (
            json!({ "to": { "oa_openid": openid }, "preset": preset,
                 "values": { "thing1": "x".repeat(70 * 1024) } }),
            413,
            "too_large",
        ),
    ] {
        let (status, answer) = api.send(&key, &body).await;
        assert_eq!(status.as_u16(), expected, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
    }
    let (status, answer) = api
        .send(
            &scoped,
            &json!({ "to": { "oa_openid": openid }, "preset": preset }),
        )
        .await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("preset_not_allowed"))
    );
    let value = api
        .send(
            &key,
            &json!({ "to": { "oa_openid": openid }, "preset": preset,
                     "values": { "thing1": long } }),
        )
        .await
        .1;
    assert_eq!(value["error"]["params"], json!({ "TooLong": 20 }));
    // The header and the body disagreeing on the idempotency key.
    let (status, answer, _) = api
        .post(
            "/api/v1/messages",
            Some(&key),
            &[("Idempotency-Key", "another")],
            &body,
        )
        .await;
    assert_eq!(
        (status, &answer["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("idempotency_key"))
    );
    // Keys: none, a wrong one; over a key's rate (with Retry-After).
    let (status, answer, _) = api.post("/api/v1/messages", None, &[], &body).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (StatusCode::UNAUTHORIZED, &json!("missing_key"))
    );
    assert_eq!(
        api.send("wxs_0000", &body).await.0,
        StatusCode::UNAUTHORIZED
    );
    let mut limited = None;
    for i in 0..5 {
        let body = json!({ "to": { "oa_openid": other }, "preset": preset,
                           "idempotency_key": format!("slow-{i}") });
        let (status, _, headers) = api.post("/api/v1/messages", Some(&slow), &[], &body).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(headers);
            break;
        }
    }
    let limited = limited.expect("a 429 within 5 requests at 1 a second");
    assert!(limited.contains_key("retry-after"));

    // Batches: the request and each kind of entry, then the refusals of a whole batch.
    let batch = json!({ "messages": [
        { "to": { "oa_openid": other }, "preset": preset, "idempotency_key": "b-1" },
        { "to": { "oa_openid": other }, "preset": preset, "values": { "thing1": long } },
        { "to": { "phone": "1" }, "preset": preset },
    ]});
    let (status, answer, _) = api
        .post("/api/v1/messages/batch", Some(&key), &[], &batch)
        .await;
    assert_eq!(status, StatusCode::OK);
    let statuses: Vec<&Value> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["status"])
        .collect();
    assert_eq!(
        statuses,
        [&json!(202), &json!(422), &json!(400)],
        "{answer}"
    );
    let two = json!({ "messages": [
        { "to": { "oa_openid": other }, "preset": preset, "idempotency_key": "slow-b-1" },
        { "to": { "oa_openid": other }, "preset": preset, "idempotency_key": "slow-b-2" },
    ]});
    let (_, answer, _) = api
        .post("/api/v1/messages/batch", Some(&slow), &[], &two)
        .await;
    assert_eq!(answer["results"][1]["status"], 429, "{answer}");
    assert!(answer["results"][1]["retry_after"].is_u64(), "{answer}");
    // (The document's own request schema reads the same messages the server takes.)
    let mut first = batch.clone();
    first["messages"].as_array_mut().unwrap().truncate(2);
    api.spec.request("post", "/api/v1/messages/batch", &first);
    let empty = json!({ "messages": [] });
    assert_eq!(
        api.post("/api/v1/messages/batch", Some(&key), &[], &empty)
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let wrong = json!({ "message": [] });
    assert_eq!(
        api.post("/api/v1/messages/batch", Some(&key), &[], &wrong)
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    // A batch has its own limit, 4 MiB, not the server's 1 MiB (then each message its 64 KiB).
    let big = json!({ "messages": ["x".repeat(2 * 1024 * 1024)] });
    let (status, answer, _) = api
        .post("/api/v1/messages/batch", Some(&key), &[], &big)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["results"][0]["status"], 400, "{answer}");
    let huge = json!({ "messages": ["x".repeat(5 * 1024 * 1024)] });
    assert_eq!(
        api.post("/api/v1/messages/batch", Some(&key), &[], &huge)
            .await
            .0,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // The message's status once sent; one that is not this key's; no key.
    wait_for("the message to be sent", 30, async || {
        let (_, status) = api.get(Some(&key), &id).await;
        status["state"] == "sent"
    })
    .await;
    assert_eq!(api.get(Some(&slow), &id).await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.get(None, &id).await.0, StatusCode::UNAUTHORIZED);
}
on_both_databases!(the_document_describes_the_real_api);

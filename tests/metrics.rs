//! `/metrics`: off without `WXPUSH_METRICS_TOKEN`, refused without its bearer token, and a scrape
//! after a follower sync and send jobs shows what happened: sends by result and errcode, WeChat
//! latency by endpoint, the token refresh, the queue, the jobs and the sync.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{
    add_user, create_template_job, job_progress, login, prepare_template_job, start_sim, wait_for,
    Server, TestDb,
};
use engine::on_both_databases;
use reqwest::StatusCode;

const ADMIN_PW: &str = "admin-password-1";
const TOKEN: &str = "metrics-test-token-0123456789abcdef";
const FOLLOWERS: u32 = 200;

/// A parsed scrape: every sample with its labels, after checking the text's structure.
struct Scrape {
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    /// Parses the text format 0.0.4; panics (failing the test) on anything malformed: a sample
    /// before its family's `# TYPE`, a family announced twice, a bad name or label, a bad value.
    fn parse(text: &str) -> Scrape {
        let mut types: BTreeMap<String, String> = BTreeMap::new();
        let mut helped = BTreeSet::new();
        let mut samples = Vec::new();
        let valid_name = |n: &str| {
            !n.is_empty()
                && !n.starts_with(|c: char| c.is_ascii_digit())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
        };
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap();
                assert!(helped.insert(name.to_owned()), "HELP twice: {line}");
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(
                    ["counter", "gauge", "histogram"].contains(&kind),
                    "type: {line}"
                );
                assert!(helped.contains(name), "TYPE before HELP: {line}");
                assert!(
                    types.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "TYPE twice: {line}"
                );
                continue;
            }
            assert!(!line.is_empty() && !line.starts_with('#'), "line: {line:?}");
            let name_end = line.find(['{', ' ']).unwrap();
            let name = &line[..name_end];
            assert!(valid_name(name), "name: {line}");
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .filter_map(|s| name.strip_suffix(s))
                .find(|f| types.get(*f).is_some_and(|k| k == "histogram"))
                .unwrap_or(name);
            assert!(types.contains_key(family), "sample before its TYPE: {line}");
            let mut labels = BTreeMap::new();
            let mut rest = &line[name_end..];
            if let Some(inner) = rest.strip_prefix('{') {
                let mut chars = inner.char_indices();
                loop {
                    let (start, _) = chars.next().unwrap();
                    let eq = inner[start..].find('=').unwrap() + start;
                    let key = &inner[start..eq];
                    assert!(valid_name(key), "label name: {line}");
                    while chars.next().unwrap().0 < eq {}
                    assert_eq!(chars.next().unwrap().1, '"', "label value: {line}");
                    let mut value = String::new();
                    loop {
                        match chars.next().unwrap().1 {
                            '\\' => match chars.next().unwrap().1 {
                                'n' => value.push('\n'),
                                c @ ('\\' | '"') => value.push(c),
                                c => panic!("escape \\{c}: {line}"),
                            },
                            '"' => break,
                            '\n' => panic!("raw line feed: {line}"),
                            c => value.push(c),
                        }
                    }
                    assert!(labels.insert(key.to_owned(), value).is_none(), "{line}");
                    match chars.next().unwrap() {
                        (_, ',') => continue,
                        (i, '}') => {
                            rest = &inner[i + 1..];
                            break;
                        }
                        (_, c) => panic!("after a label {c:?}: {line}"),
                    }
                }
            }
            let value = rest.strip_prefix(' ').unwrap();
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value: {line}"));
            samples.push((name.to_owned(), labels, value));
        }
        Scrape { samples }
    }

    /// The sum of `name`'s samples carrying all of `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| *v)
            .sum()
    }
}

async fn scrape(server: &Server) -> Scrape {
    let r = reqwest::Client::new()
        .get(server.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    Scrape::parse(&r.text().await.unwrap())
}

async fn job_state(client: &reqwest::Client, server: &Server, job: &str) -> String {
    job_progress(client, server, job).await["job"]["state"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn metrics_show_sends_latency_tokens_queue_and_sync(db: TestDb) {
    let sim = start_sim(FOLLOWERS, 0).await;
    let appid = sim.config().oa_appid.clone();
    add_user(&db, "admin", "admin", ADMIN_PW);

    // Off unless the variable is set, and it says which one.
    let server = Server::start(&db);
    let r = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.unwrap().contains("WXPUSH_METRICS_TOKEN"));
    server.stop();

    let server = Server::start_with(&db, &[("WXPUSH_METRICS_TOKEN", TOKEN)]);
    let anonymous = reqwest::Client::new();
    for request in [
        anonymous.get(server.url("/metrics")),
        anonymous
            .get(server.url("/metrics"))
            .bearer_auth("metrics-test-token-0123456789abcdeX"),
        anonymous
            .get(server.url("/metrics"))
            .basic_auth("admin", Some(TOKEN)),
    ] {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert!(r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"));
        assert!(!r.text().await.unwrap().contains("wxpush_"), "no metrics");
    }
    // A fresh process: nothing sent, nothing queued.
    let m = scrape(&server).await;
    assert_eq!(m.get("wxpush_build_info", &[]), 1.0);
    assert!(m.get("wxpush_process_start_time_seconds", &[]) > 1.6e9);
    assert_eq!(m.get("wxpush_sends_total", &[]), 0.0);
    assert_eq!(m.get("wxpush_jobs", &[("state", "running")]), 0.0);

    let client = server.client();
    login(&client, &server, "admin", ADMIN_PW).await;
    let preset = prepare_template_job(&client, &server, &sim).await;

    let m = scrape(&server).await;
    let acct = [("appid", appid.as_str())];
    assert_eq!(m.get("wxpush_follower_sync_running", &acct), 0.0);
    assert_eq!(
        m.get("wxpush_follower_sync_total", &acct),
        f64::from(FOLLOWERS)
    );
    assert_eq!(
        m.get("wxpush_follower_sync_fetched", &acct),
        f64::from(FOLLOWERS)
    );
    let user_get = [("endpoint", "user_get")];
    assert!(m.get("wxpush_wechat_request_duration_seconds_count", &user_get) >= 1.0);
    assert!(
        m.get(
            "wxpush_wechat_requests_total",
            &[("endpoint", "user_get"), ("outcome", "ok")]
        ) >= 1.0
    );

    // A job to every follower, to the end.
    let job = create_template_job(&client, &server, preset, "指标测试", 1_000).await;
    wait_for("the job to finish", 60, async || {
        job_state(&client, &server, &job).await == "done"
    })
    .await;
    let p = job_progress(&client, &server, &job).await;
    let sent = p["sent"].as_i64().unwrap();
    assert_eq!(sent, i64::from(FOLLOWERS), "{p}");

    let m = scrape(&server).await;
    let ok = [
        ("channel", "template"),
        ("result", "sent"),
        ("errcode", "0"),
    ];
    assert_eq!(m.get("wxpush_sends_total", &ok), sent as f64);
    assert_eq!(
        m.get("wxpush_sends_total", &[]),
        sent as f64,
        "nothing else"
    );
    let send = [("endpoint", "template_send")];
    let calls = m.get("wxpush_wechat_request_duration_seconds_count", &send);
    assert!(calls >= sent as f64, "{calls} template_send calls");
    assert_eq!(
        m.get(
            "wxpush_wechat_request_duration_seconds_bucket",
            &[("endpoint", "template_send"), ("le", "+Inf")]
        ),
        calls
    );
    assert!(m.get("wxpush_wechat_request_duration_seconds_sum", &send) > 0.0);
    assert_eq!(
        m.get(
            "wxpush_token_refreshes_total",
            &[("appid", &appid), ("result", "ok")]
        ),
        1.0,
        "one token for the sync, the templates and the job"
    );
    assert_eq!(m.get("wxpush_token_refreshes_recorded", &acct), 1.0);
    assert_eq!(m.get("wxpush_queue_depth", &[("state", "pending")]), 0.0);
    assert_eq!(m.get("wxpush_queue_depth", &[("state", "sending")]), 0.0);
    assert_eq!(m.get("wxpush_jobs", &[("state", "done")]), 1.0);
    assert_eq!(m.get("wxpush_dispatch_in_flight", &[]), 0.0);

    // WeChat refuses every recipient (43004, not following): failures counted by errcode.
    sim.state()
        .set_faults(wechat_sim::FaultConfig {
            errors: [(43004, 1.0)].into(),
            ..wechat_sim::FaultConfig::default()
        })
        .unwrap();
    let refused = create_template_job(&client, &server, preset, "全部拒收", 1_000).await;
    wait_for("the refused job to finish", 60, async || {
        job_state(&client, &server, &refused).await == "done"
    })
    .await;
    let failed = job_progress(&client, &server, &refused).await["failed"]
        .as_i64()
        .unwrap();
    assert_eq!(failed, i64::from(FOLLOWERS));
    let m = scrape(&server).await;
    let by_43004 = [
        ("channel", "template"),
        ("result", "failed"),
        ("errcode", "43004"),
    ];
    assert_eq!(m.get("wxpush_sends_total", &by_43004), failed as f64);
    assert!(
        m.get(
            "wxpush_wechat_requests_total",
            &[("endpoint", "template_send"), ("outcome", "errcode")]
        ) >= failed as f64
    );

    // A value WeChat refuses (47003) pauses the job: its recipients wait, pending.
    sim.state()
        .set_faults(wechat_sim::FaultConfig {
            errors: [(47003, 1.0)].into(),
            ..wechat_sim::FaultConfig::default()
        })
        .unwrap();
    let paused = create_template_job(&client, &server, preset, "内容被拒", 50).await;
    wait_for("the job to pause", 60, async || {
        job_state(&client, &server, &paused).await == "paused"
    })
    .await;
    let mut m = scrape(&server).await;
    wait_for("its recipients back in the queue", 30, async || {
        m = scrape(&server).await;
        m.get("wxpush_queue_depth", &[("state", "sending")]) == 0.0
    })
    .await;
    assert_eq!(
        m.get("wxpush_queue_depth", &[("state", "pending")]),
        f64::from(FOLLOWERS)
    );
    assert_eq!(m.get("wxpush_jobs", &[("state", "paused")]), 1.0);
    assert_eq!(m.get("wxpush_jobs", &[("state", "done")]), 2.0);
    assert!(
        m.get(
            "wxpush_sends_total",
            &[("result", "retry"), ("errcode", "47003")]
        ) >= 1.0
    );
    assert_eq!(
        m.get("wxpush_sends_total", &ok),
        sent as f64,
        "no more sent"
    );
}
on_both_databases!(metrics_show_sends_latency_tokens_queue_and_sync);

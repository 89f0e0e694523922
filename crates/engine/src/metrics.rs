//! Prometheus metrics: this process's counters and histograms, database gauges read at scrape time, the text format 0.0.4.
//!
//! Counters and histograms (`wxpush_sends_total`, `wxpush_wechat_*`, `wxpush_token_refreshes_total`,
//! `wxpush_dispatch_in_flight`) count what THIS process did: sum them over the processes of a
//! deployment. Gauges read from the database (`wxpush_queue_depth`, `wxpush_jobs`,
//! `wxpush_token_refreshes_recorded`, `wxpush_follower_sync_*`) are deployment-wide: every
//! process reports the same value.

use std::collections::BTreeMap;
use std::fmt::{Display, Write as _};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wechat::api::{Observer, Outcome};

use crate::followers::sync::SyncProgress;
use crate::jobs::queue::RowResult;
use crate::jobs::{JobState, RecipientState, RowChannel};
use crate::{on_db, Engine, Result};

/// The `Content-Type` of [`Engine::render_metrics`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds in seconds of the WeChat latency buckets: 5 ms to the 15 s request timeout.
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
];

/// The `errcode` label of an attempt that got no errcode (timeout, lost connection, HTTP error).
pub const NO_ERRCODE: &str = "none";

#[derive(Debug, Default)]
struct Histogram {
    /// Observations per bucket (not cumulative); the last slot is above every bound.
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        let slot = LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[slot] += 1;
        self.sum += seconds;
        self.count += 1;
    }
}

/// The in-memory metrics of this process, held by the [`Engine`].
#[derive(Debug)]
pub struct Metrics {
    start_time_secs: f64,
    /// (channel, result, errcode) → attempts.
    sends: Mutex<BTreeMap<(&'static str, &'static str, String), u64>>,
    /// endpoint → latency.
    wechat_latency: Mutex<BTreeMap<&'static str, Histogram>>,
    /// (endpoint, outcome) → calls.
    wechat_requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// (appid, ok|error) → refreshes.
    token_refreshes: Mutex<BTreeMap<(String, &'static str), u64>>,
    in_flight: AtomicI64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Counts one send attempt in flight until dropped.
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let start_time_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        Self {
            start_time_secs,
            sends: Mutex::default(),
            wechat_latency: Mutex::default(),
            wechat_requests: Mutex::default(),
            token_refreshes: Mutex::default(),
            in_flight: AtomicI64::new(0),
        }
    }

    /// The observer the WeChat client reports every call to.
    pub fn observer(self: &Arc<Self>) -> Observer {
        let metrics = Arc::clone(self);
        Arc::new(move |endpoint, took, outcome| metrics.wechat_call(endpoint, took, outcome))
    }

    /// One WeChat API call of this process.
    pub fn wechat_call(&self, endpoint: &'static str, took: Duration, outcome: Outcome) {
        lock(&self.wechat_latency)
            .entry(endpoint)
            .or_default()
            .observe(took.as_secs_f64());
        *lock(&self.wechat_requests)
            .entry((endpoint, outcome.as_str()))
            .or_default() += 1;
    }

    /// A send attempt of the dispatcher: in flight until the guard is dropped.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// The result of one send attempt, as the dispatcher stores it.
    pub(crate) fn count_send(&self, channel: RowChannel, result: &RowResult) {
        let key = send_labels(channel, result.state, result.errcode);
        *lock(&self.sends).entry(key).or_default() += 1;
    }

    /// An access-token refresh this process made (`stable_token`).
    pub fn token_refresh(&self, appid: &str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        *lock(&self.token_refreshes)
            .entry((appid.to_owned(), result))
            .or_default() += 1;
    }

    /// Everything, with the database gauges in `db`, in the text format.
    fn render(&self, db: &DbGauges) -> String {
        let mut e = Encoder::default();
        e.family(
            "wxpush_build_info",
            "gauge",
            "Always 1; the version of wxpush this process runs.",
        );
        e.sample(
            "wxpush_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );
        e.family(
            "wxpush_process_start_time_seconds",
            "gauge",
            "When this process opened its database, in seconds since the Unix epoch.",
        );
        e.sample(
            "wxpush_process_start_time_seconds",
            &[],
            Float(self.start_time_secs),
        );

        e.family(
            "wxpush_sends_total",
            "counter",
            "Send attempts of this process's dispatcher by channel, result and WeChat errcode. \
             result: sent, failed, unknown (may have been delivered; for a person to decide) or \
             retry (the recipient is sent again later, or its job paused). errcode: 0 when sent, \
             the WeChat errcode when WeChat answered one, \"none\" otherwise (timeout, lost \
             connection, HTTP error).",
        );
        for ((channel, result, errcode), n) in lock(&self.sends).iter() {
            e.sample(
                "wxpush_sends_total",
                &[
                    ("channel", *channel),
                    ("result", *result),
                    ("errcode", errcode.as_str()),
                ],
                n,
            );
        }
        e.family(
            "wxpush_dispatch_in_flight",
            "gauge",
            "Send attempts this process's dispatcher is making now.",
        );
        e.sample(
            "wxpush_dispatch_in_flight",
            &[],
            self.in_flight.load(Ordering::Relaxed).max(0),
        );

        e.family(
            "wxpush_wechat_request_duration_seconds",
            "histogram",
            "Latency of the WeChat API calls of this process, by endpoint.",
        );
        for (endpoint, h) in lock(&self.wechat_latency).iter() {
            let name = "wxpush_wechat_request_duration_seconds";
            let mut cumulative = 0;
            for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
                cumulative += n;
                let le = Float(*bound).to_string();
                e.sample(
                    &format!("{name}_bucket"),
                    &[("endpoint", *endpoint), ("le", le.as_str())],
                    cumulative,
                );
            }
            e.sample(
                &format!("{name}_bucket"),
                &[("endpoint", *endpoint), ("le", "+Inf")],
                h.count,
            );
            e.sample(
                &format!("{name}_sum"),
                &[("endpoint", *endpoint)],
                Float(h.sum),
            );
            e.sample(
                &format!("{name}_count"),
                &[("endpoint", *endpoint)],
                h.count,
            );
        }
        e.family(
            "wxpush_wechat_requests_total",
            "counter",
            "WeChat API calls of this process by endpoint and outcome: ok, errcode (WeChat \
             answered a non-zero errcode), http_error, timeout, transport_error or bad_body.",
        );
        for ((endpoint, outcome), n) in lock(&self.wechat_requests).iter() {
            e.sample(
                "wxpush_wechat_requests_total",
                &[("endpoint", *endpoint), ("outcome", *outcome)],
                n,
            );
        }

        e.family(
            "wxpush_token_refreshes_total",
            "counter",
            "Access-token refreshes this process asked WeChat for, by account and result.",
        );
        for ((appid, result), n) in lock(&self.token_refreshes).iter() {
            e.sample(
                "wxpush_token_refreshes_total",
                &[("appid", appid.as_str()), ("result", *result)],
                n,
            );
        }
        e.family(
            "wxpush_token_refreshes_recorded",
            "gauge",
            "Successful access-token refreshes recorded in the database for each account, by \
             every process of the deployment.",
        );
        for (appid, n) in &db.refreshes {
            e.sample(
                "wxpush_token_refreshes_recorded",
                &[("appid", appid.as_str())],
                n,
            );
        }

        e.family(
            "wxpush_queue_depth",
            "gauge",
            "Recipients of running and paused jobs still to send (pending) or being sent \
             (sending), deployment-wide.",
        );
        e.sample("wxpush_queue_depth", &[("state", "pending")], db.pending);
        e.sample("wxpush_queue_depth", &[("state", "sending")], db.sending);
        e.family(
            "wxpush_instances",
            "gauge",
            "wxpush processes of the deployment seen in the last day: alive (a heartbeat within \
             30 s) or gone (stopped, or no heartbeat since).",
        );
        e.sample("wxpush_instances", &[("state", "alive")], db.instances.0);
        e.sample("wxpush_instances", &[("state", "gone")], db.instances.1);
        e.family(
            "wxpush_jobs",
            "gauge",
            "Send jobs by state, deployment-wide.",
        );
        for (state, n) in &db.jobs {
            e.sample("wxpush_jobs", &[("state", state.as_str())], n);
        }

        let syncs = [
            (
                "wxpush_follower_sync_running",
                "1 while the account's follower sync runs (in any process), else 0.",
            ),
            (
                "wxpush_follower_sync_listed",
                "Openids listed (user/get) by the account's latest follower sync.",
            ),
            (
                "wxpush_follower_sync_fetched",
                "Followers detailed (user/info/batchget) by the account's latest follower sync.",
            ),
            (
                "wxpush_follower_sync_total",
                "Followers of the account according to its latest follower sync.",
            ),
        ];
        for (name, help) in syncs {
            e.family(name, "gauge", help);
            for (appid, p) in &db.syncs {
                let value = match name {
                    "wxpush_follower_sync_running" => i64::from(!p.is_finished()),
                    "wxpush_follower_sync_listed" => p.listed,
                    "wxpush_follower_sync_fetched" => p.detailed,
                    _ => p.total,
                };
                e.sample(name, &[("appid", appid.as_str())], value);
            }
        }
        e.out
    }
}

/// The labels of a send attempt's result: channel `template` or `subscribe`; result `sent`,
/// `failed`, `unknown` or `retry` (the row went back to `pending`); the errcode as text.
fn send_labels(
    channel: RowChannel,
    state: RecipientState,
    errcode: Option<i64>,
) -> (&'static str, &'static str, String) {
    let result = match state {
        RecipientState::Sent => "sent",
        RecipientState::Failed => "failed",
        RecipientState::Unknown => "unknown",
        _ => "retry",
    };
    let errcode = match (result, errcode) {
        ("sent", _) => "0".to_owned(),
        (_, Some(code)) => code.to_string(),
        (_, None) => NO_ERRCODE.to_owned(),
    };
    (channel.as_str(), result, errcode)
}

/// What the gauges read from the database at scrape time.
#[derive(Debug, Default)]
struct DbGauges {
    pending: i64,
    sending: i64,
    /// Processes of the deployment: (alive, gone) within the last day.
    instances: (i64, i64),
    jobs: Vec<(String, i64)>,
    refreshes: Vec<(String, i64)>,
    /// Each Official Account's latest follower sync.
    syncs: Vec<(String, SyncProgress)>,
}

impl Engine {
    /// This process's metrics (the dispatcher and the token service count into them).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The metrics in the Prometheus text format ([`CONTENT_TYPE`]), with the deployment-wide
    /// gauges read from the database now.
    pub async fn render_metrics(&self) -> Result<String> {
        let db = self.metric_gauges().await?;
        Ok(self.inner.metrics.render(&db))
    }

    async fn metric_gauges(&self) -> Result<DbGauges> {
        // Each count walks a partial index (job_recipients_pending / _sending) per unfinished
        // job; finished jobs' rows are never read.
        let (pending, sending) = on_db!(self.db(), |pool| {
            sqlx::query_as::<_, (i64, i64)>(
                "SELECT \
                 (SELECT COUNT(*) FROM job_recipients WHERE state = 'pending' \
                  AND job_id IN (SELECT id FROM jobs WHERE state IN ('running', 'paused'))), \
                 (SELECT COUNT(*) FROM job_recipients WHERE state = 'sending' \
                  AND job_id IN (SELECT id FROM jobs WHERE state IN ('running', 'paused')))",
            )
            .fetch_one(pool)
            .await
        })?;
        let by_state: Vec<(String, i64)> = on_db!(self.db(), |pool| {
            sqlx::query_as("SELECT state, COUNT(*) FROM jobs GROUP BY state")
                .fetch_all(pool)
                .await
        })?;
        // Every state, even with no job in it (a series that vanishes reads as "no data").
        let mut jobs: BTreeMap<String, i64> = JobState::ALL
            .iter()
            .map(|s| (s.as_str().to_owned(), 0))
            .collect();
        jobs.extend(by_state);
        let refreshes: Vec<(String, i64)> = on_db!(self.db(), |pool| {
            sqlx::query_as(
                "SELECT a.appid, t.refresh_count FROM wechat_tokens t \
                 JOIN accounts a ON a.id = t.account_id ORDER BY a.appid",
            )
            .fetch_all(pool)
            .await
        })?;
        let oas: Vec<(i64, String)> = on_db!(self.db(), |pool| {
            sqlx::query_as("SELECT id, appid FROM accounts WHERE kind = 'oa' ORDER BY appid")
                .fetch_all(pool)
                .await
        })?;
        let mut syncs = Vec::new();
        for (id, appid) in oas {
            if let Some(progress) = self.sync_progress(id).await? {
                syncs.push((appid, progress));
            }
        }
        let instances = self.instance_counts().await?;
        Ok(DbGauges {
            pending,
            sending,
            instances,
            jobs: jobs.into_iter().collect(),
            refreshes,
            syncs,
        })
    }
}

/// An `f64` as the text format writes it (`+Inf`, `-Inf`, `NaN`).
struct Float(f64);

impl Display for Float {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            v if v.is_nan() => f.write_str("NaN"),
            v if v == f64::INFINITY => f.write_str("+Inf"),
            v if v == f64::NEG_INFINITY => f.write_str("-Inf"),
            v => write!(f, "{v}"),
        }
    }
}

/// Writes the text exposition format: `# HELP` and `# TYPE` once per family, then its samples.
#[derive(Default)]
struct Encoder {
    out: String,
}

impl Encoder {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape_label(value));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// A label value: backslash, double quote and line feed escaped.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text: backslash and line feed escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label("line\nbreak"), "line\\nbreak");
        assert_eq!(escape_label("普通"), "普通");
        assert_eq!(escape_help("a\\b\nc \"q\""), "a\\\\b\\nc \"q\"");
        let mut e = Encoder::default();
        e.family("x_total", "counter", "Help.");
        e.sample("x_total", &[("appid", "wx\"1\n"), ("le", "+Inf")], 3);
        e.sample("x_total", &[], Float(0.25));
        assert_eq!(
            e.out,
            "# HELP x_total Help.\n# TYPE x_total counter\n\
             x_total{appid=\"wx\\\"1\\n\",le=\"+Inf\"} 3\nx_total 0.25\n"
        );
        assert_eq!(Float(f64::INFINITY).to_string(), "+Inf");
        assert_eq!(Float(1.0).to_string(), "1");
        assert_eq!(Float(0.005).to_string(), "0.005");
    }

    #[test]
    fn send_results_are_labelled_by_channel_result_and_errcode() {
        assert_eq!(
            send_labels(RowChannel::Template, RecipientState::Sent, None),
            ("template", "sent", "0".to_owned())
        );
        assert_eq!(
            send_labels(RowChannel::Subscribe, RecipientState::Failed, Some(43101)),
            ("subscribe", "failed", "43101".to_owned())
        );
        assert_eq!(
            send_labels(RowChannel::Template, RecipientState::Pending, Some(47003)),
            ("template", "retry", "47003".to_owned())
        );
        assert_eq!(
            send_labels(RowChannel::Template, RecipientState::Unknown, None),
            ("template", "unknown", "none".to_owned())
        );
    }

    #[test]
    fn histograms_are_cumulative_and_end_with_inf() {
        let m = Metrics::new();
        m.wechat_call("template_send", Duration::from_millis(3), Outcome::Ok);
        m.wechat_call("template_send", Duration::from_millis(40), Outcome::Ok);
        m.wechat_call("template_send", Duration::from_secs(20), Outcome::Timeout);
        m.token_refresh("wx\"odd", true);
        let text = m.render(&DbGauges::default());
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_owned()
        };
        let bucket = "wxpush_wechat_request_duration_seconds_bucket{endpoint=\"template_send\"";
        assert_eq!(line(&format!("{bucket},le=\"0.005\"}}")), "1");
        assert_eq!(line(&format!("{bucket},le=\"0.05\"}}")), "2");
        assert_eq!(line(&format!("{bucket},le=\"15\"}}")), "2");
        assert_eq!(line(&format!("{bucket},le=\"+Inf\"}}")), "3");
        assert_eq!(
            line("wxpush_wechat_request_duration_seconds_count{endpoint=\"template_send\"}"),
            "3"
        );
        assert_eq!(
            line("wxpush_wechat_requests_total{endpoint=\"template_send\",outcome=\"timeout\"}"),
            "1"
        );
        assert_eq!(
            line("wxpush_token_refreshes_total{appid=\"wx\\\"odd\",result=\"ok\"}"),
            "1"
        );
        // Every family is announced once, before its samples.
        for name in [
            "wxpush_sends_total",
            "wxpush_wechat_request_duration_seconds",
            "wxpush_queue_depth",
            "wxpush_jobs",
        ] {
            assert_eq!(
                text.matches(&format!("# TYPE {name} ")).count(),
                1,
                "{name}"
            );
        }
        {
            let _sending = m.in_flight();
            assert!(m
                .render(&DbGauges::default())
                .contains("\nwxpush_dispatch_in_flight 1\n"));
        }
        assert!(m
            .render(&DbGauges::default())
            .contains("\nwxpush_dispatch_in_flight 0\n"));
    }
}

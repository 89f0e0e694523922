//! A follower sync run: its states and its progress, with the figures the progress bar shows.

use serde::{Deserialize, Serialize};

use crate::Lang;

/// Where a follower sync run is: `Listing` (the `user/get` chain) → `Detailing` (`batchget`) →
/// `Done`, or `Failed` / `Cancelled`. Stored as [`SyncState::as_str`] in `sync_runs.state`
/// (whose CHECK constraint lists the same words).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    Listing,
    Detailing,
    Done,
    Failed,
    Cancelled,
}

impl SyncState {
    pub const ALL: [SyncState; 5] = [
        SyncState::Listing,
        SyncState::Detailing,
        SyncState::Done,
        SyncState::Failed,
        SyncState::Cancelled,
    ];

    /// The stored form (the `sync_runs.state` column).
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Listing => "listing",
            SyncState::Detailing => "detailing",
            SyncState::Done => "done",
            SyncState::Failed => "failed",
            SyncState::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<SyncState> {
        SyncState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The run is unfinished: listing or detailing (at most one such run per account).
    pub fn is_active(self) -> bool {
        matches!(self, SyncState::Listing | SyncState::Detailing)
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            SyncState::Listing => lang.pick("正在获取粉丝列表", "Listing followers"),
            SyncState::Detailing => lang.pick("正在获取粉丝详情", "Fetching follower details"),
            SyncState::Done => lang.pick("已完成", "Finished"),
            SyncState::Failed => lang.pick("失败", "Failed"),
            SyncState::Cancelled => lang.pick("已取消", "Cancelled"),
        }
    }
}

/// A sync run as the console shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncProgress {
    pub run_id: i64,
    pub state: SyncState,
    /// Followers according to the last `user/get` page.
    pub total: i64,
    pub pages_done: i64,
    /// Openids listed so far (`user/get`).
    pub listed: i64,
    /// Followers detailed so far (`batchget`).
    pub detailed: i64,
    /// Followers no longer listed, marked as unsubscribed when the run finished.
    pub unsubscribed: i64,
    /// Why the run failed, in words.
    pub error: Option<String>,
    /// Someone asked to cancel; the runner stops at its next commit.
    pub cancel_requested: bool,
    pub started_at_ms: i64,
    pub updated_at_ms: i64,
    pub finished_at_ms: Option<i64>,
}

impl SyncProgress {
    /// `done`, `failed` or `cancelled`.
    pub fn is_finished(&self) -> bool {
        !self.state.is_active()
    }

    /// 0–100 over both phases (listing and detailing count half each); 100 only when done.
    pub fn percent(&self) -> i64 {
        let total = self.total.max(0);
        match self.state {
            SyncState::Done => 100,
            _ if total == 0 => 0,
            _ => ((self.listed + self.detailed) * 100 / (2 * total)).clamp(0, 99),
        }
    }

    /// Followers handled per second so far (both phases averaged).
    pub fn rate_per_s(&self) -> i64 {
        let elapsed_s = ((self.updated_at_ms - self.started_at_ms) / 1000).max(1);
        (self.listed + self.detailed) / 2 / elapsed_s
    }

    /// Seconds left at the rate so far, while the run is active and moving.
    pub fn eta_s(&self) -> Option<i64> {
        let rate = self.rate_per_s();
        let left = (2 * self.total.max(0) - self.listed - self.detailed).max(0) / 2;
        (self.state.is_active() && rate > 0).then(|| left / rate)
    }

    /// `run|state|total|pages|listed|detailed|unsub|cancel|started|updated|finished|error`: the
    /// live progress stream's text (no JSON parser in the browser bundle); the error text comes
    /// last and may contain `|`.
    pub fn encode(&self) -> String {
        let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
        format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.run_id,
            self.state.as_str(),
            self.total,
            self.pages_done,
            self.listed,
            self.detailed,
            self.unsubscribed,
            u8::from(self.cancel_requested),
            self.started_at_ms,
            self.updated_at_ms,
            opt(self.finished_at_ms),
            self.error.clone().unwrap_or_default()
        )
    }

    pub fn decode(s: &str) -> Option<SyncProgress> {
        let p: Vec<&str> = s.splitn(12, '|').collect();
        if p.len() != 12 {
            return None;
        }
        let n = |i: usize| p[i].parse::<i64>().ok();
        Some(SyncProgress {
            run_id: n(0)?,
            state: SyncState::parse(p[1])?,
            total: n(2)?,
            pages_done: n(3)?,
            listed: n(4)?,
            detailed: n(5)?,
            unsubscribed: n(6)?,
            cancel_requested: p[7] == "1",
            started_at_ms: n(8)?,
            updated_at_ms: n(9)?,
            finished_at_ms: n(10),
            error: (!p[11].is_empty()).then(|| p[11].to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_stored_form() {
        for s in SyncState::ALL {
            assert_eq!(SyncState::parse(s.as_str()), Some(s));
        }
        assert_eq!(SyncState::parse("finished"), None);
        assert_eq!(SyncState::parse("Done"), None);
        assert_eq!(SyncState::parse(""), None);
    }

    #[test]
    fn serde_uses_the_stored_form() {
        for s in SyncState::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<SyncState>(&json).unwrap(), s);
        }
        assert!(serde_json::from_str::<SyncState>("\"finished\"").is_err());
    }

    #[test]
    fn the_stored_words_are_the_migrations_words() {
        let stored: Vec<&str> = SyncState::ALL.into_iter().map(SyncState::as_str).collect();
        assert_eq!(
            stored,
            ["listing", "detailing", "done", "failed", "cancelled"]
        );
    }

    #[test]
    fn only_listing_and_detailing_are_active() {
        let active: Vec<SyncState> = SyncState::ALL
            .into_iter()
            .filter(|s| s.is_active())
            .collect();
        assert_eq!(active, [SyncState::Listing, SyncState::Detailing]);
    }

    #[test]
    fn labels_in_both_languages() {
        let labels = |lang| SyncState::ALL.map(|s| s.label(lang));
        assert_eq!(
            labels(Lang::Zh),
            [
                "正在获取粉丝列表",
                "正在获取粉丝详情",
                "已完成",
                "失败",
                "已取消"
            ]
        );
        assert_eq!(
            labels(Lang::En),
            [
                "Listing followers",
                "Fetching follower details",
                "Finished",
                "Failed",
                "Cancelled"
            ]
        );
    }

    #[test]
    fn progress_figures_and_the_stream_text() {
        let p = SyncProgress {
            run_id: 7,
            state: SyncState::Detailing,
            total: 1_000,
            pages_done: 1,
            listed: 1_000,
            detailed: 500,
            unsubscribed: 0,
            error: Some("a|b".into()),
            cancel_requested: true,
            started_at_ms: 0,
            updated_at_ms: 10_000,
            finished_at_ms: None,
        };
        assert_eq!(p.percent(), 75);
        assert_eq!(p.rate_per_s(), 75);
        assert_eq!(p.eta_s(), Some(3));
        assert_eq!(SyncProgress::decode(&p.encode()), Some(p.clone()));
        // A state nobody knows is no progress at all.
        let unknown = p.encode().replacen("|detailing|", "|finished|", 1);
        assert_eq!(SyncProgress::decode(&unknown), None);
        let done = SyncProgress {
            state: SyncState::Done,
            detailed: 1_000,
            finished_at_ms: Some(11_000),
            error: None,
            ..p
        };
        assert_eq!((done.percent(), done.eta_s()), (100, None));
        assert_eq!(SyncProgress::decode(&done.encode()), Some(done));
        assert_eq!(SyncProgress::decode("garbage"), None);
    }
}

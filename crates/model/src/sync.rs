//! A follower sync run's states.

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
}

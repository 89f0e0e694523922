//! A send job's states and the actions staff take on it.

use serde::{Deserialize, Serialize};

use crate::Lang;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Paused,
    Cancelled,
    Done,
}

impl JobState {
    pub const ALL: [JobState; 4] = [
        JobState::Running,
        JobState::Paused,
        JobState::Cancelled,
        JobState::Done,
    ];

    /// The stored form (the `jobs.state` column).
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Paused => "paused",
            JobState::Cancelled => "cancelled",
            JobState::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<JobState> {
        JobState::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            JobState::Running => lang.pick("发送中", "sending"),
            JobState::Paused => lang.pick("已暂停", "paused"),
            JobState::Cancelled => lang.pick("已取消", "cancelled"),
            JobState::Done => lang.pick("已完成", "finished"),
        }
    }
}

/// What staff do to a job from its page (`control_job`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobAction {
    Approve,
    Pause,
    Resume,
    Cancel,
    RetryFailed,
}

impl JobAction {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            JobAction::Approve => lang.pick("审批", "approved"),
            JobAction::Pause => lang.pick("暂停", "paused"),
            JobAction::Resume => lang.pick("继续", "resumed"),
            JobAction::Cancel => lang.pick("取消", "cancelled"),
            JobAction::RetryFailed => lang.pick("重试", "retried"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_stored_form() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.as_str()), Some(s));
        }
        assert_eq!(JobState::parse("finished"), None);
    }
}

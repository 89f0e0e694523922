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

/// Why a job is paused. Stored as text in `jobs.pause_reason`: the variant's name, or WeChat's
/// errcode for a refusal of WeChat's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "errcode")]
pub enum PauseReason {
    /// Paused from the job's page.
    Staff,
    /// Waits for a second admin (four eyes).
    Approval,
    /// The job's stored message cannot be read.
    Payload,
    /// The Mini Program sending its subscribe messages was removed from wxpush.
    MpAccount,
    /// WeChat refused every send the same way: the daily quota (45009), the account's
    /// credentials, or the message itself.
    #[serde(rename = "wechat")]
    WeChat(i64),
}

impl PauseReason {
    /// The stored form.
    pub fn to_stored(self) -> String {
        match self {
            PauseReason::Staff => "staff".into(),
            PauseReason::Approval => "approval".into(),
            PauseReason::Payload => "payload".into(),
            PauseReason::MpAccount => "mp_account".into(),
            PauseReason::WeChat(code) => code.to_string(),
        }
    }

    pub fn parse(s: &str) -> Option<PauseReason> {
        match s {
            "staff" => Some(PauseReason::Staff),
            "approval" => Some(PauseReason::Approval),
            "payload" => Some(PauseReason::Payload),
            "mp_account" => Some(PauseReason::MpAccount),
            code => code.parse().ok().map(PauseReason::WeChat),
        }
    }

    /// WeChat's errcode, when WeChat's refusal paused the job.
    pub fn errcode(self) -> Option<i64> {
        match self {
            PauseReason::WeChat(code) => Some(code),
            _ => None,
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

    #[test]
    fn pause_reasons_round_trip_and_keep_the_errcode_as_data() {
        for r in [
            PauseReason::Staff,
            PauseReason::Approval,
            PauseReason::Payload,
            PauseReason::MpAccount,
            PauseReason::WeChat(45009),
            PauseReason::WeChat(-1),
        ] {
            assert_eq!(PauseReason::parse(&r.to_stored()), Some(r));
        }
        assert_eq!(
            PauseReason::parse("40164").and_then(PauseReason::errcode),
            Some(40164)
        );
        assert_eq!(PauseReason::parse("sleepy"), None);
        assert_eq!(
            serde_json::to_string(&PauseReason::WeChat(45009)).unwrap(),
            r#"{"kind":"wechat","errcode":45009}"#
        );
    }
}

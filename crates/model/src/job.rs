//! A send job's states and the actions staff take on it.

use serde::{Deserialize, Serialize};

use crate::Lang;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// The Official Account's quiet hours (免打扰时段): resumes by itself when they end.
    QuietHours,
    /// Scheduled (已计划): starts by itself at its start time.
    Scheduled,
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
            PauseReason::QuietHours => "quiet_hours".into(),
            PauseReason::Scheduled => "scheduled".into(),
            PauseReason::WeChat(code) => code.to_string(),
        }
    }

    pub fn parse(s: &str) -> Option<PauseReason> {
        match s {
            "staff" => Some(PauseReason::Staff),
            "approval" => Some(PauseReason::Approval),
            "payload" => Some(PauseReason::Payload),
            "mp_account" => Some(PauseReason::MpAccount),
            "quiet_hours" => Some(PauseReason::QuietHours),
            "scheduled" => Some(PauseReason::Scheduled),
            code => code.parse().ok().map(PauseReason::WeChat),
        }
    }

    /// Why the job waits, in words (WeChat's errcode explained elsewhere).
    pub fn label(self, lang: Lang) -> String {
        match self {
            PauseReason::Staff => lang.pick("由工作人员暂停", "paused by staff").into(),
            PauseReason::Approval => lang
                .pick("等待另一位管理员批准", "waiting for approval")
                .into(),
            PauseReason::Payload => lang
                .pick("消息无法读取", "the message cannot be read")
                .into(),
            PauseReason::MpAccount => lang
                .pick("小程序已删除", "the Mini Program was removed")
                .into(),
            PauseReason::QuietHours => lang.pick("免打扰时段", "quiet hours").into(),
            PauseReason::Scheduled => lang.pick("已计划", "scheduled").into(),
            PauseReason::WeChat(code) => match lang {
                Lang::Zh => format!("微信拒绝（{code}）"),
                Lang::En => format!("refused by WeChat ({code})"),
            },
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum JobAction {
    Approve,
    Pause,
    Resume,
    Cancel,
    RetryFailed,
    /// Changing a scheduled job's time, name or rate before it starts.
    Reschedule,
    /// A new job of a finished job's failed and unknown rows.
    NewFromFailures,
}

impl JobAction {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            JobAction::Approve => lang.pick("审批", "approved"),
            JobAction::Pause => lang.pick("暂停", "paused"),
            JobAction::Resume => lang.pick("继续", "resumed"),
            JobAction::Cancel => lang.pick("取消", "cancelled"),
            JobAction::RetryFailed => lang.pick("重试", "retried"),
            JobAction::Reschedule => lang.pick("修改计划", "rescheduled"),
            JobAction::NewFromFailures => {
                lang.pick("以失败和未知新建任务", "used for a new job of its failures")
            }
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
            PauseReason::QuietHours,
            PauseReason::Scheduled,
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
        assert_eq!(PauseReason::QuietHours.to_stored(), "quiet_hours");
        assert_eq!(PauseReason::QuietHours.label(Lang::Zh), "免打扰时段");
        assert_eq!(PauseReason::QuietHours.label(Lang::En), "quiet hours");
        assert_eq!(
            serde_json::to_string(&PauseReason::WeChat(45009)).unwrap(),
            r#"{"kind":"wechat","errcode":45009}"#
        );
    }
}

/// Declares a unit enum stored as text: its variants with their stored names, `ALL`,
/// `as_str` and `parse`.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            pub fn parse(s: &str) -> Option<$name> {
                match s {
                    $($code => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

stored_enum! {
    /// How a job reaches people.
    Channel {
        /// OA template message to the OA openid (`cgi-bin/message/template/send`).
        Template = "template",
        /// MP subscribe message to the MP openid (`cgi-bin/message/subscribe/send`), to those
        /// holding a subscription credit for the template.
        Subscribe = "subscribe",
        /// Per person: the OA template when they follow the OA, otherwise a subscribe message
        /// when they hold a credit.
        Best = "best",
    }
}

impl Channel {
    /// Whether the job sends OA template messages to some.
    pub fn uses_template(self) -> bool {
        matches!(self, Channel::Template | Channel::Best)
    }

    /// Whether the job sends MP subscribe messages to some.
    pub fn uses_subscribe(self) -> bool {
        matches!(self, Channel::Subscribe | Channel::Best)
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Channel::Template => lang.pick("渠道：公众号模板消息", "Channel: OA template message"),
            Channel::Subscribe => lang.pick(
                "渠道：小程序订阅消息",
                "Channel: Mini Program subscribe message",
            ),
            Channel::Best => lang.pick(
                "渠道：最佳（关注者发模板消息，其余发订阅消息）",
                "Channel: best available (template to followers, else subscribe message)",
            ),
        }
    }
}

stored_enum! {
    /// What one recipient row is sent as (and so which openid it holds: OA or MP).
    RowChannel {
        Template = "template",
        Subscribe = "subscribe",
    }
}

impl RowChannel {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            RowChannel::Template => lang.pick("公众号模板消息", "OA template"),
            RowChannel::Subscribe => lang.pick("小程序订阅消息", "MP subscribe"),
        }
    }
}

stored_enum! {
    /// Where one recipient row of a job is (the `job_recipients.state` column).
    RecipientState {
        Pending = "pending",
        /// Claimed by a dispatcher, its send under way.
        Sending = "sending",
        Sent = "sent",
        Failed = "failed",
        Skipped = "skipped",
        /// A send that departed and whose answer was lost (a crash): never sent again.
        Unknown = "unknown",
        Cancelled = "cancelled",
    }
}

impl RecipientState {
    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            RecipientState::Pending => lang.pick("待发送", "Pending"),
            RecipientState::Sending => lang.pick("发送中", "Sending"),
            RecipientState::Sent => lang.pick("已发送", "Sent"),
            RecipientState::Failed => lang.pick("失败", "Failed"),
            RecipientState::Skipped => lang.pick("已跳过", "Skipped"),
            RecipientState::Unknown => lang.pick("结果未知", "Unknown"),
            RecipientState::Cancelled => lang.pick("已取消", "Cancelled"),
        }
    }

    /// Whether the row reached an end (nothing more will be sent to it).
    pub fn is_final(self) -> bool {
        !matches!(self, RecipientState::Pending | RecipientState::Sending)
    }
}

stored_enum! {
    /// Why a listed recipient gets nothing.
    SkipReason {
        /// A follower who unfollowed the account.
        Unsubscribed = "unsubscribed",
        /// Not among the account's synced followers.
        UnknownOpenid = "unknown_openid",
        /// A unionid no follower of this account has.
        NoOaOpenid = "no_oa_openid",
        /// Listed before (or reached at the same address through another line).
        Duplicate = "duplicate",
        /// Subscribe channel: the person is no user of the linked Mini Program (no unionid
        /// match).
        NoMpUser = "no_mp_user",
        /// Subscribe channel: a Mini Program user who holds no subscription to the template.
        NoCredit = "no_credit",
        /// A spreadsheet row whose values break the template's rules (left out at review).
        BadValues = "bad_values",
        /// The person had already received the Official Account's daily cap of template
        /// messages today (console time zone), counting every job and API message.
        DailyCap = "daily_cap",
    }
}

impl SkipReason {
    /// Why a row gets nothing; `best` phrases it for best-available jobs (the Mini Program was
    /// tried because the person does not follow the OA).
    pub fn label(self, best: bool, lang: Lang) -> &'static str {
        match (self, best) {
            (SkipReason::Unsubscribed, _) => lang.pick("已取消关注", "Unfollowed"),
            (SkipReason::UnknownOpenid, _) => lang.pick(
                "不是本公众号的粉丝（openid 未知）",
                "Not a follower (unknown openid)",
            ),
            (SkipReason::NoOaOpenid, _) => lang.pick(
                "unionid 没有对应的公众号粉丝",
                "unionid with no follower of this account",
            ),
            (SkipReason::Duplicate, _) => lang.pick("重复", "Duplicate"),
            (SkipReason::NoMpUser, true) => lang.pick(
                "未关注公众号，也不是小程序用户（无 unionid 匹配）",
                "Not following the OA and not a Mini Program user (no unionid match)",
            ),
            (SkipReason::NoMpUser, false) => lang.pick(
                "不是小程序用户（无 unionid 匹配）",
                "Not a Mini Program user (no unionid match)",
            ),
            (SkipReason::DailyCap, _) => lang.pick("今日已达上限", "Daily cap reached"),
            (SkipReason::NoCredit, _) => lang.pick(
                "小程序用户未订阅该模板（没有订阅额度）",
                "Mini Program user without a subscription to the template (no credit)",
            ),
            (SkipReason::BadValues, _) => lang.pick(
                "表格中的值不符合模板规则",
                "Values break the template's rules",
            ),
        }
    }
}

stored_enum! {
    /// The outcome a delivery receipt reports (TEMPLATESENDJOBFINISH, subscribe_msg_sent_event).
    Delivery {
        Delivered = "delivered",
        UserBlock = "user_block",
        SystemFailed = "system_failed",
    }
}

impl Delivery {
    /// From a subscribe_msg_sent_event item: `ErrorCode` 0 is delivered; an `ErrorStatus` that
    /// says the user refuses (`fail:user refuse to accept the msg`) counts as blocked; anything
    /// else (`fail:system error`…) failed.
    pub fn from_subscribe(error_code: i64, error_status: &str) -> Delivery {
        match error_code {
            0 => Delivery::Delivered,
            _ if error_status.to_ascii_lowercase().contains("refuse") => Delivery::UserBlock,
            _ => Delivery::SystemFailed,
        }
    }

    pub fn label(self, lang: Lang) -> &'static str {
        match self {
            Delivery::Delivered => lang.pick("已送达", "Delivered"),
            Delivery::UserBlock => lang.pick("用户拒收", "Blocked by user"),
            Delivery::SystemFailed => lang.pick("系统失败", "System failure"),
        }
    }
}

/// A CSV line that is not an openid / unionid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    /// 1-based line number in the text as given.
    pub line: usize,
    pub value: String,
    /// In English, e.g. "not an openid".
    pub message: String,
}

/// The review step of a job: who receives, who is skipped and why, and the day's quota.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientPlan {
    pub will_receive: i64,
    /// Non-zero counts only.
    pub skipped: Vec<(SkipReason, i64)>,
    /// At most the first 100.
    pub line_errors: Vec<LineError>,
    /// Template messages this account sent since midnight Beijing time, by any job.
    pub sent_today: i64,
    pub daily_quota: i64,
    /// The first 10 openids that will receive.
    pub sample: Vec<String>,
    pub channel: Channel,
    /// Rows that will receive, per channel (non-zero counts only).
    pub by_channel: Vec<(RowChannel, i64)>,
    /// Quiet hours and the daily cap of the account, as they bear on this job.
    #[serde(default)]
    pub send_rules: crate::send_rules::SendRulesReview,
}

/// Counts of one row channel of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelCounts {
    pub channel: RowChannel,
    /// Rows to send (not skipped).
    pub planned: i64,
    pub sent: i64,
    pub failed: i64,
    pub delivered: i64,
}

/// Failed rows of one errcode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrcodeCount {
    /// 0 when the failure did not come from WeChat (e.g. an HTTP error of a proxy).
    pub errcode: i64,
    /// WeChat's errmsg of one of the rows, without its `rid: …` suffix.
    pub errmsg: String,
    pub count: i64,
}

#[cfg(test)]
mod stored_tests {
    use super::*;

    #[test]
    fn stored_names_round_trip() {
        fn check<T: Copy + PartialEq + std::fmt::Debug + Serialize>(
            all: &[T],
            as_str: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
        ) {
            for &v in all {
                assert_eq!(parse(as_str(v)), Some(v));
                // serde writes the stored name: the API and the database say the same word.
                assert_eq!(
                    serde_json::to_string(&v).unwrap(),
                    format!("\"{}\"", as_str(v))
                );
            }
            assert_eq!(parse("nonsense"), None);
        }
        check(Channel::ALL, Channel::as_str, Channel::parse);
        check(RowChannel::ALL, RowChannel::as_str, RowChannel::parse);
        check(
            RecipientState::ALL,
            RecipientState::as_str,
            RecipientState::parse,
        );
        check(SkipReason::ALL, SkipReason::as_str, SkipReason::parse);
        check(Delivery::ALL, Delivery::as_str, Delivery::parse);
    }

    #[test]
    fn words_in_both_languages() {
        assert_eq!(RecipientState::Unknown.label(Lang::Zh), "结果未知");
        assert_eq!(
            SkipReason::NoMpUser.label(true, Lang::En),
            "Not following the OA and not a Mini Program user (no unionid match)"
        );
        assert_eq!(Delivery::UserBlock.label(Lang::Zh), "用户拒收");
        assert_eq!(SkipReason::DailyCap.label(false, Lang::Zh), "今日已达上限");
        assert_eq!(SkipReason::DailyCap.as_str(), "daily_cap");
        assert_eq!(
            Delivery::from_subscribe(43101, "fail:user refuse to accept the msg"),
            Delivery::UserBlock
        );
        assert_eq!(Delivery::from_subscribe(0, ""), Delivery::Delivered);
        assert!(!RecipientState::Sending.is_final() && RecipientState::Unknown.is_final());
    }
}

//! Refusals: what is wrong with which field, as data (`field`, `problem` with its parameters),
//! rendered to words here and nowhere else, in zh-CN and English. The engine returns them; the
//! server functions, the CLI and the HTTP APIs pass them on unchanged.

use serde::{Deserialize, Serialize};

use crate::job::{JobAction, JobState};
use crate::number::thousands;
use crate::value::ValueProblem;
use crate::Lang;

/// What is wrong with a field, independent of language.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "code", content = "params")]
pub enum Problem {
    Required,
    TooShort(usize),
    TooLong(usize),
    UsernameChars,
    PasswordsDiffer,
    AppIdFormat,
    AppSecretFormat,
    CallbackTokenFormat,
    AesKeyFormat,
    UrlFormat,
    NotAnOption,
    OpenIdFormat,
    /// Missing, or not of the expected type (a number, yes/no, one of a list).
    Malformed,
    /// Larger than this many bytes.
    TooLarge(usize),
    /// A confirmation that does not repeat what it confirms (an account's AppID).
    ConfirmMismatch,
    /// A number outside `min..=max`.
    OutOfRange {
        min: i64,
        max: i64,
    },
    /// More than this many rows (a file).
    TooManyRows(usize),
    /// More than this many entries (a list).
    TooManyItems(usize),
    /// The job's state does not allow the action.
    JobState {
        state: JobState,
        action: JobAction,
    },
    /// The job waits for a second admin's approval; only approving starts it.
    AwaitingApproval,
    /// Approving a job that does not wait for approval.
    NotAwaitingApproval,
    /// An admin approving a job they created themselves (four eyes).
    OwnJob,
    /// Nobody would receive the job.
    NoRecipients,
    /// The Official Account has no linked Mini Program.
    NoLinkedMiniProgram,
    /// A preset that is not for a subscribe template of the linked Mini Program.
    NotSubscribePreset,
    /// A template-message preset where a subscribe-message one is needed, or the other way.
    WrongPresetKind,
    /// A template that is not among this account's (or its linked Mini Program's).
    UnknownTemplate,
    /// Something only an Official Account has.
    OfficialAccountOnly,
    /// Something only a Mini Program has.
    MiniProgramOnly,
    /// Linking two accounts of the same kind.
    LinkKinds,
    /// A subscribe result other than accept, reject, ban or filter.
    SubscribeStatus,
    /// A message value, color or link that breaks its template's rules.
    Value(ValueProblem),
    /// A value for a keyword the template does not have.
    NotATemplateField,
    /// Nobody wxpush knows: neither a follower of the Official Account nor a user of its Mini
    /// Program.
    UnknownPerson,
    /// The person does not follow the Official Account (a template message needs it).
    NotFollowing,
    /// A Mini Program user without a unionid: their Official Account openid cannot be found.
    NoUnionid,
    /// The person is not a user of the linked Mini Program (a subscribe message needs it).
    NotAMpUser,
    /// The person holds no subscription credit for the subscribe template.
    NoSubscriptionCredit,
    /// A send API key that may not use this preset.
    PresetNotAllowed,
    /// An idempotency key used before with a different request.
    IdempotencyConflict,
    /// A change to a send key that was revoked.
    KeyRevoked,
    /// A file that is neither an Excel workbook nor a CSV text.
    NotASpreadsheet,
    /// A header cell left empty although its column (`C`) holds values, on the header's line.
    EmptyHeader {
        line: usize,
        column: String,
    },
    /// Two header cells with the same name.
    DuplicateHeader {
        line: usize,
        column: String,
        name: String,
    },
    /// No header names the person (`openid`, `unionid` or `mp_openid`).
    NoPersonColumn {
        line: usize,
    },
    /// More than one header names the person.
    SeveralPersonColumns {
        line: usize,
    },
    /// Variables the preset uses that the file has no column for.
    MissingColumns(Vec<String>),
    /// A preset with variables (`{{积分}}`) sent without a spreadsheet to fill them.
    UnfilledVariables(Vec<String>),
    /// Each person's own values go with Official Account template messages only.
    SheetTemplateOnly,
    /// A start time that is not in the future (or more than a year ahead).
    StartTime,
    /// A start time written other than `YYYY-MM-DDTHH:MM`.
    StartTimeFormat,
    /// Quiet hours that start when they end (an empty or whole-day window).
    QuietHoursEmpty,
    /// A time zone name the IANA database does not know (`Asia/Shanghai`).
    UnknownTimeZone,
    /// A time of day written other than `HH:MM`.
    TimeOfDayFormat,
    /// A cron expression that is not five valid fields, or that never runs.
    CronFormat,
    /// A recurring send with a fixed list of people instead of a rule found afresh each run.
    NotARecipientRule,
    /// The preset was deleted.
    PresetGone,
    /// The preset no longer passes its template's rules, or the template was removed.
    PresetUnusable,
    /// A recurring run that failed for a reason of the server (logged); the next run is tried.
    ScheduleRunFailed,
}

impl Problem {
    pub fn message(&self, lang: Lang) -> String {
        let zh = lang == Lang::Zh;
        let pick = |z: &str, e: &str| if zh { z.to_owned() } else { e.to_owned() };
        match self {
            Problem::Required => pick("必填", "required"),
            Problem::TooShort(n) => pick(
                &format!("至少 {n} 个字符"),
                &format!("at least {n} characters"),
            ),
            Problem::TooLong(n) => pick(
                &format!("最多 {n} 个字符"),
                &format!("at most {n} characters"),
            ),
            Problem::UsernameChars => pick(
                "只能包含字母、数字、点、下划线和连字符",
                "only letters, digits, dots, underscores and hyphens",
            ),
            Problem::PasswordsDiffer => pick("两次输入的密码不一致", "the passwords do not match"),
            Problem::AppIdFormat => pick(
                "AppID 以 wx 开头，共 18 位字母或数字",
                "an AppID is 18 letters or digits starting with wx",
            ),
            Problem::AppSecretFormat => pick(
                "AppSecret 为 32 位字母或数字",
                "an AppSecret is 32 letters or digits",
            ),
            Problem::CallbackTokenFormat => pick(
                "令牌为 3–32 位字母或数字",
                "the token is 3–32 letters or digits",
            ),
            Problem::AesKeyFormat => pick(
                "EncodingAESKey 为 43 位字母或数字",
                "an EncodingAESKey is 43 letters or digits",
            ),
            Problem::UrlFormat => pick(
                "应以 http:// 或 https:// 开头，且不含空格",
                "must start with http:// or https:// and contain no spaces",
            ),
            Problem::NotAnOption => pick("请从列表中选择", "choose one of the listed options"),
            Problem::Malformed => pick("缺失或格式不正确", "missing or not in the expected format"),
            Problem::ConfirmMismatch => pick(
                "与账号的 AppID 不一致，未删除",
                "does not match the account's AppID; nothing was deleted",
            ),
            Problem::TooLarge(n) => pick(
                &format!("内容过大（最多 {}）", size(*n)),
                &format!("too large (at most {})", size(*n)),
            ),
            Problem::OpenIdFormat => pick(
                "openid 为 20–64 位字母、数字、- 或 _",
                "an openid is 20–64 letters, digits, - or _",
            ),
            Problem::OutOfRange { min, max } => pick(
                &format!("应在 {} 到 {} 之间", thousands(*min), thousands(*max)),
                &format!(
                    "must be between {} and {}",
                    thousands(*min),
                    thousands(*max)
                ),
            ),
            Problem::TooManyRows(n) => pick(
                &format!("最多 {} 行", thousands(*n as i64)),
                &format!("at most {} rows", thousands(*n as i64)),
            ),
            Problem::TooManyItems(n) => {
                pick(&format!("最多 {n} 项"), &format!("at most {n} entries"))
            }
            Problem::JobState { state, action } => match lang {
                Lang::Zh => format!("任务{}，不能{}", state.label(lang), action.label(lang)),
                Lang::En => format!(
                    "the job is {}: it cannot be {}",
                    state.label(lang),
                    action.label(lang)
                ),
            },
            Problem::AwaitingApproval => pick(
                "任务正在等待另一位管理员审批，审批后才开始发送",
                "the job waits for a second admin's approval before it sends",
            ),
            Problem::NotAwaitingApproval => {
                pick("该任务不需要审批", "the job does not wait for approval")
            }
            Problem::OwnJob => pick(
                "不能审批自己创建的任务，需要另一位管理员审批",
                "you cannot approve a job you created: another admin must",
            ),
            Problem::NoRecipients => pick(
                "没有人会收到这条消息，请调整收件人",
                "nobody would receive this message; change the recipients",
            ),
            Problem::NoLinkedMiniProgram => pick(
                "此公众号没有关联小程序",
                "this Official Account has no linked Mini Program",
            ),
            Problem::NotSubscribePreset => pick(
                "该预设不是所关联小程序的订阅消息预设",
                "the preset is not for a subscribe template of the linked Mini Program",
            ),
            Problem::WrongPresetKind => pick(
                "模板消息与订阅消息的预设不能互换",
                "template-message and subscribe-message presets are not interchangeable",
            ),
            Problem::UnknownTemplate => pick(
                "此账号没有该模板（或其小程序已不再关联）",
                "this account has no such template (or its Mini Program is no longer linked)",
            ),
            Problem::OfficialAccountOnly => {
                pick("仅适用于公众号", "only an Official Account has this")
            }
            Problem::MiniProgramOnly => pick("仅适用于小程序", "only a Mini Program has this"),
            Problem::LinkKinds => pick(
                "公众号只能关联小程序，小程序只能关联公众号",
                "an Official Account links to a Mini Program and the other way round",
            ),
            Problem::SubscribeStatus => pick(
                "应为 accept、reject、ban 或 filter",
                "must be accept, reject, ban or filter",
            ),
            Problem::Value(v) => v.message(!zh),
            Problem::NotATemplateField => {
                pick("模板中没有这个关键词", "the template has no such keyword")
            }
            Problem::UnknownPerson => pick(
                "找不到此人：既不是公众号的粉丝，也不是所关联小程序的用户",
                "nobody known: neither a follower of the Official Account nor a user of its Mini Program",
            ),
            Problem::NotFollowing => pick(
                "此人没有关注公众号，收不到模板消息",
                "this person does not follow the Official Account: no template message can reach them",
            ),
            Problem::NoUnionid => pick(
                "此小程序用户没有 unionid，找不到其公众号 openid",
                "this Mini Program user has no unionid: their Official Account openid is unknown",
            ),
            Problem::NotAMpUser => pick(
                "此人不是所关联小程序的用户，收不到订阅消息",
                "this person is not a user of the linked Mini Program: no subscribe message can reach them",
            ),
            Problem::NoSubscriptionCredit => pick(
                "此人没有该订阅消息的可用次数",
                "this person holds no subscription for the subscribe template",
            ),
            Problem::PresetNotAllowed => {
                pick("此密钥不能使用该预设", "this key may not use the preset")
            }
            Problem::IdempotencyConflict => pick(
                "该幂等键已用于内容不同的请求",
                "the idempotency key was used before with a different request",
            ),
            Problem::KeyRevoked => pick("该密钥已吊销", "the key is revoked"),
            Problem::NotASpreadsheet => pick(
                "不是表格文件：请上传 .xlsx 或 .csv（UTF-8 或 GB18030）",
                "not a spreadsheet: upload an .xlsx or a .csv (UTF-8 or GB18030)",
            ),
            Problem::EmptyHeader { line, column } => pick(
                &format!("第 {line} 行 {column} 列：列名为空，但该列有数据"),
                &format!("line {line}, column {column}: the header is empty but the column holds values"),
            ),
            Problem::DuplicateHeader { line, column, name } => pick(
                &format!("第 {line} 行 {column} 列：列名「{name}」重复"),
                &format!("line {line}, column {column}: the header \"{name}\" appears twice"),
            ),
            Problem::NoPersonColumn { line } => pick(
                &format!("第 {line} 行（表头）没有 openid、unionid 或 mp_openid 列，无法知道发给谁"),
                &format!("line {line} (the header) has no openid, unionid or mp_openid column: nobody to send to"),
            ),
            Problem::SeveralPersonColumns { line } => pick(
                &format!("第 {line} 行（表头）只能有一列 openid、unionid 或 mp_openid"),
                &format!("line {line} (the header) may have only one of openid, unionid and mp_openid"),
            ),
            Problem::MissingColumns(names) => pick(
                &format!("表格缺少预设用到的列：{}", names.join("、")),
                &format!("the file has no column for the preset's variables: {}", names.join(", ")),
            ),
            Problem::UnfilledVariables(names) => pick(
                &format!(
                    "预设使用了变量 {}，只能随表格发送（新建发送任务 › 上传表格）",
                    names.iter().map(|n| format!("{{{{{n}}}}}")).collect::<Vec<_>>().join("、")
                ),
                &format!(
                    "the preset uses the variables {}: send it with a spreadsheet (New send job › upload a spreadsheet)",
                    names.iter().map(|n| format!("{{{{{n}}}}}")).collect::<Vec<_>>().join(", ")
                ),
            ),
            Problem::SheetTemplateOnly => pick(
                "表格中的个人数据只能用公众号模板消息发送",
                "each person's own values go with Official Account template messages only",
            ),
            Problem::StartTime => pick(
                "开始时间应晚于现在，且不超过一年",
                "the start time must be in the future and within a year",
            ),
            Problem::StartTimeFormat => pick(
                "开始时间格式应为 2026-12-31 09:00",
                "write the start time as 2026-12-31 09:00",
            ),
            Problem::QuietHoursEmpty => pick(
                "开始和结束时间不能相同",
                "the start and the end must differ",
            ),
            Problem::UnknownTimeZone => pick(
                "未知的时区，请使用 IANA 名称，例如 Asia/Shanghai",
                "unknown time zone; use an IANA name such as Asia/Shanghai",
            ),
            Problem::TimeOfDayFormat => pick("时间格式应为 10:00", "write the time as 10:00"),
            Problem::CronFormat => pick(
                "Cron 表达式应为 5 段：分 时 日 月 周，例如 0 10 * * 1",
                "a cron expression has 5 fields: minute hour day month weekday, e.g. 0 10 * * 1",
            ),
            Problem::NotARecipientRule => pick(
                "定时任务的收件人须为规则（全部关注者、已匹配、标签、筛选条件、小程序用户），每次运行时重新计算",
                "a recurring send needs a recipient rule (everyone following, matched, a tag, a filter, the Mini Program's users), found afresh at each run",
            ),
            Problem::PresetGone => pick("预设已被删除", "the preset was deleted"),
            Problem::PresetUnusable => pick(
                "预设无法发送（模板已被删除或内容不符合模板规则），请在「模板」页修改",
                "the preset cannot be sent (its template was removed or a value breaks its rules): fix it on the Templates page",
            ),
            Problem::ScheduleRunFailed => pick(
                "运行时服务器出错（已记录日志），下次运行会再试",
                "the server failed during the run (logged); the next run tries again",
            ),
        }
    }
}

fn size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MB", bytes / (1024 * 1024))
    } else {
        format!("{} KB", bytes / 1024)
    }
}

/// A refused input: the field (as the form or API names it) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub field: String,
    pub problem: Problem,
}

impl Refusal {
    pub fn new(field: &str, problem: Problem) -> Self {
        Self {
            field: field.to_owned(),
            problem,
        }
    }

    /// "label: problem", in `lang`. A path into a request (`values.thing1`, `to.unionid`) is
    /// its own label.
    pub fn message(&self, lang: Lang) -> String {
        let label = match self.field.split_once('.') {
            Some(("values" | "to", _)) => self.field.as_str(),
            _ => field_label(&self.field, lang),
        };
        format!(
            "{}{}{}",
            label,
            lang.pick("：", ": "),
            self.problem.message(lang)
        )
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message(Lang::En))
    }
}

impl std::error::Error for Refusal {}

/// The label a person knows a field by.
pub fn field_label(field: &str, lang: Lang) -> &'static str {
    match field {
        "username" => lang.pick("用户名", "Username"),
        "password" => lang.pick("密码", "Password"),
        "password_confirm" => lang.pick("确认密码", "Confirm password"),
        "role" => lang.pick("角色", "Role"),
        "kind" => lang.pick("类型", "Type"),
        "name" => lang.pick("名称", "Name"),
        "appid" => "AppID",
        "secret" => "AppSecret",
        "callback_token" => lang.pick("令牌 (Token)", "Token"),
        "encoding_aes_key" => "EncodingAESKey",
        "api_base" => lang.pick("API 地址", "API base URL"),
        "linked_account_id" => lang.pick("关联账号", "Linked account"),
        "account" | "account_id" => lang.pick("账号", "Account"),
        "template" => lang.pick("模板", "Template"),
        "openid" => "openid",
        "confirm" => lang.pick("确认 AppID", "Confirm AppID"),
        "tag" => lang.pick("标签", "Tag"),
        "subscribed" => lang.pick("关注状态", "Following"),
        "matched" => lang.pick("匹配状态", "Matched"),
        "unionid" => "unionid",
        "first_line" => lang.pick("起始行号", "First line"),
        "recipients" | "source" => lang.pick("收件人", "Recipients"),
        "request" => lang.pick("请求", "Request"),
        "body" => lang.pick("消息内容", "Message"),
        "job_name" => lang.pick("任务名称", "Job name"),
        "rate_limit" => lang.pick("发送速率", "Send rate"),
        "approval_threshold" => lang.pick("审批阈值", "Approval threshold"),
        "time_zone" => lang.pick("控制台时区", "Console time zone"),
        "quiet_start" => lang.pick("免打扰开始时间", "Quiet hours start"),
        "quiet_end" => lang.pick("免打扰结束时间", "Quiet hours end"),
        "daily_cap" => lang.pick("每人每日上限", "Daily cap per person"),
        "state" => lang.pick("任务状态", "Job state"),
        "approver" => lang.pick("审批", "Approval"),
        "action" => lang.pick("操作", "Action"),
        "preset" => lang.pick("模板消息预设", "Template-message preset"),
        "mp_preset" => lang.pick("订阅消息预设", "Subscribe-message preset"),
        "channel" => lang.pick("发送渠道", "Channel"),
        "csv" => lang.pick("CSV 文件", "CSV file"),
        "result" => lang.pick("订阅结果", "Subscribe result"),
        "lang" => lang.pick("语言", "Language"),
        "to" => lang.pick("收件人", "Recipient"),
        "values" => lang.pick("关键词的值", "Keyword values"),
        "idempotency_key" => lang.pick("幂等键", "Idempotency key"),
        "url" => lang.pick("跳转链接", "Link"),
        "pagepath" => lang.pick("小程序页面", "Mini Program page"),
        "key" => lang.pick("接口密钥", "API key"),
        "file" | "sheet" => lang.pick("表格文件", "Spreadsheet"),
        "start_at" => lang.pick("开始时间", "Start time"),
        "rhythm" => lang.pick("重复方式", "Repeats"),
        "at" => lang.pick("时间", "Time"),
        "weekdays" => lang.pick("星期", "Days of the week"),
        "cron" => lang.pick("Cron 表达式", "Cron expression"),
        "schedule" => lang.pick("定时任务", "Recurring send"),
        _ => lang.pick("字段", "Field"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_reads_in_both_languages() {
        let r = Refusal::new("approver", Problem::OwnJob);
        assert_eq!(
            r.message(Lang::Zh),
            "审批：不能审批自己创建的任务，需要另一位管理员审批"
        );
        assert!(r.message(Lang::En).contains("a job you created"));
        let r = Refusal::new(
            "state",
            Problem::JobState {
                state: JobState::Done,
                action: JobAction::Resume,
            },
        );
        assert_eq!(r.message(Lang::Zh), "任务状态：任务已完成，不能继续");
        assert_eq!(
            r.message(Lang::En),
            "Job state: the job is finished: it cannot be resumed"
        );
        let r = Refusal::new(
            "approval_threshold",
            Problem::OutOfRange {
                min: 0,
                max: 100_000_000,
            },
        );
        assert_eq!(r.message(Lang::Zh), "审批阈值：应在 0 到 100,000,000 之间");
        assert_eq!(
            Problem::TooLarge(10 * 1024 * 1024).message(Lang::En),
            "too large (at most 10 MB)"
        );
    }

    #[test]
    fn refusals_travel_as_tagged_data() {
        let r = Refusal::new("rate_limit", Problem::OutOfRange { min: 1, max: 5 });
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"field":"rate_limit","problem":{"code":"out_of_range","params":{"min":1,"max":5}}}"#
        );
        assert_eq!(serde_json::from_str::<Refusal>(&json).unwrap(), r);
    }
}

//! What the audit log records: every action as one enum, its stored code, its group and its
//! words in both languages.

use serde::{Deserialize, Serialize};

use crate::Lang;

/// Declares the actions once: variant, stored code, Chinese and English names.
macro_rules! audit_actions {
    ($($variant:ident = $code:literal, $zh:literal, $en:literal;)+) => {
        /// One audited action. Stored as its code (`login.failure`); the audit page filters on
        /// the code or its group (`login.*`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum AuditAction {
            $(#[serde(rename = $code)] $variant,)+
        }

        impl AuditAction {
            /// Every action, in the order the audit page lists them.
            pub const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)+];

            /// The code stored in `audit_log.action`.
            pub fn code(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $code,)+
                }
            }

            pub fn parse(code: &str) -> Option<AuditAction> {
                match code {
                    $($code => Some(AuditAction::$variant),)+
                    _ => None,
                }
            }

            /// The action's name as the audit page shows it.
            pub fn label(self, lang: Lang) -> &'static str {
                match self {
                    $(AuditAction::$variant => lang.pick($zh, $en),)+
                }
            }
        }
    };
}

audit_actions! {
    LoginSuccess = "login.success", "登录成功", "Logged in";
    LoginFailure = "login.failure", "登录失败", "Login failed";
    // Written by versions before login failures carried a reason.
    LoginThrottled = "login.throttled", "登录被拒绝（已锁定）", "Login refused (locked)";
    LoginDisabled = "login.disabled", "登录被拒绝（账号已停用）", "Login refused (account disabled)";
    Logout = "logout", "退出登录", "Logged out";
    StaffCreate = "staff.create", "添加员工", "Staff added";
    StaffRole = "staff.role", "更改角色", "Role changed";
    StaffDisable = "staff.disable", "停用员工", "Staff disabled";
    StaffEnable = "staff.enable", "启用员工", "Staff enabled";
    StaffPasswordReset = "staff.password_reset", "重置密码", "Password reset";
    ProfilePasswordChange = "profile.password_change", "修改自己的密码", "Changed own password";
    ProfilePasswordChangeFailed = "profile.password_change_failed", "修改密码被拒绝",
        "Password change refused";
    ProfileOpenid = "profile.openid", "绑定测试 openid", "Test openid bound";
    ProfileLang = "profile.lang", "更改界面语言", "Console language changed";
    AccountCreate = "account.create", "添加微信账号", "WeChat account added";
    AccountUpdate = "account.update", "修改微信账号", "WeChat account changed";
    AccountDelete = "account.delete", "删除微信账号", "WeChat account deleted";
    AccountTestConnection = "account.test_connection", "测试连接", "Connection tested";
    MpApiKeyCreate = "mp_api_key.create", "创建小程序 API 密钥", "MP API key created";
    MpApiKeyRevoke = "mp_api_key.revoke", "吊销小程序 API 密钥", "MP API key revoked";
    SendKeyCreate = "send_key.create", "创建发送接口密钥", "Send API key created";
    SendKeyRevoke = "send_key.revoke", "吊销发送接口密钥", "Send API key revoked";
    SendKeyWebhook = "send_key.webhook", "设置发送接口回调", "Send API webhook set";
    MpUsersImport = "mp_users.import", "导入小程序用户", "MP users imported";
    TemplateSync = "template.sync", "同步模板", "Templates synced";
    TemplateSyncFailed = "template.sync_failed", "同步模板失败", "Template sync failed";
    PresetCreate = "preset.create", "新建预设", "Preset created";
    PresetUpdate = "preset.update", "修改预设", "Preset edited";
    PresetDuplicate = "preset.duplicate", "复制预设", "Preset duplicated";
    PresetDelete = "preset.delete", "删除预设", "Preset deleted";
    PresetTestSend = "preset.test_send", "发送测试", "Test sent";
    FollowersSyncStart = "followers.sync.start", "开始同步粉丝", "Follower sync started";
    FollowersSyncCancel = "followers.sync.cancel", "请求取消同步", "Follower sync cancel requested";
    FollowersSyncFinish = "followers.sync.finish", "粉丝同步完成", "Follower sync finished";
    FollowersSyncCancelled = "followers.sync.cancelled", "粉丝同步已取消", "Follower sync cancelled";
    FollowersSyncFail = "followers.sync.fail", "粉丝同步失败", "Follower sync failed";
    FollowersExport = "followers.export", "导出粉丝", "Followers exported";
    JobCreate = "job.create", "新建发送任务", "Send job created";
    JobApprove = "job.approve", "批准发送任务", "Send job approved";
    JobStart = "job.start", "开始发送", "Send job started";
    JobPause = "job.pause", "暂停发送任务", "Send job paused";
    JobResume = "job.resume", "继续发送任务", "Send job resumed";
    JobCancel = "job.cancel", "取消发送任务", "Send job cancelled";
    JobFinish = "job.finish", "发送任务完成", "Send job finished";
    JobRetryFailed = "job.retry_failed", "重试失败的收件人", "Failed recipients retried";
    JobReschedule = "job.reschedule", "修改任务计划", "Scheduled job changed";
    JobExport = "job.export", "导出任务结果", "Job results exported";
    ScheduleCreate = "schedule.create", "新建定时任务", "Recurring send created";
    SchedulePause = "schedule.pause", "暂停定时任务", "Recurring send paused";
    ScheduleResume = "schedule.resume", "恢复定时任务", "Recurring send resumed";
    ScheduleDelete = "schedule.delete", "删除定时任务", "Recurring send deleted";
    ScheduleRun = "schedule.run", "定时任务运行", "Recurring send ran";
    SetupFirstAdmin = "setup.first_admin", "创建第一个管理员", "First admin created";
    SetupRefused = "setup.refused", "设置链接被拒绝", "Setup link refused";
    SettingsApprovalThreshold = "settings.approval_threshold", "修改审批阈值",
        "Approval threshold changed";
    SettingsTimeZone = "settings.time_zone", "修改控制台时区", "Console time zone changed";
    SettingsSendRules = "settings.send_rules", "修改免打扰时段与每日上限",
        "Quiet hours and daily cap changed";
    KeysRotate = "keys.rotate", "轮换主密钥", "Master key rotated";
    KeysEncryptPlaintext = "keys.encrypt_plaintext", "加密已存储的密钥", "Stored secrets encrypted";
    AuditExport = "audit.export", "导出审计日志", "Audit log exported";
}

/// The groups the audit page filters on (`login.*`): the part of the code before its first dot.
pub const AUDIT_GROUPS: &[(&str, &str, &str)] = &[
    ("login", "登录（全部）", "Logins (all)"),
    ("staff", "员工（全部）", "Staff (all)"),
    ("profile", "个人设置（全部）", "Own settings (all)"),
    ("account", "微信账号（全部）", "WeChat accounts (all)"),
    ("mp_api_key", "小程序 API 密钥（全部）", "MP API keys (all)"),
    ("send_key", "发送接口密钥（全部）", "Send API keys (all)"),
    ("mp_users", "小程序用户（全部）", "MP users (all)"),
    ("template", "模板同步（全部）", "Template syncs (all)"),
    ("preset", "预设（全部）", "Presets (all)"),
    ("followers", "粉丝（全部）", "Followers (all)"),
    ("job", "发送任务（全部）", "Send jobs (all)"),
    ("schedule", "定时任务（全部）", "Recurring sends (all)"),
    ("setup", "初始设置（全部）", "First setup (all)"),
    ("settings", "系统设置（全部）", "System settings (all)"),
    ("keys", "密钥（全部）", "Keys (all)"),
    ("audit", "审计日志（全部）", "Audit log (all)"),
];

impl AuditAction {
    /// The group the action is filtered under (`login` for `login.failure`).
    pub fn group(self) -> &'static str {
        let code = self.code();
        code.split_once('.').map_or(code, |(group, _)| group)
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for a in AuditAction::ALL {
            assert!(seen.insert(a.code()), "{} twice", a.code());
            assert_eq!(AuditAction::parse(a.code()), Some(*a));
            assert_eq!(
                serde_json::to_string(a).unwrap(),
                format!("\"{}\"", a.code())
            );
        }
        assert_eq!(AuditAction::parse("something.new"), None);
    }

    #[test]
    fn every_group_is_offered_as_a_filter() {
        for a in AuditAction::ALL {
            if a.code().contains('.') {
                assert!(
                    AUDIT_GROUPS.iter().any(|(g, _, _)| *g == a.group()),
                    "{} has no group filter",
                    a.code()
                );
            }
        }
        assert_eq!(AuditAction::FollowersSyncFail.group(), "followers");
        assert_eq!(AuditAction::LoginFailure.label(Lang::Zh), "登录失败");
        assert_eq!(AuditAction::StaffDisable.label(Lang::En), "Staff disabled");
    }
}

//! Input rules shared by the browser (as you type) and the server (before anything is stored).

use serde::{Deserialize, Serialize};

use crate::i18n::Lang;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 10;
pub const PASSWORD_MAX: usize = 128;

/// What is wrong with a field, independent of language.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl Problem {
    pub fn message(&self, lang: Lang) -> String {
        match (self, lang) {
            (Problem::Required, Lang::Zh) => "必填".into(),
            (Problem::Required, Lang::En) => "required".into(),
            (Problem::TooShort(n), Lang::Zh) => format!("至少 {n} 个字符"),
            (Problem::TooShort(n), Lang::En) => format!("at least {n} characters"),
            (Problem::TooLong(n), Lang::Zh) => format!("最多 {n} 个字符"),
            (Problem::TooLong(n), Lang::En) => format!("at most {n} characters"),
            (Problem::UsernameChars, Lang::Zh) => "只能包含字母、数字、点、下划线和连字符".into(),
            (Problem::UsernameChars, Lang::En) => {
                "only letters, digits, dots, underscores and hyphens".into()
            }
            (Problem::PasswordsDiffer, Lang::Zh) => "两次输入的密码不一致".into(),
            (Problem::PasswordsDiffer, Lang::En) => "the passwords do not match".into(),
            (Problem::AppIdFormat, Lang::Zh) => "AppID 以 wx 开头，共 18 位字母或数字".into(),
            (Problem::AppIdFormat, Lang::En) => {
                "an AppID is 18 letters or digits starting with wx".into()
            }
            (Problem::AppSecretFormat, Lang::Zh) => "AppSecret 为 32 位字母或数字".into(),
            (Problem::AppSecretFormat, Lang::En) => "an AppSecret is 32 letters or digits".into(),
            (Problem::CallbackTokenFormat, Lang::Zh) => "令牌为 3–32 位字母或数字".into(),
            (Problem::CallbackTokenFormat, Lang::En) => {
                "the token is 3–32 letters or digits".into()
            }
            (Problem::AesKeyFormat, Lang::Zh) => "EncodingAESKey 为 43 位字母或数字".into(),
            (Problem::AesKeyFormat, Lang::En) => "an EncodingAESKey is 43 letters or digits".into(),
            (Problem::UrlFormat, Lang::Zh) => "应以 http:// 或 https:// 开头，且不含空格".into(),
            (Problem::UrlFormat, Lang::En) => {
                "must start with http:// or https:// and contain no spaces".into()
            }
            (Problem::NotAnOption, Lang::Zh) => "请从列表中选择".into(),
            (Problem::NotAnOption, Lang::En) => "choose one of the listed options".into(),
            (Problem::Malformed, Lang::Zh) => "缺失或格式不正确".into(),
            (Problem::Malformed, Lang::En) => "missing or not in the expected format".into(),
            (Problem::ConfirmMismatch, Lang::Zh) => "与账号的 AppID 不一致，未删除".into(),
            (Problem::ConfirmMismatch, Lang::En) => {
                "does not match the account's AppID; nothing was deleted".into()
            }
            (Problem::TooLarge(n), Lang::Zh) => format!("内容过长（最多 {} KB）", n / 1024),
            (Problem::TooLarge(n), Lang::En) => format!("too long (at most {} KB)", n / 1024),
            (Problem::OpenIdFormat, Lang::Zh) => "openid 为 20–64 位字母、数字、- 或 _".into(),
            (Problem::OpenIdFormat, Lang::En) => {
                "an openid is 20–64 letters, digits, - or _".into()
            }
        }
    }
}

/// A field name with its problem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub problem: Problem,
}

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
        "template" => lang.pick("模板", "Template"),
        "openid" => "openid",
        "confirm" => lang.pick("确认 AppID", "Confirm AppID"),
        "tag" => lang.pick("标签", "Tag"),
        "subscribed" => lang.pick("关注状态", "Following"),
        "matched" => lang.pick("匹配状态", "Matched"),
        "unionid" => "unionid",
        "first_line" => lang.pick("起始行号", "First line"),
        "recipients" => lang.pick("收件人", "Recipients"),
        "request" => lang.pick("请求", "Request"),
        "body" => lang.pick("消息内容", "Message"),
        _ => lang.pick("字段", "Field"),
    }
}

/// The label of a preset editor field (`name`, `value.thing1`, `color.thing1`, `url`,
/// `miniprogram.appid`, `miniprogram.pagepath`); keyword fields are named by their key.
pub fn preset_field_label(field: &str, lang: Lang) -> String {
    if let Some(key) = field.strip_prefix("value.") {
        return key.to_owned();
    }
    if let Some(key) = field.strip_prefix("color.") {
        return format!("{key} {}", lang.pick("颜色", "color"));
    }
    match field {
        "name" => lang.pick("预设名称", "Preset name"),
        "url" => lang.pick("跳转链接", "Link URL"),
        "miniprogram.appid" => lang.pick("小程序 AppID", "Mini Program AppID"),
        "miniprogram.pagepath" => lang.pick("小程序页面路径", "Mini Program page path"),
        other => field_label(other, lang),
    }
    .to_owned()
}

pub fn username(value: &str) -> Result<(), Problem> {
    let n = value.chars().count();
    if n == 0 {
        Err(Problem::Required)
    } else if n < USERNAME_MIN {
        Err(Problem::TooShort(USERNAME_MIN))
    } else if n > USERNAME_MAX {
        Err(Problem::TooLong(USERNAME_MAX))
    } else if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        Err(Problem::UsernameChars)
    } else {
        Ok(())
    }
}

pub fn new_password(value: &str) -> Result<(), Problem> {
    let n = value.chars().count();
    if n == 0 {
        Err(Problem::Required)
    } else if n < PASSWORD_MIN {
        Err(Problem::TooShort(PASSWORD_MIN))
    } else if n > PASSWORD_MAX {
        Err(Problem::TooLong(PASSWORD_MAX))
    } else {
        Ok(())
    }
}

pub fn password_confirm(password: &str, confirm: &str) -> Result<(), Problem> {
    if confirm.is_empty() {
        Err(Problem::Required)
    } else if password != confirm {
        Err(Problem::PasswordsDiffer)
    } else {
        Ok(())
    }
}

fn alnum(value: &str) -> bool {
    value.chars().all(|c| c.is_ascii_alphanumeric())
}

pub fn account_name(value: &str) -> Result<(), Problem> {
    let n = value.trim().chars().count();
    if n == 0 {
        Err(Problem::Required)
    } else if n > 40 {
        Err(Problem::TooLong(40))
    } else {
        Ok(())
    }
}

pub fn appid(value: &str) -> Result<(), Problem> {
    if value.is_empty() {
        Err(Problem::Required)
    } else if value.len() == 18 && value.starts_with("wx") && alnum(value) {
        Ok(())
    } else {
        Err(Problem::AppIdFormat)
    }
}

pub fn app_secret(value: &str) -> Result<(), Problem> {
    if value.is_empty() {
        Err(Problem::Required)
    } else if value.len() == 32 && alnum(value) {
        Ok(())
    } else {
        Err(Problem::AppSecretFormat)
    }
}

/// The callback token is optional until callbacks are used.
pub fn callback_token(value: &str) -> Result<(), Problem> {
    if value.is_empty() || ((3..=32).contains(&value.len()) && alnum(value)) {
        Ok(())
    } else {
        Err(Problem::CallbackTokenFormat)
    }
}

/// Optional: only safe and compatible callback modes need it.
pub fn encoding_aes_key(value: &str) -> Result<(), Problem> {
    if value.is_empty() || (value.len() == 43 && alnum(value)) {
        Ok(())
    } else {
        Err(Problem::AesKeyFormat)
    }
}

pub fn api_base(value: &str) -> Result<(), Problem> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        None if value.is_empty() => Err(Problem::Required),
        Some(host) if !host.is_empty() && !value.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(Problem::UrlFormat),
    }
}

/// Checks a new account's fields, first problem first.
pub fn new_account(user: &str, password: &str, confirm: Option<&str>) -> Result<(), FieldError> {
    let err = |field: &str, problem| FieldError {
        field: field.into(),
        problem,
    };
    username(user).map_err(|p| err("username", p))?;
    new_password(password).map_err(|p| err("password", p))?;
    if let Some(confirm) = confirm {
        password_confirm(password, confirm).map_err(|p| err("password_confirm", p))?;
    }
    Ok(())
}

/// The form a WeChat account is added or edited with. Secrets may be left empty when editing,
/// meaning "keep the stored one".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountForm {
    pub kind: String,
    pub name: String,
    pub appid: String,
    pub secret: String,
    pub callback_token: String,
    pub encoding_aes_key: String,
    pub api_base: String,
}

impl AccountForm {
    /// Every field's problem, in form order; `editing` lets secrets stay empty.
    pub fn problems(&self, editing: bool) -> Vec<FieldError> {
        let mut out = Vec::new();
        let mut check = |field: &str, r: Result<(), Problem>| {
            if let Err(problem) = r {
                out.push(FieldError {
                    field: field.into(),
                    problem,
                });
            }
        };
        if !editing {
            check(
                "kind",
                if matches!(self.kind.as_str(), "oa" | "mp") {
                    Ok(())
                } else {
                    Err(Problem::NotAnOption)
                },
            );
            check("appid", appid(&self.appid));
        }
        check("name", account_name(&self.name));
        if !(editing && self.secret.is_empty()) {
            check("secret", app_secret(&self.secret));
        }
        check("callback_token", callback_token(&self.callback_token));
        check("encoding_aes_key", encoding_aes_key(&self.encoding_aes_key));
        check("api_base", api_base(&self.api_base));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_fields() {
        assert_eq!(appid("wx5f2a1c3b4d6e7f80"), Ok(()));
        assert_eq!(appid("wx5f2a1c3b4d6e7f8"), Err(Problem::AppIdFormat));
        assert_eq!(appid("gh_5f2a1c3b4d6e7f80"), Err(Problem::AppIdFormat));
        assert_eq!(appid("wx5f2a1c3b4d6e7f8!"), Err(Problem::AppIdFormat));
        assert_eq!(app_secret(&"a1".repeat(16)), Ok(()));
        assert_eq!(app_secret(&"a1".repeat(15)), Err(Problem::AppSecretFormat));
        assert_eq!(callback_token(""), Ok(()));
        assert_eq!(callback_token("ab"), Err(Problem::CallbackTokenFormat));
        assert_eq!(
            callback_token("token_with_underscore"),
            Err(Problem::CallbackTokenFormat)
        );
        assert_eq!(encoding_aes_key(&"A".repeat(43)), Ok(()));
        assert_eq!(
            encoding_aes_key(&"A".repeat(42)),
            Err(Problem::AesKeyFormat)
        );
        assert_eq!(api_base("https://api.weixin.qq.com"), Ok(()));
        assert_eq!(api_base("http://127.0.0.1:9000/"), Ok(()));
        assert_eq!(api_base("api.weixin.qq.com"), Err(Problem::UrlFormat));
        assert_eq!(api_base("https://"), Err(Problem::UrlFormat));
    }

    #[test]
    fn account_form_lists_every_problem_and_allows_kept_secrets_when_editing() {
        let form = AccountForm {
            kind: "oa".into(),
            name: "".into(),
            appid: "wx123".into(),
            secret: "".into(),
            callback_token: "".into(),
            encoding_aes_key: "".into(),
            api_base: "https://api.weixin.qq.com".into(),
        };
        let fields: Vec<String> = form.problems(false).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["appid", "name", "secret"]);
        let fields: Vec<String> = form.problems(true).into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["name"]);
    }

    #[test]
    fn usernames() {
        assert_eq!(username("admin"), Ok(()));
        assert_eq!(username("ops.li-2_x"), Ok(()));
        assert_eq!(username(""), Err(Problem::Required));
        assert_eq!(username("ab"), Err(Problem::TooShort(3)));
        assert_eq!(username(&"a".repeat(33)), Err(Problem::TooLong(32)));
        assert_eq!(username("李雷"), Err(Problem::TooShort(3)));
        assert_eq!(username("李雷韩梅梅"), Err(Problem::UsernameChars));
        assert_eq!(username("a|b|c"), Err(Problem::UsernameChars));
        assert_eq!(username("has space"), Err(Problem::UsernameChars));
    }

    #[test]
    fn passwords() {
        assert_eq!(new_password("0123456789"), Ok(()));
        assert_eq!(new_password("012345678"), Err(Problem::TooShort(10)));
        assert_eq!(new_password(&"x".repeat(129)), Err(Problem::TooLong(128)));
        assert_eq!(
            password_confirm("abc", "abd"),
            Err(Problem::PasswordsDiffer)
        );
        assert_eq!(password_confirm("abc", ""), Err(Problem::Required));
    }

    #[test]
    fn new_account_names_the_first_bad_field() {
        let e = new_account("ok_name", "short", Some("short")).unwrap_err();
        assert_eq!(e.field, "password");
        let e = new_account("ok_name", "long enough pw", Some("different pw")).unwrap_err();
        assert_eq!(e.field, "password_confirm");
        assert!(e.problem.message(Lang::Zh).contains("不一致"));
    }
}

//! The console's forms: the domain's input rules (`model::rules`) applied to whole forms, and the
//! labels of preset-editor fields.

use serde::{Deserialize, Serialize};

use crate::i18n::Lang;
pub use model::refusal::{field_label, Problem, Refusal};
pub use model::rules::*;

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

/// Checks a new account's fields, first problem first.
pub fn new_account(user: &str, password: &str, confirm: Option<&str>) -> Result<(), Refusal> {
    let err = |field: &str, problem| Refusal {
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
    pub fn problems(&self, editing: bool) -> Vec<Refusal> {
        let mut out = Vec::new();
        let mut check = |field: &str, r: Result<(), Problem>| {
            if let Err(problem) = r {
                out.push(Refusal {
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
    fn new_account_names_the_first_bad_field() {
        let e = new_account("ok_name", "short", Some("short")).unwrap_err();
        assert_eq!(e.field, "password");
        let e = new_account("ok_name", "long enough pw", Some("different pw")).unwrap_err();
        assert_eq!(e.field, "password_confirm");
        assert!(e.problem.message(Lang::Zh).contains("不一致"));
    }
}

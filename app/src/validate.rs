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
        _ => lang.pick("字段", "Field"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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

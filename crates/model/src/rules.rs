//! The limits and input rules of the domain: checked as you type in the browser, and enforced by
//! the engine, the server functions, the CLI and the HTTP APIs with these same functions.

use crate::refusal::Problem;

pub const USERNAME_MIN: usize = 3;
pub const USERNAME_MAX: usize = 32;
pub const PASSWORD_MIN: usize = 10;
pub const PASSWORD_MAX: usize = 128;
/// Characters in a WeChat account's display name.
pub const ACCOUNT_NAME_MAX: usize = 40;
/// Characters in a send job's name.
pub const JOB_NAME_MAX: usize = 60;
/// Messages per second a job may ask for; WeChat's own limits are lower.
pub const RATE_LIMIT_MAX: i64 = 100_000;
/// What a job sends at when it does not say.
pub const DEFAULT_RATE_LIMIT: i64 = 500;
/// Recipients above which a job waits for a second admin; 0 = every job, the maximum = never.
pub const APPROVAL_THRESHOLD_MAX: i64 = 100_000_000;

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

/// A job's name, trimmed: required, at most [`JOB_NAME_MAX`] characters.
pub fn job_name(value: &str) -> Result<(), Problem> {
    let n = value.trim().chars().count();
    if n == 0 {
        Err(Problem::Required)
    } else if n > JOB_NAME_MAX {
        Err(Problem::TooLong(JOB_NAME_MAX))
    } else {
        Ok(())
    }
}

/// A job's rate in messages per second, 1 to [`RATE_LIMIT_MAX`].
pub fn rate_limit(value: i64) -> Result<(), Problem> {
    in_range(value, 1, RATE_LIMIT_MAX)
}

/// The approval threshold in recipients, 0 to [`APPROVAL_THRESHOLD_MAX`].
pub fn approval_threshold(value: i64) -> Result<(), Problem> {
    in_range(value, 0, APPROVAL_THRESHOLD_MAX)
}

fn in_range(value: i64, min: i64, max: i64) -> Result<(), Problem> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Problem::OutOfRange { min, max })
    }
}

fn alnum(value: &str) -> bool {
    value.chars().all(|c| c.is_ascii_alphanumeric())
}

pub fn account_name(value: &str) -> Result<(), Problem> {
    let n = value.trim().chars().count();
    if n == 0 {
        Err(Problem::Required)
    } else if n > ACCOUNT_NAME_MAX {
        Err(Problem::TooLong(ACCOUNT_NAME_MAX))
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
    fn job_limits() {
        assert_eq!(job_name("  "), Err(Problem::Required));
        assert_eq!(job_name(&"名".repeat(JOB_NAME_MAX)), Ok(()));
        assert_eq!(
            job_name(&"名".repeat(JOB_NAME_MAX + 1)),
            Err(Problem::TooLong(JOB_NAME_MAX))
        );
        assert_eq!(rate_limit(1), Ok(()));
        assert_eq!(
            rate_limit(0),
            Err(Problem::OutOfRange {
                min: 1,
                max: RATE_LIMIT_MAX
            })
        );
        assert_eq!(approval_threshold(0), Ok(()));
        assert!(approval_threshold(-1).is_err());
        assert!(approval_threshold(APPROVAL_THRESHOLD_MAX + 1).is_err());
    }
}

//! The engine's one error type.

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("account disabled")]
    AccountDisabled,
    #[error("too many failed logins; try again in {retry_after_secs} s")]
    Throttled { retry_after_secs: i64 },
    /// Input or a state the domain's rules refuse: the field and the problem, as data, passed
    /// on unchanged to the console, the CLI and the HTTP APIs.
    #[error("{0}")]
    Refused(#[from] model::Refusal),
    /// A preset the editor would have refused: every problem, by field.
    #[error("invalid preset: {} problem(s)", .0.len())]
    InvalidPreset(Vec<message::Issue>),
    #[error("no openid bound for test sends on this account")]
    NoTestOpenid,
    #[error("the template was removed from WeChat")]
    TemplateRemoved,
    #[error("{0} already exists")]
    Conflict(String),
    #[error("the setup link is invalid or has already been used")]
    SetupClosed,
    #[error("not found")]
    NotFound,
    #[error("WeChat: {0}")]
    WeChat(#[from] wechat::api::ApiError),
    #[error("internal error: {0}")]
    Internal(String),
    /// The account secrets were encrypted under another master key.
    #[error(
        "wrong master key: the account secrets in this database were encrypted under master key \
         {stored}, but the configured master key is {current}"
    )]
    WrongMasterKey { stored: String, current: String },
    /// A stored secret does not decrypt under the right key (altered, moved, or plaintext);
    /// names the row and column, never the value.
    #[error("cannot decrypt {0}")]
    SecretUnreadable(String),
}

impl Error {
    /// `field` is refused for `problem`.
    pub fn refused(field: &str, problem: model::Problem) -> Self {
        Error::Refused(model::Refusal::new(field, problem))
    }

    /// True for a unique-constraint violation, whatever the database.
    pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
    }
}

//! The error type of every server function, carried to the browser and shown in its language.

use serde::{Deserialize, Serialize};
use server_fn::codec::JsonEncoding;
use server_fn::error::{FromServerFnError, ServerFnErrorErr};

use crate::i18n::Lang;
use crate::validate::Refusal;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("not logged in")]
    Unauthenticated,
    #[error("forbidden")]
    Forbidden,
    #[error("wrong username or password")]
    InvalidCredentials,
    #[error("account disabled")]
    AccountDisabled,
    #[error("too many failed logins")]
    Throttled { retry_after_secs: i64 },
    /// Input or a state the domain's rules refuse, as the engine said it.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The request is larger than the server takes: 413.
    #[error("request too large")]
    PayloadTooLarge { max_bytes: usize },
    /// The request itself is malformed (a missing or mistyped argument): 400.
    #[error("malformed request")]
    BadRequest(Refusal),
    /// A preset the editor would refuse: every problem, by field (`value.thing1`, `url`…).
    #[error("invalid preset")]
    InvalidPreset(Vec<message::Issue>),
    #[error("no test openid bound")]
    NoTestOpenid,
    #[error("template removed")]
    TemplateRemoved,
    /// WeChat refused a call; the explanation is in words an operator understands.
    #[error("WeChat error {errcode:?}")]
    WeChat {
        errcode: Option<i64>,
        explain_zh: String,
        explain_en: String,
    },
    #[error("already exists: {0}")]
    Conflict(String),
    #[error("setup link invalid or used")]
    SetupClosed,
    #[error("not found")]
    NotFound,
    #[error("internal server error")]
    Internal,
    #[error("request failed: {0}")]
    Transport(String),
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// In the browser: a request that failed on its way. On the server: arguments that do not
    /// decode are the client's fault (400, naming the field); anything else is internal and
    /// never echoed.
    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        #[cfg(feature = "ssr")]
        {
            ssr::from_framework_error(value)
        }
        #[cfg(not(feature = "ssr"))]
        {
            AppError::Transport(value.to_string())
        }
    }
}

impl AppError {
    /// The message a person reads.
    pub fn message(&self, lang: Lang) -> String {
        match self {
            AppError::Unauthenticated => lang.pick("请先登录", "Please log in first").into(),
            AppError::Forbidden => lang
                .pick("没有权限执行此操作", "You are not allowed to do this")
                .into(),
            AppError::InvalidCredentials => lang
                .pick("用户名或密码错误", "Wrong username or password")
                .into(),
            AppError::AccountDisabled => lang
                .pick(
                    "该账号已停用，请联系管理员",
                    "This account is disabled; ask an admin",
                )
                .into(),
            AppError::Throttled { retry_after_secs } => {
                let minutes = (retry_after_secs + 59) / 60;
                match lang {
                    Lang::Zh => format!("登录失败次数过多，请 {minutes} 分钟后再试"),
                    Lang::En => format!("Too many failed logins. Try again in {minutes} min"),
                }
            }
            AppError::Refused(r) | AppError::BadRequest(r) => r.message(lang),
            AppError::InvalidPreset(issues) => {
                let each: Vec<String> = issues
                    .iter()
                    .map(|i| {
                        format!(
                            "{}: {}",
                            crate::validate::preset_field_label(&i.field, lang),
                            i.problem.message(lang == Lang::En)
                        )
                    })
                    .collect();
                match lang {
                    Lang::Zh => format!(
                        "无法保存，有 {} 处需要修改：{}。",
                        issues.len(),
                        each.join("；")
                    ),
                    Lang::En => format!(
                        "Not saved: {} field(s) need fixing: {}.",
                        issues.len(),
                        each.join("; ")
                    ),
                }
            }
            AppError::PayloadTooLarge { max_bytes } => match lang {
                Lang::Zh => format!("提交的内容过大（最多 {} KB）", max_bytes / 1024),
                Lang::En => format!(
                    "What was sent is too large (at most {} KB)",
                    max_bytes / 1024
                ),
            },
            AppError::NoTestOpenid => lang
                .pick(
                    "请先在「设置 → 我的账号」中绑定你在此公众号的 openid",
                    "Bind your openid for this account first (Settings → My account)",
                )
                .into(),
            AppError::TemplateRemoved => lang
                .pick(
                    "该模板已从微信后台删除，请为预设换一个模板",
                    "The template was removed in WeChat; move the preset to another template",
                )
                .into(),
            AppError::WeChat {
                explain_zh,
                explain_en,
                ..
            } => lang.pick(explain_zh, explain_en).clone(),
            AppError::Conflict(what) => match lang {
                Lang::Zh => format!("已存在: {what}"),
                Lang::En => format!("Already exists: {what}"),
            },
            AppError::SetupClosed => lang
                .pick(
                    "此设置链接无效或已被使用",
                    "This setup link is invalid or has already been used",
                )
                .into(),
            AppError::NotFound => lang
                .pick(
                    "找不到该记录（可能已被删除）",
                    "Not found (it may have been deleted)",
                )
                .into(),
            AppError::Internal => lang
                .pick(
                    "服务器内部错误，请查看日志",
                    "Internal server error; see the server log",
                )
                .into(),
            AppError::Transport(detail) => match lang {
                Lang::Zh => format!("请求失败: {detail}"),
                Lang::En => format!("Request failed: {detail}"),
            },
        }
    }

    /// The HTTP status a JSON client sees.
    pub fn status(&self) -> u16 {
        match self {
            AppError::BadRequest(_) => 400,
            AppError::PayloadTooLarge { .. } => 413,
            AppError::Unauthenticated | AppError::InvalidCredentials => 401,
            AppError::Forbidden | AppError::AccountDisabled | AppError::SetupClosed => 403,
            AppError::NotFound => 404,
            AppError::Throttled { .. } => 429,
            AppError::Refused(_) | AppError::InvalidPreset(_) | AppError::NoTestOpenid => 422,
            AppError::TemplateRemoved => 409,
            AppError::WeChat { .. } => 502,
            AppError::Conflict(_) => 409,
            AppError::Internal | AppError::Transport(_) => 500,
        }
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    //! Framework errors on the server, by whose fault they are.

    use http::request::Parts;
    use leptos::prelude::use_context;
    use leptos_axum::ResponseOptions;
    use server_fn::error::ServerFnErrorErr;

    use super::AppError;
    use crate::args::{malformed_field, missing_field, RequestBody};
    use crate::validate::{Problem, Refusal};

    pub fn from_framework_error(value: ServerFnErrorErr) -> AppError {
        let detail = match &value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => m.clone(),
            ServerFnErrorErr::Deserialization(m) => m.clone(),
            other => {
                tracing::error!("server function failed: {other}");
                return AppError::Internal;
            }
        };
        let parts = use_context::<Parts>();
        let field = parts
            .as_ref()
            .and_then(|p| {
                let body = p.extensions.get::<RequestBody>()?;
                malformed_field(p.uri.path(), &body.0)
            })
            .or_else(|| missing_field(&detail))
            .unwrap_or_else(|| "request".to_owned());
        tracing::debug!(field, detail, "malformed server function arguments");
        // A plain form post (it asks for HTML) is sent back to its form by Leptos, with the
        // error in the URL: its redirect status stays. JSON clients get 400.
        let form_post = parts
            .as_ref()
            .and_then(|p| p.headers.get(http::header::ACCEPT))
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        if !form_post {
            if let Some(opts) = use_context::<ResponseOptions>() {
                opts.set_status(http::StatusCode::BAD_REQUEST);
            }
        }
        AppError::BadRequest(Refusal {
            field,
            problem: Problem::Malformed,
        })
    }
}

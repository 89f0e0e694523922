//! The login page. A plain form underneath, so it works without JavaScript too.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::app::go_to;
use crate::auth::Login;
use crate::components::lang_switch::LangSwitch;
use crate::error::AppError;
use crate::i18n::{tr, use_lang};

#[component]
pub fn LoginPage() -> impl IntoView {
    let lang = use_lang();
    let action = ServerAction::<Login>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    Effect::new(move |_| {
        if let Some(Ok(path)) = action.value().get() {
            go_to(&path);
        }
    });
    let error = move || {
        action.value().get().and_then(Result::err).map(|e| match e {
            // 429: the rate limit or the lockout; said in Chinese, then in English.
            AppError::Throttled { retry_after_secs } => {
                let (zh, en) = throttled_message(retry_after_secs);
                view! {
                    <p class="form-error" role="alert">
                        <span lang="zh-CN">{zh}</span>
                        <br />
                        <span lang="en">{en}</span>
                    </p>
                }
                .into_any()
            }
            other => view! { <p class="form-error" role="alert">{other.message(lang.get())}</p> }
                .into_any(),
        })
    };

    view! {
        <main class="auth-page">
            <div class="auth-card">
                <h1>"wxpush"</h1>
                <p class="subtitle">{tr("微信消息推送控制台", "WeChat messaging console")}</p>
                <ActionForm action=action>
                    <input type="hidden" name="next" value=next />
                    <label for="username">{tr("用户名", "Username")}</label>
                    <input id="username" name="username" type="text" autocomplete="username" required />
                    <label for="password">{tr("密码", "Password")}</label>
                    <input
                        id="password"
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        required
                    />
                    {error}
                    <button type="submit" class="primary" disabled=move || action.pending().get()>
                        {tr("登录", "Log in")}
                    </button>
                </ActionForm>
                <LangSwitch />
            </div>
        </main>
    }
}

/// What a refused login (429) says, in Chinese and in English: seconds under two minutes,
/// whole minutes (rounded up) beyond.
pub fn throttled_message(retry_after_secs: i64) -> (String, String) {
    let secs = retry_after_secs.max(1);
    if secs < 120 {
        (
            format!("登录尝试过于频繁，请 {secs} 秒后再试。"),
            format!("Too many login attempts. Try again in {secs} s."),
        )
    } else {
        let minutes = (secs + 59) / 60;
        (
            format!("登录尝试过于频繁，请 {minutes} 分钟后再试。"),
            format!("Too many login attempts. Try again in {minutes} min."),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::throttled_message;

    #[test]
    fn throttled_message_in_seconds_then_minutes() {
        let (zh, en) = throttled_message(7);
        assert!(zh.contains("7 秒") && en.contains("7 s"), "{zh} {en}");
        let (zh, en) = throttled_message(601);
        assert!(zh.contains("11 分钟") && en.contains("11 min"), "{zh} {en}");
        assert!(throttled_message(0).1.contains("1 s"));
    }
}

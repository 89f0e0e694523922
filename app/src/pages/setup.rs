//! The one-time setup page that creates the first admin from the link printed at start-up.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::app::go_to;
use crate::auth::{setup_status, SetupAdmin};
use crate::i18n::{tr, use_lang};
use crate::validate;

#[component]
pub fn SetupPage() -> impl IntoView {
    let query = use_query_map();
    let token = move || query.read().get("token").unwrap_or_default();
    let status = Resource::new(token, setup_status);

    view! {
        <main class="auth-page">
            <div class="auth-card">
                <h1>{tr("创建第一个管理员", "Create the first admin")}</h1>
                <Suspense fallback=|| view! { <p>"…"</p> }>
                    {move || Suspend::new(async move {
                        match status.await {
                            Ok(true) => view! { <SetupForm token=token() /> }.into_any(),
                            _ => view! { <SetupClosed /> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}

#[component]
fn SetupClosed() -> impl IntoView {
    view! {
        <p class="form-error" role="alert">
            {tr(
                "此设置链接无效或已被使用。请使用已有账号登录，或在服务器上运行 wxpush user add。",
                "This setup link is invalid or has already been used. Log in with an existing account, or run wxpush user add on the server.",
            )}
        </p>
        <a href="/login">{tr("前往登录", "Go to login")}</a>
    }
}

#[component]
fn SetupForm(token: String) -> impl IntoView {
    let lang = use_lang();
    let action = ServerAction::<SetupAdmin>::new();
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let confirm = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(Ok(path)) = action.value().get() {
            go_to(&path);
        }
    });
    // Problems appear once something was typed, with the rules the server applies.
    let hint = move |value: RwSignal<String>, check: fn(&str) -> Result<(), validate::Problem>| {
        move || {
            let v = value.get();
            (!v.is_empty())
                .then(|| check(&v).err())
                .flatten()
                .map(|p| view! { <p class="field-error">{p.message(lang.get())}</p> })
        }
    };
    let confirm_hint = move || {
        let c = confirm.get();
        (!c.is_empty())
            .then(|| validate::password_confirm(&password.get(), &c).err())
            .flatten()
            .map(|p| view! { <p class="field-error">{p.message(lang.get())}</p> })
    };
    let error = move || {
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> })
    };

    view! {
        <ActionForm action=action>
            <input type="hidden" name="token" value=token />
            <label for="username">{tr("用户名", "Username")}</label>
            <input
                id="username"
                name="username"
                type="text"
                autocomplete="username"
                required
                on:input=move |ev| username.set(event_target_value(&ev))
            />
            {hint(username, validate::username)}
            <label for="password">{tr("密码", "Password")}</label>
            <input
                id="password"
                name="password"
                type="password"
                autocomplete="new-password"
                required
                on:input=move |ev| password.set(event_target_value(&ev))
            />
            {hint(password, validate::new_password)}
            <label for="password_confirm">{tr("确认密码", "Confirm password")}</label>
            <input
                id="password_confirm"
                name="password_confirm"
                type="password"
                autocomplete="new-password"
                required
                on:input=move |ev| confirm.set(event_target_value(&ev))
            />
            {confirm_hint}
            {error}
            <button type="submit" class="primary" disabled=move || action.pending().get()>
                {tr("创建管理员", "Create admin")}
            </button>
        </ActionForm>
    }
}

//! The login page. A plain form underneath, so it works without JavaScript too.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::app::go_to;
use crate::auth::Login;
use crate::components::lang_switch::LangSwitch;
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
        action
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> })
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

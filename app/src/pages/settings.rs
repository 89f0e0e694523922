//! Settings: the signed-in profile now; WeChat accounts and staff as they arrive.

use leptos::prelude::*;

use crate::components::empty_state::EmptyState;
use crate::dto::SessionInfo;
use crate::i18n::{tr, use_lang};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let lang = use_lang();
    let user = use_context::<SessionInfo>().and_then(|i| i.user);
    let profile = user.map(|u| {
        let role = u.role;
        view! {
            <section class="card" aria-labelledby="profile-heading">
                <h2 id="profile-heading">{tr("我的账号", "My account")}</h2>
                <dl class="facts">
                    <dt>{tr("用户名", "Username")}</dt>
                    <dd>{u.username}</dd>
                    <dt>{tr("角色", "Role")}</dt>
                    <dd>{move || role.label(lang.get())}</dd>
                    <dt>{tr("界面语言", "Interface language")}</dt>
                    <dd>{move || lang.get().pick("中文", "English")}</dd>
                </dl>
            </section>
        }
    });
    view! {
        <h1>{tr("设置", "Settings")}</h1>
        {profile}
        <EmptyState
            title=tr("尚未添加公众号或小程序", "No Official Account or Mini Program yet")
            hint=tr(
                "微信账号（AppID、AppSecret、回调）将在此管理。",
                "WeChat accounts (AppID, AppSecret, callback) will be managed here.",
            )
        />
    }
}

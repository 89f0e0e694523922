//! The frame of every logged-in page: top bar, navigation, content.

use leptos::prelude::*;
use leptos_router::components::{Outlet, A};

use crate::app::go_to;
use crate::auth::Logout;
use crate::components::account_switcher::AccountSwitcher;
use crate::components::lang_switch::LangSwitch;
use crate::dto::{Role, SessionInfo};
use crate::i18n::{tr, use_lang};

#[component]
pub fn Layout() -> impl IntoView {
    let lang = use_lang();
    let info = use_context::<SessionInfo>().unwrap_or_default();
    let is_admin = info.user.as_ref().is_some_and(|u| u.role == Role::Admin);
    let logout = ServerAction::<Logout>::new();
    Effect::new(move |_| {
        if let Some(Ok(path)) = logout.value().get() {
            go_to(&path);
        }
    });
    let user = info.user.clone().map(|u| {
        let role = u.role;
        view! {
            <span class="current-user">
                <span class="username">{u.username}</span>
                <span class="role">{move || role.label(lang.get())}</span>
            </span>
        }
    });

    view! {
        <header class="topbar">
            <a class="brand" href="/">"wxpush"</a>
            <AccountSwitcher />
            <div class="topbar-right">
                {user}
                <LangSwitch />
                <ActionForm action=logout attr:class="logout">
                    <button type="submit">{tr("退出登录", "Log out")}</button>
                </ActionForm>
            </div>
        </header>
        <nav class="sidenav" aria-label=tr("主导航", "Main navigation")>
            <A href="/" exact=true>{tr("仪表盘", "Dashboard")}</A>
            <A href="/followers">{tr("粉丝", "Followers")}</A>
            <A href="/templates">{tr("模板", "Templates")}</A>
            <A href="/jobs">{tr("发送任务", "Send jobs")}</A>
            <A href="/schedules">{tr("定时任务", "Recurring")}</A>
            <A href="/api-messages">{tr("接口消息", "API messages")}</A>
            <A href="/settings">{tr("设置", "Settings")}</A>
            {is_admin.then(|| view! {
                <A href="/staff">{tr("员工", "Staff")}</A>
                <A href="/audit">{tr("审计日志", "Audit log")}</A>
            })}
        </nav>
        <main class="content">
            <Outlet />
        </main>
    }
}

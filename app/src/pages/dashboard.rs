//! The dashboard: follower and match counts once an account is connected.

use leptos::prelude::*;

use crate::components::empty_state::EmptyState;
use crate::dto::SessionInfo;
use crate::i18n::{tr, use_lang};

#[component]
pub fn DashboardPage() -> impl IntoView {
    let lang = use_lang();
    let name = use_context::<SessionInfo>()
        .and_then(|i| i.user)
        .map(|u| u.username)
        .unwrap_or_default();
    view! {
        <h1>{tr("仪表盘", "Dashboard")}</h1>
        <p class="welcome">{move || lang.get().pick("欢迎，", "Welcome, ")} {name}</p>
        <EmptyState
            title=tr("还没有数据", "No data yet")
            hint=tr(
                "尚未连接公众号或小程序，因此没有粉丝和匹配数据。管理员可以在「设置」中添加账号。",
                "No Official Account or Mini Program is connected, so there are no follower or match figures yet. An admin can add an account under Settings.",
            )
        />
    }
}

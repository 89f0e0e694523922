//! The followers page: synced followers of the selected Official Account.

use leptos::prelude::*;

use crate::components::empty_state::EmptyState;
use crate::i18n::tr;

#[component]
pub fn FollowersPage() -> impl IntoView {
    view! {
        <h1>{tr("粉丝", "Followers")}</h1>
        <EmptyState
            title=tr("还没有粉丝数据", "No followers yet")
            hint=tr(
                "连接公众号并同步粉丝后，粉丝会显示在这里。",
                "Followers appear here once an Official Account is connected and synced.",
            )
        />
    }
}

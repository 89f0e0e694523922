//! The send jobs page: dispatches and their progress.

use leptos::prelude::*;

use crate::components::empty_state::EmptyState;
use crate::i18n::tr;

#[component]
pub fn JobsPage() -> impl IntoView {
    view! {
        <h1>{tr("发送任务", "Send jobs")}</h1>
        <EmptyState
            title=tr("还没有发送任务", "No send jobs yet")
            hint=tr(
                "创建的发送任务及其进度会显示在这里。",
                "Send jobs and their progress will be listed here.",
            )
        />
    }
}

//! The templates page: template messages synced from WeChat and the saved presets.

use leptos::prelude::*;

use crate::components::empty_state::EmptyState;
use crate::i18n::tr;

#[component]
pub fn TemplatesPage() -> impl IntoView {
    view! {
        <h1>{tr("模板", "Templates")}</h1>
        <EmptyState
            title=tr("还没有模板", "No templates yet")
            hint=tr(
                "连接公众号后，可以从微信同步模板消息。",
                "Once an Official Account is connected, its template messages can be synced from WeChat.",
            )
        />
    }
}

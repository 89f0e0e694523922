//! The 404 page.

use leptos::prelude::*;

use crate::i18n::tr;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="auth-page">
            <div class="auth-card">
                <h1>{tr("页面不存在", "Page not found")}</h1>
                <a href="/">{tr("返回首页", "Back to the dashboard")}</a>
            </div>
        </main>
    }
}

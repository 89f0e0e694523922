//! The honest "nothing here yet" panel: a page without data says so instead of showing numbers.

use leptos::prelude::*;

#[component]
pub fn EmptyState(
    title: impl Fn() -> &'static str + Send + Sync + 'static,
    hint: impl Fn() -> &'static str + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <section class="empty-state" role="status">
            <h2>{title}</h2>
            <p>{hint}</p>
        </section>
    }
}

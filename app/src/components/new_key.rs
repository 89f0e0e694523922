//! What both kinds of API keys show: a key just created (once, with the warning that it cannot
//! be shown again), and whether a key is live or revoked.

use leptos::prelude::*;

use crate::dto::format_time_ms;
use crate::i18n::{tr, use_lang};

#[component]
pub fn NewKeyNotice(key: String, label_zh: &'static str, label_en: &'static str) -> impl IntoView {
    let lang = use_lang();
    view! {
        <div class="new-key" role="status">
            <p class="new-key-warning">
                <strong>{tr("只显示一次", "Shown only once")}</strong>
                {tr(
                    "：请立即复制并妥善保存此密钥，离开或刷新页面后无法再次查看。",
                    ": copy this key now and keep it safe; it cannot be shown again once you leave or reload the page.",
                )}
            </p>
            <code class="api-key" aria-label=move || lang.get().pick(label_zh, label_en)>{key}</code>
        </div>
    }
}

/// 有效, or 已吊销 with the time.
#[component]
pub fn KeyState(revoked_at_ms: Option<i64>) -> impl IntoView {
    match revoked_at_ms {
        Some(at) => view! {
            <span class="key-revoked">{tr("已吊销", "Revoked")} " " {format_time_ms(at)}</span>
        }
        .into_any(),
        None => view! { <span class="key-active">{tr("有效", "Active")}</span> }.into_any(),
    }
}

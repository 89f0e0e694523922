//! A key just created, shown once with the warning that it cannot be shown again.

use leptos::prelude::*;

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

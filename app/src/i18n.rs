//! Interface language: Chinese first, English second, chosen per user and switchable live.

use leptos::prelude::*;
pub use model::Lang;

/// The language signal every component reads; provided once by the app root.
pub fn use_lang() -> RwSignal<Lang> {
    use_context::<RwSignal<Lang>>().unwrap_or_else(|| RwSignal::new(Lang::Zh))
}

/// A reactive text in both languages: `{tr("登录", "Log in")}`.
pub fn tr(
    zh: &'static str,
    en: &'static str,
) -> impl Fn() -> &'static str + Copy + Send + Sync + 'static {
    let lang = use_lang();
    move || lang.get().pick(zh, en)
}

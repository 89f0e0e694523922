//! The 中文 / English switch: a form, so it works before hydration and without JavaScript.

use leptos::prelude::*;

use crate::auth::SetLanguage;
use crate::i18n::{use_lang, Lang};

#[component]
pub fn LangSwitch() -> impl IntoView {
    let lang = use_lang();
    let action = ServerAction::<SetLanguage>::new();
    Effect::new(move |_| {
        if let Some(Ok(code)) = action.value().get() {
            if let Some(l) = Lang::parse(&code) {
                lang.set(l);
            }
        }
    });
    view! {
        <ActionForm action=action attr:class="lang-switch">
            <input type="hidden" name="lang" value=move || lang.get().other().code() />
            <button type="submit" lang=move || lang.get().other().html_lang()>
                {move || lang.get().pick("English", "中文")}
            </button>
        </ActionForm>
    }
}

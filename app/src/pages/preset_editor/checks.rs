//! The checks as the form shows them: when a problem shows, its message, focusing its control.

use std::collections::HashSet;

use leptos::prelude::*;
use message::Issue;

use crate::i18n::Lang;

/// Where a field's problem shows: after it was typed into, or after a save attempt.
#[derive(Clone, Copy)]
pub(super) struct Checks {
    pub(super) issues: Memo<Vec<Issue>>,
    pub(super) touched: RwSignal<HashSet<String>>,
    pub(super) attempted: RwSignal<bool>,
}

impl Checks {
    pub(super) fn touch(&self, field: &str) {
        if !self.touched.with_untracked(|t| t.contains(field)) {
            self.touched.update(|t| {
                t.insert(field.to_owned());
            });
        }
    }

    /// The message for `field`, if it has a problem that should show now.
    pub(super) fn message(&self, field: &str, lang: Lang) -> Option<String> {
        let shown = self.attempted.get() || self.touched.with(|t| t.contains(field));
        if !shown {
            return None;
        }
        self.issues.with(|all| {
            all.iter()
                .find(|i| i.field == field)
                .map(|i| i.problem.message(lang == Lang::En))
        })
    }

    /// The error under the control of `field` (id `err-…`), while its problem shows.
    pub(super) fn error_of(self, field: &'static str, lang: RwSignal<Lang>) -> impl IntoView {
        move || {
            self.message(field, lang.get()).map(|m| view! { <p class="field-error" id=format!("err-{}", field.replace('.', "-"))>{m}</p> })
        }
    }

    /// `aria-invalid` of the control of `field`: whether its problem shows.
    pub(super) fn invalid(
        self,
        field: &'static str,
        lang: RwSignal<Lang>,
    ) -> impl Fn() -> String + Copy + Send + Sync + 'static {
        move || self.message(field, lang.get()).is_some().to_string()
    }
}

/// The id of the control that edits preset field `field` (as the checks name it).
fn control_id(field: &str) -> String {
    if let Some(k) = field.strip_prefix("value.") {
        return format!("f-value-{k}");
    }
    if let Some(k) = field.strip_prefix("color.") {
        return format!("f-color-{k}");
    }
    match field {
        "name" => "preset-name",
        "url" => "preset-url",
        "miniprogram.appid" => "preset-mp",
        "miniprogram.pagepath" => "preset-pagepath",
        "page" => "preset-page",
        "miniprogram_state" => "preset-mp-state",
        "lang" => "preset-lang",
        _ => "preset-template",
    }
    .to_owned()
}

/// Moves the keyboard focus to the control of `field` (in the browser; nothing on the server).
pub(super) fn focus_field(field: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let el = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(&control_id(field)))
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
        if let Some(el) = el {
            let _ = el.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = control_id(field);
}

//! A file input whose chosen text file is read in the browser into a signal (CSV uploads).

use leptos::prelude::*;

use crate::i18n::use_lang;

#[component]
pub fn FileText(
    target: RwSignal<String>,
    label: impl Fn() -> &'static str + Send + Sync + Copy + 'static,
) -> impl IntoView {
    let lang = use_lang();
    let problem = RwSignal::new(false);
    let on_file = move |ev: leptos::ev::Event| {
        problem.set(false);
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let chosen = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                .and_then(|input| input.files())
                .and_then(|list| list.get(0));
            if let Some(chosen) = chosen {
                leptos::task::spawn_local(async move {
                    match wasm_bindgen_futures::JsFuture::from(chosen.text()).await {
                        Ok(v) => target.set(v.as_string().unwrap_or_default()),
                        Err(_) => problem.set(true),
                    }
                });
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, target);
    };
    view! {
        <label class="file-pick">
            {label}
            <input type="file" accept=".csv,.txt,text/csv,text/plain" on:change=on_file />
        </label>
        {move || problem.get().then(|| view! {
            <p class="form-error" role="alert">{lang.get().pick("无法读取该文件", "The file could not be read")}</p>
        })}
    }
}

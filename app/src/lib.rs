//! The wxpush Leptos app: routes, pages, components and server functions, shared by server and browser.
// Deep view types (the preset editor) need more than the default 128.
#![recursion_limit = "256"]

pub mod accounts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod components;
pub mod dto;
pub mod error;
pub mod followers;
pub mod i18n;
pub mod instances;
pub mod jobs;
pub mod mp;
pub mod pages;
pub mod profile;
pub mod schedules;
pub mod send_api;
pub mod send_rules;
pub mod staff;
pub mod templates;
pub mod url;
pub mod validate;

#[cfg(feature = "ssr")]
pub mod args;
#[cfg(feature = "ssr")]
pub mod state;

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}

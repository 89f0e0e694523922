//! The document shell and the route table.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, SsrMode};

use crate::components::layout::Layout;
use crate::dto::SessionInfo;
use crate::pages::{
    api_message::ApiMessagePage,
    api_messages::ApiMessagesPage,
    audit::AuditPage,
    dashboard::DashboardPage,
    followers::FollowersPage,
    job::JobPage,
    jobs::JobsPage,
    login::LoginPage,
    new_job::NewJobPage,
    not_found::NotFound,
    preset_editor::PresetEditorPage,
    schedules::{SchedulePage, SchedulesPage},
    settings::SettingsPage,
    setup::SetupPage,
    staff::StaffPage,
    templates::TemplatesPage,
};

/// Name of the `<meta>` that carries [`SessionInfo`] from the server to the hydrating browser.
const SESSION_META: &str = "wxpush-session";

pub fn shell(options: LeptosOptions) -> impl IntoView {
    let info = initial_session_info();
    provide_nonce_from_request();
    view! {
        <!DOCTYPE html>
        <html lang=info.lang.html_lang()>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name=SESSION_META content=info.encode() />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <AutoReload options=options.clone() />
                // The stylesheet shares the bundle's hashed name (scripts/pack-site.mjs).
                <link
                    id="leptos"
                    rel="stylesheet"
                    href=format!("/{}/{}.css", options.site_pkg_dir, options.output_name)
                />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let info = initial_session_info();
    let lang = RwSignal::new(info.lang);
    provide_context(lang);
    provide_context(info);
    provide_context(crate::components::account_switcher::AccountsChanged(
        RwSignal::new(0),
    ));
    // Keeps <html lang> in step with the language switch, and tells the end-to-end tests (and
    // anyone curious) that the page is interactive. The mark waits one task: content inside
    // Suspense hydrates in microtasks after this first effect, and a click before that would be
    // a plain form post.
    Effect::new(move |_| {
        let code = lang.get().html_lang();
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("lang", code);
        }
        set_timeout(
            || {
                if let Some(root) = document().document_element() {
                    let _ = root.set_attribute("data-hydrated", "true");
                }
            },
            std::time::Duration::ZERO,
        );
    });

    view! {
        <Title text="wxpush" />
        <Router>
            <Routes fallback=|| view! { <NotFound /> }>
                <Route path=path!("/login") view=LoginPage ssr=SsrMode::Async />
                <Route path=path!("/setup") view=SetupPage ssr=SsrMode::Async />
                <ParentRoute path=path!("") view=Layout ssr=SsrMode::Async>
                    <Route path=path!("") view=DashboardPage />
                    <Route path=path!("followers") view=FollowersPage />
                    <Route path=path!("templates") view=TemplatesPage />
                    <Route path=path!("templates/presets/:id") view=PresetEditorPage />
                    <Route path=path!("jobs") view=JobsPage />
                    <Route path=path!("jobs/new") view=NewJobPage />
                    <Route path=path!("jobs/:id") view=JobPage />
                    <Route path=path!("schedules") view=SchedulesPage />
                    <Route path=path!("schedules/:id") view=SchedulePage />
                    <Route path=path!("api-messages") view=ApiMessagesPage />
                    <Route path=path!("api-messages/:id") view=ApiMessagePage />
                    <Route path=path!("settings") view=SettingsPage />
                    <Route path=path!("staff") view=StaffPage />
                    <Route path=path!("audit") view=AuditPage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// The session as the server computed it for this request (see the guard middleware).
#[cfg(feature = "ssr")]
fn initial_session_info() -> SessionInfo {
    use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<SessionInfo>().cloned())
        .unwrap_or_default()
}

/// The session as the server wrote it into the page head.
#[cfg(not(feature = "ssr"))]
fn initial_session_info() -> SessionInfo {
    document()
        .query_selector(&format!("meta[name=\"{SESSION_META}\"]"))
        .ok()
        .flatten()
        .and_then(|m| m.get_attribute("content"))
        .map(|c| SessionInfo::decode(&c))
        .unwrap_or_default()
}

#[cfg(feature = "ssr")]
fn provide_nonce_from_request() {
    let nonce = use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<crate::state::CspNonce>().cloned());
    if let Some(n) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(n.0));
    }
}

#[cfg(not(feature = "ssr"))]
fn provide_nonce_from_request() {}

/// Loads `path` as a new page, so everything renders again for a changed session.
pub fn go_to(path: &str) {
    #[cfg(feature = "hydrate")]
    {
        let _ = window().location().set_href(path);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = path;
}

//! The follower sync panel: start and cancel, and a progress bar fed live by server-sent events.

use leptos::prelude::*;

use crate::dto::{format_time_ms, thousands};
use crate::followers::{CancelFollowerSync, StartFollowerSync};
use crate::i18n::{tr, use_lang, Lang};
use model::sync::SyncProgress;

/// The panel, from what the page loaded (`base`) and the live stream since; `finished` is bumped
/// whenever a sync ends, so pages can reload their data. The page makes the actions and the
/// resource at its top: nothing in here takes a hydration number.
#[component]
pub fn SyncPanel(
    base: Option<SyncProgress>,
    live: RwSignal<Option<SyncProgress>>,
    start: ServerAction<StartFollowerSync>,
    cancel: ServerAction<CancelFollowerSync>,
    finished: RwSignal<u32>,
) -> impl IntoView {
    let lang = use_lang();
    // The newer of what the page was rendered with and what the stream has said since.
    let shown = Memo::new(move |_| match (base.clone(), live.get()) {
        (Some(b), Some(l)) if l.run_id >= b.run_id => Some(l),
        (b, None) => b,
        (Some(b), Some(_)) => Some(b),
        (None, l) => l,
    });
    let listening = RwSignal::new(false);
    Effect::new(move |_| {
        let running = shown.get().is_some_and(|p| !p.is_finished());
        if running && !listening.get_untracked() {
            listening.set(true);
            listen(live, listening, finished);
        }
    });
    let start_error = move || {
        start
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> })
    };
    let running = Memo::new(move |_| shown.get().is_some_and(|p| !p.is_finished()));

    view! {
        <section class="card sync-panel" aria-labelledby="sync-heading">
            <h2 id="sync-heading">{tr("粉丝同步", "Follower sync")}</h2>
            {move || match shown.get() {
                None => view! { <p class="muted">{tr("尚未同步过粉丝。", "Followers have not been synced yet.")}</p> }.into_any(),
                Some(p) => view! { <ProgressView p=p lang=lang.get() /> }.into_any(),
            }}
            <div class="sync-actions">
                <ActionForm action=start>
                    <button type="submit" class="primary" disabled=move || running.get() || start.pending().get()>
                        {tr("同步粉丝", "Sync followers")}
                    </button>
                </ActionForm>
                <Show when=move || running.get()>
                    <ActionForm action=cancel>
                        <button type="submit">{tr("取消同步", "Cancel sync")}</button>
                    </ActionForm>
                </Show>
            </div>
            {start_error}
        </section>
    }
}

#[component]
fn ProgressView(p: SyncProgress, lang: Lang) -> impl IntoView {
    let state = p.state.label(lang);
    let eta = p.eta_s().map(|s| match lang {
        Lang::Zh => format!("预计剩余 {s} 秒"),
        Lang::En => format!("about {s} s left"),
    });
    let finished = p.finished_at_ms.map(format_time_ms);
    view! {
        <div class="progress-line">
            <progress max="100" value=p.percent() aria-label=lang.pick("同步进度", "Sync progress")></progress>
            <span class="percent">{format!("{}%", p.percent())}</span>
            <span class=format!("sync-state state-{}", p.state.as_str()) role="status">{state}</span>
        </div>
        <dl class="facts sync-facts">
            <dt>{lang.pick("粉丝总数", "Followers")}</dt>
            <dd>{thousands(p.total)}</dd>
            <dt>{lang.pick("已获取页数", "Pages fetched")}</dt>
            <dd>{thousands(p.pages_done)}</dd>
            <dt>{lang.pick("已列出", "Listed")}</dt>
            <dd>{thousands(p.listed)}</dd>
            <dt>{lang.pick("已获取详情", "Detailed")}</dt>
            <dd>{thousands(p.detailed)}</dd>
            <dt>{lang.pick("速率", "Rate")}</dt>
            <dd>{format!("{} {}", thousands(p.rate_per_s()), lang.pick("人/秒", "followers/s"))} {eta.map(|e| format!(" · {e}"))}</dd>
            {(p.unsubscribed > 0).then(|| view! {
                <dt>{lang.pick("本次标记为取消关注", "Marked unsubscribed")}</dt>
                <dd>{thousands(p.unsubscribed)}</dd>
            })}
            {finished.map(|f| view! {
                <dt>{lang.pick("完成时间", "Finished at")}</dt>
                <dd>{f}</dd>
            })}
        </dl>
        {p.error.map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
    }
}

/// Follows `/events/sync` until the sync ends; then closes the stream and bumps `finished`.
#[cfg(feature = "hydrate")]
fn listen(
    live: RwSignal<Option<SyncProgress>>,
    listening: RwSignal<bool>,
    finished: RwSignal<u32>,
) {
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;

    let Ok(source) = web_sys::EventSource::new("/events/sync") else {
        listening.set(false);
        return;
    };
    let handle = source.clone();
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            let Some(p) = ev.data().as_string().and_then(|t| SyncProgress::decode(&t)) else {
                return;
            };
            let done = p.is_finished();
            live.set(Some(p));
            if done {
                handle.close();
                listening.set(false);
                finished.update(|n| *n += 1);
            }
        });
    source.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
}

#[cfg(not(feature = "hydrate"))]
fn listen(_: RwSignal<Option<SyncProgress>>, _: RwSignal<bool>, _: RwSignal<u32>) {}

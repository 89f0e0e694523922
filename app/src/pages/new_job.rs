//! The recipients chosen on the followers page: a list of openids or "all matching this filter".
//! Creating and running the send job comes with dispatch.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::followers::count_followers;
use crate::i18n::{tr, use_lang, Lang};
use crate::pages::followers::Filters;

#[component]
pub fn NewJobPage() -> impl IntoView {
    let lang = use_lang();
    let query = use_query_map();
    let all = move || query.read().get("mode").as_deref() == Some("all");
    let filters = move || Filters::from_query(|k| query.read().get(k));
    let selected = move || query.read().get_all("openid").unwrap_or_default();
    let count = Resource::new(
        move || (all(), filters()),
        |(all, f)| async move {
            if all {
                count_followers(f.search, f.subscribed, f.unionid, f.matched, f.tag)
                    .await
                    .map(Some)
            } else {
                Ok(None)
            }
        },
    );

    view! {
        <h1>{tr("新建发送任务", "New send job")}</h1>
        <section class="card" aria-labelledby="recipients-heading">
            <h2 id="recipients-heading">{tr("收件人", "Recipients")}</h2>
            <Transition fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match count.await {
                        Ok(Some(n)) => {
                            let f = filters();
                            let summary = f.pairs().into_iter().filter(|(_, v)| !v.is_empty())
                                .map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
                            view! {
                                <p class="recipients" role="status">
                                    {move || match lang.get() {
                                        Lang::Zh => format!("符合筛选条件的全部 {n} 位粉丝"),
                                        Lang::En => format!("All {n} followers matching the filter"),
                                    }}
                                </p>
                                <p class="muted">{if summary.is_empty() { "—".to_owned() } else { summary }}</p>
                            }.into_any()
                        }
                        Ok(None) => {
                            let ids = selected();
                            let n = ids.len();
                            view! {
                                <p class="recipients" role="status">
                                    {move || match lang.get() {
                                        Lang::Zh => format!("已选择 {n} 位粉丝"),
                                        Lang::En => format!("{n} followers selected"),
                                    }}
                                </p>
                                <ul class="selection" aria-label=tr("所选粉丝", "Selected followers")>
                                    {ids.into_iter().map(|o| view! { <li><code>{o}</code></li> }).collect_view()}
                                </ul>
                            }.into_any()
                        }
                        Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                    }
                })}
            </Transition>
            <p class="muted">
                {tr(
                    "选择模板并创建发送任务的功能将随发送任务模块提供。",
                    "Choosing a template and creating the send job arrive with the dispatch module.",
                )}
            </p>
            <a href="/followers">{tr("返回粉丝列表", "Back to followers")}</a>
        </section>
    }
}

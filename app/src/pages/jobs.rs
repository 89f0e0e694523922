//! The send jobs of the session's Official Account, newest first, with their state and progress.

use leptos::prelude::*;

use crate::components::empty_state::EmptyState;
use crate::dto::format_time_ms;
use crate::i18n::{tr, use_lang};
use crate::jobs::list_jobs;
use crate::pages::job::state_label;

#[component]
pub fn JobsPage() -> impl IntoView {
    let lang = use_lang();
    let jobs = Resource::new(|| (), |_| list_jobs());
    view! {
        <div class="section-head">
            <h1>{tr("发送任务", "Send jobs")}</h1>
            <a class="button primary" href="/jobs/new">{tr("新建发送任务", "New send job")}</a>
        </div>
        <Transition fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match jobs.await {
                    Ok(list) if list.is_empty() => view! {
                        <EmptyState
                            title=tr("还没有发送任务", "No send jobs yet")
                            hint=tr(
                                "在粉丝页选择收件人，或在这里新建发送任务。",
                                "Choose recipients on the followers page, or create a send job here.",
                            )
                        />
                    }.into_any(),
                    Ok(list) => view! {
                        <table class="data">
                            <thead><tr>
                                <th scope="col">{tr("任务", "Job")}</th>
                                <th scope="col">{tr("预设", "Preset")}</th>
                                <th scope="col">{tr("状态", "State")}</th>
                                <th scope="col">{tr("收件人", "Recipients")}</th>
                                <th scope="col">{tr("创建", "Created")}</th>
                            </tr></thead>
                            <tbody>
                                {list.into_iter().map(|j| {
                                    let state = j.state.clone();
                                    view! {
                                        <tr>
                                            <th scope="row"><a href=format!("/jobs/{}", j.id)>{j.name.clone()}</a></th>
                                            <td>{j.preset_name.clone()}</td>
                                            <td><span class=format!("job-state state-{}", j.state)>{move || state_label(&state, lang.get())}</span></td>
                                            <td>{j.total}</td>
                                            <td class="muted">{j.created_by.clone()} " · " {format_time_ms(j.created_ms)}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

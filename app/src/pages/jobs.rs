//! The send jobs of the session's Official Account, newest first, with their state; admins set
//! the recipient count above which a job waits for a second admin's approval.

use leptos::prelude::*;

use crate::components::empty_state::EmptyState;
use crate::dto::{format_time_ms, Role, SessionInfo};
use crate::i18n::{tr, use_lang};
use crate::jobs::{approval_threshold, list_jobs, SetApprovalThreshold};
use crate::pages::job::{state_class, state_label};

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
                                    let (state, awaiting, scheduled) = (j.state, j.awaiting_approval, j.scheduled);
                                    view! {
                                        <tr>
                                            <th scope="row"><a href=format!("/jobs/{}", j.id)>{j.name.clone()}</a></th>
                                            <td>{if j.preset_name.is_empty() { j.mp_preset_name.clone().unwrap_or_default() } else { j.preset_name.clone() }}</td>
                                            <td><span class=format!("job-state state-{}", state_class(state, awaiting, scheduled))>{move || state_label(state, awaiting, scheduled, lang.get())}</span></td>
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
        <ApprovalThreshold />
    }
}

/// The approval threshold: shown to everyone, changed by admins.
#[component]
fn ApprovalThreshold() -> impl IntoView {
    let lang = use_lang();
    let admin = use_context::<SessionInfo>()
        .and_then(|i| i.user)
        .is_some_and(|u| u.role == Role::Admin);
    let save = ServerAction::<SetApprovalThreshold>::new();
    let current = Resource::new(move || save.version().get(), |_| approval_threshold());
    let input = RwSignal::new(String::new());
    // Checked as you type with the engine's own rule; the server checks again.
    let problem = move || {
        let text = input.get();
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        let refused = match text.parse::<i64>() {
            Ok(n) => model::rules::approval_threshold(n).err(),
            Err(_) => Some(model::Problem::Malformed),
        };
        refused.map(|p| model::Refusal::new("approval_threshold", p))
    };
    let result = move || {
        if let Some(r) = problem() {
            return Some(
                view! { <p class="form-error" role="alert">{r.message(lang.get())}</p> }.into_any(),
            );
        }
        save.value().get().map(|r| match r {
            Ok(()) => {
                view! { <p class="test-ok" role="status">{tr("已保存", "Saved")}</p> }.into_any()
            }
            Err(e) => {
                view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> }.into_any()
            }
        })
    };
    view! {
        <section class="card" aria-labelledby="approval-threshold-heading">
            <h2 id="approval-threshold-heading">{tr("发送审批", "Send approval")}</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let n = current.await.ok()?;
                    if input.get_untracked().is_empty() {
                        input.set(n.to_string());
                    }
                    Some(view! {
                        <p>{move || lang.get().pick(
                            format!("收件人超过 {n} 人的任务需要另一位管理员批准后才会开始发送。"),
                            format!("Jobs reaching more than {n} recipients wait until another admin approves them."),
                        )}</p>
                    })
                })}
            </Transition>
            {admin.then(|| view! {
                <form class="form-grid" on:submit=move |ev| {
                    ev.prevent_default();
                    if let Ok(threshold) = input.get_untracked().trim().parse::<i64>() {
                        save.dispatch(SetApprovalThreshold { threshold });
                    }
                }>
                    <label for="approval-threshold">{tr("审批阈值（收件人数）", "Approval threshold (recipients)")}</label>
                    <input id="approval-threshold" type="text" inputmode="numeric" prop:value=move || input.get()
                        on:input=move |ev| input.set(event_target_value(&ev)) />
                    <button type="submit" disabled=move || save.pending().get() || problem().is_some()>{tr("保存", "Save")}</button>
                </form>
                {result}
            })}
        </section>
    }
}

//! Recurring sends (定时任务): the list of the session's Official Account, and one with its
//! rhythm, next run, last run and the jobs its runs created; pause, resume, delete.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use model::schedule::ScheduleAction;

use crate::components::empty_state::EmptyState;
use crate::dto::format_time_ms;
use crate::i18n::{tr, use_lang, Lang};
use crate::pages::job::{state_class, state_label};
use crate::schedules::{schedule_page, schedules_page, ControlSchedule, ScheduleDto};

/// The badge of a recurring send.
fn paused_label(paused: bool, lang: Lang) -> &'static str {
    if paused {
        lang.pick("已暂停", "Paused")
    } else {
        lang.pick("运行中", "Active")
    }
}

/// The preset(s) a recurring send sends.
fn presets_of(item: &ScheduleDto) -> String {
    let s = &item.schedule;
    [&s.preset_name, &s.mp_preset_name]
        .into_iter()
        .filter(|n| !n.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" + ")
}

#[component]
pub fn SchedulesPage() -> impl IntoView {
    let lang = use_lang();
    let list = Resource::new(|| (), |_| schedules_page());
    view! {
        <div class="section-head">
            <h1>{tr("定时任务", "Recurring sends")}</h1>
            <a class="button primary" href="/jobs/new">{tr("新建定时任务", "New recurring send")}</a>
        </div>
        <p class="muted">{tr(
            "定时任务按规则（全部关注者、已匹配、标签…）在每次运行时重新确定收件人，每次运行创建一个普通发送任务。在「新建发送任务」的确认步骤中选择「定期重复发送」即可创建。",
            "A recurring send finds its recipients afresh by its rule (everyone following, matched, a tag…) at each run; each run creates a normal send job. Create one from the review step of a new send job: \"Repeat on a schedule\".",
        )}</p>
        <Transition fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match list.await {
                    Ok(dto) if dto.schedules.is_empty() => view! {
                        <EmptyState
                            title=tr("还没有定时任务", "No recurring sends yet")
                            hint=tr("例如：每周一 10:00 给所有已匹配的粉丝发送提醒。", "For example: every Monday at 10:00, a reminder to every matched follower.")
                        />
                    }.into_any(),
                    Ok(dto) => {
                        let tz = dto.time_zone.clone();
                        view! {
                            <table class="data">
                                <caption class="visually-hidden">{tr("定时任务", "Recurring sends")}</caption>
                                <thead><tr>
                                    <th scope="col">{tr("名称", "Name")}</th>
                                    <th scope="col">{tr("重复", "Repeats")}</th>
                                    <th scope="col">{tr("收件人", "Recipients")}</th>
                                    <th scope="col">{tr("预设", "Preset")}</th>
                                    <th scope="col">{move || lang.get().pick(format!("下次运行（{tz}）"), format!("Next run ({tz})"))}</th>
                                    <th scope="col">{tr("状态", "State")}</th>
                                </tr></thead>
                                <tbody>
                                    {dto.schedules.into_iter().map(|item| {
                                        let s = item.schedule.clone();
                                        let (summary, source, paused) = (s.summary.clone(), s.source.clone(), s.paused);
                                        view! {
                                            <tr>
                                                <th scope="row"><a href=format!("/schedules/{}", s.id)>{s.name.clone()}</a></th>
                                                <td>{move || summary.pick(lang.get()).to_owned()}</td>
                                                <td>{move || source.label(lang.get())}</td>
                                                <td>{presets_of(&item)}</td>
                                                <td>{(!paused).then(|| item.next_run.clone())}</td>
                                                <td><span class=format!("job-state state-{}", if paused { "paused" } else { "running" })>{move || paused_label(paused, lang.get())}</span></td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    }
                    Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
pub fn SchedulePage() -> impl IntoView {
    let lang = use_lang();
    let id = crate::url::use_id_param();
    let control = ServerAction::<ControlSchedule>::new();
    let page = Resource::new(
        move || (id(), control.version().get()),
        |(id, _)| schedule_page(id),
    );
    // Set when the action sent is a delete: once it succeeds, back to the list.
    let deleting = RwSignal::new(false);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if matches!(control.value().get(), Some(Ok(()))) && deleting.get_untracked() {
            navigate("/schedules", Default::default());
        }
    });
    let confirm = RwSignal::new(false);
    let control_error = move || {
        control
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> })
    };
    let body = move || {
        Suspend::new(async move {
            let dto = match page.await {
                Ok(dto) => dto,
                Err(e) => {
                    return view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }
                        .into_any()
                }
            };
            let item = dto.item.clone();
            let s = item.schedule.clone();
            let (sid, paused, tz) = (s.id, s.paused, dto.time_zone.clone());
            let (summary, source) = (s.summary.clone(), s.source.clone());
            let cron = s.rhythm.cron_expr();
            let next_run = item.next_run.clone();
            let last = item.last_run.clone().map(|at| {
                let refusal = s.last_refusal.clone();
                let job = s.last_job_id;
                let skipped = s.last_skipped;
                view! {
                    <dt>{tr("上次运行", "Last run")}</dt>
                    <dd>
                        {at}
                        {job.map(|j| view! { " · " <a href=format!("/jobs/{j}")>{move || lang.get().pick(format!("任务 #{j}"), format!("job #{j}"))}</a> })}
                        {refusal.map(|r| view! { <span class="form-error">" · " {move || lang.get().pick("未创建任务：", "no job created: ")} {move || r.message(lang.get())}</span> })}
                        {(skipped > 0).then(|| view! { <span class="notice">" · " {move || lang.get().pick(
                            format!("wxpush 停止期间错过了 {skipped} 次运行，只补发了这一次"),
                            format!("{skipped} runs were missed while wxpush was down; this one run stood for them"),
                        )}</span> })}
                    </dd>
                }
            });
            let runs = dto.runs.clone();
            let has_runs = !runs.is_empty();
            let action = move |action: ScheduleAction| {
                deleting.set(action == ScheduleAction::Delete);
                control.dispatch(ControlSchedule { id: sid, action });
            };
            view! {
                <h1>{s.name.clone()}</h1>
                <section class="card" aria-labelledby="schedule-rhythm-heading">
                    <div class="section-head">
                        <h2 id="schedule-rhythm-heading">{tr("计划", "Schedule")}</h2>
                        <span class=format!("job-state state-{}", if paused { "paused" } else { "running" }) role="status">{move || paused_label(paused, lang.get())}</span>
                    </div>
                    <dl class="facts">
                        <dt>{tr("重复", "Repeats")}</dt>
                        <dd>{move || summary.pick(lang.get()).to_owned()} " " <code class="muted">{cron}</code></dd>
                        <dt>{tr("下次运行", "Next run")}</dt>
                        <dd>{move || if paused {
                            lang.get().pick(format!("已暂停（恢复后为 {next_run}，{tz}）"), format!("paused (if resumed: {next_run}, {tz})"))
                        } else {
                            format!("{next_run}（{tz}）")
                        }}</dd>
                        {last}
                        <dt>{tr("收件人", "Recipients")}</dt>
                        <dd>{move || source.label(lang.get())} <span class="muted">{tr("（每次运行时重新计算）", " (found afresh at each run)")}</span></dd>
                        <dt>{tr("渠道", "Channel")}</dt>
                        <dd>{move || s.channel.label(lang.get())}</dd>
                        <dt>{tr("预设", "Preset")}</dt>
                        <dd>{presets_of(&item)}</dd>
                        <dt>{tr("限速", "Rate limit")}</dt>
                        <dd>{move || lang.get().pick(format!("{} 条/秒", s.rate_limit), format!("{} msg/s", s.rate_limit))}</dd>
                        <dt>{tr("创建", "Created")}</dt>
                        <dd>{s.created_by.clone()} " · " {format_time_ms(s.created_ms)}</dd>
                    </dl>
                    <div class="sync-actions">
                        {if paused {
                            view! { <button type="button" class="primary" disabled=move || control.pending().get()
                                on:click=move |_| action(ScheduleAction::Resume)>{tr("恢复", "Resume")}</button> }.into_any()
                        } else {
                            view! { <button type="button" disabled=move || control.pending().get()
                                on:click=move |_| action(ScheduleAction::Pause)>{tr("暂停", "Pause")}</button> }.into_any()
                        }}
                        {move || if confirm.get() {
                            view! { <button type="button" class="danger" disabled=move || control.pending().get()
                                on:click=move |_| action(ScheduleAction::Delete)>{tr("确认删除（已创建的任务保留）", "Confirm: delete (its jobs stay)")}</button> }.into_any()
                        } else {
                            view! { <button type="button" class="danger" on:click=move |_| confirm.set(true)>{tr("删除", "Delete")}</button> }.into_any()
                        }}
                    </div>
                    {control_error}
                </section>
                <section class="card" aria-labelledby="schedule-runs-heading">
                    <h2 id="schedule-runs-heading">{tr("运行记录", "Runs")}</h2>
                    {if has_runs {
                        view! {
                            <table class="data">
                                <thead><tr>
                                    <th scope="col">{tr("任务", "Job")}</th>
                                    <th scope="col">{tr("状态", "State")}</th>
                                    <th scope="col">{tr("收件人", "Recipients")}</th>
                                    <th scope="col">{tr("创建", "Created")}</th>
                                </tr></thead>
                                <tbody>
                                    {runs.into_iter().map(|j| {
                                        let (state, awaiting, scheduled) = (j.state, j.awaiting_approval, j.scheduled);
                                        view! {
                                            <tr>
                                                <th scope="row"><a href=format!("/jobs/{}", j.id)>{j.name.clone()}</a></th>
                                                <td><span class=format!("job-state state-{}", state_class(state, awaiting, scheduled))>{move || state_label(state, awaiting, scheduled, lang.get())}</span></td>
                                                <td>{j.total}</td>
                                                <td class="muted">{format_time_ms(j.created_ms)}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        }.into_any()
                    } else {
                        view! { <p class="muted">{tr("还没有运行过。", "It has not run yet.")}</p> }.into_any()
                    }}
                </section>
            }
            .into_any()
        })
    };
    view! {
        <p class="crumbs"><a href="/schedules">{tr("← 定时任务", "← Recurring sends")}</a></p>
        <Transition fallback=|| view! { <p>"…"</p> }>{body}</Transition>
    }
}

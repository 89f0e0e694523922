//! A scheduled job's plan on its page: when it starts (in the console time zone), and a form to
//! change the time, name and rate — or start it now — until it starts. Outside the page's
//! once-a-second refresh, so what is being typed stays.

use leptos::prelude::*;
use model::JobAction;

use crate::i18n::{tr, use_lang};
use crate::jobs::{job_progress, ControlJob, RescheduleJob};

#[component]
pub fn ScheduleCard(
    id: i64,
    control: ServerAction<ControlJob>,
    /// Whether the page's live progress says the job still waits to start: when that changes,
    /// the card reads the job again (and goes once it started).
    waiting: RwSignal<bool>,
) -> impl IntoView {
    let lang = use_lang();
    let save = ServerAction::<RescheduleJob>::new();
    let job = Resource::new(
        move || {
            (
                id,
                save.version().get(),
                control.version().get(),
                waiting.get(),
            )
        },
        |(id, _, _, _)| job_progress(id),
    );
    let card = move || {
        Suspend::new(async move {
            let p = job.await.ok()?;
            let j = p.job;
            let at = j
                .start_at
                .clone()
                .filter(|_| j.scheduled || j.awaiting_approval)?;
            let (scheduled, tz) = (j.scheduled, j.time_zone.clone());
            let start_at = RwSignal::new(at.clone());
            let name = RwSignal::new(j.name.clone());
            let rate = RwSignal::new(j.rate_limit.to_string());
            let shown = at.replace('T', " ");
            let on_save = move |_| {
                save.dispatch(RescheduleJob {
                    id,
                    start_at: start_at.get_untracked(),
                    name: name.get_untracked(),
                    rate_limit: rate.get_untracked().trim().parse().unwrap_or(-1),
                });
            };
            let error = move || {
                save.value().get().and_then(Result::err).map(
                    |e| view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> },
                )
            };
            Some(view! {
                <section class="card" aria-labelledby="schedule-heading">
                    <h2 id="schedule-heading">{tr("计划", "Schedule")}</h2>
                    <p>{move || lang.get().pick(
                        format!("将于 {shown}（{tz}）自动开始。"),
                        format!("Starts by itself at {shown} ({tz})."),
                    )}</p>
                    <div class="form-grid">
                        <label for="schedule-start">{tr("开始时间", "Start time")}</label>
                        <input id="schedule-start" type="datetime-local" prop:value=move || start_at.get()
                            on:input=move |ev| start_at.set(event_target_value(&ev)) />
                        <label for="schedule-name">{tr("任务名称", "Job name")}</label>
                        <input id="schedule-name" type="text" prop:value=move || name.get()
                            on:input=move |ev| name.set(event_target_value(&ev)) />
                        <label for="schedule-rate">{tr("限速（条/秒）", "Rate limit (msg/s)")}</label>
                        <input id="schedule-rate" type="text" inputmode="numeric" prop:value=move || rate.get()
                            on:input=move |ev| rate.set(event_target_value(&ev)) />
                    </div>
                    {error}
                    <div class="form-actions">
                        <button type="button" on:click=on_save disabled=move || save.pending().get()>
                            {tr("保存计划", "Save the schedule")}
                        </button>
                        {scheduled.then(|| view! {
                            <button type="button" class="primary" disabled=move || control.pending().get()
                                on:click=move |_| { control.dispatch(ControlJob { id, action: JobAction::Resume }); }>
                                {tr("立即开始", "Start now")}
                            </button>
                        })}
                    </div>
                </section>
            })
        })
    };
    view! { <Transition fallback=|| ()>{card}</Transition> }
}

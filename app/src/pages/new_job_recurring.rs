//! The review's other ending for a recipient rule: save it as a recurring send (定时任务) —
//! daily or weekly at a time, or a cron expression — with the rhythm in words, its next runs in
//! the console time zone and a warning for runs inside quiet hours, before anything is saved.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use model::schedule::{Rhythm, TimeOfDay, Weekday};
use model::{Channel, Problem, RecipientSource, Refusal};

use crate::i18n::{tr, use_lang};
use crate::schedules::{preview_rhythm, CreateSchedule};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Daily,
    Weekly,
    Cron,
}

#[component]
pub fn RecurringControls(
    source: RecipientSource,
    channel: Channel,
    /// The OA preset (0 = none).
    preset: i64,
    /// The subscribe preset (0 = none).
    mp_preset: i64,
    /// The rate of the review's job, for each run's job.
    rate: RwSignal<String>,
) -> impl IntoView {
    let lang = use_lang();
    let kind = RwSignal::new(Kind::Weekly);
    let at = RwSignal::new("10:00".to_owned());
    let days = RwSignal::new(vec![Weekday::Mon]);
    let cron = RwSignal::new("0 10 * * 1-5".to_owned());
    let schedule_name = RwSignal::new(
        lang.get_untracked()
            .pick("每周提醒", "Weekly reminder")
            .to_owned(),
    );
    // The rhythm as typed, or what is wrong with it (the model's rules; the server checks again).
    let rhythm = Memo::new(move |_| -> Result<Rhythm, Refusal> {
        let time =
            || TimeOfDay::parse(&at.get()).ok_or(Refusal::new("at", Problem::TimeOfDayFormat));
        let rhythm = match kind.get() {
            Kind::Daily => Rhythm::Daily { at: time()? },
            Kind::Weekly => Rhythm::Weekly {
                days: days.get(),
                at: time()?,
            },
            Kind::Cron => Rhythm::Cron { expr: cron.get() },
        };
        rhythm.normalized()
    });
    let preview = Resource::new(
        move || rhythm.get().ok(),
        |rhythm| async move {
            match rhythm {
                Some(r) => preview_rhythm(r).await.map(Some),
                None => Ok(None),
            }
        },
    );
    let create = ServerAction::<CreateSchedule>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            navigate(&format!("/schedules/{id}"), Default::default());
        }
    });
    let source = StoredValue::new(source);
    let on_create = move |_| {
        let Ok(rhythm) = rhythm.get_untracked() else {
            return;
        };
        create.dispatch(CreateSchedule {
            name: schedule_name.get_untracked(),
            channel,
            preset_id: preset,
            mp_preset_id: mp_preset,
            source: source.get_value(),
            rhythm,
            rate_limit: rate.get_untracked().trim().parse().unwrap_or(0),
        });
    };
    let kind_choice = move |value: Kind, zh: &'static str, en: &'static str| {
        view! {
            <label class="choice">
                <input type="radio" name="rhythm-kind" checked=move || kind.get() == value
                    on:change=move |_| kind.set(value) />
                {move || lang.get().pick(zh, en)}
            </label>
        }
    };
    let day_boxes = move || {
        Weekday::ALL
            .into_iter()
            .map(|d| {
                view! {
                    <label class="choice">
                        <input type="checkbox" checked=move || days.get().contains(&d)
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                days.update(|list| {
                                    list.retain(|x| *x != d);
                                    if on { list.push(d); }
                                });
                            } />
                        {move || d.label(lang.get())}
                    </label>
                }
            })
            .collect_view()
    };
    let problem = move || {
        let local = rhythm.get().err().or_else(|| {
            model::rules::job_name(schedule_name.get().trim())
                .err()
                .map(|p| Refusal::new("name", p))
        });
        local
    };
    let server_error = move || {
        create
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> })
    };
    let preview_view = move || {
        Suspend::new(async move {
            match preview.await {
                Ok(Some(p)) => {
                    let summary = p.summary.clone();
                    let tz = p.time_zone.clone();
                    let quiet = p.quiet.clone();
                    let runs = p
                        .next_runs
                        .iter()
                        .map(|r| {
                            let in_quiet = quiet.contains(r);
                            view! { <li>{r.clone()} {in_quiet.then(|| view! { <span class="notice">{tr(" · 免打扰时段内，任务会等到时段结束", " · inside quiet hours: the job waits for their end")}</span> })}</li> }
                        })
                        .collect_view();
                    Some(view! {
                        <p role="status" class="rhythm-summary">{move || summary.pick(lang.get()).to_owned()}</p>
                        <p class="muted">{move || lang.get().pick(format!("接下来的运行时间（{tz}）："), format!("Next runs ({tz}):"))}</p>
                        <ol aria-label=move || lang.get().pick("接下来的运行时间", "Next runs")>{runs}</ol>
                    }.into_any())
                }
                Ok(None) => None,
                Err(e) => Some(view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any()),
            }
        })
    };
    view! {
        <details class="recurring">
            <summary>{tr("或：定期重复发送（定时任务）", "Or: repeat on a schedule (recurring send)")}</summary>
            <p class="muted">{tr(
                "每次运行时按所选收件人规则重新确定收件人，并创建一个普通发送任务。",
                "Each run finds the recipients afresh by the rule chosen above and creates a normal send job.",
            )}</p>
            <div class="form-grid">
                <label for="schedule-name-new">{tr("名称（定时任务）", "Name (recurring send)")}</label>
                <input id="schedule-name-new" type="text" prop:value=move || schedule_name.get()
                    on:input=move |ev| schedule_name.set(event_target_value(&ev)) />
            </div>
            <fieldset class="choices">
                <legend>{tr("重复方式", "Repeats")}</legend>
                {kind_choice(Kind::Daily, "每天", "Daily")}
                {kind_choice(Kind::Weekly, "每周", "Weekly")}
                {kind_choice(Kind::Cron, "Cron 表达式", "Cron expression")}
            </fieldset>
            <Show when=move || kind.get() == Kind::Weekly>
                <fieldset class="choices">
                    <legend>{tr("星期", "Days of the week")}</legend>
                    {day_boxes}
                </fieldset>
            </Show>
            <div class="form-grid">
                <Show when=move || kind.get() != Kind::Cron>
                    <label for="schedule-at">{tr("时间", "Time")}</label>
                    <input id="schedule-at" type="time" prop:value=move || at.get()
                        on:input=move |ev| at.set(event_target_value(&ev)) />
                </Show>
                <Show when=move || kind.get() == Kind::Cron>
                    <label for="schedule-cron">{tr("Cron 表达式（分 时 日 月 周）", "Cron expression (minute hour day month weekday)")}</label>
                    <input id="schedule-cron" type="text" prop:value=move || cron.get()
                        on:input=move |ev| cron.set(event_target_value(&ev)) />
                </Show>
            </div>
            <Transition fallback=|| ()>{preview_view}</Transition>
            {move || problem().map(|r| view! { <p class="form-error" role="alert">{r.message(lang.get())}</p> })}
            {server_error}
            <button type="button" class="primary" on:click=on_create
                disabled=move || create.pending().get() || rhythm.get().is_err()>
                {tr("保存为定时任务", "Save as a recurring send")}
            </button>
        </details>
    }
}

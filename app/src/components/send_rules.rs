//! Settings › 免打扰与每日上限 (admins): the console time zone, and the current Official
//! Account's quiet hours and per-person daily cap; and the review step's notice of both.

use leptos::prelude::*;

use crate::i18n::{tr, use_lang};
use crate::send_rules::{load_send_rules, SaveSendRules, SetConsoleTimeZone};
use model::send_rules::{format_hhmm, SendRulesReview};

/// The settings card. Every resource and action is made here, at the top (see settings.rs).
#[component]
pub fn SendRulesSettings() -> impl IntoView {
    let lang = use_lang();
    let save_tz = ServerAction::<SetConsoleTimeZone>::new();
    let save = ServerAction::<SaveSendRules>::new();
    let current = Resource::new(
        move || (save.version().get(), save_tz.version().get()),
        |_| load_send_rules(),
    );
    let time_zone = RwSignal::new(String::new());
    let quiet_on = RwSignal::new(false);
    let quiet_start = RwSignal::new(String::new());
    let quiet_end = RwSignal::new(String::new());
    let cap_on = RwSignal::new(false);
    let daily_cap = RwSignal::new(String::new());
    let loaded = RwSignal::new(false);
    // Checked as you type with the model's rules; the server checks again.
    let quiet_problem = move || {
        if !quiet_on.get() {
            return None;
        }
        model::send_rules::QuietHours::parse(&quiet_start.get(), &quiet_end.get())
            .err()
            .map(|(field, p)| model::Refusal::new(field, p))
    };
    let cap_problem = move || {
        if !cap_on.get() {
            return None;
        }
        let refused = match daily_cap.get().trim().parse::<i64>() {
            Ok(n) => model::send_rules::daily_cap(n).err(),
            Err(_) => Some(model::Problem::Malformed),
        };
        refused.map(|p| model::Refusal::new("daily_cap", p))
    };
    let outcome =
        move |r: Option<Result<(), crate::error::AppError>>| {
            r.map(|r| match r {
                Ok(()) => view! { <p class="test-ok" role="status">{tr("已保存", "Saved")}</p> }
                    .into_any(),
                Err(e) => view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> }
                    .into_any(),
            })
        };
    view! {
        <section class="card" aria-labelledby="send-rules-heading">
            <h2 id="send-rules-heading">{tr("免打扰时段与每日上限", "Quiet hours and daily cap")}</h2>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let dto = current.await.ok()?;
                    if !loaded.get_untracked() {
                        loaded.set(true);
                        time_zone.set(dto.time_zone.clone());
                        quiet_on.set(dto.quiet_on);
                        quiet_start.set(dto.quiet_start.clone());
                        quiet_end.set(dto.quiet_end.clone());
                        cap_on.set(dto.cap_on);
                        daily_cap.set(dto.daily_cap.clone());
                    }
                    let account = dto.account_name.clone();
                    Some(view! {
                        <p>{move || match &account {
                            Some(name) => lang.get().pick(
                                format!("以下免打扰时段与每日上限属于公众号「{name}」（顶栏切换）。时间按控制台时区 {} 计算。", dto.time_zone),
                                format!("The quiet hours and daily cap below belong to the Official Account “{name}” (switch it in the top bar). Times are in the console time zone, {}.", dto.time_zone),
                            ),
                            None => lang.get().pick("还没有公众号。".to_owned(), "No Official Account yet.".to_owned()),
                        }}</p>
                    })
                })}
            </Transition>
            <form class="form-grid" on:submit=move |ev| {
                ev.prevent_default();
                save_tz.dispatch(SetConsoleTimeZone { time_zone: time_zone.get_untracked() });
            }>
                <label for="console-time-zone">{tr("控制台时区（IANA 名称）", "Console time zone (IANA name)")}</label>
                <input id="console-time-zone" type="text" list="time-zones" autocomplete="off"
                    prop:value=move || time_zone.get() on:input=move |ev| time_zone.set(event_target_value(&ev)) />
                <datalist id="time-zones">
                    <option value="Asia/Shanghai"></option>
                    <option value="Asia/Hong_Kong"></option>
                    <option value="Asia/Taipei"></option>
                    <option value="Asia/Singapore"></option>
                    <option value="Asia/Tokyo"></option>
                    <option value="Europe/London"></option>
                    <option value="America/New_York"></option>
                    <option value="UTC"></option>
                </datalist>
                <button type="submit" disabled=move || save_tz.pending().get()>{tr("保存时区", "Save time zone")}</button>
            </form>
            {move || outcome(save_tz.value().get())}
            <form class="stacked" on:submit=move |ev| {
                ev.prevent_default();
                save.dispatch(SaveSendRules {
                    quiet_on: quiet_on.get_untracked(),
                    quiet_start: quiet_start.get_untracked(),
                    quiet_end: quiet_end.get_untracked(),
                    cap_on: cap_on.get_untracked(),
                    daily_cap: daily_cap.get_untracked(),
                });
            }>
                <label>
                    <input type="checkbox" prop:checked=move || quiet_on.get()
                        on:change=move |ev| quiet_on.set(event_target_checked(&ev)) />
                    {tr("开启免打扰时段（此时段内不发送，任务暂停，结束后自动继续）", "Quiet hours (nothing is sent inside them: jobs pause and resume by themselves afterwards)")}
                </label>
                <label for="quiet-start">{tr("免打扰开始（HH:MM）", "Quiet hours start (HH:MM)")}</label>
                <input id="quiet-start" type="text" inputmode="numeric" placeholder="22:00"
                    disabled=move || !quiet_on.get()
                    prop:value=move || quiet_start.get() on:input=move |ev| quiet_start.set(event_target_value(&ev)) />
                <label for="quiet-end">{tr("免打扰结束（HH:MM，可跨午夜）", "Quiet hours end (HH:MM, may cross midnight)")}</label>
                <input id="quiet-end" type="text" inputmode="numeric" placeholder="08:00"
                    disabled=move || !quiet_on.get()
                    prop:value=move || quiet_end.get() on:input=move |ev| quiet_end.set(event_target_value(&ev)) />
                {move || quiet_problem().map(|r| view! { <p class="field-error">{r.message(lang.get())}</p> })}
                <label>
                    <input type="checkbox" prop:checked=move || cap_on.get()
                        on:change=move |ev| cap_on.set(event_target_checked(&ev)) />
                    {tr("开启每人每日上限（所有任务和接口消息合计）", "Daily cap per person (all jobs and API messages together)")}
                </label>
                <label for="daily-cap">{tr("每人每日最多模板消息条数", "Template messages per person per day, at most")}</label>
                <input id="daily-cap" type="text" inputmode="numeric" disabled=move || !cap_on.get()
                    prop:value=move || daily_cap.get() on:input=move |ev| daily_cap.set(event_target_value(&ev)) />
                {move || cap_problem().map(|r| view! { <p class="field-error">{r.message(lang.get())}</p> })}
                <button type="submit" disabled=move || save.pending().get() || quiet_problem().is_some() || cap_problem().is_some()>
                    {tr("保存免打扰与上限", "Save quiet hours and cap")}
                </button>
            </form>
            {move || outcome(save.value().get())}
        </section>
    }
}

/// The review step's notice: quiet hours (a warning when the job would start inside them) and
/// how many planned recipients already reached today's cap.
#[component]
pub fn SendRulesNotice(rules: SendRulesReview) -> impl IntoView {
    let lang = use_lang();
    let tz = rules.time_zone.clone();
    let quiet = rules.quiet_hours.map(|q| {
        let window = q.label();
        let end = format_hhmm(q.end_min);
        let inside = rules.in_quiet_hours;
        let tz = tz.clone();
        view! {
            <p class:form-error=inside role="status">
                {move || match (inside, lang.get()) {
                    (true, l) => l.pick(
                        format!("现在处于免打扰时段（{window}，{tz}）：任务创建后会暂停，到 {end} 自动开始发送。"),
                        format!("It is now within quiet hours ({window}, {tz}): the job will wait, paused, and start by itself at {end}."),
                    ),
                    (false, l) => l.pick(
                        format!("免打扰时段 {window}（{tz}）：任务发送到该时段会暂停，结束后自动继续。"),
                        format!("Quiet hours {window} ({tz}): a job still sending then pauses and resumes by itself afterwards."),
                    ),
                }}
            </p>
        }
    });
    let cap = rules.daily_cap.map(|cap| {
        let at = rules.at_daily_cap;
        let some_capped = at > 0;
        view! {
            <p class:form-error=some_capped role="status">
                {move || lang.get().pick(
                    format!("每人每日上限 {cap} 条模板消息。"),
                    format!("Daily cap: {cap} template messages per person."),
                )}
                {(at > 0).then(|| view! { " " {move || lang.get().pick(
                    format!("其中 {at} 人今天已达上限，将被跳过（今日已达上限）。"),
                    format!("{at} of the recipients already reached today's cap and will be skipped (daily cap reached)."),
                )}})}
            </p>
        }
    });
    view! { {quiet} {cap} }
}

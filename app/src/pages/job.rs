//! One send job: a live progress bar, rate and time left, delivery receipts, the breakdown by
//! errcode in words, controls, and the per-recipient table with filters and CSV export.

use leptos::prelude::*;
use model::{Channel, JobAction, JobState, PauseReason, RecipientState};

use crate::dto::format_time_ms;
use crate::i18n::{tr, use_lang, Lang};
use crate::jobs::{
    job_progress, job_recipients, ControlJob, NewJobFromFailures, ProgressDto, RecipientDto,
    RECIPIENT_PAGE,
};

/// A job's state as its badge shows it; a job waiting for approval or for its start time is
/// paused, shown as such.
pub fn state_label(state: JobState, awaiting: bool, scheduled: bool, lang: Lang) -> String {
    if awaiting {
        return lang.pick("等待审批", "Awaiting approval").to_owned();
    }
    if scheduled {
        return lang.pick("已计划", "Scheduled").to_owned();
    }
    // The domain's word for the state, capitalised for a badge.
    let word = state.label(lang);
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The badge's CSS class suffix.
pub fn state_class(state: JobState, awaiting: bool, scheduled: bool) -> &'static str {
    if awaiting {
        "awaiting_approval"
    } else if scheduled {
        "scheduled"
    } else {
        state.as_str()
    }
}

fn duration(secs: i64, lang: Lang) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    match (lang, h > 0) {
        (Lang::Zh, true) => format!("{h} 小时 {m} 分"),
        (Lang::Zh, false) if m > 0 => format!("{m} 分 {s} 秒"),
        (Lang::Zh, false) => format!("{s} 秒"),
        (Lang::En, true) => format!("{h} h {m} min"),
        (Lang::En, false) if m > 0 => format!("{m} min {s} s"),
        (Lang::En, false) => format!("{s} s"),
    }
}

#[component]
pub fn JobPage() -> impl IntoView {
    let id = crate::url::use_id_param();
    let lang = use_lang();
    let control = ServerAction::<ControlJob>::new();
    let tick = RwSignal::new(0u64);
    let live = RwSignal::new(true);
    let progress = Resource::new(
        move || (id(), tick.get(), control.version().get()),
        |(id, _, _)| job_progress(id),
    );
    // Live progress: poll once a second while the job can still change.
    #[cfg(feature = "hydrate")]
    {
        if let Ok(handle) = set_interval_with_handle(
            move || {
                if live.get_untracked() {
                    tick.update(|t| *t += 1);
                }
            },
            std::time::Duration::from_millis(1000),
        ) {
            on_cleanup(move || handle.clear());
        }
    }
    // Set by the effect below (a resource is read in an effect or under a Transition only).
    let waiting = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(p)) = progress.get() {
            waiting.set(p.job.scheduled || p.job.awaiting_approval);
            live.set(
                matches!(p.job.state, JobState::Running | JobState::Paused)
                    || p.sending > 0
                    || p.awaiting_receipts,
            );
        }
    });

    view! {
        <p class="crumbs"><a href="/jobs">{tr("← 发送任务", "← Send jobs")}</a></p>
        <Transition fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match progress.await {
                    Ok(p) => view! { <JobView p control /> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                }
            })}
        </Transition>
        {move || {
            let id = id();
            (id > 0).then(|| view! {
                <crate::pages::job_schedule::ScheduleCard id control waiting />
                <RecipientTable id />
            })
        }}
    }
}

#[component]
fn JobView(p: ProgressDto, control: ServerAction<ControlJob>) -> impl IntoView {
    let lang = use_lang();
    let id = p.job.id;
    let state = p.job.state;
    let percent = p.percent();
    let finished = p.finished();
    let total = p.job.total;
    let rate = p.rate_per_s;
    let eta = p.eta_secs;
    let pause_reason = p.job.pause_reason;
    let awaiting = p.job.awaiting_approval;
    let scheduled = p.job.scheduled;
    let can_approve = p.can_approve;
    let running = state == JobState::Running;
    let paused = state == JobState::Paused;
    // A job waiting for approval is paused: it can be cancelled (withdrawn), not resumed.
    let open = running || paused;
    let failed = p.failed;
    let unknown = p.unknown;
    let best = p.job.channel == Channel::Best;
    let button =
        move |action: JobAction, zh: &'static str, en: &'static str, class: &'static str| {
            view! {
                <button type="button" class=class disabled=move || control.pending().get()
                    on:click=move |_| { control.dispatch(ControlJob { id, action }); }>
                    {move || lang.get().pick(zh, en)}
                </button>
            }
        };
    let control_error = move || {
        control
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> })
    };
    let counts = [
        ("sent", p.sent, tr("已发送", "Sent")),
        ("failed", p.failed, tr("失败", "Failed")),
        ("skipped", p.skipped, tr("已跳过", "Skipped")),
        ("pending", p.pending + p.sending, tr("待发送", "Pending")),
        ("unknown", p.unknown, tr("结果未知", "Unknown")),
        ("cancelled", p.cancelled, tr("已取消", "Cancelled")),
        (
            "retried",
            p.retried_failures,
            tr("失败后重试", "Retried after failing"),
        ),
    ]
    .into_iter()
    .filter(|(key, n, _)| *key != "retried" || *n > 0)
    .map(|(key, n, label)| {
        view! {
            <div class=format!("count-box {key}")>
                <dt>{label}</dt>
                <dd>{crate::dto::thousands(n)}</dd>
            </div>
        }
    })
    .collect_view();
    let receipts = [
        (p.delivered, tr("已送达", "Delivered")),
        (p.user_blocked, tr("用户拒收", "Blocked by user")),
        (p.system_failed, tr("系统失败", "System failure")),
    ]
    .into_iter()
    .map(|(n, label)| view! { <div class="count-box"><dt>{label}</dt><dd>{crate::dto::thousands(n)}</dd></div> })
    .collect_view();
    let errors = p.errors.clone();
    let error_rows = errors
        .into_iter()
        .map(|e| {
            let (zh, en) = (e.explain_zh.clone(), e.explain_en.clone());
            view! {
                <tr>
                    <th scope="row">{e.errcode}</th>
                    <td>{e.count}</td>
                    <td>{move || lang.get().pick(zh.clone(), en.clone())}<br /><span class="muted">{e.errmsg.clone()}</span></td>
                </tr>
            }
        })
        .collect_view();
    let has_errors = !p.errors.is_empty();
    let skips = p
        .skip_reasons
        .iter()
        .map(|(reason, n)| {
            let (reason, n) = (*reason, *n);
            view! { <li>{move || reason.label(best, lang.get())} ": " {n}</li> }
        })
        .collect_view();
    let job = p.job.clone();
    let channel_rows = p
        .by_channel
        .iter()
        .map(|c| {
            let name = c.channel;
            view! {
                <tr>
                    <th scope="row">{move || name.label(lang.get())}</th>
                    <td>{c.planned}</td>
                    <td>{c.sent}</td>
                    <td>{c.failed}</td>
                    <td>{c.delivered}</td>
                </tr>
            }
        })
        .collect_view();
    let mp_line = job.mp_preset_name.clone().map(|name| {
        let title = job.mp_template_title.clone().unwrap_or_default();
        view! { <br />{tr("订阅消息预设：", "Subscribe preset: ")}{name} " · " {title} }
    });
    let job_channel = job.channel;
    view! {
        <h1>{job.name.clone()}</h1>
        <p class="muted">
            {move || job_channel.label(lang.get())}
            {(!job.preset_name.is_empty()).then(|| view! { " · " {tr("预设：", "Preset: ")}{job.preset_name.clone()} " · " {job.template_title.clone()} })}
            " · " {job.created_by.clone()} " · " {format_time_ms(job.created_ms)}
            " · " {move || lang.get().pick(format!("限速 {} 条/秒", job.rate_limit), format!("limit {} msg/s", job.rate_limit))}
            {mp_line}
            {job.schedule_id.map(|s| view! {
                <br /><a href=format!("/schedules/{s}")>{tr("定时任务的一次运行 →", "A run of a recurring send →")}</a>
            })}
            {job.approved_by.clone().map(|by| view! {
                <br />{tr("审批人：", "Approved by: ")}{by} " · " {job.approved_ms.map(format_time_ms).unwrap_or_default()}
            })}
        </p>
        {awaiting.then(|| view! {
            <section class="card approval" aria-labelledby="approval-heading">
                <h2 id="approval-heading">{tr("等待审批", "Awaiting approval")}</h2>
                <p>{tr(
                    "收件人数超过审批阈值：需要另一位管理员（不是创建者）批准后才会开始发送。",
                    "More recipients than the approval threshold: another admin (not the creator) must approve the job before it sends.",
                )}</p>
                {can_approve.then(|| button(JobAction::Approve, "批准并开始发送", "Approve and start sending", "primary"))}
            </section>
        })}
        <section class="card" aria-labelledby="job-progress-heading">
            <div class="section-head">
                <h2 id="job-progress-heading">{tr("进度", "Progress")}</h2>
                <span class=format!("job-state state-{}", state_class(state, awaiting, scheduled)) role="status">
                    {move || state_label(state, awaiting, scheduled, lang.get())}
                    {pause_reason.map(|r| {
                        let (zh, en) = (p.pause_explain_zh.clone(), p.pause_explain_en.clone());
                        let text = move || match (r, lang.get()) {
                            (PauseReason::Staff, l) => l.pick("：由工作人员暂停", ": paused by staff").to_owned(),
                            (PauseReason::Approval, l) => l.pick("：需要另一位管理员批准后开始发送", ": another admin must approve it before it sends").to_owned(),
                            (PauseReason::MpAccount, l) => l.pick("：发送订阅消息的小程序已从 wxpush 删除", ": the Mini Program sending the subscribe messages was removed from wxpush").to_owned(),
                            (PauseReason::Payload, l) => l.pick("：任务保存的消息无法读取", ": the job's stored message cannot be read").to_owned(),
                            (PauseReason::QuietHours, l) => l.pick("：免打扰时段，结束后自动继续", ": quiet hours; it resumes by itself when they end").to_owned(),
                            (PauseReason::Scheduled, l) => l.pick("：到时间后自动开始", ": it starts by itself at its time").to_owned(),
                            (PauseReason::WeChat(code), Lang::Zh) => format!("：微信拒绝（{code}）。{}", zh.clone().unwrap_or_default()),
                            (PauseReason::WeChat(code), Lang::En) => format!(": WeChat refused ({code}). {}", en.clone().unwrap_or_default()),
                        };
                        view! { <span>{text}</span> }
                    })}
                </span>
            </div>
            <div class="progress-line">
                <progress max="100" value=percent.to_string() aria-label=move || lang.get().pick("发送进度", "Send progress")>{percent}"%"</progress>
                <span class="percent">{percent}"%"</span>
            </div>
            <p class="sync-facts">
                {move || { let (f, t) = (crate::dto::thousands(finished), crate::dto::thousands(total)); lang.get().pick(format!("{f} / {t} 已处理"), format!("{f} / {t} done")) }}
                {(open && rate > 0.0).then(|| view! { " · " {move || lang.get().pick(format!("{rate:.0} 条/秒"), format!("{rate:.0} msg/s"))} })}
                {eta.filter(|_| running).map(|s| view! { " · " {move || lang.get().pick("预计剩余 ", "about ")} {move || duration(s, lang.get())} {move || lang.get().pick("", " left")} })}
            </p>
            <dl class="count-grid">{counts}</dl>
            {(job.channel != Channel::Template).then(|| view! {
                <table class="data by-channel">
                    <caption>{tr("按渠道", "By channel")}</caption>
                    <thead><tr>
                        <th scope="col">{tr("渠道", "Channel")}</th>
                        <th scope="col">{tr("计划", "Planned")}</th>
                        <th scope="col">{tr("已发送", "Sent")}</th>
                        <th scope="col">{tr("失败", "Failed")}</th>
                        <th scope="col">{tr("已送达", "Delivered")}</th>
                    </tr></thead>
                    <tbody>{channel_rows}</tbody>
                </table>
            })}
            <div class="sync-actions">
                {running.then(|| button(JobAction::Pause, "暂停", "Pause", ""))}
                {(paused && !awaiting && !scheduled).then(|| button(JobAction::Resume, "继续", "Resume", "primary"))}
                {open.then(|| button(JobAction::Cancel, "取消任务", "Cancel job", "danger"))}
                {(failed > 0).then(|| button(JobAction::RetryFailed, "重试失败的", "Retry failed", ""))}
                {(!open && failed + unknown > 0 && job.channel == Channel::Template).then(|| view! {
                    <FailuresAsNewJob id preset=job.preset_id />
                })}
                <a class="button" href=format!("/export/jobs/{id}.csv") download="">{tr("导出结果 CSV", "Export results (CSV)")}</a>
            </div>
            {control_error}
        </section>
        <section class="card" aria-labelledby="receipts-heading">
            <h2 id="receipts-heading">{tr("送达回执", "Delivery receipts")}</h2>
            <p class="muted">{tr(
                "微信在消息送达后推送事件到回调地址（模板消息：TEMPLATESENDJOBFINISH；订阅消息：subscribe_msg_sent_event，推送到小程序的回调地址）；未配置回调地址时这里不会有数据。",
                "WeChat pushes an event to the callback URL after delivery (template messages: TEMPLATESENDJOBFINISH; subscribe messages: subscribe_msg_sent_event, to the Mini Program's callback URL); without a callback URL these stay empty.",
            )}</p>
            <dl class="count-grid">{receipts}</dl>
        </section>
        {has_errors.then(|| view! {
            <section class="card" aria-labelledby="errors-heading">
                <h2 id="errors-heading">{tr("失败原因", "Why sends failed")}</h2>
                <table class="data">
                    <thead><tr>
                        <th scope="col">"errcode"</th>
                        <th scope="col">{tr("人数", "Recipients")}</th>
                        <th scope="col">{tr("说明", "Meaning")}</th>
                    </tr></thead>
                    <tbody>{error_rows}</tbody>
                </table>
            </section>
        })}
        {(!p.skip_reasons.is_empty()).then(|| view! {
            <section class="card" aria-labelledby="skips-heading">
                <h2 id="skips-heading">{tr("跳过的收件人", "Skipped recipients")}</h2>
                <ul>{skips}</ul>
            </section>
        })}
    }
}

/// "以失败和未知新建任务": the failed and unknown rows, each with its own values, become an
/// upload of their own, reviewed on the new-job page before a job is created.
#[component]
fn FailuresAsNewJob(id: i64, preset: Option<i64>) -> impl IntoView {
    let lang = use_lang();
    let make = ServerAction::<NewJobFromFailures>::new();
    let navigate = leptos_router::hooks::use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(sheet)) = make.value().get() {
            let preset = preset.map(|p| format!("&preset={p}")).unwrap_or_default();
            navigate(
                &format!("/jobs/new?sheet={sheet}{preset}"),
                Default::default(),
            );
        }
    });
    view! {
        <button type="button" disabled=move || make.pending().get()
            on:click=move |_| { make.dispatch(NewJobFromFailures { id }); }>
            {tr("以失败和未知新建任务", "New job of the failed and unknown")}
        </button>
        {move || make.value().get().and_then(Result::err).map(|e| view! {
            <p class="form-error" role="alert">{e.message(lang.get())}</p>
        })}
    }
}

#[component]
fn RecipientTable(id: i64) -> impl IntoView {
    let lang = use_lang();
    let state_filter = RwSignal::new(None::<RecipientState>);
    let errcode = RwSignal::new(String::new());
    let search = RwSignal::new(String::new());
    let applied = RwSignal::new((None::<RecipientState>, String::new(), String::new()));
    let after = RwSignal::new(0i64);
    let rows = Resource::new(
        move || (applied.get(), after.get()),
        move |((s, e, q), after)| job_recipients(id, s, e, q, after),
    );
    let state_options = [
        RecipientState::Sent,
        RecipientState::Failed,
        RecipientState::Skipped,
        RecipientState::Pending,
        RecipientState::Unknown,
        RecipientState::Cancelled,
    ]
    .into_iter()
    .map(|st| view! { <option value=st.as_str()>{move || st.label(lang.get())}</option> })
    .collect_view();
    let row = move |r: RecipientDto| {
        let (state, reason, delivery, channel) = (r.state, r.skip_reason, r.delivery, r.channel);
        // A spreadsheet row: its line and own values.
        let values = r.line.map(|line| {
            let pairs = r
                .values
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" · ");
            view! { <td>{move || lang.get().pick(format!("第 {line} 行"), format!("line {line}"))} " · " {pairs}</td> }
        });
        let issues = r.issues;
        view! {
            <tr>
                <td>{r.seq}</td>
                <td><code>{r.openid}</code></td>
                {values}
                <td>{move || channel.label(lang.get())}</td>
                <td>{move || state.label(lang.get())}{reason.map(|x| view! { <span class="muted">" · " {move || x.label(false, lang.get())}</span> })}
                    {(!issues.is_empty()).then(|| view! {
                        <ul class="earlier-failures">
                            {issues.iter().cloned().map(|i| view! { <li>{move || i.message(lang.get())}</li> }).collect_view()}
                        </ul>
                    })}
                </td>
                <td>{r.attempts}</td>
                <td>
                    {r.errcode.map(|c| c.to_string()).unwrap_or_default()} " " <span class="muted">{r.errmsg.unwrap_or_default()}</span>
                    {(!r.earlier_failures.is_empty()).then(|| view! {
                        <ul class="earlier-failures">
                            {r.earlier_failures.iter().cloned().map(|(code, msg, at)| view! {
                                <li>
                                    {move || lang.get().pick("此前失败 ", "Failed before ")}
                                    {code.map(|c| c.to_string()).unwrap_or_default()} " · " {format_time_ms(at)}
                                    <span class="muted">" " {msg}</span>
                                </li>
                            }).collect_view()}
                        </ul>
                    })}
                </td>
                <td><code>{r.msgid.unwrap_or_default()}</code></td>
                <td>{move || delivery.map(|d| d.label(lang.get())).unwrap_or("")}</td>
            </tr>
        }
    };
    view! {
        <section class="card" aria-labelledby="recipients-heading">
            <h2 id="recipients-heading">{tr("收件人", "Recipients")}</h2>
            <form class="filters" aria-label=move || lang.get().pick("筛选收件人", "Filter recipients")
                on:submit=move |ev| {
                    ev.prevent_default();
                    after.set(0);
                    applied.set((state_filter.get_untracked(), errcode.get_untracked(), search.get_untracked()));
                }>
                <label>{tr("状态", "State")}
                    <select on:change=move |ev| state_filter.set(RecipientState::parse(&event_target_value(&ev)))><option value="">{tr("全部", "All")}</option>{state_options}</select>
                </label>
                <label>"errcode"
                    <input type="text" inputmode="numeric" size="8" on:input=move |ev| errcode.set(event_target_value(&ev)) />
                </label>
                <label>"openid"
                    <input type="text" on:input=move |ev| search.set(event_target_value(&ev)) />
                </label>
                <button type="submit">{tr("筛选", "Filter")}</button>
            </form>
            <Transition fallback=|| view! { <p>"…"</p> }>
                {move || Suspend::new(async move {
                    match rows.await {
                        Ok(mut list) => {
                            let more = list.len() as i64 > RECIPIENT_PAGE;
                            list.truncate(RECIPIENT_PAGE as usize);
                            let last = list.last().map(|r| r.seq).unwrap_or(0);
                            let first_page = after.get_untracked() == 0;
                            let sheet = list.iter().any(|r| r.line.is_some());
                            view! {
                                <table class="data">
                                    <thead><tr>
                                        <th scope="col">"#"</th>
                                        <th scope="col">"openid"</th>
                                        {sheet.then(|| view! { <th scope="col">{tr("表格中的值", "Values from the file")}</th> })}
                                        <th scope="col">{tr("渠道", "Channel")}</th>
                                        <th scope="col">{tr("状态", "State")}</th>
                                        <th scope="col">{tr("尝试", "Tries")}</th>
                                        <th scope="col">{tr("错误", "Error")}</th>
                                        <th scope="col">"msgid"</th>
                                        <th scope="col">{tr("回执", "Receipt")}</th>
                                    </tr></thead>
                                    <tbody>{list.into_iter().map(row).collect_view()}</tbody>
                                </table>
                                <div class="table-foot">
                                    {(!first_page).then(|| view! { <button type="button" on:click=move |_| after.set(0)>{tr("第一页", "First page")}</button> })}
                                    <span class="spacer"></span>
                                    {more.then(|| view! { <button type="button" on:click=move |_| after.set(last)>{tr("下一页", "Next page")}</button> })}
                                </div>
                            }.into_any()
                        }
                        Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

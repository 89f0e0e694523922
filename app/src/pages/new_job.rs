//! A new send job: the channel (OA template, MP subscribe message, or the best per person) and
//! its presets, then the recipients (the followers page's selection or filter, all followers,
//! matched ones, a tag, the Mini Program's users, or pasted/uploaded openids or unionids), then a
//! review (who receives which way, who cannot be reached and why, today's quota, the preview),
//! then create.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use message::PreviewMode;

use crate::components::message_preview::{MessagePreview, ServiceNoticePreview};
use crate::i18n::{tr, use_lang};
use crate::jobs::{plan_job, review_sheet, sheet_summary, CreateJob, PlanDto};
use crate::pages::followers::filter_of_url;
use crate::pages::new_job_sheet::{SheetReviewView, SheetUpload};
use crate::templates::{preset_editor, templates_page};
use model::{Channel, RecipientSource, RowChannel};

/// A review is for one source, channel and subscribe preset.
type PlanKey = (RecipientSource, Channel, i64);

#[component]
pub fn NewJobPage() -> impl IntoView {
    let lang = use_lang();
    let query = use_query_map();
    // A filter the URL gets wrong is never widened to "everyone": the filter choice is not
    // offered and the page says why.
    let filters = filter_of_url(|k| query.read_untracked().get(k));
    let filter_error = filters.clone().err();
    let filters = filters.unwrap_or_default();
    let from_filter =
        query.read_untracked().get("mode").as_deref() == Some("all") && filter_error.is_none();
    let selection = query.read_untracked().get_all("openid").unwrap_or_default();
    // A spreadsheet upload comes back here with its id, or with why it was refused.
    let sheet_id = query
        .read_untracked()
        .get("sheet")
        .and_then(|s| s.parse::<i64>().ok());
    let sheet_refused: Option<model::Refusal> = query
        .read_untracked()
        .get("sheet_refused")
        .and_then(|r| serde_json::from_str(&r).ok());
    let initial_kind = if sheet_id.is_some() || sheet_refused.is_some() {
        "sheet"
    } else if from_filter {
        "filter"
    } else if !selection.is_empty() {
        "selection"
    } else {
        "all"
    };
    let kind = RwSignal::new(initial_kind.to_owned());
    let tag = RwSignal::new(String::new());
    let csv = RwSignal::new(String::new());
    let preset = RwSignal::new(
        query
            .read_untracked()
            .get("preset")
            .and_then(|p| p.parse::<i64>().ok())
            .unwrap_or(0),
    );
    let mp_preset = RwSignal::new(0_i64);
    let channel = RwSignal::new(
        query
            .read_untracked()
            .get("channel")
            .and_then(|c| Channel::parse(&c))
            .unwrap_or(Channel::Template),
    );
    let uses_template = move || channel.get().uses_template();
    let uses_subscribe = move || channel.get().uses_subscribe();
    let name = RwSignal::new(String::new());
    let rate = RwSignal::new("200".to_owned());
    // Empty: the job starts at once; else its start in the console time zone.
    let start_at = RwSignal::new(String::new());
    let selection = StoredValue::new(selection);
    let filters = StoredValue::new(filters);

    let source = move || -> Option<RecipientSource> {
        Some(match kind.get().as_str() {
            "selection" => RecipientSource::Openids(selection.get_value()),
            "filter" => RecipientSource::Filter(filters.get_value()),
            "matched" => RecipientSource::Matched,
            "tag" => RecipientSource::Tag(tag.get().trim().parse().ok()?),
            "csv_openids" => RecipientSource::CsvOpenids(csv.get()),
            "csv_unionids" => RecipientSource::CsvUnionids(csv.get()),
            "mp_users" => RecipientSource::MpUsers,
            "sheet" => RecipientSource::Sheet(sheet_id?),
            _ => RecipientSource::AllSubscribed,
        })
    };
    let is_sheet = move || kind.get() == "sheet";
    let sheet_summary = sheet_id.map(|id| Resource::new(move || id, sheet_summary));
    // Each person's own values go with OA template messages only.
    Effect::new(move |_| {
        if is_sheet() && channel.get_untracked() != Channel::Template {
            channel.set(Channel::Template);
        }
    });
    let sheet_check = Action::new(move |(sheet, preset): &(i64, i64)| {
        let (sheet, preset) = (*sheet, *preset);
        async move { review_sheet(sheet, preset).await }
    });
    let reviewed_for = RwSignal::new(None::<(i64, i64)>);
    let review_is_current = move || {
        reviewed_for.get().is_some() && reviewed_for.get() == sheet_id.map(|s| (s, preset.get()))
    };
    let presets = Resource::new(|| (), |_| templates_page());
    // The plan belongs to the source it was made for; changing the source asks for a new one.
    let plan = Action::new(move |(source, channel, mp_preset): &PlanKey| {
        let (source, channel, mp_preset) = (source.clone(), *channel, *mp_preset);
        async move { plan_job(source, channel, mp_preset).await }
    });
    let planned_for = RwSignal::new(None::<PlanKey>);
    // What a plan depends on: the source, the channel and the subscribe preset (its credits).
    let plan_key = move || {
        source().map(|source| {
            let mp = if uses_subscribe() { mp_preset.get() } else { 0 };
            (source, channel.get(), mp)
        })
    };
    let plan_is_current = move || planned_for.get().is_some() && planned_for.get() == plan_key();
    let create = ServerAction::<CreateJob>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            navigate(&format!("/jobs/{id}"), Default::default());
        }
    });

    let channel_choice = move |value: Channel,
                               zh: &'static str,
                               en: &'static str,
                               enabled: bool| {
        view! {
            <label class="choice">
                <input type="radio" name="channel" value=value.as_str() checked=move || channel.get() == value
                    disabled=!enabled on:change=move |_| channel.set(value) />
                {move || lang.get().pick(zh, en)}
            </label>
        }
    };
    let source_choice = move |value: &'static str, zh: String, en: String| {
        view! {
            <label class="choice">
                <input type="radio" name="source" value=value checked=move || kind.get() == value
                    on:change=move |_| kind.set(value.to_owned()) />
                {move || lang.get().pick(zh.clone(), en.clone())}
            </label>
        }
    };
    let n_selected = selection.with_value(Vec::len);
    let preset_select = move || {
        Suspend::new(async move {
            match presets.await {
                Ok(page) => {
                    let is_mp =
                        |template_ref: i64| page.mp_templates.iter().any(|t| t.id == template_ref);
                    let (mp_ready, oa_ready): (Vec<_>, Vec<_>) = page
                        .presets
                        .iter()
                        .filter(|p| !p.template_removed && p.issues == 0)
                        .cloned()
                        .partition(|p| is_mp(p.template_ref));
                    if preset.get_untracked() == 0 {
                        if let Some(first) = oa_ready.first() {
                            preset.set(first.id);
                        }
                    }
                    if mp_preset.get_untracked() == 0 {
                        if let Some(first) = mp_ready.first() {
                            mp_preset.set(first.id);
                        }
                    }
                    let has_mp = page.mp.is_some();
                    let (oa_ready, mp_ready) =
                        (StoredValue::new(oa_ready), StoredValue::new(mp_ready));
                    let oa_select = move || {
                        if oa_ready.with_value(Vec::is_empty) {
                            view! { <p class="muted">{tr("还没有可发送的模板消息预设，请先在「模板」页创建。", "No sendable template-message preset yet: create one on the Templates page first.")}</p> }.into_any()
                        } else {
                            view! {
                            <select id="job-preset" on:change=move |ev| {
                                if let Ok(id) = event_target_value(&ev).parse() { preset.set(id); }
                            }>
                                {oa_ready.get_value().into_iter().map(|p| view! {
                                    <option value=p.id.to_string() selected=p.id == preset.get_untracked()>{p.name} " · " {p.template_title}</option>
                                }).collect_view()}
                            </select>
                        }.into_any()
                        }
                    };
                    let mp_select = move || {
                        if mp_ready.with_value(Vec::is_empty) {
                            view! { <p class="muted">{tr("还没有可发送的订阅消息预设，请先在「模板」页同步小程序模板并创建。", "No sendable subscribe-message preset yet: sync the Mini Program's templates on the Templates page and create one first.")}</p> }.into_any()
                        } else {
                            view! {
                            <select id="job-mp-preset" on:change=move |ev| {
                                if let Ok(id) = event_target_value(&ev).parse() { mp_preset.set(id); }
                            }>
                                {mp_ready.get_value().into_iter().map(|p| view! {
                                    <option value=p.id.to_string() selected=p.id == mp_preset.get_untracked()>{p.name} " · " {p.template_title}</option>
                                }).collect_view()}
                            </select>
                        }.into_any()
                        }
                    };
                    view! {
                        <fieldset class="choices">
                            <legend>{tr("发送渠道", "Channel")}</legend>
                            {channel_choice(Channel::Template, "公众号模板消息：发给关注公众号的粉丝", "OA template message: to followers of the Official Account", true)}
                            {channel_choice(Channel::Subscribe, "小程序订阅消息：发给订阅了该模板的小程序用户", "Mini Program subscribe message: to Mini Program users subscribed to the template", has_mp)}
                            {channel_choice(Channel::Best, "最佳渠道：关注公众号的发模板消息，其余持有订阅额度的发小程序订阅消息", "Best available: the OA template to followers, otherwise a subscribe message to those holding a subscription", has_mp)}
                            {(!has_mp).then(|| view! { <p class="muted">{tr("本公众号未关联小程序，只能发送模板消息。", "This Official Account has no linked Mini Program: template messages only.")}</p> })}
                        </fieldset>
                        <div class="form-grid">
                            <Show when=uses_template>
                                <label for="job-preset">{tr("模板消息预设", "Template-message preset")}</label>
                                {oa_select}
                            </Show>
                            <Show when=uses_subscribe>
                                <label for="job-mp-preset">{tr("订阅消息预设", "Subscribe-message preset")}</label>
                                {mp_select}
                            </Show>
                        </div>
                    }.into_any()
                }
                Err(e) => {
                    view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }
                        .into_any()
                }
            }
        })
    };
    let on_check = move |_| {
        if is_sheet() {
            if let Some(key) = sheet_id.map(|s| (s, preset.get_untracked())) {
                reviewed_for.set(Some(key));
                sheet_check.dispatch(key);
            }
            return;
        }
        if let Some(key) = plan_key() {
            planned_for.set(Some(key.clone()));
            plan.dispatch(key);
        }
    };
    let on_create = move |_| {
        let Some(source) = source() else { return };
        create.dispatch(CreateJob {
            preset_id: if uses_template() {
                preset.get_untracked()
            } else {
                0
            },
            mp_preset_id: if uses_subscribe() {
                mp_preset.get_untracked()
            } else {
                0
            },
            channel: channel.get_untracked(),
            name: name.get_untracked(),
            source,
            rate_limit: rate.get_untracked().trim().parse().unwrap_or(0),
            start_at: start_at.get_untracked(),
        });
    };
    let sheet_review = move || {
        if !is_sheet() || !review_is_current() {
            return None;
        }
        Some(match sheet_check.value().get()? {
            Ok(dto) => {
                view! { <SheetReviewView dto name rate start_at on_create create /> }.into_any()
            }
            Err(e) => {
                view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> }.into_any()
            }
        })
    };
    let review = move || {
        if is_sheet() || !plan_is_current() {
            return None;
        }
        let result = plan.value().get()?;
        Some(match result {
            Ok(p) => {
                let oa = if uses_template() { preset.get() } else { 0 };
                let mp = if uses_subscribe() { mp_preset.get() } else { 0 };
                let src = source()?;
                view! { <Review plan=p preset=oa mp_preset=mp source=src name rate start_at on_create create /> }
                    .into_any()
            }
            Err(e) => {
                view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> }.into_any()
            }
        })
    };

    view! {
        <h1>{tr("新建发送任务", "New send job")}</h1>
        <section class="card" aria-labelledby="job-preset-heading">
            <h2 id="job-preset-heading">{tr("1. 渠道与消息", "1. Channel and message")}</h2>
            <Transition fallback=|| view! { <p>"…"</p> }>{preset_select}</Transition>
        </section>
        <section class="card" aria-labelledby="job-recipients-heading">
            <h2 id="job-recipients-heading">{tr("2. 收件人", "2. Recipients")}</h2>
            <fieldset class="choices">
                <legend class="visually-hidden">{tr("收件人来源", "Recipient source")}</legend>
                {(n_selected > 0).then(|| source_choice("selection", format!("在粉丝页选择的 {n_selected} 位粉丝"), format!("The {n_selected} followers selected on the followers page")))}
                {from_filter.then(|| source_choice("filter", "符合粉丝页筛选条件的全部粉丝".into(), "All followers matching the followers page's filter".into()))}
                {source_choice("all", "全部关注者".into(), "Everyone following the account".into())}
                {source_choice("matched", "已匹配小程序用户的关注者".into(), "Followers matched to a Mini Program user".into())}
                {source_choice("tag", "某个标签下的关注者".into(), "Followers with a tag".into())}
                {source_choice("csv_openids", "粘贴或上传 openid 列表".into(), "Paste or upload a list of openids".into())}
                {source_choice("csv_unionids", "粘贴或上传 unionid 列表".into(), "Paste or upload a list of unionids".into())}
                {source_choice("mp_users", "小程序的全部用户".into(), "Every user of the Mini Program".into())}
                {source_choice("sheet", "上传表格：每人发送自己的值（积分、订单号…）".into(), "Upload a spreadsheet: each person gets their own values (points, order number…)".into())}
            </fieldset>
            {filter_error.map(|e| view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> })}
            {move || (kind.get() == "tag").then(|| view! {
                <div class="form-grid">
                    <label for="job-tag">{tr("标签 ID", "Tag id")}</label>
                    <input id="job-tag" type="text" inputmode="numeric" prop:value=move || tag.get()
                        on:input=move |ev| tag.set(event_target_value(&ev)) />
                </div>
            })}
            {move || kind.get().starts_with("csv_").then(|| view! {
                <div class="mp-import">
                    <label for="job-csv">{move || if kind.get() == "csv_unionids" {
                        lang.get().pick("unionid 列表（每行一个，可带表头）", "unionids (one per line, header optional)")
                    } else {
                        lang.get().pick("openid 列表（每行一个，可带表头）", "openids (one per line, header optional)")
                    }}</label>
                    <textarea id="job-csv" rows="6" prop:value=move || csv.get()
                        on:input=move |ev| csv.set(event_target_value(&ev))></textarea>
                    <crate::components::file_text::FileText target=csv label=tr("或上传 CSV 文件", "or upload a CSV file") />
                </div>
            })}
            {move || is_sheet().then(|| {
                view! { <SheetUpload preset summary=sheet_summary refused=sheet_refused.clone() /> }
            })}
            <button type="button" class="primary" on:click=on_check disabled=move || plan.pending().get() || sheet_check.pending().get() || source().is_none()>
                {move || if plan.pending().get() || sheet_check.pending().get() { lang.get().pick("检查中…", "Checking…") } else { lang.get().pick("检查收件人", "Check recipients") }}
            </button>
        </section>
        {review}
        {sheet_review}
    }
}

#[component]
fn Review(
    plan: PlanDto,
    /// The OA preset (0 = none).
    preset: i64,
    /// The subscribe preset (0 = none).
    mp_preset: i64,
    /// Who the plan is for (a rule can also recur).
    source: RecipientSource,
    name: RwSignal<String>,
    rate: RwSignal<String>,
    start_at: RwSignal<String>,
    on_create: impl Fn(leptos::ev::MouseEvent) + Copy + Send + Sync + 'static,
    create: ServerAction<CreateJob>,
) -> impl IntoView {
    let lang = use_lang();
    let threshold = plan.approval_threshold;
    let time_zone = plan.plan.send_rules.time_zone.clone();
    let quiet = plan.plan.send_rules.quiet_hours;
    let plan = plan.plan;
    let plan_channel = plan.channel;
    let n = plan.will_receive;
    let reach_mp = plan.channel.uses_subscribe();
    let best = plan.channel == Channel::Best;
    let channel_count = |c: RowChannel| {
        plan.by_channel
            .iter()
            .find(|(row, _)| *row == c)
            .map_or(0, |(_, n)| *n)
    };
    let (by_template, by_subscribe) = (
        channel_count(RowChannel::Template),
        channel_count(RowChannel::Subscribe),
    );
    let skipped = plan
        .skipped
        .iter()
        .map(|(reason, count)| {
            let (reason, count) = (*reason, *count);
            view! { <li>{move || reason.label(best, lang.get())} ": " {count}</li> }
        })
        .collect_view();
    let line_errors = (!plan.line_errors.is_empty()).then(|| {
        let rows = plan
            .line_errors
            .iter()
            .map(|e| view! { <tr><th scope="row">{e.line}</th><td><code>{e.value.clone()}</code></td><td>{e.message.clone()}</td></tr> })
            .collect_view();
        view! {
            <table class="data import-errors">
                <caption>{tr("无法识别的行（已忽略）", "Lines not understood (ignored)")}</caption>
                <thead><tr><th scope="col">{tr("行", "Line")}</th><th scope="col">{tr("内容", "Value")}</th><th scope="col">{tr("问题", "Problem")}</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
    });
    let preview = Resource::new(
        move || preset,
        |id| async move {
            if id == 0 {
                Ok(crate::templates::EditorDto::default())
            } else {
                preset_editor(id).await
            }
        },
    );
    let mp_preview = Resource::new(
        move || mp_preset,
        |id| async move {
            if id == 0 {
                Ok(crate::templates::EditorDto::default())
            } else {
                preset_editor(id).await
            }
        },
    );
    let mode = RwSignal::new(PreviewMode::Current);
    view! {
        <section class="card" aria-labelledby="job-review-heading">
            <h2 id="job-review-heading">{tr("3. 确认", "3. Review")}</h2>
            <p class="recipients" role="status">
                {move || lang.get().pick(format!("将发送给 {n} 人"), format!("{n} people will receive it"))}
            </p>
            {reach_mp.then(|| view! {
                <ul aria-label=move || lang.get().pick("按渠道", "By channel")>
                    <li>{move || lang.get().pick(format!("公众号模板消息：{by_template} 人"), format!("OA template message: {by_template}"))}</li>
                    <li>{move || lang.get().pick(format!("小程序订阅消息：{by_subscribe} 人"), format!("Mini Program subscribe message: {by_subscribe}"))}</li>
                </ul>
            })}
            {(!plan.skipped.is_empty()).then(|| view! {
                <p>{move || if reach_mp { lang.get().pick("无法触达：", "Cannot be reached:") } else { lang.get().pick("将跳过：", "Skipped:") }}</p>
                <ul aria-label=move || lang.get().pick("跳过的原因", "Why skipped")>{skipped}</ul>
            })}
            {line_errors}
            <QuotaLine n sent_today=plan.sent_today quota=plan.daily_quota />
            <crate::components::send_rules::SendRulesNotice rules=plan.send_rules.clone() />
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let dto = preview.await.ok()?;
                    let body = dto.preset.as_ref()?.body.clone();
                    let t = dto.templates.into_iter().find(|t| Some(t.id) == dto.preset.as_ref().map(|p| p.template_ref))?;
                    let p = Memo::new(move |_| {
                        let payload = message::template_payload("OPENID", &t.template_id, &t.fields, &body, None);
                        message::preview(&t.title, &t.fields, &payload, mode.get())
                    });
                    let drops = Memo::new(|_| Vec::<&'static str>::new());
                    Some(view! { <MessagePreview preview=p mode drops /> })
                })}
            </Transition>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let dto = mp_preview.await.ok()?;
                    let preset = dto.preset.as_ref()?;
                    let body = preset.body.clone();
                    let t = dto.templates.iter().find(|t| t.id == preset.template_ref)?.clone();
                    let mp_name = dto.mp.as_ref().map(|m| m.name.clone()).unwrap_or_default();
                    let p = Memo::new(move |_| {
                        let payload = message::subscribe_payload("OPENID", &t.template_id, &t.fields, &body);
                        Some(message::subscribe_preview(&mp_name, &t.title, &t.fields, &payload))
                    });
                    Some(view! { <ServiceNoticePreview preview=p /> })
                })}
            </Transition>
            <CreateControls n threshold name rate start_at time_zone quiet on_create create
                label=move || lang.get().pick("创建并开始发送", "Create and start sending").to_owned() />
            {model::schedule::check_schedule_source(&source).is_ok().then(|| view! {
                <crate::pages::new_job_recurring::RecurringControls source=source.clone() channel=plan_channel preset mp_preset rate />
            })}
        </section>
    }
}

/// Today's quota against the people a job will reach.
#[component]
pub(crate) fn QuotaLine(n: i64, sent_today: i64, quota: i64) -> impl IntoView {
    let lang = use_lang();
    let remaining = (quota - sent_today).max(0);
    let over = n > remaining;
    view! {
        <p class:form-error=over>
            {move || lang.get().pick(
                format!("今日已发送 {sent_today} / {quota} 条，剩余额度 {remaining} 条。"),
                format!("Sent today: {sent_today} of {quota}; {remaining} left."),
            )}
            {over.then(|| view! { " " {tr("本任务超过今日剩余额度，超出部分会在额度用完时暂停，明天继续。", "This job exceeds today's remaining quota: it pauses when the quota runs out and can resume tomorrow.")} })}
        </p>
    }
}

/// The end of a review: the job's name and rate (checked as you type with the engine's rules),
/// the approval notice, and the button that creates the job.
#[component]
pub(crate) fn CreateControls(
    /// People who will receive it.
    n: i64,
    threshold: i64,
    name: RwSignal<String>,
    rate: RwSignal<String>,
    /// Empty: at once; else `2026-12-31T09:00` in `time_zone`.
    start_at: RwSignal<String>,
    /// The console time zone the start time is read in.
    time_zone: String,
    /// The account's quiet hours: a start time inside them is pointed out.
    quiet: Option<model::send_rules::QuietHours>,
    on_create: impl Fn(leptos::ev::MouseEvent) + Copy + Send + Sync + 'static,
    create: ServerAction<CreateJob>,
    label: impl Fn() -> String + Send + Sync + 'static,
) -> impl IntoView {
    let lang = use_lang();
    let label = move || {
        if start_at.get().trim().is_empty() {
            label()
        } else {
            lang.get()
                .pick("创建定时任务", "Create the scheduled job")
                .to_owned()
        }
    };
    if name.get_untracked().is_empty() {
        name.set(format!(
            "{} {}",
            lang.get_untracked().pick("发送任务", "Send job"),
            crate::dto::format_time_ms(js_now_ms())
        ));
    }
    // The engine's rules, as you type; the server checks them again.
    let name_problem = move || {
        model::rules::job_name(&name.get())
            .err()
            .map(|p| model::Refusal::new("job_name", p))
    };
    let rate_problem = move || {
        let text = rate.get();
        let text = text.trim();
        let refused = match text.parse::<i64>() {
            _ if text.is_empty() => None,
            Ok(r) => model::rules::rate_limit(r).err(),
            Err(_) => Some(model::Problem::Malformed),
        };
        refused.map(|p| model::Refusal::new("rate_limit", p))
    };
    let nobody = (n == 0).then(|| model::Refusal::new("recipients", model::Problem::NoRecipients));
    let create_error = move || {
        let local = nobody.clone().or_else(name_problem).or_else(rate_problem);
        if let Some(r) = local {
            return Some(view! { <p class="form-error" role="alert">{r.message(lang.get())}</p> });
        }
        create
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> })
    };
    // A start inside quiet hours still starts then, but sends only once they end.
    let quiet_start = move || {
        let q = quiet?;
        let text = start_at.get();
        let minute = model::send_rules::parse_hhmm(text.get(11..16)?).ok()?;
        q.contains(minute).then(|| {
            let (window, end) = (q.label(), model::send_rules::format_hhmm(q.end_min));
            view! {
                <p class="notice" role="note">{move || lang.get().pick(
                    format!("开始时间在免打扰时段（{window}）内：任务到时开始，但会等到 {end} 才发送。"),
                    format!("The start time is within quiet hours ({window}): the job starts then but sends only from {end}."),
                )}</p>
            }
        })
    };
    view! {
        <div class="form-grid">
            <label for="job-name">{tr("任务名称", "Job name")}</label>
            <input id="job-name" type="text" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
            <label for="job-rate">{tr("限速（条/秒）", "Rate limit (msg/s)")}</label>
            <input id="job-rate" type="text" inputmode="numeric" prop:value=move || rate.get() on:input=move |ev| rate.set(event_target_value(&ev)) />
            <label for="job-start">{tr("定时开始", "Start at")}</label>
            <div>
                <input id="job-start" type="datetime-local" aria-describedby="job-start-hint" prop:value=move || start_at.get()
                    on:input=move |ev| start_at.set(event_target_value(&ev)) />
                <p id="job-start-hint" class="muted">{move || lang.get().pick(
                    format!("留空则立即开始。按控制台时区 {time_zone} 计；开始前可修改或取消。"),
                    format!("Empty: it starts at once. Read in the console time zone, {time_zone}; it can be changed or cancelled until it starts."),
                )}</p>
            </div>
        </div>
        {quiet_start}
        {(n > threshold).then(|| view! {
            <p class="notice" role="note">{move || lang.get().pick(
                format!("收件人超过 {threshold} 人：创建后任务会等待另一位管理员批准，批准后才开始发送。"),
                format!("More than {threshold} recipients: once created, the job waits until another admin approves it."),
            )}</p>
        })}
        {create_error}
        <button type="button" class="primary" disabled=move || create.pending().get() || n == 0 || name_problem().is_some() || rate_problem().is_some() on:click=on_create>
            {label}
        </button>
    }
}

/// Now in unix ms, in the browser (the review only renders there).
fn js_now_ms() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys_now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}

#[cfg(feature = "hydrate")]
fn js_sys_now() -> i64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| (p.time_origin() + p.now()) as i64)
        .unwrap_or(0)
}

//! A new send job: a preset, then the recipients (the followers page's selection or filter, all
//! followers, matched ones, a tag, or pasted/uploaded openids or unionids), then a review (who
//! receives, who is skipped and why, today's quota, the preview), then create.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use message::PreviewMode;

use crate::components::message_preview::MessagePreview;
use crate::i18n::{tr, use_lang};
use crate::jobs::{plan_job, CreateJob, PlanDto, SourceDto};
use crate::pages::followers::Filters;
use crate::pages::job::skip_label;
use crate::templates::{preset_editor, templates_page};

#[component]
pub fn NewJobPage() -> impl IntoView {
    let lang = use_lang();
    let query = use_query_map();
    let filters = Filters::from_query(|k| query.read_untracked().get(k));
    let from_filter = query.read_untracked().get("mode").as_deref() == Some("all");
    let selection = query.read_untracked().get_all("openid").unwrap_or_default();
    let initial_kind = if from_filter {
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
    let name = RwSignal::new(String::new());
    let rate = RwSignal::new("200".to_owned());
    let selection = StoredValue::new(selection);
    let filters = StoredValue::new(filters);

    let source = move || -> Option<SourceDto> {
        Some(match kind.get().as_str() {
            "selection" => SourceDto::Selection(selection.get_value()),
            "filter" => {
                let f = filters.get_value();
                SourceDto::Filter {
                    search: f.search,
                    subscribed: f.subscribed,
                    unionid: f.unionid,
                    matched: f.matched,
                    tag: f.tag,
                }
            }
            "matched" => SourceDto::Matched,
            "tag" => SourceDto::Tag(tag.get().trim().parse().ok()?),
            "csv_openids" => SourceDto::CsvOpenids(csv.get()),
            "csv_unionids" => SourceDto::CsvUnionids(csv.get()),
            _ => SourceDto::AllSubscribed,
        })
    };
    let presets = Resource::new(|| (), |_| templates_page());
    // The plan belongs to the source it was made for; changing the source asks for a new one.
    let plan = Action::new(move |json: &String| {
        let json = json.clone();
        async move { plan_job(json).await }
    });
    let planned_for = RwSignal::new(None::<String>);
    let current_json = move || source().map(|s| serde_json::to_string(&s).unwrap_or_default());
    let plan_is_current =
        move || planned_for.get().is_some() && planned_for.get() == current_json();
    let create = ServerAction::<CreateJob>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            navigate(&format!("/jobs/{id}"), Default::default());
        }
    });

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
                    let ready: Vec<_> = page
                        .presets
                        .into_iter()
                        .filter(|p| !p.template_removed && p.issues == 0)
                        .collect();
                    if preset.get_untracked() == 0 {
                        if let Some(first) = ready.first() {
                            preset.set(first.id);
                        }
                    }
                    if ready.is_empty() {
                        return view! { <p class="muted">{tr("还没有可发送的预设，请先在「模板」页创建。", "No sendable preset yet: create one on the Templates page first.")}</p> }.into_any();
                    }
                    view! {
                        <select id="job-preset" on:change=move |ev| {
                            if let Ok(id) = event_target_value(&ev).parse() { preset.set(id); }
                        }>
                            {ready.into_iter().map(|p| view! {
                                <option value=p.id.to_string() selected=p.id == preset.get_untracked()>{p.name} " · " {p.template_title}</option>
                            }).collect_view()}
                        </select>
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
        if let Some(json) = current_json() {
            planned_for.set(Some(json.clone()));
            plan.dispatch(json);
        }
    };
    let on_create = move |_| {
        let Some(json) = current_json() else { return };
        create.dispatch(CreateJob {
            preset_id: preset.get_untracked(),
            name: name.get_untracked(),
            source: json,
            rate_limit: rate.get_untracked().trim().parse().unwrap_or(0),
        });
    };
    let review = move || {
        if !plan_is_current() {
            return None;
        }
        let result = plan.value().get()?;
        Some(match result {
            Ok(p) => view! { <Review plan=p preset=preset.get() name rate on_create create /> }
                .into_any(),
            Err(e) => {
                view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> }.into_any()
            }
        })
    };

    view! {
        <h1>{tr("新建发送任务", "New send job")}</h1>
        <section class="card" aria-labelledby="job-preset-heading">
            <h2 id="job-preset-heading">{tr("1. 消息", "1. Message")}</h2>
            <div class="form-grid">
                <label for="job-preset">{tr("预设", "Preset")}</label>
                <Transition fallback=|| view! { <p>"…"</p> }>{preset_select}</Transition>
            </div>
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
            </fieldset>
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
            <button type="button" class="primary" on:click=on_check disabled=move || plan.pending().get() || source().is_none()>
                {move || if plan.pending().get() { lang.get().pick("检查中…", "Checking…") } else { lang.get().pick("检查收件人", "Check recipients") }}
            </button>
        </section>
        {review}
    }
}

#[component]
fn Review(
    plan: PlanDto,
    preset: i64,
    name: RwSignal<String>,
    rate: RwSignal<String>,
    on_create: impl Fn(leptos::ev::MouseEvent) + Copy + Send + Sync + 'static,
    create: ServerAction<CreateJob>,
) -> impl IntoView {
    let lang = use_lang();
    let n = plan.will_receive;
    let remaining = (plan.daily_quota - plan.sent_today).max(0);
    let (sent_today, quota) = (plan.sent_today, plan.daily_quota);
    let over = n > remaining;
    let skipped = plan
        .skipped
        .iter()
        .map(|(reason, count)| {
            let (reason, count) = (reason.clone(), *count);
            view! { <li>{move || skip_label(&reason, lang.get())} ": " {count}</li> }
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
    let preview = Resource::new(move || preset, preset_editor);
    let mode = RwSignal::new(PreviewMode::Current);
    if name.get_untracked().is_empty() {
        name.set(format!(
            "{} {}",
            lang.get_untracked().pick("发送任务", "Send job"),
            crate::dto::format_time_ms(js_now_ms())
        ));
    }
    let create_error = move || {
        create
            .value()
            .get()
            .and_then(Result::err)
            .map(|e| view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> })
    };
    view! {
        <section class="card" aria-labelledby="job-review-heading">
            <h2 id="job-review-heading">{tr("3. 确认", "3. Review")}</h2>
            <p class="recipients" role="status">
                {move || lang.get().pick(format!("将发送给 {n} 人"), format!("{n} people will receive it"))}
            </p>
            {(!plan.skipped.is_empty()).then(|| view! {
                <p>{tr("将跳过：", "Skipped:")}</p>
                <ul aria-label=move || lang.get().pick("跳过的原因", "Why skipped")>{skipped}</ul>
            })}
            {line_errors}
            <p class:form-error=over>
                {move || lang.get().pick(
                    format!("今日已发送 {sent_today} / {quota} 条，剩余额度 {remaining} 条。"),
                    format!("Sent today: {sent_today} of {quota}; {remaining} left."),
                )}
                {over.then(|| view! { " " {tr("本任务超过今日剩余额度，超出部分会在额度用完时暂停，明天继续。", "This job exceeds today's remaining quota: it pauses when the quota runs out and can resume tomorrow.")} })}
            </p>
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
            <div class="form-grid">
                <label for="job-name">{tr("任务名称", "Job name")}</label>
                <input id="job-name" type="text" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                <label for="job-rate">{tr("限速（条/秒）", "Rate limit (msg/s)")}</label>
                <input id="job-rate" type="text" inputmode="numeric" prop:value=move || rate.get() on:input=move |ev| rate.set(event_target_value(&ev)) />
            </div>
            {create_error}
            <button type="button" class="primary" disabled=move || create.pending().get() || n == 0 on:click=on_create>
                {move || lang.get().pick("创建并开始发送", "Create and start sending")}
            </button>
        </section>
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

//! 新建发送任务 with a spreadsheet of per-person values: the upload form (a plain multipart form
//! to `/jobs/sheets`, so it works without JavaScript), what the upload holds, and the review of
//! every line against the preset before the job is created.

use leptos::prelude::*;
use message::PreviewMode;
use model::sheet::{SheetReview, SheetSummary};
use model::Refusal;

use crate::i18n::{tr, use_lang};
use crate::jobs::{CreateJob, SheetReviewDto};
use crate::pages::new_job::{CreateControls, QuotaLine};

/// The upload form, and what the upload (or its refusal) sent back in the URL holds.
#[component]
pub fn SheetUpload(
    /// The OA preset chosen above, carried through the upload.
    preset: RwSignal<i64>,
    summary: Option<Resource<Result<SheetSummary, crate::error::AppError>>>,
    refused: Option<Refusal>,
) -> impl IntoView {
    let lang = use_lang();
    let summary_view = summary.map(|summary| {
        view! {
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match summary.await {
                        Ok(s) => {
                            let columns = match s.columns.is_empty() {
                                true => "—".to_owned(),
                                false => s.columns.join("、"),
                            };
                            let (file, rows, person) = (s.file_name.clone(), s.rows, s.person.as_str());
                            view! {
                                <p class="notice" role="status">{move || lang.get().pick(
                                    format!("已上传 {file}：{} 行，收件人列 {person}，变量列：{columns}", model::number::thousands(rows)),
                                    format!("Uploaded {file}: {} rows, people by {person}, variable columns: {columns}", model::number::thousands(rows)),
                                )}</p>
                            }.into_any()
                        }
                        Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                    }
                })}
            </Transition>
        }
    });
    view! {
        <form class="mp-import" method="post" action="/jobs/sheets" enctype="multipart/form-data">
            <p class="muted">{tr(
                "第一行是表头：一列 openid、unionid 或 mp_openid 标明收件人，其余每列是一个变量，预设中用 {{列名}} 引用。支持 .xlsx 和 .csv（UTF-8 或 GB18030），最多 100,000 行。",
                "The first line is the header: one column openid, unionid or mp_openid names the person, every other column is a variable the preset uses as {{column}}. .xlsx and .csv (UTF-8 or GB18030), up to 100,000 rows.",
            )}</p>
            <label for="sheet-file">{tr("表格文件（.xlsx 或 .csv）", "Spreadsheet (.xlsx or .csv)")}</label>
            <input id="sheet-file" type="file" name="file" required
                accept=".xlsx,.xls,.csv,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" />
            <input type="hidden" name="preset" value=move || preset.get().to_string() />
            <button type="submit">{tr("上传表格", "Upload the spreadsheet")}</button>
        </form>
        {refused.map(|r| view! { <p class="form-error" role="alert">{move || r.message(lang.get())}</p> })}
        {summary_view}
    }
}

/// The review of a spreadsheet: who receives what, the lines left out and why, and the first
/// messages as WeChat will show them.
#[component]
pub fn SheetReviewView(
    dto: SheetReviewDto,
    name: RwSignal<String>,
    rate: RwSignal<String>,
    start_at: RwSignal<String>,
    on_create: impl Fn(leptos::ev::MouseEvent) + Copy + Send + Sync + 'static,
    create: ServerAction<CreateJob>,
) -> impl IntoView {
    let lang = use_lang();
    let SheetReviewDto {
        review,
        approval_threshold,
        fields,
        template_title,
    } = dto;
    let SheetReview {
        sheet,
        variables,
        missing_columns,
        unused_columns,
        bad_rows,
        issues,
        skipped,
        skipped_lines,
        will_receive: n,
        samples,
        sent_today,
        daily_quota,
        send_rules,
    } = review;
    let missing = (!missing_columns.is_empty()).then(|| {
        let r = Refusal::new("file", model::Problem::MissingColumns(missing_columns));
        view! { <p class="form-error" role="alert">{move || r.message(lang.get())}</p> }
    });
    let variables = variables.join("、");
    let bad = (bad_rows > 0).then(|| {
        let items = issues
            .into_iter()
            .map(|i| view! { <li>{move || i.message(lang.get())}</li> })
            .collect_view();
        view! {
            <h3>{move || lang.get().pick(
                format!("{bad_rows} 行的值不符合模板规则，将跳过"),
                format!("{bad_rows} lines break the template's rules and will be skipped"),
            )}</h3>
            <ul aria-label=move || lang.get().pick("有问题的行", "Lines with problems")>{items}</ul>
        }
    });
    let skip_counts = skipped
        .into_iter()
        .map(|(reason, count)| view! { <li>{move || reason.label(false, lang.get())} ": " {count}</li> })
        .collect_view();
    let unreachable = (!skipped_lines.is_empty()).then(|| {
        let rows = skipped_lines
            .into_iter()
            .map(|s| view! {
                <tr><th scope="row">{s.line}</th><td><code>{s.person}</code></td><td>{move || s.reason.label(false, lang.get())}</td></tr>
            })
            .collect_view();
        view! {
            <table class="data import-errors">
                <caption>{tr("无法发送的行", "Lines that cannot be sent")}</caption>
                <thead><tr><th scope="col">{tr("行", "Line")}</th><th scope="col">{tr("收件人", "Person")}</th><th scope="col">{tr("原因", "Why")}</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        }
    });
    let unused = (!unused_columns.is_empty()).then(|| {
        let cols = unused_columns.join("、");
        view! { <p class="muted">{move || lang.get().pick(format!("预设未使用的列：{cols}"), format!("Columns the preset does not use: {cols}"))}</p> }
    });
    let samples = samples
        .into_iter()
        .map(|s| {
            let p = message::preview(&template_title, &fields, &s.message, PreviewMode::Current);
            let line = s.line;
            let values = s
                .values
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" · ");
            view! {
                <figure class="sheet-sample">
                    <article class="wx-card" aria-label=move || lang.get().pick(format!("第 {line} 行的消息"), format!("Message of line {line}"))>
                        <h3 class="wx-title">{p.title}</h3>
                        <dl class="wx-rows">
                            {p.rows.into_iter().map(|r| view! { <div class="wx-row"><dt>{r.label}</dt><dd>{r.text}</dd></div> }).collect_view()}
                        </dl>
                    </article>
                    <figcaption class="muted">{move || lang.get().pick(format!("第 {line} 行"), format!("Line {line}"))} " · " {values}</figcaption>
                </figure>
            }
        })
        .collect_view();
    let skipped_total = sheet.rows - n;
    let (time_zone, quiet) = (send_rules.time_zone.clone(), send_rules.quiet_hours);
    let create_label = move || {
        if skipped_total > 0 {
            lang.get().pick(
                format!("创建任务（跳过 {skipped_total} 行）"),
                format!("Create the job (skipping {skipped_total} lines)"),
            )
        } else {
            lang.get()
                .pick("创建并开始发送", "Create and start sending")
                .to_owned()
        }
    };
    view! {
        <section class="card" aria-labelledby="job-review-heading">
            <h2 id="job-review-heading">{tr("3. 确认", "3. Review")}</h2>
            <p class="recipients" role="status">
                {move || lang.get().pick(
                    format!("{} 行中将发送给 {n} 人", sheet.rows),
                    format!("{n} of {} lines will be sent", sheet.rows),
                )}
            </p>
            <p>{move || lang.get().pick(format!("预设使用的变量：{variables}"), format!("Variables the preset uses: {variables}"))}</p>
            {missing}
            {bad}
            {(skipped_total > 0).then(|| view! {
                <p>{tr("将跳过：", "Skipped:")}</p>
                <ul aria-label=move || lang.get().pick("跳过的原因", "Why skipped")>{skip_counts}</ul>
            })}
            {unreachable}
            {unused}
            <QuotaLine n sent_today quota=daily_quota />
            <crate::components::send_rules::SendRulesNotice rules=send_rules />
            <h3>{tr("前几条消息（微信中的样子）", "The first messages, as WeChat shows them")}</h3>
            <div class="sheet-samples">{samples}</div>
            <CreateControls n threshold=approval_threshold name rate start_at time_zone quiet on_create create label=create_label />
        </section>
    }
}

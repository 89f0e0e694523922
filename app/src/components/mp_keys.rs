//! A Mini Program's backend tools on the settings page: its API keys (create, list, revoke) and the CSV import of its users.

use leptos::prelude::*;

use crate::components::new_key::{KeyState, NewKeyNotice};
use crate::dto::format_time_ms;
use crate::error::AppError;
use crate::i18n::{tr, use_lang, Lang};
use crate::mp::{
    import_mp_users, prepare_upload, CreateMpApiKey, ImportOutcome, ImportReportDto, MpKeys,
    RevokeMpApiKey, MAX_IMPORT_BYTES, MAX_IMPORT_ROWS,
};

/// Bytes of CSV per request: even fully percent-encoded, a piece stays under the server's 1 MB
/// request limit.
const UPLOAD_PIECE_BYTES: usize = 256 * 1024;

/// The Mini Program section whose key form was sent last: it alone shows the answer.
#[derive(Clone, Copy)]
pub struct KeyTarget(pub RwSignal<Option<i64>>);

/// One Mini Program's tools, from data and actions the page made at its top: nothing in here
/// creates a resource, a Suspense or a Transition, because the page builds it inside a Suspend
/// body (see `list_mp_api_keys`).
#[component]
pub fn MpTools(
    keys: MpKeys,
    create: ServerAction<CreateMpApiKey>,
    revoke: ServerAction<RevokeMpApiKey>,
) -> impl IntoView {
    let id = keys.account_id;
    let heading = format!("mp-{id}-heading");
    let labelled_by = heading.clone();
    let name = keys.name.clone();
    view! {
        <section class="card mp-tools" aria-labelledby=labelled_by>
            <h2 id=heading>
                {name} " · " {tr("小程序后端接口", "Mini Program backend API")}
            </h2>
            <MpKeySection keys create revoke />
            <MpImportSection account_id=id />
        </section>
    }
}

#[component]
fn ErrorText(error: AppError) -> impl IntoView {
    let lang = use_lang();
    view! { <p class="form-error" role="alert">{move || error.message(lang.get())}</p> }
}

#[component]
fn MpKeySection(
    keys: MpKeys,
    create: ServerAction<CreateMpApiKey>,
    revoke: ServerAction<RevokeMpApiKey>,
) -> impl IntoView {
    let account_id = keys.account_id;
    let target = use_context::<KeyTarget>().map(|t| t.0);
    let mine = move || target.is_some_and(|t| t.get() == Some(account_id));
    let new_key = move || match create.value().get() {
        Some(Ok(k)) if k.account_id == account_id => Some(
            view! { <NewKeyNotice key=k.key label_zh="新的 API 密钥" label_en="New API key" /> }
                .into_any(),
        ),
        Some(Err(e)) if mine() => Some(view! { <ErrorText error=e /> }.into_any()),
        _ => None,
    };
    let revoke_error = move || {
        revoke
            .value()
            .get()
            .and_then(Result::err)
            .filter(|_| mine())
            .map(|e| view! { <ErrorText error=e /> })
    };
    // A new key can only be shown by the running app, so the button waits for it (a click
    // before hydration would be a plain form post that creates a key nobody sees).
    let interactive = RwSignal::new(false);
    Effect::new(move |_| interactive.set(true));
    let keys_heading = format!("mp-{account_id}-keys");
    let mark = move |_| {
        if let Some(t) = target {
            t.set(Some(account_id));
        }
    };
    view! {
        <div class="mp-keys" on:submit=mark>
            <h3 id=keys_heading>{tr("API 密钥", "API keys")}</h3>
            <KeyList keys revoke />
            {revoke_error}
            <ActionForm action=create attr:class="inline-form">
                <input type="hidden" name="account_id" value=account_id />
                <button
                    type="submit"
                    class="primary"
                    disabled=move || !interactive.get() || create.pending().get()
                >
                    {tr("创建密钥", "Create a key")}
                </button>
            </ActionForm>
            <noscript>
                <p class="muted">
                    {tr("新密钥需要启用 JavaScript 才能显示。", "Showing a new key needs JavaScript.")}
                </p>
            </noscript>
            {new_key}
        </div>
    }
}

#[component]
fn KeyList(keys: MpKeys, revoke: ServerAction<RevokeMpApiKey>) -> impl IntoView {
    let lang = use_lang();
    let usage = format!(
        "POST {}\nAuthorization: Bearer wxp_…\nContent-Type: application/json\n\n{{\"code\":\"<wx.login code>\"}}",
        keys.endpoint
    );
    let table = if keys.keys.is_empty() {
        view! { <p class="muted">{tr("尚无密钥。", "No key yet.")}</p> }.into_any()
    } else {
        let rows = keys
            .keys
            .into_iter()
            .map(|k| {
                let zh = format!("吊销密钥 {}…", k.prefix);
                let en = format!("Revoke key {}…", k.prefix);
                let action = if k.revoked_at_ms.is_some() {
                    view! { <span class="muted">"—"</span> }.into_any()
                } else {
                    view! {
                        <ActionForm action=revoke>
                            <input type="hidden" name="key_id" value=k.id />
                            <button
                                type="submit"
                                class="danger"
                                aria-label=move || lang.get().pick(zh.clone(), en.clone())
                            >
                                {tr("吊销", "Revoke")}
                            </button>
                        </ActionForm>
                    }
                    .into_any()
                };
                view! {
                    <tr>
                        <th scope="row"><code>{k.prefix} "…"</code></th>
                        <td>{format_time_ms(k.created_at_ms)}</td>
                        <td>{k.created_by}</td>
                        <td><KeyState revoked_at_ms=k.revoked_at_ms /></td>
                        <td class="actions">{action}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class="data">
                <thead>
                    <tr>
                        <th scope="col">{tr("密钥前缀", "Key prefix")}</th>
                        <th scope="col">{tr("创建时间", "Created")}</th>
                        <th scope="col">{tr("创建人", "Created by")}</th>
                        <th scope="col">{tr("状态", "Status")}</th>
                        <th scope="col">{tr("操作", "Actions")}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        }
        .into_any()
    };
    view! {
        <p class="muted">
            {tr(
                "小程序后端用 wx.login 得到的 code 调用下面的接口，换取用户的 openid 和 unionid（不会返回 session_key）：",
                "The Mini Program backend sends the code from wx.login to this endpoint and gets the user's openid and unionid (never the session_key):",
            )}
        </p>
        <pre class="api-usage"><code>{usage}</code></pre>
        {table}
    }
}

/// Where an import stands.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ImportView {
    Done(ImportOutcome),
    /// Pieces before line `line` were stored; then the request failed.
    Failed {
        line: usize,
        report: ImportReportDto,
        error: AppError,
    },
}

/// Sends `csv` in pieces (each keeps the file's line numbers) and adds up the reports.
async fn run_import(
    account_id: i64,
    csv: String,
    progress: RwSignal<Option<(usize, usize)>>,
) -> ImportView {
    let too_large = ImportView::Done(ImportOutcome::TooLarge {
        max_bytes: MAX_IMPORT_BYTES,
        max_rows: MAX_IMPORT_ROWS,
    });
    let rows = csv.lines().filter(|l| !l.trim().is_empty()).count();
    if csv.len() > MAX_IMPORT_BYTES || rows > MAX_IMPORT_ROWS + 1 {
        return too_large;
    }
    let upload = prepare_upload(&csv, UPLOAD_PIECE_BYTES);
    drop(csv);
    let total = upload.pieces.len();
    let mut report = ImportReportDto {
        error_count: upload.duplicates.len(),
        errors: upload.duplicates,
        ..ImportReportDto::default()
    };
    for (i, (first_line, piece)) in upload.pieces.into_iter().enumerate() {
        progress.set(Some((i, total)));
        match import_mp_users(account_id, piece, Some(first_line)).await {
            Ok(ImportOutcome::Imported(r)) => report.merge(r),
            Ok(other) => return ImportView::Done(other),
            Err(error) => {
                return ImportView::Failed {
                    line: first_line,
                    report: report.finish(),
                    error,
                }
            }
        }
    }
    ImportView::Done(ImportOutcome::Imported(report.finish()))
}

#[component]
fn MpImportSection(account_id: i64) -> impl IntoView {
    let lang = use_lang();
    let text = RwSignal::new(String::new());
    // The chosen file's name and content (read in the browser).
    let file = RwSignal::new(None::<(String, String)>);
    let file_problem = RwSignal::new(false);
    let pending = RwSignal::new(false);
    let progress = RwSignal::new(None::<(usize, usize)>);
    let result = RwSignal::new(None::<ImportView>);

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        let csv = file
            .get_untracked()
            .map_or_else(|| text.get_untracked(), |(_, content)| content);
        pending.set(true);
        result.set(None);
        leptos::task::spawn_local(async move {
            let outcome = run_import(account_id, csv, progress).await;
            result.set(Some(outcome));
            progress.set(None);
            pending.set(false);
        });
    };
    let on_file = move |ev: leptos::ev::Event| {
        file_problem.set(false);
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let chosen = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                .and_then(|input| input.files())
                .and_then(|list| list.get(0));
            let Some(chosen) = chosen else {
                file.set(None);
                return;
            };
            let name = chosen.name();
            leptos::task::spawn_local(async move {
                match wasm_bindgen_futures::JsFuture::from(chosen.text()).await {
                    Ok(v) => file.set(Some((name, v.as_string().unwrap_or_default()))),
                    Err(_) => {
                        file.set(None);
                        file_problem.set(true);
                    }
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = ev;
    };

    let file_id = format!("mp-{account_id}-file");
    let text_id = format!("mp-{account_id}-csv");
    let help_id = format!("mp-{account_id}-csv-help");
    let (file_for, text_for, described_by) = (file_id.clone(), text_id.clone(), help_id.clone());
    let chosen = move || {
        file.get().map(|(name, content)| {
            let rows = content.lines().filter(|l| !l.trim().is_empty()).count();
            view! {
                <p class="muted" role="status">
                    {move || match lang.get() {
                        Lang::Zh => format!("已选择文件 {name}（{rows} 行），将导入该文件，忽略下方文本框。"),
                        Lang::En => format!("File {name} chosen ({rows} lines): it is imported instead of the text below."),
                    }}
                </p>
            }
        })
    };
    let status = move || {
        progress.get().map(|(done, total)| {
            view! {
                <p class="muted" role="status">
                    {move || match lang.get() {
                        Lang::Zh => format!("正在导入…（第 {} / {total} 批）", done + 1),
                        Lang::En => format!("Importing… (part {} of {total})", done + 1),
                    }}
                </p>
            }
        })
    };
    view! {
        <h3>{tr("导入小程序用户", "Import Mini Program users")}</h3>
        <p class="muted" id=help_id>
            {tr(
                "CSV 每行一个用户：openid,unionid（unionid 可留空；首行表头可选）。已存在的用户会补上 unionid。",
                "CSV with one user per line: openid,unionid (unionid may be empty; a header line is optional). Known users get the unionid filled in.",
            )}
            {move || match lang.get() {
                Lang::Zh => format!(" 上限 {} MB、{MAX_IMPORT_ROWS} 行。", MAX_IMPORT_BYTES / 1024 / 1024),
                Lang::En => format!(" At most {} MB and {MAX_IMPORT_ROWS} rows.", MAX_IMPORT_BYTES / 1024 / 1024),
            }}
        </p>
        <form class="mp-import" method="post" action="/api/import_mp_users" on:submit=on_submit>
            <input type="hidden" name="account_id" value=account_id />
            <div class="form-grid">
                <label for=file_for>{tr("CSV 文件", "CSV file")}</label>
                <div>
                    <input id=file_id type="file" accept=".csv,.txt,text/csv,text/plain" on:change=on_file />
                    {chosen}
                    {move || file_problem.get().then(|| view! {
                        <p class="field-error">{tr("无法读取该文件。", "The file could not be read.")}</p>
                    })}
                </div>
                <label for=text_for>{tr("或粘贴 CSV", "Or paste CSV")}</label>
                <textarea
                    id=text_id
                    name="csv"
                    rows="6"
                    spellcheck="false"
                    aria-describedby=described_by
                    placeholder="openid,unionid"
                    prop:value=move || text.get()
                    on:input=move |ev| text.set(event_target_value(&ev))
                ></textarea>
            </div>
            <button type="submit" class="primary" disabled=move || pending.get()>
                {tr("导入", "Import")}
            </button>
            {status}
        </form>
        {move || result.get().map(|r| view! { <ImportResult result=r /> })}
    }
}

#[component]
fn ImportResult(result: ImportView) -> impl IntoView {
    let lang = use_lang();
    let (report, failure) = match result {
        ImportView::Done(ImportOutcome::TooLarge {
            max_bytes,
            max_rows,
        }) => {
            let mb = max_bytes / 1024 / 1024;
            return view! {
                <p class="form-error" role="alert">
                    {move || match lang.get() {
                        Lang::Zh => format!("文件过大：每次最多 {mb} MB、{max_rows} 行，请拆分后分批导入。"),
                        Lang::En => format!("The file is too large: at most {mb} MB and {max_rows} rows per import; split it and import the parts."),
                    }}
                </p>
            }
            .into_any();
        }
        ImportView::Done(ImportOutcome::Imported(report)) => (report, None),
        ImportView::Failed {
            line,
            report,
            error,
        } => (report, Some((line, error))),
    };
    let ImportReportDto {
        inserted,
        updated,
        error_count,
        errors,
    } = report;
    let shown = errors.len();
    let summary = move || match lang.get() {
        Lang::Zh => {
            format!("新增 {inserted} 人，已存在（已更新）{updated} 人，错误 {error_count} 行。")
        }
        Lang::En => format!(
            "{inserted} added, {updated} already known (updated), {error_count} lines with errors."
        ),
    };
    let failure = failure.map(|(line, error)| {
        view! {
            <p class="form-error" role="alert">
                {move || match lang.get() {
                    Lang::Zh => format!("导入在第 {line} 行附近中断（之前的行已保存）：{}", error.message(Lang::Zh)),
                    Lang::En => format!("The import stopped near line {line} (earlier lines were stored): {}", error.message(Lang::En)),
                }}
            </p>
        }
    });
    let table = (!errors.is_empty()).then(|| {
        let rows = errors
            .into_iter()
            .map(|e| {
                let problem = e.problem;
                view! {
                    <tr>
                        <th scope="row">{e.line}</th>
                        <td>{move || problem.message(lang.get())}</td>
                    </tr>
                }
            })
            .collect_view();
        view! {
            <table class="data import-errors">
                <caption>{tr("有问题的行", "Lines with problems")}</caption>
                <thead>
                    <tr>
                        <th scope="col">{tr("行号", "Line")}</th>
                        <th scope="col">{tr("问题", "Problem")}</th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        }
    });
    let more = (error_count > shown).then(|| {
        view! {
            <p class="muted">
                {move || match lang.get() {
                    Lang::Zh => format!("仅列出前 {shown} 个错误。"),
                    Lang::En => format!("Only the first {shown} errors are listed."),
                }}
            </p>
        }
    });
    view! {
        <div class="import-report" role="status">
            <p>{summary}</p>
            {failure}
            {table}
            {more}
        </div>
    }
    .into_any()
}

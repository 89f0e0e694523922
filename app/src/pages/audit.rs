//! The audit log page (admins): filtered on the server by action or action group, actor, days
//! and target text, paged newest first by id, exported as CSV with the same filters.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::audit::{action_choices, describe, list_audit, AuditPageDto, AuditQuery};
use crate::dto::{format_time_ms, Role, SessionInfo};
use crate::error::AppError;
use crate::i18n::{tr, use_lang};
use crate::pages::staff::AdminsOnly;
use crate::url::query_string;

/// Dates are typed as `2026-12-07` whatever the browser's locale (a date picker would show
/// `12/07/2026` in an English browser of a Chinese console).
const DATE_PATTERN: &str = "[0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2}";

#[component]
pub fn AuditPage() -> impl IntoView {
    let is_admin = use_context::<SessionInfo>()
        .and_then(|i| i.user)
        .is_some_and(|u| u.role == Role::Admin);
    view! {
        <h1>{tr("审计日志", "Audit log")}</h1>
        {if is_admin { view! { <AuditLog /> }.into_any() } else { view! { <AdminsOnly /> }.into_any() }}
    }
}

#[component]
fn AuditLog() -> impl IntoView {
    let lang = use_lang();
    let query = use_query_map();
    let filters = Memo::new(move |_| AuditQuery::from_query(|k| query.read().get(k)));
    let before = Memo::new(move |_| query.read().get("before").unwrap_or_default());
    let page = Resource::new(
        move || (filters.get(), before.get()),
        |(f, before)| list_audit(f.action, f.actor, f.from, f.until, f.q, before),
    );
    view! {
        <p class="muted">{tr(
            "每一次登录、员工和账号的变更、模板同步、预设修改、粉丝同步和发送任务都记录在这里，只能追加，不能修改或删除。不记录任何密码或密钥。",
            "Every login, staff and account change, template sync, preset edit, follower sync and send job is recorded here. Entries can only be added, never changed or deleted. No password or secret is recorded.",
        )}</p>
        <FilterForm filters=filters.get_untracked() />
        <Transition fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) => view! { <AuditTable page=p filters=filters.get_untracked() /> }.into_any(),
                    Err(AppError::Forbidden) => view! { <AdminsOnly /> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn FilterForm(filters: AuditQuery) -> impl IntoView {
    let lang = use_lang();
    let current = filters.action.clone();
    let choices = action_choices();
    // An action typed into the URL that the list does not know stays selectable.
    let unknown = (!current.is_empty() && !choices.iter().any(|c| c.value() == current))
        .then(|| view! { <option value=current.clone() selected=true>{current.clone()}</option> });
    let options = choices
        .into_iter()
        .map(|choice| {
            let value = choice.value();
            let selected = current == value;
            view! {
                <option value=value selected=selected class:group=choice.is_group()>
                    {move || choice.label(lang.get())}
                </option>
            }
        })
        .collect_view();
    view! {
        <form method="get" action="/audit" class="filters" aria-label=tr("筛选审计日志", "Filter the audit log")>
            <label>
                <span>{tr("操作类型", "Action")}</span>
                <select name="action">
                    <option value="" selected=filters.action.is_empty()>{tr("全部", "All")}</option>
                    {unknown}
                    {options}
                </select>
            </label>
            <label>
                <span>{tr("操作人", "Actor")}</span>
                <input type="text" name="actor" size="12" value=filters.actor.clone()
                    placeholder=tr("用户名 / anonymous / system", "username / anonymous / system") />
            </label>
            <label>
                <span>{tr("起始日期", "From")}</span>
                <input type="text" name="from" value=filters.from.clone() inputmode="numeric"
                    size="10" pattern=DATE_PATTERN placeholder="YYYY-MM-DD" />
            </label>
            <label>
                <span>{tr("截止日期", "Until")}</span>
                <input type="text" name="until" value=filters.until.clone() inputmode="numeric"
                    size="10" pattern=DATE_PATTERN placeholder="YYYY-MM-DD" />
            </label>
            <label>
                <span>{tr("对象包含", "Target contains")}</span>
                <input type="search" name="q" value=filters.q.clone() />
            </label>
            <button type="submit">{tr("筛选", "Filter")}</button>
            <a href="/audit">{tr("清除筛选", "Clear filters")}</a>
        </form>
    }
}

#[component]
fn AuditTable(page: AuditPageDto, filters: AuditQuery) -> impl IntoView {
    let lang = use_lang();
    let filter_qs = query_string(&filters.pairs());
    let export_href = format!("/export/audit.csv?{filter_qs}");
    let first_href = format!("/audit?{filter_qs}");
    let next_href = page.next_before.map(|b| {
        let b = b.to_string();
        let mut pairs = filters.pairs().to_vec();
        pairs.push(("before", b.as_str()));
        format!("/audit?{}", query_string(&pairs))
    });
    let empty = page.rows.is_empty();
    let rows = page
        .rows
        .into_iter()
        .map(|e| {
            let action = e.action.clone();
            let detail = e.detail.clone();
            let shown_detail = (e.detail != "{}" && !e.detail.is_empty()).then(|| e.detail.clone());
            view! {
                <tr>
                    <td class="nowrap">{format_time_ms(e.at_ms)}</td>
                    <td>{e.actor}</td>
                    <td>
                        <span class="audit-action">{move || describe(&action, &detail, lang.get())}</span>
                        <div class="muted"><code>{e.action.clone()}</code></div>
                    </td>
                    <td class="audit-target">{e.target}</td>
                    <td class="audit-detail">{shown_detail.map(|d| view! { <code>{d}</code> })}</td>
                    <td><code>{e.ip}</code></td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card" aria-labelledby="audit-heading">
            <div class="table-head">
                <h2 id="audit-heading">{tr("记录", "Entries")}</h2>
                <a href=export_href download="audit.csv">{tr("导出 CSV", "Export CSV")}</a>
            </div>
            {if empty {
                view! { <p class="muted" role="status">{tr("没有符合条件的记录。", "No entries match.")}</p> }.into_any()
            } else {
                view! {
                    <table class="data audit-table">
                        <thead>
                            <tr>
                                <th scope="col">{tr("时间", "Time")}</th>
                                <th scope="col">{tr("操作人", "Actor")}</th>
                                <th scope="col">{tr("操作", "Action")}</th>
                                <th scope="col">{tr("对象", "Target")}</th>
                                <th scope="col">{tr("详情", "Details")}</th>
                                <th scope="col">"IP"</th>
                            </tr>
                        </thead>
                        <tbody>{rows}</tbody>
                    </table>
                }.into_any()
            }}
            <nav class="table-foot" aria-label=tr("翻页", "Pages")>
                <a href=first_href>{tr("最新", "Newest")}</a>
                {next_href.map(|h| view! { <a href=h>{tr("更早", "Older")}</a> })}
            </nav>
        </section>
    }
}

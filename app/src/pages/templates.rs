//! The templates page: presets (saved messages) first, then the template messages and subscribe
//! templates synced from WeChat, with their keyword fields.

use leptos::prelude::*;
use model::AccountKind;

use crate::components::empty_state::EmptyState;
use crate::dto::{format_time_ms, Role, SessionInfo};
use crate::i18n::{tr, use_lang, Lang};
use crate::templates::{
    templates_page, DeletePreset, DuplicatePreset, PresetSummaryDto, SyncTemplates, TemplateDto,
    TemplateSyncDto,
};

fn is_admin() -> bool {
    use_context::<SessionInfo>()
        .and_then(|i| i.user)
        .is_some_and(|u| u.role == Role::Admin)
}

#[component]
pub fn TemplatesPage() -> impl IntoView {
    let sync = ServerAction::<SyncTemplates>::new();
    let duplicate = ServerAction::<DuplicatePreset>::new();
    let delete = ServerAction::<DeletePreset>::new();
    let last_kind = RwSignal::new(None);
    let data = Resource::new(
        move || {
            (
                sync.version().get(),
                duplicate.version().get(),
                delete.version().get(),
            )
        },
        |_| templates_page(),
    );
    let lang = use_lang();
    view! {
        <h1>{tr("模板", "Templates")}</h1>
        <Transition fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                    Ok(page) if page.account.is_none() => view! {
                        <EmptyState
                            title=tr("还没有公众号", "No Official Account yet")
                            hint=tr(
                                "管理员在「设置」中添加公众号后，可以从微信同步模板消息。",
                                "Once an admin adds an Official Account in Settings, its template messages can be synced from WeChat.",
                            )
                        />
                    }.into_any(),
                    Ok(page) => view! {
                        <PresetList presets=page.presets.clone() has_templates=!page.oa_templates.is_empty() || !page.mp_templates.is_empty() duplicate delete />
                        <TemplateSection
                            kind=AccountKind::Oa
                            heading=tr("公众号模板消息", "Official Account template messages")
                            templates=page.oa_templates.clone()
                            last=page.oa_sync.clone()
                            sync
                            last_kind
                        />
                        {page.mp.clone().map(|mp| view! {
                            <TemplateSection
                                kind=AccountKind::Mp
                                heading=tr("小程序订阅消息模板", "Mini Program subscribe templates")
                                templates=page.mp_templates.clone()
                                last=page.mp_sync.clone()
                                sync
                                last_kind
                                note=mp.name
                            />
                        })}
                    }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn PresetList(
    presets: Vec<PresetSummaryDto>,
    has_templates: bool,
    duplicate: ServerAction<DuplicatePreset>,
    delete: ServerAction<DeletePreset>,
) -> impl IntoView {
    let lang = use_lang();
    let admin = is_admin();
    let action_error = move || {
        duplicate
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| delete.value().get().and_then(|r| r.err()))
            .map(|e| view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> })
    };
    let rows = presets
        .into_iter()
        .map(|p| {
            let status = move || {
                if p.template_removed {
                    view! { <span class="flag danger">{tr("模板已在微信删除", "Template removed in WeChat")}</span> }.into_any()
                } else if p.issues > 0 {
                    let n = p.issues;
                    view! { <span class="flag warn">{move || lang.get().pick(format!("模板已变更，{n} 处需修改"), format!("Template changed: {n} field(s) to fix"))}</span> }.into_any()
                } else {
                    view! { <span class="flag ok">{tr("可发送", "Ready")}</span> }.into_any()
                }
            };
            let name = p.name.clone();
            let confirm_name = p.name.clone();
            let kind = if p.kind == AccountKind::Mp {
                tr("订阅消息", "Subscribe message")
            } else {
                tr("模板消息", "Template message")
            };
            view! {
                <tr>
                    <td><a href=format!("/templates/presets/{}", p.id)>{p.name.clone()}</a></td>
                    <td><span class="badge kind">{kind}</span></td>
                    <td>{p.template_title.clone()}</td>
                    <td>{status}</td>
                    <td class="muted">{p.updated_by.clone()} " · " {format_time_ms(p.updated_ms)}</td>
                    <td>
                        <div class="actions">
                            <a class="button" href=format!("/templates/presets/{}", p.id) aria-label=move || format!("{} {}", lang.get().pick("打开", "Open"), name)>
                                {move || if admin { lang.get().pick("编辑", "Edit") } else { lang.get().pick("查看", "View") }}
                            </a>
                            {admin.then(|| {
                                let id = p.id;
                                let label = p.name.clone();
                                let dup_label = p.name.clone();
                                view! {
                                    <button type="button" on:click=move |_| { duplicate.dispatch(DuplicatePreset { id }); }
                                        aria-label=move || format!("{} {}", lang.get().pick("复制", "Duplicate"), dup_label)>
                                        {tr("复制", "Duplicate")}
                                    </button>
                                    <button type="button" class="danger"
                                        aria-label=move || format!("{} {}", lang.get().pick("删除", "Delete"), label)
                                        on:click=move |_| {
                                            let question = lang.get_untracked().pick(
                                                format!("删除预设「{confirm_name}」？此操作不可撤销。"),
                                                format!("Delete preset \"{confirm_name}\"? This cannot be undone."),
                                            );
                                            if confirm(&question) {
                                                delete.dispatch(DeletePreset { id });
                                            }
                                        }>
                                        {tr("删除", "Delete")}
                                    </button>
                                }
                            })}
                        </div>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let empty = rows.is_empty();
    view! {
        <section class="card" aria-labelledby="presets-heading">
            <div class="section-head">
                <h2 id="presets-heading">{tr("预设消息", "Presets")}</h2>
                {(admin && has_templates).then(|| view! {
                    <a class="button primary" href="/templates/presets/new">{tr("新建预设", "New preset")}</a>
                })}
            </div>
            <p class="muted">{tr(
                "预设是保存好的消息：公众号模板消息（关键词内容、颜色、跳转），或关联小程序的订阅消息（关键词内容、跳转页面）。预设与同步的模板分开保存，重新同步不会覆盖。",
                "Presets are saved messages: Official Account template messages (keyword values, colors, link) or subscribe messages of the linked Mini Program (keyword values, page). They are kept apart from the synced templates, so a re-sync never overwrites them.",
            )}</p>
            {action_error}
            {if empty {
                view! { <p class="muted">{tr("还没有预设。", "No presets yet.")}</p> }.into_any()
            } else {
                view! {
                    <table class="data">
                        <thead><tr>
                            <th scope="col">{tr("名称", "Name")}</th>
                            <th scope="col">{tr("类型", "Kind")}</th>
                            <th scope="col">{tr("模板", "Template")}</th>
                            <th scope="col">{tr("状态", "Status")}</th>
                            <th scope="col">{tr("最后修改", "Last changed")}</th>
                            <th scope="col">{tr("操作", "Actions")}</th>
                        </tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

/// `window.confirm`; on the server (never reached) it refuses.
fn confirm(question: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.confirm_with_message(question).ok())
            .unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = question;
        false
    }
}

#[component]
fn TemplateSection(
    kind: AccountKind,
    heading: impl Fn() -> &'static str + Send + Sync + Copy + 'static,
    templates: Vec<TemplateDto>,
    last: Option<TemplateSyncDto>,
    sync: ServerAction<SyncTemplates>,
    /// Which section started the last sync: only that one shows the result.
    last_kind: RwSignal<Option<AccountKind>>,
    #[prop(optional, into)] note: Option<String>,
) -> impl IntoView {
    let lang = use_lang();
    let admin = is_admin();
    let heading_id = format!("tpl-{}-heading", kind.as_str());
    let labelled_by = heading_id.clone();
    let running =
        move || sync.pending().get() && sync.input().get().is_some_and(|i| i.kind == kind);
    let result = move || {
        if last_kind.get() != Some(kind) {
            return None;
        }
        Some(match sync.value().get()? {
            Ok(r) => {
                let l = lang.get();
                let text = match l {
                    Lang::Zh => format!(
                        "同步完成：新增 {}，更新 {}，标记删除 {}，未变 {}。",
                        r.added, r.changed, r.removed, r.unchanged
                    ),
                    Lang::En => format!(
                        "Synced: {} added, {} changed, {} marked removed, {} unchanged.",
                        r.added, r.changed, r.removed, r.unchanged
                    ),
                };
                let flagged = (r.flagged_presets > 0).then(|| {
                    l.pick(
                        format!(" {} 个预设使用的模板已被删除，已标记。", r.flagged_presets),
                        format!(
                            " {} preset(s) use a removed template and are flagged.",
                            r.flagged_presets
                        ),
                    )
                });
                view! { <p class="test-ok" role="status">{text}{flagged}</p> }.into_any()
            }
            Err(e) => {
                view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> }.into_any()
            }
        })
    };
    let last_line = last.map(|s| {
        view! {
            <p class="muted sync-facts">
                {move || lang.get().pick("上次同步：", "Last synced: ")}
                {format_time_ms(s.synced_ms)} " · " {s.synced_by.clone()}
            </p>
        }
    });
    let cards = templates
        .into_iter()
        .map(|t| view! { <TemplateCard template=t admin /> })
        .collect_view();
    view! {
        <section class="card" aria-labelledby=labelled_by>
            <div class="section-head">
                <h2 id=heading_id>{heading} {note.map(|n| view! { <span class="muted">" · " {n}</span> })}</h2>
                {admin.then(|| view! {
                    <button type="button" class="primary" disabled=running
                        on:click=move |_| {
                            last_kind.set(Some(kind));
                            sync.dispatch(SyncTemplates { kind });
                        }>
                        {move || if running() {
                            lang.get().pick("同步中…", "Syncing…")
                        } else if kind == AccountKind::Oa {
                            lang.get().pick("同步模板消息", "Sync template messages")
                        } else {
                            lang.get().pick("同步订阅模板", "Sync subscribe templates")
                        }}
                    </button>
                })}
            </div>
            {last_line}
            {result}
            {if cards.is_empty() {
                view! { <p class="muted">{tr("尚未同步，或微信中还没有模板。", "Not synced yet, or WeChat has no templates.")}</p> }.into_any()
            } else {
                view! { <div class="template-list">{cards}</div> }.into_any()
            }}
        </section>
    }
}

#[component]
fn TemplateCard(template: TemplateDto, admin: bool) -> impl IntoView {
    let lang = use_lang();
    let t = template;
    let kind_badge = if t.kind == AccountKind::Mp {
        match t.sub_type {
            Some(3) => tr("长期订阅", "Long-term"),
            _ => tr("一次性订阅", "One-time"),
        }
    } else if t.category {
        tr("类目模板", "Category template")
    } else {
        tr("旧版行业模板", "Legacy industry template")
    };
    let fields = t
        .fields
        .iter()
        .map(|f| {
            let ty = f.ty;
            let enums = t.enums.get(&f.key).map(|v| v.join("、"));
            view! {
                <tr>
                    <td>{if f.label.is_empty() { "—".to_owned() } else { f.label.clone() }}</td>
                    <td><code>{f.key.clone()}</code></td>
                    <td>{move || ty.name(lang.get() == Lang::En)}{enums.clone().map(|e| format!(" ({e})"))}</td>
                </tr>
            }
        })
        .collect_view();
    let new_link =
        (admin && !t.removed).then(|| format!("/templates/presets/new?template={}", t.id));
    let title = t.title.clone();
    view! {
        <article class="template-card" class:removed=t.removed aria-label=t.title.clone()>
            <header>
                <h3>{t.title.clone()}</h3>
                <span class="badge kind">{kind_badge}</span>
                {t.removed.then(|| view! { <span class="badge removed">{tr("已在微信删除", "Removed in WeChat")}</span> })}
                {(t.presets > 0).then(|| {
                    let n = t.presets;
                    view! { <span class="badge">{move || lang.get().pick(format!("{n} 个预设", ), format!("{n} preset(s)"))}</span> }
                })}
            </header>
            <p class="muted template-id"><code>{t.template_id.clone()}</code> {(!t.industry.is_empty()).then(|| format!(" · {}", t.industry))}</p>
            <table class="data fields">
                <caption class="visually-hidden">{move || format!("{} {}", title, lang.get().pick("的关键词", "keywords"))}</caption>
                <thead><tr>
                    <th scope="col">{tr("名称", "Label")}</th>
                    <th scope="col">{tr("键", "Key")}</th>
                    <th scope="col">{tr("类型", "Type")}</th>
                </tr></thead>
                <tbody>{fields}</tbody>
            </table>
            {(!t.example.is_empty()).then(|| view! {
                <details>
                    <summary>{tr("示例", "Example")}</summary>
                    <pre class="example">{t.example.clone()}</pre>
                </details>
            })}
            {new_link.map(|href| view! {
                <a class="button" href=href>{tr("用此模板新建预设", "New preset from this template")}</a>
            })}
        </article>
    }
}

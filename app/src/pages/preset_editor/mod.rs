//! The preset editor: one row per keyword (value, and color for template messages), then where
//! a tap leads (link and Mini Program for a template message; page, Mini Program version and
//! language for a subscribe message), checked as you type with the rules the server applies, a
//! live preview of the exact payload (the message, or the 服务通知 card), and a test send to
//! yourself.

mod checks;
mod field_row;
mod jump;
mod preview;
mod save;
mod test_send;

use std::collections::HashSet;

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use message::{
    check_preset_name, validate_preset, Flavor, Issue, MiniProgramLink, PresetBody, TemplateSpec,
};
use model::AccountKind;

use crate::dto::{format_time_ms, Role, SessionInfo};
use crate::i18n::{tr, use_lang};
use crate::templates::{preset_editor, EditorDto};

use checks::Checks;
use preview::Previews;

#[component]
pub fn PresetEditorPage() -> impl IntoView {
    let id = crate::url::use_id_param();
    let data = Resource::new(id, preset_editor);
    let lang = use_lang();
    view! {
        <p class="crumbs"><a href="/templates">{tr("← 模板", "← Templates")}</a></p>
        <Transition fallback=|| view! { <p>"…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(dto) if dto.templates.is_empty() => view! {
                        <h1>{tr("新建预设", "New preset")}</h1>
                        <p class="muted">{tr("请先在模板页同步公众号的模板消息或小程序的订阅消息模板。", "Sync the Official Account's template messages or the Mini Program's subscribe templates on the Templates page first.")}</p>
                    }.into_any(),
                    Ok(dto) => view! { <Editor dto /> }.into_any(),
                    Err(e) => view! { <p class="form-error" role="alert">{move || e.message(lang.get())}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Editor(dto: EditorDto) -> impl IntoView {
    let lang = use_lang();
    let admin = use_context::<SessionInfo>()
        .and_then(|i| i.user)
        .is_some_and(|u| u.role == Role::Admin);
    let readonly = !admin;
    let query = use_query_map();
    let preset_id = dto.preset.as_ref().map(|p| p.id).unwrap_or(0);
    let templates = StoredValue::new(dto.templates.clone());
    let linked = StoredValue::new(dto.linked_appids.clone());
    let initial_template = dto
        .preset
        .as_ref()
        .map(|p| p.template_ref)
        .or_else(|| {
            query
                .read_untracked()
                .get("template")
                .and_then(|s| s.parse().ok())
        })
        .filter(|id| dto.templates.iter().any(|t| t.id == *id))
        .or_else(|| dto.templates.iter().find(|t| !t.removed).map(|t| t.id))
        .unwrap_or(0);
    let initial_body = dto
        .preset
        .as_ref()
        .map(|p| p.body.clone())
        .unwrap_or_default();
    let initial_name = dto
        .preset
        .as_ref()
        .map(|p| p.name.clone())
        .unwrap_or_default();

    let name = RwSignal::new(initial_name.clone());
    let template_ref = RwSignal::new(initial_template);
    let values = RwSignal::new(initial_body.values.clone());
    let url = RwSignal::new(initial_body.url.clone());
    let (mp0, page0) = initial_body
        .miniprogram
        .clone()
        .map(|m| (m.appid, m.pagepath))
        .unwrap_or_default();
    let mp_appid = RwSignal::new(mp0);
    let pagepath = RwSignal::new(page0);
    let page = RwSignal::new(initial_body.page.clone());
    let mp_state = RwSignal::new(initial_body.miniprogram_state.clone());
    let mp_lang = RwSignal::new(initial_body.lang.clone());
    let saved = RwSignal::new((initial_name, initial_template, initial_body));

    let template = Memo::new(move |_| {
        let id = template_ref.get();
        templates.with_value(|ts| ts.iter().find(|t| t.id == id).cloned())
    });
    let is_subscribe = Memo::new(move |_| {
        template.with(|t| t.as_ref().is_some_and(|t| t.kind == AccountKind::Mp))
    });
    let flavor = move || {
        if is_subscribe.get() {
            Flavor::Subscribe
        } else {
            Flavor::Template
        }
    };
    // What the server will store: only what this kind of message uses.
    let body = Memo::new(move |_| {
        let mut b = PresetBody {
            values: values.get(),
            url: url.get(),
            miniprogram: (!mp_appid.get().is_empty() || !pagepath.get().is_empty()).then(|| {
                MiniProgramLink {
                    appid: mp_appid.get(),
                    pagepath: pagepath.get(),
                }
            }),
            page: page.get(),
            miniprogram_state: mp_state.get(),
            lang: mp_lang.get(),
        };
        if is_subscribe.get() {
            b.values.values_mut().for_each(|v| v.color.clear());
            b.url.clear();
            b.miniprogram = None;
        } else {
            let defaults = PresetBody::default();
            b.page = defaults.page;
            b.miniprogram_state = defaults.miniprogram_state;
            b.lang = defaults.lang;
        }
        b
    });
    let issues = Memo::new(move |_| {
        let mut all: Vec<Issue> = check_preset_name(&name.get()).into_iter().collect();
        if let Some(t) = template.get() {
            linked.with_value(|linked| {
                all.extend(validate_preset(
                    &body.get(),
                    &TemplateSpec {
                        fields: &t.fields,
                        enums: &t.enums,
                        flavor: flavor(),
                        linked_appids: linked,
                    },
                ))
            });
        }
        all
    });
    let checks = Checks {
        issues,
        touched: RwSignal::new(HashSet::new()),
        attempted: RwSignal::new(false),
    };
    // Test sends use the saved preset, so its saved template decides where they go.
    let saved_subscribe = Memo::new(move |_| {
        let saved_ref = saved.with(|s| s.1);
        templates.with_value(|ts| {
            ts.iter()
                .any(|t| t.id == saved_ref && t.kind == AccountKind::Mp)
        })
    });
    let dirty = Memo::new(move |_| {
        saved.with(|(n, t, b)| *n != name.get() || *t != template_ref.get() || *b != body.get())
    });

    let previews = Previews::new(template, body, &dto);

    let (save, pending_snapshot) = save::save_action(preset_id, saved);
    let on_save = save::on_save(
        name,
        template_ref,
        body,
        checks,
        pending_snapshot,
        save,
        preset_id,
    );
    let save_feedback = save::save_feedback(template, checks, save, dirty, lang);

    let heading = if preset_id == 0 {
        tr("新建预设", "New preset")
    } else if admin {
        tr("编辑预设", "Edit preset")
    } else {
        tr("预设", "Preset")
    };
    let updated = dto
        .preset
        .as_ref()
        .map(|p| format!("{} · {}", p.updated_by, format_time_ms(p.updated_ms)));
    let options_of = move |kind: AccountKind| {
        templates.with_value(|ts| {
            ts.iter()
                .filter(|t| t.kind == kind)
                .map(|t| {
                    let label = if t.removed {
                        format!("{} ({})", t.title, lang.get().pick("已在微信删除", "removed in WeChat"))
                    } else {
                        t.title.clone()
                    };
                    view! { <option value=t.id.to_string() selected=t.id == template_ref.get_untracked()>{label}</option> }
                })
                .collect_view()
        })
    };
    let has_kind =
        move |kind: AccountKind| templates.with_value(|ts| ts.iter().any(|t| t.kind == kind));
    let mp_group_name = dto.mp.as_ref().map(|m| m.name.clone()).unwrap_or_default();
    let template_options = move || {
        let mp_group_name = mp_group_name.clone();
        view! {
            {has_kind(AccountKind::Oa).then(|| view! {
                <optgroup label=move || lang.get().pick("公众号模板消息", "Official Account template messages")>{options_of(AccountKind::Oa)}</optgroup>
            })}
            {has_kind(AccountKind::Mp).then(|| view! {
                <optgroup label=move || format!("{} · {}", lang.get().pick("小程序订阅消息", "Mini Program subscribe messages"), mp_group_name)>{options_of(AccountKind::Mp)}</optgroup>
            })}
        }
    };
    let field_rows = field_row::keyword_fields(template, values, checks, readonly);
    let removed_warning = move || {
        template.get().filter(|t| t.removed).map(|_| view! {
            <p class="form-error" role="alert">{tr(
                "此预设使用的模板已在微信后台删除，无法发送。请换一个模板后保存。",
                "This preset's template was removed in WeChat, so it cannot be sent. Choose another template and save.",
            )}</p>
        })
    };
    // A value may use a spreadsheet's column as `{{积分}}`: say which ones this preset needs.
    let variables_note = move || {
        let fields = template.get().map(|t| t.fields).unwrap_or_default();
        let names = message::preset_variables(&body.get(), &fields);
        (!names.is_empty()).then(|| {
            let list = names.join("、");
            view! {
                <p class="notice" role="note" aria-label=move || lang.get().pick("预设使用的变量", "Variables of the preset")>
                    {move || lang.get().pick(
                        format!("本预设使用变量：{list}。发送时从上传的表格中逐人填入（新建发送任务 › 上传表格），表格需有同名的列。"),
                        format!("This preset uses the variables {list}: each person's values come from an uploaded spreadsheet (New send job › upload a spreadsheet) with columns of those names."),
                    )}
                </p>
            }
        })
    };
    let template_jump =
        move || jump::template_jump(url, mp_appid, pagepath, linked, readonly, checks, lang);
    let subscribe_jump =
        move || jump::subscribe_jump(page, mp_state, mp_lang, readonly, checks, lang);

    // Erased to keep the view type shallow enough for the compiler.
    let form = view! {
            <form class="card preset-form" on:submit=move |ev| { ev.prevent_default(); }>
                {removed_warning}
                <div class="form-grid">
                    <label for="preset-name">{tr("预设名称", "Preset name")}</label>
                    <div>
                        <input id="preset-name" type="text" prop:value=move || name.get() readonly=readonly
                            aria-invalid=checks.invalid("name", lang) aria-describedby="err-name"
                            on:input=move |ev| { name.set(event_target_value(&ev)); checks.touch("name"); } />
                        {checks.error_of("name", lang)}
                    </div>
                    <label for="preset-template">{tr("模板", "Template")}</label>
                    <select id="preset-template" disabled=readonly
                        on:change=move |ev| {
                            if let Ok(id) = event_target_value(&ev).parse() {
                                template_ref.set(id);
                            }
                        }>
                        {template_options}
                    </select>
                </div>
                {field_rows}
                {variables_note}
                {move || if is_subscribe.get() { subscribe_jump().into_any() } else { template_jump().into_any() }}
                {admin.then(|| view! {
                    <div class="form-actions">
                        <button type="button" class="primary" on:click=on_save disabled=move || save.pending().get()>
                            {move || if save.pending().get() { lang.get().pick("保存中…", "Saving…") } else { lang.get().pick("保存预设", "Save preset") }}
                        </button>
                        {move || (dirty.get() && preset_id != 0).then(|| view! { <span class="muted">{tr("有未保存的修改", "Unsaved changes")}</span> })}
                    </div>
                })}
                {save_feedback}
            </form>
    }
    .into_any();
    let side = previews.panel(
        is_subscribe,
        preset_id,
        dto.test_openid.clone(),
        dto.mp_test_openid.clone(),
        saved_subscribe,
        dirty,
    );

    view! {
        <h1>{heading}</h1>
        {updated.map(|u| view! { <p class="muted">{tr("最后修改：", "Last changed: ")}{u}</p> })}
        <div class="editor-grid">
            {form}
            {side}
        </div>
    }
}

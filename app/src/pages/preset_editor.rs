//! The preset editor: one row per keyword (value, and color for template messages), then where
//! a tap leads (link and Mini Program for a template message; page, Mini Program version and
//! language for a subscribe message), checked as you type with the rules the server applies, a
//! live preview of the exact payload (the message, or the 服务通知 card), and a test send to
//! yourself.

use std::collections::{BTreeMap, HashSet};

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use message::{
    check_preset_name, subscribe_payload, subscribe_preview, template_payload, validate_preset,
    Field, FieldRole, FieldType, FieldValue, Flavor, Issue, MiniProgramLink, PresetBody, Preview,
    PreviewMode, TemplateSpec,
};
use model::AccountKind;

use crate::components::message_preview::{MessagePreview, ServiceNoticePreview};
use crate::dto::{format_time_ms, SessionInfo, StaffRole};
use crate::i18n::{tr, use_lang, Lang};
use crate::templates::{preset_editor, EditorDto, SavePreset, TestSendPreset};

#[component]
pub fn PresetEditorPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
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

/// Where a field's problem shows: after it was typed into, or after a save attempt.
#[derive(Clone, Copy)]
struct Checks {
    issues: Memo<Vec<Issue>>,
    touched: RwSignal<HashSet<String>>,
    attempted: RwSignal<bool>,
}

impl Checks {
    fn touch(&self, field: &str) {
        if !self.touched.with_untracked(|t| t.contains(field)) {
            self.touched.update(|t| {
                t.insert(field.to_owned());
            });
        }
    }

    /// The message for `field`, if it has a problem that should show now.
    fn message(&self, field: &str, lang: Lang) -> Option<String> {
        let shown = self.attempted.get() || self.touched.with(|t| t.contains(field));
        if !shown {
            return None;
        }
        self.issues.with(|all| {
            all.iter()
                .find(|i| i.field == field)
                .map(|i| i.problem.message(lang == Lang::En))
        })
    }
}

/// The id of the control that edits preset field `field` (as the checks name it).
fn control_id(field: &str) -> String {
    if let Some(k) = field.strip_prefix("value.") {
        return format!("f-value-{k}");
    }
    if let Some(k) = field.strip_prefix("color.") {
        return format!("f-color-{k}");
    }
    match field {
        "name" => "preset-name",
        "url" => "preset-url",
        "miniprogram.appid" => "preset-mp",
        "miniprogram.pagepath" => "preset-pagepath",
        "page" => "preset-page",
        "miniprogram_state" => "preset-mp-state",
        "lang" => "preset-lang",
        _ => "preset-template",
    }
    .to_owned()
}

/// Moves the keyboard focus to the control of `field` (in the browser; nothing on the server).
fn focus_field(field: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let el = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(&control_id(field)))
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok());
        if let Some(el) = el {
            let _ = el.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = control_id(field);
}

#[component]
fn Editor(dto: EditorDto) -> impl IntoView {
    let lang = use_lang();
    let admin = use_context::<SessionInfo>()
        .and_then(|i| i.user)
        .is_some_and(|u| u.role == StaffRole::Admin);
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

    let touser = dto.test_openid.clone().unwrap_or_else(|| "OPENID".into());
    let mp_touser = dto
        .mp_test_openid
        .clone()
        .unwrap_or_else(|| "OPENID".into());
    let mp_name = dto.mp.as_ref().map(|m| m.name.clone()).unwrap_or_default();
    let payload = Memo::new(move |_| {
        template
            .get()
            .filter(|t| t.kind != AccountKind::Mp)
            .map(|t| template_payload(&touser, &t.template_id, &t.fields, &body.get(), None))
    });
    let sub_payload = Memo::new(move |_| {
        template
            .get()
            .filter(|t| t.kind == AccountKind::Mp)
            .map(|t| subscribe_payload(&mp_touser, &t.template_id, &t.fields, &body.get()))
    });
    let sub_preview = Memo::new(move |_| match (template.get(), sub_payload.get()) {
        (Some(t), Some(p)) => Some(subscribe_preview(&mp_name, &t.title, &t.fields, &p)),
        _ => None,
    });
    let mode = RwSignal::new(PreviewMode::Current);
    let preview = Memo::new(move |_| match (template.get(), payload.get()) {
        (Some(t), Some(p)) => message::preview(&t.title, &t.fields, &p, mode.get()),
        _ => Preview {
            title: String::new(),
            first: None,
            rows: Vec::new(),
            remark: None,
            jump: message::Jump::None,
        },
    });
    let drops = Memo::new(move |_| {
        let mut out = Vec::new();
        let (Some(t), Some(p)) = (template.get(), payload.get()) else {
            return out;
        };
        for role in [FieldRole::First, FieldRole::Remark] {
            let filled = t
                .fields
                .iter()
                .filter(|f| f.role == role)
                .any(|f| p.data.get(&f.key).is_some_and(|v| !v.value.is_empty()));
            if filled {
                out.push(if role == FieldRole::First {
                    "first"
                } else {
                    "remark"
                });
            }
        }
        if p.data.values().any(|v| v.color.is_some()) {
            out.push("color");
        }
        let current = message::preview(&t.title, &t.fields, &p, PreviewMode::Current);
        if current.rows.iter().any(|r| r.truncated) {
            out.push("cut");
        }
        out
    });

    let save = ServerAction::<SavePreset>::new();
    let pending_snapshot = StoredValue::new(None::<(String, i64, PresetBody)>);
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(new_id)) = save.value().get() {
            if let Some(snapshot) = pending_snapshot.get_value() {
                saved.set(snapshot);
            }
            if preset_id == 0 {
                navigate(&format!("/templates/presets/{new_id}"), Default::default());
            }
        }
    });
    // A field's name as its label shows it (a keyword by its template label).
    let field_name = move |field: &str, lang: Lang| -> String {
        let key = field
            .strip_prefix("value.")
            .or_else(|| field.strip_prefix("color."));
        match key {
            Some(k) => {
                let label = template.with_untracked(|t| {
                    t.as_ref()
                        .and_then(|t| t.fields.iter().find(|f| f.key == k))
                        .map(|f| {
                            if f.label.is_empty() {
                                k.to_owned()
                            } else {
                                f.label.clone()
                            }
                        })
                        .unwrap_or_else(|| k.to_owned())
                });
                if field.starts_with("color.") {
                    format!("{label} {}", lang.pick("颜色", "color"))
                } else {
                    label
                }
            }
            None => crate::validate::preset_field_label(field, lang),
        }
    };
    let on_save = move |_| {
        checks.attempted.set(true);
        if let Some(first) = issues.with_untracked(|all| all.first().map(|i| i.field.clone())) {
            focus_field(&first);
            return;
        }
        let snapshot = (
            name.get_untracked(),
            template_ref.get_untracked(),
            body.get_untracked(),
        );
        pending_snapshot.set_value(Some(snapshot.clone()));
        save.dispatch(SavePreset {
            id: preset_id,
            name: snapshot.0,
            template_ref: snapshot.1,
            body: serde_json::to_string(&snapshot.2).unwrap_or_default(),
        });
    };
    let save_feedback = move || {
        let l = lang.get();
        let local = issues.with(Vec::len);
        if checks.attempted.get() && local > 0 {
            let mut names: Vec<String> = Vec::new();
            issues.with(|all| {
                for i in all {
                    let n = field_name(&i.field, l);
                    if !names.contains(&n) {
                        names.push(n);
                    }
                }
            });
            let list = names.join(l.pick("、", ", "));
            return Some(view! {
                <p class="form-error" role="alert">
                    {l.pick(format!("无法保存：有 {local} 处需要修改：{list}。"), format!("Not saved: {local} field(s) need fixing: {list}."))}
                </p>
            }.into_any());
        }
        match save.value().get()? {
            Err(e) => {
                Some(view! { <p class="form-error" role="alert">{e.message(l)}</p> }.into_any())
            }
            Ok(_) if !dirty.get() => Some(
                view! { <p class="test-ok" role="status">{l.pick("已保存", "Saved")}</p> }
                    .into_any(),
            ),
            Ok(_) => None,
        }
    };

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
    let field_rows = move || {
        let t = template.get()?;
        let subscribe = t.kind == AccountKind::Mp;
        let rows = t
            .fields
            .iter()
            .cloned()
            .map(|f| {
                let enums = t.enums.get(&f.key).cloned().unwrap_or_default();
                view! { <FieldRow field=f enums values checks readonly subscribe /> }
            })
            .collect_view();
        Some(view! {
            <fieldset class="keywords">
                <legend>{tr("关键词", "Keywords")}</legend>
                {(!t.example.is_empty()).then(|| view! {
                    <details class="template-example">
                        <summary>{tr("模板示例", "Template example")}</summary>
                        <pre class="example">{t.example.clone()}</pre>
                    </details>
                })}
                {rows}
            </fieldset>
        })
    };
    let removed_warning = move || {
        template.get().filter(|t| t.removed).map(|_| view! {
            <p class="form-error" role="alert">{tr(
                "此预设使用的模板已在微信后台删除，无法发送。请换一个模板后保存。",
                "This preset's template was removed in WeChat, so it cannot be sent. Choose another template and save.",
            )}</p>
        })
    };
    let error_of = move |field: &'static str| {
        move || {
            checks.message(field, lang.get()).map(|m| view! { <p class="field-error" id=format!("err-{}", field.replace('.', "-"))>{m}</p> })
        }
    };
    let invalid =
        move |field: &'static str| move || checks.message(field, lang.get()).is_some().to_string();
    let linked_options = move || {
        linked.with_value(|ids| {
            ids.iter()
                .map(|a| view! { <option value=a.clone() selected=*a == mp_appid.get_untracked()>{a.clone()}</option> })
                .collect_view()
        })
    };
    let has_linked = linked.with_value(|l| !l.is_empty());
    let payload_json = move || {
        payload
            .get()
            .map(|p| p.to_json())
            .or_else(|| sub_payload.get().map(|p| p.to_json()))
            .map(|json| serde_json::to_string_pretty(&json).unwrap_or_default())
    };
    let endpoint = move || {
        if is_subscribe.get() {
            "POST cgi-bin/message/subscribe/send"
        } else {
            "POST cgi-bin/message/template/send"
        }
    };

    let template_jump = move || {
        view! {
        <fieldset class="jump">
            <legend>{tr("点击消息后跳转", "Where a tap leads")}</legend>
            <div class="form-grid">
                <label for="preset-url">{tr("跳转链接", "Link URL")}</label>
                <div>
                    <input id="preset-url" type="url" placeholder="https://" prop:value=move || url.get() readonly=readonly
                        aria-invalid=invalid("url") aria-describedby="err-url"
                        on:input=move |ev| { url.set(event_target_value(&ev)); checks.touch("url"); } />
                    {error_of("url")}
                </div>
                <label for="preset-mp">{tr("小程序", "Mini Program")}</label>
                <div>
                    <select id="preset-mp" disabled=readonly aria-invalid=invalid("miniprogram.appid") aria-describedby="err-miniprogram-appid"
                        on:change=move |ev| { mp_appid.set(event_target_value(&ev)); checks.touch("miniprogram.appid"); }>
                        <option value="" selected=mp_appid.get_untracked().is_empty()>{tr("不跳转小程序", "No Mini Program")}</option>
                        {linked_options}
                    </select>
                    {(!has_linked).then(|| view! { <p class="muted hint">{tr("此公众号未关联小程序（在「设置」中关联）。", "No Mini Program is linked to this account (link one in Settings).")}</p> })}
                    {error_of("miniprogram.appid")}
                </div>
                <label for="preset-pagepath">{tr("小程序页面路径", "Mini Program page path")}</label>
                <div>
                    <input id="preset-pagepath" type="text" placeholder="pages/index/index?id=1" prop:value=move || pagepath.get() readonly=readonly
                        aria-invalid=invalid("miniprogram.pagepath") aria-describedby="err-miniprogram-pagepath"
                        on:input=move |ev| { pagepath.set(event_target_value(&ev)); checks.touch("miniprogram.pagepath"); } />
                    {error_of("miniprogram.pagepath")}
                </div>
            </div>
            <p class="muted hint">{tr(
                "同时设置时，微信优先打开小程序；链接作为旧版客户端的备用。",
                "When both are set WeChat opens the Mini Program; the link is the fallback for old clients.",
            )}</p>
        </fieldset>
        }
    };
    let state_option = move |value: &'static str, zh: &'static str, en: &'static str| {
        view! { <option value=value selected=mp_state.get_untracked() == value>{move || lang.get().pick(zh, en)}</option> }
    };
    let lang_option = move |value: &'static str, label: &'static str| {
        view! { <option value=value selected=mp_lang.get_untracked() == value>{label}</option> }
    };
    let subscribe_jump = move || {
        view! {
            <fieldset class="jump">
                <legend>{tr("点击消息后跳转", "Where a tap leads")}</legend>
                <div class="form-grid">
                    <label for="preset-page">{tr("跳转页面", "Page")}</label>
                    <div>
                        <input id="preset-page" type="text" placeholder="pages/index/index?id=1" prop:value=move || page.get() readonly=readonly
                            aria-invalid=invalid("page") aria-describedby="err-page"
                            on:input=move |ev| { page.set(event_target_value(&ev)); checks.touch("page"); } />
                        <p class="muted hint">{tr(
                            "小程序页面路径，可带参数，不以 / 开头；留空则点击后不跳转。页面须存在于所选版本中，否则微信返回 41030。",
                            "A page path of the Mini Program, query allowed, no leading /; leave empty for no jump. The page must exist in the chosen version, or WeChat answers 41030.",
                        )}</p>
                        {error_of("page")}
                    </div>
                    <label for="preset-mp-state">{tr("小程序版本", "Mini Program version")}</label>
                    <div>
                        <select id="preset-mp-state" disabled=readonly aria-invalid=invalid("miniprogram_state") aria-describedby="err-miniprogram_state"
                            on:change=move |ev| { mp_state.set(event_target_value(&ev)); checks.touch("miniprogram_state"); }>
                            {state_option("formal", "正式版", "Release")}
                            {state_option("trial", "体验版", "Trial")}
                            {state_option("developer", "开发版", "Developer")}
                        </select>
                        {error_of("miniprogram_state")}
                    </div>
                    <label for="preset-lang">{tr("语言", "Language")}</label>
                    <div>
                        <select id="preset-lang" disabled=readonly aria-invalid=invalid("lang") aria-describedby="err-lang"
                            on:change=move |ev| { mp_lang.set(event_target_value(&ev)); checks.touch("lang"); }>
                            {lang_option("zh_CN", "简体中文 (zh_CN)")}
                            {lang_option("en_US", "English (en_US)")}
                            {lang_option("zh_HK", "繁體中文・香港 (zh_HK)")}
                            {lang_option("zh_TW", "繁體中文・台灣 (zh_TW)")}
                        </select>
                        {error_of("lang")}
                    </div>
                </div>
                <p class="muted hint">{tr(
                    "订阅消息没有颜色、链接或其他小程序的跳转：消息属于关联的小程序，点击后打开上面的页面。",
                    "Subscribe messages have no colors, link or other Mini Program: the message belongs to the linked Mini Program and a tap opens the page above.",
                )}</p>
            </fieldset>
        }
    };

    // Erased to keep the view type shallow enough for the compiler.
    let form = view! {
            <form class="card preset-form" on:submit=move |ev| { ev.prevent_default(); }>
                {removed_warning}
                <div class="form-grid">
                    <label for="preset-name">{tr("预设名称", "Preset name")}</label>
                    <div>
                        <input id="preset-name" type="text" prop:value=move || name.get() readonly=readonly
                            aria-invalid=invalid("name") aria-describedby="err-name"
                            on:input=move |ev| { name.set(event_target_value(&ev)); checks.touch("name"); } />
                        {error_of("name")}
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
    let side = view! {
            <div class="side">
                {move || if is_subscribe.get() {
                    view! { <ServiceNoticePreview preview=sub_preview /> }.into_any()
                } else {
                    view! { <MessagePreview preview mode drops /> }.into_any()
                }}
                <details class="payload">
                    <summary>{tr("发送内容（JSON）", "Payload (JSON)")}</summary>
                    <p class="muted"><code>{endpoint}</code></p>
                    <pre>{payload_json}</pre>
                </details>
                <TestSend preset_id test_openid=dto.test_openid.clone() mp_test_openid=dto.mp_test_openid.clone() subscribe=saved_subscribe dirty />
            </div>
    }
    .into_any();

    view! {
        <h1>{heading}</h1>
        {updated.map(|u| view! { <p class="muted">{tr("最后修改：", "Last changed: ")}{u}</p> })}
        <div class="editor-grid">
            {form}
            {side}
        </div>
    }
}

#[component]
fn FieldRow(
    field: Field,
    enums: Vec<String>,
    values: RwSignal<BTreeMap<String, FieldValue>>,
    checks: Checks,
    readonly: bool,
    /// A subscribe message: no color, the subscribe rules.
    subscribe: bool,
) -> impl IntoView {
    let lang = use_lang();
    let flavor = if subscribe {
        Flavor::Subscribe
    } else {
        Flavor::Template
    };
    let key = field.key.clone();
    let value_field = format!("value.{key}");
    let color_field = format!("color.{key}");
    let label = match (field.role, field.label.is_empty()) {
        (FieldRole::First, true) => "首行 (first)".to_owned(),
        (FieldRole::Remark, true) => "备注 (remark)".to_owned(),
        (_, true) => key.clone(),
        (_, false) => field.label.clone(),
    };
    let input_id = format!("f-value-{key}");
    let color_id = format!("f-color-{key}");
    let err_id = format!("err-value-{key}");
    let color_err_id = format!("err-color-{key}");
    let ty = field.ty;
    let dropped = field.role != FieldRole::Keyword;
    let get = {
        let key = key.clone();
        move |pick: fn(&FieldValue) -> String| {
            let key = key.clone();
            move || values.with(|m| m.get(&key).map(pick).unwrap_or_default())
        }
    };
    let set = {
        let key = key.clone();
        move |which: &'static str, v: String| {
            values.update(|m| {
                let entry = m.entry(key.clone()).or_default();
                if which == "value" {
                    entry.value = v;
                } else {
                    entry.color = v;
                }
            })
        }
    };
    let set_value = set.clone();
    let set_color = set.clone();
    let set_picker = set;
    let (vf, cf) = (value_field.clone(), color_field.clone());
    let (vf2, cf2) = (value_field.clone(), color_field.clone());
    let value_now = get(|v| v.value.clone());
    let color_now = get(|v| v.color.clone());
    let color_now_set = get(|v| v.color.trim().to_owned());
    let color_unset = {
        let now = color_now_set.clone();
        move || now().is_empty()
    };
    let color_unset_title = move || color_now_set().is_empty();
    let picker_now = get(|v| {
        if message::links::check_color(&v.color).is_ok() && !v.color.is_empty() {
            v.color.to_lowercase()
        } else {
            "#000000".to_owned()
        }
    });
    let count = {
        let value_now = value_now.clone();
        move || value_now().chars().count()
    };
    let list_id = format!("enum-{key}");
    let has_list = !enums.is_empty();
    let color_label = label.clone();
    let picker_label = label.clone();
    view! {
        <div class="field-row" class:dropped=dropped class:no-color=subscribe>
            <div class="field-label">
                <label for=input_id.clone()>{label.clone()}</label>
                <span class="field-type"><code>{key.clone()}</code> " · " {move || ty.name(lang.get() == Lang::En)}</span>
            </div>
            <div class="field-value">
                <input id=input_id type="text" prop:value=value_now readonly=readonly
                    list=has_list.then(|| list_id.clone())
                    aria-invalid=move || checks.message(&vf2, lang.get()).is_some().to_string()
                    aria-describedby=err_id.clone()
                    on:input=move |ev| { set_value("value", event_target_value(&ev)); checks.touch(&vf); } />
                {has_list.then(|| view! {
                    <datalist id=list_id.clone()>{enums.iter().map(|e| view! { <option value=e.clone() /> }).collect_view()}</datalist>
                })}
                <p class="hint muted">
                    {move || ty.hint(flavor, lang.get() == Lang::En)}
                    {(ty != FieldType::Text).then(|| view! {
                        <span class="counter">" · " {move || lang.get().pick(format!("已输入 {} 字", count()), format!("{} typed", count()))}</span>
                    })}
                    {dropped.then(|| view! { <span>" · " {tr("当前微信不显示此行", "not shown by today's WeChat")}</span> })}
                </p>
                {move || checks.message(&value_field, lang.get()).map(|m| view! { <p class="field-error" id=err_id.clone()>{m}</p> })}
            </div>
            {(!subscribe).then(|| view! {
            <div class="field-color">
                <input type="text" id=color_id class="color-text" placeholder="#RRGGBB" maxlength="7" prop:value=color_now readonly=readonly
                    aria-label=move || format!("{} {}", color_label, lang.get().pick("颜色", "color"))
                    aria-invalid=move || checks.message(&cf2, lang.get()).is_some().to_string()
                    aria-describedby=color_err_id.clone()
                    on:input=move |ev| { set_color("color", event_target_value(&ev).trim().to_uppercase()); checks.touch(&cf); } />
                <input type="color" prop:value=picker_now disabled=readonly class:unset=color_unset
                    title=move || if color_unset_title() { lang.get().pick("未设置：微信默认颜色", "Not set: WeChat's default color") } else { "" }
                    aria-label=move || format!("{} {}", picker_label, lang.get().pick("取色器", "color picker"))
                    on:input=move |ev| set_picker("color", event_target_value(&ev).to_uppercase()) />
                {move || checks.message(&color_field, lang.get()).map(|m| view! { <p class="field-error" id=color_err_id.clone()>{m}</p> })}
            </div>
            })}
        </div>
    }
}

#[component]
fn TestSend(
    preset_id: i64,
    test_openid: Option<String>,
    /// Where subscribe-message tests go: the openid bound for the linked Mini Program.
    mp_test_openid: Option<String>,
    /// The saved preset is a subscribe message.
    subscribe: Memo<bool>,
    dirty: Memo<bool>,
) -> impl IntoView {
    let lang = use_lang();
    let send = ServerAction::<TestSendPreset>::new();
    let body = move || {
        let openid = if subscribe.get() {
            mp_test_openid.clone()
        } else {
            test_openid.clone()
        };
        match (preset_id, openid) {
            (0, _) => view! { <p class="muted">{tr("保存预设后可以发送测试。", "Save the preset to send a test.")}</p> }.into_any(),
            (_, None) => {
                let needed = if subscribe.get() {
                    tr("发送订阅消息测试需要你在关联小程序下的 openid。", "A subscribe-message test needs your openid in the linked Mini Program.")
                } else {
                    tr("发送测试需要你在此公众号的 openid。", "A test send needs your openid for this account.")
                };
                view! {
                    <p class="muted">
                        {needed} " "
                        <a href="/settings#test-openids">{tr("去绑定", "Bind it")}</a>
                    </p>
                }.into_any()
            }
            (id, Some(openid)) => {
                let result = move || {
                    send.value().get().map(|r| match r {
                        Ok(done) if done.msgid.is_some() => {
                            let text = lang.get().pick(done.explain_zh.clone(), done.explain_en.clone());
                            view! { <p class="test-ok" role="status">{text}</p> }.into_any()
                        }
                        Ok(done) => {
                            let code = done.errcode.map(|c| format!(" ({c})")).unwrap_or_default();
                            let text = lang.get().pick(done.explain_zh.clone(), done.explain_en.clone());
                            view! { <p class="form-error" role="alert">{lang.get().pick("微信拒绝了此消息", "WeChat refused the message")}{code} ": " {text}</p> }.into_any()
                        }
                        Err(e) => view! { <p class="form-error" role="alert">{e.message(lang.get())}</p> }.into_any(),
                    })
                };
                view! {
                    <p class="muted">{tr("发送已保存的版本到：", "Sends the saved version to: ")}<code>{openid}</code></p>
                    <button type="button" disabled=move || send.pending().get() || dirty.get()
                        on:click=move |_| { send.dispatch(TestSendPreset { id }); }>
                        {move || if send.pending().get() { lang.get().pick("发送中…", "Sending…") } else { lang.get().pick("发送测试", "Send test") }}
                    </button>
                    {move || dirty.get().then(|| view! { <p class="muted hint">{tr("请先保存修改。", "Save your changes first.")}</p> })}
                    {result}
                }.into_any()
            }
        }
    };
    view! {
        <section class="card test-send" aria-labelledby="test-send-heading">
            <h2 id="test-send-heading">{tr("发送测试", "Send a test")}</h2>
            {body}
        </section>
    }
}

//! The keyword field editor: the 关键词 fieldset, one row per keyword (value and color).

use std::collections::BTreeMap;

use leptos::prelude::*;
use message::{Field, FieldRole, FieldType, FieldValue, Flavor};
use model::AccountKind;

use super::checks::Checks;
use crate::i18n::{tr, use_lang, Lang};
use crate::templates::TemplateDto;

/// The 关键词 fieldset of the chosen template (nothing while none is chosen).
pub(super) fn keyword_fields(
    template: Memo<Option<TemplateDto>>,
    values: RwSignal<BTreeMap<String, FieldValue>>,
    checks: Checks,
    readonly: bool,
) -> impl IntoView {
    move || {
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

//! Saving: the save action, the save button's checks, and the feedback under the form.

use leptos::ev::MouseEvent;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use message::PresetBody;

use super::checks::{focus_field, Checks};
use crate::i18n::Lang;
use crate::templates::{SavePreset, TemplateDto};

/// A preset as saved: its name, template and body.
type Snapshot = (String, i64, PresetBody);

/// The save action, and what a save that went through does: `saved` becomes what was sent, and
/// a new preset opens at its own address.
pub(super) fn save_action(
    preset_id: i64,
    saved: RwSignal<Snapshot>,
) -> (ServerAction<SavePreset>, StoredValue<Option<Snapshot>>) {
    let save = ServerAction::<SavePreset>::new();
    let pending_snapshot = StoredValue::new(None::<Snapshot>);
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
    (save, pending_snapshot)
}

/// The save button: shows every problem and focuses the first, or saves.
pub(super) fn on_save(
    name: RwSignal<String>,
    template_ref: RwSignal<i64>,
    body: Memo<PresetBody>,
    checks: Checks,
    pending_snapshot: StoredValue<Option<Snapshot>>,
    save: ServerAction<SavePreset>,
    preset_id: i64,
) -> impl Fn(MouseEvent) + Copy + 'static {
    let issues = checks.issues;
    move |_| {
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
    }
}

/// Under the form: why a save was refused, the server's error, or that it was saved.
pub(super) fn save_feedback(
    template: Memo<Option<TemplateDto>>,
    checks: Checks,
    save: ServerAction<SavePreset>,
    dirty: Memo<bool>,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let issues = checks.issues;
    move || {
        let l = lang.get();
        let local = issues.with(Vec::len);
        if checks.attempted.get() && local > 0 {
            let mut names: Vec<String> = Vec::new();
            issues.with(|all| {
                for i in all {
                    let n = field_name(template, &i.field, l);
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
    }
}

/// A field's name as its label shows it (a keyword by its template label).
fn field_name(template: Memo<Option<TemplateDto>>, field: &str, lang: Lang) -> String {
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
}

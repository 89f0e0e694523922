//! Fuzzes the template parser and the value rules: `parse_fields`, `check_value`, `validate_preset`, the payloads and the previews.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use message::{
    check_value, parse_fields, preview, subscribe_payload, subscribe_preview, template_payload,
    validate_preset, Flavor, MiniProgramLink, PresetBody, PreviewMode, TemplateSpec,
};

// Input: the template content, then (after NUL bytes) a preset body as JSON, then values
// given to the fields in order; a value's `|`-separated tail is the key's approved list.
fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let content = parts.next().unwrap_or_default();
    let body_json = parts.next().unwrap_or_default();
    let values: Vec<&str> = parts.collect();

    let fields = parse_fields(content);
    for field in &fields {
        assert!(!field.key.is_empty(), "a field without a key");
    }

    let mut body = serde_json::from_str::<PresetBody>(body_json).unwrap_or_default();
    let mut enums = BTreeMap::new();
    for (field, raw) in fields.iter().zip(values.iter()) {
        let mut pieces = raw.split('|');
        let value = pieces.next().unwrap_or_default();
        let list: Vec<String> = pieces.map(str::to_owned).collect();
        for flavor in [Flavor::Template, Flavor::Subscribe] {
            let _ = check_value(field.ty, value, &list, flavor);
        }
        body.values.entry(field.key.clone()).or_default().value = value.to_owned();
        enums.insert(field.key.clone(), list);
    }
    if let Some(url) = values.get(fields.len()) {
        body.url = (*url).to_owned();
    }
    if let Some(page) = values.get(fields.len() + 1) {
        body.page = (*page).to_owned();
        body.miniprogram = Some(MiniProgramLink {
            appid: "wx0000000000000001".into(),
            pagepath: (*page).to_owned(),
        });
    }
    let linked = vec!["wx0000000000000001".to_owned()];
    for flavor in [Flavor::Template, Flavor::Subscribe] {
        let spec = TemplateSpec {
            fields: &fields,
            enums: &enums,
            flavor,
            linked_appids: &linked,
        };
        let _ = validate_preset(&body, &spec);
    }

    let payload = template_payload("o0000000000000000000000000001", "tpl", &fields, &body, None);
    for mode in [PreviewMode::Current, PreviewMode::Legacy] {
        let _ = preview("标题", &fields, &payload, mode);
    }
    let sub = subscribe_payload("o0000000000000000000000000001", "tpl", &fields, &body);
    let _ = subscribe_preview("小程序", "标题", &fields, &sub);
});

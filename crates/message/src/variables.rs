//! Variables in a preset (`{{积分}} 分`): which ones a preset uses, and the preset filled in with
//! one person's values. A value with a variable is checked against its keyword's rule only once
//! it is filled, row by row.

use std::collections::BTreeMap;

use crate::fields::Field;
use crate::preset::PresetBody;

/// The variable names in `text`, in order, each once: `{{ name }}` with the spaces trimmed.
/// Braces that do not close, or enclose nothing, are plain text.
pub fn variables_in(text: &str) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let name = after[..end].trim();
        if !name.is_empty() && !name.contains('{') && !names.contains(&name) {
            names.push(name);
        }
        rest = &after[end + 2..];
    }
    names
}

/// Whether `text` uses a variable.
pub fn has_variables(text: &str) -> bool {
    !variables_in(text).is_empty()
}

/// `text` with each `{{name}}` replaced by `value(name)`; a name without a value stays as it is.
pub fn fill(text: &str, value: &impl Fn(&str) -> Option<String>) -> String {
    if !text.contains("{{") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let raw = &after[..end];
        let name = raw.trim();
        out.push_str(&rest[..start]);
        let filled = if name.is_empty() || name.contains('{') {
            None
        } else {
            value(name)
        };
        match filled {
            Some(v) => out.push_str(&v),
            None => {
                out.push_str("{{");
                out.push_str(raw);
                out.push_str("}}");
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// Every variable the preset uses (the values of the template's `fields`, url, Mini Program
/// pagepath, subscribe page), in form order, each once.
pub fn preset_variables(body: &PresetBody, fields: &[Field]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let texts = fields
        .iter()
        .filter_map(|f| body.values.get(&f.key))
        .map(|v| v.value.as_str())
        .chain([body.url.as_str(), body.page.as_str()])
        .chain(body.miniprogram.iter().map(|mp| mp.pagepath.as_str()));
    for text in texts {
        for name in variables_in(text) {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_owned());
            }
        }
    }
    names
}

/// The preset with one person's values filled in (keyword values, url, pagepath and page).
pub fn fill_preset(body: &PresetBody, values: &BTreeMap<&str, &str>) -> PresetBody {
    let value = |name: &str| values.get(name).map(|v| (*v).to_owned());
    let mut filled = body.clone();
    for v in filled.values.values_mut() {
        v.value = fill(&v.value, &value);
    }
    filled.url = fill(&filled.url, &value);
    filled.page = fill(&filled.page, &value);
    if let Some(mp) = filled.miniprogram.as_mut() {
        mp.pagepath = fill(&mp.pagepath, &value);
    }
    filled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preset::{FieldValue, MiniProgramLink};

    #[test]
    fn names_are_trimmed_listed_once_and_unclosed_braces_are_text() {
        assert_eq!(
            variables_in("{{积分}} 分，{{ 日期 }} 到期 {{积分}}"),
            vec!["积分", "日期"]
        );
        assert!(variables_in("{{}} {{ }} {{open").is_empty());
        assert!(!has_variables("满 100 减 {10}"));
    }

    #[test]
    fn fill_replaces_known_names_and_keeps_the_rest() {
        let v = |n: &str| (n == "积分").then(|| "1,280".to_owned());
        assert_eq!(fill("{{积分}} 分", &v), "1,280 分");
        assert_eq!(fill("{{ 积分 }}/{{等级}}", &v), "1,280/{{等级}}");
        assert_eq!(fill("a {{b", &v), "a {{b");
    }

    #[test]
    fn a_preset_is_filled_everywhere_a_variable_can_stand() {
        let mut body = PresetBody::default();
        body.values.insert(
            "thing1".into(),
            FieldValue {
                value: "{{桌号}} 号桌".into(),
                color: String::new(),
            },
        );
        body.url = "https://example.com/t?no={{桌号}}".into();
        body.miniprogram = Some(MiniProgramLink {
            appid: "wx0".into(),
            pagepath: "pages/t?at={{时间}}".into(),
        });
        let fields = crate::parse_fields("桌号:{{thing1.DATA}}");
        assert_eq!(preset_variables(&body, &fields), vec!["桌号", "时间"]);
        let values = BTreeMap::from([("桌号", "3"), ("时间", "19:30")]);
        let filled = fill_preset(&body, &values);
        assert_eq!(filled.values["thing1"].value, "3 号桌");
        assert_eq!(filled.url, "https://example.com/t?no=3");
        assert_eq!(
            filled.miniprogram.map(|m| m.pagepath).unwrap_or_default(),
            "pages/t?at=19:30"
        );
    }
}

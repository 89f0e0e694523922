//! A preset (saved message): per-keyword values and colors, url and Mini Program, validated
//! against its template.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fields::Field;
use crate::links::{check_color, check_pagepath, check_url};
use crate::problem::Problem;
use crate::rules::{check_value, Flavor};

/// What staff write; stored as JSON, sent to the browser and back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresetBody {
    /// key → value and color. Keys not in the template are ignored when sending.
    #[serde(default)]
    pub values: BTreeMap<String, FieldValue>,
    /// Jump URL; empty = none.
    #[serde(default)]
    pub url: String,
    /// Jump into a linked Mini Program; `None` = none.
    #[serde(default)]
    pub miniprogram: Option<MiniProgramLink>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldValue {
    #[serde(default)]
    pub value: String,
    /// `#RRGGBB`, empty = default color.
    #[serde(default)]
    pub color: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiniProgramLink {
    pub appid: String,
    pub pagepath: String,
}

/// What a preset is checked against.
#[derive(Debug, Clone, Copy)]
pub struct TemplateSpec<'a> {
    pub fields: &'a [Field],
    /// key → approved values (Const / Enum keys).
    pub enums: &'a BTreeMap<String, Vec<String>>,
    pub flavor: Flavor,
    /// AppIDs of the Mini Programs linked to the account.
    pub linked_appids: &'a [String],
}

/// A field name with its problem. Field names: `value.<key>`, `color.<key>`, `url`,
/// `miniprogram.appid`, `miniprogram.pagepath`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub field: String,
    pub problem: Problem,
}

/// A preset name is 1–40 characters (after trimming), unique per account.
pub const PRESET_NAME_MAX: usize = 40;

/// The problem of a preset name, as an issue on field `name`.
pub fn check_preset_name(name: &str) -> Option<Issue> {
    let n = name.trim().chars().count();
    let problem = if n == 0 {
        Problem::Required
    } else if n > PRESET_NAME_MAX {
        Problem::TooLong(PRESET_NAME_MAX)
    } else {
        return None;
    };
    Some(Issue {
        field: "name".into(),
        problem,
    })
}

/// Every problem of `body`, in form order (fields in template order: value then color; then url,
/// then miniprogram). A missing value counts as empty.
pub fn validate_preset(body: &PresetBody, spec: &TemplateSpec<'_>) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut report = |field: String, result: Result<(), Problem>| {
        if let Err(problem) = result {
            issues.push(Issue { field, problem });
        }
    };
    for field in spec.fields {
        let key = &field.key;
        let entry = body.values.get(key);
        let value = entry.map_or("", |v| v.value.as_str());
        let color = entry.map_or("", |v| v.color.as_str());
        let enums = spec.enums.get(key).map_or(&[][..], Vec::as_slice);
        report(
            format!("value.{key}"),
            check_value(field.ty, value, enums, spec.flavor),
        );
        report(format!("color.{key}"), check_color(color));
    }
    report("url".into(), check_url(&body.url));
    if let Some(mp) = &body.miniprogram {
        let (appid, pagepath) = (mp.appid.as_str(), mp.pagepath.as_str());
        if !appid.is_empty() || !pagepath.is_empty() {
            let appid_check = if appid.is_empty() {
                Err(Problem::MiniProgramIncomplete)
            } else if spec.linked_appids.iter().any(|a| a == appid) {
                Ok(())
            } else {
                Err(Problem::NotLinked)
            };
            report("miniprogram.appid".into(), appid_check);
            let pagepath_check = if pagepath.is_empty() {
                Err(Problem::MiniProgramIncomplete)
            } else {
                check_pagepath(pagepath)
            };
            report("miniprogram.pagepath".into(), pagepath_check);
        }
    }
    issues
}

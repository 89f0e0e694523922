//! A preset (saved message), validated against its template: per-keyword values and colors, url
//! and Mini Program for an OA template message; values, page, Mini Program version and language
//! for an MP subscribe message.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fields::Field;
use crate::links::{check_color, check_page, check_pagepath, check_url};
use crate::problem::Problem;
use crate::rules::{check_value, Flavor};
use crate::variables::{fill, has_variables};

/// What staff write; stored as JSON, sent to the browser and back.
///
/// OA template messages use `url` and `miniprogram` (and colors); MP subscribe messages use
/// `page`, `miniprogram_state` and `lang` instead. What does not belong to the template's kind is
/// ignored by [`validate_preset`] and by the payloads, and cleared when the server saves.
/// The subscribe options are serde-defaulted, so bodies stored before they existed still read,
/// and left out of the JSON while they hold their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Subscribe: the Mini Program page a tap opens (`pages/order/detail?id=1`); empty = no jump.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub page: String,
    /// Subscribe: which version of the Mini Program the page opens in, one of
    /// [`MINIPROGRAM_STATES`].
    #[serde(
        default = "default_miniprogram_state",
        skip_serializing_if = "is_default_miniprogram_state"
    )]
    pub miniprogram_state: String,
    /// Subscribe: the language of the message, one of [`LANGS`].
    #[serde(default = "default_lang", skip_serializing_if = "is_default_lang")]
    pub lang: String,
}

/// `miniprogram_state` values: 正式版 (WeChat's default), 体验版, 开发版.
pub const MINIPROGRAM_STATES: [&str; 3] = ["formal", "trial", "developer"];
/// `lang` values, WeChat's default first.
pub const LANGS: [&str; 4] = ["zh_CN", "en_US", "zh_HK", "zh_TW"];

fn default_miniprogram_state() -> String {
    MINIPROGRAM_STATES[0].to_owned()
}

fn is_default_miniprogram_state(state: &str) -> bool {
    state == MINIPROGRAM_STATES[0]
}

fn default_lang() -> String {
    LANGS[0].to_owned()
}

fn is_default_lang(lang: &str) -> bool {
    lang == LANGS[0]
}

impl Default for PresetBody {
    fn default() -> Self {
        PresetBody {
            values: BTreeMap::new(),
            url: String::new(),
            miniprogram: None,
            page: String::new(),
            miniprogram_state: default_miniprogram_state(),
            lang: default_lang(),
        }
    }
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
/// `miniprogram.appid`, `miniprogram.pagepath` (template messages); `value.<key>`, `page`,
/// `miniprogram_state`, `lang` (subscribe messages).
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

/// Every problem of `body`, in form order. A missing value counts as empty.
///
/// - [`Flavor::Template`]: fields in template order (value then color), then url, then
///   miniprogram; `page`, `miniprogram_state` and `lang` are ignored.
/// - [`Flavor::Subscribe`]: values in template order, then page, miniprogram_state, lang.
///   Subscribe messages have no colors, url or Mini Program link (the message always belongs to
///   the Mini Program), so those are ignored rather than refused: the editor hides them and the
///   server clears them on save.
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
        // A value with a variable is checked once filled in, per person.
        if !has_variables(value) {
            report(
                format!("value.{key}"),
                check_value(field.ty, value, enums, spec.flavor),
            );
        }
        if spec.flavor == Flavor::Template {
            report(format!("color.{key}"), check_color(color));
        }
    }
    if spec.flavor == Flavor::Subscribe {
        report("page".into(), check_page(&sample(&body.page)));
        report(
            "miniprogram_state".into(),
            one_of(&body.miniprogram_state, &MINIPROGRAM_STATES),
        );
        report("lang".into(), one_of(&body.lang, &LANGS));
        return issues;
    }
    report("url".into(), check_url(&sample(&body.url)));
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
                check_pagepath(&sample(pagepath))
            };
            report("miniprogram.pagepath".into(), pagepath_check);
        }
    }
    issues
}

/// A link with its variables filled with a stand-in, so that its fixed part is checked (a url
/// still starts with `https://`) before any person's values are known.
fn sample(link: &str) -> String {
    fill(link, &|_| Some("0".to_owned()))
}

fn one_of(value: &str, allowed: &[&str]) -> Result<(), Problem> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(Problem::OneOf(
            allowed.iter().map(|a| (*a).to_owned()).collect(),
        ))
    }
}

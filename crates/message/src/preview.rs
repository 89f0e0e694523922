//! The message as WeChat shows it, rendered from the payload that would be sent.

use serde::{Deserialize, Serialize};

use crate::fields::{Field, FieldRole};
use model::wechat_message::TemplateMessage;

/// Keyword values are shown up to this many characters, then cut with "…" (since 2023-05-04).
pub const DISPLAY_CHARS: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PreviewMode {
    /// As WeChat shows it since May 2023: no first/remark, no colors, values cut at 20 chars.
    Current,
    /// The pre-2023 look: first and remark shown, custom colors applied, no cut.
    Legacy,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    pub title: String,
    /// The `first` line (Legacy mode only).
    pub first: Option<PreviewRow>,
    /// Keyword rows in template order.
    pub rows: Vec<PreviewRow>,
    /// The `remark` line (Legacy mode only).
    pub remark: Option<PreviewRow>,
    pub jump: Jump,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewRow {
    pub key: String,
    /// The field label (the key when the template has none).
    pub label: String,
    /// The value as displayed: only its first line; in Current mode cut at
    /// [`DISPLAY_CHARS`] characters with "…".
    pub text: String,
    /// True when `text` lost something (cut or a dropped second line).
    pub truncated: bool,
    /// `#RRGGBB` in Legacy mode when the payload sets one; always `None` in Current mode.
    pub color: Option<String>,
}

/// Where tapping the message leads: the Mini Program wins over the URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Jump {
    None,
    /// "详情" row opening this URL.
    Url(String),
    /// "小程序" row opening this page.
    MiniProgram {
        appid: String,
        pagepath: String,
    },
}

/// Renders `payload` (as built by [`crate::template_payload`]) with the template's fields.
pub fn preview(
    title: &str,
    fields: &[Field],
    payload: &TemplateMessage,
    mode: PreviewMode,
) -> Preview {
    let legacy = mode == PreviewMode::Legacy;
    let row = |field: &Field, cut: bool| {
        let sent = payload.data.get(&field.key);
        let value = sent.map_or("", |v| v.value.as_str());
        let (line, dropped) = match value.split_once('\n') {
            Some((line, _)) => (line, true),
            None => (value, false),
        };
        let (text, truncated) = match line.char_indices().nth(DISPLAY_CHARS) {
            Some((at, _)) if cut => (format!("{}…", &line[..at]), true),
            _ => (line.to_owned(), dropped),
        };
        PreviewRow {
            key: field.key.clone(),
            label: if field.label.is_empty() {
                field.key.clone()
            } else {
                field.label.clone()
            },
            text,
            truncated,
            color: if legacy {
                sent.and_then(|v| v.color.clone())
            } else {
                None
            },
        }
    };
    let extra = |role: FieldRole| {
        fields
            .iter()
            .find(|f| legacy && f.role == role)
            .map(|f| row(f, false))
    };
    let jump = match &payload.miniprogram {
        Some(mp) if !mp.appid.is_empty() => Jump::MiniProgram {
            appid: mp.appid.clone(),
            pagepath: mp.pagepath.clone(),
        },
        _ => match &payload.url {
            Some(url) if !url.is_empty() => Jump::Url(url.clone()),
            _ => Jump::None,
        },
    };
    Preview {
        title: title.to_owned(),
        first: extra(FieldRole::First),
        rows: fields
            .iter()
            .filter(|f| f.role == FieldRole::Keyword)
            .map(|f| row(f, !legacy))
            .collect(),
        remark: extra(FieldRole::Remark),
        jump,
    }
}

//! Template messages without I/O, compiled into the browser bundle and the server alike, so the
//! editor and the send path can never disagree: keyword fields parsed from a template's content,
//! the value rule of each keyword type, presets and their validation, the exact send payload, and
//! the preview WeChat shows — for OA template messages and MP subscribe messages alike.

pub mod fields;
pub mod links;
pub mod payload;
pub mod preset;
pub mod preview;
/// What is wrong with a value (defined with the domain vocabulary).
pub mod problem {
    pub use model::value::ValueProblem as Problem;
}
pub mod rules;
pub mod subscribe;
pub mod variables;

pub use fields::{parse_fields, Field, FieldRole, FieldType};
pub use payload::template_payload;
pub use preset::{
    check_preset_name, validate_preset, FieldValue, Issue, MiniProgramLink, PresetBody,
    TemplateSpec, LANGS, MINIPROGRAM_STATES,
};
pub use preview::{preview, Jump, Preview, PreviewMode, PreviewRow};
pub use problem::Problem;
pub use rules::{check_value, Flavor};
pub use subscribe::{subscribe_payload, subscribe_preview, SubscribePreview};
pub use variables::{fill_preset, has_variables, preset_variables};

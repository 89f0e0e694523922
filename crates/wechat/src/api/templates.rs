//! Template lists: OA `get_all_private_template` and Mini Program `wxaapi/newtmpl/gettemplate`.

use serde::{Deserialize, Deserializer, Serialize};

use super::client::{decode, Client};
use super::error::ApiError;

/// An Official Account template from `cgi-bin/template/get_all_private_template`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub template_id: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub title: String,
    /// `None` for category templates (WeChat sends null).
    #[serde(default)]
    pub primary_industry: Option<String>,
    #[serde(default)]
    pub deputy_industry: Option<String>,
    /// Body with `{{name.DATA}}` placeholders.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub content: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub example: String,
}

#[derive(Deserialize)]
struct TemplateList {
    #[serde(default)]
    template_list: Vec<Template>,
}

/// A Mini Program subscribe-message template from `wxaapi/newtmpl/gettemplate` (the wire
/// names are camelCase: `priTmplId`, `keywordEnumValueList`…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MpTemplate {
    /// The template id to send with (`priTmplId`).
    #[serde(rename = "priTmplId")]
    pub pri_tmpl_id: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub title: String,
    /// Body with `{{name.DATA}}` placeholders.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub content: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub example: String,
    /// JSON `type`: 2 = one-time subscription, 3 = long-term subscription.
    #[serde(rename = "type", default)]
    pub kind: i64,
    /// Allowed values of the template's enum keywords; empty when it has none.
    #[serde(
        rename = "keywordEnumValueList",
        default,
        deserialize_with = "null_as_empty"
    )]
    pub keyword_enum_value_list: Vec<KeywordEnumValue>,
}

/// The allowed values of one enum keyword of an [`MpTemplate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeywordEnumValue {
    /// e.g. `enum_string2.DATA` (`keywordCode`).
    #[serde(rename = "keywordCode")]
    pub keyword_code: String,
    #[serde(rename = "enumValueList", default, deserialize_with = "null_as_empty")]
    pub enum_value_list: Vec<String>,
}

#[derive(Deserialize)]
struct MpTemplateList {
    #[serde(default, deserialize_with = "null_as_empty")]
    data: Vec<MpTemplate>,
}

/// A missing-or-null value as its type's default.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Decodes a `get_all_private_template` answer (`template_list`).
pub fn parse_templates(status: u16, body: &[u8]) -> Result<Vec<Template>, ApiError> {
    decode::<TemplateList>(status, body).map(|list| list.template_list)
}

/// Decodes a `wxaapi/newtmpl/gettemplate` answer (`data`).
pub fn parse_mp_templates(status: u16, body: &[u8]) -> Result<Vec<MpTemplate>, ApiError> {
    decode::<MpTemplateList>(status, body).map(|list| list.data)
}

impl Client {
    /// GET `cgi-bin/template/get_all_private_template`: the OA's added templates.
    pub async fn templates(&self, base: &str, token: &str) -> Result<Vec<Template>, ApiError> {
        let (status, bytes) = self
            .get(
                base,
                "cgi-bin/template/get_all_private_template",
                &[("access_token", token)],
            )
            .await?;
        parse_templates(status, &bytes)
    }

    /// GET `wxaapi/newtmpl/gettemplate`: the Mini Program's subscribe-message templates.
    pub async fn mp_templates(&self, base: &str, token: &str) -> Result<Vec<MpTemplate>, ApiError> {
        let (status, bytes) = self
            .get(
                base,
                "wxaapi/newtmpl/gettemplate",
                &[("access_token", token)],
            )
            .await?;
        parse_mp_templates(status, &bytes)
    }
}

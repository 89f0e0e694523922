//! `GET /api/v1/openapi.json`: the send API's OpenAPI document, generated from its Rust types.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use model::Problem;
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Ref, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::{Components, RefOr, Schema};
use utoipa::{Modify, OpenApi};

use app::state::AppState;

use super::send_api::{self, ApiCode};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wxpush send API",
        description = "Business systems send one person one WeChat message: by unionid, Mini \
            Program openid or Official Account openid, from a preset with its own values, exactly \
            once. Authenticated by a send key (`Authorization: Bearer wxs_…`) an admin created \
            for one Official Account. A refusal queues nothing and is `{\"error\": {\"code\", \
            \"params\", \"field\", \"message_zh\", \"message_en\"}}`."
    ),
    paths(send_api::send, send_api::send_batch, send_api::status),
    components(schemas(Problem, ApiCode)),
    modifiers(&Hand),
    tags((name = "messages", description = "One person's message: queue it, then follow it"))
)]
pub struct ApiDoc;

/// The document, with this server as its base URL.
pub async fn document(State(state): State<AppState>) -> Response {
    let mut doc = ApiDoc::openapi();
    doc.servers = Some(vec![Server::new(state.public_url.as_str())]);
    Json(doc).into_response()
}

/// The schemas no single Rust type has, and the send-key security scheme.
struct Hand;

impl Modify for Hand {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Components::new);
        components.add_security_scheme(
            "send_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("wxs_…")
                    .description(Some(
                        "A send key from `wxpush apikey add` or 设置 › 发送接口密钥",
                    ))
                    .build(),
            ),
        );
        components
            .schemas
            .insert("ErrorDetail".into(), error_detail_schema());
        components
            .schemas
            .insert("BatchEntry".into(), batch_entry_schema());
    }
}

/// `ErrorAnswer.error`.
pub fn error_detail() -> Ref {
    Ref::from_schema_name("ErrorDetail")
}

/// `BatchAnswer.results`.
pub fn batch_entries() -> ArrayBuilder {
    ArrayBuilder::new().items(Ref::from_schema_name("BatchEntry"))
}

fn typed(ty: impl Into<SchemaType>, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(ty)
        .description(Some(description))
}

/// A refusal: `code` and `params` of one of the engine's refusals ([`Problem`]) or one of the
/// send API's own codes ([`ApiCode`], `params` null), with the field and words for people.
fn error_detail_schema() -> RefOr<Schema> {
    let code = AnyOfBuilder::new()
        .item(Ref::from_schema_name("Problem"))
        .item(
            ObjectBuilder::new()
                .property("code", Ref::from_schema_name("ApiCode"))
                .required("code"),
        );
    let words = ObjectBuilder::new()
        .property(
            "code",
            typed(Type::String, "What went wrong, for a program to branch on"),
        )
        .property(
            "params",
            typed(
                SchemaType::AnyValue,
                "The problem's parameters (`{\"min\": 1, \"max\": 1000}` for `out_of_range`), or null",
            ),
        )
        .property(
            "field",
            typed(
                SchemaType::Array(vec![Type::String, Type::Null]),
                "The field, by its path in the request (`to`, `values.thing1`), or null",
            ),
        )
        .property("message_zh", typed(Type::String, "In Chinese, for people"))
        .property("message_en", typed(Type::String, "In English, for people"));
    let words = ["code", "params", "field", "message_zh", "message_en"]
        .into_iter()
        .fold(words, ObjectBuilder::required);
    AllOfBuilder::new().item(code).item(words).into()
}

/// One message's answer in a batch: `{"status": 202, "message": …}` or `{"status": 4xx,
/// "error": …}` (with `retry_after` for a 429).
fn batch_entry_schema() -> RefOr<Schema> {
    let accepted = ObjectBuilder::new()
        .property(
            "status",
            typed(Type::Integer, "Accepted").enum_values(Some([202])),
        )
        .property("message", Ref::from_schema_name("Accepted"))
        .required("status")
        .required("message");
    let refused = ObjectBuilder::new()
        .property(
            "status",
            typed(
                Type::Integer,
                "The status the message would have been answered alone",
            )
            .minimum(Some(400))
            .maximum(Some(599)),
        )
        .property("error", Ref::from_schema_name("ErrorDetail"))
        .property(
            "retry_after",
            typed(Type::Integer, "429: seconds to wait").minimum(Some(0)),
        )
        .required("status")
        .required("error");
    OneOfBuilder::new().item(accepted).item(refused).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// Every `$ref` in `value`.
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_within_the_document() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("the document is JSON");
        let mut found = Vec::new();
        refs(&doc, &mut found);
        for name in [
            "Accepted",
            "MessageStatus",
            "ErrorDetail",
            "BatchEntry",
            "Problem",
        ] {
            let target = format!("#/components/schemas/{name}");
            assert!(found.contains(&target.as_str()), "nothing refers to {name}");
        }
        for r in found {
            let pointer = r
                .strip_prefix('#')
                .expect("a reference within the document");
            assert!(doc.pointer(pointer).is_some(), "{r} points at nothing");
        }
    }
}

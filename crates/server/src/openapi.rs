//! The API described: an OpenAPI 3.1 document generated from the handlers'
//! `#[utoipa::path]` attributes and their parameter and body types, served
//! at `/api/v1/openapi.json`. The router is built from the same list
//! (`utoipa_axum::routes!`), so a route cannot exist undescribed, nor a
//! description without its route (`tests/openapi.rs` asks every one).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every refusal: one message saying what was wrong (batches of events add
/// `accepted`, `rejected` and per-event `errors`).
#[derive(ToSchema)]
#[allow(dead_code)] // described, not built: `ApiError` writes this shape
pub struct ErrorBody {
    /// What was wrong, for a person.
    pub error: String,
}

/// A query's answer: one object per row, and the totals over all rows.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TableAnswer {
    /// One object per group, its dimensions and metrics by name.
    pub rows: Vec<serde_json::Value>,
    /// The metrics over the whole range.
    pub totals: serde_json::Value,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "streamtally",
        description = "Counts of streaming audiences by the rules of docs/COUNTING.md: beacons and logs in, metrics out.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&Keys),
    components(schemas(ErrorBody, TableAnswer))
)]
pub struct ApiDoc;

/// The ways a caller presents a key.
struct Keys;

impl Modify for Keys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("`Authorization: Bearer KEY`"))
                    .build(),
            ),
        );
        components.add_security_scheme("ingest_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Ingest-Key"))));
        components.add_security_scheme("ingest_query", SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::new("key"))));
    }
}

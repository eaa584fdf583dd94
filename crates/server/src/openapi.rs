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

/// The refusals of a route that reads with a key: bad input, no or a wrong
/// key, too low a role, a tenant the key may not see, too busy.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // described, not built: `ApiError` answers these
pub enum ReadRefusals {
    /// Bad input: the message names it
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No key or a key that is not valid
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The key lacks the role
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such tenant (or one the key may not see)
    #[response(status = 404)]
    NotFound(ErrorBody),
    /// Busy or closing; retry
    #[response(status = 503)]
    Unavailable(ErrorBody),
}

/// The refusals of an admin's route: as for reads, without `503`.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum AdminRefusals {
    /// Bad input: the message names it
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// No key or a key that is not valid
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The key lacks the role
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such tenant (or one the key may not see)
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// The refusals of a route that takes no input but its key.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum KeyRefusals {
    /// No key or a key that is not valid
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The key lacks the role
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such tenant (or one the key may not see)
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// The refusals of a route about one registered user.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum UserRefusals {
    /// No key or a key that is not valid
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The key lacks the role
    #[response(status = 403)]
    Forbidden(ErrorBody),
    /// No such user in the directory
    #[response(status = 404)]
    NotFound(ErrorBody),
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

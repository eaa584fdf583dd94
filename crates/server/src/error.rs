//! Errors as types, turned into HTTP answers here and nowhere else.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use streamtally_parse::EventError;
use streamtally_query::QueryError;
use streamtally_store::{MetaError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// Some events of a batch were bad; the good ones are durable.
    #[error("{rejected} of {total} events were rejected", rejected = errors.len(), total = errors.len() + accepted)]
    BadEvents { accepted: usize, errors: Vec<EventError> },
    /// Some rows of a directory upload were bad; the good ones are stored.
    #[error("{rejected} of {total} rows were rejected", rejected = errors.len(), total = errors.len() + accepted)]
    BadRows { accepted: usize, errors: Vec<serde_json::Value> },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("too many requests; retry in {retry_after} s")]
    TooManyRequests { retry_after: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Internal(String),
}

/// A number to find one failure by in the log.
fn rand_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// A value quoted in an error message, cut to a readable length.
pub fn shorten(text: &str) -> String {
    const MAX: usize = 120;
    if text.chars().count() <= MAX {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}… ({} characters)", text.chars().count())
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<MetaError> for ApiError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::NoTenant(_) => ApiError::NotFound(e.to_string()),
            MetaError::TenantExists(_) | MetaError::AccountExists(_) => ApiError::Conflict(e.to_string()),
            MetaError::BadTenantName(_)
            | MetaError::BadRole(_)
            | MetaError::BadProperty(_)
            | MetaError::BadAccount(_)
            | MetaError::Settings(_)
            | MetaError::BadContent { .. } => ApiError::BadRequest(e.to_string()),
            MetaError::Sql(_) | MetaError::Hash(_) | MetaError::Io(_) | MetaError::NewerSchema(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Meta(m) => m.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) | ApiError::BadEvents { .. } | ApiError::BadRows { .. } => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = match &self {
            ApiError::BadEvents { accepted, errors } => json!({ "error": self.to_string(), "accepted": accepted, "rejected": errors.len(), "errors": errors }),
            ApiError::BadRows { accepted, errors } => json!({ "error": self.to_string(), "accepted": accepted, "rejected": errors.len(), "errors": errors }),
            // The detail (an engine's message, perhaps with SQL) goes to the
            // log only; the client gets an id to quote.
            ApiError::Internal(detail) => {
                let id = format!("{:016x}", rand_id());
                tracing::error!(error = %detail, id, "request failed");
                json!({ "error": format!("internal error (id {id}); the server log has the details") })
            }
            other => json!({ "error": other.to_string() }),
        };
        let mut response = (status, Json(body)).into_response();
        if let ApiError::TooManyRequests { retry_after } = self {
            if let Ok(v) = axum::http::HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        response
    }
}

pub mod access;
pub mod accounts;
pub mod activity;
pub mod admin;
pub mod attendance;
pub mod cdn;
pub mod ingest;
pub mod live;
pub mod logs;
pub mod monthly;
pub mod ops;
pub mod query;
pub mod retention;
pub mod sdk;
pub mod users;

use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use streamtally_query::Answer;

/// Whether `format` asks for CSV (`csv`) or JSON (none, empty, `json`);
/// another value is refused.
pub fn csv_format(format: Option<&str>) -> Result<bool, crate::ApiError> {
    match format {
        None | Some("") | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(other) => Err(crate::ApiError::BadRequest(format!(
            "unknown `format` `{}` (json or csv)",
            crate::error::shorten(other)
        ))),
    }
}

/// The asked range, or by default the `span` up to now (RFC 3339 texts, as
/// the query model parses them).
pub fn range_or_recent(from: Option<String>, to: Option<String>, span: chrono::Duration) -> (String, String) {
    let now = chrono::Utc::now();
    let to = to.unwrap_or_else(|| now.to_rfc3339());
    let from = from.unwrap_or_else(|| (now - span).to_rfc3339());
    (from, to)
}

/// The zone an answer is in: the one asked for, else the tenant's `timezone`.
pub fn zone(state: &crate::AppState, tenant: streamtally_model::TenantId, asked: Option<&str>) -> Result<chrono_tz::Tz, crate::ApiError> {
    Ok(match asked {
        Some(tz) => streamtally_query::parse_tz(Some(tz))?,
        None => state.pipeline.tenants().get(tenant).map(|c| c.settings.tz()).unwrap_or(chrono_tz::Tz::UTC),
    })
}

/// Whether CSV is asked for: `format=csv` or `Accept: text/csv` (another
/// `format` is refused).
pub fn wants_csv(format: Option<&str>, headers: &HeaderMap) -> Result<bool, crate::ApiError> {
    Ok(csv_format(format)?
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")))
}

/// CSV text as an answer.
pub fn csv_response(csv: String) -> Response {
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response()
}

/// An answer as CSV when asked for ([`wants_csv`]), else JSON.
pub fn answer_response(answer: &Answer, format: Option<&str>, headers: &HeaderMap) -> Result<Response, crate::ApiError> {
    if wants_csv(format, headers)? {
        let mut response = csv_response(answer.to_csv());
        // CSV has no place for it: free dimensions with more values than listed.
        let truncated: Vec<String> = answer.truncated.iter().map(|(name, values)| format!("{name}={values}")).collect();
        if let Ok(value) = header::HeaderValue::from_str(&truncated.join(", ")) {
            if !truncated.is_empty() {
                response.headers_mut().insert("x-streamtally-truncated", value);
            }
        }
        return Ok(response);
    }
    Ok(axum::Json(answer.to_json()).into_response())
}

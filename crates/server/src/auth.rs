//! Who is asking: API keys from headers (or `?key=` for beacons), and which
//! tenant a request is about. A key of tenant A never reaches tenant B: asking
//! for B answers 404, exactly as for a tenant that does not exist.

use axum::http::HeaderMap;
use streamtally_model::TenantId;
use streamtally_store::{Principal, Role};

use crate::{ApiError, AppState};

pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).map(|s| s.trim().to_string())
}

/// The key of a sender: `X-Ingest-Key`, else `?key=` (beacons cannot set
/// headers), else a bearer token.
pub fn ingest_key(headers: &HeaderMap, query_key: Option<String>) -> Option<String> {
    headers
        .get("x-ingest-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(query_key)
        .or_else(|| bearer(headers))
}

/// Checks a presented key and the role it needs.
pub async fn authenticate(state: &AppState, key: Option<String>, needed: Role) -> Result<Principal, ApiError> {
    let key = key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::Unauthorized("an API key is required (Authorization: Bearer KEY)".into()))?;
    let meta = state.pipeline.store().meta().clone();
    let principal = tokio::task::spawn_blocking(move || meta.verify_key(&key))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??
        .ok_or_else(|| ApiError::Unauthorized("the API key is not valid".into()))?;
    if !principal.role.allows(needed) {
        return Err(ApiError::Forbidden(format!(
            "a {} key cannot do this; it needs a {} key",
            principal.role.as_str(),
            needed.as_str()
        )));
    }
    Ok(principal)
}

/// The tenant a request is about: the key's own, or for the server
/// administrator the one named by `?tenant=`.
pub fn tenant_of(state: &AppState, principal: &Principal, named: Option<&str>) -> Result<TenantId, ApiError> {
    let meta = state.pipeline.store().meta();
    match (principal.tenant, named) {
        (Some(own), None) => Ok(own),
        (Some(own), Some(name)) => match meta.tenant_by_name(name) {
            Ok(t) if t.id == own => Ok(own),
            _ => Err(ApiError::NotFound(format!("tenant `{name}` does not exist"))),
        },
        (None, Some(name)) => Ok(meta.tenant_by_name(name)?.id),
        (None, None) => Err(ApiError::BadRequest("the administrator key needs ?tenant=NAME".into())),
    }
}

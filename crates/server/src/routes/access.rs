//! Access codes (spec §6): the list (admin), the SecureID secret (admin), the
//! player's check, and the nginx `auth_request` endpoint (ingest key).

use std::net::IpAddr;

use crate::extract::Query;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use streamtally_access::{parse_code_list, Granted, DEFAULT_TOKEN_TTL};
use streamtally_enrich::{content_of, request_kind};
use streamtally_model::RequestKind;
use streamtally_model::{format_ts, TenantId, MICROS_PER_SEC};
use streamtally_store::Role;

use crate::auth::ClientIp;
use crate::auth::{authenticate, bearer, ingest_key, tenant_of};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantParam {
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
}

async fn admin_tenant(state: &AppState, headers: &HeaderMap, tenant: Option<&str>) -> Result<TenantId, ApiError> {
    let principal = authenticate(state, bearer(headers), Role::Admin).await?;
    tenant_of(state, &principal, tenant)
}

/// `GET /api/v1/access/codes`: the list with expiry and revocation.
#[utoipa::path(
    get,
    path = "/api/v1/access/codes",
    tag = "access",
    summary = "The access list (spec §6)",
    params(TenantParam),
    responses(
        (status = 200, description = "The codes with expiry and revocation", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_codes(State(state): State<AppState>, Query(t): Query<TenantParam>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let tenant = admin_tenant(&state, &headers, t.tenant.as_deref()).await?;
    let codes: Vec<Value> = state
        .meta
        .access_codes(tenant)?
        .into_iter()
        .map(|e| {
            json!({
                "code": e.code,
                "note": e.note,
                "expires": e.expires_at.map(format_ts),
                "revoked": e.revoked_at.map(format_ts),
            })
        })
        .collect();
    Ok(Json(json!({ "codes": codes })))
}

/// `PUT /api/v1/access/codes`: adds or updates codes, from JSON or CSV.
#[utoipa::path(
    put,
    path = "/api/v1/access/codes",
    tag = "access",
    summary = "Add or update access codes",
    params(TenantParam),
    request_body(content = String, description = "JSON (array of codes or objects) or CSV `code,note,expires_at`", content_type = "application/json"),
    responses(
        (status = 200, description = "How many codes were stored", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn put_codes(State(state): State<AppState>, Query(t): Query<TenantParam>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    let tenant = admin_tenant(&state, &headers, t.tenant.as_deref()).await?;
    let entries = parse_code_list(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let n = state.meta.upsert_access_codes(tenant, &entries)?;
    state.access.invalidate(tenant);
    Ok(Json(json!({ "listed": n })))
}

/// `DELETE /api/v1/access/codes`: revokes the codes named in the body (same
/// forms as PUT) or by `?code=`; tokens issued for them stop working too.
#[utoipa::path(
    delete,
    path = "/api/v1/access/codes",
    tag = "access",
    summary = "Revoke access codes (their tokens stop working)",
    params(RevokeParams),
    request_body(content = String, description = "Codes to revoke, as for PUT (or `?code=`)", content_type = "application/json"),
    responses(
        (status = 200, description = "How many were revoked", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn delete_codes(State(state): State<AppState>, Query(p): Query<RevokeParams>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    let tenant = admin_tenant(&state, &headers, p.tenant.as_deref()).await?;
    let mut codes: Vec<String> = p.code.into_iter().collect();
    if !body.is_empty() {
        codes.extend(
            parse_code_list(&body)
                .map_err(|e| ApiError::BadRequest(e.to_string()))?
                .into_iter()
                .map(|e| e.code),
        );
    }
    if codes.is_empty() {
        return Err(ApiError::BadRequest("name the codes to revoke in the body or with ?code=".into()));
    }
    let n = state.meta.revoke_access_codes(tenant, &codes, chrono::Utc::now().timestamp_micros())?;
    state.access.invalidate(tenant);
    Ok(Json(json!({ "revoked": n })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RevokeParams {
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
    /// An access code.
    code: Option<String>,
}

/// `POST /api/v1/access/secret`: makes (or replaces) the SecureID secret.
#[utoipa::path(
    post,
    path = "/api/v1/access/secret",
    tag = "access",
    summary = "Make or replace the SecureID secret",
    params(TenantParam),
    responses(
        (status = 200, description = "The new secret", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn post_secret(State(state): State<AppState>, Query(t): Query<TenantParam>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let tenant = admin_tenant(&state, &headers, t.tenant.as_deref()).await?;
    let secret = state.meta.rotate_access_secret(tenant)?;
    state.access.invalidate(tenant);
    Ok(Json(json!({ "secret": secret })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CheckParams {
    /// The ingest key, for senders that cannot set headers.
    key: Option<String>,
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CheckBody {
    /// The content.
    content_id: String,
    /// A code or SecureID…
    code: Option<String>,
    /// …or a playback token to re-check.
    token: Option<String>,
    /// Token lifetime in seconds (default 12 h, at most 7 days).
    ttl: Option<u64>,
}

/// The verdict of one check, with its bookkeeping: failures counted per
/// content (never the code) and per IP for the abuse guard.
async fn decide(
    state: &AppState,
    tenant: TenantId,
    ip: IpAddr,
    content_id: &str,
    code: Option<&str>,
    token: Option<&str>,
    ttl: Option<u64>,
) -> Result<Option<(Granted, Option<(String, i64)>)>, ApiError> {
    state.abuse.check_access_ip(ip, tenant)?;
    let list = state.access.get(tenant)?;
    let now = chrono::Utc::now().timestamp_micros();
    let verdict = match (token, code) {
        (Some(t), _) => list.verify_token(t, Some(content_id), now).map(|g| (g, None)),
        (None, Some(c)) => list.check(c, now).map(|g| {
            let ttl = ttl.map(|s| (s.min(7 * 86_400) as i64) * MICROS_PER_SEC).unwrap_or(DEFAULT_TOKEN_TTL);
            let token = list.issue_token(&g, content_id, now, ttl);
            (g, Some(token))
        }),
        (None, None) => return Err(ApiError::BadRequest("give a code (or SecureID) or a token".into())),
    };
    match verdict {
        Ok(v) => Ok(Some(v)),
        Err(reason) => {
            tracing::debug!(%reason, content_id, "access refused");
            state.abuse.access_failed(ip, tenant);
            let day = format_ts(now)[..10].to_string();
            let meta = state.meta.clone();
            let content = content_id.to_string();
            tokio::task::spawn_blocking(move || meta.count_access_failure(tenant, &content, &day))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))??;
            Ok(None)
        }
    }
}

/// `POST /api/v1/access/check` `{"content_id", "code"|"token"}`: 200 with a
/// playback token, or 403 `{"allowed": false}`.
#[utoipa::path(
    post,
    path = "/api/v1/access/check",
    tag = "access",
    summary = "Check a code or token for a content; a playback token when allowed",
    params(CheckParams),
    request_body(content = CheckBody),
    responses(
        (status = 200, description = "Allowed, with a playback token", body = Object),
        (status = 403, description = "Not allowed (`allowed: false`) or a key without the role", body = crate::openapi::ErrorBody),
        (status = 400, description = "Bad input: the message names it", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key or a key that is not valid", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such tenant (or one the key may not see)", body = crate::openapi::ErrorBody),
        (status = 429, description = "Too many requests or failures; see Retry-After", body = crate::openapi::ErrorBody),
    ),
    security(("ingest_key" = []), ("ingest_query" = []), ("api_key" = [])),
)]
pub async fn post_check(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Query(p): Query<CheckParams>,
    headers: HeaderMap,
    crate::extract::Json(body): crate::extract::Json<CheckBody>,
) -> Result<Response, ApiError> {
    state.abuse.check_ip(ip)?;
    let principal = authenticate(&state, ingest_key(&headers, p.key.clone()), Role::Ingest).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    match decide(&state, tenant, ip, &body.content_id, body.code.as_deref(), body.token.as_deref(), body.ttl).await? {
        Some((_, Some((token, expires)))) => Ok(Json(json!({ "allowed": true, "token": token, "expires": format_ts(expires) })).into_response()),
        Some((_, None)) => Ok(Json(json!({ "allowed": true })).into_response()),
        None => Ok((StatusCode::FORBIDDEN, Json(json!({ "allowed": false }))).into_response()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthParams {
    /// The ingest key, for senders that cannot set headers.
    key: Option<String>,
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
    /// The content.
    content_id: Option<String>,
    /// An access code.
    code: Option<String>,
    /// A playback token issued by `POST /api/v1/access/check`.
    token: Option<String>,
}

/// A query argument of a URI, decoded.
fn query_arg(uri: &str, name: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The content a media URI belongs to, by the same rule as access logs
/// (`streamtally_enrich::content_of`): `/live/L/index.m3u8` and
/// `/live/L/720p/seg_1.ts` → `L`; a URI naming no media file → its folder.
pub fn content_of_uri(uri: &str) -> Option<String> {
    let path = uri.split(['?', '#']).next()?;
    let kind = match request_kind(path, None).0 {
        RequestKind::Other => RequestKind::Manifest,
        kind => kind,
    };
    content_of(path, kind).map(|c| c.into_owned())
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).filter(|v| !v.is_empty()).map(str::to_string)
}

/// `GET /api/v1/access/auth`: for nginx `auth_request`. The code or token and
/// the content come from the original request (`X-Original-URI`: its `code=` /
/// `token=` arguments and its folder), from `X-Access-Code` / `X-Playback-Token`
/// / `X-Content-Id` headers, or from this URL's own arguments. Answers 200
/// (with `X-Playback-Token` when a code was checked), 403, or 401.
#[utoipa::path(
    get,
    path = "/api/v1/access/auth",
    tag = "access",
    summary = "For nginx `auth_request`: 200, 403 or 401",
    params(AuthParams),
    responses(
        (status = 200, description = "Allowed (X-Playback-Token when a code was checked)"),
        (status = 403, description = "Not allowed", body = crate::openapi::ErrorBody),
        (status = 400, description = "Bad input: the message names it", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key or a key that is not valid", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such tenant (or one the key may not see)", body = crate::openapi::ErrorBody),
        (status = 429, description = "Too many requests or failures; see Retry-After", body = crate::openapi::ErrorBody),
    ),
    security(("ingest_key" = []), ("ingest_query" = []), ("api_key" = [])),
)]
pub async fn get_auth(State(state): State<AppState>, ClientIp(ip): ClientIp, Query(p): Query<AuthParams>, headers: HeaderMap) -> Result<Response, ApiError> {
    state.abuse.check_ip(ip)?;
    let principal = authenticate(&state, ingest_key(&headers, p.key.clone()), Role::Ingest).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let original = header(&headers, "x-original-uri").unwrap_or_default();
    let token = header(&headers, "x-playback-token").or(p.token).or_else(|| query_arg(&original, "token"));
    let code = header(&headers, "x-access-code").or(p.code).or_else(|| query_arg(&original, "code"));
    let content = header(&headers, "x-content-id").or(p.content_id).or_else(|| content_of_uri(&original));
    let Some(content) = content else {
        return Err(ApiError::BadRequest("no content: set X-Content-Id, ?content_id= or X-Original-URI".into()));
    };
    if token.is_none() && code.is_none() {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    }
    match decide(&state, tenant, ip, &content, code.as_deref(), token.as_deref(), None).await? {
        Some((_, issued)) => {
            let mut response = StatusCode::OK.into_response();
            if let Some(v) = issued.and_then(|(t, _)| HeaderValue::from_str(&t).ok()) {
                response.headers_mut().insert("x-playback-token", v);
            }
            Ok(response)
        }
        None => Ok(StatusCode::FORBIDDEN.into_response()),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FailureParams {
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
    /// First day (YYYY-MM-DD, as the failures are recorded: UTC days; a longer time is cut to its date).
    from: Option<String>,
    /// Last day (YYYY-MM-DD, UTC).
    to: Option<String>,
}

/// `GET /api/v1/access/failures?from=DAY&to=DAY`: failed checks per content and day.
#[utoipa::path(
    get,
    path = "/api/v1/access/failures",
    tag = "access",
    summary = "Failed access checks per content and day",
    params(FailureParams),
    responses(
        (status = 200, description = "Failures per content and day", body = Object),
        crate::openapi::ReadRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_failures(State(state): State<AppState>, Query(p): Query<FailureParams>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Read).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let today = format_ts(chrono::Utc::now().timestamp_micros())[..10].to_string();
    let from = p.from.unwrap_or_else(|| "0000-01-01".into());
    let to = p.to.unwrap_or(today);
    // Days as YYYY-MM-DD; a longer time is cut to its date (by characters: it is user input).
    let day = |s: &str| s.chars().take(10).collect::<String>();
    let rows = state.meta.access_failures(tenant, &day(&from), &day(&to))?;
    Ok(Json(json!({ "failures": rows })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_give_their_content_and_arguments() {
        assert_eq!(content_of_uri("/live/L/index.m3u8?token=x").as_deref(), Some("L"));
        assert_eq!(content_of_uri("/hls/Big%20Show/seg_001.ts").as_deref(), Some("Big Show"));
        assert_eq!(content_of_uri("/index.m3u8"), None);
        assert_eq!(query_arg("/live/L/index.m3u8?a=1&code=A-1001%2B2", "code").as_deref(), Some("A-1001+2"));
        assert_eq!(query_arg("/x?code=a+b", "code").as_deref(), Some("a b"));
        assert_eq!(query_arg("/x", "code"), None);
        assert_eq!(content_of_uri("/live/L/720p/seg_9.ts?token=x").as_deref(), Some("L"), "as in the logs");
    }
}

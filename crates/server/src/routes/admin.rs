//! Settings, catalogue, tenants and keys.

use crate::extract::Query;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use streamtally_store::{Content, Role, Subject};

use crate::auth::{authenticate, bearer, tenant_of};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantParam {
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    pub(crate) tenant: Option<String>,
}

fn settings_json(pairs: Vec<(&'static str, String)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), Value::String(v))).collect())
}

#[utoipa::path(
    get,
    path = "/api/v1/settings",
    tag = "admin",
    summary = "The tenant's counting settings",
    params(TenantParam),
    responses(
        (status = 200, description = "Every setting with its value", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_settings(State(state): State<AppState>, Query(t): Query<TenantParam>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, t.tenant.as_deref())?;
    Ok(Json(settings_json(state.meta.settings(tenant)?.to_pairs())))
}

/// Body: a JSON object of settings to change, e.g. `{"view_window": "2h"}`.
#[utoipa::path(
    put,
    path = "/api/v1/settings",
    tag = "admin",
    summary = "Change counting settings (each checked against its range)",
    params(TenantParam),
    request_body(content = Object, description = "Settings to change, e.g. `{\"view_window\": \"2h\"}`"),
    responses(
        (status = 200, description = "The settings after the change", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn put_settings(
    State(state): State<AppState>,
    Query(t): Query<TenantParam>,
    headers: HeaderMap,
    crate::extract::Json(body): crate::extract::Json<Map<String, Value>>,
) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, t.tenant.as_deref())?;
    let pairs: Vec<(String, String)> = body
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => return Err(ApiError::BadRequest(format!("setting `{k}`: {other} is not a string, number or boolean"))),
            };
            Ok((k, text))
        })
        .collect::<Result<_, _>>()?;
    let settings = state.meta.update_settings(tenant, &pairs)?;
    state.pipeline.tenants().invalidate(tenant);
    Ok(Json(settings_json(settings.to_pairs())))
}

#[utoipa::path(
    get,
    path = "/api/v1/contents",
    tag = "admin",
    summary = "The tenant's content catalogue",
    params(TenantParam),
    responses(
        (status = 200, description = "The catalogue", body = Object),
        crate::openapi::KeyRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_contents(State(state): State<AppState>, Query(t): Query<TenantParam>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Read).await?;
    let tenant = tenant_of(&state, &principal, t.tenant.as_deref())?;
    Ok(Json(json!({ "contents": state.meta.contents(tenant)? })))
}

/// Body: NDJSON (or a JSON array) of catalogue entries; all or nothing.
#[utoipa::path(
    put,
    path = "/api/v1/contents",
    tag = "admin",
    summary = "Add or update catalogue entries (all or nothing)",
    params(TenantParam),
    request_body(content = String, description = "NDJSON or a JSON array of entries", content_type = "application/x-ndjson"),
    responses(
        (status = 200, description = "How many entries were stored", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn put_contents(State(state): State<AppState>, Query(t): Query<TenantParam>, headers: HeaderMap, body: Bytes) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, t.tenant.as_deref())?;
    let text = std::str::from_utf8(&body).map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))?;
    let contents: Vec<Content> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(|e| ApiError::BadRequest(format!("not a JSON array of contents: {e}")))?
    } else {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| serde_json::from_str(l).map_err(|e| ApiError::BadRequest(format!("line {}: {e}", i + 1))))
            .collect::<Result<_, _>>()?
    };
    let n = state.meta.upsert_contents(tenant, &contents)?;
    Ok(Json(json!({ "upserted": n })))
}

async fn superuser(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let principal = authenticate(state, bearer(headers), Role::Admin).await?;
    if principal.tenant.is_some() {
        return Err(ApiError::Forbidden("only the server administrator key manages tenants".into()));
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/api/v1/tenants",
    tag = "admin",
    summary = "Every tenant (server administrator)",
    responses(
        (status = 200, description = "The tenants", body = Object),
        (status = 401, description = "No key or a key that is not valid", body = crate::openapi::ErrorBody),
        (status = 403, description = "The key lacks the role", body = crate::openapi::ErrorBody),
    ),
    security(("api_key" = [])),
)]
pub async fn get_tenants(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    superuser(&state, &headers).await?;
    Ok(Json(json!({ "tenants": state.meta.tenants()? })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewTenant {
    name: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/tenants",
    tag = "admin",
    summary = "Create a tenant with its first admin key (server administrator)",
    request_body(content = NewTenant),
    responses(
        (status = 201, description = "The tenant and its admin key (shown once)", body = Object),
        (status = 400, description = "Bad input: the message names it", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key or a key that is not valid", body = crate::openapi::ErrorBody),
        (status = 403, description = "The key lacks the role", body = crate::openapi::ErrorBody),
        (status = 409, description = "Exists already", body = crate::openapi::ErrorBody),
    ),
    security(("api_key" = [])),
)]
pub async fn post_tenant(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::extract::Json(body): crate::extract::Json<NewTenant>,
) -> Result<Response, ApiError> {
    superuser(&state, &headers).await?;
    let tenant = state.meta.create_tenant(&body.name)?;
    Ok((StatusCode::CREATED, Json(json!(tenant))).into_response())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewKey {
    role: String,
    /// For an ingest key: the property of its events that name none (spec §1).
    #[serde(default)]
    property: Option<String>,
}

/// `GET /api/v1/keys`: the tenant's keys, without secrets.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    tag = "admin",
    summary = "The tenant's API keys, without secrets",
    params(TenantParam),
    responses(
        (status = 200, description = "The keys", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_keys(State(state): State<AppState>, Query(t): Query<TenantParam>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, t.tenant.as_deref())?;
    Ok(Json(json!({ "keys": state.meta.keys(Some(tenant))? })))
}

/// `DELETE /api/v1/keys/{key_id}`: revokes one of the tenant's keys at once.
#[utoipa::path(
    delete,
    path = "/api/v1/keys/{key_id}",
    tag = "admin",
    summary = "Revoke an API key at once",
    params(TenantParam, ("key_id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "Revoked", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn delete_key(
    State(state): State<AppState>,
    axum::extract::Path(key_id): axum::extract::Path<String>,
    Query(t): Query<TenantParam>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, t.tenant.as_deref())?;
    if !state.meta.revoke_key(Some(tenant), &key_id)? {
        return Err(ApiError::NotFound(format!("the tenant has no key `{}`", crate::error::shorten(&key_id))));
    }
    Ok(Json(json!({ "revoked": key_id })))
}

/// Creates a key of the caller's tenant (or `?tenant=` for the administrator).
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    tag = "admin",
    summary = "Create an API key (its secret is shown once)",
    params(TenantParam),
    request_body(content = NewKey),
    responses(
        (status = 201, description = "The new key", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn post_key(
    State(state): State<AppState>,
    Query(t): Query<TenantParam>,
    headers: HeaderMap,
    crate::extract::Json(body): crate::extract::Json<NewKey>,
) -> Result<Response, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, t.tenant.as_deref())?;
    let role = Role::parse(&body.role)?;
    let meta = state.meta.clone();
    let key = tokio::task::spawn_blocking(move || meta.create_key_with_property(Some(tenant), role, body.property.as_deref()))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok((StatusCode::CREATED, Json(json!(key))).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubjectParams {
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
    /// Erase everything of this user.
    user_id: Option<String>,
    /// Erase everything of this device.
    device_id: Option<String>,
    /// An access code (erasure: everything recorded with it; attendance: only this code).
    access_code: Option<String>,
}

/// `DELETE /api/v1/subjects?user_id=…|device_id=…|access_code=…`: erasure (spec §8).
#[utoipa::path(
    delete,
    path = "/api/v1/subjects",
    tag = "admin",
    summary = "Erase a user, device or access code (spec §8)",
    params(SubjectParams),
    responses(
        (status = 200, description = "What was erased", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn delete_subject(State(state): State<AppState>, Query(p): Query<SubjectParams>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let subject = match (p.user_id, p.device_id, p.access_code) {
        (Some(u), None, None) if !u.is_empty() => Subject::UserId(u),
        (None, Some(d), None) if !d.is_empty() => {
            let ctx = state
                .pipeline
                .tenants()
                .get(tenant)
                .ok_or_else(|| ApiError::NotFound("tenant does not exist".into()))?;
            Subject::Device(streamtally_enrich::device_id_key(&ctx.secret, &d))
        }
        (None, None, Some(c)) if !c.is_empty() => Subject::AccessCode(c),
        _ => return Err(ApiError::BadRequest("name exactly one of user_id, device_id or access_code".into())),
    };
    let erased = state.pipeline.erase(tenant, subject).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(json!({ "erased": erased })))
}

/// `GET /api/v1/abuse`: blocked clients (the server administrator sees all; a
/// tenant admin those that used the tenant's keys).
#[utoipa::path(
    get,
    path = "/api/v1/abuse",
    tag = "admin",
    summary = "Blocked clients",
    params(TenantParam),
    responses(
        (status = 200, description = "The blocks", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_abuse(State(state): State<AppState>, Query(t): Query<TenantParam>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = match (principal.tenant, t.tenant.as_deref()) {
        (None, None) => None,
        _ => Some(tenant_of(&state, &principal, t.tenant.as_deref())?),
    };
    Ok(Json(json!({ "blocked": state.meta.abuse_blocks(tenant)? })))
}

//! `/api/v1/accounts`: a tenant's staff accounts (e-mail and password, for
//! the dashboard), managed by its admins. Passwords are never answered.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use streamtally_store::Role;

use crate::auth::{authenticate, bearer, tenant_of};
use crate::extract::Query;
use crate::routes::admin::TenantParam;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewAccount {
    /// The address the person signs in with (unique on the server).
    email: String,
    /// 10 to 256 characters; stored as an argon2id hash only.
    password: String,
    /// `read` or `admin`.
    role: String,
}

#[utoipa::path(
    get,
    path = "/api/v1/accounts",
    tag = "admin",
    summary = "The tenant's staff accounts, without passwords",
    params(TenantParam),
    responses(
        (status = 200, description = "The accounts", body = Object),
        crate::openapi::KeyRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_accounts(State(state): State<AppState>, Query(t): Query<TenantParam>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, t.tenant.as_deref())?;
    Ok(Json(json!({ "accounts": state.meta.accounts(tenant)? })))
}

#[utoipa::path(
    post,
    path = "/api/v1/accounts",
    tag = "admin",
    summary = "Create a staff account that signs in to the dashboard",
    params(TenantParam),
    request_body(content = NewAccount),
    responses(
        (status = 201, description = "The account (without its password)", body = Object),
        crate::openapi::AdminRefusals,
        (status = 409, description = "The e-mail address has an account already", body = crate::openapi::ErrorBody),
    ),
    security(("api_key" = [])),
)]
pub async fn post_account(
    State(state): State<AppState>,
    Query(t): Query<TenantParam>,
    headers: HeaderMap,
    crate::extract::Json(body): crate::extract::Json<NewAccount>,
) -> Result<Response, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, t.tenant.as_deref())?;
    let role = Role::parse(&body.role)?;
    let meta = state.meta.clone();
    // argon2 takes tens of milliseconds: off the async threads.
    let account = tokio::task::spawn_blocking(move || meta.create_account(tenant, &body.email, &body.password, role))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok((StatusCode::CREATED, Json(json!({ "account": account }))).into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/accounts/{account_id}",
    tag = "admin",
    summary = "Delete a staff account; its dashboard sessions end at once",
    params(TenantParam, ("account_id" = String, Path, description = "The account's id")),
    responses(
        (status = 200, description = "Deleted", body = Object),
        (status = 401, description = "No key or a key that is not valid", body = crate::openapi::ErrorBody),
        (status = 403, description = "The key lacks the role", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such account of the tenant", body = crate::openapi::ErrorBody),
    ),
    security(("api_key" = [])),
)]
pub async fn delete_account(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    Query(t): Query<TenantParam>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, t.tenant.as_deref())?;
    if !state.meta.delete_account(tenant, &account_id)? {
        return Err(ApiError::NotFound(format!(
            "the tenant has no account `{}`",
            crate::error::shorten(&account_id)
        )));
    }
    state.sessions.end_account(&account_id);
    Ok(Json(json!({ "deleted": account_id })))
}

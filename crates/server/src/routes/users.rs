//! The user directory (`/api/v1/users`) and the audience's registrations
//! (`/api/v1/audience/…`). Names and demographics are the tenant admin's to
//! read, and every look-up of one user is recorded; registrations are
//! counts, for readers.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use streamtally_query::{parse_range, parse_tz, RegistrationsQuery, TimeUnit};
use streamtally_store::Role;

use crate::auth::{authenticate, bearer, tenant_of};
use crate::extract::Query;
use crate::routes::admin::TenantParam;
use crate::{ApiError, AppState};

/// The largest directory upload (`PUT /api/v1/users`): 100 000 users of a
/// few hundred bytes each, with room; other routes keep the smaller limit.
pub const DIRECTORY_MAX_BYTES: usize = 64 * 1024 * 1024;

#[utoipa::path(
    put,
    path = "/api/v1/users",
    tag = "audience",
    summary = "Add or replace registered users (NDJSON, a JSON array or CSV); bad rows named, good rows kept",
    params(TenantParam),
    request_body(content = String, description = "Users: user_id, name, gender, birth_date|birth_year|age_range, country, region, city, registered_at, attributes (up to 64 MiB)", content_type = "application/x-ndjson"),
    responses(
        (status = 200, description = "Every row stored", body = Object),
        (status = 400, description = "Some rows refused (`errors: [{row, field, message}]`); the others are stored", body = Object),
        crate::openapi::KeyRefusals,
        (status = 413, description = "The body is over 64 MiB", body = crate::openapi::ErrorBody),
    ),
    security(("api_key" = [])),
)]
pub async fn put_users(State(state): State<AppState>, Query(t): Query<TenantParam>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, t.tenant.as_deref())?;
    let meta = state.meta.clone();
    let (stored, errors) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let parsed = streamtally_parse::users::parse_users(&body).map_err(ApiError::BadRequest)?;
        Ok((meta.upsert_users(tenant, &parsed.users)?, parsed.errors))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    if errors.is_empty() {
        return Ok(Json(json!({ "upserted": stored, "rejected": 0 })).into_response());
    }
    Err(ApiError::BadRows {
        accepted: stored,
        errors: errors.into_iter().map(|e| serde_json::to_value(e).unwrap_or(Value::Null)).collect(),
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{user_id}",
    tag = "audience",
    summary = "One registered user's directory entry (admin; the look-up is recorded)",
    params(TenantParam, ("user_id" = String, Path, description = "The user")),
    responses(
        (status = 200, description = "The entry", body = Object),
        crate::openapi::UserRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_user(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    Query(t): Query<TenantParam>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, t.tenant.as_deref())?;
    // Recorded before answering: a look-up that fails later still happened.
    state.meta.record_lookup(tenant, &principal.key_id, &user_id)?;
    let user = state.meta.registered_user(tenant, &user_id)?.ok_or_else(|| no_user(&user_id))?;
    // The last login: the latest `session_start` naming the user (spec §8b);
    // the entry is answered even when the store cannot say.
    let last = super::activity::known(&state, tenant, &user_id).await.ok().and_then(|(_, (_, last))| last);
    let tz = parse_tz(Some(&state.meta.settings(tenant)?.timezone))?;
    Ok(Json(json!({ "user": user, "last_login": super::activity::last_login(last, tz) })))
}

fn no_user(user_id: &str) -> ApiError {
    ApiError::NotFound(format!("no registered user `{}` in the directory", crate::error::shorten(user_id)))
}

#[utoipa::path(
    delete,
    path = "/api/v1/users/{user_id}",
    tag = "audience",
    summary = "Remove a user from the directory (their pseudonymous activity stays; erase it with DELETE /api/v1/subjects)",
    params(TenantParam, ("user_id" = String, Path, description = "The user")),
    responses(
        (status = 200, description = "Removed", body = Object),
        crate::openapi::UserRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn delete_user(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    Query(t): Query<TenantParam>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, t.tenant.as_deref())?;
    if !state.meta.delete_registered_user(tenant, &user_id)? {
        return Err(no_user(&user_id));
    }
    Ok(Json(json!({ "deleted": user_id })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupParams {
    /// The tenant's name: needed with the server administrator's key.
    tenant: Option<String>,
    /// How many of the latest look-ups (1–10 000, default 100).
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audience/lookups",
    tag = "audience",
    summary = "Who looked up which registered user, and when (admin)",
    params(LookupParams),
    responses(
        (status = 200, description = "The latest look-ups, newest first", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_lookups(State(state): State<AppState>, Query(p): Query<LookupParams>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let limit = p.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::BadRequest("limit must be 1 to 10000".into()));
    }
    Ok(Json(json!({ "lookups": state.meta.lookups(tenant, limit)? })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RegistrationParams {
    /// The tenant's name: needed with the server administrator's key.
    tenant: Option<String>,
    /// Start of the range (RFC 3339 or a date; default 30 days ago).
    from: Option<String>,
    /// End of the range, exclusive (default now).
    to: Option<String>,
    /// `hour`, `day` (default), `week` or `month`.
    group_by: Option<String>,
    /// IANA time zone of the periods (default: the tenant's).
    tz: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
    /// With CSV: `series` (default), `gender`, `age_ranges`, `countries`, `regions` or `cities`.
    part: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audience/registrations",
    tag = "audience",
    summary = "Users registered per period by gender with the peak, gender shares, age ranges and geography",
    params(RegistrationParams),
    responses(
        (status = 200, description = "The registrations", content((Object = "application/json"), (String = "text/csv"))),
        crate::openapi::ReadRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_registrations(State(state): State<AppState>, Query(p): Query<RegistrationParams>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Read).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let settings = state.meta.settings(tenant)?;
    let (from, to) = super::range_or_recent(p.from, p.to, chrono::Duration::days(30));
    let (from, to) = parse_range(&from, &to)?;
    let unit = match p.group_by.as_deref().unwrap_or("day") {
        "hour" => TimeUnit::Hour,
        "day" => TimeUnit::Day,
        "week" => TimeUnit::Week,
        "month" => TimeUnit::Month,
        other => {
            return Err(ApiError::BadRequest(format!(
                "group_by `{}`: hour, day, week or month",
                crate::error::shorten(other)
            )))
        }
    };
    let tz = parse_tz(Some(p.tz.as_deref().unwrap_or(&settings.timezone)))?;
    let q = RegistrationsQuery {
        from,
        to,
        unit,
        tz,
        age_ranges: settings.age_ranges(),
        home_country: settings.home_country.clone(),
    };
    let users = state.meta.registered_between(tenant, from, to)?;
    let answer = q.answer(&users)?;
    if super::csv_format(p.format.as_deref())? {
        let csv = answer.to_csv(p.part.as_deref().unwrap_or("series"))?;
        return Ok(super::csv_response(csv));
    }
    Ok(Json(answer.json).into_response())
}

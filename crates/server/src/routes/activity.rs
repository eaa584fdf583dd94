//! `GET /api/v1/users/{user_id}/activity`: what one user did (issue 14).
//! Admin only, like the directory entry, and every look-up is recorded.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use streamtally_query::{parse_tz, ActivityQuery, Ask, OwnedPlaybacks, UserTrace};
use streamtally_store::Role;

use crate::auth::{authenticate, bearer, tenant_of};
use crate::extract::Query;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityParams {
    /// The tenant's name: needed with the server administrator's key.
    tenant: Option<String>,
    /// Start of the range (RFC 3339 or a date; default 30 days ago).
    from: Option<String>,
    /// End of the range, exclusive (default now).
    to: Option<String>,
    /// IANA time zone of times, days and minutes (default: the tenant's).
    tz: Option<String>,
    /// Page of the events, from 1 (default 1).
    page: Option<String>,
    /// Events per page, 1–1000 (default 100).
    per_page: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{user_id}/activity",
    tag = "audience",
    summary = "One user's overview, events (paged), bandwidth per minute and details (admin; the look-up is recorded)",
    params(ActivityParams, ("user_id" = String, Path, description = "The user")),
    responses(
        (status = 200, description = "The activity (zeros and empty lists when the user did nothing in the range)", body = Object),
        (status = 400, description = "A bad range, zone or page", body = crate::openapi::ErrorBody),
        crate::openapi::UserRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_activity(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    Query(p): Query<ActivityParams>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Admin).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let settings = state.meta.settings(tenant)?;
    let (from, to) = super::range_or_recent(p.from, p.to, chrono::Duration::days(30));
    let tz = parse_tz(Some(p.tz.as_deref().unwrap_or(&settings.timezone)))?;
    let mut q = ActivityQuery::parse(&user_id, &from, &to, tz, p.page.as_deref(), p.per_page.as_deref())?;
    state.meta.record_lookup(tenant, &principal.key_id, &user_id)?;
    let store = state.pipeline.store();
    let (registered, trace) = known(&state, tenant, &user_id).await?;
    if !registered && trace.0 == 0 {
        return Err(ApiError::NotFound(format!(
            "no user `{}`: not in the directory, and no player event names it",
            crate::error::shorten(&user_id)
        )));
    }
    // Spec §8b: playbacks that named the user late are the user's too.
    let owners = OwnedPlaybacks {
        user_id: user_id.clone(),
        from: q.from,
        to: q.to,
    };
    q.owned = OwnedPlaybacks::read(&state.queries.run(tenant, async { Ok(store.ask(tenant, &owners).await?) }).await?);
    let tables = state.queries.run(tenant, async { Ok(store.ask(tenant, &q).await?) }).await?;
    let mut answer = q.answer(&tables);
    answer["registered"] = Value::Bool(registered);
    answer["last_login"] = last_login(trace.1, tz);
    Ok(Json(answer))
}

/// Whether the directory holds the user, and the user's raw events (count,
/// last login) within raw retention.
pub(crate) async fn known(state: &AppState, tenant: streamtally_model::TenantId, user_id: &str) -> Result<(bool, (i64, Option<i64>)), ApiError> {
    let registered = state.meta.registered_user(tenant, user_id)?.is_some();
    let trace = UserTrace { user_id: user_id.to_string() };
    let store = state.pipeline.store();
    let tables = state.queries.run(tenant, async { Ok(store.ask(tenant, &trace).await?) }).await?;
    Ok((registered, UserTrace::read(&tables)))
}

pub(crate) fn last_login(at: Option<i64>, tz: chrono_tz::Tz) -> Value {
    at.map(|us| Value::String(streamtally_query::format_in_tz(us, tz))).unwrap_or(Value::Null)
}

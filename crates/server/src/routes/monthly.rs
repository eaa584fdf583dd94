//! `GET /api/v1/overview/monthly`: one row per month (source 000).

use crate::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use streamtally_query::{Ask, MonthlyQuery};
use streamtally_store::Role;

use crate::auth::{authenticate, bearer, tenant_of};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MonthlyParams {
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
    /// Start of the range: an RFC 3339 instant or a day (YYYY-MM-DD, midnight in `tz`); default a year ago.
    from: Option<String>,
    /// End of the range (exclusive), as `from`; default now.
    to: Option<String>,
    /// IANA time zone of the months (default: the tenant's `timezone` setting).
    tz: Option<String>,
    /// Answer format: `json` (default) or `csv` (also chosen by `Accept: text/csv`).
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/overview/monthly",
    tag = "query",
    summary = "One row per month: requests and bytes served, starts, streams, time, average viewing time, downloads, devices, views, users",
    params(MonthlyParams),
    responses(
        (status = 200, description = "Rows (every month of the range) and totals", content((crate::openapi::TableAnswer = "application/json"), (String = "text/csv"))),
        crate::openapi::ReadRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_monthly(State(state): State<AppState>, Query(p): Query<MonthlyParams>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Read).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let tz = super::zone(&state, tenant, p.tz.as_deref())?;
    let (from, to) = super::range_or_recent(p.from, p.to, chrono::Duration::days(365));
    let q = MonthlyQuery::parse(&from, &to, tz)?;
    let tables = state.queries.run(tenant, async { Ok(state.pipeline.store().ask(tenant, &q).await?) }).await?;
    super::answer_response(&q.answer(&tables), p.format.as_deref(), &headers)
}

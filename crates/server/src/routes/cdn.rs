//! `GET /api/v1/cdn`: CDN metrics (spec §7).

use crate::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use streamtally_query::{cdn_answer, Ask, CdnQuery};
use streamtally_store::Role;

use crate::auth::{authenticate, bearer, tenant_of};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CdnParams {
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
    /// Start of the range: an RFC 3339 instant or a day (YYYY-MM-DD, in `tz`).
    from: Option<String>,
    /// End of the range (exclusive): an RFC 3339 instant or a day (YYYY-MM-DD, in `tz`).
    to: Option<String>,
    /// Comma-separated dimensions or time buckets (hour, day, week, month, content_id, country, …).
    group_by: Option<String>,
    /// Only this zone.
    zone: Option<String>,
    /// The POP for lines that name none.
    pop: Option<String>,
    /// IANA time zone for days and buckets (default: the tenant's `timezone` setting).
    tz: Option<String>,
    /// Answer format: `json` (default) or `csv` (also chosen by `Accept: text/csv`).
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/cdn",
    tag = "cdn",
    summary = "CDN traffic: requests, bytes, hit ratio, status and cache classes",
    params(CdnParams),
    responses(
        (status = 200, description = "Rows and totals", content((crate::openapi::TableAnswer = "application/json"), (String = "text/csv"))),
        crate::openapi::ReadRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_cdn(State(state): State<AppState>, Query(p): Query<CdnParams>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Read).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let tz = super::zone(&state, tenant, p.tz.as_deref())?;
    let (from, to) = super::range_or_recent(p.from, p.to, chrono::Duration::hours(24));
    let q = CdnQuery::parse(&from, &to, p.group_by.as_deref(), p.zone.as_deref(), p.pop.as_deref(), tz)?;
    let tables = state.queries.run(tenant, async { Ok(state.pipeline.store().ask(tenant, &q).await?) }).await?;
    let answer = cdn_answer(tables, tz);
    super::answer_response(&answer, p.format.as_deref(), &headers)
}

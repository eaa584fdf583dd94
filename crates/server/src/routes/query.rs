//! `GET /api/v1/metrics`: the query API.

use crate::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use streamtally_query::{Ask, Metric, MetricsQuery};
use streamtally_store::Role;

use crate::auth::{authenticate, bearer, tenant_of};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsParams {
    /// Start of the range: an RFC 3339 instant or a day (YYYY-MM-DD, in `tz`).
    from: Option<String>,
    /// End of the range (exclusive): an RFC 3339 instant or a day (YYYY-MM-DD, in `tz`).
    to: Option<String>,
    /// Comma-separated metrics (starts, streams, time, downloads, devices, views, users, …).
    metrics: Option<String>,
    /// Comma-separated dimensions or time buckets (hour, day, week, month, content_id, country, …).
    group_by: Option<String>,
    /// Filters `dimension:value`, several joined by `,`.
    filter: Option<String>,
    /// IANA time zone for days and buckets (default: the tenant's `timezone` setting).
    tz: Option<String>,
    /// Answer format: `json` (default) or `csv` (also chosen by `Accept: text/csv`).
    format: Option<String>,
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/metrics",
    tag = "query",
    summary = "Metrics over a range, grouped and filtered (spec §1–8)",
    params(MetricsParams),
    responses(
        (status = 200, description = "Rows and totals", content((crate::openapi::TableAnswer = "application/json"), (String = "text/csv"))),
        crate::openapi::ReadRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_metrics(State(state): State<AppState>, Query(p): Query<MetricsParams>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Read).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let settings = state.pipeline.tenants().get(tenant).map(|c| c.settings.timezone.clone());
    // Defaults: the last 24 hours, every metric, the tenant's time zone.
    let (from, to) = super::range_or_recent(p.from, p.to, chrono::Duration::hours(24));
    let all = Metric::ALL.iter().map(|m| m.name()).collect::<Vec<_>>().join(",");
    let tz = p.tz.or(settings);
    let q = MetricsQuery::parse(
        &from,
        &to,
        p.metrics.as_deref().unwrap_or(&all),
        p.group_by.as_deref(),
        p.filter.as_deref(),
        tz.as_deref(),
    )?;
    // Filters of gender, age and home together can narrow a count down to
    // one registered user: like one user's activity, they are the admin's.
    if q.needs_directory() && !principal.role.allows(Role::Admin) {
        return Err(crate::ApiError::Forbidden(
            "grouping or filtering by gender, age range or home needs an admin key (they can single out one registered user)".into(),
        ));
    }
    let answer = state.queries.run(tenant, async { Ok(state.pipeline.store().query(tenant, &q).await?) }).await?;
    super::answer_response(&answer, p.format.as_deref(), &headers)
}

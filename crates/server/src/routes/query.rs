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
    answer_metrics(&state, p, &headers, &Metric::AUDIENCE, None).await
}

#[utoipa::path(
    get,
    path = "/api/v1/qoe",
    tag = "query",
    summary = "Quality of experience over a range, grouped and filtered (spec §8d)",
    description = "Metrics: startup_median, startup_p95 (seconds), rebuffer_ratio, rebuffer_frequency (stalls per minute played), \
                   failure_rate, exits_before_start, bitrate_avg (kbps, time-weighted), bitrate_switches, errors (not fatal). \
                   Percentiles are exact over the starts' raw startup times, so the totals are not a mean of the rows.",
    params(MetricsParams),
    responses(
        (status = 200, description = "Rows and totals", content((crate::openapi::TableAnswer = "application/json"), (String = "text/csv"))),
        crate::openapi::ReadRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_qoe(State(state): State<AppState>, Query(p): Query<MetricsParams>, headers: HeaderMap) -> Result<Response, ApiError> {
    answer_metrics(&state, p, &headers, &Metric::QOE, Some(&Metric::QOE)).await
}

/// One metrics answer: `defaults` when none are named; only `allowed` ones, if given.
async fn answer_metrics(
    state: &AppState,
    p: MetricsParams,
    headers: &HeaderMap,
    defaults: &[Metric],
    allowed: Option<&[Metric]>,
) -> Result<Response, ApiError> {
    let principal = authenticate(state, bearer(headers), Role::Read).await?;
    let tenant = tenant_of(state, &principal, p.tenant.as_deref())?;
    let settings = state
        .pipeline
        .tenants()
        .get(tenant)
        .map(|c| (c.settings.timezone.clone(), c.settings.user_idle));
    // Defaults: the last 24 hours, the metrics of the question, the tenant's time zone.
    let (from, to) = super::range_or_recent(p.from, p.to, chrono::Duration::hours(24));
    let names = |ms: &[Metric]| ms.iter().map(|m| m.name()).collect::<Vec<_>>().join(",");
    let tz = p.tz.or(settings.as_ref().map(|s| s.0.clone()));
    let mut q = MetricsQuery::parse(
        &from,
        &to,
        p.metrics.as_deref().unwrap_or(&names(defaults)),
        p.group_by.as_deref(),
        p.filter.as_deref(),
        tz.as_deref(),
    )?;
    if let Some(allowed) = allowed {
        if let Some(other) = q.metrics.iter().find(|m| !allowed.contains(m)) {
            return Err(ApiError::BadRequest(format!(
                "`{}` is not a quality metric here (known: {}); ask /api/v1/metrics for it",
                other.name(),
                names(allowed)
            )));
        }
    }
    // Spec §8d: a start younger than `user_idle` may still show its first
    // frame — younger than the tenant's clock, when its inputs lag behind now.
    let idle = settings.map_or(3_600_000_000, |s| s.1.as_micros() as i64);
    let now = chrono::Utc::now().timestamp_micros();
    q.settled = state.pipeline.tenants().clock(tenant).map_or(now, |c| c.min(now)) - idle;
    // Filters of gender, age and home together can narrow a count down to
    // one registered user: like one user's activity, they are the admin's.
    if q.needs_directory() && !principal.role.allows(Role::Admin) {
        return Err(crate::ApiError::Forbidden(
            "grouping or filtering by gender, age range or home needs an admin key (they can single out one registered user)".into(),
        ));
    }
    let answer = state.queries.run(tenant, async { Ok(state.pipeline.store().query(tenant, &q).await?) }).await?;
    super::answer_response(&answer, p.format.as_deref(), headers)
}

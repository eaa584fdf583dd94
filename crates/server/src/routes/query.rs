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

#[derive(Debug, Deserialize)]
pub struct MetricsParams {
    from: Option<String>,
    to: Option<String>,
    metrics: Option<String>,
    group_by: Option<String>,
    filter: Option<String>,
    tz: Option<String>,
    format: Option<String>,
    tenant: Option<String>,
}

pub async fn get_metrics(State(state): State<AppState>, Query(p): Query<MetricsParams>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Read).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let settings = state.pipeline.tenants().get(tenant).map(|c| c.settings.timezone.clone());
    // Defaults: the last 24 hours, every metric, the tenant's time zone.
    let now = chrono::Utc::now();
    let to = p.to.unwrap_or_else(|| now.to_rfc3339());
    let from = p.from.unwrap_or_else(|| (now - chrono::Duration::hours(24)).to_rfc3339());
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
    let answer = state.queries.run(tenant, async { Ok(state.pipeline.store().query(tenant, &q).await?) }).await?;
    super::answer_response(&answer, p.format.as_deref(), &headers)
}

//! `GET /api/v1/metrics`: the query API.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use streamtally_query::{Metric, MetricsQuery};
use streamtally_store::{FactStore, Role};

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
    let answer = state.pipeline.store().query(tenant, &q).await?;
    let wants_csv = p.format.as_deref() == Some("csv")
        || headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv"));
    if wants_csv {
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], answer.to_csv()).into_response());
    }
    Ok(Json(answer.to_json()).into_response())
}

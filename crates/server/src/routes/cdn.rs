//! `GET /api/v1/cdn`: CDN metrics (spec §7).

use crate::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use streamtally_query::{cdn_answer, parse_tz, Ask, CdnQuery};
use streamtally_store::Role;

use crate::auth::{authenticate, bearer, tenant_of};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
pub struct CdnParams {
    tenant: Option<String>,
    from: Option<String>,
    to: Option<String>,
    group_by: Option<String>,
    zone: Option<String>,
    pop: Option<String>,
    tz: Option<String>,
    format: Option<String>,
}

pub async fn get_cdn(State(state): State<AppState>, Query(p): Query<CdnParams>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Read).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let tz = match p.tz.as_deref() {
        Some(tz) => parse_tz(Some(tz))?,
        None => state.pipeline.tenants().get(tenant).map(|c| c.settings.tz()).unwrap_or(chrono_tz::Tz::UTC),
    };
    let now = chrono::Utc::now();
    let to = p.to.unwrap_or_else(|| now.to_rfc3339());
    let from = p.from.unwrap_or_else(|| (now - chrono::Duration::hours(24)).to_rfc3339());
    let q = CdnQuery::parse(&from, &to, p.group_by.as_deref(), p.zone.as_deref(), p.pop.as_deref(), tz)?;
    let tables = state.queries.run(tenant, async { Ok(state.pipeline.store().ask(tenant, &q).await?) }).await?;
    let answer = cdn_answer(tables, tz);
    super::answer_response(&answer, p.format.as_deref(), &headers)
}

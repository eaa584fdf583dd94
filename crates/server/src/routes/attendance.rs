//! `GET /api/v1/attendance`: the attendance report (spec §6), JSON or CSV.

use crate::extract::Query;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use streamtally_query::{attendance_answer, Ask, AttendanceQuery};
use streamtally_store::Role;

use crate::auth::{authenticate, bearer, tenant_of};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
pub struct AttendanceParams {
    tenant: Option<String>,
    from: String,
    to: String,
    content_id: Option<String>,
    access_code: Option<String>,
    format: Option<String>,
}

pub async fn get_attendance(State(state): State<AppState>, Query(p): Query<AttendanceParams>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Read).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    // Days are the tenant's: the engine cut the intervals at its midnight.
    let tz = state.pipeline.tenants().get(tenant).map(|c| c.settings.tz()).unwrap_or(chrono_tz::Tz::UTC);
    let q = AttendanceQuery::parse(&p.from, &p.to, p.content_id.as_deref(), p.access_code.as_deref(), tz)?;
    let tables = state.queries.run(tenant, async { Ok(state.pipeline.store().ask(tenant, &q).await?) }).await?;
    let answer = attendance_answer(tables, tz);
    super::answer_response(&answer, p.format.as_deref(), &headers)
}

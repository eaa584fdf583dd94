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

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttendanceParams {
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
    /// Start of the range: an RFC 3339 instant or a day (YYYY-MM-DD, in `tz`).
    from: String,
    /// End of the range (exclusive): an RFC 3339 instant or a day (YYYY-MM-DD, in `tz`).
    to: String,
    /// The content.
    content_id: Option<String>,
    /// An access code (erasure: everything recorded with it; attendance: only this code).
    access_code: Option<String>,
    /// Answer format: `json` (default) or `csv` (also chosen by `Accept: text/csv`).
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/attendance",
    tag = "attendance",
    summary = "Watched time per access code, content and day (spec §6)",
    params(AttendanceParams),
    responses(
        (status = 200, description = "Rows and totals", content((crate::openapi::TableAnswer = "application/json"), (String = "text/csv"))),
        crate::openapi::ReadRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_attendance(State(state): State<AppState>, Query(p): Query<AttendanceParams>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Read).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    // Days are the tenant's: the engine cut the intervals at its midnight.
    let tz = super::zone(&state, tenant, None)?;
    let q = AttendanceQuery::parse(&p.from, &p.to, p.content_id.as_deref(), p.access_code.as_deref(), tz)?;
    let tables = state.queries.run(tenant, async { Ok(state.pipeline.store().ask(tenant, &q).await?) }).await?;
    let answer = attendance_answer(tables, tz);
    super::answer_response(&answer, p.format.as_deref(), &headers)
}

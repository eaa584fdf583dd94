//! `GET /api/v1/contents/{content_id}/retention`: retention and engagement
//! of one content, 100 sections (spec §8c).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use streamtally_query::{retention_csv, retention_json, Ask, RetentionQuery};
use streamtally_store::Role;

use crate::auth::{authenticate, bearer, tenant_of};
use crate::extract::Query;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RetentionParams {
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
    /// Start of the range (starts from then on): RFC 3339 or a date; default 30 days ago.
    from: Option<String>,
    /// End of the range (exclusive); default now.
    to: Option<String>,
    /// dimension:value pairs, as for the metrics.
    filter: Option<String>,
    /// Answer format: `json` (default) or `csv` (also chosen by `Accept: text/csv`).
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/contents/{content_id}/retention",
    tag = "query",
    summary = "Retention (share of starts that covered each 1 % section) and engagement (times each section was played) of one content",
    params(RetentionParams, ("content_id" = String, Path, description = "The content")),
    responses(
        (status = 200, description = "100 sections", content((Object = "application/json"), (String = "text/csv"))),
        (status = 404, description = "No duration: neither the catalogue nor any position gives one", body = crate::openapi::ErrorBody),
        crate::openapi::ReadRefusals,
    ),
    security(("api_key" = [])),
)]
pub async fn get_retention(
    State(state): State<AppState>,
    Path(content_id): Path<String>,
    Query(p): Query<RetentionParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = authenticate(&state, bearer(&headers), Role::Read).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let wants_csv = super::wants_csv(p.format.as_deref(), &headers)?;
    let (from, to) = super::range_or_recent(p.from, p.to, chrono::Duration::days(30));
    let mut q = RetentionQuery::parse(&content_id, &from, &to, p.filter.as_deref())?;
    let store = state.pipeline.store();
    let Some((basis, curve)) = state.queries.run(tenant, async { Ok(store.retention(tenant, &mut q).await?) }).await? else {
        return Err(ApiError::NotFound(format!(
            "no duration for `{}`: the catalogue has none, no playing report named a position and no log byte range reached the file",
            crate::error::shorten(&content_id)
        )));
    };
    if wants_csv {
        return Ok(super::csv_response(retention_csv(&curve)));
    }
    Ok(Json(retention_json(&q, &basis, &curve)).into_response())
}

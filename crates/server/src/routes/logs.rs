//! `POST /api/v1/logs`: access-log lines pushed over HTTP (Vector, Fluent Bit,
//! a CDN's log streaming). Same formats as `streamtally import`, same
//! durability promise as events: `202` once the requests are in the WAL.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use streamtally_enrich::LogContext;
use streamtally_parse::log::{LogFormat, LogParser};
use streamtally_store::Role;
use streamtally_unify::{exclusions, EngineSettings};

use crate::auth::{authenticate, ingest_key, tenant_of};
use crate::routes::ingest::client_ip;
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize)]
pub struct LogParams {
    key: Option<String>,
    tenant: Option<String>,
    /// combined, common, nginx, w3c, json, fastly, bunny, cloudflare (default: detected).
    format: Option<String>,
    /// The nginx `log_format` string, or a JSON field mapping.
    log_format: Option<String>,
    /// Zone and POP for lines that do not name them.
    zone: Option<String>,
    pop: Option<String>,
}

pub async fn post_logs(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(p): Query<LogParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.abuse.check_ip(client_ip(&state, &headers, peer))?;
    let principal = authenticate(&state, ingest_key(&headers, p.key.clone()), Role::Ingest).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let ctx = state
        .pipeline
        .tenants()
        .get(tenant)
        .ok_or_else(|| ApiError::NotFound("tenant does not exist".into()))?;
    let format = match p.format.as_deref() {
        Some(name) => LogFormat::named(name, p.log_format.as_deref()).map_err(|e| ApiError::BadRequest(e.to_string()))?,
        None => {
            let head = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
            LogFormat::detect(&head).ok_or_else(|| ApiError::BadRequest("cannot tell the log format; name it with ?format=".into()))?
        }
    };
    let bitrates: HashMap<String, f64> = state
        .pipeline
        .store()
        .meta()
        .contents(tenant)?
        .into_iter()
        .filter_map(|c| c.bitrate.map(|b| (c.content_id, b)))
        .collect();
    let mut parser = LogParser::new(format);
    // Parsing and enrichment happen before the first await: nothing of the
    // lines (IPs, User-Agents) lives across it.
    let mut batch = {
        let bitrate_of = |c: &str| bitrates.get(c).copied();
        let log_ctx = LogContext::new(&ctx.secret, &ctx.settings, &bitrate_of);
        state.enricher.read_log_lines(&mut parser, &body, 1, &log_ctx)
    };
    batch.fill_zone_pop(p.zone.as_deref(), p.pop.as_deref());
    let excluded = exclusions(&batch.requests, &EngineSettings::from(&ctx.settings));
    let accepted = batch.requests.len();
    if accepted > 0 {
        state
            .pipeline
            .submit_requests(tenant, batch.requests)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    }
    let metrics = state.pipeline.metrics();
    metrics.events_accepted.inc_by(accepted as u64);
    metrics.events_rejected.inc_by(batch.rejected as u64);
    let errors: Vec<_> = batch.first_rejects.iter().map(|(line, why, _)| json!({ "line": line, "error": why })).collect();
    let status = if accepted == 0 && batch.rejected > 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::ACCEPTED
    };
    Ok((
        status,
        Json(json!({ "format": parser.format().name(), "accepted": accepted, "rejected": batch.rejected, "skipped": batch.skipped, "excluded": excluded, "errors": errors })),
    )
        .into_response())
}

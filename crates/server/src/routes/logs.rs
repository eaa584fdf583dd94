//! `POST /api/v1/logs`: access-log lines pushed over HTTP (Vector, Fluent Bit,
//! a CDN's log streaming). Same formats as `streamtally import`, same
//! durability promise as events: `202` once the requests are in the WAL.
//!
//! A file sent in chunks (`streamtally import --server`) names itself with
//! `file` (a key of its first line) and each chunk's `offset`: the server
//! remembers how far each file was taken, answers a chunk it already has with
//! `200` and `"duplicate": true` instead of counting it again, and refuses a
//! chunk that would leave a gap (`409`) — the ledger's rule of
//! `streamtally-source`, whose [`PushReply`] is the answer's shape.
//! `GET /api/v1/logs/imported?file=` says where to resume.

use std::collections::HashMap;

use crate::extract::Query;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use streamtally_enrich::LogContext;
use streamtally_parse::log::{LogFormat, LogParser};
use streamtally_source::{place_chunk, LineError, Placement, PushReply, MAX_FILE_KEY};
use streamtally_store::Role;

use crate::auth::ClientIp;
use crate::auth::{authenticate, ingest_key, tenant_of};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// The ingest key, for senders that cannot set headers.
    key: Option<String>,
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
    /// combined, common, nginx, w3c, json, fastly, bunny, cloudflare (default: detected).
    format: Option<String>,
    /// The nginx `log_format` string, or a JSON field mapping.
    log_format: Option<String>,
    /// Zone and POP for lines that do not name them.
    zone: Option<String>,
    /// The POP for lines that name none.
    pop: Option<String>,
    /// The file these lines are a chunk of (its key), and where in it they begin.
    file: Option<String>,
    /// Where in the file this chunk begins (bytes).
    offset: Option<u64>,
    /// The property the lines count under (spec §1; default the ingest key's, else `Others`).
    property: Option<String>,
    /// `i/N`: only lines whose client address nginx's `hash $remote_addr` sends to the i-th of N nodes (the rest are skipped).
    shard: Option<String>,
}

fn file_key(file: &str) -> Result<&str, ApiError> {
    if file.is_empty() || file.len() > MAX_FILE_KEY {
        return Err(ApiError::BadRequest(format!("file must be 1 to {MAX_FILE_KEY} characters")));
    }
    Ok(file)
}

/// One chunk of a named file being taken: released when dropped.
struct ChunkOfFile {
    importing: crate::state::FilesUnderImport,
    key: (streamtally_model::TenantId, String),
}

impl Drop for ChunkOfFile {
    fn drop(&mut self) {
        if let Ok(mut set) = self.importing.lock() {
            set.remove(&self.key);
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportedParams {
    /// The ingest key, for senders that cannot set headers.
    key: Option<String>,
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
    /// The key of the file (a hash of its first bytes, as `import` computes it).
    file: String,
    /// The shard of the file taken (`i/N`, as `import --shard` sends): each
    /// shard of a file has its own place in the ledger.
    shard: Option<String>,
}

fn parse_shard(shard: Option<&str>) -> Result<Option<streamtally_enrich::Shard>, ApiError> {
    shard.map(streamtally_enrich::Shard::parse).transpose().map_err(ApiError::BadRequest)
}

/// `GET /api/v1/logs/imported?file=KEY`: how many bytes of the file were taken.
#[utoipa::path(
    get,
    path = "/api/v1/logs/imported",
    tag = "logs",
    summary = "How many bytes of a log file were taken",
    params(ImportedParams),
    responses(
        (status = 200, description = "The file's imported bytes", body = Object),
        crate::openapi::AdminRefusals,
    ),
    security(("ingest_key" = []), ("ingest_query" = []), ("api_key" = [])),
)]
pub async fn get_imported(State(state): State<AppState>, Query(p): Query<ImportedParams>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    let principal = authenticate(&state, ingest_key(&headers, p.key.clone()), Role::Ingest).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let file = file_key(&p.file)?;
    let shard = parse_shard(p.shard.as_deref())?;
    let bytes = state.meta.imported_bytes(tenant, &streamtally_enrich::ledger_key(file, shard.as_ref()))?;
    Ok(Json(json!({ "file": file, "imported_bytes": bytes })))
}

#[utoipa::path(
    post,
    path = "/api/v1/logs",
    tag = "logs",
    summary = "Push CDN or streaming-server log lines",
    params(LogParams),
    request_body(content = String, description = "Log lines (any supported format), optionally gzip", content_type = "text/plain"),
    responses(
        (status = 200, description = "Lines taken, with per-line errors", body = Object),
        (status = 400, description = "Bad input: the message names it", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key or a key that is not valid", body = crate::openapi::ErrorBody),
        (status = 403, description = "The key lacks the role", body = crate::openapi::ErrorBody),
        (status = 409, description = "Exists already", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over the limit", body = crate::openapi::ErrorBody),
        (status = 429, description = "Too many requests or failures; see Retry-After", body = crate::openapi::ErrorBody),
        (status = 503, description = "Busy or closing; retry", body = crate::openapi::ErrorBody),
    ),
    security(("ingest_key" = []), ("ingest_query" = []), ("api_key" = [])),
)]
pub async fn post_logs(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Query(p): Query<LogParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.abuse.check_ip(ip)?;
    let principal = authenticate(&state, ingest_key(&headers, p.key.clone()), Role::Ingest).await?;
    let tenant = tenant_of(&state, &principal, p.tenant.as_deref())?;
    let shard = parse_shard(p.shard.as_deref())?;
    let ctx = state
        .pipeline
        .tenants()
        .get(tenant)
        .ok_or_else(|| ApiError::NotFound("tenant does not exist".into()))?;
    // Spec §1: the import's property, else the key's, else `Others`.
    let property = streamtally_store::checked_property(p.property.as_deref())?
        .map(str::to_string)
        .or_else(|| principal.property.clone());
    // A chunk of a named file: taken once, in order.
    let chunk_of_file = match p.file.as_deref() {
        Some(file) => {
            let file = streamtally_enrich::ledger_key(file_key(file)?, shard.as_ref());
            let offset = p.offset.unwrap_or(0);
            let key = (tenant, file.clone());
            let taken = state
                .importing
                .lock()
                .map_err(|_| ApiError::Internal("import registry poisoned".into()))?
                .insert(key.clone());
            if !taken {
                return Err(ApiError::Conflict(
                    "another chunk of this file is being imported; send the chunks one after another".into(),
                ));
            }
            let guard = ChunkOfFile {
                importing: state.importing.clone(),
                key,
            };
            let imported = state.meta.imported_bytes(tenant, &file)?;
            match place_chunk(imported, offset, body.len() as u64) {
                Placement::Duplicate => {
                    let reply = PushReply {
                        duplicate: true,
                        imported_bytes: Some(imported),
                        ..PushReply::default()
                    };
                    return Ok((StatusCode::OK, Json(reply)).into_response());
                }
                Placement::Gap => {
                    return Err(ApiError::Conflict(format!(
                        "this file was imported up to byte {imported}; send it from there (this chunk begins at {offset})"
                    )))
                }
                Placement::Take { end } => Some((guard, file, end)),
            }
        }
        None => None,
    };
    let format = match p.format.as_deref() {
        Some(name) => LogFormat::named(name, p.log_format.as_deref()).map_err(|e| ApiError::BadRequest(e.to_string()))?,
        None => {
            let head = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
            LogFormat::detect(&head).ok_or_else(|| ApiError::BadRequest("cannot tell the log format; name it with ?format=".into()))?
        }
    };
    let bitrates: HashMap<String, f64> = state
        .meta
        .contents(tenant)?
        .into_iter()
        .filter_map(|c| c.bitrate.map(|b| (c.content_id, b)))
        .collect();
    let mut parser = LogParser::new(format);
    // Parsing and enrichment happen before the first await: nothing of the
    // lines (IPs, User-Agents) lives across it.
    let mut batch = {
        let bitrate_of = |c: &str| bitrates.get(c).copied();
        let mut log_ctx = LogContext::new(&ctx.secret, &ctx.settings, &bitrate_of);
        log_ctx.accept = log_ctx.accept.not_before(state.pipeline.tenants().oldest_countable(tenant), &ctx.settings);
        log_ctx.shard = shard;
        state.enricher.read_log_lines(&mut parser, &body, 1, &log_ctx)
    };
    batch.fill_zone_pop(p.zone.as_deref(), p.pop.as_deref());
    let excluded = ctx.exclusions(&batch.requests);
    let accepted = batch.requests.len();
    if accepted > 0 {
        // Counting the record moves the ledger too, so a crash between the
        // WAL and the line below leaves no chunk to be taken twice.
        let import = chunk_of_file
            .iter()
            .map(|(_, file, end)| streamtally_pipeline::ImportPosition {
                file_key: file.clone(),
                end: *end,
            })
            .collect();
        state
            .pipeline
            .submit_requests(&ctx, batch.requests, property, import)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    }
    // The requests are durable: the file is taken up to the chunk's end.
    if let Some((_guard, file, end)) = &chunk_of_file {
        state.meta.set_imported_bytes(tenant, file, *end)?;
    }
    let metrics = state.pipeline.metrics();
    metrics.events_accepted.inc_by(accepted as u64);
    metrics.events_rejected.inc_by(batch.rejected as u64);
    let mut reply = PushReply {
        format: Some(parser.format().name()),
        accepted: accepted as u64,
        rejected: batch.rejected as u64,
        repaired: batch.repaired as u64,
        skipped: batch.skipped as u64,
        excluded: excluded.into_iter().map(|(why, n)| (why.to_string(), n)).collect(),
        errors: batch.first_rejects.into_iter().map(|(line, error, _)| LineError { line, error }).collect(),
        ..PushReply::default()
    };
    let status = if accepted == 0 && batch.rejected > 0 {
        // A refusal says so in a message, as every other refusal does.
        reply.error = Some(format!("all {} lines were rejected", batch.rejected));
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(reply)).into_response())
}

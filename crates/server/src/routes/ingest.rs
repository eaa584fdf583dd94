//! `POST /api/v1/events`: the HTTP beacon source.

use crate::extract::Query;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use streamtally_enrich::{ClientContext, EnrichOptions};
use streamtally_parse::parse_event_batch;
use streamtally_store::Role;

use crate::auth::{authenticate, tenant_of, ClientIp};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IngestParams {
    /// The ingest key, for senders that cannot set headers (`sendBeacon`).
    key: Option<String>,
    /// The sender's clock when it sent the batch (RFC 3339), to correct skewed event times.
    sent_at: Option<String>,
    /// The tenant's name: needed with the server administrator's key; a tenant's own key may name only its own tenant.
    tenant: Option<String>,
    /// Set by the product's own SDK (`/sdk/streamtally.js`): its events get
    /// the SDK's property when they name none (spec §1).
    sdk: Option<String>,
}

/// Which player a batch comes from, for the abuse guard: its User-Agent and
/// the first playback (or device) it names. Hashed, and kept only in memory.
fn client_of(user_agent: Option<&str>, batch: &streamtally_parse::ParsedBatch) -> u64 {
    let first = batch.events.first();
    let playback = first.and_then(|e| e.playback_id.as_deref().or(e.device_id.as_deref())).unwrap_or("");
    let mut h = blake3::Hasher::new();
    h.update(user_agent.unwrap_or("").as_bytes());
    h.update(&[0]);
    h.update(playback.as_bytes());
    u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().unwrap_or_default())
}

#[utoipa::path(
    post,
    path = "/api/v1/events",
    tag = "ingest",
    summary = "Send player events (JSON, a JSON array or NDJSON); durable when answered",
    params(IngestParams),
    request_body(content = String, description = "Events as JSON, a JSON array or NDJSON (spec §1)", content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted: durable", body = Object),
        (status = 400, description = "Some or all events were bad; the good ones are durable (per-event errors)", body = crate::openapi::ErrorBody),
        (status = 401, description = "No key or a key that is not valid", body = crate::openapi::ErrorBody),
        (status = 403, description = "The key lacks the role", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over the limit", body = crate::openapi::ErrorBody),
        (status = 429, description = "Too many requests or failures; see Retry-After", body = crate::openapi::ErrorBody),
        (status = 503, description = "Busy or closing; retry", body = crate::openapi::ErrorBody),
    ),
    security(("ingest_key" = []), ("ingest_query" = []), ("api_key" = [])),
)]
pub async fn post_events(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Query(params): Query<IngestParams>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.abuse.check_ip(ip)?;
    let key = crate::auth::ingest_key(&headers, params.key.clone());
    let principal = authenticate(&state, key, Role::Ingest).await?;
    state.abuse.check_key(ip, &principal.key_id, principal.tenant)?;
    let tenant = tenant_of(&state, &principal, params.tenant.as_deref())?;
    let ctx = state
        .pipeline
        .tenants()
        .get(tenant)
        .ok_or_else(|| ApiError::NotFound("tenant does not exist".into()))?;
    let received_at = chrono::Utc::now().timestamp_micros();
    let user_agent = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    let mut parsed = parse_event_batch(&body, received_at, params.sent_at.as_deref()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    state.abuse.check_client(ip, client_of(user_agent, &parsed), tenant)?;
    // Spec §1: the event's own property, else the key's, else the SDK's, else `Others`.
    if let Some(property) = &principal.property {
        parsed.default_to_key_property(property);
    }
    if params.sdk.is_some() {
        parsed.default_to_sdk_property();
    }
    parsed.refuse_before(ctx.settings.earliest_micros(), &ctx.settings.too_early_reason());
    if let Some(oldest) = ctx.oldest_countable(state.pipeline.tenants().clock(tenant)) {
        parsed.refuse_before(oldest, &ctx.settings.too_late_reason(oldest));
    }
    // The IP and User-Agent live only in this scope; enrichment replaces them.
    let client = ClientContext {
        ip: Some(ip),
        user_agent: user_agent.map(str::to_string),
    };
    let opts = EnrichOptions {
        keep_access_code: ctx.settings.attendance,
        bot_deny: &ctx.settings.bot_deny,
    };
    // Codes and tokens are verified here; what reaches the WAL is the verified
    // code or nothing (spec §6: invalid codes are never reported).
    let carries_access = parsed.events.iter().any(|e| e.access_code.is_some() || e.access_token.is_some());
    let access = if carries_access { Some(state.access.get(tenant)?) } else { None };
    // Events whose code the list rejects are failed attempts of their content
    // (spec §6), once per playback, content and day of a batch.
    let mut failed = std::collections::BTreeSet::new();
    let enriched: Vec<_> = parsed
        .events
        .into_iter()
        .map(|mut ev| {
            if let Some(list) = &access {
                let carried = ev.access_code.is_some() || ev.access_token.is_some();
                ev.access_code = list.resolve(
                    ev.access_token.take().as_deref(),
                    ev.access_code.as_deref(),
                    ev.content_id.as_deref(),
                    received_at,
                );
                if let (true, None, Some(content)) = (carried, &ev.access_code, &ev.content_id) {
                    let day = streamtally_model::format_ts(ev.ts)[..10].to_string();
                    failed.insert((content.clone(), day, ev.playback_id.clone()));
                }
            }
            state.enricher.enrich(ev, &client, &ctx.secret, received_at, opts)
        })
        .collect();
    drop(client);
    let accepted = enriched.len();
    if accepted > 0 {
        state.pipeline.submit(&ctx, enriched).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    }
    failed.retain(|(content, day, playback): &(String, String, Option<String>)| {
        state.access.first_failure(tenant, playback.as_deref().unwrap_or(""), content, day)
    });
    if !failed.is_empty() {
        let meta = state.meta.clone();
        tokio::task::spawn_blocking(move || {
            failed
                .into_iter()
                .try_for_each(|(content, day, _)| meta.count_access_failure(tenant, &content, &day))
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    }
    let metrics = state.pipeline.metrics();
    metrics.events_accepted.inc_by(accepted as u64);
    metrics.events_rejected.inc_by(parsed.errors.len() as u64);
    if !parsed.errors.is_empty() {
        return Err(ApiError::BadEvents {
            accepted,
            errors: parsed.errors,
        });
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "accepted": accepted }))).into_response())
}

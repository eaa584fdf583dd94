//! `GET /healthz` and `GET /metrics` (Prometheus).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::AppState;

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    summary = "Liveness, with ingest and counting progress",
    responses((status = 200, description = "Up", body = Object)),
)]
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let p = state.pipeline.progress();
    let failures = p.checkpoint_failures.load(Ordering::SeqCst);
    let backlog = p.backlog_bytes();
    let limit = p.backlog_limit.load(Ordering::SeqCst);
    let damaged = p.damaged.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Json(json!({
        // Degraded: the store takes no rows (input is kept in the WAL meanwhile,
        // up to the backlog limit; past it ingest is answered 503), or damaged
        // files were put aside at start.
        "status": if failures > 0 || backlog >= limit || !damaged.is_empty() { "degraded" } else { "ok" },
        "store": { "checkpoint_failures": failures },
        "damaged": damaged,
        // Files of facts with a rollup, and settled ones waiting for one (the embedded store's).
        "rollups": state.pipeline.store().rollup_status(),
        "wal": {
            "durable_lsn": p.durable_lsn.load(Ordering::SeqCst),
            "applied_lsn": p.applied_lsn.load(Ordering::SeqCst),
            "checkpoint_lsn": p.checkpoint_lsn.load(Ordering::SeqCst),
            "backlog_bytes": backlog,
            "backlog_limit_bytes": limit,
            "refusing_ingest": backlog >= limit,
        }
    }))
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)),
)]
pub async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.pipeline.metrics().encode(state.pipeline.progress());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

/// Any path no route serves.
pub async fn not_found(uri: axum::http::Uri) -> crate::ApiError {
    crate::ApiError::NotFound(format!("no such endpoint: {}", crate::error::shorten(uri.path())))
}

/// A route asked with a method it does not take.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> crate::ApiError {
    crate::ApiError::MethodNotAllowed(format!("{} does not take {method}", crate::error::shorten(uri.path())))
}

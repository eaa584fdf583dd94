//! `GET /healthz` and `GET /metrics` (Prometheus).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde_json::json;

use crate::AppState;

pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let p = state.pipeline.progress();
    Json(json!({
        "status": "ok",
        "wal": {
            "durable_lsn": p.durable_lsn.load(Ordering::SeqCst),
            "applied_lsn": p.applied_lsn.load(Ordering::SeqCst),
            "checkpoint_lsn": p.checkpoint_lsn.load(Ordering::SeqCst),
        }
    }))
}

pub async fn prometheus(State(state): State<AppState>) -> impl IntoResponse {
    let text = state.pipeline.metrics().encode(state.pipeline.progress());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text)
}

//! The HTTP API: ingest endpoints (the HTTP beacon source), the query API, the
//! admin API and the operational endpoints. Handlers stay thin: they check who
//! is asking, hand the work to the pipeline or the store, and turn the outcome
//! into an answer; every error becomes an HTTP answer in `error.rs`.

mod abuse;
mod access;
mod auth;
mod body_limit;
pub mod dashboard;
mod error;
mod extract;
mod listener;
mod readers;
mod routes;
mod state;
pub mod tls;

use std::future::Future;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, Method};
use axum::routing::{get, post};
use axum::Router;
use tower_http::cors::{Any, CorsLayer};

pub use abuse::RateLimits;
pub use error::ApiError;
pub use listener::ConnectionLimits;
pub use readers::ReaderLimits;
pub use state::{AppState, ServerConfig};

pub fn router(state: AppState) -> Router {
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, HeaderName::from_static("x-ingest-key")]);
    let limit = state.config.max_body_bytes;
    let body_limits = body_limit::BodyLimits {
        max_bytes: limit,
        timeout: state.config.connections.body_timeout,
    };
    Router::new()
        .route("/api/v1/events", post(routes::ingest::post_events))
        .route("/api/v1/logs", post(routes::logs::post_logs))
        .route("/api/v1/logs/imported", get(routes::logs::get_imported))
        .route("/api/v1/cdn", get(routes::cdn::get_cdn))
        .route("/api/v1/metrics", get(routes::query::get_metrics))
        .route("/api/v1/settings", get(routes::admin::get_settings).put(routes::admin::put_settings))
        .route("/api/v1/contents", get(routes::admin::get_contents).put(routes::admin::put_contents))
        .route("/api/v1/tenants", get(routes::admin::get_tenants).post(routes::admin::post_tenant))
        .route("/api/v1/keys", get(routes::admin::get_keys).post(routes::admin::post_key))
        .route("/api/v1/keys/{key_id}", axum::routing::delete(routes::admin::delete_key))
        .route("/api/v1/subjects", axum::routing::delete(routes::admin::delete_subject))
        .route("/api/v1/abuse", get(routes::admin::get_abuse))
        .route("/api/v1/live", get(routes::live::get_live))
        .route("/api/v1/live/stream", get(routes::live::get_stream))
        .route("/api/v1/live/overview", get(routes::live::get_overview))
        .route("/api/v1/live/{content_id}/concurrency", get(routes::live::get_concurrency))
        .route("/api/v1/live/{content_id}/summary", get(routes::live::get_summary))
        .route(
            "/api/v1/access/codes",
            get(routes::access::get_codes)
                .put(routes::access::put_codes)
                .delete(routes::access::delete_codes),
        )
        .route("/api/v1/access/secret", post(routes::access::post_secret))
        .route("/api/v1/access/check", post(routes::access::post_check))
        .route("/api/v1/access/auth", get(routes::access::get_auth))
        .route("/api/v1/access/failures", get(routes::access::get_failures))
        .route("/api/v1/attendance", get(routes::attendance::get_attendance))
        .route("/sdk/streamtally.js", get(routes::sdk::get_sdk))
        .route("/healthz", get(routes::ops::healthz))
        .route("/metrics", get(routes::ops::prometheus))
        .merge(dashboard::routes())
        .fallback(routes::ops::not_found)
        .method_not_allowed_fallback(routes::ops::method_not_allowed)
        // Extractors refuse bodies over 2 MB by default: raise that to the configured limit
        // (`body_limit::read_body` has answered larger bodies with 413 already).
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(body_limits, body_limit::read_body))
        // A signed-in dashboard's API reads carry its session's key.
        .layer(axum::middleware::from_fn_with_state(state.clone(), dashboard::session_reads))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::client_scope))
        .layer(cors)
        .with_state(state)
}

/// Serves until `shutdown` resolves, then lets open requests finish.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let abuse = state.abuse.clone();
    let live_share = state.live_share.clone();
    let housekeeping = tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            every.tick().await;
            abuse.housekeeping();
            live_share.housekeeping();
        }
    });
    let closing = state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    let limits = state.config.connections;
    let tls = state.config.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let served = listener::serve(listener, router(state), limits, tls, shutdown).await;
    housekeeping.abort();
    served
}

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
mod openapi;
mod readers;
mod routes;
mod state;
pub mod tls;

use std::future::Future;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, Method};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tower_http::cors::{Any, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
        directory_bytes: routes::users::DIRECTORY_MAX_BYTES.max(limit),
        directory_uploads: std::sync::Arc::new(tokio::sync::Semaphore::new(2)),
        timeout: state.config.connections.body_timeout,
    };
    let (api, doc) = api_routes().split_for_parts();
    // Written once: the document does not change while the server runs
    // (the dashboard builds a router per page; it reuses the text).
    static DOC: std::sync::OnceLock<std::sync::Arc<str>> = std::sync::OnceLock::new();
    let doc = DOC
        .get_or_init(|| doc.to_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")).into())
        .clone();
    Router::new()
        .merge(api)
        .route("/api/v1/openapi.json", get(move || openapi_json(doc.clone())))
        .merge(dashboard::routes())
        .fallback(routes::ops::not_found)
        .method_not_allowed_fallback(routes::ops::method_not_allowed)
        // Extractors refuse bodies over 2 MB by default: raise that to the configured limit
        // (`body_limit::read_body` has answered larger bodies with 413 already).
        .layer(DefaultBodyLimit::max(routes::users::DIRECTORY_MAX_BYTES.max(limit)))
        .layer(axum::middleware::from_fn_with_state(body_limits, body_limit::read_body))
        // A signed-in dashboard's API reads carry its session's key.
        .layer(axum::middleware::from_fn_with_state(state.clone(), dashboard::session_reads))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::client_scope))
        .layer(cors)
        .with_state(state)
}

/// Every API route, each described by its handler's `#[utoipa::path]`: the
/// router and the OpenAPI document come from this one list.
fn api_routes() -> OpenApiRouter<AppState> {
    use routes::*;
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(ingest::post_events))
        .routes(routes!(logs::post_logs))
        .routes(routes!(logs::get_imported))
        .routes(routes!(cdn::get_cdn))
        .routes(routes!(monthly::get_monthly))
        .routes(routes!(retention::get_retention))
        .routes(routes!(query::get_metrics))
        .routes(routes!(query::get_qoe))
        .routes(routes!(admin::get_settings, admin::put_settings))
        .routes(routes!(admin::get_contents, admin::put_contents))
        .routes(routes!(admin::get_tenants, admin::post_tenant))
        .routes(routes!(admin::get_keys, admin::post_key))
        .routes(routes!(admin::delete_key))
        .routes(routes!(accounts::get_accounts, accounts::post_account))
        .routes(routes!(accounts::delete_account))
        .routes(routes!(users::put_users))
        .routes(routes!(users::get_user, users::delete_user))
        .routes(routes!(activity::get_activity))
        .routes(routes!(users::get_lookups))
        .routes(routes!(users::get_registrations))
        .routes(routes!(admin::delete_subject))
        .routes(routes!(admin::get_abuse))
        .routes(routes!(live::get_live))
        .routes(routes!(live::get_stream))
        .routes(routes!(live::get_overview))
        .routes(routes!(live::get_concurrency))
        .routes(routes!(live::get_summary))
        .routes(routes!(access::get_codes, access::put_codes, access::delete_codes))
        .routes(routes!(access::post_secret))
        .routes(routes!(access::post_check))
        .routes(routes!(access::get_auth))
        .routes(routes!(access::get_failures))
        .routes(routes!(attendance::get_attendance))
        .routes(routes!(sdk::get_sdk))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::prometheus))
}

/// `GET /api/v1/openapi.json`: the document of [`api_routes`].
async fn openapi_json(doc: std::sync::Arc<str>) -> axum::response::Response {
    ([(header::CONTENT_TYPE, "application/json")], doc.to_string()).into_response()
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

use std::sync::Arc;

use streamtally_enrich::Enricher;

use crate::abuse::{AbuseGuard, RateLimits};
use crate::access::AccessLists;
use crate::listener::ConnectionLimits;
use crate::readers::{LiveShare, QueryGate, ReaderLimits, StreamSlots};
use streamtally_pipeline::Pipeline;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body taken (413 above).
    pub max_body_bytes: usize,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    pub rate_limits: RateLimits,
    pub connections: ConnectionLimits,
    pub readers: ReaderLimits,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with this configuration (`tls.rs`).
    pub tls: Option<std::sync::Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 1024 * 1024,
            trust_forwarded_for: false,
            rate_limits: RateLimits::default(),
            connections: ConnectionLimits::default(),
            readers: ReaderLimits::default(),
            tls: None,
        }
    }
}

/// What every handler may use; nothing else is shared.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    /// The metadata (tenants, keys, settings, catalogue, access lists, abuse table).
    pub meta: Arc<streamtally_store::Meta>,
    pub enricher: Arc<Enricher>,
    pub config: Arc<ServerConfig>,
    pub abuse: Arc<AbuseGuard>,
    pub access: Arc<AccessLists>,
    /// Turns true when the server begins to shut down: endless responses
    /// (the SSE stream) end then, so the graceful shutdown can finish.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
    /// Files being imported over `POST /api/v1/logs?file=…`: one chunk of a
    /// file at a time, so a chunk is never taken twice.
    pub importing: FilesUnderImport,
    /// Open live streams per key and tenant.
    pub streams: Arc<StreamSlots>,
    /// Live figures shared by a tenant's subscribers.
    pub live_share: Arc<LiveShare>,
    /// Queries of each tenant, a few at a time.
    pub queries: Arc<QueryGate>,
    /// Signed-in dashboard browsers (`dashboard/session.rs`).
    pub sessions: Arc<crate::dashboard::Sessions>,
}

/// (tenant, file key) of the files a chunk is being taken of.
pub type FilesUnderImport = Arc<std::sync::Mutex<std::collections::HashSet<(streamtally_model::TenantId, String)>>>;

impl AppState {
    pub fn new(pipeline: Arc<Pipeline>, enricher: Enricher, config: ServerConfig) -> AppState {
        let abuse = Arc::new(AbuseGuard::new(config.rate_limits, pipeline.meta().clone()));
        let access = Arc::new(AccessLists::new(pipeline.meta().clone()));
        AppState {
            sessions: Arc::default(),
            meta: pipeline.meta().clone(),
            streams: Arc::default(),
            live_share: Arc::default(),
            queries: Arc::new(QueryGate::new(config.readers.queries_per_tenant)),
            closing: Arc::new(tokio::sync::watch::Sender::new(false)),
            importing: Arc::default(),
            access,
            pipeline,
            enricher: Arc::new(enricher),
            config: Arc::new(config),
            abuse,
        }
    }
}

use std::sync::Arc;

use streamtally_enrich::Enricher;
use streamtally_pipeline::Pipeline;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body taken (413 above).
    pub max_body_bytes: usize,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_body_bytes: 1024 * 1024,
            trust_forwarded_for: false,
        }
    }
}

/// What every handler may use; nothing else is shared.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Arc<Pipeline>,
    pub enricher: Arc<Enricher>,
    pub config: Arc<ServerConfig>,
}

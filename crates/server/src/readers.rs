//! Readers share the machine: one reader (or tenant) must not take the CPU
//! from the rest. Three guards:
//! - live streams (SSE) are capped per key and per tenant ([`StreamSlots`]);
//! - every subscriber of a tenant's live figures in the same second gets the
//!   same computation ([`LiveShare`]);
//! - queries run at most a few at a time per tenant; the others wait their
//!   turn, or are answered `503` after [`QUERY_WAIT`] ([`QueryGate`]).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use streamtally_model::TenantId;
use tokio::sync::Semaphore;

use crate::ApiError;

/// How long a query waits for its tenant's turn.
pub const QUERY_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
pub struct ReaderLimits {
    pub streams_per_key: usize,
    pub streams_per_tenant: usize,
    pub queries_per_tenant: usize,
}

impl Default for ReaderLimits {
    fn default() -> Self {
        ReaderLimits {
            streams_per_key: 20,
            streams_per_tenant: 100,
            // On two cores, two of one tenant's queries at once leave room for the others.
            queries_per_tenant: 2,
        }
    }
}

#[derive(Default)]
struct Open {
    per_key: HashMap<String, usize>,
    per_tenant: HashMap<TenantId, usize>,
}

/// Live streams open, per key and per tenant.
#[derive(Default)]
pub struct StreamSlots {
    open: Arc<Mutex<Open>>,
}

/// One open live stream; its place is given back when the stream ends.
pub struct StreamSlot {
    open: Arc<Mutex<Open>>,
    key_id: String,
    tenant: TenantId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.per_key.get_mut(&self.key_id) {
            *n -= 1;
            if *n == 0 {
                open.per_key.remove(&self.key_id);
            }
        }
        if let Some(n) = open.per_tenant.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                open.per_tenant.remove(&self.tenant);
            }
        }
    }
}

impl StreamSlots {
    pub fn take(&self, key_id: &str, tenant: TenantId, limits: &ReaderLimits) -> Result<StreamSlot, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let by_key = open.per_key.get(key_id).copied().unwrap_or(0);
        if by_key >= limits.streams_per_key {
            return Err(ApiError::TooManyRequests { retry_after: 10 });
        }
        let by_tenant = open.per_tenant.get(&tenant).copied().unwrap_or(0);
        if by_tenant >= limits.streams_per_tenant {
            return Err(ApiError::TooManyRequests { retry_after: 10 });
        }
        *open.per_key.entry(key_id.to_string()).or_insert(0) += 1;
        *open.per_tenant.entry(tenant).or_insert(0) += 1;
        Ok(StreamSlot {
            open: self.open.clone(),
            key_id: key_id.to_string(),
            tenant,
        })
    }
}

/// (tenant, time zone, minutes back) of one live computation.
type LiveKey = (TenantId, String, i64);
/// The second a computation was made in, and its figures.
type Computed = Option<(i64, Arc<Value>)>;

/// The live figures of each tenant, computed once per second for all its subscribers.
#[derive(Default)]
pub struct LiveShare {
    entries: Mutex<HashMap<LiveKey, Arc<tokio::sync::Mutex<Computed>>>>,
}

impl LiveShare {
    /// The figures of `second`: computed by the first subscriber to ask,
    /// while the others of that second wait for and share them.
    pub async fn get<F, Fut>(&self, key: LiveKey, second: i64, compute: F) -> Result<Arc<Value>, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value, ApiError>>,
    {
        let entry = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            entries.entry(key).or_default().clone()
        };
        let mut slot = entry.lock().await;
        if let Some((at, v)) = slot.as_ref() {
            if *at == second {
                return Ok(v.clone());
            }
        }
        let v = Arc::new(compute().await?);
        *slot = Some((second, v.clone()));
        Ok(v)
    }

    /// Forgets computations nobody subscribes to any more.
    pub fn housekeeping(&self) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, e| Arc::strong_count(e) > 1);
    }
}

/// At most `queries_per_tenant` queries of one tenant at a time.
pub struct QueryGate {
    per_tenant: Mutex<HashMap<TenantId, Arc<Semaphore>>>,
    permits: usize,
}

impl QueryGate {
    pub fn new(permits: usize) -> Self {
        QueryGate {
            per_tenant: Mutex::new(HashMap::new()),
            permits: permits.max(1),
        }
    }

    /// Runs `query` when its tenant has a free place.
    pub async fn run<T>(&self, tenant: TenantId, query: impl Future<Output = Result<T, ApiError>>) -> Result<T, ApiError> {
        let gate = {
            let mut per_tenant = self.per_tenant.lock().unwrap_or_else(|p| p.into_inner());
            per_tenant.entry(tenant).or_insert_with(|| Arc::new(Semaphore::new(self.permits))).clone()
        };
        let _turn = match tokio::time::timeout(QUERY_WAIT, gate.acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                return Err(ApiError::Unavailable(format!(
                    "this tenant's queries are busy; none finished within {} s, retry later",
                    QUERY_WAIT.as_secs()
                )))
            }
        };
        query.await
    }
}

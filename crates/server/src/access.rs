//! Each tenant's access list, loaded from the metadata and cached: checks and
//! every event carrying a code or token use it. Changes through the API
//! invalidate it at once; changes by the CLI arrive within [`REFRESH`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use streamtally_access::AccessList;
use streamtally_model::TenantId;
use streamtally_store::{Meta, MetaError};

const REFRESH: Duration = Duration::from_secs(10);

pub struct AccessLists {
    meta: Arc<Meta>,
    cache: RwLock<HashMap<TenantId, (Arc<AccessList>, Instant)>>,
    /// Playbacks already counted as a failed attempt of a content on a day:
    /// a player repeating a bad code in every heartbeat attempts once.
    failed: Mutex<HashSet<(TenantId, String, String, String)>>,
}

/// Failed playbacks remembered at most; past this the memory starts afresh
/// (a playback may then count a second attempt).
const FAILED_MEMORY: usize = 100_000;

impl AccessLists {
    pub fn new(meta: Arc<Meta>) -> Self {
        AccessLists {
            meta,
            cache: RwLock::new(HashMap::new()),
            failed: Mutex::new(HashSet::new()),
        }
    }

    pub fn get(&self, tenant: TenantId) -> Result<Arc<AccessList>, MetaError> {
        if let Some((list, at)) = self.cache.read().unwrap_or_else(|p| p.into_inner()).get(&tenant) {
            if at.elapsed() < REFRESH {
                return Ok(list.clone());
            }
        }
        let list = Arc::new(AccessList::new(
            self.meta.access_codes(tenant)?,
            self.meta.access_secret(tenant)?,
            &self.meta.device_secret(tenant)?,
        ));
        self.cache
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(tenant, (list.clone(), Instant::now()));
        Ok(list)
    }

    /// True the first time a playback's rejected code is seen for a content on a day.
    pub fn first_failure(&self, tenant: TenantId, playback: &str, content: &str, day: &str) -> bool {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if failed.len() >= FAILED_MEMORY {
            failed.clear();
        }
        failed.insert((tenant, playback.to_string(), content.to_string(), day.to_string()))
    }

    pub fn invalidate(&self, tenant: TenantId) {
        self.cache.write().unwrap_or_else(|p| p.into_inner()).remove(&tenant);
    }
}

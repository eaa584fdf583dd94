//! Each tenant's access list, loaded from the metadata and cached: checks and
//! every event carrying a code or token use it. Changes through the API
//! invalidate it at once; changes by the CLI arrive within [`REFRESH`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use streamtally_access::AccessList;
use streamtally_model::TenantId;
use streamtally_store::{Meta, MetaError};

const REFRESH: Duration = Duration::from_secs(10);

pub struct AccessLists {
    meta: Arc<Meta>,
    cache: RwLock<HashMap<TenantId, (Arc<AccessList>, Instant)>>,
}

impl AccessLists {
    pub fn new(meta: Arc<Meta>) -> Self {
        AccessLists {
            meta,
            cache: RwLock::new(HashMap::new()),
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

    pub fn invalidate(&self, tenant: TenantId) {
        self.cache.write().unwrap_or_else(|p| p.into_inner()).remove(&tenant);
    }
}

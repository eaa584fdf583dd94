//! Per-tenant context the pipeline needs at hand: hashing secret and settings,
//! cached and refreshed, so changes made by the CLI reach a running server.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use streamtally_enrich::DeviceSecret;
use streamtally_model::{Settings, TenantId};
use streamtally_store::Meta;

const REFRESH: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct TenantContext {
    pub id: TenantId,
    pub name: String,
    pub secret: DeviceSecret,
    pub settings: Settings,
}

pub struct Tenants {
    meta: Arc<Meta>,
    cache: RwLock<HashMap<TenantId, (Arc<TenantContext>, Instant)>>,
}

impl Tenants {
    pub fn new(meta: Arc<Meta>) -> Self {
        Tenants {
            meta,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The tenant's context; `None` when the tenant does not exist.
    pub fn get(&self, tenant: TenantId) -> Option<Arc<TenantContext>> {
        if let Some((ctx, at)) = self.cache.read().unwrap_or_else(|p| p.into_inner()).get(&tenant) {
            if at.elapsed() < REFRESH {
                return Some(ctx.clone());
            }
        }
        let loaded = (|| {
            let t = self.meta.tenant_by_id(tenant).ok()?;
            let secret = DeviceSecret::from_bytes(self.meta.device_secret(tenant).ok()?);
            let settings = match self.meta.settings(tenant) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(tenant, error = %e, "stored settings are invalid; using defaults");
                    Settings::default()
                }
            };
            Some(Arc::new(TenantContext {
                id: t.id,
                name: t.name,
                secret,
                settings,
            }))
        })();
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Some(ctx) => {
                cache.insert(tenant, (ctx.clone(), Instant::now()));
                Some(ctx)
            }
            // A passing database error keeps the last known context.
            None => cache.get(&tenant).map(|(c, _)| c.clone()),
        }
    }

    /// Forgets a tenant's cached context (after its settings changed).
    pub fn invalidate(&self, tenant: TenantId) {
        self.cache.write().unwrap_or_else(|p| p.into_inner()).remove(&tenant);
    }
}

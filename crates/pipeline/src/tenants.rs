//! Per-tenant context the pipeline needs at hand: hashing secret and settings,
//! cached and refreshed, so changes made by the CLI reach a running server.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use streamtally_enrich::DeviceSecret;
use streamtally_model::{Micros, Settings, TenantId};
use streamtally_store::Meta;

const REFRESH: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct TenantContext {
    pub id: TenantId,
    pub name: String,
    pub secret: DeviceSecret,
    pub settings: Settings,
    /// The settings as text pairs, as WAL records carry them.
    pub settings_pairs: Vec<(String, String)>,
}

impl TenantContext {
    /// How many of `requests` each log filter keeps from the audience under
    /// this tenant's settings (the engine's own rules, `unify::exclusions`),
    /// for a push reply or an import summary before the engine counted them.
    pub fn exclusions<'a>(&self, requests: impl IntoIterator<Item = &'a streamtally_model::EnrichedRequest>) -> streamtally_unify::Exclusions {
        streamtally_unify::exclusions(requests, &streamtally_unify::EngineSettings::from(&self.settings))
    }

    /// The oldest input time that can still be counted exactly, given the
    /// tenant's clock (spec §8a); `None` before its first input.
    pub fn oldest_countable(&self, clock: Option<Micros>) -> Option<Micros> {
        clock.map(|c| c.saturating_sub(streamtally_model::duration_micros(self.settings.allowed_lateness)))
    }
}

pub struct Tenants {
    meta: Arc<Meta>,
    cache: RwLock<HashMap<TenantId, (Arc<TenantContext>, Instant)>>,
    /// Each tenant's counting clock, as the engine last published it.
    clocks: RwLock<HashMap<TenantId, Micros>>,
}

impl Tenants {
    pub fn new(meta: Arc<Meta>) -> Self {
        Tenants {
            meta,
            cache: RwLock::new(HashMap::new()),
            clocks: RwLock::new(HashMap::new()),
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
                settings_pairs: settings.to_pairs().into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                settings,
            }))
        })();
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        match loaded {
            Some(ctx) => {
                cache.insert(tenant, (ctx.clone(), Instant::now()));
                Some(ctx)
            }
            // A passing database error keeps the last known context, asked
            // for again after REFRESH, not by every request meanwhile.
            None => cache.get_mut(&tenant).map(|(c, at)| {
                *at = Instant::now();
                c.clone()
            }),
        }
    }

    /// The metadata the contexts come from.
    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The tenant's counting clock (its newest input time counted), if it has one.
    pub fn clock(&self, tenant: TenantId) -> Option<Micros> {
        self.clocks.read().unwrap_or_else(|p| p.into_inner()).get(&tenant).copied()
    }

    /// The oldest input time of the tenant that can still be counted exactly.
    pub fn oldest_countable(&self, tenant: TenantId) -> Option<Micros> {
        self.get(tenant)?.oldest_countable(self.clock(tenant))
    }

    /// Called after every record: the write lock is taken only when the clock moved.
    pub(crate) fn set_clock(&self, tenant: TenantId, clock: Micros) {
        if self.clock(tenant) != Some(clock) {
            self.clocks.write().unwrap_or_else(|p| p.into_inner()).insert(tenant, clock);
        }
    }

    /// Forgets a tenant's cached context (after its settings changed).
    pub fn invalidate(&self, tenant: TenantId) {
        self.cache.write().unwrap_or_else(|p| p.into_inner()).remove(&tenant);
    }
}

//! The engine: every tenant's state, the clock and lateness rule that admit
//! inputs (spec §8a), and one entry point per WAL record.

use hashbrown::HashMap as FastMap;
use serde::{Deserialize, Serialize};
use streamtally_model::{EnrichedEvent, EnrichedRequest, Fact, Micros, TenantId};

use crate::cdn::CdnTally;
use crate::filters::{Dropped, Exclusions};
use crate::state::TenantState;
use crate::EngineSettings;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Engine {
    tenants: FastMap<TenantId, TenantState>,
    #[serde(skip)]
    settings: FastMap<TenantId, EngineSettings>,
    /// Events of the last record that named no user but were counted for
    /// their playback's (spec §8b): (index in the record, user).
    #[serde(skip)]
    carried: Vec<(usize, String)>,
    #[serde(skip)]
    last_carried: Option<String>,
}

impl Engine {
    pub fn new() -> Self {
        Engine::default()
    }

    /// Sets a tenant's windows; inputs after this call use them.
    pub fn set_settings(&mut self, tenant: TenantId, settings: EngineSettings) {
        self.settings.insert(tenant, settings);
    }

    /// Number of keys held, for the state-size gauge and the boundedness test.
    pub fn state_keys(&self) -> usize {
        self.tenants.values().map(TenantState::keys).sum()
    }

    /// About how many bytes of memory the state takes (for the state-size test and gauge).
    pub fn state_bytes(&self) -> usize {
        self.tenants.values().map(TenantState::approx_bytes).sum()
    }

    /// The tenant's clock: the newest input time counted (spec §8a).
    pub fn clock(&self, tenant: TenantId) -> Option<Micros> {
        self.tenants.get(&tenant).map(|s| s.clock)
    }

    /// Every tenant's clock, for whoever refuses late input before the WAL.
    pub fn clocks(&self) -> impl Iterator<Item = (TenantId, Micros)> + '_ {
        self.tenants.iter().map(|(t, s)| (*t, s.clock))
    }

    fn tenant(&mut self, tenant: TenantId) -> (EngineSettings, &mut TenantState) {
        let settings = self.settings.get(&tenant).copied().unwrap_or_default();
        (settings, self.tenants.entry(tenant).or_default())
    }

    /// Feeds one player event; the facts it makes true are pushed to `out`.
    /// A late event (spec §8a) counts nothing.
    pub fn apply_event<'a>(&mut self, tenant: TenantId, lsn: u64, input: &'a EnrichedEvent, out: &mut Vec<Fact<'a>>) -> Result<(), Dropped> {
        let (settings, state) = self.tenant(tenant);
        state.admit(input.event.ts, input.received_at, &settings)?;
        let carried = state.count_event(&settings, lsn, input, out);
        state.after_input(&settings);
        self.last_carried = carried;
        if input.client.bot {
            return Err(Dropped::Bot);
        }
        Ok(())
    }

    /// Feeds one log request received at `received_at` (spec §3, §4, §5):
    /// those passing the log filters count as audio-log, video-log or
    /// download. Returns why it counts for no audience, if it does not. (Its
    /// CDN traffic is summed by a [`CdnTally`], see [`Engine::apply_record`].)
    pub fn apply_request<'a>(
        &mut self,
        tenant: TenantId,
        lsn: u64,
        received_at: Micros,
        (r, property): (&'a EnrichedRequest, &'a str),
        out: &mut Vec<Fact<'a>>,
    ) -> Result<(), Dropped> {
        let (settings, state) = self.tenant(tenant);
        state.admit(r.ts, received_at, &settings)?;
        let verdict = state.count_request(&settings, lsn, (r, property), out);
        state.after_input(&settings);
        verdict
    }

    /// Counts one WAL record of a tenant: its player events, its log
    /// requests, and their CDN traffic (every admitted request, bots
    /// included). Returns how many inputs each rule kept from the audience.
    pub fn apply_record<'a>(
        &mut self,
        tenant: TenantId,
        lsn: u64,
        received_at: Micros,
        (events, requests, property): (&'a [EnrichedEvent], &'a [EnrichedRequest], Option<&'a str>),
        out: &mut Vec<Fact<'a>>,
    ) -> Exclusions {
        let property = property.unwrap_or(streamtally_model::PROPERTY_OTHERS);
        let mut excluded = Exclusions::new();
        self.carried.clear();
        for (i, ev) in events.iter().enumerate() {
            self.last_carried = None;
            if let Err(why) = self.apply_event(tenant, lsn, ev, out) {
                *excluded.entry(why.as_str()).or_default() += 1;
            }
            if let Some(user) = self.last_carried.take() {
                self.carried.push((i, user));
            }
        }
        let mut cdn = CdnTally::default();
        for r in requests {
            match self.apply_request(tenant, lsn, received_at, (r, property), out) {
                Ok(()) => cdn.add(r),
                Err(Dropped::Late) => {
                    *excluded.entry(Dropped::Late.as_str()).or_default() += 1;
                }
                Err(why) => {
                    cdn.add(r);
                    *excluded.entry(why.as_str()).or_default() += 1;
                }
            }
        }
        cdn.drain_into(lsn, property, out);
        excluded
    }

    /// Erasure (spec §8): playbacks forget `user`, so no snapshot keeps it and
    /// no later fact carries it unless a new event names it again.
    pub fn forget_user(&mut self, tenant: TenantId, user: &str) {
        if let Some(state) = self.tenants.get_mut(&tenant) {
            for pb in state.playbacks.values_mut().filter(|p| p.user().map(String::as_str) == Some(user)) {
                let more = pb.more();
                more.user = None;
                more.first_unowned = None;
            }
        }
    }

    /// The events of the last [`Engine::apply_record`] that named no user and
    /// were counted for their playback's (spec §8b), by index: their raw
    /// events are stored with that user, as their facts are.
    pub fn take_carried_users(&mut self) -> Vec<(usize, String)> {
        std::mem::take(&mut self.carried)
    }

    /// Serialises the whole state (settings excluded: they come with each record).
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        Ok(postcard::to_stdvec(self)?)
    }

    pub fn restore(bytes: &[u8]) -> Result<Engine, SnapshotError> {
        Ok(postcard::from_bytes(bytes)?)
    }

    /// Restores a snapshot of the version 2 shape, upgraded to this one.
    pub fn restore_v2(bytes: &[u8]) -> Result<Engine, SnapshotError> {
        Ok(postcard::from_bytes::<crate::legacy::EngineV2>(bytes)?.into())
    }

    /// Restores a snapshot of the version 3 shape, upgraded to this one.
    pub fn restore_v3(bytes: &[u8]) -> Result<Engine, SnapshotError> {
        Ok(postcard::from_bytes::<crate::legacy::EngineV3>(bytes)?.into())
    }

    /// Restores a snapshot of the version 4 shape, upgraded to this one.
    pub fn restore_v4(bytes: &[u8]) -> Result<Engine, SnapshotError> {
        Ok(postcard::from_bytes::<crate::legacy::EngineV4>(bytes)?.into())
    }

    pub(crate) fn from_tenants(tenants: FastMap<TenantId, TenantState>) -> Engine {
        Engine {
            tenants,
            settings: FastMap::default(),
            carried: Vec::new(),
            last_carried: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("engine snapshot cannot be encoded or decoded: {0}")]
pub struct SnapshotError(#[from] postcard::Error);

//! The counting engine: a stateful, windowed processor that turns enriched
//! inputs into additive [`Fact`](streamtally_model::Fact)s at the moment they
//! become true (spec §3–§6). All counting lives here.
//!
//! Invariants:
//! - Deterministic: facts depend only on each device's own inputs in order,
//!   never on batch boundaries, wall-clock time, hash-map order or how
//!   different devices' inputs interleave (spec §8a). Windows are measured in
//!   event time; state is swept by each tenant's clock (its newest input time)
//!   only once no admissible input could still change what it decides.
//! - Late input is refused, not miscounted: an input further behind the clock
//!   than `allowed_lateness` counts nothing and is reported as [`Dropped::Late`].
//! - Bounded: state lives for its window plus `allowed_lateness`.
//! - Snapshot-able: the whole state serialises, so a checkpoint can store it next
//!   to the facts it has produced and replay can resume exactly there.
//!
//! Rooms: `engine` (tenants, clock, one entry point per record), `state`
//! (windows and sweeps), `player` and `logs` (the two input paths), `filters`
//! (log filters), `cdn` (CDN traffic sums), `windows` (small structures).
//!
//! The engine knows nothing of HTTP, the WAL or storage.

mod cdn;
mod engine;
mod filters;
mod legacy;
mod logs;
mod player;
mod qoe;
mod settings;
mod state;
mod windows;

pub use cdn::{CdnTally, CDN_BUCKET};
pub use engine::{Engine, SnapshotError};
pub use filters::{exclusions, log_filter, source_of, Dropped, Exclusions};
pub use settings::EngineSettings;

#[cfg(test)]
pub(crate) mod tests_support {
    use streamtally_model::{ClientFamily, DeviceKey, EnrichedEvent, EventType, Geo, Micros, PlayerEvent};

    pub const SEC: Micros = streamtally_model::MICROS_PER_SEC;
    pub fn recent(minute: i64) -> crate::windows::RecentMinutes {
        crate::windows::RecentMinutes::new(minute)
    }

    /// A player event of `device`, received when it was sent.
    pub fn ev(kind: EventType, ts: Micros, pid: &str, content: &str, device: u64) -> EnrichedEvent {
        EnrichedEvent {
            received_at: ts,
            event: PlayerEvent::new(kind, ts, pid, content),
            device_key: DeviceKey(device),
            referrer_host: None,
            client: ClientFamily::default(),
            geo: Geo::default(),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod order_tests;

#[cfg(test)]
mod owner_tests;

#[cfg(test)]
mod coverage_tests;

#[cfg(test)]
mod qoe_tests;

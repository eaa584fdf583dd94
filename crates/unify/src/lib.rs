//! The counting engine: a stateful, windowed processor that turns enriched
//! inputs into additive [`Fact`]s at the moment they become true (spec §3, §4).
//!
//! Invariants:
//! - Deterministic: facts depend only on the sequence of inputs, never on batch
//!   boundaries, wall-clock time or hash-map order. Windows are measured in event
//!   time; state expires by each tenant's watermark (its latest event time).
//! - Bounded: a key's state is dropped once no later input can change what it
//!   decides ([`LATENESS`] after its window closes).
//! - Snapshot-able: the whole state serialises, so a checkpoint can store it next
//!   to the facts it has produced and replay can resume exactly there.
//!
//! The engine knows nothing of HTTP, the WAL or storage.

mod engine;

pub use engine::{exclusions, log_filter, source_of, CdnTally, Dropped, Engine, EngineSettings, SnapshotError, CDN_BUCKET, LATENESS};

#[cfg(test)]
mod tests;

//! The engine thread: applies each durable WAL record to the counting engine
//! and hands its facts (and raw events) to the store; between records it
//! begins checkpoints when due, runs erasures in order, and applies retention.
//! Recovery replays the WAL through the same [`apply_record`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use streamtally_model::{Fact, Settings, TenantId};
use streamtally_store::{DataFolder, FactStore, Meta};
use streamtally_unify::{Engine, EngineSettings};
use streamtally_wal::Wal;

use crate::checkpoint::{self, erase_now, Checkpoints};
use crate::retention::{apply_retention, RETENTION_EVERY};
use crate::{PipelineConfig, PipelineError, PipelineMetrics, Progress, Tenants, WalRecord, Work};

/// Facts borrow the record they come from, so their vector cannot outlive
/// one; its memory can: an empty vector handed on to the next record keeps
/// its allocation (a collect into a type of the same layout reuses it), and
/// pushing facts then touches no fresh pages.
pub(crate) fn recycle<'b>(mut facts: Vec<Fact<'_>>) -> Vec<Fact<'b>> {
    facts.clear();
    // `filter_map` is what changes the lifetime: `filter` would keep the type.
    #[allow(clippy::unnecessary_filter_map)]
    facts.into_iter().filter_map(|_| None).collect()
}

/// The settings each record names, parsed once per change rather than per record.
#[derive(Default)]
pub(crate) struct RecordSettings {
    parsed: std::collections::HashMap<TenantId, (Vec<(String, String)>, Settings)>,
}

impl RecordSettings {
    /// The settings `record` was accepted under; for records that name none
    /// (older versions), the tenant's current ones.
    fn of(&mut self, record: &WalRecord, tenants: &Tenants) -> Settings {
        if record.settings.is_empty() {
            return tenants.get(record.tenant).map(|c| c.settings.clone()).unwrap_or_default();
        }
        if let Some((pairs, settings)) = self.parsed.get(&record.tenant) {
            if *pairs == record.settings {
                return settings.clone();
            }
        }
        let settings = Settings::from_pairs(record.settings.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap_or_else(|e| {
            tracing::warn!(tenant = record.tenant, error = %e, "a WAL record's settings are invalid; using defaults");
            Settings::default()
        });
        self.parsed.insert(record.tenant, (record.settings.clone(), settings.clone()));
        settings
    }
}

/// Where the engine thread keeps what applying records needs between records.
#[derive(Default)]
pub(crate) struct ApplyScratch {
    /// The memory facts are gathered in, kept from record to record.
    pub facts: Vec<Fact<'static>>,
    pub settings: RecordSettings,
    /// Set when the store refused facts or events (see [`Checkpoints`]).
    pub store_failed: Arc<AtomicBool>,
}

/// Applies one decoded record to the engine and the store.
pub(crate) fn apply_record(
    engine: &mut Engine,
    store: &dyn FactStore,
    tenants: &Tenants,
    lsn: u64,
    record: WalRecord,
    metrics: &PipelineMetrics,
    scratch: &mut ApplyScratch,
) {
    let settings = scratch.settings.of(&record, tenants);
    engine.set_settings(record.tenant, EngineSettings::from(&settings));
    let mut facts = recycle(std::mem::take(&mut scratch.facts));
    let excluded = engine.apply_record(
        record.tenant,
        lsn,
        record.received_at,
        (&record.events, &record.requests, record.property.as_deref()),
        &mut facts,
    );
    if let Some(late) = excluded.get(streamtally_unify::Dropped::Late.as_str()) {
        metrics.inputs_late.inc_by(*late);
        tracing::warn!(tenant = record.tenant, lsn, late, "inputs older than allowed_lateness were not counted");
    }
    metrics.facts_emitted.inc_by(facts.len() as u64);
    if let Err(e) = store.append_facts(record.tenant, &facts) {
        scratch.store_failed.store(true, Ordering::SeqCst);
        tracing::error!(tenant = record.tenant, lsn, error = %e, "the store refused facts; checkpoints stop so the WAL keeps their inputs");
    }
    scratch.facts = recycle(facts);
    // The files this record's requests came from are taken up to here: a
    // chunk sent again (after a crash, before the sender heard of it) is
    // then a duplicate. Replayed records move it again, to the same place.
    for at in &record.import {
        if let Err(e) = tenants.meta().set_imported_bytes(record.tenant, &at.file_key, at.end) {
            tracing::warn!(tenant = record.tenant, lsn, error = %e, "the import ledger was not moved; a resent chunk may count twice");
        }
    }
    // Spec §8b: raw events that named no user are stored with the user their
    // playback named before, as their facts were counted.
    let mut record = record;
    for (i, user) in engine.take_carried_users() {
        if let Some(e) = record.events.get_mut(i) {
            e.event.user_id = Some(user);
        }
    }
    if let Some(clock) = engine.clock(record.tenant) {
        tenants.set_clock(record.tenant, clock);
    }
    if settings.store_raw_events {
        if let Err(e) = store.append_events(record.tenant, record.events.into_iter().map(|e| (lsn, e)).collect()) {
            scratch.store_failed.store(true, Ordering::SeqCst);
            tracing::error!(tenant = record.tenant, lsn, error = %e, "the store refused raw events; checkpoints stop so the WAL keeps them");
        }
    }
}

/// Loads the last snapshot and replays the WAL after it into `store` (memory).
/// Returns the engine and the last LSN seen.
pub(crate) fn recover(
    store: &dyn FactStore,
    folder: &DataFolder,
    tenants: &Tenants,
    wal_records: Vec<(u64, Vec<u8>)>,
    metrics: &PipelineMetrics,
) -> Result<(Engine, u64, u64), PipelineError> {
    let (snapshot_lsn, mut engine) = checkpoint::load(folder)?;
    let mut last = snapshot_lsn;
    let started = Instant::now();
    let mut replayed = 0usize;
    let mut scratch = ApplyScratch::default();
    for (lsn, bytes) in wal_records {
        if lsn <= snapshot_lsn {
            continue;
        }
        apply_record(&mut engine, store, tenants, lsn, WalRecord::decode(lsn, &bytes)?, metrics, &mut scratch);
        if scratch.store_failed.load(Ordering::SeqCst) {
            return Err(PipelineError::NotDurable(format!(
                "the store refused the facts of WAL record {lsn} while replaying"
            )));
        }
        last = lsn;
        replayed += 1;
    }
    if replayed > 0 {
        tracing::info!(
            records = replayed,
            from_lsn = snapshot_lsn,
            to_lsn = last,
            ms = started.elapsed().as_millis() as u64,
            "replayed the WAL"
        );
    }
    Ok((engine, snapshot_lsn, last))
}

/// What the engine thread owns.
pub(crate) struct EngineThread {
    pub engine: Engine,
    pub store: Arc<dyn FactStore>,
    pub meta: Arc<Meta>,
    pub tenants: Arc<Tenants>,
    pub progress: Arc<Progress>,
    pub metrics: Arc<PipelineMetrics>,
    pub wal: Arc<Mutex<Wal>>,
    pub config: PipelineConfig,
    pub checkpoints: Checkpoints,
    pub scratch: ApplyScratch,
}

impl EngineThread {
    /// Counts until the WAL writer and every control sender are gone, then
    /// completes a last checkpoint.
    pub fn run(mut self, apply_rx: std_mpsc::Receiver<Work>) {
        let mut last_checkpoint = Instant::now();
        let mut last_retention: Option<Instant> = None;
        loop {
            let next = apply_rx.recv_timeout(Duration::from_millis(200));
            let closed = matches!(next, Err(std_mpsc::RecvTimeoutError::Disconnected));
            let mut work = next.ok();
            // Take whatever else is queued before looking at the clock, but
            // not forever: under sustained load a checkpoint must still come
            // when it is due, or memory would hold every fact since the last.
            let turn = Instant::now();
            while let Some(item) = work.take() {
                match item {
                    Work::Record(lsn, record) => {
                        apply_record(&mut self.engine, &*self.store, &self.tenants, lsn, record, &self.metrics, &mut self.scratch);
                        self.progress.applied_lsn.store(lsn, Ordering::SeqCst);
                    }
                    Work::Erase { tenant, subject, reply } => {
                        let _ = reply.send(
                            erase_now(
                                &*self.store,
                                &mut self.engine,
                                &mut self.checkpoints,
                                &self.wal,
                                tenant,
                                &subject,
                                &self.progress,
                            )
                            .map_err(|e| e.to_string()),
                        );
                        last_checkpoint = Instant::now();
                    }
                }
                if turn.elapsed() >= self.config.checkpoint_interval || self.store.pending_rows() >= self.config.checkpoint_rows {
                    break;
                }
                work = apply_rx.try_recv().ok();
            }
            self.metrics.state_keys.set(self.engine.state_keys() as i64);
            let applied = self.progress.applied_lsn.load(Ordering::SeqCst);
            let due = last_checkpoint.elapsed() >= self.config.checkpoint_interval || self.store.pending_rows() >= self.config.checkpoint_rows;
            if closed || (due && applied > self.checkpoints.begun_upto) {
                // At shutdown, wait until everything is in files.
                let begun = if closed {
                    self.checkpoints.complete(&*self.store, &self.engine, applied)
                } else {
                    self.checkpoints.begin(&*self.store, &self.engine, applied)
                };
                if let Err(e) = begun {
                    // Nothing is lost: the WAL still holds every record; try again later.
                    tracing::error!(error = %e, "checkpoint failed; will retry");
                }
                last_checkpoint = Instant::now();
            }
            if last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
                // Retention rewrites files: the self.checkpoints begun are finished first.
                match self.checkpoints.complete(&*self.store, &self.engine, applied) {
                    Ok(()) => apply_retention(&*self.store, &self.meta, &self.tenants),
                    Err(e) => tracing::error!(error = %e, "checkpoint before retention failed; retention waits"),
                }
                last_retention = Some(Instant::now());
            }
            if closed {
                break;
            }
        }
    }
}

//! Prometheus metrics of ingest and counting.

use std::sync::atomic::Ordering;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::Progress;

pub struct PipelineMetrics {
    registry: Registry,
    pub events_accepted: Counter,
    pub events_rejected: Counter,
    pub wal_records: Counter,
    pub facts_emitted: Counter,
    /// Inputs not counted because they came later than `allowed_lateness`.
    pub inputs_late: Counter,
    /// Live figures computed for live-stream subscribers (one per tenant,
    /// zone, window and second, however many subscribe).
    pub live_computations: Counter,
    pub wal_append_seconds: Histogram,
    pub checkpoint_seconds: Histogram,
    pub state_keys: Gauge,
    wal_lag: Gauge,
    checkpoint_failures: Gauge,
    wal_backlog: Gauge,
    /// Player events and log requests refused because the WAL backlog was full.
    pub batches_refused_backlog: Counter,
    durable_lsn: Gauge,
    applied_lsn: Gauge,
}

impl Default for PipelineMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("streamtally");
        let m = PipelineMetrics {
            events_accepted: Counter::default(),
            events_rejected: Counter::default(),
            wal_records: Counter::default(),
            facts_emitted: Counter::default(),
            inputs_late: Counter::default(),
            live_computations: Counter::default(),
            wal_append_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 18)),
            checkpoint_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            state_keys: Gauge::default(),
            wal_lag: Gauge::default(),
            checkpoint_failures: Gauge::default(),
            wal_backlog: Gauge::default(),
            batches_refused_backlog: Counter::default(),
            durable_lsn: Gauge::default(),
            applied_lsn: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register("events_accepted", "Player events accepted (durable in the WAL)", m.events_accepted.clone());
        registry.register("events_rejected", "Player events rejected as invalid", m.events_rejected.clone());
        registry.register("wal_records", "WAL records appended", m.wal_records.clone());
        registry.register("facts_emitted", "Facts emitted by the counting engine", m.facts_emitted.clone());
        registry.register(
            "inputs_late",
            "Inputs not counted because they arrived more than allowed_lateness behind the tenant's clock",
            m.inputs_late.clone(),
        );
        registry.register(
            "live_computations",
            "Live figures computed for live-stream subscribers (shared per tenant and second)",
            m.live_computations.clone(),
        );
        registry.register("wal_append_seconds", "Time to append and fsync one WAL group", m.wal_append_seconds.clone());
        registry.register("fact_write_seconds", "Time to write facts to files (checkpoint)", m.checkpoint_seconds.clone());
        registry.register("engine_state_keys", "Keys held by the counting engine", m.state_keys.clone());
        registry.register("wal_lag_records", "WAL records durable but not yet counted", m.wal_lag.clone());
        registry.register(
            "checkpoint_failures",
            "Consecutive failed attempts to write the store (0: the store takes rows)",
            m.checkpoint_failures.clone(),
        );
        registry.register(
            "wal_backlog_bytes",
            "Bytes of WAL records not yet in the store (grows while the store takes no rows)",
            m.wal_backlog.clone(),
        );
        registry.register(
            "batches_refused_backlog",
            "Ingest batches answered 503 because the WAL backlog reached its limit",
            m.batches_refused_backlog.clone(),
        );
        registry.register("wal_durable_lsn", "Last durable WAL position", m.durable_lsn.clone());
        registry.register("wal_applied_lsn", "Last WAL position counted", m.applied_lsn.clone());
        PipelineMetrics { registry, ..m }
    }
}

impl PipelineMetrics {
    /// The Prometheus text exposition.
    pub fn encode(&self, progress: &Progress) -> String {
        let durable = progress.durable_lsn.load(Ordering::SeqCst) as i64;
        let applied = progress.applied_lsn.load(Ordering::SeqCst) as i64;
        self.durable_lsn.set(durable);
        self.applied_lsn.set(applied);
        self.wal_lag.set(durable - applied);
        self.checkpoint_failures.set(progress.checkpoint_failures.load(Ordering::SeqCst) as i64);
        self.wal_backlog.set(progress.backlog_bytes() as i64);
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

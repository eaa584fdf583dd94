//! The pipeline wires the steps together for accepted input:
//! enriched events → WAL (group commit, fsync) → acknowledgement → counting
//! engine → store, with periodic checkpoints and crash recovery.
//!
//! Threads: a WAL writer takes every submission waiting, appends them in one
//! write and one fsync, answers each submitter, then hands the records to the
//! engine thread, which counts them, appends facts and raw events to the store
//! and checkpoints: store flush (facts durable up to an LSN), then an engine
//! snapshot at that LSN, then removal of WAL segments the snapshot covers.
//! Recovery loads the snapshot and replays the WAL after it; the store ignores
//! rows its manifests already cover, so nothing is lost or counted twice.

mod checkpoint;
mod counting;
mod legacy;
mod metrics;
mod record;
mod retention;
mod rollups;
mod shared_erasure;
mod tenants;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use streamtally_model::{EnrichedEvent, EnrichedRequest, Micros, TenantId};
use streamtally_store::{DataFolder, EmbeddedStore, Erased, FactStore, Meta, OpenMode, StoreError, Subject};
use streamtally_wal::{Wal, WalError};
use tokio::sync::{mpsc, oneshot};

use checkpoint::{checkpointer, CheckpointWork, Checkpoints};
use counting::{recover, ApplyScratch, EngineThread};
pub use metrics::PipelineMetrics;

/// What an erasure removed: facts and raw events, and directory entries.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SubjectErased {
    #[serde(flatten)]
    pub stored: Erased,
    pub directory_entries: u64,
}
pub use record::{ImportPosition, WalRecord};
pub use tenants::{TenantContext, Tenants};
use writer::wal_writer;

/// A queued record's promise: [`Ticket::wait`] returns its LSN once it is durable.
pub struct Ticket(oneshot::Receiver<Result<u64, String>>);

impl Ticket {
    /// Blocks until the record is durable (not from inside the async runtime).
    pub fn wait(self) -> Result<u64, PipelineError> {
        durable(self.0.blocking_recv())
    }
}

/// What the WAL writer answered about a record.
fn durable(answer: Result<Result<u64, String>, oneshot::error::RecvError>) -> Result<u64, PipelineError> {
    match answer {
        Ok(Ok(lsn)) => Ok(lsn),
        Ok(Err(e)) => Err(PipelineError::NotDurable(e)),
        Err(_) => Err(PipelineError::Closed),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Wal(#[from] WalError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("engine snapshot {path}: {reason}")]
    Snapshot { path: String, reason: String },
    #[error("WAL record {lsn} cannot be decoded: {reason}")]
    BadRecord { lsn: u64, reason: String },
    #[error("the pipeline is shutting down")]
    Closed,
    #[error("the write-ahead log could not take the batch: {0}")]
    NotDurable(String),
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Checkpoint at least this often while there is anything new.
    pub checkpoint_interval: Duration,
    /// …or as soon as this many rows wait in memory.
    pub checkpoint_rows: usize,
    /// The most bytes of WAL records not yet in the store: while a store
    /// (ClickHouse) is unreachable, input is accepted into the WAL up to
    /// this, then refused with `503` until the store takes rows again.
    pub wal_backlog_limit: u64,
    /// Durable records the engine may lag behind the WAL. A server's are
    /// group commits of a few events each; an import's are 4 MiB chunks of
    /// about 20 000 requests, so 64 of them held 0.5 GiB while counting
    /// caught up (a heap profile of the `devices` log import).
    pub apply_queue: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            checkpoint_interval: Duration::from_secs(5),
            checkpoint_rows: 200_000,
            wal_backlog_limit: 10 << 30,
            apply_queue: 64,
        }
    }
}

struct Submission {
    record: WalRecord,
    bytes: Vec<u8>,
    ack: oneshot::Sender<Result<u64, String>>,
}

/// Positions in the WAL: what is durable, and what the engine has counted.
#[derive(Debug, Default)]
pub struct Progress {
    pub durable_lsn: AtomicU64,
    pub applied_lsn: AtomicU64,
    pub checkpoint_lsn: AtomicU64,
    /// Consecutive failed attempts of the checkpoint under way (a store that
    /// cannot be written, e.g. ClickHouse unreachable): input is still
    /// accepted into the WAL, and counted into the store once it takes rows again.
    pub checkpoint_failures: AtomicU64,
    /// What the WAL holds above the checkpoint, and the most it may hold.
    pub backlog: Mutex<writer::Backlog>,
    pub backlog_limit: AtomicU64,
    /// WAL segments found damaged at start (their bad bytes put aside), and
    /// store files put aside as unreadable: the operator should look.
    pub damaged: Mutex<Vec<String>>,
}

impl Progress {
    /// Bytes of WAL records not yet covered by a checkpoint (in the store).
    pub fn backlog_bytes(&self) -> u64 {
        let covered = self.checkpoint_lsn.load(Ordering::SeqCst);
        self.backlog.lock().unwrap_or_else(|p| p.into_inner()).above(covered)
    }

    /// The backlog reached its limit: ingest is refused (`503`) until the store takes rows.
    pub fn backlog_full(&self) -> bool {
        self.backlog_bytes() >= self.backlog_limit.load(Ordering::SeqCst)
    }
}

/// What the engine thread works through, in order.
enum Work {
    Record(u64, WalRecord),
    /// Erasure runs between records, so every record acknowledged before the
    /// request is erased too.
    Erase {
        tenant: TenantId,
        subject: Subject,
        reply: oneshot::Sender<Result<Erased, String>>,
    },
}

pub struct Pipeline {
    submit: Mutex<Option<mpsc::Sender<Submission>>>,
    control: Mutex<Option<std_mpsc::SyncSender<Work>>>,
    progress: Arc<Progress>,
    metrics: Arc<PipelineMetrics>,
    tenants: Arc<Tenants>,
    store: Arc<dyn FactStore>,
    meta: Arc<Meta>,
    folder: DataFolder,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// This node's name when erasures are shared with other nodes (`shared_erasure.rs`).
    erasure_node: std::sync::OnceLock<String>,
    /// Shared erasure requests this node took and is applying now.
    erasures_in_hand: Mutex<std::collections::HashSet<i64>>,
    /// Dropped at shutdown: stops the rollup builder (`rollups.rs`).
    rollup_stop: Mutex<Option<std_mpsc::Sender<()>>>,
}

/// Offline readers (`report`): the store's memory gets every acknowledged row
/// the files do not hold yet; nothing on disk changes.
pub fn replay_read_only(store: &dyn FactStore, meta: Arc<Meta>, folder: &DataFolder) -> Result<u64, PipelineError> {
    let tenants = Tenants::new(meta);
    let (snapshot_lsn, _) = checkpoint::load(folder)?;
    let records = streamtally_wal::read_dir_after(&folder.wal_dir(), snapshot_lsn)?;
    let (_, _, last) = recover(store, folder, &tenants, records, &PipelineMetrics::default())?;
    Ok(last)
}

impl Pipeline {
    /// Recovers and starts the pipeline on a store opened with [`OpenMode::Serve`].
    /// `folder` holds the WAL and the engine snapshots; `meta` the tenants and their settings.
    pub fn start(store: Arc<dyn FactStore>, meta: Arc<Meta>, folder: DataFolder, config: PipelineConfig) -> Result<Pipeline, PipelineError> {
        let metrics = Arc::new(PipelineMetrics::default());
        let tenants = Arc::new(Tenants::new(meta.clone()));
        let (snapshot_lsn, _) = checkpoint::load(&folder)?;
        let wal = Wal::open(&folder.wal_dir(), snapshot_lsn)?;
        let records = wal.read_after(snapshot_lsn)?;
        let (engine, _, _) = recover(&*store, &folder, &tenants, records, &metrics)?;
        for (tenant, clock) in engine.clocks() {
            tenants.set_clock(tenant, clock);
        }
        let last = wal.last_lsn();
        let progress = Arc::new(Progress::default());
        progress.backlog_limit.store(config.wal_backlog_limit, Ordering::SeqCst);
        {
            let mut damaged = progress.damaged.lock().unwrap_or_else(|p| p.into_inner());
            damaged.extend(wal.damaged().iter().map(|p| p.display().to_string()));
            damaged.extend(store.quarantined());
        }
        progress.durable_lsn.store(last, Ordering::SeqCst);
        progress.applied_lsn.store(last, Ordering::SeqCst);
        let wal = Arc::new(Mutex::new(wal));
        // Make the replayed tail durable in files right away.
        checkpoint::run(&*store, &folder, &engine, &wal, last, &progress, &metrics)?;
        let store_failed = Arc::new(AtomicBool::new(false));

        let (submit_tx, submit_rx) = mpsc::channel::<Submission>(1024);
        // Durable records waiting to be counted. Small on purpose: when counting
        // falls behind, the WAL writer waits and so do the senders (back-pressure)
        // instead of memory filling with a backlog of batches.
        let (apply_tx, apply_rx) = std_mpsc::sync_channel::<Work>(config.apply_queue.max(1));
        let control = apply_tx.clone();
        // One checkpoint queued while one is written: counting never waits for
        // files unless they fall two checkpoints behind.
        let (checkpoint_tx, checkpoint_rx) = std_mpsc::sync_channel::<CheckpointWork>(1);
        let checkpoint_thread = {
            let (store, folder, wal, progress, metrics) = (store.clone(), folder.clone(), wal.clone(), progress.clone(), metrics.clone());
            std::thread::Builder::new()
                .name("checkpoint".into())
                .spawn(move || checkpointer(checkpoint_rx, store, folder, wal, progress, metrics))
                .map_err(|e| PipelineError::NotDurable(e.to_string()))?
        };
        let writer = {
            let (wal, progress, metrics) = (wal.clone(), progress.clone(), metrics.clone());
            std::thread::Builder::new()
                .name("wal-writer".into())
                .spawn(move || wal_writer(submit_rx, apply_tx, wal, progress, metrics))
                .map_err(|e| PipelineError::NotDurable(e.to_string()))?
        };
        let counter = {
            let (store, meta, tenants, progress, metrics) = (store.clone(), meta.clone(), tenants.clone(), progress.clone(), metrics.clone());
            let (folder, store_failed, wal) = (folder.clone(), store_failed.clone(), wal.clone());
            std::thread::Builder::new()
                .name("engine".into())
                .spawn(move || {
                    EngineThread {
                        engine,
                        store,
                        meta,
                        tenants,
                        progress,
                        metrics,
                        wal,
                        config,
                        checkpoints: Checkpoints {
                            tx: checkpoint_tx,
                            begun_upto: last,
                            folder,
                            store_failed: store_failed.clone(),
                        },
                        scratch: ApplyScratch {
                            store_failed,
                            ..ApplyScratch::default()
                        },
                    }
                    .run(apply_rx)
                })
                .map_err(|e| PipelineError::NotDurable(e.to_string()))?
        };
        Ok(Pipeline {
            submit: Mutex::new(Some(submit_tx)),
            control: Mutex::new(Some(control)),
            progress,
            metrics,
            tenants,
            store,
            meta,
            folder,
            threads: Mutex::new(vec![writer, counter, checkpoint_thread]),
            erasure_node: std::sync::OnceLock::new(),
            erasures_in_hand: Mutex::new(std::collections::HashSet::new()),
            rollup_stop: Mutex::new(None),
        })
    }

    pub fn store(&self) -> &Arc<dyn FactStore> {
        &self.store
    }

    /// Has the store keep `definition`'s rollups, made by a thread of their
    /// own until shutdown (a store that keeps none ignores them). Once.
    pub fn keep_rollups(&self, definition: &'static streamtally_store::RollupDefinition) -> Result<(), PipelineError> {
        let mut stop = self.rollup_stop.lock().unwrap_or_else(|p| p.into_inner());
        if stop.is_some() {
            return Ok(());
        }
        self.store.define_rollup(definition);
        let (tx, rx) = std_mpsc::channel();
        let store = self.store.clone();
        let thread = std::thread::Builder::new()
            .name("rollups".into())
            .spawn(move || rollups::builder(store, rx))
            .map_err(|e| PipelineError::NotDurable(e.to_string()))?;
        *stop = Some(tx);
        self.threads.lock().unwrap_or_else(|p| p.into_inner()).push(thread);
        Ok(())
    }

    /// The metadata: tenants, keys, settings, catalogue, access lists.
    pub fn meta(&self) -> &Arc<Meta> {
        &self.meta
    }

    /// The data folder: the WAL and the engine snapshots.
    pub fn folder(&self) -> &DataFolder {
        &self.folder
    }

    pub fn tenants(&self) -> &Arc<Tenants> {
        &self.tenants
    }

    pub fn metrics(&self) -> &Arc<PipelineMetrics> {
        &self.metrics
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Writes a tenant's batch, accepted under `ctx`, to the WAL; returns its
    /// LSN once it is durable.
    pub async fn submit(&self, ctx: &TenantContext, events: Vec<EnrichedEvent>) -> Result<u64, PipelineError> {
        self.submit_record(WalRecord::accepted(ctx, events, Vec::new())).await
    }

    /// Makes log requests durable (as [`Pipeline::submit`] does events),
    /// counted under `property` (spec §1; `None`: `Others`); counting them
    /// moves the import ledger to `import`.
    pub async fn submit_requests(
        &self,
        ctx: &TenantContext,
        requests: Vec<EnrichedRequest>,
        property: Option<String>,
        import: Vec<ImportPosition>,
    ) -> Result<u64, PipelineError> {
        self.submit_record(WalRecord::accepted(ctx, Vec::new(), requests).with_property(property).with_import(import))
            .await
    }

    /// Queues log requests for the WAL from a thread outside the async
    /// runtime, in call order, without waiting for them to be durable: the
    /// ticket tells when they are. (An offline import keeps reading while
    /// earlier chunks are written.)
    pub fn queue_requests_blocking(
        &self,
        ctx: &TenantContext,
        requests: Vec<EnrichedRequest>,
        property: Option<String>,
        import: Vec<ImportPosition>,
    ) -> Result<Ticket, PipelineError> {
        let record = WalRecord::accepted(ctx, Vec::new(), requests).with_property(property).with_import(import);
        let (tx, submission, ticket) = self.submission(record)?;
        tx.blocking_send(submission).map_err(|_| PipelineError::Closed)?;
        Ok(ticket)
    }

    async fn submit_record(&self, record: WalRecord) -> Result<u64, PipelineError> {
        let (tx, submission, Ticket(done)) = self.submission(record)?;
        tx.send(submission).await.map_err(|_| PipelineError::Closed)?;
        durable(done.await)
    }

    /// An encoded record for the WAL writer, the way to it, and its ticket.
    fn submission(&self, record: WalRecord) -> Result<(mpsc::Sender<Submission>, Submission, Ticket), PipelineError> {
        let bytes = record.encode()?;
        let (ack, done) = oneshot::channel();
        let tx = self.submit.lock().unwrap_or_else(|p| p.into_inner()).clone().ok_or(PipelineError::Closed)?;
        Ok((tx, Submission { record, bytes, ack }, Ticket(done)))
    }

    /// Deletes every fact and raw event of a subject (spec §8), including what
    /// was acknowledged but not yet counted when the request came; a user's
    /// entry in the user directory goes too. With shared erasures the
    /// request is recorded first, for the other nodes to apply.
    pub async fn erase(&self, tenant: TenantId, subject: Subject) -> Result<SubjectErased, PipelineError> {
        let user = match &subject {
            Subject::UserId(u) => Some(u.clone()),
            _ => None,
        };
        let shared = self.request_shared_erasure(tenant, &subject)?;
        let stored = self.erase_stored(tenant, subject).await;
        if let Some((id, node)) = shared {
            self.shared_erasure_done(id, node, stored.is_ok())?;
        }
        let stored = stored?;
        let directory_entries = match user {
            Some(u) => self
                .meta
                .erase_registered_user(tenant, &u)
                .map_err(|e| PipelineError::NotDurable(e.to_string()))?,
            None => 0,
        };
        Ok(SubjectErased { stored, directory_entries })
    }

    async fn erase_stored(&self, tenant: TenantId, subject: Subject) -> Result<Erased, PipelineError> {
        let tx = self.control.lock().unwrap_or_else(|p| p.into_inner()).clone().ok_or(PipelineError::Closed)?;
        let (reply, done) = oneshot::channel();
        let sent = tokio::task::spawn_blocking(move || tx.send(Work::Erase { tenant, subject, reply }).is_ok())
            .await
            .map_err(|_| PipelineError::Closed)?;
        if !sent {
            return Err(PipelineError::Closed);
        }
        match done.await {
            Ok(Ok(erased)) => Ok(erased),
            Ok(Err(e)) => Err(PipelineError::NotDurable(e)),
            Err(_) => Err(PipelineError::Closed),
        }
    }

    /// Stops taking input, counts what is queued, checkpoints, and waits for the threads.
    pub fn shutdown(&self) {
        self.submit.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.control.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.rollup_stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        let threads: Vec<_> = self.threads.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        self.store.close();
    }
}

/// Opens a store for serving and starts its pipeline.
pub fn open_serving(root: &Path, config: PipelineConfig) -> Result<Pipeline, PipelineError> {
    let store = Arc::new(EmbeddedStore::open(root, OpenMode::Serve)?);
    let meta = store.meta().clone();
    Pipeline::start(store, meta, DataFolder::new(root), config)
}

/// Opens a ClickHouse store (the node's WAL, engine state and metadata in
/// the data folder `root`) and starts its pipeline.
/// `shared_meta`: the metadata all nodes share, in PostgreSQL (`None`: the
/// data folder's SQLite file).
pub fn open_serving_on_clickhouse(
    root: &Path,
    clickhouse: streamtally_store::ClickHouseConfig,
    shared_meta: Option<Arc<Meta>>,
    config: PipelineConfig,
) -> Result<Pipeline, PipelineError> {
    let store = Arc::new(streamtally_store::ClickHouseStore::open_with(root, clickhouse, shared_meta)?);
    let meta = store.meta().clone();
    Pipeline::start(store, meta, DataFolder::new(root), config)
}

#[cfg(test)]
mod tests;

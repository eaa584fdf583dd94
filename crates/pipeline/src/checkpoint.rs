//! Checkpoints: store flush, then the engine snapshot at the same WAL position,
//! then removal of the WAL segments that snapshot covers. The order matters:
//! a crash between any two steps leaves a state recovery handles exactly.
//!
//! A checkpoint has a quick half on the engine thread ([`begin`]: seal the
//! store's memory, encode the engine) and a slow half on the checkpoint thread
//! ([`finish`]: Parquet files, snapshot file, WAL removal), so counting goes on
//! while files are written. Jobs are finished in the order they were begun.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use streamtally_model::TenantId;
use streamtally_store::{Checkpoint, DataFolder, Erased, FactStore, Subject};
use streamtally_unify::Engine;
use streamtally_wal::Wal;

use crate::{PipelineError, PipelineMetrics, Progress};

// Bumped whenever the engine state changes shape (2: live activity and
// attendance; 3: live and on-demand users apart, media objects, the clock;
// 4: playbacks remember their user; 5: starts and CMCD sessions keep their
// quality of experience).
const MAGIC: &[u8; 8] = b"STSNAP5\n";
/// The previous shapes, upgraded when read.
const MAGIC_V4: &[u8; 8] = b"STSNAP4\n";
const MAGIC_V3: &[u8; 8] = b"STSNAP3\n";
const MAGIC_V2: &[u8; 8] = b"STSNAP2\n";

fn snap_err(path: &Path, reason: impl ToString) -> PipelineError {
    PipelineError::Snapshot {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The last snapshot: its WAL position and engine, or (0, empty) when none.
pub fn load(folder: &DataFolder) -> Result<(u64, Engine), PipelineError> {
    let path = folder.engine_snapshot();
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, Engine::new())),
        Err(e) => return Err(snap_err(&path, e)),
    };
    if bytes.len() < 20 || ![&MAGIC[..], MAGIC_V4, MAGIC_V3, MAGIC_V2].contains(&&bytes[..8]) {
        return Err(snap_err(&path, "not a streamtally engine snapshot of this version or the three before"));
    }
    let lsn = u64::from_le_bytes(bytes[8..16].try_into().map_err(|_| snap_err(&path, "short header"))?);
    let crc = u32::from_le_bytes(bytes[16..20].try_into().map_err(|_| snap_err(&path, "short header"))?);
    if crc32fast::hash(&bytes[20..]) != crc {
        return Err(snap_err(&path, "checksum mismatch"));
    }
    let body = &bytes[20..];
    let engine = match &bytes[..8] {
        m if m == MAGIC_V2 => {
            tracing::info!(path = %path.display(), "upgrading an engine snapshot of version 2");
            Engine::restore_v2(body)
        }
        m if m == MAGIC_V3 => {
            tracing::info!(path = %path.display(), "upgrading an engine snapshot of version 3");
            Engine::restore_v3(body)
        }
        m if m == MAGIC_V4 => {
            tracing::info!(path = %path.display(), "upgrading an engine snapshot of version 4");
            Engine::restore_v4(body)
        }
        _ => Engine::restore(body),
    }
    .map_err(|e| snap_err(&path, e))?;
    Ok((lsn, engine))
}

fn save(folder: &DataFolder, lsn: u64, body: &[u8]) -> Result<(), PipelineError> {
    let path = folder.engine_snapshot();
    let dir = folder.state_dir();
    fs::create_dir_all(&dir).map_err(|e| snap_err(&dir, e))?;
    let mut bytes = Vec::with_capacity(body.len() + 20);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&lsn.to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(body).to_le_bytes());
    bytes.extend_from_slice(body);
    let tmp = dir.join("engine.snapshot.tmp");
    let mut f = File::create(&tmp).map_err(|e| snap_err(&tmp, e))?;
    f.write_all(&bytes).and_then(|_| f.sync_all()).map_err(|e| snap_err(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| snap_err(&path, e))?;
    File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| snap_err(&dir, e))?;
    Ok(())
}

/// A checkpoint begun on the engine thread: what to write, and the engine at `upto`.
pub struct Job {
    pub upto: u64,
    sealed: Checkpoint,
    snapshot: Vec<u8>,
    started: Instant,
}

/// The quick half, on the engine thread: seals the store's memory and encodes
/// the engine, both as of `upto` (everything counted so far).
pub fn begin(store: &dyn FactStore, folder: &DataFolder, engine: &Engine, upto: u64) -> Result<Job, PipelineError> {
    let started = Instant::now();
    let snapshot = engine.snapshot().map_err(|e| snap_err(&folder.engine_snapshot(), e))?;
    Ok(Job {
        upto,
        sealed: store.begin_checkpoint(),
        snapshot,
        started,
    })
}

/// The slow half: files, then the snapshot, then the WAL segments it covers.
/// On an error the job comes back, to be tried again (jobs go in order).
// The job rides back in the error so that nothing is copied on success; errors are rare.
#[allow(clippy::result_large_err)]
pub fn finish(
    store: &dyn FactStore,
    folder: &DataFolder,
    wal: &Mutex<Wal>,
    mut job: Job,
    progress: &Progress,
    metrics: &PipelineMetrics,
) -> Result<(), (PipelineError, Job)> {
    let upto = job.upto;
    let stats = match store.finish_checkpoint(&mut job.sealed, upto) {
        Ok(stats) => stats,
        Err(e) => {
            progress.checkpoint_failures.fetch_add(1, Ordering::SeqCst);
            return Err((e.into(), job));
        }
    };
    progress.checkpoint_failures.store(0, Ordering::SeqCst);
    if let Err(e) = save(folder, upto, &job.snapshot) {
        return Err((e, job));
    }
    if let Err(e) = wal.lock().unwrap_or_else(|p| p.into_inner()).remove_through(upto) {
        // The files and snapshot are durable; old segments go at the next checkpoint.
        tracing::warn!(error = %e, "cannot remove covered WAL segments");
    }
    progress.checkpoint_lsn.store(upto, Ordering::SeqCst);
    metrics.checkpoint_seconds.observe(job.started.elapsed().as_secs_f64());
    if stats.files_written > 0 {
        tracing::debug!(
            upto,
            files = stats.files_written,
            rows = stats.rows,
            compacted = stats.files_compacted,
            "checkpoint"
        );
    }
    Ok(())
}

/// Both halves at once (recovery, before the threads start).
pub fn run(
    store: &dyn FactStore,
    folder: &DataFolder,
    engine: &Engine,
    wal: &Mutex<Wal>,
    upto: u64,
    progress: &Progress,
    metrics: &PipelineMetrics,
) -> Result<(), PipelineError> {
    finish(store, folder, wal, begin(store, folder, engine, upto)?, progress, metrics).map_err(|(e, _)| e)
}

// The checkpoint thread, and the engine thread's side of it.

/// Work for the checkpoint thread: a begun checkpoint, and whom to tell when
/// it is finished (erasure, retention and shutdown wait for that).
pub(crate) struct CheckpointWork {
    pub(crate) job: Job,
    pub(crate) done: Option<std_mpsc::SyncSender<Result<(), String>>>,
}

/// Finishes checkpoints in the order they were begun. A failed one is tried
/// again, every second, before any later one (the WAL still holds everything it
/// covers); whoever waits for it hears of the failure after three attempts.
/// Once the engine is gone, a failing one is left to the WAL and the next start.
pub(crate) fn checkpointer(
    rx: std_mpsc::Receiver<CheckpointWork>,
    store: Arc<dyn FactStore>,
    folder: DataFolder,
    wal: Arc<Mutex<Wal>>,
    progress: Arc<Progress>,
    metrics: Arc<PipelineMetrics>,
) {
    let mut queued: std::collections::VecDeque<CheckpointWork> = std::collections::VecDeque::new();
    loop {
        let Some(CheckpointWork { mut job, mut done }) = queued.pop_front().or_else(|| rx.recv().ok()) else {
            return;
        };
        let mut attempts = 0;
        loop {
            match finish(&*store, &folder, &wal, job, &progress, &metrics) {
                Ok(()) => {
                    if let Some(done) = done.take() {
                        let _ = done.send(Ok(()));
                    }
                    break;
                }
                Err((e, again)) => {
                    attempts += 1;
                    tracing::error!(error = %e, attempts, "checkpoint failed; will retry");
                    job = again;
                    if attempts >= 3 {
                        if let Some(done) = done.take() {
                            let _ = done.send(Err(e.to_string()));
                        }
                    }
                    match rx.recv_timeout(Duration::from_secs(1)) {
                        Ok(later) => queued.push_back(later),
                        Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            }
        }
    }
}

/// The engine thread's side of checkpointing.
pub(crate) struct Checkpoints {
    pub(crate) tx: std_mpsc::SyncSender<CheckpointWork>,
    /// The WAL position the last begun checkpoint covers.
    pub(crate) begun_upto: u64,
    pub(crate) folder: DataFolder,
    /// Set when the store refused facts: no checkpoint may then cover their
    /// records, so the WAL keeps them for the next start to count again.
    pub(crate) store_failed: Arc<AtomicBool>,
}

impl Checkpoints {
    /// Begins a checkpoint of everything counted and hands it over; waits only
    /// while the previous one is still queued.
    pub(crate) fn begin(&mut self, store: &dyn FactStore, engine: &Engine, applied: u64) -> Result<(), PipelineError> {
        self.hand_over(store, engine, applied, None)
    }

    /// Begins a checkpoint and waits until it and every one before it are finished.
    pub(crate) fn complete(&mut self, store: &dyn FactStore, engine: &Engine, applied: u64) -> Result<(), PipelineError> {
        let (done, finished) = std_mpsc::sync_channel(1);
        self.hand_over(store, engine, applied, Some(done))?;
        match finished.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(PipelineError::NotDurable(e)),
            Err(_) => Err(PipelineError::Closed),
        }
    }

    fn hand_over(
        &mut self,
        store: &dyn FactStore,
        engine: &Engine,
        applied: u64,
        done: Option<std_mpsc::SyncSender<Result<(), String>>>,
    ) -> Result<(), PipelineError> {
        if self.store_failed.load(Ordering::SeqCst) {
            return Err(PipelineError::NotDurable(
                "the store refused facts; the WAL keeps their inputs until a restart counts them again".into(),
            ));
        }
        let job = begin(store, &self.folder, engine, applied)?;
        self.begun_upto = applied;
        self.tx.send(CheckpointWork { job, done }).map_err(|_| PipelineError::Closed)
    }
}

/// Flushes everything counted, erases the subject from files, memory and
/// the engine's state, and drops the WAL segments (and replaced files) that
/// still hold its events.
pub(crate) fn erase_now(
    store: &dyn FactStore,
    engine: &mut Engine,
    checkpoints: &mut Checkpoints,
    wal: &Mutex<Wal>,
    tenant: TenantId,
    subject: &Subject,
    progress: &Progress,
) -> Result<Erased, PipelineError> {
    let applied = progress.applied_lsn.load(Ordering::SeqCst);
    // Before the snapshot that replaces the last one is written.
    if let Subject::UserId(user) = subject {
        engine.forget_user(tenant, user);
    }
    checkpoints.complete(store, engine, applied)?;
    let erased = store.erase(tenant, subject)?;
    store.collect_garbage();
    let mut wal = wal.lock().unwrap_or_else(|p| p.into_inner());
    wal.seal_active()?;
    wal.remove_through(applied)?;
    tracing::info!(tenant, facts = erased.facts, events = erased.events, "erased a subject");
    Ok(erased)
}

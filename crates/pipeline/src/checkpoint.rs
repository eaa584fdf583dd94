//! Checkpoints: store flush, then the engine snapshot at the same WAL position,
//! then removal of the WAL segments that snapshot covers. The order matters:
//! a crash between any two steps leaves a state recovery handles exactly.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Instant;

use streamtally_store::{EmbeddedStore, FactStore};
use streamtally_unify::Engine;
use streamtally_wal::Wal;

use crate::{PipelineError, PipelineMetrics, Progress};

// Bumped whenever the engine state changes shape (2: live activity and attendance).
const MAGIC: &[u8; 8] = b"STSNAP2\n";

fn snapshot_path(root: &Path) -> PathBuf {
    root.join("state").join("engine.snapshot")
}

fn snap_err(path: &Path, reason: impl ToString) -> PipelineError {
    PipelineError::Snapshot {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The last snapshot: its WAL position and engine, or (0, empty) when none.
pub fn load(root: &Path) -> Result<(u64, Engine), PipelineError> {
    let path = snapshot_path(root);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((0, Engine::new())),
        Err(e) => return Err(snap_err(&path, e)),
    };
    if bytes.len() < 20 || &bytes[..8] != MAGIC {
        return Err(snap_err(&path, "not a streamtally engine snapshot"));
    }
    let lsn = u64::from_le_bytes(bytes[8..16].try_into().map_err(|_| snap_err(&path, "short header"))?);
    let crc = u32::from_le_bytes(bytes[16..20].try_into().map_err(|_| snap_err(&path, "short header"))?);
    if crc32fast::hash(&bytes[20..]) != crc {
        return Err(snap_err(&path, "checksum mismatch"));
    }
    let engine = Engine::restore(&bytes[20..]).map_err(|e| snap_err(&path, e))?;
    Ok((lsn, engine))
}

fn save(root: &Path, lsn: u64, engine: &Engine) -> Result<(), PipelineError> {
    let path = snapshot_path(root);
    let dir = root.join("state");
    fs::create_dir_all(&dir).map_err(|e| snap_err(&dir, e))?;
    let body = engine.snapshot().map_err(|e| snap_err(&path, e))?;
    let mut bytes = Vec::with_capacity(body.len() + 20);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&lsn.to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    let tmp = dir.join("engine.snapshot.tmp");
    let mut f = File::create(&tmp).map_err(|e| snap_err(&tmp, e))?;
    f.write_all(&bytes).and_then(|_| f.sync_all()).map_err(|e| snap_err(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| snap_err(&path, e))?;
    File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| snap_err(&dir, e))?;
    Ok(())
}

/// Makes everything counted up to `upto` durable in files and snapshot.
pub fn run(store: &EmbeddedStore, engine: &Engine, wal: &Mutex<Wal>, upto: u64, progress: &Progress, metrics: &PipelineMetrics) -> Result<(), PipelineError> {
    let started = Instant::now();
    let stats = store.flush(upto)?;
    save(store.root(), upto, engine)?;
    wal.lock().unwrap_or_else(|p| p.into_inner()).remove_through(upto)?;
    progress.checkpoint_lsn.store(upto, Ordering::SeqCst);
    metrics.checkpoint_seconds.observe(started.elapsed().as_secs_f64());
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

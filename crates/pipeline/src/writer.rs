//! The WAL writer thread: group commit, then the acknowledgements, then the
//! records queued for counting.

use super::*;

pub(crate) fn wal_writer(
    mut rx: mpsc::Receiver<Submission>,
    apply: std_mpsc::SyncSender<Work>,
    wal: Arc<Mutex<Wal>>,
    progress: Arc<Progress>,
    metrics: Arc<PipelineMetrics>,
) {
    while let Some(first) = rx.blocking_recv() {
        // Group commit: everything already waiting goes into the same fsync.
        let mut group = vec![first];
        while group.len() < 4096 {
            match rx.try_recv() {
                Ok(s) => group.push(s),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let result = {
            let mut wal = wal.lock().unwrap_or_else(|p| p.into_inner());
            let payloads: Vec<&[u8]> = group.iter().map(|s| s.bytes.as_slice()).collect();
            wal.append(&payloads)
        };
        metrics.wal_append_seconds.observe(started.elapsed().as_secs_f64());
        match result {
            Ok(first_lsn) => {
                let n = group.len() as u64;
                progress.durable_lsn.store(first_lsn + n - 1, Ordering::SeqCst);
                metrics.wal_records.inc_by(n);
                for (i, s) in group.into_iter().enumerate() {
                    let lsn = first_lsn + i as u64;
                    // Queued for counting before the sender hears of it, so a later
                    // erasure request is always behind it.
                    if apply.send(Work::Record(lsn, s.record)).is_err() {
                        return;
                    }
                    let _ = s.ack.send(Ok(lsn));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "WAL append failed; the batch is refused");
                for s in group {
                    let _ = s.ack.send(Err(e.to_string()));
                }
            }
        }
    }
}

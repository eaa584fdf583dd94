//! The WAL writer thread: group commit, then the acknowledgements, then the
//! records queued for counting; and the backlog it may not grow past.

use std::collections::VecDeque;

use super::*;

/// The bytes of WAL records above the last checkpoint: what grows while the
/// store takes no rows. Measured in what was appended, so it falls as soon
/// as a checkpoint covers it (segment files are removed later, whole).
#[derive(Debug, Default)]
pub struct Backlog {
    /// (last LSN of an appended group, bytes appended up to its end).
    marks: VecDeque<(u64, u64)>,
    appended: u64,
    covered: u64,
}

impl Backlog {
    /// Bytes of records above `checkpoint_lsn`.
    pub fn above(&mut self, checkpoint_lsn: u64) -> u64 {
        while let Some(&(lsn, end)) = self.marks.front() {
            if lsn > checkpoint_lsn {
                break;
            }
            self.covered = end;
            self.marks.pop_front();
        }
        self.appended - self.covered
    }

    fn add(&mut self, last_lsn: u64, bytes: u64) {
        self.appended += bytes;
        self.marks.push_back((last_lsn, self.appended));
    }
}

pub(crate) fn wal_writer(
    mut rx: mpsc::Receiver<Submission>,
    apply: std_mpsc::SyncSender<Work>,
    wal: Arc<Mutex<Wal>>,
    progress: Arc<Progress>,
    metrics: Arc<PipelineMetrics>,
) {
    let mut refusing = false;
    while let Some(first) = rx.blocking_recv() {
        // Group commit: everything already waiting goes into the same fsync.
        let mut group = vec![first];
        while group.len() < 4096 {
            match rx.try_recv() {
                Ok(s) => group.push(s),
                Err(_) => break,
            }
        }
        // Once the limit is reached batches are refused (503) rather than the
        // disk filled: the sender keeps them and retries once the store takes
        // rows. (The group that reaches it is taken: the WAL may pass the
        // limit by one group.)
        let bytes: u64 = group.iter().map(|s| s.bytes.len() as u64).sum();
        let backlog = progress.backlog_bytes();
        let limit = progress.backlog_limit.load(Ordering::SeqCst);
        if backlog >= limit {
            if !refusing {
                tracing::warn!(
                    backlog,
                    limit,
                    "the WAL backlog is full (the store takes no rows): ingest is refused until it does"
                );
                refusing = true;
            }
            metrics.batches_refused_backlog.inc_by(group.len() as u64);
            let why = format!(
                "the store has taken no rows for a while and {} MiB wait in the write-ahead log (the limit is {} MiB): retry later",
                backlog >> 20,
                limit >> 20
            );
            for s in group {
                let _ = s.ack.send(Err(why.clone()));
            }
            continue;
        }
        refusing = false;
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
                progress.backlog.lock().unwrap_or_else(|p| p.into_inner()).add(first_lsn + n - 1, bytes);
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

#[cfg(test)]
mod tests {
    use super::Backlog;

    #[test]
    fn the_backlog_is_what_no_checkpoint_covers_yet() {
        let mut b = Backlog::default();
        b.add(3, 300);
        b.add(5, 200);
        assert_eq!(b.above(0), 500);
        assert_eq!(b.above(3), 200, "records 1-3 are in the store");
        assert_eq!(b.above(4), 200, "a checkpoint inside a group covers none of it");
        b.add(9, 50);
        assert_eq!(b.above(9), 0);
    }
}

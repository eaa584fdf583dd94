//! Several files of one import into the data folder, merged by time: each
//! file is read in order, and their requests go to the counting engine in
//! time order across files, so two servers' logs of the same period count
//! as if one server had written them (spec §8a) — their skew needs no
//! lateness at all. Each file's position in the import ledger moves only
//! past chunks whose every request is durable.

use std::collections::VecDeque;
use std::path::PathBuf;

use streamtally_model::EnrichedRequest;
use streamtally_source::{next_chunk, Input, OpenedFile, Sink, Tally};

use super::local::{LocalReader, LocalSink, CHUNK};
use super::Progress;

/// Requests handed to the WAL in one record at most.
const BATCH: usize = 50_000;
/// The least a file is read by at a time, however many files there are.
const MIN_CHUNK: usize = 256 * 1024;

/// One file being merged.
struct Stream {
    name: String,
    opened: OpenedFile,
    reader: LocalReader,
    eof: bool,
    /// Requests read and not yet sent, in the file's order, each with the
    /// file position just past its line.
    queue: VecDeque<(EnrichedRequest, u64)>,
    /// How far the file is taken once what was sent is durable: past the
    /// line of the last request sent, or all that was read when none waits.
    sent_to: u64,
    /// Where the ledger stands for this file.
    recorded: u64,
}

impl Stream {
    /// Reads chunks until a request is queued or the file ends.
    fn fill(&mut self, sink: &LocalSink, chunk: usize, tally: &mut Tally) {
        let mut buf = Vec::with_capacity(chunk + 64 * 1024);
        while self.queue.is_empty() && !self.eof {
            buf.clear();
            let more = match next_chunk(self.opened.reader.as_mut(), &mut buf, chunk) {
                Ok(more) => more,
                Err(e) => {
                    // The whole lines before the damage still count; the cut one does not.
                    let whole = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                    buf.truncate(whole);
                    let at = self.opened.position + whole as u64;
                    tally
                        .file_errors
                        .push(format!("{}: {e} after {at} bytes; the lines before were imported", self.name));
                    false
                }
            };
            self.eof = !more;
            if buf.is_empty() {
                continue;
            }
            let batch = sink.read(&mut self.reader, &buf, tally);
            let start = self.opened.position;
            self.opened.position += buf.len() as u64;
            tally.bytes += buf.len() as u64;
            self.queue
                .extend(batch.requests.into_iter().zip(batch.line_ends.into_iter().map(|e| start + e as u64)));
            if self.queue.is_empty() {
                // A chunk without requests is taken as soon as it is read.
                self.sent_to = self.opened.position;
            }
        }
    }

    fn pop(&mut self) -> Option<EnrichedRequest> {
        let (r, line_end) = self.queue.pop_front()?;
        self.sent_to = if self.queue.is_empty() { self.opened.position } else { line_end };
        Some(r)
    }
}

/// Imports `paths` (files, not standard input) into the data folder, merged by time.
pub(super) fn import_merged(paths: &[PathBuf], sink: &LocalSink, progress: &Progress, tally: &mut Tally) -> anyhow::Result<()> {
    // Memory holds a chunk of every file: share the usual chunk among them.
    let chunk = (CHUNK / paths.len()).max(MIN_CHUNK);
    let imported = |key: &str| sink.imported_bytes(key);
    let mut streams = Vec::new();
    for path in paths {
        tally.files += 1;
        let name = path.display().to_string();
        let opened = OpenedFile::open(&Input::File(path.clone()), progress.counter(), &imported)
            .and_then(|opened| Ok((sink.reader(&name, &opened.head, None)?, opened)));
        match opened {
            Ok((reader, opened)) => {
                if opened.done_before > 0 {
                    tally.files_done_before += 1;
                }
                streams.push(Stream {
                    name,
                    recorded: opened.position,
                    sent_to: opened.position,
                    opened,
                    reader,
                    eof: false,
                    queue: VecDeque::new(),
                })
            }
            Err(e) => tally.file_errors.push(format!("{name}: {e}")),
        }
    }
    loop {
        for s in &mut streams {
            s.fill(sink, chunk, tally);
        }
        // Every file is known up to the last request it has queued: requests
        // up to the earliest of those can go, in time order.
        let Some(frontier) = streams.iter().filter_map(|s| s.queue.back().map(|(r, _)| r.ts)).min() else {
            break;
        };
        let mut batch = Vec::new();
        while batch.len() < BATCH {
            // The earliest head; ties go to the file named first.
            let next = streams.iter().enumerate().filter_map(|(i, s)| s.queue.front().map(|(r, _)| (r.ts, i))).min();
            match next {
                Some((ts, i)) if ts <= frontier => batch.extend(streams[i].pop()),
                _ => break,
            }
        }
        if !batch.is_empty() {
            // Where each file is taken to once this batch is: counted with it.
            let import = streams
                .iter()
                .filter(|s| s.sent_to > s.recorded)
                .map(|s| sink.position(&s.opened.key, s.sent_to))
                .collect();
            sink.pipeline
                .queue_requests_blocking(&sink.tenant, batch, sink.property.clone(), import)?
                .wait()?;
        }
        record(&mut streams, sink)?;
        progress.lines(tally.lines);
    }
    // Files that ended without a request still record how far they were read.
    record(&mut streams, sink)
}

/// Moves each file's ledger position to what is durable of it.
fn record(streams: &mut [Stream], sink: &LocalSink) -> anyhow::Result<()> {
    for s in streams {
        if s.sent_to > s.recorded {
            sink.taken(&s.opened.key, s.sent_to)?;
            s.recorded = s.sent_to;
        }
    }
    Ok(())
}

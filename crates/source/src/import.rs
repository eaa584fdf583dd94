//! One input read into a [`Sink`]: resumed after what the ledger says was
//! taken, in chunks of whole lines, a few in flight while the next are read,
//! the ledger moved only past chunks that are durable; with `--follow`, a
//! growing log is read as it grows and read anew when it is rotated or
//! truncated.

use std::collections::VecDeque;
use std::io::Read;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use crate::{next_chunk, open_input, replaced, Chunk, Input, OpenedFile, Pending, Sink, SourceError, Tally};

pub struct FollowOptions {
    /// Keep reading the (one) file as it grows.
    pub follow: bool,
    /// How long a followed file is left before it is looked at again.
    pub poll: Duration,
    /// Chunks sent and not yet durable: reading goes on meanwhile.
    pub in_flight: usize,
}

impl Default for FollowOptions {
    fn default() -> Self {
        FollowOptions {
            follow: false,
            poll: Duration::from_millis(500),
            in_flight: 4,
        }
    }
}

/// Reads `input` into `sink`; `progress` is shown the tally after each chunk.
pub fn import_file<S: Sink>(
    input: &Input,
    sink: &S,
    options: &FollowOptions,
    counter: Arc<AtomicU64>,
    progress: &dyn Fn(&Tally),
    tally: &mut Tally,
) -> Result<(), SourceError> {
    let name = input.name();
    let mut before = None;
    loop {
        match read_once(input, &name, sink, options, counter.clone(), before, progress, tally)? {
            // A followed log was rotated or truncated: read the new one from its start.
            Some(reader) => before = Some(reader),
            None => return Ok(()),
        }
    }
}

/// Reads `input` once to its end (or, followed, until it is replaced: then
/// the reader is handed back for the file that replaced it).
#[allow(clippy::too_many_arguments)]
fn read_once<S: Sink>(
    input: &Input,
    name: &str,
    sink: &S,
    options: &FollowOptions,
    counter: Arc<AtomicU64>,
    before: Option<S::Reader>,
    progress: &dyn Fn(&Tally),
    tally: &mut Tally,
) -> Result<Option<S::Reader>, SourceError> {
    let imported = |key: &str| sink.imported_bytes(key);
    let OpenedFile {
        mut reader,
        head,
        key,
        mut position,
        done_before,
    } = OpenedFile::open(input, counter.clone(), &imported)?;
    if done_before > 0 && !options.follow {
        tally.files_done_before += 1;
    }
    let mut lines = sink.reader(name, &head, before)?;
    let resumable = input.path().is_some();
    let chunk = sink.chunk_size();
    let mut buf = Vec::with_capacity(chunk + 64 * 1024);
    // Chunks on their way, each with where the file is taken up to once it is durable.
    let mut pending: VecDeque<(Option<Box<dyn Pending>>, u64)> = VecDeque::new();
    let settle = |pending: &mut VecDeque<(Option<Box<dyn Pending>>, u64)>, keep: usize| -> Result<(), SourceError> {
        while pending.len() > keep {
            let Some((sent, upto)) = pending.pop_front() else { break };
            if let Some(sent) = sent {
                sent.wait()?;
            }
            if resumable {
                sink.taken(&key, upto)?;
            }
        }
        Ok(())
    };
    loop {
        buf.clear();
        let (more, damage) = match next_chunk(reader.as_mut(), &mut buf, chunk) {
            Ok(more) => (more, None),
            Err(e) => {
                // The whole lines before the damage still count; the cut one does not.
                let whole = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
                buf.truncate(whole);
                (false, Some(e))
            }
        };
        // A last line without its newline may still be growing: a follow waits for it.
        if damage.is_none() && !more && options.follow && !buf.ends_with(b"\n") {
            let whole = buf.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            buf.truncate(whole);
        }
        let sent = if buf.is_empty() {
            None
        } else {
            let origin = resumable.then_some((key.as_str(), position));
            sink.send(&mut lines, Chunk { bytes: &buf, origin }, tally)?
        };
        position += buf.len() as u64;
        tally.bytes += buf.len() as u64;
        pending.push_back((sent, position));
        if let Some(source) = damage {
            settle(&mut pending, 0)?;
            return Err(SourceError::Damaged { at: position, source });
        }
        settle(&mut pending, if more { options.in_flight } else { 0 })?;
        progress(tally);
        if !more {
            let (true, Some(path)) = (options.follow, input.path()) else {
                return Ok(None);
            };
            std::thread::sleep(options.poll);
            let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if len < position || replaced(path, &head) {
                return Ok(Some(lines));
            }
            reader = open_input(input, counter.clone())?;
            std::io::copy(&mut (&mut reader).take(position), &mut std::io::sink())?;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::*;

    /// Keeps the lines it is sent and a ledger in memory.
    #[derive(Default)]
    struct Lines {
        got: RefCell<Vec<String>>,
        ledger: RefCell<HashMap<String, u64>>,
    }

    impl Sink for Lines {
        type Reader = usize;
        fn chunk_size(&self) -> usize {
            8
        }
        fn imported_bytes(&self, key: &str) -> Result<u64, SourceError> {
            Ok(self.ledger.borrow().get(key).copied().unwrap_or(0))
        }
        fn reader(&self, _: &str, _: &[u8], before: Option<usize>) -> Result<usize, SourceError> {
            Ok(before.unwrap_or(0))
        }
        fn send(&self, chunks: &mut usize, chunk: Chunk<'_>, tally: &mut Tally) -> Result<Option<Box<dyn Pending>>, SourceError> {
            *chunks += 1;
            let text = String::from_utf8_lossy(chunk.bytes);
            self.got.borrow_mut().extend(text.lines().map(String::from));
            tally.lines += text.lines().count() as u64;
            Ok(None)
        }
        fn taken(&self, key: &str, upto: u64) -> Result<(), SourceError> {
            self.ledger.borrow_mut().insert(key.to_string(), upto);
            Ok(())
        }
    }

    #[test]
    fn a_file_imported_again_sends_only_what_it_grew_by() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        let input = Input::File(path.clone());
        let sink = Lines::default();
        let run = |tally: &mut Tally| import_file(&input, &sink, &FollowOptions::default(), Arc::default(), &|_| {}, tally);
        run(&mut Tally::default()).unwrap();
        assert_eq!(*sink.got.borrow(), ["one", "two", "three"]);
        std::fs::write(&path, "one\ntwo\nthree\nfour\n").unwrap();
        let mut again = Tally::default();
        run(&mut again).unwrap();
        assert_eq!(*sink.got.borrow(), ["one", "two", "three", "four"]);
        assert_eq!((again.lines, again.files_done_before), (1, 1));
    }

    #[test]
    fn a_damaged_gzip_keeps_the_whole_lines_before_the_damage() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for i in 0..2_000 {
            writeln!(gz, "line {i}").unwrap();
        }
        let bytes = gz.finish().unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let sink = Lines::default();
        let err = import_file(
            &Input::File(path.clone()),
            &sink,
            &FollowOptions::default(),
            Arc::default(),
            &|_| {},
            &mut Tally::default(),
        )
        .unwrap_err();
        assert!(matches!(err, SourceError::Damaged { .. }), "{err}");
        let got = sink.got.borrow();
        assert!(!got.is_empty());
        assert!(got.iter().enumerate().all(|(i, l)| *l == format!("line {i}")), "only whole lines, in order");
        // The ledger holds exactly what was sent: a rerun resumes there.
        let sent: usize = got.iter().map(|l| l.len() + 1).sum();
        assert_eq!(sink.ledger.borrow().values().copied().collect::<Vec<_>>(), [sent as u64]);
    }
}

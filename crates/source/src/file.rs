//! One input opened for reading: gzip recognised by its magic bytes (not its
//! name), the compressed bytes counted for a progress bar, its first bytes
//! kept to identify it, and reading in chunks of whole lines.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::{Input, SourceError};

/// The bytes looked at to detect the format and identify the file.
pub const HEAD: usize = 64 * 1024;

/// Counts the (compressed) bytes read, for the progress bar.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Opens an input, decompressing gzip (also concatenated members), counting
/// the bytes read from it into `counter`.
pub fn open_input(input: &Input, counter: Arc<AtomicU64>) -> Result<Box<dyn BufRead>, SourceError> {
    let raw: Box<dyn Read> = match input {
        Input::File(p) => Box::new(File::open(p).map_err(|source| SourceError::Open {
            path: p.display().to_string(),
            source,
        })?),
        Input::Stdin => Box::new(std::io::stdin()),
    };
    let mut buffered = BufReader::with_capacity(256 * 1024, Counting { inner: raw, read: counter });
    let gz = buffered.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gz {
        Box::new(BufReader::with_capacity(256 * 1024, flate2::bufread::MultiGzDecoder::new(buffered)))
    } else {
        Box::new(buffered)
    })
}

/// A file's key: a hash of its first line. Log lines carry times and
/// addresses, and a growing log keeps its first line, so the key names one
/// file across imports (a re-import resumes after what was taken).
pub fn file_key(head: &[u8]) -> String {
    let first_line = memchr::memchr(b'\n', head).map(|i| &head[..=i]).unwrap_or(head);
    blake3::hash(first_line).to_hex().to_string()
}

/// Reads whole lines into `buf` until it holds at least `size` bytes.
/// Returns false at the end of the input.
pub fn next_chunk(reader: &mut dyn BufRead, buf: &mut Vec<u8>, size: usize) -> std::io::Result<bool> {
    while buf.len() < size {
        let n = reader.read_until(b'\n', buf)?;
        if n == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether the file at `path` no longer starts as the one being followed.
pub fn replaced(path: &Path, head: &[u8]) -> bool {
    let mut now = vec![0u8; head.len()];
    match File::open(path).and_then(|mut f| f.read_exact(&mut now)) {
        Ok(()) => now != head,
        Err(_) => true,
    }
}

/// An input opened for import, read past what an earlier import took.
pub struct OpenedFile {
    pub reader: Box<dyn BufRead>,
    /// Its first bytes, as they were when it was opened.
    pub head: Vec<u8>,
    pub key: String,
    /// Where reading stands (bytes of the decompressed input).
    pub position: u64,
    /// Bytes an earlier import took (skipped now).
    pub done_before: u64,
}

impl OpenedFile {
    /// Opens `input` and skips what `imported` says was taken of the file
    /// with its key (standard input is never resumed).
    pub fn open(input: &Input, counter: Arc<AtomicU64>, imported: &dyn Fn(&str) -> Result<u64, SourceError>) -> Result<OpenedFile, SourceError> {
        let mut reader = open_input(input, counter)?;
        let head: Vec<u8> = reader.fill_buf()?.iter().take(HEAD).copied().collect();
        let key = file_key(&head);
        let done_before = match input {
            Input::File(_) => imported(&key)?,
            Input::Stdin => 0,
        };
        let position = if done_before > 0 {
            std::io::copy(&mut (&mut reader).take(done_before), &mut std::io::sink())?
        } else {
            0
        };
        Ok(OpenedFile {
            reader,
            head,
            key,
            position,
            done_before,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn gzip_is_read_by_its_magic_and_a_file_resumes_after_what_was_taken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log.1");
        let mut gz = flate2::write::GzEncoder::new(File::create(&path).unwrap(), flate2::Compression::fast());
        gz.write_all(b"first line\nsecond line\nthird line\n").unwrap();
        gz.finish().unwrap();
        let counter = Arc::new(AtomicU64::new(0));
        let input = Input::File(path.clone());
        let mut opened = OpenedFile::open(&input, counter.clone(), &|_| Ok(11)).unwrap();
        assert_eq!((opened.position, opened.done_before), (11, 11));
        assert_eq!(opened.key, file_key(b"first line\n"));
        let mut buf = Vec::new();
        assert!(!next_chunk(opened.reader.as_mut(), &mut buf, 1 << 20).unwrap());
        assert_eq!(buf, b"second line\nthird line\n");
        assert_eq!(counter.load(Ordering::Relaxed), std::fs::metadata(&path).unwrap().len());
    }

    #[test]
    fn chunks_end_at_a_line_end() {
        let mut reader: &[u8] = b"aaaa\nbbbb\ncccc\n";
        let mut buf = Vec::new();
        assert!(next_chunk(&mut reader, &mut buf, 6).unwrap());
        assert_eq!(buf, b"aaaa\nbbbb\n");
    }
}

//! The write-ahead log: accepted input is appended and fsynced here before it is
//! acknowledged.
//!
//! Records are opaque byte strings numbered by a log sequence number (LSN,
//! starting at 1). On disk each record is `len:u32 | crc32:u32 | lsn:u64 | payload`
//! (little endian; the CRC covers LSN and payload), in segment files named by
//! their first LSN. Opening the log validates every record and cuts a torn tail
//! (a crash mid-write), which can only hold records that were never acknowledged,
//! because acknowledgement waits for the fsync. A segment damaged further in
//! (a bad disk, a copy gone wrong) keeps its valid prefix: the bytes from the
//! first bad record on are moved to `damaged/` and reported, and the later
//! segments are read as usual, so the log opens. Group commit is the caller's:
//! [`Wal::append`] takes many records and syncs once.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const HEADER: usize = 16;
/// A new segment is begun once the current one is this large.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// No record may be larger; a length beyond it is corruption, not a record.
pub const MAX_RECORD: usize = 256 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum WalError {
    #[error("WAL I/O error at {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("record of {0} bytes is larger than the WAL accepts")]
    TooLarge(usize),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |source| WalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

struct Segment {
    first_lsn: u64,
    path: PathBuf,
}

pub struct Wal {
    dir: PathBuf,
    segments: Vec<Segment>,
    active: File,
    active_len: u64,
    last_lsn: u64,
    buf: Vec<u8>,
    /// Bytes of damaged segments put aside when the log opened.
    damaged: Vec<PathBuf>,
}

fn segment_name(first_lsn: u64) -> String {
    format!("{first_lsn:020}.wal")
}

/// One segment read: its valid records (LSN, payload), the length of the
/// valid prefix, and whether a torn tail followed it.
type Scanned = (Vec<(u64, Vec<u8>)>, u64, bool);

/// Reads the valid records of one segment; returns them and the length of the valid prefix.
fn scan(path: &Path) -> Result<Scanned, WalError> {
    let mut data = Vec::new();
    File::open(path).and_then(|mut f| f.read_to_end(&mut data)).map_err(io_err(path))?;
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        if data.len() - pos < HEADER {
            return Ok((out, pos as u64, true));
        }
        let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap_or_default()) as usize;
        let crc = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap_or_default());
        let end = pos + HEADER + len;
        if len > MAX_RECORD || end > data.len() {
            return Ok((out, pos as u64, true));
        }
        if crc32fast::hash(&data[pos + 8..end]) != crc {
            return Ok((out, pos as u64, true));
        }
        let lsn = u64::from_le_bytes(data[pos + 8..pos + 16].try_into().unwrap_or_default());
        out.push((lsn, data[pos + HEADER..end].to_vec()));
        pos = end;
    }
    Ok((out, pos as u64, false))
}

impl Wal {
    /// Opens (or creates) the log in `dir`. New records get LSNs above both the
    /// log's last record and `min_last_lsn` (what a checkpoint already covers).
    pub fn open(dir: &Path, min_last_lsn: u64) -> Result<Wal, WalError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut segments: Vec<Segment> = fs::read_dir(dir)
            .map_err(io_err(dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let first_lsn = name.strip_suffix(".wal")?.parse().ok()?;
                Some(Segment { first_lsn, path: e.path() })
            })
            .collect();
        segments.sort_by_key(|s| s.first_lsn);
        let mut last_lsn = min_last_lsn;
        let count = segments.len();
        let mut damaged = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            let (records, valid_len, torn) = scan(&seg.path)?;
            if torn {
                if i + 1 < count {
                    // Records after the damage were acknowledged: keep their
                    // bytes aside for whoever can read them, and say so.
                    let kept = keep_damaged(dir, &seg.path, valid_len)?;
                    tracing::error!(
                        segment = %seg.path.display(),
                        valid_len,
                        kept_in = %kept.display(),
                        "a WAL segment is damaged: its records from the damage on are not counted (their bytes are kept)"
                    );
                    damaged.push(kept);
                } else {
                    tracing::warn!(segment = %seg.path.display(), valid_len, "cutting a torn WAL tail (unacknowledged records)");
                }
                let f = OpenOptions::new().write(true).open(&seg.path).map_err(io_err(&seg.path))?;
                f.set_len(valid_len).map_err(io_err(&seg.path))?;
                f.sync_all().map_err(io_err(&seg.path))?;
            }
            if let Some((lsn, _)) = records.last() {
                last_lsn = last_lsn.max(*lsn);
            }
        }
        let (active, active_len) = match segments.last() {
            Some(seg) => {
                let f = OpenOptions::new().append(true).open(&seg.path).map_err(io_err(&seg.path))?;
                let len = f.metadata().map_err(io_err(&seg.path))?.len();
                (f, len)
            }
            None => {
                let seg = Segment {
                    first_lsn: last_lsn + 1,
                    path: dir.join(segment_name(last_lsn + 1)),
                };
                let f = create_segment(dir, &seg.path)?;
                segments.push(seg);
                (f, 0)
            }
        };
        Ok(Wal {
            dir: dir.to_path_buf(),
            segments,
            active,
            active_len,
            last_lsn,
            buf: Vec::new(),
            damaged,
        })
    }

    /// Where the bytes of damaged segments were put aside when the log opened.
    pub fn damaged(&self) -> &[PathBuf] {
        &self.damaged
    }

    pub fn last_lsn(&self) -> u64 {
        self.last_lsn
    }

    /// Appends records and fsyncs once; returns the LSN of the first one.
    /// When it returns Ok, every record is durable.
    pub fn append<B: AsRef<[u8]>>(&mut self, records: &[B]) -> Result<u64, WalError> {
        let first = self.last_lsn + 1;
        if self.active_len >= SEGMENT_BYTES {
            self.rotate()?;
        }
        self.buf.clear();
        let mut lsn = self.last_lsn;
        for r in records {
            let payload = r.as_ref();
            if payload.len() > MAX_RECORD {
                return Err(WalError::TooLarge(payload.len()));
            }
            lsn += 1;
            let start = self.buf.len();
            self.buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            self.buf.extend_from_slice(&[0; 4]);
            self.buf.extend_from_slice(&lsn.to_le_bytes());
            self.buf.extend_from_slice(payload);
            let crc = crc32fast::hash(&self.buf[start + 8..]);
            self.buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
        }
        let path = self.active_path();
        let written = self.active.write_all(&self.buf).and_then(|_| self.active.sync_data());
        if let Err(e) = written {
            // Cut whatever part was written so the log stays a clean sequence.
            let _ = self.active.set_len(self.active_len);
            return Err(WalError::Io { path, source: e });
        }
        self.active_len += self.buf.len() as u64;
        self.last_lsn = lsn;
        Ok(first)
    }

    fn active_path(&self) -> PathBuf {
        self.segments.last().map(|s| s.path.clone()).unwrap_or_else(|| self.dir.clone())
    }

    /// Closes the active segment and begins a new one, so the old one can be
    /// removed once a checkpoint covers it (erasure needs that).
    pub fn seal_active(&mut self) -> Result<(), WalError> {
        if self.active_len == 0 {
            return Ok(());
        }
        self.rotate()
    }

    fn rotate(&mut self) -> Result<(), WalError> {
        let seg = Segment {
            first_lsn: self.last_lsn + 1,
            path: self.dir.join(segment_name(self.last_lsn + 1)),
        };
        self.active = create_segment(&self.dir, &seg.path)?;
        self.active_len = 0;
        self.segments.push(seg);
        Ok(())
    }

    /// All records with an LSN above `after`, in order.
    pub fn read_after(&self, after: u64) -> Result<Vec<(u64, Vec<u8>)>, WalError> {
        let mut out = Vec::new();
        for (i, seg) in self.segments.iter().enumerate() {
            let next_first = self.segments.get(i + 1).map(|s| s.first_lsn);
            if next_first.is_some_and(|n| n <= after + 1) {
                continue;
            }
            let (records, _, _) = scan(&seg.path)?;
            out.extend(records.into_iter().filter(|(lsn, _)| *lsn > after));
        }
        Ok(out)
    }

    /// Deletes whole segments whose records are all at or below `lsn` (covered by
    /// a checkpoint). The active segment always stays.
    pub fn remove_through(&mut self, lsn: u64) -> Result<usize, WalError> {
        let mut removed = 0;
        while self.segments.len() > 1 && self.segments[1].first_lsn <= lsn + 1 {
            let seg = self.segments.remove(0);
            fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Segment files on disk.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

/// Copies the bytes of `segment` from `from` on into `dir/damaged/`; where.
fn keep_damaged(dir: &Path, segment: &Path, from: u64) -> Result<PathBuf, WalError> {
    let aside = dir.join("damaged");
    fs::create_dir_all(&aside).map_err(io_err(&aside))?;
    let name = segment.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let target = aside.join(format!("{name}.from-byte-{from}"));
    let data = fs::read(segment).map_err(io_err(segment))?;
    fs::write(&target, &data[(from as usize).min(data.len())..]).map_err(io_err(&target))?;
    File::open(&target).and_then(|f| f.sync_all()).map_err(io_err(&target))?;
    Ok(target)
}

fn create_segment(dir: &Path, path: &Path) -> Result<File, WalError> {
    let f = OpenOptions::new().create(true).append(true).open(path).map_err(io_err(path))?;
    // The new name must survive a crash too.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))?;
    Ok(f)
}

/// Reads the valid records above `after` without changing anything on disk
/// (offline readers such as `report`). A torn tail is simply not read.
pub fn read_dir_after(dir: &Path, after: u64) -> Result<Vec<(u64, Vec<u8>)>, WalError> {
    let Ok(entries) = fs::read_dir(dir) else { return Ok(Vec::new()) };
    let mut segments: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().into_string().ok()?.strip_suffix(".wal")?.parse().ok()?, e.path())))
        .collect();
    segments.sort();
    let mut out = Vec::new();
    for (_, path) in segments {
        let (records, _, _) = scan(&path)?;
        out.extend(records.into_iter().filter(|(lsn, _)| *lsn > after));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_read_back_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 0).unwrap();
        assert_eq!(wal.append(&[b"one".as_slice(), b"two"]).unwrap(), 1);
        assert_eq!(wal.append(&[b"three"]).unwrap(), 3);
        drop(wal);
        let wal = Wal::open(dir.path(), 0).unwrap();
        assert_eq!(wal.last_lsn(), 3);
        let all = wal.read_after(1).unwrap();
        assert_eq!(all, vec![(2, b"two".to_vec()), (3, b"three".to_vec())]);
    }

    #[test]
    fn a_torn_tail_is_cut_and_the_log_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 0).unwrap();
        wal.append(&[b"kept"]).unwrap();
        wal.append(&[b"torn-record"]).unwrap();
        let seg = wal.active_path();
        drop(wal);
        let len = fs::metadata(&seg).unwrap().len();
        OpenOptions::new().write(true).open(&seg).unwrap().set_len(len - 3).unwrap();
        let mut wal = Wal::open(dir.path(), 0).unwrap();
        assert_eq!(wal.last_lsn(), 1);
        assert_eq!(wal.append(&[b"next"]).unwrap(), 2);
        assert_eq!(wal.read_after(0).unwrap(), vec![(1, b"kept".to_vec()), (2, b"next".to_vec())]);
    }

    #[test]
    fn a_flipped_bit_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 0).unwrap();
        wal.append(&[b"aaaa", b"bbbb"]).unwrap();
        let seg = wal.active_path();
        drop(wal);
        let mut data = fs::read(&seg).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0x01;
        fs::write(&seg, data).unwrap();
        let wal = Wal::open(dir.path(), 0).unwrap();
        assert_eq!(wal.read_after(0).unwrap(), vec![(1, b"aaaa".to_vec())]);
    }

    #[test]
    fn a_segment_damaged_before_the_last_keeps_its_prefix_and_the_later_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 0).unwrap();
        wal.append(&[b"one".as_slice(), b"two", b"three"]).unwrap();
        let first = wal.active_path();
        wal.rotate().unwrap();
        wal.append(&[b"four"]).unwrap();
        drop(wal);
        // A bit flipped in the second record of the first segment.
        let mut data = fs::read(&first).unwrap();
        let second = HEADER + 3 + HEADER;
        data[second] ^= 0x40;
        fs::write(&first, &data).unwrap();
        let wal = Wal::open(dir.path(), 0).unwrap();
        assert_eq!(wal.read_after(0).unwrap(), vec![(1, b"one".to_vec()), (4, b"four".to_vec())]);
        // The damaged bytes are kept aside, whole, and said where.
        assert_eq!(wal.damaged().len(), 1);
        assert_eq!(fs::read(&wal.damaged()[0]).unwrap(), data[HEADER + 3..].to_vec());
        assert_eq!(wal.last_lsn(), 4);
        drop(wal);
        // Opened again: nothing more is damaged.
        assert!(Wal::open(dir.path(), 0).unwrap().damaged().is_empty());
    }

    #[test]
    fn segments_rotate_and_covered_ones_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::open(dir.path(), 10).unwrap();
        assert_eq!(wal.append(&[b"x"]).unwrap(), 11);
        wal.rotate().unwrap();
        wal.append(&[b"y"]).unwrap();
        wal.rotate().unwrap();
        wal.append(&[b"z"]).unwrap();
        assert_eq!(wal.segment_count(), 3);
        assert_eq!(wal.remove_through(11).unwrap(), 1);
        assert_eq!(wal.read_after(0).unwrap(), vec![(12, b"y".to_vec()), (13, b"z".to_vec())]);
        assert_eq!(wal.remove_through(13).unwrap(), 1);
        assert_eq!(wal.segment_count(), 1);
        drop(wal);
        let wal = Wal::open(dir.path(), 0).unwrap();
        assert_eq!(wal.last_lsn(), 13);
    }
}

//! Where chunks of an input go: the data folder's pipeline (parsed and
//! enriched here, in this process) or a running server (`POST /api/v1/logs`).
//! Both are written by the CLI; the reading loop (`import.rs`) is one.

use std::collections::BTreeMap;

use crate::SourceError;

/// A chunk of whole lines of one input.
pub struct Chunk<'a> {
    pub bytes: &'a [u8],
    /// The file's key and where in it the chunk begins; `None` for standard
    /// input, which is never resumed.
    pub origin: Option<(&'a str, u64)>,
}

/// A chunk on its way to being durable.
pub trait Pending {
    /// Blocks until it is durable.
    fn wait(self: Box<Self>) -> Result<(), SourceError>;
}

pub trait Sink {
    /// What reading one input needs (the parser of its format, line numbers).
    type Reader;
    /// Bytes of chunks this sink takes at a time.
    fn chunk_size(&self) -> usize;
    /// How many bytes of the file `key` were taken already.
    fn imported_bytes(&self, key: &str) -> Result<u64, SourceError>;
    /// Begins an input that starts with `head`, named `name` in messages;
    /// `before` is the reader of the file it replaced (a followed log rotated).
    fn reader(&self, name: &str, head: &[u8], before: Option<Self::Reader>) -> Result<Self::Reader, SourceError>;
    /// Sends a chunk, counting what it held into `tally`; returns what to wait
    /// for until it is durable (`None`: it is, or nothing in it needs to be).
    fn send(&self, reader: &mut Self::Reader, chunk: Chunk<'_>, tally: &mut Tally) -> Result<Option<Box<dyn Pending>>, SourceError>;
    /// The file `key` is durable up to `upto` (a sink whose destination keeps
    /// the ledger itself, a server, does nothing).
    fn taken(&self, key: &str, upto: u64) -> Result<(), SourceError>;
}

/// What an import did, for its summary.
#[derive(Debug, Default)]
pub struct Tally {
    pub bytes: u64,
    pub lines: u64,
    pub parsed: u64,
    pub skipped: u64,
    pub rejected: u64,
    /// Lines cut off in their last quoted value, taken as read.
    pub repaired: u64,
    pub first_rejects: Vec<String>,
    pub excluded: BTreeMap<String, u64>,
    pub files: u64,
    pub files_done_before: u64,
    pub file_errors: Vec<String>,
}

impl Tally {
    /// Rejected lines an import shows.
    pub const EXAMPLES: usize = 5;

    /// Keeps the first rejected lines: (line number, why, the line).
    pub fn reject_examples(&mut self, file: &str, examples: impl IntoIterator<Item = (usize, String, String)>) {
        for (line, why, text) in examples {
            if self.first_rejects.len() < Tally::EXAMPLES {
                self.first_rejects.push(format!("{file}:{line}: {why}: {text}"));
            }
        }
    }
}

//! The first step: what reads inputs before anything parses them. Log files,
//! folders, globs and standard input (`inputs`), gzip and the bytes read
//! (`file`), chunks of whole lines and `--follow` through rotation (`import`),
//! where an earlier import of a file stopped and whether a chunk of it is new
//! (`ledger`), the reply of a log push (`push`), and the [`Sink`] a chunk goes
//! to — the data folder's pipeline or a server's `POST /api/v1/logs`, written
//! by the CLI. This crate knows bytes and lines, never what a line means.

mod file;
mod import;
mod inputs;
mod ledger;
mod push;
mod sink;

pub use file::{file_key, next_chunk, open_input, replaced, OpenedFile, HEAD};
pub use import::{import_file, FollowOptions};
pub use inputs::{expand, Input};
pub use ledger::{place_chunk, Placement, MAX_FILE_KEY};
pub use push::{LineError, PushReply};
pub use sink::{Chunk, Pending, Sink, Tally};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: {source}")]
    Open { path: String, source: std::io::Error },
    #[error("bad glob `{pattern}`: {reason}")]
    Glob { pattern: String, reason: String },
    #[error("`{0}` matches no file")]
    NoMatch(String),
    #[error("{0}: no such file")]
    NoSuchFile(String),
    #[error("{source} after {at} bytes; the lines before were imported")]
    Damaged { at: u64, source: std::io::Error },
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
    /// What the sink (the pipeline, a server) refused, in its words.
    #[error("{0}")]
    Sink(String),
}

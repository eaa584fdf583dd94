//! The import ledger's rule, for local and remote imports alike: a file (known
//! by [`crate::file_key`]) is taken once, in order. An import resumes after
//! the bytes the ledger holds; a chunk sent to a server is placed against
//! them — a repeat is answered as a duplicate, a gap refused. Where the ledger
//! is kept is the caller's (the data folder's metadata).

/// Longest file key taken (the importer sends 64 hex digits).
pub const MAX_FILE_KEY: usize = 128;

/// What to do with a chunk of a file, `offset..offset + len`, when the ledger
/// says `imported` bytes of it were taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Everything in it was taken already (an earlier run sent it).
    Duplicate,
    /// It does not begin where the file was taken to: a chunk is missing or overlaps.
    Gap,
    /// Take it; once durable, the file is taken up to `end`.
    Take { end: u64 },
}

pub fn place_chunk(imported: u64, offset: u64, len: u64) -> Placement {
    let end = offset.saturating_add(len);
    if end <= imported {
        Placement::Duplicate
    } else if offset != imported {
        Placement::Gap
    } else {
        Placement::Take { end }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_is_taken_once_and_in_order() {
        assert_eq!(place_chunk(0, 0, 10), Placement::Take { end: 10 });
        assert_eq!(place_chunk(10, 10, 5), Placement::Take { end: 15 });
        assert_eq!(place_chunk(15, 10, 5), Placement::Duplicate);
        assert_eq!(place_chunk(15, 20, 5), Placement::Gap);
        assert_eq!(place_chunk(15, 12, 5), Placement::Gap, "an overlap is not half taken");
    }
}

//! The data folder's format version, in the file `FORMAT` at its root.
//!
//! | format | written by | what opening it does |
//! |---|---|---|
//! | 1 (no `FORMAT` file) | releases before this one | upgrades it: the metadata migrations run (keys rehashed on use, blocks per tenant), manifests without `last_day` read as one-day files, engine snapshots of version 2 upgraded when read, WAL records of versions 1–3 replayed; then `FORMAT` says 2 |
//! | 2 | this release | nothing |
//! | newer | a later release | refused, with what to do |
//!
//! The parts carry their own versions as well: the metadata schema
//! (`PRAGMA user_version`, `meta.rs`), WAL records (their first byte), engine
//! snapshots (their magic). A change to any of them raises [`FORMAT`] and adds
//! its row above, its migration and its test.

use std::fs;
use std::path::Path;

use crate::{io_err, DataFolder, OpenMode, StoreError};

/// The format this release writes.
pub const FORMAT: u32 = 2;

/// The format of the folder at `root`: `None` for a new (empty) folder.
pub fn read(root: &Path) -> Result<Option<u32>, StoreError> {
    let folder = DataFolder::new(root);
    let path = folder.format_file();
    match fs::read_to_string(&path) {
        Ok(text) => text.trim().parse().map(Some).map_err(|_| StoreError::Format {
            path: path.display().to_string(),
            reason: format!("`{}` is not a format number", text.trim().chars().take(20).collect::<String>()),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(folder.meta_file().exists().then_some(1)),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Refuses a folder of a newer release; marks a new or upgraded one with
/// [`FORMAT`] (after the parts' own migrations ran, when opened to serve).
pub fn check(root: &Path) -> Result<Option<u32>, StoreError> {
    let found = read(root)?;
    if let Some(found) = found.filter(|f| *f > FORMAT) {
        return Err(StoreError::Format {
            path: root.display().to_string(),
            reason: format!(
                "it is format {found}, written by a newer streamtally; this release reads formats up to {FORMAT}: \
                 run the newer release on it, or restore a backup made for this one"
            ),
        });
    }
    Ok(found)
}

/// Writes [`FORMAT`] once the folder was opened (and so upgraded) to serve.
pub fn mark(root: &Path, mode: OpenMode, found: Option<u32>) -> Result<(), StoreError> {
    if mode == OpenMode::Serve && found != Some(FORMAT) {
        if let Some(old) = found {
            tracing::info!(from = old, to = FORMAT, folder = %root.display(), "upgraded the data folder's format");
        }
        let path = DataFolder::new(root).format_file();
        fs::write(&path, format!("{FORMAT}\n")).map_err(io_err(&path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmbeddedStore;

    #[test]
    fn a_new_folder_is_marked_an_old_one_upgraded_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("fresh");
        drop(EmbeddedStore::open(&fresh, OpenMode::Serve).unwrap());
        assert_eq!(read(&fresh).unwrap(), Some(FORMAT));
        // A folder of the last release: data, but no FORMAT file.
        let old = dir.path().join("old");
        drop(EmbeddedStore::open(&old, OpenMode::Serve).unwrap());
        fs::remove_file(DataFolder::new(&old).format_file()).unwrap();
        assert_eq!(read(&old).unwrap(), Some(1));
        // Read-only opening upgrades nothing.
        drop(EmbeddedStore::open(&old, OpenMode::ReadOnly).unwrap());
        assert_eq!(read(&old).unwrap(), Some(1));
        drop(EmbeddedStore::open(&old, OpenMode::Serve).unwrap());
        assert_eq!(read(&old).unwrap(), Some(FORMAT));
        // A later release's folder is refused, saying what to do.
        fs::write(DataFolder::new(&old).format_file(), "99\n").unwrap();
        let e = EmbeddedStore::open(&old, OpenMode::Serve).err().expect("a newer folder opened");
        assert!(e.to_string().contains("format 99, written by a newer streamtally"), "{e}");
        assert_eq!(read(&old).unwrap(), Some(99));
    }
}

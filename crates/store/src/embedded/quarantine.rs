//! Files that cannot be read are put aside when a table opens for serving:
//! moved into the data folder's `quarantine/`, dropped from the manifest and
//! reported, so the server starts and answers from the rest instead of
//! failing every query that touches the file. A file is readable when its
//! Parquet footer reads and holds the row count the manifest wrote down.

use std::fs::File;
use std::path::Path;

use super::*;

impl TableState {
    /// Moves the unreadable files the manifest names into `aside`; what was
    /// moved, each as "file: why (where it went)".
    pub(super) fn quarantine_unreadable(&mut self, aside: &Path) -> Result<Vec<String>, StoreError> {
        let bad: Vec<(String, String)> = self
            .manifest
            .files
            .iter()
            .filter_map(|f| readable(&self.dir.join(&f.path), f.rows).err().map(|why| (f.path.clone(), why)))
            .collect();
        if bad.is_empty() {
            return Ok(Vec::new());
        }
        fs::create_dir_all(aside).map_err(io_err(aside))?;
        let mut moved = Vec::new();
        for (rel, why) in &bad {
            let from = self.dir.join(rel);
            let to = aside.join(rel.replace('/', "_"));
            if from.exists() {
                fs::rename(&from, &to).map_err(io_err(&from))?;
            }
            tracing::error!(file = %from.display(), reason = %why, moved_to = %to.display(), "an unreadable store file was put aside; its rows are not answered");
            moved.push(format!("{}: {why} (moved to {})", from.display(), to.display()));
        }
        let mut manifest = self.manifest.clone();
        manifest.files.retain(|f| !bad.iter().any(|(rel, _)| *rel == f.path));
        self.write_manifest(&manifest)?;
        self.manifest = manifest;
        Ok(moved)
    }
}

pub(super) fn readable(path: &Path, rows: u64) -> Result<(), String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
    let found = reader.metadata().file_metadata().num_rows();
    if u64::try_from(found).ok() != Some(rows) {
        return Err(format!("it holds {found} rows where the manifest says {rows}"));
    }
    Ok(())
}

//! Where each part of a data folder lives: one type, so that no other code
//! joins path names of its own.

use std::path::{Path, PathBuf};

use streamtally_model::TenantId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFolder {
    root: PathBuf,
}

impl DataFolder {
    pub fn new(root: impl Into<PathBuf>) -> DataFolder {
        DataFolder { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The flock held by the process that owns the folder.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("streamtally.lock")
    }

    /// The folder's format version (`format.rs`).
    pub fn format_file(&self) -> PathBuf {
        self.root.join("FORMAT")
    }

    pub fn meta_file(&self) -> PathBuf {
        self.root.join("meta.sqlite")
    }

    /// The write-ahead log's segments.
    pub fn wal_dir(&self) -> PathBuf {
        self.root.join("wal")
    }

    /// Counting-engine snapshots.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join("state")
    }

    pub fn engine_snapshot(&self) -> PathBuf {
        self.state_dir().join("engine.snapshot")
    }

    /// One tenant's tables (`facts/`, `events/`).
    pub fn tenant_dir(&self, tenant: TenantId) -> PathBuf {
        self.root.join("tenants").join(tenant.to_string())
    }
}

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

impl DataFolder {
    /// Creates the folder if needed and takes its lock, held while the
    /// returned file is open: one process owns a data folder.
    pub(crate) fn take(root: &Path, mode: crate::OpenMode) -> Result<(DataFolder, std::fs::File), crate::StoreError> {
        use fs4::fs_std::FileExt;
        use std::io::Write;
        std::fs::create_dir_all(root).map_err(crate::io_err(root))?;
        streamtally_meta::keep_private(root, 0o700).map_err(crate::io_err(root))?;
        let folder = DataFolder::new(root);
        let lock_path = folder.lock_file();
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(crate::io_err(&lock_path))?;
        if !lock.try_lock_exclusive().unwrap_or(false) {
            let hint = std::fs::read_to_string(&lock_path).unwrap_or_default();
            return Err(crate::StoreError::Locked {
                path: root.display().to_string(),
                hint: format!("{}; stop it, or ask the running server's HTTP API instead", hint.trim()),
            });
        }
        if mode == crate::OpenMode::Serve {
            let _ = lock.set_len(0);
            let _ = (&lock).write_all(format!("held by streamtally pid {}", std::process::id()).as_bytes());
        }
        Ok((folder, lock))
    }
}

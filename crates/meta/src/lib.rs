//! Metadata: who the tenants are and what they configured — tenants and their
//! device-hashing secrets, API keys, staff accounts, the user directory, settings, the content catalogue, access
//! lists and SecureID secrets, the abuse table and the import ledger. SQLite
//! in the data folder (one file, `meta.sqlite`), safe to use from the CLI while
//! a server runs on the same folder; or PostgreSQL, shared by several nodes
//! (`Meta::connect`), so that all of them number tenants and hash device keys
//! alike. One module per table group, each statement written once for both
//! (`db`); counted facts live elsewhere (the store).

mod abuse;
mod access;
mod accounts;
mod contents;
mod db;
mod directory;
mod erasures;
mod keys;
mod ledger;
mod postgres_schema;
mod schema;
mod settings;
mod tenants;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use db::Conn;
use rand::RngCore;
use streamtally_model::SettingsError;

pub use abuse::AbuseBlock;
pub use access::AccessFailures;
pub use accounts::{Account, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
pub use contents::Content;
pub use db::DbError;
pub use directory::Lookup;
pub use erasures::ErasureRequest;
pub use keys::{checked_property, ApiKey, KeyInfo, Principal, Role};
pub use schema::SCHEMA_VERSION;
pub use tenants::Tenant;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata database: {0}")]
    Sql(#[from] DbError),
    #[error("tenant `{0}` does not exist")]
    NoTenant(String),
    #[error("tenant `{0}` exists already")]
    TenantExists(String),
    #[error("tenant name `{0}` is not valid: use 1-63 of a-z, 0-9, - and _, starting with a letter or digit")]
    BadTenantName(String),
    #[error("unknown role `{0}` (ingest, read or admin)")]
    BadRole(String),
    #[error("property `{0}` is not valid: use 1-100 characters, no control characters")]
    BadProperty(String),
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("content `{content_id}`: {reason}")]
    BadContent { content_id: String, reason: String },
    #[error("{0}")]
    BadAccount(String),
    #[error("`{0}` has an account already")]
    AccountExists(String),
    #[error("key hashing failed: {0}")]
    Hash(String),
    #[error("metadata file: {0}")]
    Io(String),
    #[error("the metadata schema is version {0}, written by a newer streamtally; run the newer release, or restore a backup made for this one")]
    NewerSchema(u32),
}

/// The metadata of one data folder; opened once and shared.
pub struct Meta {
    conn: Mutex<Conn>,
    /// Keys verified lately, by the digest of what was presented.
    key_cache: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
}

pub(crate) fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Makes `path` readable by its owner only (`mode` 0700 or 0600), when it is
/// not already: the data folder holds every tenant's secrets. Folders made by
/// older releases (0755, files 0644) are tightened when opened.
pub fn keep_private(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)?;
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

impl From<rusqlite::Error> for MetaError {
    fn from(e: rusqlite::Error) -> Self {
        MetaError::Sql(DbError::Sqlite(e))
    }
}

/// Where the metadata is: `postgres://…` (or `postgresql://…`), else the
/// SQLite file of the data folder.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

impl Meta {
    /// Connects to metadata in PostgreSQL
    /// (`postgres://user:password@host:5432/database`), creating or migrating
    /// its tables: the metadata several nodes share.
    pub fn connect(url: &str) -> Result<Meta, MetaError> {
        Meta::connect_with(url, None)
    }

    /// As [`Meta::connect`], over TLS that trusts the certificates in
    /// `ca_pem` (PEM: a private CA or the server's own) when given; without
    /// it, TLS only with `sslmode=require` in the address, checked against
    /// the public CAs.
    pub fn connect_with(url: &str, ca_pem: Option<&[u8]>) -> Result<Meta, MetaError> {
        let mut conn = Conn::Postgres(db::PgConn::connect(url, ca_pem)?);
        postgres_schema::migrate(&mut conn)?;
        Ok(Meta::with(conn))
    }

    fn with(conn: Conn) -> Meta {
        Meta {
            conn: Mutex::new(conn),
            key_cache: Mutex::new(HashMap::new()),
        }
    }

    /// Opens (or creates) the SQLite metadata file of a data folder.
    pub fn open(path: &Path) -> Result<Meta, MetaError> {
        if let Some(folder) = path.parent().filter(|p| p.is_dir()) {
            keep_private(folder, 0o700).map_err(|e| MetaError::Io(format!("{}: {e}", folder.display())))?;
        }
        let conn = rusqlite::Connection::open(path)?;
        for file in [path.to_path_buf(), path.with_extension("sqlite-wal"), path.with_extension("sqlite-shm")] {
            if file.exists() {
                keep_private(&file, 0o600).map_err(|e| MetaError::Io(format!("{}: {e}", file.display())))?;
            }
        }
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted rows (an erased user's name) are overwritten, not left in free pages.
        conn.pragma_update(None, "secure_delete", "ON")?;
        let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > schema::SCHEMA_VERSION {
            return Err(MetaError::NewerSchema(version));
        }
        conn.execute_batch(schema::SCHEMA)?;
        // Version 0 (releases before versions): blocks per address and reason.
        schema::migrate_abuse_blocks(&conn)?;
        schema::migrate_added_columns(&conn)?;
        conn.pragma_update(None, "user_version", schema::SCHEMA_VERSION)?;
        Ok(Meta::with(Conn::Sqlite(conn)))
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Conn> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

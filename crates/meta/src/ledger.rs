//! The import ledger: how many bytes of each imported file were taken, so an
//! import that stopped goes on where it stopped.

use streamtally_model::TenantId;

use crate::db::args;
use crate::{now_secs, Meta, MetaError};

impl Meta {
    /// Bytes of a log file already imported (0 for a new file).
    pub fn imported_bytes(&self, tenant: TenantId, file_key: &str) -> Result<u64, MetaError> {
        let n: Option<i64> = self
            .conn()
            .query_opt(
                "SELECT imported_bytes FROM imports WHERE tenant_id = ?1 AND file_key = ?2",
                args![tenant, file_key],
            )?
            .map(|r| r.get(0))
            .transpose()?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    /// Moves the file's place forward to `bytes` (never back: the sender and
    /// the counting engine both move it, in either order).
    pub fn set_imported_bytes(&self, tenant: TenantId, file_key: &str, bytes: u64) -> Result<(), MetaError> {
        self.conn().execute(
            "INSERT INTO imports (tenant_id, file_key, imported_bytes, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (tenant_id, file_key) DO UPDATE SET updated_at = excluded.updated_at,
               imported_bytes = CASE WHEN excluded.imported_bytes > imports.imported_bytes THEN excluded.imported_bytes ELSE imports.imported_bytes END",
            args![tenant, file_key, bytes as i64, now_secs()],
        )?;
        Ok(())
    }
}

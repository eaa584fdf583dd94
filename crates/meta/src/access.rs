//! Access lists (spec §6): codes, the SecureID secret, failed checks per day.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use streamtally_access::AccessEntry;
use streamtally_model::TenantId;

use crate::{now_secs, random_hex, Meta, MetaError};

/// Failed access checks of one content on one UTC day.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AccessFailures {
    pub content_id: String,
    pub day: String,
    pub failed: i64,
}

impl Meta {
    /// Adds codes or updates their note and expiry; a re-added code is no longer revoked.
    pub fn upsert_access_codes(&self, tenant: TenantId, entries: &[AccessEntry]) -> Result<usize, MetaError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO access_codes (tenant_id, code, note, expires_at, revoked_at, created_at) VALUES (?1, ?2, ?3, ?4, NULL, ?5)
                 ON CONFLICT (tenant_id, code) DO UPDATE SET note = excluded.note, expires_at = excluded.expires_at, revoked_at = NULL",
            )?;
            for e in entries {
                stmt.execute(params![tenant, e.code, e.note, e.expires_at, now_secs()])?;
            }
        }
        tx.commit()?;
        Ok(entries.len())
    }

    /// Revokes codes from `at` (microseconds) on; codes not listed yet are listed
    /// as revoked (that is how a SecureID id is blocked). Returns how many.
    pub fn revoke_access_codes(&self, tenant: TenantId, codes: &[String], at: i64) -> Result<usize, MetaError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare(
                "INSERT INTO access_codes (tenant_id, code, revoked_at, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant_id, code) DO UPDATE SET revoked_at = COALESCE(revoked_at, excluded.revoked_at)",
            )?;
            for c in codes {
                stmt.execute(params![tenant, c, at, now_secs()])?;
            }
        }
        tx.commit()?;
        Ok(codes.len())
    }

    pub fn access_codes(&self, tenant: TenantId) -> Result<Vec<AccessEntry>, MetaError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT code, note, expires_at, revoked_at FROM access_codes WHERE tenant_id = ?1 ORDER BY code")?;
        let rows = stmt.query_map([tenant], |r| {
            Ok(AccessEntry {
                code: r.get(0)?,
                note: r.get(1)?,
                expires_at: r.get(2)?,
                revoked_at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The tenant's SecureID secret, if one was made.
    pub fn access_secret(&self, tenant: TenantId) -> Result<Option<String>, MetaError> {
        Ok(self
            .conn()
            .query_row("SELECT secret FROM access_secrets WHERE tenant_id = ?1", [tenant], |r| r.get(0))
            .optional()?)
    }

    /// Makes a new SecureID secret (replacing the old one: its SecureIDs stop working).
    pub fn rotate_access_secret(&self, tenant: TenantId) -> Result<String, MetaError> {
        let secret = format!("sid_{}", random_hex(24));
        self.conn().execute(
            "INSERT INTO access_secrets (tenant_id, secret, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at",
            params![tenant, secret, now_secs()],
        )?;
        Ok(secret)
    }

    pub fn count_access_failure(&self, tenant: TenantId, content_id: &str, day: &str) -> Result<(), MetaError> {
        self.conn().execute(
            "INSERT INTO access_failures (tenant_id, content_id, day, failed) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (tenant_id, content_id, day) DO UPDATE SET failed = failed + 1",
            params![tenant, content_id, day],
        )?;
        Ok(())
    }

    /// Failed checks per content and day, for days in `[from_day, to_day]` (YYYY-MM-DD).
    pub fn access_failures(&self, tenant: TenantId, from_day: &str, to_day: &str) -> Result<Vec<AccessFailures>, MetaError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT content_id, day, failed FROM access_failures WHERE tenant_id = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day, content_id")?;
        let rows = stmt.query_map(params![tenant, from_day, to_day], |r| {
            Ok(AccessFailures {
                content_id: r.get(0)?,
                day: r.get(1)?,
                failed: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

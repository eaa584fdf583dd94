//! Access lists (spec §6): codes, the SecureID secret, failed checks per day.

use serde::Serialize;
use streamtally_access::AccessEntry;
use streamtally_model::TenantId;

use crate::db::{args, DbError};
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
        self.conn().transaction(|tx| {
            for e in entries {
                tx.execute(
                    "INSERT INTO access_codes (tenant_id, code, note, expires_at, revoked_at, created_at) VALUES (?1, ?2, ?3, ?4, NULL, ?5)
                     ON CONFLICT (tenant_id, code) DO UPDATE SET note = excluded.note, expires_at = excluded.expires_at, revoked_at = NULL",
                    args![tenant, e.code, e.note, e.expires_at, now_secs()],
                )?;
            }
            Ok(entries.len())
        })
    }

    /// Revokes codes from `at` (microseconds) on; codes not listed yet are listed
    /// as revoked (that is how a SecureID id is blocked). Returns how many.
    pub fn revoke_access_codes(&self, tenant: TenantId, codes: &[String], at: i64) -> Result<usize, MetaError> {
        self.conn().transaction(|tx| {
            for c in codes {
                tx.execute(
                    "INSERT INTO access_codes (tenant_id, code, revoked_at, created_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant_id, code) DO UPDATE SET revoked_at = COALESCE(access_codes.revoked_at, excluded.revoked_at)",
                    args![tenant, c, at, now_secs()],
                )?;
            }
            Ok(codes.len())
        })
    }

    pub fn access_codes(&self, tenant: TenantId) -> Result<Vec<AccessEntry>, MetaError> {
        let rows = self.conn().query(
            "SELECT code, note, expires_at, revoked_at FROM access_codes WHERE tenant_id = ?1 ORDER BY code",
            args![tenant],
        )?;
        let entries = rows.iter().map(|r| {
            Ok(AccessEntry {
                code: r.get(0)?,
                note: r.get(1)?,
                expires_at: r.get(2)?,
                revoked_at: r.get(3)?,
            })
        });
        Ok(entries.collect::<Result<_, DbError>>()?)
    }

    /// The tenant's SecureID secret, if one was made.
    pub fn access_secret(&self, tenant: TenantId) -> Result<Option<String>, MetaError> {
        let row = self.conn().query_opt("SELECT secret FROM access_secrets WHERE tenant_id = ?1", args![tenant])?;
        Ok(row.map(|r| r.get(0)).transpose()?)
    }

    /// Makes a new SecureID secret (replacing the old one: its SecureIDs stop working).
    pub fn rotate_access_secret(&self, tenant: TenantId) -> Result<String, MetaError> {
        let secret = format!("sid_{}", random_hex(24));
        self.conn().execute(
            "INSERT INTO access_secrets (tenant_id, secret, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (tenant_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at",
            args![tenant, secret, now_secs()],
        )?;
        Ok(secret)
    }

    pub fn count_access_failure(&self, tenant: TenantId, content_id: &str, day: &str) -> Result<(), MetaError> {
        self.conn().execute(
            "INSERT INTO access_failures (tenant_id, content_id, day, failed) VALUES (?1, ?2, ?3, 1)
             ON CONFLICT (tenant_id, content_id, day) DO UPDATE SET failed = access_failures.failed + 1",
            args![tenant, content_id, day],
        )?;
        Ok(())
    }

    /// Failed checks per content and day, for days in `[from_day, to_day]` (YYYY-MM-DD).
    pub fn access_failures(&self, tenant: TenantId, from_day: &str, to_day: &str) -> Result<Vec<AccessFailures>, MetaError> {
        let rows = self.conn().query(
            "SELECT content_id, day, failed FROM access_failures WHERE tenant_id = ?1 AND day >= ?2 AND day <= ?3 ORDER BY day, content_id",
            args![tenant, from_day, to_day],
        )?;
        let failures = rows.iter().map(|r| {
            Ok(AccessFailures {
                content_id: r.get(0)?,
                day: r.get(1)?,
                failed: r.get(2)?,
            })
        });
        Ok(failures.collect::<Result<_, DbError>>()?)
    }
}

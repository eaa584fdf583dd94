//! Tenants, each with the secret its device keys are hashed with.

use rand::RngCore;
use serde::Serialize;
use streamtally_model::TenantId;

use crate::db::{args, DbError, Row};
use crate::{now_secs, Meta, MetaError};

#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub created_at: i64,
}

fn tenant_row(r: &Row) -> Result<Tenant, DbError> {
    Ok(Tenant {
        id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get(2)?,
    })
}

fn valid_tenant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name.as_bytes()[0].is_ascii_alphanumeric()
}

impl Meta {
    pub fn create_tenant(&self, name: &str) -> Result<Tenant, MetaError> {
        if !valid_tenant_name(name) {
            return Err(MetaError::BadTenantName(name.to_string()));
        }
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let created_at = now_secs();
        let result = self.conn().transaction(|c| {
            let id: TenantId = c
                .query_opt(
                    "INSERT INTO tenants (name, created_at, device_secret) VALUES (?1, ?2, ?3) RETURNING id",
                    args![name, created_at, &secret[..]],
                )?
                .map(|r| r.get(0))
                .transpose()?
                .ok_or_else(|| MetaError::NoTenant(name.to_string()))?;
            // Raw events of a new tenant are kept 90 days (older tenants keep theirs).
            c.execute(
                "INSERT INTO settings (tenant_id, key, value) VALUES (?1, 'raw_retention_days', ?2)",
                args![id, streamtally_model::Settings::NEW_TENANT_RAW_RETENTION.to_string()],
            )?;
            Ok(id)
        });
        match result {
            Ok(id) => Ok(Tenant {
                id,
                name: name.to_string(),
                created_at,
            }),
            Err(MetaError::Sql(DbError::Conflict)) => Err(MetaError::TenantExists(name.to_string())),
            Err(e) => Err(e),
        }
    }

    pub fn tenants(&self) -> Result<Vec<Tenant>, MetaError> {
        let rows = self.conn().query("SELECT id, name, created_at FROM tenants ORDER BY id", &[])?;
        Ok(rows.iter().map(tenant_row).collect::<Result<_, _>>()?)
    }

    pub fn tenant_by_name(&self, name: &str) -> Result<Tenant, MetaError> {
        let row = self.conn().query_opt("SELECT id, name, created_at FROM tenants WHERE name = ?1", args![name])?;
        row.as_ref().map(tenant_row).transpose()?.ok_or_else(|| MetaError::NoTenant(name.to_string()))
    }

    pub fn tenant_by_id(&self, id: TenantId) -> Result<Tenant, MetaError> {
        let row = self.conn().query_opt("SELECT id, name, created_at FROM tenants WHERE id = ?1", args![id])?;
        row.as_ref().map(tenant_row).transpose()?.ok_or_else(|| MetaError::NoTenant(id.to_string()))
    }

    /// The tenant's device-hashing secret (never leaves the server).
    pub fn device_secret(&self, tenant: TenantId) -> Result<[u8; 32], MetaError> {
        let blob: Vec<u8> = self
            .conn()
            .query_opt("SELECT device_secret FROM tenants WHERE id = ?1", args![tenant])?
            .map(|r| r.get(0))
            .transpose()?
            .ok_or_else(|| MetaError::NoTenant(tenant.to_string()))?;
        let mut out = [0u8; 32];
        let n = blob.len().min(32);
        out[..n].copy_from_slice(&blob[..n]);
        Ok(out)
    }
}

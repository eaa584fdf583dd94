//! Blocked clients: the one table that keeps raw addresses (spec §8), per
//! address, reason and tenant, pruned after each tenant's `abuse_retention`.

use serde::Serialize;
use streamtally_model::TenantId;

use crate::db::args;
use crate::{now_secs, Meta, MetaError};

/// One blocked client, as admins see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AbuseBlock {
    pub ip: String,
    pub reason: String,
    pub tenant_id: Option<TenantId>,
    pub first_at: i64,
    pub last_at: i64,
    pub hits: i64,
}

impl Meta {
    /// Records (or counts again) a blocked client.
    pub fn record_abuse(&self, ip: &str, reason: &str, tenant: Option<TenantId>, hits: i64) -> Result<(), MetaError> {
        let now = now_secs();
        self.conn().execute(
            "INSERT INTO blocked_clients (ip, reason, tenant_id, first_at, last_at, hits) VALUES (?1, ?2, COALESCE(?3, 0), ?4, ?4, ?5)
             ON CONFLICT (ip, reason, tenant_id) DO UPDATE SET last_at = excluded.last_at, hits = blocked_clients.hits + excluded.hits",
            args![ip, reason, tenant, now, hits],
        )?;
        Ok(())
    }

    /// Blocked clients, newest first; `tenant: Some` limits to those that used its keys.
    pub fn abuse_blocks(&self, tenant: Option<TenantId>) -> Result<Vec<AbuseBlock>, MetaError> {
        let rows = self.conn().query(
            "SELECT ip, reason, NULLIF(tenant_id, 0), first_at, last_at, hits FROM blocked_clients
             WHERE tenant_id = COALESCE(?1, tenant_id) ORDER BY last_at DESC, ip, reason",
            args![tenant],
        )?;
        let blocks = rows.iter().map(|r| {
            Ok(AbuseBlock {
                ip: r.get(0)?,
                reason: r.get(1)?,
                tenant_id: r.get(2)?,
                first_at: r.get(3)?,
                last_at: r.get(4)?,
                hits: r.get(5)?,
            })
        });
        Ok(blocks.collect::<Result<_, crate::DbError>>()?)
    }

    /// Forgets blocks last seen before `before` (seconds since the epoch); for
    /// one tenant's rows, or with `None` for rows of no tenant.
    pub fn prune_abuse(&self, tenant: Option<TenantId>, before: i64) -> Result<usize, MetaError> {
        Ok(self.conn().execute(
            "DELETE FROM blocked_clients WHERE tenant_id = COALESCE(?1, 0) AND last_at < ?2",
            args![tenant, before],
        )? as usize)
    }
}

//! Erasure requests shared by several nodes (spec §8): a subject's facts and
//! events live on every node's shard and in every node's engine state, so
//! the node that takes a request records it here, and each node applies
//! every request it has not applied yet and notes that it did.

use serde::Serialize;
use streamtally_model::TenantId;

use crate::db::{args, DbError, Row};
use crate::{now_secs, Meta, MetaError};

/// One erasure request: `kind` is `user`, `device` (a device key, never the
/// device's own id) or `access_code`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErasureRequest {
    pub id: i64,
    pub tenant: TenantId,
    pub kind: String,
    pub value: String,
    pub requested_at: i64,
}

fn request_row(r: &Row) -> Result<ErasureRequest, DbError> {
    Ok(ErasureRequest {
        id: r.get(0)?,
        tenant: r.get(1)?,
        kind: r.get(2)?,
        value: r.get(3)?,
        requested_at: r.get(4)?,
    })
}

impl Meta {
    /// Records a request; its number.
    pub fn request_erasure(&self, tenant: TenantId, kind: &str, value: &str) -> Result<i64, MetaError> {
        let row = self.conn().query_opt(
            "INSERT INTO erasure_requests (tenant_id, kind, value, requested_at) VALUES (?1, ?2, ?3, ?4) RETURNING id",
            args![tenant, kind, value, now_secs()],
        )?;
        Ok(row.map(|r| r.get(0)).transpose()?.unwrap_or_default())
    }

    /// Requests `node` has not applied yet, oldest first.
    pub fn erasures_pending_on(&self, node: &str) -> Result<Vec<ErasureRequest>, MetaError> {
        let rows = self.conn().query(
            "SELECT id, tenant_id, kind, value, requested_at FROM erasure_requests r
             WHERE NOT EXISTS (SELECT 1 FROM erasures_applied a WHERE a.request_id = r.id AND a.node = ?1) ORDER BY id",
            args![node],
        )?;
        Ok(rows.iter().map(request_row).collect::<Result<_, _>>()?)
    }

    /// Notes that `node` applied request `id` (again: no change).
    pub fn erasure_applied(&self, id: i64, node: &str) -> Result<(), MetaError> {
        self.conn().execute(
            "INSERT INTO erasures_applied (request_id, node, applied_at) VALUES (?1, ?2, ?3) ON CONFLICT (request_id, node) DO NOTHING",
            args![id, node, now_secs()],
        )?;
        Ok(())
    }

    /// The nodes that applied request `id`, by name.
    pub fn erasure_applied_by(&self, id: i64) -> Result<Vec<String>, MetaError> {
        let rows = self
            .conn()
            .query("SELECT node FROM erasures_applied WHERE request_id = ?1 ORDER BY node", args![id])?;
        Ok(rows.iter().map(|r| r.get(0)).collect::<Result<_, DbError>>()?)
    }
}

#[cfg(test)]
mod tests {
    use crate::tests::backends;

    #[test]
    fn each_node_applies_each_request_once() {
        for b in backends() {
            eprintln!("on {}", b.name);
            let meta = &b.meta;
            let t = meta.create_tenant("t").unwrap().id;
            let first = meta.request_erasure(t, "user", "u1").unwrap();
            let second = meta.request_erasure(t, "device", "42").unwrap();
            assert!(second > first);
            meta.erasure_applied(first, "node0").unwrap();
            meta.erasure_applied(first, "node0").unwrap();
            let pending: Vec<i64> = meta.erasures_pending_on("node0").unwrap().iter().map(|r| r.id).collect();
            assert_eq!(pending, [second]);
            let on_node1 = meta.erasures_pending_on("node1").unwrap();
            assert_eq!(
                on_node1.iter().map(|r| (r.kind.as_str(), r.value.as_str())).collect::<Vec<_>>(),
                [("user", "u1"), ("device", "42")]
            );
            assert_eq!(meta.erasure_applied_by(first).unwrap(), ["node0"]);
        }
    }
}

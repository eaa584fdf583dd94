//! Each tenant's counting settings, stored as text pairs.

use rusqlite::params;
use streamtally_model::{Settings, TenantId};

use crate::{Meta, MetaError};

impl Meta {
    pub fn settings(&self, tenant: TenantId) -> Result<Settings, MetaError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT key, value FROM settings WHERE tenant_id = ?1")?;
        let pairs: Vec<(String, String)> = stmt.query_map([tenant], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
        Ok(Settings::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?)
    }

    /// Validates all pairs first, then stores them together.
    pub fn update_settings(&self, tenant: TenantId, pairs: &[(String, String)]) -> Result<Settings, MetaError> {
        let mut s = self.settings(tenant)?;
        for (k, v) in pairs {
            s.set(k, v)?;
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for (k, _) in pairs {
            let v = s.get(k)?;
            tx.execute(
                "INSERT INTO settings (tenant_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value",
                params![tenant, k, v],
            )?;
        }
        tx.commit()?;
        Ok(s)
    }
}

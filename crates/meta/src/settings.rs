//! Each tenant's counting settings, stored as text pairs.

use streamtally_model::{Settings, TenantId};

use crate::db::args;
use crate::{Meta, MetaError};

impl Meta {
    pub fn settings(&self, tenant: TenantId) -> Result<Settings, MetaError> {
        let rows = self.conn().query("SELECT key, value FROM settings WHERE tenant_id = ?1", args![tenant])?;
        let pairs: Vec<(String, String)> = rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?))).collect::<Result<_, crate::DbError>>()?;
        Ok(Settings::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?)
    }

    /// Validates all pairs first, then stores them together.
    pub fn update_settings(&self, tenant: TenantId, pairs: &[(String, String)]) -> Result<Settings, MetaError> {
        let mut s = self.settings(tenant)?;
        for (k, v) in pairs {
            s.set(k, v)?;
        }
        self.conn().transaction(|tx| {
            for (k, _) in pairs {
                let v = s.get(k)?;
                tx.execute(
                    "INSERT INTO settings (tenant_id, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (tenant_id, key) DO UPDATE SET value = excluded.value",
                    args![tenant, k, v],
                )?;
            }
            Ok(())
        })?;
        Ok(s)
    }
}

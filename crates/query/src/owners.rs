//! What names a user outside the directory: raw events (within raw
//! retention) with the last login, and the playbacks that named the user
//! only after some of their facts (spec §8b, `Owner` facts).

use streamtally_model::{Micros, TenantId};

use crate::model::QUERY_YEARS;
use crate::sql::{owned_stretches, owners_of, param};
use crate::{Cell, Dialect, Scope, Select, Sql, Table};

/// The most owned playbacks one activity answer looks at.
pub const MAX_OWNED_PLAYBACKS: usize = 10_000;

/// Whether a user left any raw event (within raw retention), and the last
/// login: what makes an id known without a directory entry.
#[derive(Debug, Clone, PartialEq)]
pub struct UserTrace {
    pub user_id: String,
}

impl Select for UserTrace {
    fn scope(&self) -> Scope {
        Scope {
            events: true,
            ..Scope::facts(QUERY_YEARS.0, QUERY_YEARS.1)
        }
    }

    fn statements(&self, tenant: TenantId, dialect: &dyn Dialect) -> Vec<Sql> {
        let mut params = Vec::new();
        let user = param(dialect, &mut params, &self.user_id);
        let tenant = dialect.tenant_condition("f", tenant).map(|c| format!("{c} AND ")).unwrap_or_default();
        vec![Sql {
            text: format!(
                "SELECT COUNT(*) AS events, {} AS last_login FROM {} AS f WHERE {tenant}f.user_id = {user}",
                dialect.instant("MAX(CASE WHEN f.\"type\" = 'session_start' THEN f.ts END)"),
                dialect.events_table()
            ),
            params,
            columns: vec!["events".into(), "last_login".into()],
        }]
    }
}

impl UserTrace {
    /// (raw events of the user, the last login's time).
    pub fn read(tables: &[Table]) -> (i64, Option<Micros>) {
        let row = tables.first().and_then(|t| t.rows.first());
        let events = match row.and_then(|r| r.first()) {
            Some(Cell::Int(n)) => *n,
            _ => 0,
        };
        let last = match row.and_then(|r| r.get(1)) {
            Some(Cell::Time(us)) => Some(*us),
            _ => None,
        };
        (events, last)
    }
}

/// The stretches of playbacks of facts from `from` to `to` that `Owner`
/// facts give to the user: their facts and events of no user are the user's
/// too.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedPlaybacks {
    pub user_id: String,
    pub from: Micros,
    pub to: Micros,
}

/// One owned stretch: a playback's rows of no user from `from` to `to`
/// (microseconds, both included).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedStretch {
    pub playback_id: String,
    pub from: Micros,
    pub to: Micros,
}

impl Select for OwnedPlaybacks {
    fn scope(&self) -> Scope {
        Scope::facts(self.from.saturating_sub(streamtally_model::OWNER_WINDOW), self.to)
    }

    fn statements(&self, tenant: TenantId, dialect: &dyn Dialect) -> Vec<Sql> {
        let mut params = Vec::new();
        let mut wheres = owners_of(tenant, self.from, self.to, dialect);
        wheres.push(format!("f.user_id = {}", param(dialect, &mut params, &self.user_id)));
        wheres.push("f.playback_id IS NOT NULL".into());
        vec![Sql {
            text: format!(
                "SELECT o.playback_id, o.owned_from, o.owned_to FROM ({}) AS o ORDER BY o.playback_id, o.owned_from LIMIT {MAX_OWNED_PLAYBACKS}",
                owned_stretches(&wheres, dialect)
            ),
            params,
            columns: vec!["playback_id".into(), "owned_from".into(), "owned_to".into()],
        }]
    }
}

impl OwnedPlaybacks {
    pub fn read(tables: &[Table]) -> Vec<OwnedStretch> {
        let rows = tables.first().map(|t| t.rows.as_slice()).unwrap_or_default();
        rows.iter()
            .filter_map(|r| match (r.first(), r.get(1), r.get(2)) {
                (Some(Cell::Text(p)), Some(Cell::Int(from)), Some(Cell::Int(to))) => Some(OwnedStretch {
                    playback_id: p.clone(),
                    from: *from,
                    to: *to,
                }),
                _ => None,
            })
            .collect()
    }
}

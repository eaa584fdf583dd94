//! Asking a store: a question's statements, in the dialect the store speaks,
//! run through the storage seam ([`FactStore::select`]).

use streamtally_model::TenantId;
use streamtally_store::{BoxFuture, FactStore, StoreError, Table};

use crate::retention::has_unknown_ends;
use crate::retention::RetentionCurve;
use crate::{dialect_of, sections, Answer, MetricsQuery, RetentionBasis, RetentionQuery, Select};

/// Questions of the query model put to any [`FactStore`].
pub trait Ask: Sync {
    /// Runs a question over one tenant's facts: one table per statement.
    fn ask<'a>(&'a self, tenant: TenantId, q: &'a dyn Select) -> BoxFuture<'a, Result<Vec<Table>, StoreError>>;

    /// Answers a metrics query for one tenant: its grouped rows and totals.
    fn query<'a>(&'a self, tenant: TenantId, q: &'a MetricsQuery) -> BoxFuture<'a, Result<Answer, StoreError>> {
        Box::pin(async move {
            let mut tables = self.ask(tenant, q).await?;
            let totals = tables.pop().unwrap_or_default();
            let (rows, truncated) = q.cap_free_values(tables.pop().unwrap_or_default());
            Ok(Answer {
                rows,
                totals,
                tz: q.tz,
                truncated,
            })
        })
    }

    /// Retention and engagement of one content (spec §8c): what the first
    /// question found and, once it gave a duration, the 100 sections;
    /// `None` when nothing gives a duration. `q` keeps what was learned.
    fn retention<'a>(&'a self, tenant: TenantId, q: &'a mut RetentionQuery) -> BoxFuture<'a, Result<Option<RetentionCurve>, StoreError>> {
        Box::pin(async move {
            let basis = RetentionBasis::read(&self.ask(tenant, &*q).await?);
            let Some((duration, _)) = basis.duration else {
                return Ok(None);
            };
            q.duration = Some(duration);
            q.bytes = basis.bytes;
            let mut tables = self.ask(tenant, &*q).await?;
            let played = tables.pop().unwrap_or_default();
            let pieces = tables.pop().unwrap_or_default();
            // Pieces counted before `near` was kept: their end sections apart.
            let ends = if has_unknown_ends(&pieces) {
                q.unknown_ends = true;
                self.ask(tenant, &*q).await?.pop().unwrap_or_default()
            } else {
                Table::default()
            };
            let curve = sections(duration, basis.starts, &[pieces, ends, played]);
            Ok(Some((basis, curve)))
        })
    }
}

impl<S: FactStore + ?Sized> Ask for S {
    fn ask<'a>(&'a self, tenant: TenantId, q: &'a dyn Select) -> BoxFuture<'a, Result<Vec<Table>, StoreError>> {
        Box::pin(async move {
            let statements = q.statements(tenant, dialect_of(self.dialect()));
            self.select(tenant, q.scope(), &statements).await
        })
    }
}

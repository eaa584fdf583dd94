//! Asking a store: a question's statements, in the dialect the store speaks,
//! run through the storage seam ([`FactStore::select`]).

use streamtally_model::TenantId;
use streamtally_store::{BoxFuture, FactStore, StoreError, Table};

use crate::{dialect_of, Answer, MetricsQuery, Select};

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
}

impl<S: FactStore + ?Sized> Ask for S {
    fn ask<'a>(&'a self, tenant: TenantId, q: &'a dyn Select) -> BoxFuture<'a, Result<Vec<Table>, StoreError>> {
        Box::pin(async move {
            let statements = q.statements(tenant, dialect_of(self.dialect()));
            self.select(tenant, q.scope(), &statements).await
        })
    }
}

//! What a store runs: a question that knows the rows it reads (its [`Scope`])
//! and writes its SQL for any [`Dialect`]. Every query of the product — metrics,
//! live, attendance — is one, so a backend implements one method to answer all.

use streamtally_model::Micros;

use crate::{metrics_sql, Dialect, MetricsQuery, Sql};

/// The facts a question reads: one tenant's rows with `from <= ts < to`, and
/// whether the catalogue (`contents`) must be there to join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub from: Micros,
    pub to: Micros,
    pub catalogue: bool,
}

pub trait Select: Sync {
    fn scope(&self) -> Scope;
    /// The statements to run, in order; the store answers one table per statement.
    fn statements(&self, dialect: &dyn Dialect) -> Vec<Sql>;
}

impl Select for MetricsQuery {
    fn scope(&self) -> Scope {
        Scope {
            from: self.from,
            to: self.to,
            catalogue: self.needs_catalogue(),
        }
    }

    /// The grouped rows, then the totals.
    fn statements(&self, dialect: &dyn Dialect) -> Vec<Sql> {
        vec![metrics_sql(self, dialect, true), metrics_sql(self, dialect, false)]
    }
}

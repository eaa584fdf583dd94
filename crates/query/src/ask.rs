//! Asking a store: a question's statements, in the dialect the store speaks,
//! run through the storage seam ([`FactStore::select`]).

use streamtally_model::TenantId;
use streamtally_store::{BoxFuture, Cell, FactStore, StoreError, Table};

use crate::retention::has_unknown_ends;
use crate::retention::RetentionCurve;
use crate::sql::TOTALS_MARK;
use crate::{dialect_of, sections, Answer, FromFacts, MetricsQuery, RetentionBasis, RetentionQuery, Select};

/// Questions of the query model put to any [`FactStore`].
pub trait Ask: Sync {
    /// Runs a question over one tenant's facts: one table per statement.
    fn ask<'a>(&'a self, tenant: TenantId, q: &'a dyn Select) -> BoxFuture<'a, Result<Vec<Table>, StoreError>>;

    /// Answers a metrics query for one tenant: its grouped rows and totals.
    fn query<'a>(&'a self, tenant: TenantId, q: &'a MetricsQuery) -> BoxFuture<'a, Result<Answer, StoreError>> {
        Box::pin(answer(self, tenant, q, false))
    }

    /// As [`Ask::query`], from the facts alone, never from rollups: what
    /// rollups are checked against.
    fn query_from_facts<'a>(&'a self, tenant: TenantId, q: &'a MetricsQuery) -> BoxFuture<'a, Result<Answer, StoreError>> {
        Box::pin(answer(self, tenant, q, true))
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

async fn ask_metrics<A: Ask + ?Sized>(asker: &A, tenant: TenantId, q: &MetricsQuery, from_facts: bool) -> Result<Vec<Table>, StoreError> {
    match from_facts {
        true => asker.ask(tenant, &FromFacts(q.clone())).await,
        false => asker.ask(tenant, q).await,
    }
}

/// A metrics query's rows and totals, from its statements' tables.
async fn answer<A: Ask + ?Sized>(asker: &A, tenant: TenantId, q: &MetricsQuery, from_facts: bool) -> Result<Answer, StoreError> {
    let mut tables = ask_metrics(asker, tenant, q, from_facts).await?;
    let (rows, totals) = match (q.group_by.is_empty(), tables.len()) {
        // Ungrouped, the one statement's row is both the row and the totals.
        (true, _) => {
            let totals = tables.pop().unwrap_or_default();
            (totals.clone(), totals)
        }
        // Grouping sets: the rows and their totals in one table.
        (false, 1) => match split_totals(tables.pop().unwrap_or_default(), q.group_by.len()) {
            (rows, Some(totals)) => (rows, totals),
            // No totals row (an engine may give none when nothing
            // matched): the totals' own statement, as without sets.
            (rows, None) => {
                let mut alone = q.clone();
                alone.group_by.clear();
                (rows, ask_metrics(asker, tenant, &alone, from_facts).await?.pop().unwrap_or_default())
            }
        },
        _ => {
            let totals = tables.pop().unwrap_or_default();
            (tables.pop().unwrap_or_default(), totals)
        }
    };
    let (rows, truncated) = q.cap_free_values(rows);
    Ok(Answer {
        rows,
        totals,
        tz: q.tz,
        truncated,
    })
}

/// The grouped rows of a grouping-sets answer, without its [`TOTALS_MARK`]
/// column, and its totals row (the measures only), if there is one.
fn split_totals(table: Table, keys: usize) -> (Table, Option<Table>) {
    let Some(mark) = table.columns.iter().position(|c| c == TOTALS_MARK) else {
        return (table, None);
    };
    let measures = keys.min(mark)..mark;
    let mut totals = None;
    let mut rows = Vec::with_capacity(table.rows.len());
    for mut row in table.rows {
        let is_totals = row.get(mark).and_then(Cell::as_f64) == Some(1.0);
        row.truncate(mark);
        match is_totals {
            true => {
                totals = Some(Table {
                    columns: table.columns[measures.clone()].to_vec(),
                    rows: vec![row[measures.clone()].to_vec()],
                })
            }
            false => rows.push(row),
        }
    }
    let mut columns = table.columns;
    columns.truncate(mark);
    (Table { columns, rows }, totals)
}

impl<S: FactStore + ?Sized> Ask for S {
    fn ask<'a>(&'a self, tenant: TenantId, q: &'a dyn Select) -> BoxFuture<'a, Result<Vec<Table>, StoreError>> {
        Box::pin(async move {
            let statements = q.statements(tenant, dialect_of(self.dialect()));
            self.select(tenant, q.scope(), &statements).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grouping_sets_answer_splits_into_rows_and_totals() {
        let t = |s: &str| Cell::Text(s.into());
        let table = Table {
            columns: vec!["content_id".into(), "starts".into(), TOTALS_MARK.into()],
            rows: vec![
                vec![t("A"), Cell::Int(2), Cell::Int(0)],
                // A group of no content is a row, not the totals.
                vec![Cell::Null, Cell::Int(1), Cell::Int(0)],
                vec![Cell::Null, Cell::Int(3), Cell::Int(1)],
            ],
        };
        let (rows, totals) = split_totals(table, 1);
        assert_eq!(rows.columns, ["content_id", "starts"]);
        assert_eq!(rows.rows, vec![vec![t("A"), Cell::Int(2)], vec![Cell::Null, Cell::Int(1)]]);
        let totals = totals.expect("the totals row");
        assert_eq!(totals.columns, ["starts"]);
        assert_eq!(totals.rows, vec![vec![Cell::Int(3)]]);
    }
}

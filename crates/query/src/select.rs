//! A question asked of a store: it knows the rows it reads (its [`Scope`])
//! and writes its SQL for any [`Dialect`]. Every query of the product — metrics,
//! live, attendance, CDN — is one, so a backend runs statements and knows no
//! question.

use streamtally_model::TenantId;
use streamtally_store::{Scope, Sql};

use crate::rollup::{fits, rollup_definition};
use crate::sql::{metrics_sql_reading, metrics_with_totals_sql, Reading};
use crate::{Dialect, MetricsQuery};

pub trait Select: Sync {
    fn scope(&self) -> Scope;
    /// The statements to run, in order; the store answers one table per statement.
    fn statements(&self, tenant: TenantId, dialect: &dyn Dialect) -> Vec<Sql>;
}

impl Select for MetricsQuery {
    fn scope(&self) -> Scope {
        // The directory's dimensions look for owners before the range too.
        let from = if self.needs_directory() {
            self.from.saturating_sub(streamtally_model::OWNER_WINDOW)
        } else {
            self.from
        };
        Scope {
            catalogue: self.needs_catalogue(),
            directory: self.needs_directory(),
            rollups: fits(self).then(rollup_definition),
            ..Scope::facts(from, self.to)
        }
    }

    fn statements(&self, tenant: TenantId, dialect: &dyn Dialect) -> Vec<Sql> {
        let reading = match dialect.rollups() && fits(self) {
            true => Reading::Rollups,
            false => Reading::Facts,
        };
        metrics_statements(self, tenant, dialect, reading)
    }
}

/// The grouped rows, then the totals. Ungrouped, the totals alone (the
/// rows would be the same statement: a second scan of the same facts);
/// where the engine has grouping sets, both in one statement.
fn metrics_statements(q: &MetricsQuery, tenant: TenantId, dialect: &dyn Dialect, reading: Reading) -> Vec<Sql> {
    if q.group_by.is_empty() {
        return vec![metrics_sql_reading(q, tenant, dialect, false, reading)];
    }
    if dialect.grouping_sets() {
        return vec![metrics_with_totals_sql(q, tenant, dialect, reading)];
    }
    vec![
        metrics_sql_reading(q, tenant, dialect, true, reading),
        metrics_sql_reading(q, tenant, dialect, false, reading),
    ]
}

/// A metrics question answered from the facts alone, never from rollups:
/// what rollups are checked against, and what a peer without them runs.
#[derive(Debug, Clone)]
pub struct FromFacts(pub MetricsQuery);

impl Select for FromFacts {
    fn scope(&self) -> Scope {
        Scope {
            rollups: None,
            ..self.0.scope()
        }
    }

    fn statements(&self, tenant: TenantId, dialect: &dyn Dialect) -> Vec<Sql> {
        metrics_statements(&self.0, tenant, dialect, Reading::Facts)
    }
}

#[cfg(test)]
mod tests {
    use chrono_tz::Tz;

    use super::*;
    use crate::{AttendanceQuery, CdnQuery, ClickHouse, DataFusion, LiveQuery};

    /// One of each question, the catalogue joined where it can be.
    fn questions() -> Vec<Box<dyn Select>> {
        vec![
            Box::new(MetricsQuery::parse("2026-03-01", "2026-03-02", "starts,users", Some("day,title"), Some("category:news"), None).unwrap()),
            Box::new(LiveQuery::recent(1_772_445_600_000_000, 5)),
            Box::new(CdnQuery::parse("2026-03-01", "2026-03-02", Some("zone"), None, None, Tz::UTC).unwrap()),
            Box::new(AttendanceQuery::parse("2026-03-01", "2026-03-02", None, None, Tz::UTC).unwrap()),
        ]
    }

    #[test]
    fn a_question_that_fits_reads_rollups_where_the_engine_has_them() {
        let q = MetricsQuery::parse("2026-03-01", "2026-03-08", "starts,devices", Some("day"), None, None).unwrap();
        assert_eq!(q.scope().rollups, Some(rollup_definition()));
        let rolled = q.statements(1, &DataFusion);
        assert!(rolled[0].text.contains("FROM rollups AS f"), "{}", rolled[0].text);
        assert!(
            rolled[0].text.contains("COUNT(DISTINCT CASE WHEN f.starts + f.downloads > 0"),
            "{}",
            rolled[0].text
        );
        for sql in q.statements(1, &ClickHouse) {
            assert!(!sql.text.contains("rollups"), "{}", sql.text);
        }
        let facts = FromFacts(q.clone());
        assert_eq!(facts.scope().rollups, None);
        assert!(!facts.statements(1, &DataFusion)[0].text.contains("rollups"));
        let quality = MetricsQuery::parse("2026-03-01", "2026-03-08", "startup_median", None, None, None).unwrap();
        assert_eq!(quality.scope().rollups, None);
        assert!(!quality.statements(1, &DataFusion)[0].text.contains("rollups"));
    }

    #[test]
    fn an_ungrouped_question_scans_once() {
        let totals = MetricsQuery::parse("2026-03-01", "2026-03-02", "starts,devices", None, None, None).unwrap();
        assert_eq!(totals.statements(1, &DataFusion).len(), 1);
        let grouped = MetricsQuery::parse("2026-03-01", "2026-03-02", "starts,devices", Some("day"), None, None).unwrap();
        // Rows and totals in one scan where the engine has grouping sets.
        let both = grouped.statements(1, &DataFusion);
        assert_eq!(both.len(), 1);
        assert!(both[0].text.contains("GROUPING SETS"), "{}", both[0].text);
        assert_eq!(both[0].columns, ["day", "starts", "devices", crate::sql::TOTALS_MARK]);
        assert_eq!(grouped.statements(1, &ClickHouse).len(), 2);
    }

    #[test]
    fn shared_tables_get_the_tenant_in_every_statement() {
        for q in questions() {
            for sql in q.statements(7, &ClickHouse) {
                assert!(sql.text.contains("f.tenant_id = 7"), "{}", sql.text);
                // The catalogue joined is the one the store hands this statement: the tenant's own.
                assert!(!sql.text.contains("c.tenant_id"), "{}", sql.text);
                assert!(!sql.text.contains("tenant_id = 8"));
            }
            // The embedded engine is handed one tenant's files only.
            for sql in q.statements(7, &DataFusion) {
                assert!(!sql.text.contains("tenant_id"), "{}", sql.text);
            }
        }
    }
}

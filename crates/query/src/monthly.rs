//! The monthly overview (source 000): one row per month of the range in the
//! asked time zone — what the CDN or server served (requests, bytes) beside
//! the player and log counts (starts, streams, time, downloads, devices,
//! views, users) and the average viewing time (time ÷ starts). Every month
//! of the range has its row, zeros when nothing happened.

use chrono::{Datelike, NaiveDate, TimeZone};

use crate::audience::start_of;
use chrono_tz::Tz;
use streamtally_model::{Micros, TenantId};

use crate::model::parse_range_in;
use crate::sql::{metrics_sql, scope_filter};
use crate::{Answer, Cell, Dialect, Dimension, Metric, MetricsQuery, QueryError, Scope, Select, Sql, Table, TimeUnit};

/// The overview's columns after `month`: served first, then counted.
pub const MONTHLY_COLUMNS: [&str; 10] = [
    "requests",
    "traffic",
    "starts",
    "streams",
    "time",
    "avg_time",
    "downloads",
    "devices",
    "views",
    "users",
];

#[derive(Debug, Clone, PartialEq)]
pub struct MonthlyQuery {
    counts: MetricsQuery,
}

impl MonthlyQuery {
    /// A plain date (`2026-03-01`) is midnight in `tz`: months are the zone's.
    pub fn parse(from: &str, to: &str, tz: Tz) -> Result<MonthlyQuery, QueryError> {
        let (from, to) = parse_range_in(from, to, tz)?;
        Ok(MonthlyQuery {
            counts: MetricsQuery {
                from,
                to,
                metrics: MONTHLY_COLUMNS[2..].iter().map(|m| Metric::parse(m)).collect::<Result<_, _>>()?,
                group_by: vec![Dimension::Time(TimeUnit::Month)],
                filters: Vec::new(),
                tz,
                settled: Micros::MAX,
            },
        })
    }

    fn served(&self, tenant: TenantId, dialect: &dyn Dialect, grouped: bool) -> Sql {
        let q = &self.counts;
        let wheres = scope_filter(tenant, q.from, q.to, dialect).join(" AND ");
        let sums = "COALESCE(SUM(f.requests), 0) AS total_requests, COALESCE(SUM(f.value), 0.0) AS traffic";
        let bucket = dialect.time_bucket("f.ts", TimeUnit::Month, q.tz);
        let (month, rest, mut columns) = if grouped {
            (
                format!("{bucket} AS month, "),
                crate::sql::grouped_by(std::slice::from_ref(&bucket)),
                vec!["month".to_string()],
            )
        } else {
            (String::new(), String::new(), Vec::new())
        };
        columns.extend(["requests".to_string(), "traffic".to_string()]);
        Sql {
            text: format!(
                "SELECT {month}{sums} FROM {} AS f WHERE {wheres} AND f.kind = 'request'{rest}",
                dialect.facts_table()
            ),
            params: Vec::new(),
            columns,
        }
    }

    /// The first instant of every month the range touches, in the query's zone.
    fn months(&self) -> Vec<Micros> {
        let tz = self.counts.tz;
        let first_of = |y: i32, m: u32| -> Option<Micros> { start_of(tz, NaiveDate::from_ymd_opt(y, m, 1)?).map(|t| t.timestamp_micros()) };
        let first = tz.timestamp_micros(self.counts.from).single().map(|t| (t.year(), t.month()));
        let mut out = Vec::new();
        let Some((mut y, mut m)) = first else { return out };
        while let Some(at) = first_of(y, m) {
            if at >= self.counts.to {
                break;
            }
            out.push(at);
            (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        }
        out
    }

    /// The overview from the statements' tables (in [`Select::statements`] order).
    pub fn answer(&self, tables: &[Table]) -> Answer {
        let empty = Table::default();
        let table = |i: usize| tables.get(i).unwrap_or(&empty);
        let zero = |name: &str| match name {
            "traffic" | "time" => Cell::Float(0.0),
            "avg_time" => Cell::Null,
            _ => Cell::Int(0),
        };
        // A month's cells by column name, from the counted and the served rows.
        let cells = |month: Option<Micros>, counted: &Table, served: &Table| -> Vec<Cell> {
            // A month's row is found by its year and month in the zone, not its
            // first instant: engines may start a month whose midnight a clock
            // change skips at another instant.
            let label = |us: Micros| self.counts.tz.timestamp_micros(us).single().map(|t| (t.year(), t.month()));
            let find = |t: &Table| -> Option<Vec<Cell>> {
                t.rows
                    .iter()
                    .find(|r| match (month, r.first()) {
                        (None, _) => true,
                        (Some(m), Some(Cell::Time(us))) => label(*us).is_some() && label(*us) == label(m),
                        _ => false,
                    })
                    .cloned()
            };
            let (c, s) = (find(counted), find(served));
            MONTHLY_COLUMNS
                .iter()
                .map(|name| {
                    let from = |t: &Table, row: &Option<Vec<Cell>>| {
                        let i = t.columns.iter().position(|c| c == name)?;
                        row.as_ref().and_then(|r| r.get(i)).cloned()
                    };
                    from(counted, &c).or_else(|| from(served, &s)).unwrap_or_else(|| zero(name))
                })
                .collect()
        };
        let mut columns = vec!["month".to_string()];
        columns.extend(MONTHLY_COLUMNS.iter().map(|c| c.to_string()));
        let rows = self
            .months()
            .into_iter()
            .map(|m| {
                let mut row = vec![Cell::Time(m)];
                row.extend(cells(Some(m), table(0), table(2)));
                row
            })
            .collect();
        Answer {
            rows: Table { columns, rows },
            totals: Table {
                columns: MONTHLY_COLUMNS.iter().map(|c| c.to_string()).collect(),
                rows: vec![cells(None, table(1), table(3))],
            },
            tz: self.counts.tz,
            truncated: Vec::new(),
        }
    }
}

impl Select for MonthlyQuery {
    fn scope(&self) -> Scope {
        Scope::facts(self.counts.from, self.counts.to)
    }

    /// Counted by month, counted in all, served by month, served in all.
    fn statements(&self, tenant: TenantId, dialect: &dyn Dialect) -> Vec<Sql> {
        vec![
            metrics_sql(&self.counts, tenant, dialect, true),
            metrics_sql(&self.counts, tenant, dialect, false),
            self.served(tenant, dialect, true),
            self.served(tenant, dialect, false),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DataFusion;

    #[test]
    fn every_month_the_range_touches_has_a_row_in_the_zone() {
        let q = MonthlyQuery::parse("2026-01-15", "2026-03-02", "America/Sao_Paulo".parse().unwrap()).unwrap();
        assert_eq!(crate::format_in_tz(q.counts.from, q.counts.tz), "2026-01-15T00:00:00-03:00");
        let months: Vec<String> = q.months().into_iter().map(|m| crate::format_in_tz(m, q.counts.tz)).collect();
        // Dates are the zone's midnights: no row for a few hours of 14 January UTC.
        assert_eq!(months, ["2026-01-01T00:00:00-03:00", "2026-02-01T00:00:00-03:00", "2026-03-01T00:00:00-03:00"]);
        let answer = q.answer(&[]);
        assert_eq!(answer.rows.rows.len(), 3);
        assert_eq!(answer.rows.rows[0][1], Cell::Int(0));
        assert_eq!(answer.rows.rows[0][6], Cell::Null, "no starts, no average");
        assert_eq!(q.statements(1, &DataFusion).len(), 4);
    }

    #[test]
    fn a_month_whose_midnight_a_clock_change_skips_still_has_its_row() {
        // Asunción moved its clocks from 00:00 to 01:00 on 1 October 2023.
        let q = MonthlyQuery::parse("2023-09-01", "2023-12-01", "America/Asuncion".parse().unwrap()).unwrap();
        let months: Vec<String> = q.months().into_iter().map(|m| crate::format_in_tz(m, q.counts.tz)).collect();
        assert_eq!(months, ["2023-09-01T00:00:00-04:00", "2023-10-01T01:00:00-03:00", "2023-11-01T00:00:00-03:00"]);
    }
}

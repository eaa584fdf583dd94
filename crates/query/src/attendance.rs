//! The attendance report (spec §6): per access code, content and day (in the
//! tenant's time zone) the watched time — the union of its playing intervals,
//! summed from `attended` facts — with the first and last activity of the day.
//! Never which parts of the content were watched.

use chrono_tz::Tz;
use streamtally_model::{Micros, TenantId};

use crate::model::parse_range_in;
use crate::sql::{param, scope_filter};
use crate::{Answer, Cell, Dialect, QueryError, Sql, Table, TimeUnit};
use crate::{Scope, Select};

#[derive(Debug, Clone, PartialEq)]
pub struct AttendanceQuery {
    pub from: Micros,
    pub to: Micros,
    pub content_id: Option<String>,
    pub access_code: Option<String>,
    /// The tenant's time zone: the engine cut days there, so the report must too.
    pub tz: Tz,
}

impl AttendanceQuery {
    pub fn parse(from: &str, to: &str, content_id: Option<&str>, access_code: Option<&str>, tz: Tz) -> Result<AttendanceQuery, QueryError> {
        let (from, to) = parse_range_in(from, to, tz)?;
        Ok(AttendanceQuery {
            from,
            to,
            content_id: content_id.filter(|c| !c.is_empty()).map(str::to_string),
            access_code: access_code.filter(|c| !c.is_empty()).map(str::to_string),
            tz,
        })
    }
}

pub const ATTENDANCE_COLUMNS: [&str; 6] = ["access_code", "content_id", "day", "watched_seconds", "first_activity", "last_activity"];

impl Select for AttendanceQuery {
    fn scope(&self) -> Scope {
        Scope::facts(self.from, self.to)
    }

    fn statements(&self, tenant: TenantId, dialect: &dyn Dialect) -> Vec<Sql> {
        let mut params = Vec::new();
        let mut wheres = scope_filter(tenant, self.from, self.to, dialect);
        wheres.extend(["f.kind = 'attended'".to_string(), "f.access_code IS NOT NULL".to_string()]);
        if let Some(c) = &self.content_id {
            wheres.push(format!("f.content_id = {}", param(dialect, &mut params, c)));
        }
        if let Some(c) = &self.access_code {
            wheres.push(format!("f.access_code = {}", param(dialect, &mut params, c)));
        }
        let start = dialect.epoch_micros("f.ts");
        let text = format!(
            "SELECT f.access_code, f.content_id, {day} AS day, SUM(f.value) AS watched_seconds, \
             MIN({start}) AS first_activity, MAX({start} + CAST(round(f.value * 1000000) AS BIGINT)) AS last_activity \
             FROM {table} AS f WHERE {wheres} GROUP BY f.access_code, f.content_id, {day} ORDER BY {day}, f.access_code, f.content_id",
            day = dialect.time_bucket("f.ts", TimeUnit::Day, self.tz),
            table = dialect.facts_table(),
            wheres = wheres.join(" AND "),
        );
        vec![Sql {
            text,
            params,
            columns: ATTENDANCE_COLUMNS.iter().map(|c| c.to_string()).collect(),
        }]
    }
}

/// The report as an [`Answer`] (JSON, CSV and table forms come with it):
/// instants as times in the tenant's zone, the day as its date.
pub fn attendance_answer(mut tables: Vec<Table>, tz: Tz) -> Answer {
    let mut rows = tables.pop().unwrap_or_default();
    rows.columns = ATTENDANCE_COLUMNS.iter().map(|c| c.to_string()).collect();
    for row in &mut rows.rows {
        if let Some(Cell::Time(day)) = row.get(2) {
            row[2] = Cell::Text(crate::answer::format_in_tz(*day, tz).chars().take(10).collect());
        }
        for i in [4, 5] {
            if let Some(Cell::Int(us)) = row.get(i) {
                row[i] = Cell::Time(*us);
            }
        }
    }
    Answer {
        rows,
        totals: Table::default(),
        tz,
        truncated: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClickHouse, DataFusion};

    #[test]
    fn codes_and_contents_are_parameters_and_days_are_zoned() {
        let q = AttendanceQuery::parse("2026-03-01", "2026-03-03", Some("L"), Some("A' OR 1=1"), "Europe/Berlin".parse().unwrap()).unwrap();
        let s = &q.statements(1, &DataFusion)[0];
        assert_eq!(s.params, vec!["L".to_string(), "A' OR 1=1".to_string()]);
        assert!(s.text.contains("Europe/Berlin") && s.text.contains("f.kind = 'attended'"), "{}", s.text);
        let ch = &q.statements(1, &ClickHouse)[0];
        assert!(
            ch.text.contains("toStartOfDay(toDateTime(intDiv(f.ts, 1000000), 'Europe/Berlin'))"),
            "{}",
            ch.text
        );
    }
}

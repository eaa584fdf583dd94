//! The answer to a query, and its JSON and CSV forms (shared by API and CLI).

use chrono::TimeZone;
use chrono_tz::Tz;
use serde_json::{Map, Value};
use streamtally_model::Micros;

pub use streamtally_store::{Cell, Table};

/// A cell as text (CSV, terminal).
fn render(cell: &Cell, tz: Tz) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Text(s) => s.clone(),
        Cell::Int(i) => i.to_string(),
        Cell::Float(f) => f.to_string(),
        Cell::Time(us) => format_in_tz(*us, tz),
    }
}

/// A cell as a JSON value.
pub(crate) fn to_json(cell: &Cell, tz: Tz) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(s) => Value::String(s.clone()),
        Cell::Int(i) => Value::from(*i),
        Cell::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        Cell::Time(us) => Value::String(format_in_tz(*us, tz)),
    }
}

/// RFC 3339: `Z` in UTC, the zone's offset elsewhere.
pub fn format_in_tz(us: Micros, tz: Tz) -> String {
    if tz == Tz::UTC {
        return streamtally_model::format_ts(us);
    }
    match tz.timestamp_micros(us).single() {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
        None => streamtally_model::format_ts(us),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub rows: Table,
    /// The metrics over the whole range, without grouping (distinct counts stay distinct).
    pub totals: Table,
    pub tz: Tz,
    /// Free dimensions with more values than an answer lists
    /// ([`crate::MAX_FREE_VALUES`]): the name and how many values it had.
    pub truncated: Vec<(String, usize)>,
}

impl Answer {
    fn objects(table: &Table, tz: Tz) -> Vec<Value> {
        table
            .rows
            .iter()
            .map(|row| {
                let mut obj = Map::new();
                for (c, cell) in table.columns.iter().zip(row) {
                    obj.insert(c.clone(), to_json(cell, tz));
                }
                Value::Object(obj)
            })
            .collect()
    }

    /// `{"rows":[{…}], "totals":{…}}`.
    pub fn to_json(&self) -> Value {
        let totals = Answer::objects(&self.totals, self.tz).into_iter().next().unwrap_or(Value::Object(Map::new()));
        let mut answer = serde_json::json!({ "rows": Answer::objects(&self.rows, self.tz), "totals": totals });
        if !self.truncated.is_empty() {
            answer["truncated"] = self
                .truncated
                .iter()
                .map(|(name, values)| (name.clone(), Value::from(*values)))
                .collect::<Map<_, _>>()
                .into();
        }
        answer
    }

    /// The rows as CSV with a header line.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.rows.columns.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
        out.push('\n');
        for row in &self.rows.rows {
            out.push_str(&row.iter().map(|c| csv_field(&render(c, self.tz))).collect::<Vec<_>>().join(","));
            out.push('\n');
        }
        out
    }

    /// Aligned text columns, for a terminal.
    pub fn to_table(&self) -> String {
        let cells: Vec<Vec<String>> = std::iter::once(self.rows.columns.clone())
            .chain(self.rows.rows.iter().map(|r| r.iter().map(|c| render(c, self.tz)).collect()))
            .collect();
        let widths: Vec<usize> = (0..self.rows.columns.len())
            .map(|i| cells.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = String::new();
        for row in cells {
            let line: Vec<String> = row.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            out.push_str(line.join("  ").trim_end());
            out.push('\n');
        }
        out
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_csv_and_table_forms() {
        let a = Answer {
            rows: Table {
                columns: vec!["hour".into(), "content_id".into(), "starts".into(), "time".into()],
                rows: vec![vec![
                    Cell::Time(1_772_442_000_000_000),
                    Cell::Text("A, the \"best\"".into()),
                    Cell::Int(1),
                    Cell::Float(30.0),
                ]],
            },
            totals: Table {
                columns: vec!["starts".into(), "time".into()],
                rows: vec![vec![Cell::Int(1), Cell::Float(30.0)]],
            },
            tz: Tz::UTC,
            truncated: Vec::new(),
        };
        let j = a.to_json();
        assert_eq!(j["rows"][0]["hour"], "2026-03-02T09:00:00Z");
        assert_eq!(j["rows"][0]["starts"], 1);
        assert_eq!(j["totals"]["time"], 30.0);
        assert_eq!(a.to_csv(), "hour,content_id,starts,time\n2026-03-02T09:00:00Z,\"A, the \"\"best\"\"\",1,30\n");
        assert!(a.to_table().starts_with("hour "));
        assert_eq!(format_in_tz(1_772_442_000_000_000, chrono_tz::Europe::Berlin), "2026-03-02T10:00:00+01:00");
    }
}

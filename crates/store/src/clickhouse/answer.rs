//! ClickHouse's `JSONCompact` answers as [`Table`]s. Types come from the
//! answer's `meta`: integers are [`Cell::Int`], floats [`Cell::Float`],
//! `Decimal(18, 0)` is how the ClickHouse dialect marks an instant (Int64
//! microseconds, see `streamtally-query`'s dialect) and becomes [`Cell::Time`].

use serde_json::Value;

use crate::{Cell, Table};

#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error("ClickHouse answered something that is not JSONCompact: {0}")]
    Shape(String),
}

pub(super) fn parse(columns: &[String], body: &str) -> Result<Table, AnswerError> {
    let v: Value = serde_json::from_str(body).map_err(|e| AnswerError::Shape(format!("{e}: {}", body.chars().take(200).collect::<String>())))?;
    let types: Vec<String> = v["meta"]
        .as_array()
        .ok_or_else(|| AnswerError::Shape("no meta".into()))?
        .iter()
        .map(|m| m["type"].as_str().unwrap_or("String").to_string())
        .collect();
    let data = v["data"].as_array().ok_or_else(|| AnswerError::Shape("no data".into()))?;
    let rows = data
        .iter()
        .map(|row| {
            row.as_array()
                .map(|cells| cells.iter().zip(&types).map(|(c, t)| cell(c, t)).collect())
                .unwrap_or_default()
        })
        .collect();
    Ok(Table {
        columns: columns.to_vec(),
        rows,
    })
}

fn cell(v: &Value, ty: &str) -> Cell {
    let ty = ty.strip_prefix("Nullable(").and_then(|t| t.strip_suffix(')')).unwrap_or(ty);
    if v.is_null() {
        return Cell::Null;
    }
    let int = || {
        v.as_i64()
            .or_else(|| v.as_u64().map(|u| u as i64))
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    if ty.starts_with("Decimal") {
        return int().map(Cell::Time).unwrap_or(Cell::Null);
    }
    if ty.starts_with("Int") || ty.starts_with("UInt") {
        return int().map(Cell::Int).unwrap_or(Cell::Null);
    }
    if ty.starts_with("Float") {
        return v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .map(Cell::Float)
            .unwrap_or(Cell::Null);
    }
    match v {
        Value::String(s) => Cell::Text(s.clone()),
        other => Cell::Text(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_follow_the_answer_types() {
        let body = r#"{"meta":[{"name":"a","type":"UInt64"},{"name":"b","type":"Nullable(Float64)"},{"name":"c","type":"Decimal(18, 0)"},{"name":"d","type":"Nullable(String)"}],
            "data":[["18446744073709551615", null, 1772442000123456, "x"],["3", 1.5, null, null]]}"#;
        let t = parse(&["a".into(), "b".into(), "c".into(), "d".into()], body).unwrap();
        assert_eq!(
            t.rows[0],
            vec![Cell::Null, Cell::Null, Cell::Time(1_772_442_000_123_456), Cell::Text("x".into())]
        );
        assert_eq!(t.rows[1], vec![Cell::Int(3), Cell::Float(1.5), Cell::Null, Cell::Null]);
    }
}

//! Rows as ClickHouse reads them: the stored tables' Arrow schemas as
//! ClickHouse column types, and Arrow batches as `TabSeparated` text — for
//! inserts and for the recent rows a query is handed as external data. Each
//! stored row is led by its tenant, the node that wrote it and the WAL
//! position its checkpoint covered (`upto`, the batch identity).

use std::fmt::Write as _;

use datafusion::arrow::array::{Array, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Schema};
use streamtally_model::TenantId;

/// The columns every stored row leads with, before the table's own.
pub(super) const LEADING: [(&str, &str); 3] = [("tenant_id", "UInt64"), ("node", "String"), ("upto", "UInt64")];

/// ClickHouse's type for an Arrow field: instants are Int64 microseconds
/// since the epoch (a form every ClickHouse release reads).
fn type_of(ty: &DataType, nullable: bool) -> String {
    let base = match ty {
        DataType::Timestamp(_, _) | DataType::Int64 => "Int64",
        DataType::UInt64 => "UInt64",
        DataType::Float64 => "Float64",
        DataType::Boolean => "UInt8",
        _ => "String",
    };
    if nullable {
        format!("Nullable({base})")
    } else {
        base.to_string()
    }
}

/// `(name, type)` of every column of a stored table, the leading ones first.
pub(super) fn columns(schema: &Schema) -> Vec<(String, String)> {
    LEADING.iter().map(|(n, t)| (n.to_string(), t.to_string())).chain(own_columns(schema)).collect()
}

/// `(name, type)` of a schema's columns (a table sent along with a query).
pub(super) fn own_columns(schema: &Schema) -> Vec<(String, String)> {
    schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), type_of(f.data_type(), f.is_nullable())))
        .collect()
}

/// The `structure` of a table as external data (`name Type, ...`).
pub(super) fn structure(columns: &[(String, String)]) -> String {
    columns.iter().map(|(n, t)| format!("{n} {t}")).collect::<Vec<_>>().join(", ")
}

/// Appends a stored table's rows to `out` as TabSeparated lines, led by
/// their tenant, node and batch.
pub(super) fn write_tsv(out: &mut String, tenant: TenantId, node: &str, upto: u64, batch: &RecordBatch) {
    let mut lead = String::new();
    let _ = write!(lead, "{tenant}\t");
    escape_into(&mut lead, node);
    let _ = write!(lead, "\t{upto}\t");
    write_rows(out, &lead, batch);
}

/// A batch's rows as TabSeparated lines, each after `lead`.
pub(super) fn write_rows(out: &mut String, lead: &str, batch: &RecordBatch) {
    let columns = batch.columns();
    for i in 0..batch.num_rows() {
        out.push_str(lead);
        for (n, c) in columns.iter().enumerate() {
            if n > 0 {
                out.push('\t');
            }
            value_into(out, c.as_ref(), i);
        }
        out.push('\n');
    }
}

fn value_into(out: &mut String, c: &dyn Array, i: usize) {
    if c.is_null(i) {
        out.push_str("\\N");
        return;
    }
    let any = c.as_any();
    if let Some(a) = any.downcast_ref::<StringArray>() {
        escape_into(out, a.value(i));
    } else if let Some(a) = any.downcast_ref::<TimestampMicrosecondArray>() {
        let _ = write!(out, "{}", a.value(i));
    } else if let Some(a) = any.downcast_ref::<Int64Array>() {
        let _ = write!(out, "{}", a.value(i));
    } else if let Some(a) = any.downcast_ref::<UInt64Array>() {
        let _ = write!(out, "{}", a.value(i));
    } else if let Some(a) = any.downcast_ref::<Float64Array>() {
        let v = a.value(i);
        if v.is_finite() {
            let _ = write!(out, "{v:?}");
        } else {
            out.push_str(if v.is_nan() {
                "nan"
            } else if v > 0.0 {
                "inf"
            } else {
                "-inf"
            });
        }
    } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
        out.push(if a.value(i) { '1' } else { '0' });
    } else {
        out.push_str("\\N");
    }
}

/// TabSeparated escaping: backslash, tab, newline and carriage return.
fn escape_into(out: &mut String, s: &str) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn text_is_escaped_so_a_value_cannot_end_its_field_or_row() {
        let mut out = String::new();
        escape_into(&mut out, "a\tb\nc\\d");
        assert_eq!(out, "a\\tb\\nc\\\\d");
    }

    #[test]
    fn a_batch_becomes_one_line_per_row_led_by_tenant_node_and_batch() {
        use datafusion::arrow::datatypes::Field;
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::UInt64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec![Some("x"), None])), Arc::new(UInt64Array::from(vec![1, 2]))],
        )
        .unwrap();
        let mut out = String::new();
        write_tsv(&mut out, 7, "n1", 42, &batch);
        assert_eq!(out, "7\tn1\t42\tx\t1\n7\tn1\t42\t\\N\t2\n");
        let cols = columns(&schema);
        assert_eq!(structure(&cols), "tenant_id UInt64, node String, upto UInt64, s Nullable(String), n UInt64");
    }
}

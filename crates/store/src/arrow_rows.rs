//! Arrow schemas of the stored tables and conversions to and from rows.

use std::sync::{Arc, OnceLock};

use crate::{Cell, Table};
use datafusion::arrow::array::{
    new_null_array, Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use streamtally_model::{EnrichedEvent, Fact};

use crate::StoreError;

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// How one column's values are read from a row.
enum Read<T> {
    Time(fn(&T) -> i64),
    Text(for<'a> fn(&'a T) -> Option<&'a str>),
    /// Text made for the column (a JSON object of free dimensions).
    OwnedText(fn(&T) -> Option<String>),
    Float(fn(&T) -> Option<f64>),
    U64(fn(&T) -> u64),
    I64(fn(&T) -> Option<i64>),
    Bool(fn(&T) -> bool),
}

/// A stored column: its name, whether it may be null, and how a row gives
/// its value. The schema and the batches are both made from one list of
/// these, so a column's name, type and value cannot drift apart.
struct Column<T> {
    name: &'static str,
    nullable: bool,
    read: Read<T>,
}

const fn col<T>(name: &'static str, nullable: bool, read: Read<T>) -> Column<T> {
    Column { name, nullable, read }
}

impl<T> Column<T> {
    fn field(&self) -> Field {
        let ty = match self.read {
            Read::Time(_) => ts_type(),
            Read::Text(_) | Read::OwnedText(_) => DataType::Utf8,
            Read::Float(_) => DataType::Float64,
            Read::U64(_) => DataType::UInt64,
            Read::I64(_) => DataType::Int64,
            Read::Bool(_) => DataType::Boolean,
        };
        Field::new(self.name, ty, self.nullable)
    }

    fn array(&self, rows: &[T]) -> ArrayRef {
        match self.read {
            Read::Time(f) => times(rows, f),
            Read::Text(f) => strings(rows, f),
            Read::OwnedText(f) => Arc::new(rows.iter().map(f).collect::<StringArray>()),
            Read::Float(f) => floats(rows, f),
            Read::U64(f) => u64s(rows, f),
            Read::I64(f) => Arc::new(rows.iter().map(f).collect::<Int64Array>()),
            Read::Bool(f) => Arc::new(rows.iter().map(|r| Some(f(r))).collect::<BooleanArray>()),
        }
    }
}

/// The columns of the facts table, in their stored order.
fn fact_columns<'f>() -> [Column<Fact<'f>>; 32] {
    [
        col("ts", false, Read::Time(|f| f.ts)),
        col("kind", false, Read::Text(|f| Some(f.kind.as_str()))),
        col("value", false, Read::Float(|f| Some(f.value))),
        col("device_key", false, Read::U64(|f| f.device_key.0)),
        col("content_id", true, Read::Text(|f| f.content_id)),
        col("playback_id", true, Read::Text(|f| f.playback_id)),
        col("source", false, Read::Text(|f| Some(f.source.as_str()))),
        col("property", false, Read::Text(|f| Some(f.property))),
        col("content_kind", true, Read::Text(|f| f.content_kind.map(|k| k.as_str()))),
        col("media", true, Read::Text(|f| f.media.map(|m| m.as_str()))),
        col("referrer_host", true, Read::Text(|f| f.referrer_host)),
        col("country", true, Read::Text(|f| f.geo.country.as_deref())),
        col("region", true, Read::Text(|f| f.geo.region.as_deref())),
        col("city", true, Read::Text(|f| f.geo.city.as_deref())),
        col("browser", true, Read::Text(|f| f.client.browser.as_deref())),
        col("os", true, Read::Text(|f| f.client.os.as_deref())),
        col("device_type", true, Read::Text(|f| f.client.device_type.as_deref())),
        col("app", true, Read::Text(|f| f.client.app.as_deref())),
        col("user_id", true, Read::Text(|f| f.user_id.as_deref())),
        col("span_from", true, Read::I64(|f| f.span.map(|s| i64::from(s.0)))),
        col("span_to", true, Read::I64(|f| f.span.map(|s| i64::from(s.1)))),
        col("near_from", true, Read::I64(|f| f.near.map(|n| i64::from(n.0)))),
        col("near_to", true, Read::I64(|f| f.near.map(|n| i64::from(n.1)))),
        col("bitrate", true, Read::Float(|f| f.bitrate)),
        col(
            "dimensions",
            true,
            Read::OwnedText(|f| f.dimensions.map(|d| serde_json::to_string(d).unwrap_or_default())),
        ),
        col("access_code", true, Read::Text(|f| f.access_code)),
        col("requests", true, Read::I64(|f| f.served.as_ref().map(|s| s.requests as i64))),
        col("status", true, Read::I64(|f| f.served.as_ref().map(|s| i64::from(s.status)))),
        col("cache_status", true, Read::Text(|f| f.served.as_ref().and_then(|s| s.cache_status.as_deref()))),
        col("pop", true, Read::Text(|f| f.served.as_ref().and_then(|s| s.pop.as_deref()))),
        col("zone", true, Read::Text(|f| f.served.as_ref().and_then(|s| s.zone.as_deref()))),
        col("lsn", false, Read::U64(|f| f.lsn)),
    ]
}

type EventRow = (u64, EnrichedEvent);

/// The columns of the raw events table, in their stored order.
fn event_columns() -> [Column<EventRow>; 26] {
    [
        col("ts", false, Read::Time(|(_, e)| e.event.ts)),
        col("received_at", false, Read::Time(|(_, e)| e.received_at)),
        col("type", false, Read::Text(|(_, e)| Some(e.event.event_type.as_str()))),
        col("playback_id", true, Read::Text(|(_, e)| e.event.playback_id.as_deref())),
        col("content_id", true, Read::Text(|(_, e)| e.event.content_id.as_deref())),
        col("position", true, Read::Float(|(_, e)| e.event.position)),
        col("duration", true, Read::Float(|(_, e)| e.event.duration)),
        col("content_kind", true, Read::Text(|(_, e)| e.event.content_kind.map(|k| k.as_str()))),
        col("media", true, Read::Text(|(_, e)| e.event.media.map(|m| m.as_str()))),
        col("bitrate", true, Read::Float(|(_, e)| e.event.bitrate)),
        col("bandwidth", true, Read::Float(|(_, e)| e.event.bandwidth)),
        col("property", true, Read::Text(|(_, e)| e.event.property.as_deref())),
        col("user_id", true, Read::Text(|(_, e)| e.event.user_id.as_deref())),
        col("access_code", true, Read::Text(|(_, e)| e.event.access_code.as_deref())),
        col("device_key", false, Read::U64(|(_, e)| e.device_key.0)),
        col("referrer_host", true, Read::Text(|(_, e)| e.referrer_host.as_deref())),
        col("country", true, Read::Text(|(_, e)| e.geo.country.as_deref())),
        col("region", true, Read::Text(|(_, e)| e.geo.region.as_deref())),
        col("city", true, Read::Text(|(_, e)| e.geo.city.as_deref())),
        col("browser", true, Read::Text(|(_, e)| e.client.browser.as_deref())),
        col("os", true, Read::Text(|(_, e)| e.client.os.as_deref())),
        col("device_type", true, Read::Text(|(_, e)| e.client.device_type.as_deref())),
        col("app", true, Read::Text(|(_, e)| e.client.app.as_deref())),
        col("bot", false, Read::Bool(|(_, e)| e.client.bot)),
        col(
            "dimensions",
            true,
            Read::OwnedText(|(_, e)| (!e.event.dimensions.is_empty()).then(|| serde_json::to_string(&e.event.dimensions).unwrap_or_default())),
        ),
        col("lsn", false, Read::U64(|(lsn, _)| *lsn)),
    ]
}

fn schema_of<T>(columns: &[Column<T>]) -> SchemaRef {
    Arc::new(Schema::new(columns.iter().map(Column::field).collect::<Vec<_>>()))
}

pub fn facts_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| schema_of(&fact_columns())).clone()
}

pub fn events_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| schema_of(&event_columns())).clone()
}

/// A text column, its buffers sized by a first pass (growing them as values
/// come cost an import more than copying the values); a column of nulls only
/// (most facts have no user, playback or CDN fields) is made without a pass.
fn strings<T>(rows: &[T], f: for<'a> fn(&'a T) -> Option<&'a str>) -> ArrayRef {
    let (present, bytes) = rows.iter().fold((0usize, 0usize), |(n, b), r| match f(r) {
        Some(s) => (n + 1, b + s.len()),
        None => (n, b),
    });
    if present == 0 {
        return new_null_array(&DataType::Utf8, rows.len());
    }
    let mut column = StringBuilder::with_capacity(rows.len(), bytes);
    for r in rows {
        column.append_option(f(r));
    }
    Arc::new(column.finish())
}

fn times<T>(rows: &[T], f: impl Fn(&T) -> i64) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(rows.iter().map(f).collect::<Vec<_>>()).with_timezone("UTC"))
}

fn floats<T>(rows: &[T], f: impl Fn(&T) -> Option<f64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Float64Array>())
}

fn u64s<T>(rows: &[T], f: impl Fn(&T) -> u64) -> ArrayRef {
    Arc::new(UInt64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
}

pub fn facts_batch(facts: &[Fact<'_>]) -> Result<RecordBatch, StoreError> {
    let columns: Vec<ArrayRef> = fact_columns().iter().map(|c| c.array(facts)).collect();
    Ok(RecordBatch::try_new(facts_schema(), columns)?)
}

pub fn events_batch(events: &[EventRow]) -> Result<RecordBatch, StoreError> {
    let columns: Vec<ArrayRef> = event_columns().iter().map(|c| c.array(events)).collect();
    Ok(RecordBatch::try_new(events_schema(), columns)?)
}

/// Query results as cells; strings of any Arrow flavour become text.
pub fn batches_to_table(columns: &[String], batches: &[RecordBatch]) -> Result<Table, StoreError> {
    let mut rows = Vec::new();
    for batch in batches {
        let cols: Vec<ArrayRef> = batch.columns().to_vec();
        let mut converted: Vec<ArrayRef> = Vec::with_capacity(cols.len());
        for c in cols {
            let c = match c.data_type() {
                DataType::Utf8View | DataType::LargeUtf8 | DataType::Dictionary(_, _) => cast(&c, &DataType::Utf8)?,
                DataType::Int32 | DataType::UInt64 | DataType::UInt32 => cast(&c, &DataType::Int64)?,
                DataType::Float32 => cast(&c, &DataType::Float64)?,
                _ => c,
            };
            converted.push(c);
        }
        for i in 0..batch.num_rows() {
            let row = converted
                .iter()
                .map(|c| {
                    if c.is_null(i) {
                        return Cell::Null;
                    }
                    if let Some(a) = c.as_any().downcast_ref::<StringArray>() {
                        Cell::Text(a.value(i).to_string())
                    } else if let Some(a) = c.as_any().downcast_ref::<Int64Array>() {
                        Cell::Int(a.value(i))
                    } else if let Some(a) = c.as_any().downcast_ref::<Float64Array>() {
                        Cell::Float(a.value(i))
                    } else if let Some(a) = c.as_any().downcast_ref::<TimestampMicrosecondArray>() {
                        Cell::Time(a.value(i))
                    } else if let Some(a) = c.as_any().downcast_ref::<BooleanArray>() {
                        Cell::Text(a.value(i).to_string())
                    } else {
                        Cell::Text(datafusion::arrow::util::display::array_value_to_string(c, i).unwrap_or_default())
                    }
                })
                .collect();
            rows.push(row);
        }
    }
    Ok(Table {
        columns: columns.to_vec(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use streamtally_model::{ClientFamily, DeviceKey, FactKind, Geo, Served, Source};

    use super::*;

    #[test]
    fn every_text_column_holds_the_field_of_its_name() {
        // Each text field carries its own column's name: a column whose value
        // came from another field shows the other name.
        let t = |s: &str| Some(streamtally_model::Text::from(s));
        let client = ClientFamily {
            browser: t("browser"),
            os: t("os"),
            device_type: t("device_type"),
            app: t("app"),
            bot: false,
        };
        let dims = std::collections::BTreeMap::from([("plan".to_string(), "gold".to_string())]);
        let geo = Geo {
            country: t("country"),
            region: t("region"),
            city: t("city"),
        };
        let fact = Fact {
            kind: FactKind::Request,
            ts: 1,
            value: 2.0,
            device_key: DeviceKey(3),
            content_id: Some("content_id"),
            playback_id: Some("playback_id"),
            source: Source::Player,
            property: "property",
            content_kind: None,
            media: None,
            referrer_host: Some("referrer_host"),
            client: &client,
            geo: &geo,
            user_id: Some("user_id".into()),
            dimensions: Some(&dims),
            span: Some((10, 20)),
            near: Some((5, 30)),
            bitrate: Some(96.0),
            access_code: Some("access_code"),
            served: Some(Box::new(Served {
                requests: 4,
                status: 200,
                cache_status: t("cache_status"),
                pop: t("pop"),
                zone: t("zone"),
            })),
            lsn: 5,
        };
        let batch = facts_batch(&[fact]).unwrap();
        let mut checked = 0;
        for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
            let Some(text) = column.as_any().downcast_ref::<StringArray>() else {
                continue;
            };
            if field.name() == "dimensions" {
                assert_eq!(text.value(0), r#"{"plan":"gold"}"#);
                continue;
            }
            if ["kind", "source", "content_kind", "media"].contains(&field.name().as_str()) || text.is_null(0) {
                continue;
            }
            assert_eq!(text.value(0), field.name(), "column `{}`", field.name());
            checked += 1;
        }
        assert_eq!(checked, 16);
        assert_eq!(batch.schema(), facts_schema());
    }
}

//! Arrow schemas of the stored tables and conversions to and from rows.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{
    new_null_array, Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use streamtally_model::{EnrichedEvent, Fact};
use streamtally_query::{Cell, Table};

use crate::StoreError;

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn text(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

pub fn facts_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("ts", ts_type(), false),
            text("kind", false),
            Field::new("value", DataType::Float64, false),
            Field::new("device_key", DataType::UInt64, false),
            text("content_id", true),
            text("playback_id", true),
            text("source", false),
            text("property", false),
            text("content_kind", true),
            text("media", true),
            text("referrer_host", true),
            text("country", true),
            text("region", true),
            text("city", true),
            text("browser", true),
            text("os", true),
            text("device_type", true),
            text("app", true),
            text("user_id", true),
            text("access_code", true),
            Field::new("requests", DataType::Int64, true),
            Field::new("status", DataType::Int64, true),
            text("cache_status", true),
            text("pop", true),
            text("zone", true),
            Field::new("lsn", DataType::UInt64, false),
        ]))
    })
    .clone()
}

pub fn events_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("ts", ts_type(), false),
            Field::new("received_at", ts_type(), false),
            text("type", false),
            text("playback_id", true),
            text("content_id", true),
            Field::new("position", DataType::Float64, true),
            Field::new("duration", DataType::Float64, true),
            text("content_kind", true),
            text("media", true),
            Field::new("bitrate", DataType::Float64, true),
            Field::new("bandwidth", DataType::Float64, true),
            text("property", true),
            text("user_id", true),
            text("access_code", true),
            Field::new("device_key", DataType::UInt64, false),
            text("referrer_host", true),
            text("country", true),
            text("region", true),
            text("city", true),
            text("browser", true),
            text("os", true),
            text("device_type", true),
            text("app", true),
            Field::new("bot", DataType::Boolean, false),
            text("dimensions", true),
            Field::new("lsn", DataType::UInt64, false),
        ]))
    })
    .clone()
}

/// A text column, its buffers sized by a first pass (growing them as values
/// come cost an import more than copying the values); a column of nulls only
/// (most facts have no user, playback or CDN fields) is made without a pass.
fn strings<'a, T: 'a>(rows: &'a [T], f: impl Fn(&'a T) -> Option<&'a str>) -> ArrayRef {
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
    let columns: Vec<ArrayRef> = vec![
        times(facts, |f| f.ts),
        strings(facts, |f| Some(f.kind.as_str())),
        floats(facts, |f| Some(f.value)),
        u64s(facts, |f| f.device_key.0),
        strings(facts, |f| f.content_id),
        strings(facts, |f| f.playback_id),
        strings(facts, |f| Some(f.source.as_str())),
        strings(facts, |f| Some(f.property)),
        strings(facts, |f| f.content_kind.map(|k| k.as_str())),
        strings(facts, |f| f.media.map(|m| m.as_str())),
        strings(facts, |f| f.referrer_host),
        strings(facts, |f| f.geo.country.as_deref()),
        strings(facts, |f| f.geo.region.as_deref()),
        strings(facts, |f| f.geo.city.as_deref()),
        strings(facts, |f| f.client.browser.as_deref()),
        strings(facts, |f| f.client.os.as_deref()),
        strings(facts, |f| f.client.device_type.as_deref()),
        strings(facts, |f| f.client.app.as_deref()),
        strings(facts, |f| f.user_id),
        strings(facts, |f| f.access_code),
        Arc::new(facts.iter().map(|f| f.served.as_ref().map(|s| s.requests as i64)).collect::<Int64Array>()),
        Arc::new(facts.iter().map(|f| f.served.as_ref().map(|s| i64::from(s.status))).collect::<Int64Array>()),
        strings(facts, |f| f.served.as_ref().and_then(|s| s.cache_status.as_deref())),
        strings(facts, |f| f.served.as_ref().and_then(|s| s.pop.as_deref())),
        strings(facts, |f| f.served.as_ref().and_then(|s| s.zone.as_deref())),
        u64s(facts, |f| f.lsn),
    ];
    Ok(RecordBatch::try_new(facts_schema(), columns)?)
}

pub fn events_batch(events: &[(u64, EnrichedEvent)]) -> Result<RecordBatch, StoreError> {
    let dims: Vec<Option<String>> = events
        .iter()
        .map(|(_, e)| (!e.event.dimensions.is_empty()).then(|| serde_json::to_string(&e.event.dimensions).unwrap_or_default()))
        .collect();
    let columns: Vec<ArrayRef> = vec![
        times(events, |(_, e)| e.event.ts),
        times(events, |(_, e)| e.received_at),
        strings(events, |(_, e)| Some(e.event.event_type.as_str())),
        strings(events, |(_, e)| e.event.playback_id.as_deref()),
        strings(events, |(_, e)| e.event.content_id.as_deref()),
        floats(events, |(_, e)| e.event.position),
        floats(events, |(_, e)| e.event.duration),
        strings(events, |(_, e)| e.event.content_kind.map(|k| k.as_str())),
        strings(events, |(_, e)| e.event.media.map(|m| m.as_str())),
        floats(events, |(_, e)| e.event.bitrate),
        floats(events, |(_, e)| e.event.bandwidth),
        strings(events, |(_, e)| e.event.property.as_deref()),
        strings(events, |(_, e)| e.event.user_id.as_deref()),
        strings(events, |(_, e)| e.event.access_code.as_deref()),
        u64s(events, |(_, e)| e.device_key.0),
        strings(events, |(_, e)| e.referrer_host.as_deref()),
        strings(events, |(_, e)| e.geo.country.as_deref()),
        strings(events, |(_, e)| e.geo.region.as_deref()),
        strings(events, |(_, e)| e.geo.city.as_deref()),
        strings(events, |(_, e)| e.client.browser.as_deref()),
        strings(events, |(_, e)| e.client.os.as_deref()),
        strings(events, |(_, e)| e.client.device_type.as_deref()),
        strings(events, |(_, e)| e.client.app.as_deref()),
        Arc::new(events.iter().map(|(_, e)| Some(e.client.bot)).collect::<BooleanArray>()),
        Arc::new(dims.iter().map(|d| d.as_deref()).collect::<StringArray>()),
        u64s(events, |(lsn, _)| *lsn),
    ];
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

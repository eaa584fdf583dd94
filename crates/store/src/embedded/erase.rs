//! Which rows erasure keeps (spec §8): masks over a table's batches for a
//! user (with the playbacks it owns, spec §8b), a device or an access code.

use std::collections::HashMap;
use std::sync::Mutex;

use datafusion::arrow::array::{Array, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt64Array};
use streamtally_model::{DeviceKey, FactKind};

use super::TableState;
use crate::StoreError;

/// A mask keeping the rows whose column `name` is not `value` (nulls are kept).
pub(crate) fn keep_unless_text(batch: &RecordBatch, name: &str, value: &str) -> Result<BooleanArray, StoreError> {
    let col = batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
    Ok(match col {
        Some(c) => (0..batch.num_rows()).map(|i| Some(c.is_null(i) || c.value(i) != value)).collect(),
        None => (0..batch.num_rows()).map(|_| Some(true)).collect(),
    })
}

/// Stretches of playbacks a user owns (spec §8b): playback → (from, to) in
/// microseconds, both included.
pub(crate) type Owned = HashMap<String, Vec<(i64, i64)>>;

/// A mask keeping the rows not of `user`: rows naming it, and rows of no user
/// in the stretches of the playbacks it owns.
pub(crate) fn keep_unless_user(batch: &RecordBatch, user: &str, owned: &Owned) -> Result<BooleanArray, StoreError> {
    let text = |name: &str| batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
    let (users, playbacks) = (text("user_id"), text("playback_id"));
    let times = batch
        .column_by_name("ts")
        .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>().cloned());
    Ok((0..batch.num_rows())
        .map(|i| {
            let named = users.as_ref().filter(|c| !c.is_null(i)).map(|c| c.value(i));
            let playback = playbacks.as_ref().filter(|c| !c.is_null(i)).map(|c| c.value(i));
            let at = times.as_ref().map(|t| t.value(i));
            let owned_row = || {
                let stretches = playback.and_then(|p| owned.get(p));
                matches!((stretches, at), (Some(s), Some(at)) if s.iter().any(|(from, to)| (*from..=*to).contains(&at)))
            };
            Some(match named {
                Some(u) => u != user,
                None => !owned_row(),
            })
        })
        .collect())
}

/// The stretches whose `Owner` facts give them to `user` (spec §8b).
pub(super) fn owned_playbacks(facts: &mut TableState, user: &str) -> Result<Owned, StoreError> {
    let owned = Mutex::new(Owned::new());
    facts.retain(&|b| {
        add_owned_in(b, user, &mut owned.lock().unwrap_or_else(|p| p.into_inner()));
        // Every row kept: this pass only reads.
        Ok((0..b.num_rows()).map(|_| Some(true)).collect())
    })?;
    Ok(owned.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// Adds the stretch an `Owner` fact of `playback` gives its user: from its
/// time, for its value in seconds.
pub(crate) fn add_owned(owned: &mut Owned, playback: &str, from: i64, seconds: f64) {
    let to = from.saturating_add((seconds * 1_000_000.0).round() as i64);
    owned.entry(playback.to_string()).or_default().push((from, to));
}

/// Adds the stretches the `Owner` facts of `batch` give `user`.
pub(crate) fn add_owned_in(batch: &RecordBatch, user: &str, owned: &mut Owned) {
    let text = |name: &str| batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
    let times = batch
        .column_by_name("ts")
        .and_then(|c| c.as_any().downcast_ref::<TimestampMicrosecondArray>().cloned());
    let values = batch.column_by_name("value").and_then(|c| c.as_any().downcast_ref::<Float64Array>().cloned());
    if let (Some(kinds), Some(users), Some(playbacks), Some(times), Some(values)) = (text("kind"), text("user_id"), text("playback_id"), times, values) {
        for i in 0..batch.num_rows() {
            if kinds.value(i) == FactKind::Owner.as_str() && !users.is_null(i) && users.value(i) == user && !playbacks.is_null(i) {
                add_owned(owned, playbacks.value(i), times.value(i), values.value(i));
            }
        }
    }
}

pub(crate) fn keep_unless_device(batch: &RecordBatch, key: DeviceKey) -> Result<BooleanArray, StoreError> {
    let col = batch
        .column_by_name("device_key")
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>().cloned());
    Ok(match col {
        Some(c) => (0..batch.num_rows()).map(|i| Some(c.value(i) != key.0)).collect(),
        None => (0..batch.num_rows()).map(|_| Some(true)).collect(),
    })
}

//! Which rows erasure keeps (spec §8): masks over a table's batches for a
//! user (with the playbacks it owns, spec §8b), a device or an access code.

use std::collections::HashSet;
use std::sync::Mutex;

use datafusion::arrow::array::{Array, BooleanArray, RecordBatch, StringArray, UInt64Array};
use streamtally_model::{DeviceKey, FactKind};

use super::TableState;
use crate::StoreError;

/// A mask keeping the rows whose column `name` is not `value` (nulls are kept).
pub(super) fn keep_unless_text(batch: &RecordBatch, name: &str, value: &str) -> Result<BooleanArray, StoreError> {
    let col = batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
    Ok(match col {
        Some(c) => (0..batch.num_rows()).map(|i| Some(c.is_null(i) || c.value(i) != value)).collect(),
        None => (0..batch.num_rows()).map(|_| Some(true)).collect(),
    })
}

/// A mask keeping the rows not of `user`: rows naming it, and rows of no user
/// of the playbacks it owns (spec §8b).
pub(super) fn keep_unless_user(batch: &RecordBatch, user: &str, owned: &HashSet<String>) -> Result<BooleanArray, StoreError> {
    let text = |name: &str| batch.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
    let (users, playbacks) = (text("user_id"), text("playback_id"));
    Ok((0..batch.num_rows())
        .map(|i| {
            let named = users.as_ref().filter(|c| !c.is_null(i)).map(|c| c.value(i));
            let playback = playbacks.as_ref().filter(|c| !c.is_null(i)).map(|c| c.value(i));
            Some(match named {
                Some(u) => u != user,
                None => !playback.is_some_and(|p| owned.contains(p)),
            })
        })
        .collect())
}

/// The playbacks whose `Owner` facts give them to `user` (spec §8b).
pub(super) fn owned_playbacks(facts: &mut TableState, user: &str) -> Result<HashSet<String>, StoreError> {
    let owned = Mutex::new(HashSet::new());
    facts.retain(&|b| {
        let text = |name: &str| b.column_by_name(name).and_then(|c| c.as_any().downcast_ref::<StringArray>().cloned());
        if let (Some(kinds), Some(users), Some(playbacks)) = (text("kind"), text("user_id"), text("playback_id")) {
            let mut owned = owned.lock().unwrap_or_else(|p| p.into_inner());
            for i in 0..b.num_rows() {
                if kinds.value(i) == FactKind::Owner.as_str() && !users.is_null(i) && users.value(i) == user && !playbacks.is_null(i) {
                    owned.insert(playbacks.value(i).to_string());
                }
            }
        }
        // Every row kept: this pass only reads.
        Ok((0..b.num_rows()).map(|_| Some(true)).collect())
    })?;
    Ok(owned.into_inner().unwrap_or_else(|p| p.into_inner()))
}

pub(super) fn keep_unless_device(batch: &RecordBatch, key: DeviceKey) -> Result<BooleanArray, StoreError> {
    let col = batch
        .column_by_name("device_key")
        .and_then(|c| c.as_any().downcast_ref::<UInt64Array>().cloned());
    Ok(match col {
        Some(c) => (0..batch.num_rows()).map(|i| Some(c.value(i) != key.0)).collect(),
        None => (0..batch.num_rows()).map(|_| Some(true)).collect(),
    })
}

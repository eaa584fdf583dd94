//! Erasure (spec §8) and data retention on ClickHouse: the subject's rows
//! counted and deleted with `ALTER TABLE … DELETE` (a mutation, waited for),
//! and removed from the rows not yet inserted, under the store's `writing`
//! lock so none of them is inserted after.

use std::time::Duration;

use chrono::NaiveDate;
use datafusion::arrow::array::{BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use streamtally_model::{FactKind, TenantId};

use super::bind::quote;
use super::{schema, ClickHouseStore, Client, Recent};
use crate::embedded::{add_owned, add_owned_in, keep_unless_device, keep_unless_text, keep_unless_user, ts_column, Owned};
use crate::{Erased, StoreError, Subject};

/// How long a delete mutation may take before erasure reports it unfinished.
const MUTATION_WAIT: Duration = Duration::from_secs(120);

pub(super) fn erase(store: &ClickHouseStore, tenant: TenantId, subject: &Subject) -> Result<Erased, StoreError> {
    let _writing = store.writing.lock().unwrap_or_else(|p| p.into_inner());
    // An insert whose client gave up may still be running: its rows must
    // land before the delete, not after it.
    super::batch::wait_for_inserts(&store.client, &store.config)?;
    let owned = match subject {
        Subject::UserId(u) => owned_playbacks(store, tenant, u)?,
        _ => Owned::new(),
    };
    let keep = |b: &RecordBatch| -> Result<BooleanArray, StoreError> {
        match subject {
            Subject::UserId(u) => keep_unless_user(b, u, &owned),
            Subject::Device(k) => keep_unless_device(b, *k),
            Subject::AccessCode(c) => keep_unless_text(b, "access_code", c),
        }
    };
    let mut erased = Erased::default();
    let (facts, events) = filter_recent(store, tenant, &keep)?;
    erased.facts += facts;
    erased.events += events;
    let condition = match subject {
        Subject::UserId(u) => user_condition(u, &owned),
        Subject::Device(k) => format!("device_key = {}", k.0),
        Subject::AccessCode(c) => format!("access_code = {}", quote(c)),
    };
    erased.facts += delete(store, 0, tenant, &condition)?;
    erased.events += delete(store, 1, tenant, &condition)?;
    Ok(erased)
}

/// Drops the rows before `keep_from_day` (UTC) of the raw events, and of the
/// facts too when `facts`; answers the rows removed.
pub(super) fn drop_before(store: &ClickHouseStore, tenant: TenantId, keep_from_day: NaiveDate, facts: bool) -> Result<usize, StoreError> {
    let _writing = store.writing.lock().unwrap_or_else(|p| p.into_inner());
    super::batch::wait_for_inserts(&store.client, &store.config)?;
    let cut = keep_from_day.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp_micros()).unwrap_or(0);
    let keep = |b: &RecordBatch| -> Result<BooleanArray, StoreError> { Ok(ts_column(b)?.values().iter().map(|t| Some(*t >= cut)).collect()) };
    let condition = format!("ts < {cut}");
    let mut n = 0;
    if facts {
        let (f, _) = filter_recent_tables(store, tenant, &keep, [true, false])?;
        n += f as usize + delete(store, 0, tenant, &condition)? as usize;
    }
    let (_, e) = filter_recent_tables(store, tenant, &keep, [false, true])?;
    n += e as usize + delete(store, 1, tenant, &condition)? as usize;
    Ok(n)
}

/// A user's rows: those naming it, and rows of no user in the stretches of
/// the playbacks it owns (spec §8b).
fn user_condition(user: &str, owned: &Owned) -> String {
    let mut stretches = Vec::new();
    for (playback, spans) in owned {
        for (from, to) in spans {
            stretches.push(format!("(playback_id = {} AND ts >= {from} AND ts <= {to})", quote(playback)));
        }
    }
    if stretches.is_empty() {
        return format!("user_id = {}", quote(user));
    }
    format!("(user_id = {} OR (isNull(user_id) AND ({})))", quote(user), stretches.join(" OR "))
}

/// The stretches whose `Owner` facts give them to `user`, stored and recent.
fn owned_playbacks(store: &ClickHouseStore, tenant: TenantId, user: &str) -> Result<Owned, StoreError> {
    // Read as JSON: playback ids are client text, and TabSeparated would escape some.
    let sql = format!(
        "SELECT playback_id, ts, value FROM {} WHERE tenant_id = {tenant} AND kind = {} AND user_id = {} AND isNotNull(playback_id) FORMAT JSONCompact",
        schema::write_target(&store.config, schema::TABLES[0]),
        quote(FactKind::Owner.as_str()),
        quote(user)
    );
    let mut owned = Owned::new();
    let columns = ["playback_id".to_string(), "ts".to_string(), "value".to_string()];
    for row in super::answer::parse(&columns, &store.client.execute(&sql, true)?)?.rows {
        if let [crate::Cell::Text(p), crate::Cell::Int(ts), crate::Cell::Float(v)] = &row[..] {
            add_owned(&mut owned, p, *ts, *v);
        }
    }
    for batch in store.recent_rows(tenant, crate::Scope::facts(i64::MIN, i64::MAX), 0)? {
        add_owned_in(&batch, user, &mut owned);
    }
    Ok(owned)
}

type Keep<'a> = dyn Fn(&RecordBatch) -> Result<BooleanArray, StoreError> + 'a;

fn filter_recent(store: &ClickHouseStore, tenant: TenantId, keep: &Keep<'_>) -> Result<(u64, u64), StoreError> {
    filter_recent_tables(store, tenant, keep, [true, true])
}

/// Removes rows of the tenant not kept from the recent and in-flight rows.
fn filter_recent_tables(store: &ClickHouseStore, tenant: TenantId, keep: &Keep<'_>, tables: [bool; 2]) -> Result<(u64, u64), StoreError> {
    let mut removed = (0u64, 0u64);
    let mut filter = |r: &mut Recent| -> Result<(), StoreError> {
        for (table, rows) in r.tables.iter_mut().enumerate() {
            if !tables[table] {
                continue;
            }
            for (t, batch) in rows.iter_mut() {
                if *t != tenant {
                    continue;
                }
                let kept = filter_record_batch(batch, &keep(batch)?)?;
                let gone = (batch.num_rows() - kept.num_rows()) as u64;
                if table == 0 {
                    removed.0 += gone;
                } else {
                    removed.1 += gone;
                }
                *batch = kept;
            }
        }
        Ok(())
    };
    filter(&mut store.lock_recent())?;
    for (_, rows) in store.lock_in_flight().iter_mut() {
        filter(std::sync::Arc::make_mut(rows))?;
    }
    Ok(removed)
}

/// Counts and deletes the tenant's rows of a table matching `condition`.
fn delete(store: &ClickHouseStore, table: usize, tenant: TenantId, condition: &str) -> Result<u64, StoreError> {
    // Counted where it is deleted: on a cluster, this node's shard.
    let target = schema::write_target(&store.config, schema::TABLES[table]);
    // A null comparison deletes the row in 18.16's mutations (it keeps it
    // in a select): the condition is made never null.
    let wheres = format!("ifNull(tenant_id = {tenant} AND ({condition}), 0) = 1");
    let n = store.client.number(&format!("SELECT count() FROM {target} WHERE {wheres}"), true)?;
    if n == 0 {
        return Ok(0);
    }
    store.client.execute(&format!("ALTER TABLE {target} DELETE WHERE {wheres}"), true)?;
    wait_for_mutations(&store.client, &target)?;
    Ok(n)
}

/// Waits until every mutation of `table` (a delete) is done.
pub(super) fn wait_for_mutations(client: &Client, table: &str) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT count() FROM system.mutations WHERE database = {} AND table = {} AND is_done = 0",
        quote(client.database()),
        quote(table)
    );
    if client.wait_for_none(&sql, false, MUTATION_WAIT)? {
        Ok(())
    } else {
        Err(StoreError::ClickHouse(format!("the delete on {table} did not finish within {MUTATION_WAIT:?}")))
    }
}

//! A checkpoint's rows as one batch ClickHouse holds whole or not at all.
//! An insert is not atomic there (a part per partition and block), and one
//! whose client timed out may still finish on the server. So every insert
//! has a deterministic `query_id`, and after its rows are in a marker row
//! names the batch (`batches`: node, table, `upto`, rows). Rows of a batch
//! without a marker — cut by a crash or a failure — are deleted before the
//! batch is tried again, and a node's covered position is its largest
//! marked batch.

use std::time::Duration;

use super::bind::quote;
use super::client::Client;
use super::{erase, schema, ClickHouseConfig};
use crate::StoreError;

/// How long an insert that may still run on the server is waited for.
const INSERT_WAIT: Duration = Duration::from_secs(120);

/// The `query_id` of the insert of `table`'s rows up to `upto`.
pub(super) fn query_id(config: &ClickHouseConfig, table: &str, upto: u64) -> String {
    format!("streamtally-{}-{table}-{upto}", config.node)
}

/// Waits until no insert of this node runs on the server.
pub(super) fn wait_for_inserts(client: &Client, config: &ClickHouseConfig) -> Result<(), StoreError> {
    let sql = format!(
        "SELECT count() FROM system.processes WHERE query_id LIKE {}",
        quote(&format!("streamtally-{}-%", config.node))
    );
    if client.wait_for_none(&sql, false, INSERT_WAIT)? {
        Ok(())
    } else {
        Err(StoreError::ClickHouse(format!(
            "an insert of node {} still runs after {INSERT_WAIT:?}",
            config.node
        )))
    }
}

/// Makes this node's rows of `table` whole batches — deleting the rows of
/// any batch without its marker — and answers the WAL position they cover.
pub(super) fn settle(client: &Client, config: &ClickHouseConfig, table: &str) -> Result<u64, StoreError> {
    wait_for_inserts(client, config)?;
    let node = quote(&config.node);
    let marked = client.number(&format!("SELECT max(upto) FROM batches WHERE node = {node} AND kind = {}", quote(table)), true)?;
    let target = schema::write_target(config, table);
    let stored = client.number(&format!("SELECT max(upto) FROM {target} WHERE node = {node}"), true)?;
    if stored > marked {
        tracing::warn!(table, node = %config.node, marked, stored, "deleting the rows of an unfinished batch before it is written again");
        client.execute(&format!("ALTER TABLE {target} DELETE WHERE node = {node} AND upto > {marked}"), true)?;
        erase::wait_for_mutations(client, &target)?;
    }
    Ok(marked)
}

/// Records that the batch of `table` up to `upto` is in, whole.
pub(super) fn mark(client: &Client, config: &ClickHouseConfig, table: &str, upto: u64, rows: usize) -> Result<(), StoreError> {
    client.execute(
        &format!(
            "INSERT INTO batches (node, kind, upto, rows) VALUES ({}, {}, {upto}, {rows})",
            quote(&config.node),
            quote(table)
        ),
        true,
    )?;
    Ok(())
}

//! The ClickHouse schema, created and migrated by the product: versioned
//! steps, each idempotent, recorded in `schema_migrations`. Facts are
//! partitioned by month and ordered by (tenant, hour, content); raw events
//! by (tenant, user, time) for the one-user question. With a cluster, each
//! server holds `*_local` tables (`ReplicatedMergeTree`-ready: the same
//! columns and keys) and `Distributed` tables over the cluster answer queries.

use super::client::Client;
use super::{rows, ClickHouseConfig};
use crate::arrow_rows::{events_schema, facts_schema};
use crate::StoreError;

/// The stored tables, as the store numbers them (facts 0, events 1).
pub(super) const TABLES: [&str; 2] = ["facts", "events"];

/// Sort keys: facts by tenant, hour and content; events by tenant, user and time.
const ORDER: [&str; 2] = [
    "(tenant_id, intDiv(ts, 3600000000), ifNull(content_id, ''))",
    "(tenant_id, ifNull(user_id, ''), ts)",
];

/// The table a node's rows are inserted into: with a cluster, this server's shard.
pub(super) fn write_target(config: &ClickHouseConfig, table: &str) -> String {
    match config.cluster {
        Some(_) => format!("{table}_local"),
        None => table.to_string(),
    }
}

fn table_ddl(config: &ClickHouseConfig, index: usize) -> Vec<String> {
    let name = TABLES[index];
    let schema = if index == 0 { facts_schema() } else { events_schema() };
    let columns = rows::columns(&schema).iter().map(|(n, t)| format!("`{n}` {t}")).collect::<Vec<_>>().join(", ");
    let local = write_target(config, name);
    let mut ddl = vec![format!(
        "CREATE TABLE IF NOT EXISTS {local} ({columns}) ENGINE = MergeTree \
         PARTITION BY toYYYYMM(toDateTime(intDiv(ts, 1000000), 'UTC')) ORDER BY {}",
        ORDER[index]
    )];
    if let Some(cluster) = &config.cluster {
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {name} AS {local} ENGINE = Distributed({cluster}, {db}, {local}, rand())",
            db = config.database
        ));
    }
    ddl
}

/// The tables of the current version, created if missing on every open (a
/// node that joins a cluster later makes its `*_local` and `Distributed`
/// tables then); each is `IF NOT EXISTS`.
fn tables(config: &ClickHouseConfig) -> Vec<String> {
    let mut ddl = [table_ddl(config, 0), table_ddl(config, 1)].concat();
    // Batch markers (`batch.rs`): each node's on its own server.
    ddl.push(
        "CREATE TABLE IF NOT EXISTS batches (node String, kind String, upto UInt64, rows UInt64, at DateTime DEFAULT now()) \
         ENGINE = MergeTree ORDER BY (node, kind, upto)"
            .into(),
    );
    ddl
}

/// Changes to tables that exist, in order; a server at version N runs the
/// steps after N. Version 1 is the tables as `tables` makes them.
fn steps() -> Vec<Vec<String>> {
    vec![Vec::new()]
}

/// Creates the database and brings its schema to the current version.
pub(super) fn migrate(client: &Client, config: &ClickHouseConfig) -> Result<(), StoreError> {
    client.execute(&format!("CREATE DATABASE IF NOT EXISTS {}", config.database), false)?;
    client.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version",
        true,
    )?;
    for ddl in tables(config) {
        client.execute(&ddl, true)?;
    }
    let at = client.number("SELECT max(version) FROM schema_migrations", true)?;
    for (i, step) in steps().iter().enumerate() {
        let version = i as u64 + 1;
        if version <= at {
            continue;
        }
        for ddl in step {
            client.execute(ddl, true)?;
        }
        client.execute(&format!("INSERT INTO schema_migrations (version) VALUES ({version})"), true)?;
    }
    Ok(())
}

//! ClickHouse as a cluster: two servers as two shards, a `Distributed` table
//! over them, one store (node) on each. Each node inserts into its own shard
//! and answers for the whole cluster; distinct counts are exact across shards.

use std::sync::Arc;

use streamtally_model::Fact;
use streamtally_query::{Ask, MetricsQuery};
use streamtally_store::{ClickHouseConfig, ClickHouseStore, FactStore};

#[path = "support/clickhouse.rs"]
mod clickhouse;
#[path = "support/facts.rs"]
mod facts;

fn start(ts: &str, device: u64, lsn: u64) -> Fact<'static> {
    facts::start(ts, device, "A", None, lsn)
}

#[tokio::test]
async fn two_nodes_on_two_shards_answer_for_the_whole_cluster() {
    let servers = clickhouse::ClickHouseServer::start_cluster("streamtally", 2);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let nodes: Vec<Arc<ClickHouseStore>> = servers
        .iter()
        .zip(&dirs)
        .enumerate()
        .map(|(i, (server, dir))| {
            let config = ClickHouseConfig::parse(&server.url(), &format!("node{i}"))
                .unwrap()
                .on_cluster("streamtally")
                .unwrap();
            Arc::new(ClickHouseStore::open(dir.path(), config).unwrap())
        })
        .collect();
    // The same tenant on both nodes (their metadata is not shared yet: made alike).
    let tenant = nodes[0].meta().create_tenant("cluster").unwrap().id;
    assert_eq!(nodes[1].meta().create_tenant("cluster").unwrap().id, tenant);
    // Device 2 starts on both nodes (a viewer whose address moved after a re-hash).
    nodes[0]
        .append_facts(tenant, &[start("2026-03-02T09:00:00Z", 1, 1), start("2026-03-02T09:01:00Z", 2, 2)])
        .unwrap();
    nodes[1]
        .append_facts(tenant, &[start("2026-03-02T09:02:00Z", 2, 1), start("2026-03-02T09:03:00Z", 3, 2)])
        .unwrap();
    for n in &nodes {
        n.flush(2).unwrap();
    }
    let q = MetricsQuery::parse("2026-03-02", "2026-03-03", "starts,devices", None, None, None).unwrap();
    for (i, n) in nodes.iter().enumerate() {
        let totals = n.query(tenant, &q).await.unwrap().to_json()["totals"].clone();
        assert_eq!(totals, serde_json::json!({ "starts": 4, "devices": 3 }), "node {i}");
    }
    // Each node's rows are on its own shard.
    for (i, s) in servers.iter().enumerate() {
        let url = format!("http://127.0.0.1:{}/?query=SELECT%20count()%20FROM%20streamtally.facts_local", s.http_port);
        let local: String = ureq::get(&url).call().unwrap().body_mut().read_to_string().unwrap();
        assert_eq!(local.trim(), "2", "shard {i}");
    }
}

/// A batch a crash cut short (rows in, no marker) is deleted when the node
/// opens again, so the replay writes it whole: nothing lost, nothing twice.
#[tokio::test]
async fn a_batch_cut_short_is_written_again_whole() {
    let server = clickhouse::ClickHouseServer::start();
    let dir = tempfile::tempdir().unwrap();
    let open = || ClickHouseStore::open(dir.path(), ClickHouseConfig::parse(&server.url(), "n1").unwrap()).unwrap();
    let q = MetricsQuery::parse("2026-03-02", "2026-03-03", "starts", None, None, None).unwrap();
    let tenant = {
        let store = open();
        let tenant = store.meta().create_tenant("cut").unwrap().id;
        store
            .append_facts(tenant, &[start("2026-03-02T09:00:00Z", 1, 1), start("2026-03-02T09:01:00Z", 2, 2)])
            .unwrap();
        store.flush(2).unwrap();
        tenant
    };
    // Half of the next batch (up to WAL position 4) arrived before the crash, its marker not.
    let row = format!(
        "{tenant}\tn1\t4\t{}\tstart\t1\t3\t\\N\t\\N\tplayer\tweb{}\t3\n",
        1_772_442_180_000_000i64,
        "\t\\N".repeat(23)
    );
    let base = format!("http://127.0.0.1:{}/?query=", server.http_port);
    ureq::post(&format!("{base}INSERT%20INTO%20streamtally.facts%20FORMAT%20TabSeparated"))
        .send(row.as_bytes())
        .unwrap();
    let stored = ureq::get(&format!("{base}SELECT%20count()%20FROM%20streamtally.facts"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert_eq!(stored.trim(), "3", "the cut batch's row is in");
    let store = open();
    // The replay after the crash offers the whole batch again.
    store
        .append_facts(tenant, &[start("2026-03-02T09:03:00Z", 3, 3), start("2026-03-02T09:04:00Z", 4, 4)])
        .unwrap();
    store.flush(4).unwrap();
    let totals = store.query(tenant, &q).await.unwrap().to_json()["totals"].clone();
    assert_eq!(totals["starts"], 4, "{totals}");
}

//! Several nodes: two ClickHouse servers as the two shards of a cluster
//! (`Distributed` tables over them), two `streamtally serve --cluster` nodes,
//! one on each, behind a real nginx that splits clients with
//! `hash $remote_addr`, and log lines sent with `import --shard i/2`. Every
//! question asked of either node equals the answer of one server on the
//! embedded store that took the same workload — also after one node was
//! killed with SIGKILL half-way through and started again.

mod support;

#[path = "../crates/store/tests/support/clickhouse.rs"]
mod clickhouse;

use std::process::Command;

use support::nginx::{run, start_hash_split};
use support::workload::*;
use support::*;

/// Posts a viewer's events through nginx with the administrator's key,
/// again while nginx finds its node down (`502`, sent nowhere).
fn post_via(nginx: &str, ip: &str, ua: &str, events: &serde_json::Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = agent()
            .post(&format!("{nginx}/api/v1/events?tenant=parity"))
            .header("X-Ingest-Key", ADMIN_KEY)
            .header("X-Forwarded-For", ip)
            .header("User-Agent", ua)
            .content_type("application/json")
            .send(events.to_string())
            .unwrap();
        match r.status().as_u16() {
            202 => return,
            502 | 503 if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(100)),
            other => panic!("{ip}: {other}"),
        }
    }
}

/// Player events a node accepted (its Prometheus counter).
fn accepted(server: &Server) -> u64 {
    let text = server.get("/metrics", "").body;
    text.lines()
        .find_map(|l| l.strip_prefix("streamtally_events_accepted_total ").and_then(|n| n.trim().parse().ok()))
        .unwrap_or(0)
}

fn import(server_url: &str, key: &str, file: &std::path::Path, shard: Option<&str>) {
    let mut cmd = Command::new(bin());
    cmd.arg("import").arg(file).args(["--tenant", "parity", "--server", server_url, "--key", key]);
    if let Some(s) = shard {
        cmd.args(["--shard", s]);
    }
    run(&mut cmd);
}

#[test]
fn two_nodes_on_a_clickhouse_cluster_answer_as_one_server_even_after_a_sigkill() {
    let shards = clickhouse::ClickHouseServer::start_cluster("streamtally", 2);
    let dir = tempfile::tempdir().unwrap();
    let node_args = |i: usize| {
        vec![
            "--store".to_string(),
            shards[i].url(),
            "--node".into(),
            format!("node{i}"),
            "--cluster".into(),
            "streamtally".into(),
            "--checkpoint-interval".into(),
            "300ms".into(),
        ]
    };
    let start = |i: usize, port: u16| {
        let args = node_args(i);
        Server::start_on(&dir.path().join(format!("node{i}")), port, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let reference = Server::start(&dir.path().join("reference"), &[]);
    let mut nodes = vec![start(0, 0), start(1, 0)];
    // Metadata is not shared yet: each node is given the same tenant, settings and catalogue.
    let reference_keys = reference.tenant("parity");
    prepare(&reference, &reference_keys);
    let node_keys: Vec<TenantKeys> = nodes.iter().map(|n| n.tenant("parity")).collect();
    for (n, k) in nodes.iter().zip(&node_keys) {
        prepare(n, k);
    }
    let ports: Vec<u16> = nodes.iter().map(Server::port).collect();
    let (_nginx, nginx) = start_hash_split(dir.path(), &ports);
    let viewers = viewers();
    let (first, second) = viewers.split_at(viewers.len() / 2);
    for (ip, ua, events) in first {
        reference.post_events(&reference_keys.ingest, ip, ua, events);
        post_via(&nginx, ip, ua, events);
    }
    // Half-way, node 1 is killed (its last inputs only in its WAL) and started again.
    assert!(accepted(&nodes[0]) > 0 && accepted(&nodes[1]) > 0, "nginx sent every viewer to one node");
    let killed = nodes.pop().expect("two nodes");
    let port = killed.port();
    killed.kill9();
    // Where nginx expects it.
    nodes.push(start(1, port));
    let before = accepted(&nodes[1]);
    for (ip, ua, events) in second {
        reference.post_events(&reference_keys.ingest, ip, ua, events);
        post_via(&nginx, ip, ua, events);
    }
    assert!(accepted(&nodes[1]) > before, "the restarted node got none of its viewers' beacons");
    let file = dir.path().join("access.log");
    std::fs::write(&file, log_lines()).unwrap();
    import(&reference.url(""), &reference_keys.ingest, &file, None);
    for (i, n) in nodes.iter().enumerate() {
        import(&n.url(""), ADMIN_KEY, &file, Some(&format!("{i}/2")));
    }

    let expected = answers(&reference, &reference_keys);
    let starts = &expected[0].1["body"]["totals"]["starts"];
    assert!(starts.as_i64().unwrap_or(0) >= 20, "{starts}");
    // Each node's rows reach ClickHouse at its checkpoints: wait until every node's are in.
    for n in &nodes {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let h = n.get("/healthz", "").json();
            if h["wal"]["checkpoint_lsn"] == h["wal"]["durable_lsn"] && h["wal"]["applied_lsn"] == h["wal"]["durable_lsn"] {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "a node did not checkpoint: {h}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    for (i, n) in nodes.iter().enumerate() {
        let got = answers_as(n, |_| ADMIN_KEY.to_string(), "&tenant=parity");
        assert_same(&expected, &got, &format!("node {i}"));
    }
    for n in nodes {
        n.stop();
    }
    reference.stop();
}

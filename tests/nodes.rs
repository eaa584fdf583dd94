//! Several nodes: two ClickHouse servers as the two shards of a cluster
//! (`Distributed` tables over them), two `streamtally serve --cluster` nodes,
//! one on each, behind a real nginx that splits clients with
//! `hash $remote_addr`, and log lines sent with `import --shard i/2`. Every
//! question asked of either node equals the answer of one server on the
//! embedded store that took the same workload — also after one node was
//! killed with SIGKILL half-way through and started again. The nodes share
//! their metadata in one PostgreSQL: tenants, keys, settings, catalogue and
//! each tenant's device-hashing secret, so a viewer is one device on any node.

mod support;

#[path = "../crates/store/tests/support/clickhouse.rs"]
mod clickhouse;
#[path = "../crates/meta/tests/support/postgres.rs"]
mod postgres;

use std::process::Command;

use support::nginx::{run, start_hash_split};
use support::workload::*;
use support::*;

/// Posts a viewer's events through nginx with an ingest key made on node 0,
/// again while nginx finds its node down (`502`, sent nowhere).
fn post_via(nginx: &str, key: &str, ip: &str, ua: &str, events: &serde_json::Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let r = agent()
            .post(&format!("{nginx}/api/v1/events"))
            .header("X-Ingest-Key", key)
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

/// Starts node `i` of a cluster on `port` (0: a free one), with the shared
/// metadata (`--meta` and what goes with it).
fn start_node(dir: &std::path::Path, shards: &[clickhouse::ClickHouseServer], meta: &[&str], i: usize, port: u16) -> Server {
    let mut args = vec![
        "--store".to_string(),
        shards[i].url(),
        "--node".into(),
        format!("node{i}"),
        "--cluster".into(),
        "streamtally".into(),
        "--checkpoint-interval".into(),
        "300ms".into(),
    ];
    args.extend(meta.iter().map(|a| a.to_string()));
    Server::start_on(&dir.join(format!("node{i}")), port, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// Waits until each node's rows are in ClickHouse (they go at its checkpoints).
fn wait_checkpointed(nodes: &[Server]) {
    for n in nodes {
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
}

#[test]
fn two_nodes_on_a_clickhouse_cluster_answer_as_one_server_even_after_a_sigkill() {
    let shards = clickhouse::ClickHouseServer::start_cluster("streamtally", 2);
    let pg = postgres::PostgresServer::start();
    let meta = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let start = |i: usize, port: u16| start_node(dir.path(), &shards, &["--meta", &meta], i, port);
    let reference = Server::start(&dir.path().join("reference"), &[]);
    let mut nodes = vec![start(0, 0), start(1, 0)];
    // The tenant, its settings and catalogue are made once, on node 0: node 1 shares them.
    let reference_keys = reference.tenant("parity");
    prepare(&reference, &reference_keys);
    let node_keys = nodes[0].tenant("parity");
    prepare(&nodes[0], &node_keys);
    let ports: Vec<u16> = nodes.iter().map(Server::port).collect();
    let (_nginx, nginx) = start_hash_split(dir.path(), &ports);
    let viewers = viewers();
    let (first, second) = viewers.split_at(viewers.len() / 2);
    for (ip, ua, events) in first {
        reference.post_events(&reference_keys.ingest, ip, ua, events);
        post_via(&nginx, &node_keys.ingest, ip, ua, events);
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
        post_via(&nginx, &node_keys.ingest, ip, ua, events);
    }
    assert!(accepted(&nodes[1]) > before, "the restarted node got none of its viewers' beacons");
    let file = dir.path().join("access.log");
    std::fs::write(&file, log_lines()).unwrap();
    import(&reference.url(""), &reference_keys.ingest, &file, None);
    for (i, n) in nodes.iter().enumerate() {
        import(&n.url(""), &node_keys.ingest, &file, Some(&format!("{i}/2")));
    }

    let expected = answers(&reference, &reference_keys);
    let starts = &expected[0].1["body"]["totals"]["starts"];
    assert!(starts.as_i64().unwrap_or(0) >= 20, "{starts}");
    wait_checkpointed(&nodes);
    for (i, n) in nodes.iter().enumerate() {
        let got = answers_as(n, |_| ADMIN_KEY.to_string(), "&tenant=parity");
        assert_same(&expected, &got, &format!("node {i}"));
    }
    for n in nodes {
        n.stop();
    }
    reference.stop();
}

#[test]
fn nodes_sharing_metadata_number_tenants_once_see_a_viewer_as_one_device_and_erase_on_every_shard() {
    let shards = clickhouse::ClickHouseServer::start_cluster("streamtally", 2);
    // The shared metadata over TLS, the nodes trusting the server's own certificate.
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let pg = postgres::PostgresServer::start_tls(&cert.pem(), &key_pair.serialize_pem());
    let meta = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("postgres-ca.pem");
    std::fs::write(&ca, cert.pem()).unwrap();
    let shared = ["--meta", meta.as_str(), "--meta-ca", ca.to_str().unwrap()];
    let nodes = [start_node(dir.path(), &shards, &shared, 0, 0), start_node(dir.path(), &shards, &shared, 1, 0)];
    // Both nodes' connections are TLS.
    let tls = pg.psql(
        &meta,
        "SELECT count(*), bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'streamtally'",
    );
    assert_eq!(tls, "2|t", "connections and whether all are TLS");
    // Tenants made on different nodes are two tenants, listed by both.
    let a = nodes[0].tenant("alpha");
    let b = nodes[1].tenant("beta");
    for n in &nodes {
        let listed = n.get("/api/v1/tenants", ADMIN_KEY).json();
        let mut ids: Vec<(String, i64)> = listed["tenants"]
            .as_array()
            .unwrap_or_else(|| panic!("{listed}"))
            .iter()
            .map(|t| (t["name"].as_str().unwrap().to_string(), t["id"].as_i64().unwrap()))
            .collect();
        ids.sort();
        assert_eq!(ids.len(), 2, "{listed}");
        assert_ne!(ids[0].1, ids[1].1, "two tenants, one number: {listed}");
    }
    // A key and settings made on one node hold on the other.
    nodes[1].set(&a, serde_json::json!({ "raw_retention_days": 0 }));
    let settings = nodes[0].get("/api/v1/settings", &a.admin).json();
    assert_eq!(settings["raw_retention_days"], "0", "{settings}");
    // One viewer (one address, one browser, user u7) whose playbacks reach
    // both nodes, as after a re-hash: one device, as the device key is hashed
    // alike; and user u8 on node 1 only.
    let ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let playback = |user: &str, p: &str, content: &str| {
        let mut events = serde_json::json!([ev("play", &at("10:00:00"), p, content), playing(&at("10:01:00"), p, content, 60.0)]);
        for e in events.as_array_mut().unwrap() {
            e["user_id"] = user.into();
        }
        events
    };
    nodes[0].post_events(&a.ingest, "198.51.100.7", ua, &playback("u7", "p1", "V"));
    nodes[1].post_events(&a.ingest, "198.51.100.7", ua, &playback("u7", "p2", "E"));
    nodes[1].post_events(&a.ingest, "198.51.100.8", ua, &playback("u8", "p3", "V"));
    wait_checkpointed(&nodes);
    let totals = |n: &Server, keys: &TenantKeys| {
        let m = n.metrics(&keys.read, &format!("{DAY}&metrics=starts,devices,users"));
        let t = &m["totals"];
        [&t["starts"], &t["devices"], &t["users"]].map(|v| v.as_i64().unwrap_or(0))
    };
    for (i, n) in nodes.iter().enumerate() {
        // Devices are distinct over both shards; a user is an activity session
        // of a device (spec §4), kept per node: u7's device opened one on each.
        assert_eq!(totals(n, &a), [3, 2, 3], "node {i}");
        // The other tenant's key sees none of it.
        assert_eq!(totals(n, &b), [0, 0, 0], "node {i}");
    }
    // u7 erased through node 0: node 1 applies the request to its shard (and
    // its engine) within seconds, so both nodes answer without u7.
    let r = nodes[0].request(
        "DELETE",
        "/api/v1/subjects?user_id=u7",
        &[("Authorization", &format!("Bearer {}", a.admin))],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while nodes.iter().any(|n| totals(n, &a) != [1, 1, 1]) {
        assert!(
            std::time::Instant::now() < deadline,
            "u7 is still counted: {:?} {:?}",
            totals(&nodes[0], &a),
            totals(&nodes[1], &a)
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    for n in nodes {
        n.stop();
    }
}

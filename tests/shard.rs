//! Several nodes behind nginx's `hash $remote_addr` split: player beacons go
//! through a real nginx to two real servers, and `import --shard i/N` sends
//! each node the log lines of the same addresses — so every device's beacons
//! and log lines are counted on one node.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::json;
use support::nginx::{run, start_hash_split};
use support::*;

const PODCAST_APP: &str = "AppleCoreMedia/1.0.0.20E247 (iPhone; U; CPU OS 16_4 like Mac OS X; en_us)";

fn address(k: usize) -> String {
    if k.is_multiple_of(4) {
        format!("2001:db8::{:x}", k + 1)
    } else {
        format!("198.51.100.{}", k + 1)
    }
}

/// The contents with a non-zero `metric` on a node.
fn contents_with(server: &Server, keys: &TenantKeys, metric: &str) -> BTreeSet<String> {
    let v = server.metrics(&keys.read, &format!("{DAY}&metrics={metric}&group_by=content_id"));
    v["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r[metric].as_f64().unwrap_or(0.0) > 0.0)
        .filter_map(|r| r["content_id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn log_lines_of_a_shard_reach_the_node_nginx_sends_their_beacons_to() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = [Server::start(&dir.path().join("a"), &[]), Server::start(&dir.path().join("b"), &[])];
    let keys: Vec<TenantKeys> = nodes.iter().map(|n| n.tenant("split")).collect();
    let ports: Vec<u16> = nodes.iter().map(Server::port).collect();
    let (_nginx, via_nginx) = start_hash_split(dir.path(), &ports);
    let mut log = String::new();
    for k in 0..24 {
        let (ip, content) = (address(k), format!("c{k}"));
        let events = json!([
            ev("play", &at("10:00:00"), &format!("p{k}"), &content),
            playing(&at("10:00:10"), &format!("p{k}"), &content, 10.0)
        ]);
        // Whichever node nginx chose answers 202 for its own key only: try both keys.
        let accepted = keys.iter().any(|key| {
            let r = agent()
                .post(&format!("{via_nginx}/api/v1/events"))
                .header("X-Ingest-Key", &key.ingest)
                .header("X-Forwarded-For", &ip)
                .header("User-Agent", UA1)
                .content_type("application/json")
                .send(events.to_string())
                .unwrap();
            r.status().as_u16() == 202
        });
        assert!(accepted, "no node took {ip}'s beacons");
        log.push_str(&format!(
            "{ip} - - [02/Mar/2026:11:00:00 +0000] \"GET /podcast/{content}.mp3 HTTP/1.1\" 200 3000000 \"-\" \"{PODCAST_APP}\"\n"
        ));
    }
    let file = dir.path().join("access.log");
    std::fs::write(&file, log).unwrap();
    for (i, (node, key)) in nodes.iter().zip(&keys).enumerate() {
        run(Command::new(bin()).arg("import").arg(&file).args([
            "--tenant",
            "split",
            "--server",
            &node.url(""),
            "--key",
            &key.ingest,
            "--shard",
            &format!("{i}/2"),
        ]));
    }
    let mut all = BTreeSet::new();
    for (i, (node, key)) in nodes.iter().zip(&keys).enumerate() {
        let (played, downloaded) = (contents_with(node, key, "starts"), contents_with(node, key, "downloads"));
        assert!(!played.is_empty(), "node {i} got no beacons: the split sent everything to one node");
        assert_eq!(played, downloaded, "node {i}: beacons and log lines of the same addresses");
        all.extend(played);
    }
    assert_eq!(all.len(), 24, "{all:?}");
}

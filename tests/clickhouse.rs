//! The same workload into two real servers — one on the embedded store, one
//! with `--store clickhouse://…` on Debian's ClickHouse 18.16, started here on
//! a loopback port — and every query endpoint asked on both: the answers are
//! equal, before and after an erasure, and after the ClickHouse node restarts.

mod support;

#[path = "../crates/store/tests/support/clickhouse.rs"]
mod clickhouse;

use std::process::Command;

use serde_json::{json, Value};
use support::workload::*;
use support::*;

#[test]
fn every_query_endpoint_answers_the_same_on_clickhouse_as_on_the_embedded_store() {
    let ch = clickhouse::ClickHouseServer::start();
    let dir = tempfile::tempdir().unwrap();
    let embedded = Server::start(&dir.path().join("embedded"), &[]);
    let node_args = ["--store", &ch.url(), "--node", "n1", "--checkpoint-interval", "300ms"];
    let node = Server::start(&dir.path().join("node"), &node_args);
    let (a, b) = (embedded.tenant("parity"), node.tenant("parity"));
    send_workload(&embedded, &a);
    send_workload(&node, &b);
    let before = answers(&embedded, &a);
    // Some answers must hold something, or equality proves little.
    let totals = &before[0].1["body"]["totals"];
    assert!(totals["starts"].as_i64().unwrap_or(0) >= 20, "{totals}");
    assert_same(&before, &answers(&node, &b), "as sent");

    // Restarted, the node answers from ClickHouse alone what it held in memory.
    node.stop();
    let node = Server::start(&dir.path().join("node"), &node_args);
    assert_same(&before, &answers(&node, &b), "after the node restarted");

    for (server, keys) in [(&embedded, &a), (&node, &b)] {
        let r = server.request(
            "DELETE",
            "/api/v1/subjects?user_id=u2",
            &[("Authorization", &format!("Bearer {}", keys.admin))],
            "",
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let erased = answers(&embedded, &a);
    assert_ne!(erased[0].1["body"]["totals"], before[0].1["body"]["totals"], "the erasure removed nothing");
    assert_same(&erased, &answers(&node, &b), "after erasing user u2");
    node.stop();
    embedded.stop();
    same_on_a_current_release(&ch);
}

/// Every statement the 18.16 server ran above, run again on the same data
/// by it and by chdb (a current ClickHouse release, in-process): the SQL
/// the dialect writes holds on both, with the same answers.
fn same_on_a_current_release(ch: &clickhouse::ClickHouseServer) {
    let python = std::env::var("STREAMTALLY_TEST_PYTHON").expect("STREAMTALLY_TEST_PYTHON (set by scripts/test: a Python with chdb)");
    let text = |name: &str| format!("{name} Nullable(String)");
    let contents: Vec<String> = streamtally_store::CONTENT_COLUMNS
        .iter()
        .map(|c| match *c {
            "content_id" => "content_id String".to_string(),
            "duration" | "bitrate" => format!("{c} Nullable(Float64)"),
            other => text(other),
        })
        .collect();
    let users: Vec<String> = streamtally_store::USER_COLUMNS
        .iter()
        .map(|c| if *c == "user_id" { "user_id String".to_string() } else { text(c) })
        .collect();
    // The workload's catalogue, as the store hands it to a query.
    let n = "\\N";
    let catalogue = [
        ["L", "Keynote", "live", "video", n, n, "events", n, n, n, n, n, n, n],
        ["V", "Tutorial", "vod", "video", "120", n, "education", n, n, n, n, n, n, n],
        ["E", "Episode 1", "vod", "audio", n, n, n, "The Show", n, n, n, n, n, n],
    ]
    .iter()
    .map(|row| row.join("\t") + "\n")
    .collect::<String>();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/chdb_replay.py");
    let out = Command::new(python)
        .arg(script)
        .args([&ch.http_port.to_string(), "streamtally", &contents.join(", "), &catalogue, &users.join(", ")])
        .output()
        .expect("the replay runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    eprintln!("replayed on a current release: {} statements", report["statements"]);
    assert!(report["statements"].as_u64().unwrap_or(0) >= 24, "{report}");
    assert_eq!(report["errors"], json!([]), "statements one engine refused");
    assert_eq!(report["differ"], json!([]), "statements the engines answered differently");
}

/// ClickHouse stopped for 30 s under load and started again: ingest goes on
/// answering `202` meanwhile, `/healthz` says the store is failing, and once
/// the server is back every acknowledged play is counted exactly once.
#[test]
fn clickhouse_stopped_under_load_loses_and_doubles_nothing() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    let mut ch = clickhouse::ClickHouseServer::start();
    let dir = tempfile::tempdir().unwrap();
    let node = Arc::new(Server::start(
        &dir.path().join("node"),
        &["--store", &ch.url(), "--node", "n1", "--checkpoint-interval", "200ms"],
    ));
    let keys = node.tenant("fault");
    let (stop, acked, while_down, down) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let sender = {
        let (node, key, stop, acked, while_down, down) = (node.clone(), keys.ingest.clone(), stop.clone(), acked.clone(), while_down.clone(), down.clone());
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                // One play per request, each its own playback, a second apart in event time.
                let ts = at(&format!("{:02}:{:02}:{:02}", 10 + (i / 3600) % 12, (i / 60) % 60, i % 60));
                let events = json!([ev("play", &ts, &format!("p{i}"), "V"), playing(&ts, &format!("p{i}"), "V", 1.0)]);
                if let Ok(r) = node.try_post_events(&key, &format!("192.0.2.{}", i % 200), UA1, &events) {
                    if r.status == 202 {
                        acked.fetch_add(1, Ordering::SeqCst);
                        if down.load(Ordering::SeqCst) {
                            while_down.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    std::thread::sleep(Duration::from_secs(3));
    ch.stop();
    down.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut degraded = false;
    while Instant::now() < deadline {
        let h = node.get("/healthz", "").json();
        degraded |= h["status"] == "degraded" && h["store"]["checkpoint_failures"].as_u64().unwrap_or(0) > 0;
        std::thread::sleep(Duration::from_millis(500));
    }
    down.store(false, Ordering::SeqCst);
    ch.restart();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    assert!(degraded, "/healthz never said the store was failing");
    assert!(
        while_down.load(Ordering::SeqCst) > 100,
        "ingest stopped while ClickHouse was down: {} plays acknowledged",
        while_down.load(Ordering::SeqCst)
    );
    // Caught up: the store takes rows again and everything acknowledged is counted.
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.get("/healthz", "").json()["store"]["checkpoint_failures"] != 0 {
        assert!(Instant::now() < deadline, "the node did not catch up within 60 s of ClickHouse's return");
        std::thread::sleep(Duration::from_millis(200));
    }
    let v = node.metrics(&keys.read, &format!("{DAY}&metrics=starts"));
    assert_eq!(v["totals"]["starts"], json!(acked.load(Ordering::SeqCst)), "every acknowledged play, once");
    // Asked again while nothing changes: the same (no checkpoint seen twice).
    assert_eq!(node.metrics(&keys.read, &format!("{DAY}&metrics=starts"))["totals"], v["totals"]);
    // And again from ClickHouse alone, after the node restarts.
    Arc::try_unwrap(node).ok().expect("the sender is done").stop();
    let node = Server::start(&dir.path().join("node"), &["--store", &ch.url(), "--node", "n1"]);
    let v = node.metrics(&keys.read, &format!("{DAY}&metrics=starts"));
    assert_eq!(v["totals"]["starts"], json!(acked.load(Ordering::SeqCst)), "after a restart");
    node.stop();
}

#[test]
fn a_full_wal_backlog_is_answered_503_until_clickhouse_takes_rows_again() {
    use std::time::{Duration, Instant};

    let mut ch = clickhouse::ClickHouseServer::start();
    let dir = tempfile::tempdir().unwrap();
    let node = Server::start(
        &dir.path().join("node"),
        &["--store", &ch.url(), "--node", "n1", "--checkpoint-interval", "200ms", "--wal-backlog-mib", "1"],
    );
    let keys = node.tenant("backlog");
    // 50 playbacks per request, each a play and a second of playing.
    let batch = |r: usize| -> Value {
        let events: Vec<Value> = (0..50)
            .flat_map(|i| {
                let (p, ts) = (format!("r{r}p{i}"), at(&format!("10:{:02}:{:02}", r % 60, i)));
                [ev("play", &ts, &p, "V"), playing(&ts, &p, "V", 1.0)]
            })
            .collect();
        Value::Array(events)
    };
    let post = |r: usize| node.try_post_events(&keys.ingest, &format!("198.51.100.{}", r % 250), UA1, &batch(r)).unwrap();
    let mut acked_plays = 0usize;
    let mut r = 0usize;
    for _ in 0..5 {
        assert_eq!(post(r).status, 202);
        acked_plays += 50;
        r += 1;
    }
    ch.stop();
    // Accepted into the WAL while ClickHouse is away, up to the limit; then refused.
    let refused = loop {
        assert!(r < 2_000, "1 MiB of backlog was never reached");
        let reply = post(r);
        r += 1;
        match reply.status {
            202 => acked_plays += 50,
            503 => break reply,
            other => panic!("{other}: {}", reply.body),
        }
    };
    assert!(refused.body.contains("write-ahead log"), "{}", refused.body);
    let h = node.get("/healthz", "").json();
    assert_eq!(
        (h["status"].as_str(), h["wal"]["refusing_ingest"].as_bool()),
        (Some("degraded"), Some(true)),
        "{h}"
    );
    assert!(h["wal"]["backlog_bytes"].as_u64().unwrap() >= 1 << 20, "{h}");
    assert!(node.get("/metrics", "").body.contains("streamtally_batches_refused_backlog_total 1"));
    ch.restart();
    // Once ClickHouse has the backlog, ingest is taken again.
    let deadline = Instant::now() + Duration::from_secs(60);
    while node.get("/healthz", "").json()["wal"]["refusing_ingest"] != false {
        assert!(Instant::now() < deadline, "still refusing 60 s after ClickHouse returned");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(post(r).status, 202);
    acked_plays += 50;
    let v = node.metrics(&keys.read, &format!("{DAY}&metrics=starts"));
    assert_eq!(v["totals"]["starts"], json!(acked_plays), "every acknowledged play once, none of the refused");
    node.stop();
}

#[test]
fn a_node_reaches_clickhouse_over_https_trusting_only_the_certificate_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let rcgen::CertifiedKey { cert, key_pair } = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key_pair.serialize_pem()).unwrap();
    let ch = clickhouse::ClickHouseServer::start_tls(&cert_path, &key_path);
    // No public CA vouches for the server's certificate: the node refuses to start, and says why.
    let refused = Command::new(bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--node", "n1", "--store", &ch.https_url(), "--data"])
        .arg(dir.path().join("refused"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "started without trusting the certificate");
    assert!(said.to_lowercase().contains("certificate") || said.contains("TLS"), "{said}");
    // Trusting it: beacons are counted into ClickHouse over TLS.
    let ca = cert_path.display().to_string();
    let node = Server::start(
        &dir.path().join("node"),
        &["--store", &ch.https_url(), "--store-ca", &ca, "--node", "n1", "--checkpoint-interval", "200ms"],
    );
    let keys = node.tenant("tls");
    node.post_events(
        &keys.ingest,
        "192.0.2.1",
        UA1,
        &json!([ev("play", &at("10:00:00"), "p1", "V"), playing(&at("10:00:10"), "p1", "V", 10.0)]),
    );
    let v = node.metrics(&keys.read, &format!("{DAY}&metrics=starts"));
    assert_eq!(v["totals"]["starts"], json!(1), "{v}");
    // And the row is in ClickHouse (asked on its plain port) once a checkpoint ran.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let count = |sql: &str| -> String {
        let url = format!("http://127.0.0.1:{}/?query={}", ch.http_port, sql.replace(' ', "%20").replace('\'', "%27"));
        agent().get(&url).call().unwrap().body_mut().read_to_string().unwrap().trim().to_string()
    };
    while count("SELECT count() FROM streamtally.facts WHERE kind = 'start'") != "1" {
        assert!(std::time::Instant::now() < deadline, "no start reached ClickHouse over TLS");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    node.stop();
}

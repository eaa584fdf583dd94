//! Durability through the real binary: SIGKILL while clients post, and random
//! batch boundaries with restarts, never lose or double an acknowledged event.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use support::*;

/// One batch = one content id whose time is `secs`: counting twice would show.
fn batch(id: usize) -> (String, f64, Value) {
    let content = format!("c{id:06}");
    let secs = (id % 9 + 1) as f64;
    let events = json!([
        ev("play", &at("10:00:00"), &format!("p{id}"), &content),
        playing(&at("10:00:10"), &format!("p{id}"), &content, secs),
    ]);
    (content, secs, events)
}

#[derive(Default)]
struct Ledger {
    acked: BTreeMap<String, f64>,
    /// Sent but not answered (the server died meanwhile): 0 or 1 time, never 2.
    unknown: BTreeMap<String, f64>,
}

fn post_until_stopped(server_url: String, key: String, ids: std::ops::Range<usize>, stop: Arc<AtomicBool>, ledger: Arc<Mutex<Ledger>>) {
    let agent = agent();
    for id in ids {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let (content, secs, events) = batch(id);
        let r = agent
            .post(&format!("{server_url}/api/v1/events"))
            .header("X-Ingest-Key", &key)
            .header("X-Forwarded-For", IP1)
            .header("User-Agent", UA1)
            .send(events.to_string());
        let mut l = ledger.lock().unwrap();
        match r {
            Ok(resp) if resp.status().as_u16() == 202 => {
                l.acked.insert(content, secs);
            }
            _ => {
                l.unknown.insert(content, secs);
                return;
            }
        }
    }
}

fn counted(server: &Server, read: &str) -> BTreeMap<String, (i64, f64)> {
    let v = server.metrics(read, &format!("{DAY}&metrics=starts,time&group_by=content_id"));
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["content_id"].as_str().unwrap().to_string(),
                (r["starts"].as_i64().unwrap(), r["time"].as_f64().unwrap()),
            )
        })
        .collect()
}

#[test]
fn sigkill_while_clients_post_loses_and_doubles_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Frequent checkpoints, so kills also land during file writes.
    let args = ["--checkpoint-interval", "30ms"];
    let mut server = Server::start(&data, &args);
    let tenant = server.tenant("crash");
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut next = 0usize;
    for round in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..3)
            .map(|c| {
                let (url, key, stop, ledger) = (server.base.clone(), tenant.ingest.clone(), stop.clone(), ledger.clone());
                let ids = next + c * 100_000..next + (c + 1) * 100_000;
                std::thread::spawn(move || post_until_stopped(url, key, ids, stop, ledger))
            })
            .collect();
        next += 1_000_000;
        // Let a few hundred batches through, then kill without warning.
        let want = (round + 1) * 300;
        while ledger.lock().unwrap().acked.len() < want {
            std::thread::sleep(Duration::from_millis(5));
        }
        server.kill9();
        stop.store(true, Ordering::SeqCst);
        for c in clients {
            c.join().unwrap();
        }
        server = Server::start(&data, &args);
    }
    let seen = counted(&server, &tenant.read);
    let l = ledger.lock().unwrap();
    assert!(l.acked.len() >= 900, "only {} acknowledged", l.acked.len());
    for (content, secs) in &l.acked {
        assert_eq!(seen.get(content), Some(&(1, *secs)), "acknowledged batch {content} must count exactly once");
    }
    for (content, (starts, time)) in &seen {
        match (l.acked.get(content), l.unknown.get(content)) {
            (Some(_), _) => {}
            (None, Some(secs)) => assert_eq!((*starts, *time), (1, *secs), "an unacknowledged batch counts once or not at all"),
            (None, None) => panic!("{content} was never sent"),
        }
    }
    println!(
        "acknowledged {} batches, {} in flight at kills; all counted exactly once",
        l.acked.len(),
        l.unknown.len()
    );
}

/// A reproducible event stream over many devices and playbacks.
fn stream(seed: u64) -> Vec<Value> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let base = chrono::DateTime::parse_from_rfc3339("2026-03-02T08:00:00Z").unwrap();
    let mut t = base;
    for _ in 0..400 {
        t += chrono::Duration::seconds(rng.random_range(0..120));
        let kind = [
            "play",
            "playing",
            "playing",
            "playing",
            "playback_start",
            "file_downloaded",
            "pause",
            "player_loaded",
        ][rng.random_range(0..8)];
        let mut e = json!({
            "type": kind, "ts": t.to_rfc3339(),
            "playback_id": format!("p{}", rng.random_range(0..30)),
            "content_id": format!("c{}", rng.random_range(0..4)),
            "device_id": format!("d{}", rng.random_range(0..12)),
            "property": (["web", "app"][rng.random_range(0..2)]),
        });
        if kind == "playing" {
            e["duration"] = json!(rng.random_range(1..12));
        }
        out.push(e);
    }
    out
}

const QUERY: &str = "from=2026-03-01&to=2026-03-05&metrics=starts,streams,time,downloads,devices,views,users&group_by=hour,content_id,property";

/// Sends the stream in the given batches, with a restart after batch `restart` (SIGKILL or SIGTERM).
fn answer(events: &[Value], cuts: &[usize], restart: Option<(usize, bool)>) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data, &["--checkpoint-interval", "50ms"]);
    let t = server.tenant("prop");
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % events.len()).chain([0, events.len()]).collect();
    bounds.sort_unstable();
    bounds.dedup();
    for (i, w) in bounds.windows(2).enumerate() {
        server.post_events(&t.ingest, IP1, UA1, &Value::Array(events[w[0]..w[1]].to_vec()));
        if let Some((at, kill)) = restart {
            if at == i {
                if kill {
                    server.kill9();
                } else {
                    server.stop();
                }
                server = Server::start(&data, &["--checkpoint-interval", "50ms"]);
            }
        }
    }
    let v = server.metrics(&t.read, QUERY);
    server.stop();
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    /// Splitting the same stream into random batches, and restarting the server
    /// in the middle, gives identical query results.
    #[test]
    fn random_batches_and_restarts_give_identical_results(
        seed in 0u64..4,
        cuts in proptest::collection::vec(0usize..400, 1..12),
        restart in proptest::option::of((0usize..12, any::<bool>())),
    ) {
        let events = stream(seed);
        let whole = answer(&events, &[], None);
        prop_assert!(whole["rows"].as_array().is_some_and(|r| r.len() > 5));
        prop_assert_eq!(whole, answer(&events, &cuts, restart));
    }
}

/// `n` access-log lines, each a request of its own (the CDN figures count
/// requests, so a line taken twice shows).
fn distinct_log_lines(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "203.0.113.{} - - [02/Mar/2026:10:{:02}:{:02} +0000] \"GET /live/ch{}/seg{i}.ts HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0\"\n",
                i % 200,
                (i / 60) % 60,
                i % 60,
                i % 7,
                1000 + i % 5000
            )
        })
        .collect()
}

/// Requests the server counted from the log.
fn requests(server: &Server, read: &str) -> i64 {
    server.wait_idle();
    let r = server.get("/api/v1/cdn?from=2026-03-02&to=2026-03-03", read);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["totals"]["requests"].as_i64().unwrap_or(0)
}

/// Runs `import` with `args` to its end; whether it succeeded.
fn import(args: &[&str]) -> bool {
    let mut all = vec!["import"];
    all.extend_from_slice(args);
    quietly(&all).status().unwrap().success()
}

#[test]
fn sigkill_of_the_server_during_a_log_push_then_the_import_again_takes_each_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("access.log");
    let n = 120_000;
    std::fs::write(&file, distinct_log_lines(n)).unwrap();
    let file_s = file.to_str().unwrap();
    let args = ["--checkpoint-interval", "30ms"];
    let mut server = Server::start(&data, &args);
    let keys = server.tenant("push");
    for round in 0..2 {
        // Killed while `import --server` pushes its chunks, a little further each round.
        let mut pushing = quietly(&["import", file_s, "--tenant", "push", "--server", &server.base, "--key", &keys.ingest])
            .spawn()
            .unwrap();
        let want = (round as i64 + 1) * 20_000;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while requests(&server, &keys.read) < want {
            assert!(std::time::Instant::now() < deadline, "the import did not get going");
            std::thread::sleep(Duration::from_millis(10));
        }
        let port = server.port();
        server.kill9();
        let _ = pushing.wait();
        server = Server::start_on(&data, port, &args);
    }
    assert!(import(&[file_s, "--tenant", "push", "--server", &server.base, "--key", &keys.ingest]));
    assert_eq!(requests(&server, &keys.read), n as i64, "every line once, after two kills");
    // And once more: the whole file is a duplicate now.
    assert!(import(&[file_s, "--tenant", "push", "--server", &server.base, "--key", &keys.ingest]));
    assert_eq!(requests(&server, &keys.read), n as i64);
    server.stop();
}

#[test]
fn sigkill_of_a_local_import_then_the_import_again_takes_each_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("access.log");
    let n = 400_000;
    std::fs::write(&file, distinct_log_lines(n)).unwrap();
    let data_s = data.to_str().unwrap();
    let server = Server::start(&data, &[]);
    let keys = server.tenant("local");
    server.stop();
    for wait_ms in [120, 300, 600] {
        // Killed part-way: its WAL holds what it made durable.
        let mut importing = quietly(&["import", file.to_str().unwrap(), "--data", data_s, "--tenant", "local"])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(wait_ms));
        let _ = std::process::Command::new("kill").args(["-9", &importing.id().to_string()]).status();
        let _ = importing.wait();
    }
    assert!(import(&[file.to_str().unwrap(), "--data", data_s, "--tenant", "local"]));
    let server = Server::start(&data, &[]);
    assert_eq!(requests(&server, &keys.read), n as i64, "every line once, after two kills");
    server.stop();
}

/// The Parquet files of a table of the data folder, oldest first (their
/// names begin with the WAL position they cover from).
fn parquet_files(data: &std::path::Path, table: &str) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    for tenant in std::fs::read_dir(data.join("tenants")).unwrap().flatten() {
        walk(&tenant.path().join(table), &mut files);
    }
    files.sort_by_key(|p| p.file_name().map(|n| n.to_owned()));
    files
}

#[test]
fn an_unreadable_parquet_file_is_put_aside_and_the_server_answers_from_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut keys = None;
    // Two days, a file each: each server's stop writes one (a checkpoint).
    for (day, playback) in [("2026-03-02", "p1"), ("2026-03-03", "p2")] {
        let server = Server::start(&data, &[]);
        let k = keys.get_or_insert_with(|| server.tenant("disk"));
        let ts = format!("{day}T10:00:00Z");
        let events = json!([ev("play", &ts, playback, "V"), playing(&ts, playback, "V", 30.0)]);
        server.post_events(&k.ingest, "192.0.2.1", UA1, &events);
        server.wait_idle();
        server.stop();
    }
    let keys = keys.unwrap();
    let files = parquet_files(&data, "facts");
    assert_eq!(files.len(), 2, "{files:?}");
    let damaged = &files[..1];
    // Its last bytes (the footer) gone, as after a copy cut short.
    let len = std::fs::metadata(&damaged[0]).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&damaged[0]).unwrap().set_len(len / 2).unwrap();
    let server = Server::start(&data, &[]);
    let health = server.get("/healthz", "").json();
    assert_eq!(health["status"], "degraded", "{health}");
    let listed = health["damaged"].as_array().cloned().unwrap_or_default();
    assert!(listed.len() == 1 && listed[0].as_str().unwrap().contains("quarantine"), "{health}");
    assert!(!damaged[0].exists(), "the file is still among the store's");
    // The other day is answered; the damaged day's facts are gone, not an error.
    let m = server.metrics(&keys.read, "from=2026-03-02&to=2026-03-04&metrics=starts&group_by=day");
    assert_eq!(m["totals"]["starts"], 1, "{m}");
    assert_eq!(m["rows"][0]["day"].as_str().map(|d| &d[..10]), Some("2026-03-03"), "{m}");
    server.stop();
    // Put aside once: started again, nothing more is damaged.
    let server = Server::start(&data, &[]);
    assert_eq!(server.get("/healthz", "").json()["status"], "ok");
    server.stop();
}

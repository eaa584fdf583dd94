//! Ingest throughput of the real server: concurrent clients post batches of
//! player events to `POST /api/v1/events` on loopback; prints events per second
//! and the latency of the durable 202, then how long the counted facts take to
//! query. Bounded (a fixed number of batches) and local only. Asserts nothing.
//! Run: `cargo bench --bench ingest`; with `STREAMTALLY_BENCH_STORE=clickhouse://…`
//! the server stores into that ClickHouse instead of its data folder.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const CLIENTS: usize = 8;
const BATCHES_PER_CLIENT: usize = 250;
const EVENTS_PER_BATCH: usize = 100;
const ADMIN: &str = "bench-admin-key";

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let store: Vec<String> = match std::env::var("STREAMTALLY_BENCH_STORE") {
        Ok(url) => vec!["--store".into(), url, "--node".into(), format!("bench-{}", std::process::id())],
        Err(_) => Vec::new(),
    };
    println!("store: {}", if store.is_empty() { "embedded (Parquet)" } else { "ClickHouse" });
    let mut server = Command::new(env!("CARGO_BIN_EXE_streamtally"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .args(&store)
        .args(["--checkpoint-interval", "1s"])
        .args(["--ingest-rate-per-ip", "1000000", "--ingest-burst-per-ip", "1000000"])
        .env("STREAMTALLY_ADMIN_KEY", ADMIN)
        .env("STREAMTALLY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the server");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("server output").unwrap();
        if let Some(url) = line.strip_prefix("streamtally listening on ") {
            break url.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(60))).build().into();
    let post = |path: &str, key: &str, body: Value| -> Value {
        agent
            .post(&format!("{base}{path}"))
            .header("Authorization", &format!("Bearer {key}"))
            .send_json(body)
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    };
    // A tenant of its own per run: a ClickHouse store may hold earlier runs.
    let tenant = format!("bench{}", std::process::id());
    post("/api/v1/tenants", ADMIN, json!({ "name": tenant }));
    let ingest = post(&format!("/api/v1/keys?tenant={tenant}"), ADMIN, json!({ "role": "ingest" }))["key"]
        .as_str()
        .unwrap()
        .to_string();
    let read = post(&format!("/api/v1/keys?tenant={tenant}"), ADMIN, json!({ "role": "read" }))["key"]
        .as_str()
        .unwrap()
        .to_string();

    let started = Instant::now();
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (base, key, agent) = (base.clone(), ingest.clone(), agent.clone());
            std::thread::spawn(move || {
                let mut latencies = Vec::with_capacity(BATCHES_PER_CLIENT);
                for b in 0..BATCHES_PER_CLIENT {
                    let events: Vec<Value> = (0..EVENTS_PER_BATCH)
                        .map(|i| {
                            // Ten viewers per batch: each a play, then nine playing reports.
                            let viewer = (c * BATCHES_PER_CLIENT + b) * 10 + i / 10;
                            let kind = if i % 10 == 0 { "play" } else { "playing" };
                            json!({ "type": kind, "ts": format!("2026-03-02T10:{:02}:{:02}Z", (b / 6) % 60, (b * 10 + i) % 60),
                                    "playback_id": format!("p{viewer}"), "content_id": format!("c{}", viewer % 50),
                                    "device_id": format!("d{viewer}"), "duration": 10 })
                        })
                        .collect();
                    let t = Instant::now();
                    let r = agent
                        .post(&format!("{base}/api/v1/events"))
                        .header("X-Ingest-Key", &key)
                        .send(Value::Array(events).to_string())
                        .unwrap();
                    assert_eq!(r.status().as_u16(), 202);
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    let secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let events = CLIENTS * BATCHES_PER_CLIENT * EVENTS_PER_BATCH;
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "ingest: {events} events in {} batches from {CLIENTS} clients: {:.0} events/s, {:.0} batches/s",
        latencies.len(),
        events as f64 / secs,
        latencies.len() as f64 / secs
    );
    println!(
        "durable 202 latency per batch of {EVENTS_PER_BATCH}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );

    let caught_up = Instant::now();
    loop {
        let h: Value = agent.get(&format!("{base}/healthz")).call().unwrap().body_mut().read_json().unwrap();
        if h["wal"]["applied_lsn"] == h["wal"]["durable_lsn"] {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    println!("counting caught up {:.0} ms after the last 202", caught_up.elapsed().as_secs_f64() * 1000.0);
    // Stored: a checkpoint covers everything counted (the store took every row).
    loop {
        let h: Value = agent.get(&format!("{base}/healthz")).call().unwrap().body_mut().read_json().unwrap();
        if h["wal"]["checkpoint_lsn"] == h["wal"]["durable_lsn"] {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let stored = started.elapsed().as_secs_f64();
    println!(
        "stored: a checkpoint covered every event {:.0} ms after the last 202; {:.0} events/s from the first 202 to stored",
        caught_up.elapsed().as_secs_f64() * 1000.0,
        events as f64 / stored
    );
    let q = Instant::now();
    let v: Value = agent
        .get(&format!(
            "{base}/api/v1/metrics?from=2026-03-02&to=2026-03-03&metrics=starts,streams,time,devices,views,users&group_by=minute,content_id"
        ))
        .header("Authorization", &format!("Bearer {read}"))
        .call()
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    println!(
        "query (per minute x content, 6 metrics): {:.0} ms, {} rows, totals {}",
        q.elapsed().as_secs_f64() * 1000.0,
        v["rows"].as_array().map_or(0, |r| r.len()),
        v["totals"]
    );
    let _ = Command::new("kill").arg("-TERM").arg(server.id().to_string()).status();
    let _ = server.wait();
}

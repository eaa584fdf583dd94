//! Live audience benchmark (issue "Live"), against the release server on
//! loopback. Bounded and local only; prints numbers, asserts only correctness.
//!
//! 1. Load: 20 000 concurrent viewers send heartbeats every 10 s over 10
//!    simulated minutes (synthetic event times, sent as fast as the server
//!    takes them); the per-minute series must equal the simulator's truth.
//! 2. Real time: for 60 s (`STREAMTALLY_BENCH_SECS`), 20 000 viewers send
//!    heartbeats stamped with the wall clock; a poller reads `GET /api/v1/live`
//!    every 250 ms and measures how far the figure trails what was acknowledged.
//!
//! Both print the server's CPU time and peak memory.
//! Run: `cargo bench --bench live`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{live_sim, Server, IP1, UA1};

const VIEWERS: usize = 20_000;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let limits = ["--ingest-rate-per-ip", "1000000", "--ingest-burst-per-ip", "1000000"];

    let server = Server::start(&dir.path().join("load"), &limits);
    let t = server.tenant("load");
    let run = live_sim::simulate(&server, &t, VIEWERS, 10, 4);
    let (cpu, peak) = server.resources();
    println!(
        "load: {} heartbeats of {VIEWERS} viewers (peak {} concurrent) counted in {:.2} s = {:.0} events/s; per-minute series exact; server CPU {cpu:.1} s, peak memory {peak} MiB",
        run.events,
        run.peak,
        run.elapsed.as_secs_f64(),
        run.events as f64 / run.elapsed.as_secs_f64()
    );
    server.stop();

    let secs: u64 = std::env::var("STREAMTALLY_BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let server = Server::start(&dir.path().join("realtime"), &limits);
    let t = server.tenant("rt");
    let r = server.send(
        "PUT",
        "/api/v1/contents",
        &t.admin,
        &json!([{ "content_id": "keynote", "kind": "live" }]).to_string(),
    );
    assert_eq!(r.status, 200);
    // minute → viewer → when its first heartbeat of that minute was acknowledged.
    let acked: Arc<Mutex<HashMap<i64, HashMap<usize, Instant>>>> = Arc::default();
    let started = Instant::now();
    let end = started + Duration::from_secs(secs);
    let clients = 4;
    let lags: Vec<Duration> = std::thread::scope(|scope| {
        for c in 0..clients {
            let (server, t, acked) = (&server, &t, acked.clone());
            scope.spawn(move || {
                let mine: Vec<usize> = (c..VIEWERS).step_by(clients).collect();
                let mut tick = 0u64;
                while Instant::now() < end {
                    // Each viewer reports once every 10 s; a tenth of them every second.
                    let now = chrono::Utc::now();
                    let batch: Vec<usize> = mine.iter().copied().filter(|v| (*v as u64 % 10) == tick % 10).collect();
                    for chunk in batch.chunks(500) {
                        let body: Vec<Value> = chunk
                            .iter()
                            .map(|v| json!({ "type": "playing", "ts": now.to_rfc3339(), "playback_id": format!("p{v}"), "content_id": "keynote", "duration": 10, "device_id": format!("d{v}") }))
                            .collect();
                        server.post_events(&t.ingest, IP1, UA1, &Value::Array(body));
                        let at = Instant::now();
                        let minute = now.timestamp().div_euclid(60) * 60;
                        let mut a = acked.lock().unwrap();
                        let m = a.entry(minute).or_default();
                        for v in chunk {
                            m.entry(*v).or_insert(at);
                        }
                    }
                    tick += 1;
                    let next = started + Duration::from_secs(tick);
                    if let Some(wait) = next.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
            });
        }
        let poller = scope.spawn(|| {
            let mut lags = Vec::new();
            while Instant::now() < end {
                let polled = Instant::now();
                let v = server.get("/api/v1/live?minutes=1", &t.read).json();
                let minute = chrono::DateTime::parse_from_rfc3339(v["minute"].as_str().unwrap()).unwrap().timestamp();
                let seen = v["contents"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["content_id"] == "keynote")
                    .map(|c| c["viewers"].as_i64().unwrap())
                    .unwrap_or(0) as usize;
                // How long the oldest acknowledged viewer the figure misses has waited.
                let mut firsts: Vec<Instant> = acked
                    .lock()
                    .unwrap()
                    .get(&minute)
                    .map(|m| m.values().copied().filter(|a| *a <= polled).collect())
                    .unwrap_or_default();
                firsts.sort_unstable();
                let lag = if seen >= firsts.len() { Duration::ZERO } else { polled - firsts[seen] };
                lags.push(lag);
                std::thread::sleep(Duration::from_millis(250));
            }
            lags
        });
        poller.join().unwrap()
    });
    let (cpu, peak) = server.resources();
    let mut sorted = lags.clone();
    sorted.sort_unstable();
    let worst = sorted.last().copied().unwrap_or_default();
    let p99 = sorted.get(sorted.len() * 99 / 100).copied().unwrap_or_default();
    println!(
        "realtime: {secs} s, {VIEWERS} viewers, {} polls of GET /api/v1/live: live figure behind acknowledged heartbeats by at most {:.3} s (p99 {:.3} s, limit 10 s); server CPU {cpu:.1} s, peak memory {peak} MiB",
        lags.len(),
        worst.as_secs_f64(),
        p99.as_secs_f64()
    );
    assert!(worst <= Duration::from_secs(10), "the live figure fell more than realtime_lag behind");
    server.stop();
}

//! Freshness (issue 17, benchmark 5): how long after its `202` an event is
//! visible, in the live API and in `/api/v1/metrics`, on the release server
//! on loopback under a steady heartbeat load (20 000 live viewers reporting
//! every 10 s, `STREAMTALLY_BENCH_VIEWERS`). A probe every 100 ms: a `play`
//! and a `playing` of a playback of its own live content, stamped with the
//! wall clock; from the moment the `202` arrives, `GET /api/v1/live` and
//! `GET /api/v1/metrics?metrics=starts&filter=content_id:…` are asked every
//! 5 ms until each shows it. Prints p50/p99/max of both (target p99 ≤ 2 s)
//! and a `RESULT` line for `scripts/bench`. Run: `cargo bench --bench
//! freshness` (`STREAMTALLY_BENCH_SECONDS`, 60). Asserts nothing but that
//! every probe became visible.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{Server, TenantKeys, IP1, UA1};

/// A probe not visible after this long counts as lost (and fails the bench).
const GIVE_UP: Duration = Duration::from_secs(30);

fn main() {
    let seconds = std::env::var("STREAMTALLY_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60u64);
    let viewers = std::env::var("STREAMTALLY_BENCH_VIEWERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000usize);
    let dir = tempfile::tempdir().unwrap();
    // The abuse guard's limits raised: one address sends it all.
    let limits = [
        "--ingest-rate-per-ip",
        "1000000",
        "--ingest-burst-per-ip",
        "1000000",
        "--ingest-new-clients-per-ip",
        "1000000",
        "--ingest-new-clients-burst",
        "1000000",
    ];
    let server = Server::start(dir.path(), &limits);
    let t = server.tenant("fresh");
    let stop = AtomicBool::new(false);
    let end = Instant::now() + Duration::from_secs(seconds);
    let (live, metrics, beats) = std::thread::scope(|scope| {
        let load = scope.spawn(|| heartbeats(&server, &t, viewers, &stop));
        let mut live = Vec::new();
        let mut metrics = Vec::new();
        let mut n = 0u64;
        while Instant::now() < end {
            let began = Instant::now();
            let (l, m) = probe(&server, &t, n);
            live.push(l);
            metrics.push(m);
            n += 1;
            if let Some(wait) = Duration::from_millis(100).checked_sub(began.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        stop.store(true, Ordering::Relaxed);
        (live, metrics, load.join().unwrap())
    });
    let (cpu, peak) = server.resources();
    server.stop();
    let live = summary(live);
    let metrics = summary(metrics);
    println!(
        "freshness over {seconds} s, {} probes, beside {viewers} live viewers ({beats} heartbeats acknowledged); server CPU {cpu:.1} s, peak memory {peak} MiB",
        live.count
    );
    for (what, s) in [("live API", &live), ("metrics API", &metrics)] {
        println!("  202 → visible in the {what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", s.p50, s.p99, s.max);
    }
    for (figure, s) in [("live_p99_ms", &live), ("metrics_p99_ms", &metrics)] {
        println!(
            "RESULT freshness {figure} ours={:.1} peer=2000 ratio={:.3} peer_is=target_p99_ms",
            s.p99,
            s.p99 / 2000.0
        );
    }
}

/// One probe: the milliseconds from its `202` until the live API, and until
/// the metrics, showed it.
fn probe(server: &Server, t: &TenantKeys, n: u64) -> (f64, f64) {
    let id = format!("probe{n}");
    let now = chrono::Utc::now().to_rfc3339();
    let events = json!([
        { "type": "play", "ts": now, "playback_id": id, "content_id": id, "content_kind": "live", "device_id": id },
        { "type": "playing", "ts": now, "playback_id": id, "content_id": id, "content_kind": "live", "device_id": id, "duration": 1 }
    ]);
    server.post_events(&t.ingest, IP1, UA1, &events);
    let acked = Instant::now();
    let today = chrono::Utc::now().date_naive();
    let metrics_path = format!(
        "/api/v1/metrics?from={today}&to={}&metrics=starts&filter=content_id:{id}",
        today.succ_opt().unwrap()
    );
    let (mut live, mut metrics) = (None, None);
    while live.is_none() || metrics.is_none() {
        assert!(acked.elapsed() < GIVE_UP, "probe {id} not visible after {GIVE_UP:?}");
        if live.is_none() && in_live(&server.get("/api/v1/live?minutes=1", &t.read).json(), &id) {
            live = Some(acked.elapsed());
        }
        if metrics.is_none() && server.get(&metrics_path, &t.read).json()["totals"]["starts"].as_f64() == Some(1.0) {
            metrics = Some(acked.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let ms = |d: Option<Duration>| d.unwrap().as_secs_f64() * 1000.0;
    (ms(live), ms(metrics))
}

fn in_live(answer: &Value, id: &str) -> bool {
    answer["contents"]
        .as_array()
        .is_some_and(|cs| cs.iter().any(|c| c["content_id"] == id && c["viewers"].as_i64().unwrap_or(0) >= 1))
}

/// The steady load: each viewer reports every 10 s, a tenth of them each
/// second, in batches of 500. Returns the heartbeats acknowledged.
fn heartbeats(server: &Server, t: &TenantKeys, viewers: usize, stop: &AtomicBool) -> u64 {
    let started = Instant::now();
    let (mut tick, mut sent) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        let now = chrono::Utc::now().to_rfc3339();
        let these: Vec<usize> = (0..viewers).filter(|v| (*v as u64 % 10) == tick % 10).collect();
        for chunk in these.chunks(500) {
            let body: Vec<Value> = chunk
                .iter()
                .map(|v| json!({ "type": "playing", "ts": now, "playback_id": format!("p{v}"), "content_id": "keynote", "content_kind": "live", "duration": 10, "device_id": format!("d{v}") }))
                .collect();
            server.post_events(&t.ingest, IP1, UA1, &Value::Array(body));
            sent += chunk.len() as u64;
        }
        tick += 1;
        if let Some(wait) = (started + Duration::from_secs(tick)).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    sent
}

struct Summary {
    count: usize,
    p50: f64,
    p99: f64,
    max: f64,
}

fn summary(mut ms: Vec<f64>) -> Summary {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q) as usize).min(ms.len() - 1)];
    Summary {
        count: ms.len(),
        p50: at(0.5),
        p99: at(0.99),
        max: *ms.last().unwrap(),
    }
}

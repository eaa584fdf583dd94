//! The live-audience simulator shared by the load test and the live benchmark:
//! viewers with their own devices send `playing` heartbeats every 10 s with
//! synthetic event times; the per-minute series the server answers must equal
//! the simulator's own count exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Server, TenantKeys, IP1, UA1};

/// The `series` of a concurrency answer as (minute, viewers).
pub fn series(v: &Value) -> Vec<(String, i64)> {
    v["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["minute"].as_str().unwrap().to_string(), m["viewers"].as_i64().unwrap()))
        .collect()
}

/// A viewer of the load simulator: device, content, and the minutes it watches.
struct SimViewer {
    device: String,
    content: &'static str,
    join: i64,
    leave: i64,
}

/// Simulates `viewers` live viewers over `minutes` minutes (heartbeats every
/// 10 s, synthetic event times) and checks every minute against ground truth.
pub fn simulate(server: &Server, t: &TenantKeys, viewers: usize, minutes: i64, clients: usize) -> SimRun {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let base = chrono::DateTime::parse_from_rfc3339("2026-03-02T12:00:00Z").unwrap().timestamp();
    let sim: Vec<SimViewer> = (0..viewers)
        .map(|i| {
            // All join in the first minute; one in five leaves early.
            let join = rng.random_range(0..60);
            let leave = if i % 5 == 0 {
                rng.random_range(join + 10..=minutes * 60)
            } else {
                minutes * 60
            };
            SimViewer {
                device: format!("sim-{i}"),
                content: if i % 4 == 0 { "side-stage" } else { "main-stage" },
                join,
                leave,
            }
        })
        .collect();
    // Ground truth: distinct viewers per content and minute of their reports.
    let mut truth: BTreeMap<(&str, i64), BTreeSet<usize>> = BTreeMap::new();
    let mut events: Vec<(i64, usize)> = Vec::new();
    for (i, v) in sim.iter().enumerate() {
        let mut s = v.join;
        while s <= v.leave {
            truth.entry((v.content, (base + s).div_euclid(60) * 60)).or_default().insert(i);
            events.push((s, i));
            s += 10;
        }
    }
    // Sent in time order, as a live audience would, by several clients at once.
    events.sort_unstable();
    let total = events.len();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for chunk in events.chunks(events.len().div_ceil(clients)) {
            let sim = &sim;
            scope.spawn(move || {
                for batch in chunk.chunks(500) {
                    let body: Vec<Value> = batch
                        .iter()
                        .map(|(s, i)| {
                            let v = &sim[*i];
                            let ts = chrono::DateTime::from_timestamp(base + s, 0).unwrap().to_rfc3339();
                            json!({ "type": "playing", "ts": ts, "playback_id": v.device, "content_id": v.content,
                                    "content_kind": "live", "duration": 10, "device_id": v.device })
                        })
                        .collect();
                    server.post_events(&t.ingest, IP1, UA1, &Value::Array(body));
                }
            });
        }
    });
    server.wait_idle();
    let elapsed = started.elapsed();
    let from = chrono::DateTime::from_timestamp(base, 0).unwrap().to_rfc3339();
    let to = chrono::DateTime::from_timestamp(base + minutes * 60 + 60, 0).unwrap().to_rfc3339();
    for content in ["main-stage", "side-stage"] {
        let r = server.get(&format!("/api/v1/live/{content}/concurrency?from={from}&to={to}").replace('+', "%2B"), &t.read);
        assert_eq!(r.status, 200, "{}", r.body);
        let got: Vec<(i64, i64)> = series(&r.json())
            .into_iter()
            .map(|(m, n)| (chrono::DateTime::parse_from_rfc3339(&m).unwrap().timestamp(), n))
            .collect();
        let want: Vec<(i64, i64)> = truth
            .iter()
            .filter(|((c, _), _)| *c == content)
            .map(|((_, m), d)| (*m, d.len() as i64))
            .collect();
        assert_eq!(got, want, "per-minute series of {content}");
    }
    let peak = truth.values().map(|d| d.len()).max().unwrap_or(0);
    let per_minute_all: BTreeMap<i64, usize> = truth.iter().fold(BTreeMap::new(), |mut m, ((_, minute), d)| {
        *m.entry(*minute).or_default() += d.len();
        m
    });
    SimRun {
        elapsed,
        events: total,
        peak: per_minute_all.values().copied().max().unwrap_or(peak),
    }
}

pub struct SimRun {
    pub elapsed: Duration,
    pub events: usize,
    /// The most viewers of all contents in one minute.
    pub peak: usize,
}

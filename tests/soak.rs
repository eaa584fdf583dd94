//! Soak: steady beacon load, log imports and dashboard queries at once
//! against one real server for a while (45 s here; `STREAMTALLY_SOAK_SECONDS`
//! for longer). Memory stays flat, every acknowledged input is counted, and
//! the `202`'s p99 does not drift. Loopback only; it stops by itself.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// The server's resident memory now (MiB).
fn rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        / 1024
}

fn p99(latencies: &mut [Duration]) -> Duration {
    latencies.sort();
    latencies.get(latencies.len().saturating_sub(1) * 99 / 100).copied().unwrap_or_default()
}

/// Log lines of one import: `n` requests of minute `m` (the CDN figures count each).
fn log_lines(round: usize, n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "203.0.113.{} - - [02/Mar/2026:{:02}:{:02}:{:02} +0000] \"GET /live/ch1/r{round}seg{i}.ts HTTP/1.1\" 200 1500 \"-\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0\"\n",
                i % 100,
                12 + round / 60,
                round % 60,
                i % 60
            )
        })
        .collect()
}

#[test]
fn steady_load_imports_and_queries_together_keep_memory_flat_and_count_everything() {
    let seconds: u64 = std::env::var("STREAMTALLY_SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(45);
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(Server::start(&dir.path().join("data"), &["--checkpoint-interval", "1s"]));
    let keys = server.tenant("soak");
    let stop = Arc::new(AtomicBool::new(false));
    // Beacons: 200 viewers, each one playback sending a second of playing per
    // beat, in batches of 20 beats, two senders: a steady state the engine
    // keeps (devices and playbacks do not grow), time growing by the beat.
    let acked_beats = Arc::new(AtomicU64::new(0));
    let latencies: Arc<Mutex<Vec<(Instant, Duration)>>> = Arc::default();
    let started = Instant::now();
    let senders: Vec<_> = (0..2)
        .map(|s| {
            let (server, key, stop, acked, latencies) = (server.clone(), keys.ingest.clone(), stop.clone(), acked_beats.clone(), latencies.clone());
            std::thread::spawn(move || {
                let mut beat = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let viewer = s * 100 + beat % 100;
                    // Event time: the beat's second of the soak, on the day the log uses.
                    let secs = beat / 100;
                    let ts = at(&format!("{:02}:{:02}:{:02}", 9 + secs / 3600, (secs / 60) % 60, secs % 60));
                    let events: Vec<Value> = (0..20).map(|k| playing(&ts, &format!("v{viewer}-{k}"), "L", 1.0)).collect();
                    let sent = Instant::now();
                    if let Ok(r) = server.try_post_events(&key, &format!("192.0.2.{}", viewer % 250), UA1, &Value::Array(events)) {
                        if r.status == 202 {
                            acked.fetch_add(20, Ordering::SeqCst);
                            latencies.lock().unwrap().push((sent, sent.elapsed()));
                        }
                    }
                    beat += 1;
                    std::thread::sleep(Duration::from_millis(4));
                }
            })
        })
        .collect();
    // Dashboard questions, several a second.
    let asker = {
        let (server, read, stop) = (server.clone(), keys.read.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut asked = 0u64;
            while !stop.load(Ordering::SeqCst) {
                for q in [
                    "/api/v1/metrics?from=2026-03-02&to=2026-03-03&metrics=starts,time,devices",
                    "/api/v1/metrics?from=2026-03-02&to=2026-03-03&metrics=time&group_by=minute",
                    "/api/v1/cdn?from=2026-03-02&to=2026-03-03",
                    "/api/v1/live?at=2026-03-02T09:00:30Z",
                ] {
                    assert_eq!(server.get(q, &read).status, 200, "{q}");
                    asked += 1;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            asked
        })
    };
    // Log imports: a new file every few seconds.
    let mut imported_lines = 0i64;
    let mut rss = Vec::new();
    let mut round = 0usize;
    while started.elapsed() < Duration::from_secs(seconds) {
        let file = dir.path().join(format!("access-{round}.log"));
        std::fs::write(&file, log_lines(round, 5_000)).unwrap();
        let status = quietly(&[
            "import",
            file.to_str().unwrap(),
            "--tenant",
            "soak",
            "--server",
            &server.base,
            "--key",
            &keys.ingest,
        ])
        .status()
        .unwrap();
        assert!(status.success(), "import {round} failed");
        imported_lines += 5_000;
        round += 1;
        rss.push((started.elapsed(), rss_mib(server.pid())));
        std::thread::sleep(Duration::from_secs(3));
    }
    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.join().unwrap();
    }
    let asked = asker.join().unwrap();

    // Everything acknowledged is counted: each beat a second of time, each line a request.
    let m = server.metrics(&keys.read, "from=2026-03-02&to=2026-03-03&metrics=time");
    let beats = acked_beats.load(Ordering::SeqCst);
    assert_eq!(m["totals"]["time"], json!(beats as f64), "{m}");
    let cdn = server.get("/api/v1/cdn?from=2026-03-02&to=2026-03-03", &keys.read).json();
    assert_eq!(cdn["totals"]["requests"], json!(imported_lines), "{cdn}");
    // Memory flat: the second half grows no more than a little over the first half's level.
    let half = rss.len() / 2;
    let early = rss[..half.max(1)].iter().map(|(_, m)| *m).max().unwrap_or(0);
    let late = rss[half..].iter().map(|(_, m)| *m).max().unwrap_or(0);
    // The 202's p99 in each half.
    let mut all = latencies.lock().unwrap().clone();
    all.sort_by_key(|(at, _)| *at);
    let cut = all.len() / 2;
    let (mut first, mut second): (Vec<Duration>, Vec<Duration>) = (all[..cut].iter().map(|x| x.1).collect(), all[cut..].iter().map(|x| x.1).collect());
    let (p1, p2) = (p99(&mut first), p99(&mut second));
    println!(
        "soak {seconds} s: {beats} beats in {} requests, {imported_lines} log lines in {round} imports, {asked} queries; RSS {early} MiB then {late} MiB; p99 of the 202 {:.1} ms then {:.1} ms",
        all.len(),
        p1.as_secs_f64() * 1000.0,
        p2.as_secs_f64() * 1000.0
    );
    assert!(late <= early + early / 4 + 32, "memory grew: {rss:?}");
    assert!(p2 <= p1 * 4 + Duration::from_millis(100), "the 202's p99 drifted: {p1:?} then {p2:?}");
    Arc::try_unwrap(server).ok().expect("the threads are done").stop();
}

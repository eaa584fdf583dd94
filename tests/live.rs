//! Live concurrency (spec §5) through the real server and HTTP API: worked
//! example 8, the live list and overview, filters, the SSE stream, the
//! real-time lag, and a bounded load test against a simulator's ground truth.

mod support;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::live_sim::{self, series};
use support::*;

const UA2: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0";
const RANGE: &str = "from=2026-03-02T09:00:00Z&to=2026-03-02T11:00:00Z";

/// `playing` reports every 10 s from `from` to `to` (inclusive), as a live player sends them.
fn heartbeats(pid: &str, content: &str, from: &str, to: &str) -> Vec<Value> {
    let (from, to) = (
        chrono::DateTime::parse_from_rfc3339(&at(from)).unwrap(),
        chrono::DateTime::parse_from_rfc3339(&at(to)).unwrap(),
    );
    let mut out = vec![json!({ "type": "play", "ts": from.to_rfc3339(), "playback_id": pid, "content_id": content, "content_kind": "live" })];
    let mut t = from;
    while t <= to {
        out.push(json!({ "type": "playing", "ts": t.to_rfc3339(), "playback_id": pid, "content_id": content, "content_kind": "live", "duration": 10 }));
        t += chrono::Duration::seconds(10);
    }
    out
}

#[test]
fn example_8_live_concurrency_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("live");
    // X on Chrome, Y on Firefox from another address; a VOD viewer that is not live.
    server.post_events(&t.ingest, IP1, UA1, &Value::Array(heartbeats("X", "L", "10:00:00", "10:05:30")));
    server.post_events(&t.ingest, "198.51.100.20", UA2, &Value::Array(heartbeats("Y", "L", "10:03:10", "10:07:00")));
    let mut vod = heartbeats("V", "film", "10:01:00", "10:02:00");
    for e in &mut vod {
        e["content_kind"] = json!("vod");
    }
    server.post_events(&t.ingest, "198.51.100.30", UA1, &Value::Array(vod));
    server.wait_idle();

    let r = server.get(&format!("/api/v1/live/L/concurrency?{RANGE}"), &t.read);
    assert_eq!(r.status, 200, "{}", r.body);
    let expected: Vec<(String, i64)> = [
        ("10:00", 1),
        ("10:01", 1),
        ("10:02", 1),
        ("10:03", 2),
        ("10:04", 2),
        ("10:05", 2),
        ("10:06", 1),
        ("10:07", 1),
    ]
    .iter()
    .map(|(m, n)| (at(&format!("{m}:00")), *n))
    .collect();
    assert_eq!(series(&r.json()), expected);
    assert_eq!(r.json()["peak"], 2);

    // Filters narrow the viewers: Firefox is Y alone.
    let r = server.get(&format!("/api/v1/live/L/concurrency?{RANGE}&filter=browser:Firefox"), &t.read);
    let firefox: Vec<i64> = series(&r.json()).iter().map(|(_, n)| *n).collect();
    assert_eq!(firefox, vec![1, 1, 1, 1, 1]);

    let s = server.get(&format!("/api/v1/live/L/summary?{RANGE}"), &t.read).json();
    assert_eq!(s["first_minute"], at("10:00:00"));
    assert_eq!(s["last_minute"], at("10:07:00"));
    assert_eq!((s["peak"].as_i64(), s["peak_minute"].as_str()), (Some(2), Some(at("10:03:00").as_str())));
    assert_eq!(s["average"], 1.375);
    assert_eq!(s["viewers"], 2);
    // 34 reports of X and 24 of Y, 10 s each.
    assert_eq!(s["watch_time"], 580.0);
    assert_eq!(s["average_watch_time"], 290.0);

    // The live list at 10:04:30: L with 2 viewers; the VOD is not live.
    let now = server.get("/api/v1/live?at=2026-03-02T10:04:30Z", &t.read).json();
    assert_eq!(now["minute"], at("10:04:00"));
    assert_eq!(now["contents"].as_array().unwrap().len(), 1, "{now}");
    assert_eq!(now["contents"][0]["content_id"], "L");
    assert_eq!(
        (now["contents"][0]["viewers"].as_i64(), now["contents"][0]["previous_minute_viewers"].as_i64()),
        (Some(2), Some(2))
    );
    let later = server.get("/api/v1/live?at=2026-03-02T10:30:00Z", &t.read).json();
    assert_eq!(later["contents"].as_array().unwrap().len(), 0, "nothing live half an hour later: {later}");

    // The overview of the day: live streams only, sortable.
    let o = server.get(&format!("/api/v1/live/overview?{DAY}"), &t.read).json();
    let ids: Vec<&str> = o["contents"].as_array().unwrap().iter().map(|c| c["content_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["L"]);
    assert_eq!(o["contents"][0]["peak"], 2);
    let bad = server.get(&format!("/api/v1/live/overview?{DAY}&sort=colour"), &t.read);
    assert_eq!(bad.status, 400);
    // With the catalogue saying the film is live too, the overview sorts both.
    let r = server.send(
        "PUT",
        "/api/v1/contents",
        &t.admin,
        &json!([{ "content_id": "film", "kind": "live", "title": "Film" }]).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    // The player said `vod` for the film: the player's word wins, as everywhere.
    let o = server.get(&format!("/api/v1/live/overview?{DAY}&sort=content_id"), &t.read).json();
    assert_eq!(o["contents"].as_array().unwrap().len(), 1);
    // Another tenant's key sees nothing of this tenant.
    let other = server.tenant("other");
    let r = server.get(&format!("/api/v1/live/L/summary?{RANGE}"), &other.read);
    assert_eq!(r.status, 404, "{}", r.body);
    server.stop();
}

#[test]
fn the_live_figure_follows_ingest_in_real_time_and_streams_over_sse() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("rt");
    let r = server.send("PUT", "/api/v1/contents", &t.admin, &json!([{ "content_id": "R", "kind": "live" }]).to_string());
    assert_eq!(r.status, 200);
    // Open the SSE stream first; its events come every second.
    let stream = agent()
        .get(&server.url("/api/v1/live/stream?interval=1"))
        .header("Authorization", &format!("Bearer {}", t.read))
        .call()
        .unwrap();
    assert!(stream.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/event-stream"));
    let mut lines = BufReader::new(stream.into_body().into_reader()).lines();

    let mut worst = Duration::ZERO;
    for viewer in 0..5 {
        let now = chrono::Utc::now().to_rfc3339();
        let e = json!([{ "type": "playing", "ts": now, "playback_id": format!("p{viewer}"), "content_id": "R", "duration": 10, "device_id": format!("d{viewer}") }]);
        let acked = Instant::now();
        server.post_events(&t.ingest, IP1, UA1, &e);
        // Visible in the current minute's figure (the minute may have turned meanwhile).
        loop {
            let v = server.get("/api/v1/live?minutes=2", &t.read).json();
            let seen = v["contents"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["content_id"] == "R")
                .map(|c| c["viewers"].as_i64().unwrap() + c["previous_minute_viewers"].as_i64().unwrap())
                .unwrap_or(0);
            if seen > 0 {
                break;
            }
            assert!(acked.elapsed() < Duration::from_secs(10), "not visible after 10 s (realtime_lag)");
            std::thread::sleep(Duration::from_millis(5));
        }
        worst = worst.max(acked.elapsed());
    }
    println!("worst lag from 202 to the live figure: {worst:?}");

    // The SSE stream reports the same figure.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut found = false;
    while Instant::now() < deadline && !found {
        let line = lines.next().unwrap().unwrap();
        if let Some(data) = line.strip_prefix("data:") {
            let v: Value = serde_json::from_str(data.trim()).unwrap();
            // The minute may have turned since the heartbeats: the last one counts too.
            found = v["contents"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["content_id"] == "R" && c["viewers"].as_i64().unwrap() + c["previous_minute_viewers"].as_i64().unwrap() >= 1);
        }
    }
    assert!(found, "the SSE stream never showed the live viewers");
    // Without a key, no stream.
    let r = server.request("GET", "/api/v1/live/stream", &[], "");
    assert_eq!(r.status, 401);
    server.stop();
}

#[test]
fn load_20000_concurrent_viewers_per_minute_series_is_exact() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--ingest-rate-per-ip", "1000000", "--ingest-burst-per-ip", "1000000"],
    );
    let t = server.tenant("load");
    let run = live_sim::simulate(&server, &t, 20_000, 10, 4);
    let (cpu, peak) = server.resources();
    println!(
        "{} heartbeats of 20000 viewers (peak {} concurrent) in {:?}; server CPU {cpu:.1} s, peak memory {peak} MiB",
        run.events, run.peak, run.elapsed
    );
    assert_eq!(run.peak, 20_000);
    server.stop();
}

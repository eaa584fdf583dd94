//! The monthly overview (source 000) through the real server: months cut in
//! the tenant's time zone (São Paulo, UTC−3), requests and bytes from a
//! server log beside the player's counts, the average viewing time, every
//! month of the range with a row, and CSV.

mod support;

use serde_json::{json, Value};
use support::*;

fn log_line(time: &str, bytes: u64) -> String {
    format!("{IP1} - - [{time}] \"GET /img/poster.png HTTP/1.1\" 200 {bytes} \"-\" \"{UA1}\"\n")
}

/// February's last evening in São Paulo is already March in UTC.
fn across_the_boundary() -> (tempfile::TempDir, Server, TenantKeys) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("tv");
    server.set(&keys, json!({ "timezone": "America/Sao_Paulo" }));
    // 28 Feb 23:00 local: one start of 60 s, and a 1000-byte request.
    let feb = json!([ev("play", "2026-03-01T02:00:00Z", "p1", "A"), playing("2026-03-01T02:01:00Z", "p1", "A", 60.0)]);
    server.post_events(&keys.ingest, IP1, UA1, &feb);
    let r = server.request(
        "POST",
        "/api/v1/logs?format=combined",
        &[("X-Ingest-Key", &keys.ingest)],
        log_line("01/Mar/2026:02:10:00 +0000", 1000),
    );
    assert_eq!(r.status, 202, "{}", r.body);
    // 1 Mar local: two starts, 30 s and 90 s, and two requests of 500 bytes.
    let mar = json!([
        ev("play", "2026-03-01T04:00:00Z", "p2", "A"),
        playing("2026-03-01T04:00:30Z", "p2", "A", 30.0),
        ev("play", "2026-03-01T05:00:00Z", "p3", "B"),
        playing("2026-03-01T05:01:30Z", "p3", "B", 90.0),
    ]);
    server.post_events(&keys.ingest, "192.0.2.60", UA1, &mar);
    let lines = format!("{}{}", log_line("01/Mar/2026:04:10:00 +0000", 500), log_line("01/Mar/2026:04:11:00 +0000", 500));
    let r = server.request("POST", "/api/v1/logs?format=combined", &[("X-Ingest-Key", &keys.ingest)], &lines);
    assert_eq!(r.status, 202, "{}", r.body);
    server.wait_idle();
    (dir, server, keys)
}

fn monthly(server: &Server, key: &str, query: &str) -> Reply {
    server.get(&format!("/api/v1/overview/monthly?{query}"), key)
}

#[test]
fn months_are_cut_in_the_tenants_zone_with_requests_bytes_and_average_time() {
    let (_dir, server, keys) = across_the_boundary();
    let r = monthly(&server, &keys.read, "from=2026-01-01&to=2026-04-01");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let rows = v["rows"].as_array().unwrap();
    let months: Vec<&str> = rows.iter().map(|r| r["month"].as_str().unwrap()).collect();
    // Every month of the range, January's empty one too.
    assert_eq!(months, ["2026-01-01T00:00:00-03:00", "2026-02-01T00:00:00-03:00", "2026-03-01T00:00:00-03:00"]);
    let pick = |r: &Value| {
        (
            r["requests"].as_i64(),
            r["traffic"].as_f64(),
            r["starts"].as_i64(),
            r["time"].as_f64(),
            r["avg_time"].as_f64(),
        )
    };
    assert_eq!(pick(&rows[0]), (Some(0), Some(0.0), Some(0), Some(0.0), None), "{v}");
    assert_eq!(pick(&rows[1]), (Some(1), Some(1000.0), Some(1), Some(60.0), Some(60.0)), "{v}");
    assert_eq!(pick(&rows[2]), (Some(2), Some(1000.0), Some(2), Some(120.0), Some(60.0)), "{v}");
    assert_eq!(rows[2]["devices"], 1, "p2 and p3 are one device (one address and browser): {v}");
    assert_eq!(pick(&v["totals"]), (Some(3), Some(2000.0), Some(3), Some(180.0), Some(60.0)), "{v}");
    server.stop();
}

#[test]
fn the_monthly_overview_as_csv_and_avg_time_in_the_metrics() {
    let (_dir, server, keys) = across_the_boundary();
    let r = monthly(&server, &keys.read, "from=2026-02-01&to=2026-04-01&format=csv");
    assert_eq!(r.status, 200, "{}", r.body);
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines[0], "month,requests,traffic,starts,streams,time,avg_time,downloads,devices,views,users");
    assert_eq!(lines.len(), 3, "{}", r.body);
    assert!(lines[1].starts_with("2026-02-01T00:00:00-03:00,1,1000"), "{}", r.body);
    // 1 March where the tenant is: p2 and p3, not p1 (28 February there).
    let m = server.metrics(&keys.read, "from=2026-03-01&to=2026-03-02&metrics=starts,time,avg_time&group_by=content_id");
    let avg: Vec<(Value, Value)> = m["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["content_id"].clone(), r["avg_time"].clone()))
        .collect();
    assert_eq!(avg, [(json!("A"), json!(30.0)), (json!("B"), json!(90.0))], "{m}");
    assert_eq!(m["totals"]["avg_time"], 60.0, "{m}");
    server.stop();
}

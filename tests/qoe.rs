//! Quality of experience (spec §8d) through the real server, with fixed
//! numbers: from player events (worked example 12, and a scenario with a slow
//! start, two rebuffers, a switch, an exit before start and fatal errors) and
//! from CMCD alone in log lines (v1 and v2 keys).

mod support;

use serde_json::{json, Value};
use support::*;

const QOE: &str = "startup_median,startup_p95,rebuffer_ratio,rebuffer_frequency,failure_rate,exits_before_start,bitrate_avg,bitrate_switches,errors";

fn qoe(server: &Server, key: &str, query: &str) -> Value {
    server.wait_idle();
    let r = server.get(&format!("/api/v1/qoe?{DAY}&{query}"), key);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn with(mut e: Value, fields: Value) -> Value {
    for (k, v) in fields.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

#[test]
fn example_12_startup_median_and_failure_rate() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let t = server.tenant("qoe12");
    let mut events = Vec::new();
    for (i, delay) in [1, 2, 6].into_iter().enumerate() {
        let pid = format!("w{i}");
        events.push(ev("play", &at(&format!("10:0{i}:00")), &pid, "W"));
        events.push(playing(&at(&format!("10:0{i}:{delay:02}")), &pid, "W", 0.0));
        events.push(playing(&at(&format!("10:0{i}:{:02}", delay + 10)), &pid, "W", 10.0));
    }
    events.push(with(ev("error", &at("10:02:30"), "w2", "W"), json!({ "fatal": true })));
    server.post_events(&t.ingest, IP1, UA1, &Value::Array(events));
    let v = qoe(&server, &t.read, "metrics=startup_median,failure_rate");
    assert_eq!(v["totals"], json!({ "startup_median": 2.0, "failure_rate": 0.3333 }));
    server.stop();
}

/// Hour 10: q1 starts in 1 s, switches 1000 → 2000 kbps; q2 starts in 2 s.
/// Hour 11: q3 buffers 3 s before its first frame at 6 s (startup, not a
/// stall), then stalls twice (2 s, 3 s), has an error that is not fatal and
/// a fatal one. Content X: q4 never shows a frame (an exit before start), q5
/// fails before its first frame (a failure, no exit); q6 too, and then
/// recovers: still a failure before its first frame, with no startup.
fn scenario() -> Vec<Value> {
    let kbps = |e: Value, b: f64| with(e, json!({ "bitrate": b }));
    vec![
        ev("play", &at("10:00:00"), "q1", "W"),
        kbps(playing(&at("10:00:01"), "q1", "W", 0.0), 1000.0),
        kbps(playing(&at("10:00:11"), "q1", "W", 10.0), 1000.0),
        kbps(playing(&at("10:00:21"), "q1", "W", 10.0), 2000.0),
        ev("pause", &at("10:00:21"), "q1", "W"),
        ev("play", &at("10:10:00"), "q2", "W"),
        kbps(playing(&at("10:10:02"), "q2", "W", 0.0), 2000.0),
        kbps(playing(&at("10:10:32"), "q2", "W", 30.0), 2000.0),
        ev("play", &at("11:20:00"), "q3", "W"),
        with(ev("buffering", &at("11:20:03"), "q3", "W"), json!({ "duration": 3 })),
        kbps(playing(&at("11:20:06"), "q3", "W", 0.0), 1000.0),
        kbps(playing(&at("11:20:16"), "q3", "W", 10.0), 1000.0),
        with(ev("buffering", &at("11:20:18"), "q3", "W"), json!({ "duration": 2 })),
        with(ev("error", &at("11:20:25"), "q3", "W"), json!({ "code": "net-retry" })),
        kbps(playing(&at("11:20:28"), "q3", "W", 10.0), 1000.0),
        with(ev("buffering", &at("11:20:31"), "q3", "W"), json!({ "duration": 3 })),
        kbps(playing(&at("11:20:41"), "q3", "W", 10.0), 1000.0),
        with(ev("error", &at("11:20:42"), "q3", "W"), json!({ "fatal": true })),
        ev("play", &at("11:30:00"), "q4", "X"),
        with(ev("buffering", &at("11:30:05"), "q4", "X"), json!({ "duration": 5 })),
        ev("play", &at("11:40:00"), "q5", "X"),
        with(ev("error", &at("11:40:03"), "q5", "X"), json!({ "fatal": true })),
        ev("play", &at("11:50:00"), "q6", "X"),
        with(ev("error", &at("11:50:02"), "q6", "X"), json!({ "fatal": true })),
        playing(&at("11:50:05"), "q6", "X", 0.0),
        // The tenant's clock an hour (`user_idle`) past q4: it is settled.
        ev("player_loaded", &at("12:31:00"), "q7", "X"),
    ]
}

#[test]
fn every_quality_figure_of_a_slow_start_two_rebuffers_and_fatal_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let t = server.tenant("qoe");
    server.post_events(&t.ingest, IP1, UA1, &Value::Array(scenario()));
    let v = qoe(&server, &t.read, "");
    // Startups 1, 2, 6 s; p95 interpolates: 2 + 0.9 × (6 − 2). Played 80 s,
    // stalled 5 s; 2 stalls in 80/60 minutes; 3 of 6 starts failed; bitrate
    // (10×1000 + 10×2000 + 30×2000 + 30×1000) / 80.
    assert_eq!(
        v["totals"],
        json!({
            "startup_median": 2.0, "startup_p95": 5.6, "rebuffer_ratio": 0.0588, "rebuffer_frequency": 1.5,
            "failure_rate": 0.5, "exits_before_start": 1, "bitrate_avg": 1500.0, "bitrate_switches": 1, "errors": 1
        })
    );
    // Percentiles are taken over the raw startups of each bucket: the total
    // is not a mean of the hours' medians (1.5 and 6).
    let hours = qoe(&server, &t.read, "metrics=startup_median,exits_before_start&group_by=hour");
    let rows: Vec<(f64, i64)> = hours["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["startup_median"].as_f64().unwrap(), r["exits_before_start"].as_i64().unwrap()))
        .collect();
    assert_eq!(rows, vec![(1.5, 0), (6.0, 1)]);
    let csv = server.get(&format!("/api/v1/qoe?{DAY}&metrics=failure_rate&group_by=content_id&format=csv"), &t.read);
    assert_eq!(csv.body.lines().collect::<Vec<_>>(), ["content_id,failure_rate", "W,0.3333", "X,0.6667"]);
    // Audience metrics are not quality figures.
    let r = server.get(&format!("/api/v1/qoe?{DAY}&metrics=starts"), &t.read);
    assert!(r.status == 400 && r.body.contains("/api/v1/metrics"), "{}", r.body);
    server.stop();
}

/// A combined log line of a media request carrying CMCD in its query.
fn cmcd_line(hms: &str, path: &str, cmcd: &str) -> String {
    let encoded: String = cmcd
        .chars()
        .map(|c| match c {
            '=' => "%3D".to_string(),
            ',' => "%2C".to_string(),
            '"' => "%22".to_string(),
            c => c.to_string(),
        })
        .collect();
    format!(r#"{IP1} - - [02/Mar/2026:{hms} +0000] "GET {path}?CMCD={encoded} HTTP/1.1" 200 400000 "-" "{UA1}""#)
}

#[test]
fn quality_from_cmcd_alone_in_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let t = server.tenant("cmcd");
    let lines = [
        // v1: startup from the first urgent (`su`) request to the first
        // media request without it (3 s); `bs` is a stall of unknown length.
        cmcd_line("08:00:00", "/vod/L1/index.m3u8", r#"cid="L1",ot=m,sid="s1",st=v,su"#),
        cmcd_line("08:00:01", "/vod/L1/seg_1.ts", r#"br=800,cid="L1",d=4000,ot=v,sid="s1",st=v,su"#),
        cmcd_line("08:00:03", "/vod/L1/seg_2.ts", r#"br=800,bs,cid="L1",d=4000,ot=v,sid="s1",st=v"#),
        cmcd_line("08:00:07", "/vod/L1/seg_3.ts", r#"br=800,cid="L1",d=4000,ot=v,sid="s1",st=v"#),
        // v2: `msd` is the startup; `bsa`/`bsd` count stalls and their
        // milliseconds from the session's start; `sta=f` is a failure.
        cmcd_line("09:00:00", "/vod/L2/index.m3u8", r#"cid="L2",ot=m,sid="s2",st=v,sta=s,v=2"#),
        cmcd_line(
            "09:00:01",
            "/vod/L2/seg_1.ts",
            r#"br=3000,cid="L2",d=4000,msd=1500,ot=v,sid="s2",st=v,sta=p,v=2"#,
        ),
        cmcd_line(
            "09:00:05",
            "/vod/L2/seg_2.ts",
            r#"br=3000,bsa=1,bsd=800,cid="L2",d=4000,ot=v,sid="s2",st=v,sta=r,v=2"#,
        ),
        cmcd_line(
            "09:00:09",
            "/vod/L2/seg_3.ts",
            r#"br=1500,bsa=1,bsd=2000,cid="L2",d=4000,ot=v,sid="s2",st=v,sta=p,v=2"#,
        ),
        cmcd_line(
            "09:00:13",
            "/vod/L2/seg_4.ts",
            r#"br=1500,cid="L2",d=4000,ec="E1",ot=v,sid="s2",st=v,sta=f,v=2"#,
        ),
    ];
    let r = server.request("POST", "/api/v1/logs", &[("X-Ingest-Key", &t.ingest)], lines.join("\n"));
    assert_eq!(r.status, 202, "{}", r.body);
    let v = qoe(&server, &t.read, &format!("metrics={QOE}&group_by=content_id"));
    assert_eq!(
        v["rows"],
        json!([
            { "content_id": "L1", "startup_median": 3.0, "startup_p95": 3.0, "rebuffer_ratio": 0.0, "rebuffer_frequency": 5.0,
              "failure_rate": 0.0, "exits_before_start": 0, "bitrate_avg": 800.0, "bitrate_switches": 0, "errors": 0 },
            { "content_id": "L2", "startup_median": 1.5, "startup_p95": 1.5, "rebuffer_ratio": 0.1111, "rebuffer_frequency": 3.75,
              "failure_rate": 1.0, "exits_before_start": 0, "bitrate_avg": 2250.0, "bitrate_switches": 1, "errors": 0 }
        ])
    );
    server.stop();
}

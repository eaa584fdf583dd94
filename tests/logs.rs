//! Access logs through the real server: worked examples 4, 5 and 10 from log
//! text via `POST /api/v1/logs` into the store and out of the query API; log
//! segments and player heartbeats counted once in live concurrency; bad input.

mod support;

use serde_json::{json, Value};
use support::*;

const BOT_UA: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// A combined-format line of 2026-03-02 (or `day`) at `hms`.
// One argument per field of a combined log line.
#[allow(clippy::too_many_arguments)]
fn line(day: &str, hms: &str, ip: &str, method: &str, path: &str, status: u16, bytes: u64, ua: &str) -> String {
    format!(r#"{ip} - - [{day}/Mar/2026:{hms} +0000] "{method} {path} HTTP/1.1" {status} {bytes} "-" "{ua}""#)
}

fn post_logs(server: &Server, key: &str, query: &str, body: &str) -> Reply {
    server.request("POST", &format!("/api/v1/logs?{query}"), &[("X-Ingest-Key", key)], body)
}

fn totals(server: &Server, t: &TenantKeys, range: &str, metrics: &str) -> Value {
    server.metrics(&t.read, &format!("{range}&metrics={metrics}"))["totals"].clone()
}

#[test]
fn example_4_audio_log_from_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("pod");
    let r = server.send(
        "PUT",
        "/api/v1/contents",
        &t.admin,
        &json!([{ "content_id": "E", "bitrate": 128, "media": "audio" }]).to_string(),
    );
    assert_eq!(r.status, 200);
    let mut lines = Vec::new();
    for ua in [UA1, BOT_UA] {
        lines.push(line("02", "08:00:00", IP1, "GET", "/podcast/E.mp3", 206, 50_000, ua));
        lines.push(line("02", "08:01:00", IP1, "GET", "/podcast/E.mp3", 206, 1_000_000, ua));
        lines.push(line("02", "10:00:00", IP1, "GET", "/podcast/E.mp3", 206, 480_000, ua));
    }
    let r = post_logs(&server, &t.ingest, "", &lines.join("\n"));
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!((r.json()["accepted"].as_i64(), r.json()["format"].as_str()), (Some(6), Some("combined")));
    let tot = totals(&server, &t, DAY, "starts,streams,time,devices");
    assert_eq!(
        (tot["starts"].as_i64(), tot["streams"].as_i64(), tot["time"].as_f64(), tot["devices"].as_i64()),
        (Some(1), Some(1), Some(92.5), Some(1))
    );
    let by_source = server.metrics(&t.read, &format!("{DAY}&metrics=starts&group_by=source"));
    assert_eq!(by_source["rows"][0]["source"], "audio-log");
    server.stop();
}

#[test]
fn example_5_downloads_from_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("pod");
    let body = [
        line("02", "09:00:00", IP1, "GET", "/podcast/E.mp3", 200, 5_000_000, UA1),
        line("02", "09:05:00", IP1, "HEAD", "/podcast/E.mp3", 200, 5_000_000, UA1),
        line("02", "20:00:00", IP1, "GET", "/podcast/E.mp3", 200, 5_000_000, UA1),
        line("03", "09:30:00", IP1, "GET", "/podcast/E.mp3", 200, 5_000_000, UA1),
    ]
    .join("\n");
    assert_eq!(post_logs(&server, &t.ingest, "format=combined", &body).status, 202);
    let tot = totals(&server, &t, "from=2026-03-02&to=2026-03-04", "downloads,starts,time");
    assert_eq!(
        (tot["downloads"].as_i64(), tot["starts"].as_i64(), tot["time"].as_f64()),
        (Some(2), Some(0), Some(0.0))
    );
    let first_day = totals(&server, &t, DAY, "downloads");
    assert_eq!(first_day["downloads"], 1);
    server.stop();
}

#[test]
fn example_10_cdn_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("cdn");
    let format = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $upstream_cache_status"#;
    let body = [
        format!(r#"{IP1} - - [02/Mar/2026:10:00:01 +0000] "GET /live/L/seg_1.ts HTTP/1.1" 200 1000 "-" "{UA1}" HIT"#),
        format!(r#"{IP1} - - [02/Mar/2026:10:01:00 +0000] "GET /live/L/seg_2.ts HTTP/1.1" 200 3000 "-" "{UA1}" MISS"#),
        format!(r#"{IP1} - - [02/Mar/2026:10:07:00 +0000] "GET /live/L/seg_3.ts HTTP/1.1" 503 0 "-" "{BOT_UA}" HIT"#),
    ]
    .join("\n");
    let q = format!("format=nginx&zone=media.example.org&pop=FRA&log_format={}", urlencode(format));
    let r = post_logs(&server, &t.ingest, &q, &body);
    assert_eq!(r.status, 202, "{}", r.body);
    server.wait_idle();
    let r = server.get(&format!("/api/v1/cdn?{DAY}&group_by=5m"), &t.read);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let tot = &v["totals"];
    assert_eq!(tot["requests"], 3);
    assert_eq!(
        (tot["hits"].as_i64(), tot["misses"].as_i64(), tot["hit_ratio"].as_f64()),
        (Some(2), Some(1), Some(0.667))
    );
    assert_eq!((tot["errors"].as_i64(), tot["traffic"].as_i64()), (Some(1), Some(4000)));
    assert_eq!((tot["status_2xx"].as_i64(), tot["status_5xx"].as_i64()), (Some(2), Some(1)));
    // Two 5-minute buckets: 10:00 (hit + miss) and 10:05 (the 503).
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0]["5m"].as_str(), rows[0]["requests"].as_i64()), (Some(at("10:00:00").as_str()), Some(2)));
    assert_eq!((rows[1]["5m"].as_str(), rows[1]["errors"].as_i64()), (Some(at("10:05:00").as_str()), Some(1)));
    // The per-file zone and POP apply; filters by them work.
    let by_pop = server
        .get(&format!("/api/v1/cdn?{DAY}&group_by=pop,zone&zone=media.example.org"), &t.read)
        .json();
    assert_eq!(
        (by_pop["rows"][0]["pop"].as_str(), by_pop["rows"][0]["traffic"].as_i64()),
        (Some("FRA"), Some(4000))
    );
    let none = server.get(&format!("/api/v1/cdn?{DAY}&zone=other"), &t.read).json();
    assert_eq!(none["totals"]["requests"], 0);
    let csv = server.get(&format!("/api/v1/cdn?{DAY}&group_by=status_class&format=csv"), &t.read);
    assert!(
        csv.body.starts_with("status_class,traffic,requests,hits,misses,hit_ratio,errors"),
        "{}",
        csv.body
    );
    server.stop();
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn a_viewer_seen_by_player_and_log_counts_once_per_minute() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("live");
    // The player reports 10:00–10:02; the same device's segment requests 10:01–10:04.
    let beats: Vec<Value> = (0..=12)
        .map(|i| playing(&at(&format!("10:{:02}:{:02}", i * 10 / 60, i * 10 % 60)), "P", "L", 10.0))
        .collect();
    server.post_events(&t.ingest, IP1, UA1, &Value::Array(beats));
    let segs: Vec<String> = (0..40)
        .map(|i| {
            line(
                "02",
                &format!("10:{:02}:{:02}", 1 + i * 6 / 60, i * 6 % 60),
                IP1,
                "GET",
                &format!("/live/L/seg_{i}.ts"),
                200,
                400_000,
                UA1,
            )
        })
        .collect();
    let r = post_logs(&server, &t.ingest, "", &segs.join("\n"));
    assert_eq!(r.status, 202, "{}", r.body);
    // A second device only in the log.
    let other: Vec<String> = (0..10)
        .map(|i| line("02", &format!("10:02:{:02}", i * 6), "198.51.100.9", "GET", "/live/L/seg.ts", 200, 400_000, UA1))
        .collect();
    assert_eq!(post_logs(&server, &t.ingest, "", &other.join("\n")).status, 202);
    server.wait_idle();
    let v = server
        .get("/api/v1/live/L/concurrency?from=2026-03-02T10:00:00Z&to=2026-03-02T11:00:00Z", &t.read)
        .json();
    let series: Vec<i64> = v["series"].as_array().unwrap().iter().map(|m| m["viewers"].as_i64().unwrap()).collect();
    assert_eq!(series, vec![1, 1, 2, 1, 1], "{v}");
    server.stop();
}

#[test]
fn bad_input_never_stops_the_good_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--max-body-bytes", "4000000"]);
    let t = server.tenant("robust");
    let good = line("02", "08:01:00", IP1, "GET", "/podcast/E.mp3", 206, 1_000_000, UA1);
    let mut body: Vec<u8> = Vec::new();
    body.extend_from_slice(good.as_bytes());
    body.extend_from_slice(b"\n\x00\x01\x02\xff\xfe binary garbage \x9f\n");
    body.extend_from_slice("x".repeat(1024 * 1024).as_bytes());
    body.extend_from_slice(b"\n");
    // Invalid UTF-8 inside an otherwise good line: replaced, the line still counts.
    body.extend_from_slice(
        line("02", "08:02:00", "198.51.100.4", "GET", "/podcast/E.mp3", 206, 1_000_000, "Podcasts/\u{fffd}")
            .replace('\u{fffd}', "\u{1}")
            .as_bytes(),
    );
    let at_end = body.len();
    body[at_end - 2] = 0xff;
    body.extend_from_slice(b"\n");
    body.extend_from_slice(line("02", "08:03:00", "198.51.100.5", "GET", "/podcast/E.mp3", 206, 1_000_000, UA1).as_bytes());
    let r = server.request(
        "POST",
        "/api/v1/logs?format=combined",
        &[("X-Ingest-Key", &t.ingest), ("Content-Type", "text/plain")],
        &body,
    );
    assert_eq!(r.status, 202, "{}", r.body);
    let v = r.json();
    assert_eq!((v["accepted"].as_i64(), v["rejected"].as_i64()), (Some(3), Some(2)), "{v}");
    assert!(v["errors"][1]["error"].as_str().unwrap().contains("longer than"), "{v}");
    assert_eq!(totals(&server, &t, DAY, "starts")["starts"], 3);
    // Only bad lines: 400 with the reasons.
    let r = post_logs(&server, &t.ingest, "format=combined", "nonsense\nmore nonsense");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["rejected"], 2);
    // A wrong format string is a clear error, nothing is taken.
    let r = post_logs(&server, &t.ingest, "format=nginx&log_format=%24status", &good);
    assert_eq!(r.status, 400);
    assert!(r.body.contains("log_format"), "{}", r.body);
    let r = post_logs(&server, &t.ingest, "", "???");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("format"), "{}", r.body);
    server.stop();
}

#[test]
fn explain_says_what_each_line_counts_as_or_why_not() {
    use std::io::Write;
    let lines = [
        line("02", "08:00:00", IP1, "GET", "/podcast/E.mp3", 206, 50_000, UA1),
        line("02", "08:01:00", IP1, "GET", "/podcast/E.mp3", 206, 1_000_000, UA1),
        line("02", "08:02:00", IP1, "HEAD", "/podcast/E.mp3", 200, 0, UA1),
        line("02", "08:03:00", IP1, "GET", "/podcast/E.mp3", 206, 1_000_000, BOT_UA),
        line("02", "08:04:00", IP1, "GET", "/podcast/E.mp3", 404, 1_000_000, UA1),
        r#"203.0.113.7 - - [02/Mar/2026:08:05:00 +0000] "GET /hls/L/seg_1.ts?CMCD=sid%3D%22s1%22%2Cd%3D4000%2Cst%3Dl HTTP/1.1" 200 400000 "-" "x""#.to_string(),
        "not a log line".to_string(),
    ];
    let mut child = std::process::Command::new(bin())
        .args(["explain", "--format", "combined"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(lines.join("\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let answers: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let dropped: Vec<Option<&str>> = answers.iter().map(|a| a["dropped"].as_str()).collect();
    assert_eq!(
        dropped,
        vec![
            Some("under_min_bytes"),
            None,
            Some("method"),
            Some("bot"),
            Some("status"),
            None,
            Some("parse_error")
        ]
    );
    let metrics = |a: &Value| {
        a["facts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["metric"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert!(metrics(&answers[1]).contains(&"start".to_string()) && metrics(&answers[1]).contains(&"stream".to_string()));
    assert_eq!(answers[1]["content_id"], "E");
    // CMCD decoded; the session is the playback; the segment makes live activity.
    assert_eq!(
        (answers[5]["cmcd"]["sid"].as_str(), answers[5]["cmcd"]["d"].as_f64()),
        (Some("s1"), Some(4000.0))
    );
    assert_eq!((answers[5]["playback_id"].as_str(), answers[5]["kind"].as_str()), (Some("s1"), Some("segment")));
    assert!(metrics(&answers[5]).contains(&"active".to_string()));
    // CMCD `d` is the segment's length.
    assert_eq!(answers[5]["segment_seconds"].as_f64(), Some(4.0));
    // Without CMCD: the playlist's #EXTINF under --media-root, else the tenant's default.
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("hls/L")).unwrap();
    std::fs::write(root.path().join("hls/L/index.m3u8"), "#EXTM3U\n#EXTINF:2.5,\nseg_1.ts\n").unwrap();
    let segment = r#"203.0.113.7 - - [02/Mar/2026:08:05:00 +0000] "GET /hls/L/seg_1.ts HTTP/1.1" 200 400000 "-" "x""#;
    let seconds = |extra: &[&str]| {
        let mut child = std::process::Command::new(bin())
            .args(["explain", "--format", "combined"])
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(segment.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["segment_seconds"].as_f64()
    };
    assert_eq!(seconds(&["--media-root", root.path().to_str().unwrap()]), Some(2.5));
    assert_eq!(seconds(&[]), Some(6.0));
    assert!(answers[6]["error"].as_str().unwrap().contains("expected"));
}

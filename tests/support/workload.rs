//! One generated workload and every question the API answers from the
//! store, shared by the tests that compare two deployments' answers
//! (`tests/clickhouse.rs`, `tests/cluster.rs`).

use serde_json::{json, Value};

use super::*;

pub const UAS: [&str; 3] = [
    UA1,
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
];

pub fn with(mut e: Value, extra: Value) -> Value {
    if let (Some(o), Some(x)) = (e.as_object_mut(), extra.as_object()) {
        o.extend(x.clone());
    }
    e
}

/// One viewer's events: a live stream, an on-demand video with quality
/// events, a podcast episode; some viewers log in or bring an access code.
pub fn viewer(i: usize) -> Vec<Value> {
    let p = |s: &str| format!("{s}{i}");
    let t = |m: usize, s: usize| at(&format!("{:02}:{:02}:{:02}", 10 + m / 60, m % 60, s));
    let user = json!({ "user_id": format!("u{}", i % 4) });
    let code = json!({ "access_code": format!("C-{}", i % 3) });
    let mut out = vec![
        with(ev("play", &t(i, 0), &p("l"), "L"), code.clone()),
        with(playing(&t(i + 1, 0), &p("l"), "L", 60.0), code.clone()),
        with(playing(&t(i + 2, 0), &p("l"), "L", 60.0), code.clone()),
        with(playing(&t(i + 3, 0), &p("l"), "L", 20.0 + i as f64), code),
        ev("play", &t(30 + i, 0), &p("v"), "V"),
        with(ev("buffering", &t(30 + i, 2), &p("v"), "V"), json!({ "duration": 1 + i % 3 })),
        with(playing(&t(30 + i, 4), &p("v"), "V", 0.0), json!({ "bitrate": 1000.0 })),
        with(
            playing(&t(30 + i, 34), &p("v"), "V", 30.0),
            json!({ "bitrate": 1000.0 + 500.0 * (i % 2) as f64 }),
        ),
        with(playing(&t(31 + i, 4), &p("v"), "V", 10.0 * (1 + i % 4) as f64), json!({ "bitrate": 2000.0 })),
    ];
    if i.is_multiple_of(5) {
        out.push(with(ev("error", &t(31 + i, 10), &p("v"), "V"), json!({ "fatal": true })));
    }
    if i.is_multiple_of(2) {
        out.push(with(ev("session_start", &t(29 + i, 0), &p("s"), "V"), user.clone()));
        for e in out.iter_mut().skip(4) {
            if let Some(o) = e.as_object_mut() {
                o.insert("user_id".into(), user["user_id"].clone());
            }
        }
    }
    out
}

pub fn log_line(i: usize) -> String {
    let status = if i.is_multiple_of(7) { 404 } else { 200 };
    format!(
        "198.51.100.{} - - [02/Mar/2026:11:{:02}:{:02} +0000] \"GET /media/E/episode.mp3 HTTP/1.1\" {status} {} \"-\" \"AppleCoreMedia/1.0.0.20E247 (iPhone; U; CPU OS 16_4 like Mac OS X; en_us)\"\n",
        i % 9,
        i % 60,
        (i * 7) % 60,
        100_000 + i * 1000
    )
}

/// A tenant's settings and catalogue for the workload.
pub fn prepare(server: &Server, keys: &TenantKeys) {
    // March 2026 is more than raw_retention_days (90) before today: keep it.
    server.set(keys, json!({ "raw_retention_days": 0 }));
    let contents = r#"{"content_id":"L","title":"Keynote","kind":"live","media":"video","category":"events"}
{"content_id":"V","title":"Tutorial","kind":"vod","media":"video","category":"education","duration":120}
{"content_id":"E","title":"Episode 1","kind":"vod","media":"audio","show":"The Show"}"#;
    let r = server.send("PUT", "/api/v1/contents", &keys.admin, contents);
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The workload's viewers: (client address, User-Agent, events).
pub fn viewers() -> Vec<(String, &'static str, Value)> {
    (0..12).map(|i| (format!("192.0.2.{}", 10 + i), UAS[i % 3], Value::Array(viewer(i)))).collect()
}

/// The workload's access-log lines (combined format).
pub fn log_lines() -> String {
    (0..40).map(log_line).collect()
}

/// Sends the whole workload to a server's tenant.
pub fn send_workload(server: &Server, keys: &TenantKeys) {
    prepare(server, keys);
    for (ip, ua, events) in viewers() {
        server.post_events(&keys.ingest, &ip, ua, &events);
    }
    let r = server.request("POST", "/api/v1/logs?format=combined", &[("X-Ingest-Key", &keys.ingest)], log_lines());
    assert_eq!(r.status, 202, "{}", r.body);
}

/// Every question the API answers from the store, with the key it needs.
pub fn questions() -> Vec<(&'static str, String)> {
    let range = "from=2026-03-02T10:00:00Z&to=2026-03-02T11:00:00Z";
    let mut q: Vec<(&str, String)> = [
        "metrics=starts,streams,time,users,devices",
        "metrics=starts,streams,time&group_by=hour",
        "metrics=starts,time,devices&group_by=content_id,browser",
        "metrics=starts,time&group_by=title,category",
        "metrics=starts,time&group_by=day&tz=Europe/Berlin",
        "metrics=downloads,devices&group_by=content_id",
        "metrics=starts&filter=browser:Firefox",
        "metrics=time&group_by=os&filter=category:education",
    ]
    .iter()
    .map(|m| ("read", format!("/api/v1/metrics?{DAY}&{m}")))
    .collect();
    q.extend([
        ("read", format!("/api/v1/live/L/concurrency?{range}")),
        ("read", format!("/api/v1/live/L/summary?{range}")),
        ("read", format!("/api/v1/live/overview?{DAY}")),
        ("read", "/api/v1/live?at=2026-03-02T10:05:30Z".to_string()),
        ("read", format!("/api/v1/attendance?{DAY}")),
        ("read", format!("/api/v1/attendance?{DAY}&access_code=C-1&content_id=L")),
        ("read", format!("/api/v1/cdn?{DAY}")),
        ("read", format!("/api/v1/cdn?{DAY}&group_by=5m")),
        ("read", format!("/api/v1/cdn?{DAY}&group_by=status_class")),
        ("read", format!("/api/v1/cdn?{DAY}&group_by=zone,cache_status")),
        ("read", format!("/api/v1/contents/V/retention?{DAY}")),
        (
            "read",
            format!("/api/v1/qoe?{DAY}&metrics=startup_median,startup_p95,rebuffer_ratio,failure_rate,bitrate_avg,errors"),
        ),
        ("read", format!("/api/v1/qoe?{DAY}&metrics=startup_median,failure_rate&group_by=content_id")),
        ("read", "/api/v1/overview/monthly?from=2026-01-01&to=2026-04-01".to_string()),
        ("admin", format!("/api/v1/users/u0/activity?{DAY}&tz=UTC")),
        ("admin", format!("/api/v1/users/u2/activity?{DAY}&tz=UTC")),
    ]);
    q
}

/// Numbers equal to a relative 1e-9 (sums may add in another order); all else exactly.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w))),
        _ => a == b,
    }
}

/// Device ids are keyed hashes with each server's own secret: an answer's
/// ids become their order of appearance, so two servers' answers compare.
pub fn canonical_devices(v: &mut Value, seen: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                match (k.as_str(), x.as_str()) {
                    ("id", Some(id)) => {
                        let n = seen.iter().position(|s| s == id).unwrap_or_else(|| {
                            seen.push(id.to_string());
                            seen.len() - 1
                        });
                        *x = json!(format!("device-{n}"));
                    }
                    _ => canonical_devices(x, seen),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| canonical_devices(x, seen)),
        _ => {}
    }
}

pub fn answers(server: &Server, keys: &TenantKeys) -> Vec<(String, Value)> {
    answers_as(server, |role| if role == "admin" { keys.admin.clone() } else { keys.read.clone() }, "")
}

/// The answers to every question, each asked with `key_of(role)` and `extra` after its query.
pub fn answers_as(server: &Server, key_of: impl Fn(&str) -> String, extra: &str) -> Vec<(String, Value)> {
    server.wait_idle();
    questions()
        .into_iter()
        .map(|(role, path)| {
            let path = format!("{path}{extra}");
            let r = server.get(&path, &key_of(role));
            // A 404 (an erased user) is an answer to compare too; a 500 is a failure.
            if r.status >= 500 {
                let log = server.log_text();
                panic!("{path}: {} {}\n{}", r.status, r.body, log.lines().rev().take(6).collect::<Vec<_>>().join("\n"));
            }
            let mut v = json!({ "status": r.status, "body": r.json() });
            canonical_devices(&mut v, &mut Vec::new());
            (path, v)
        })
        .collect()
}

/// Both deployments' answers, question by question, equal.
pub fn assert_same(embedded: &[(String, Value)], clickhouse: &[(String, Value)], stage: &str) {
    let mut differ = Vec::new();
    assert_eq!(embedded.len(), clickhouse.len());
    for ((path, a), (_, b)) in embedded.iter().zip(clickhouse) {
        if !same(a, b) {
            differ.push(format!("{path}\n  embedded:   {a}\n  clickhouse: {b}"));
        }
    }
    assert!(
        differ.is_empty(),
        "{stage}: {} of {} answers differ:\n{}",
        differ.len(),
        embedded.len(),
        differ.join("\n")
    );
}

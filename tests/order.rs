//! Spec §8a through the real binary: far-dated log lines are refused with a
//! reason on every log path and move no clock, input older than the lateness
//! window is refused with a reason that says what to do, and a settings
//! change counts the same after a crash as in the live run.

mod support;

use serde_json::{json, Value};
use support::*;

fn push_log(server: &Server, key: &str, body: &str) -> Reply {
    server.request("POST", "/api/v1/logs?format=combined", &[("X-Ingest-Key", key)], body)
}

fn line(ip: &str, time: &str, path: &str, status: u16, bytes: u64) -> String {
    format!("{ip} - - [{time}] \"GET {path} HTTP/1.1\" {status} {bytes} \"-\" \"{UA1}\"\n")
}

fn totals(server: &Server, t: &TenantKeys, range: &str) -> Value {
    server.metrics(&t.read, &format!("{range}&metrics=starts,users,views,streams"))["totals"].clone()
}

#[test]
fn a_log_line_dated_far_ahead_is_refused_and_moves_no_clock() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("clock");
    let r = push_log(&server, &t.ingest, &line(IP1, "31/Dec/9999:00:00:00 +0000", "/ep/e.mp3", 206, 1_000_000));
    assert_eq!(r.status, 400, "{}", r.body);
    let reason = r.json()["errors"][0]["error"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("in the future"), "{reason}");
    // The same playback played twice ten minutes apart: one start, one user, one view.
    let now = chrono::Utc::now();
    let ts = |m: i64| (now - chrono::Duration::minutes(30) + chrono::Duration::minutes(m)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    server.post_events(&t.ingest, IP1, UA1, &json!([ev("play", &ts(0), "P", "A")]));
    server.post_events(&t.ingest, IP1, UA1, &json!([ev("play", &ts(10), "P", "A")]));
    let range = format!(
        "from={}&to={}",
        (now - chrono::Duration::days(1)).date_naive(),
        (now + chrono::Duration::days(1)).date_naive()
    );
    let v = totals(&server, &t, &range);
    assert_eq!(
        (v["starts"].as_i64(), v["users"].as_i64(), v["views"].as_i64()),
        (Some(1), Some(1), Some(1)),
        "{v}"
    );
}

#[test]
fn input_older_than_the_lateness_window_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("late");
    server.post_events(&t.ingest, IP1, UA1, &json!([ev("play", "2026-03-05T10:00:00Z", "P1", "A")]));
    server.wait_idle();
    // 3 days behind the tenant's clock: beyond the default 48 h.
    let r = server
        .try_post_events(&t.ingest, IP1, UA1, &json!([ev("play", "2026-03-02T10:00:00Z", "P2", "A")]))
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    let msg = r.body.clone();
    assert!(msg.contains("allowed_lateness") && msg.contains("older data before newer"), "{msg}");
    let r = push_log(&server, &t.ingest, &line(IP1, "02/Mar/2026:10:00:00 +0000", "/ep/e.mp3", 206, 1_000_000));
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("allowed_lateness"), "{}", r.body);
    // Within the window (a day behind) it is counted.
    server.post_events(&t.ingest, IP1, UA1, &json!([ev("play", "2026-03-04T10:00:00Z", "P3", "A")]));
    let v = totals(&server, &t, "from=2026-03-01&to=2026-03-07");
    assert_eq!(v["starts"], 2, "{v}");
}

#[test]
fn a_settings_change_counts_the_same_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // No checkpoint before the kill: the restart replays both batches from the WAL.
    let args = ["--checkpoint-interval", "1h"];
    let server = Server::start(&data, &args);
    let t = server.tenant("settings");
    let batch = |pid: &str| json!([ev("play", &at("10:00:00"), pid, "A"), playing(&at("10:00:07"), pid, "A", 7.0)]);
    // 7 s of playback: a stream under the default 5 s…
    server.post_events(&t.ingest, IP1, UA1, &batch("P1"));
    server.wait_idle();
    // …and not under 10 s, for the batch accepted after the change.
    server.set(&t, json!({ "stream_min_player": "10s" }));
    server.post_events(&t.ingest, IP1, UA1, &batch("P2"));
    let live = totals(&server, &t, DAY);
    assert_eq!((live["starts"].as_i64(), live["streams"].as_i64()), (Some(2), Some(1)), "{live}");
    server.kill9();
    let server = Server::start(&data, &args);
    let replayed = totals(&server, &t, DAY);
    assert_eq!(replayed, live, "a replay counts each batch under the settings it was accepted with");
}

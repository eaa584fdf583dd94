//! Spec §8b through the real server: a playback belongs to the user any of
//! its events names. A viewer who signs in mid-playback owns the start and
//! the seconds counted before, in one user's activity, in the metrics by
//! gender, and in erasure.

mod support;

use serde_json::{json, Value};
use support::*;

fn by_a(mut e: Value) -> Value {
    e["user_id"] = json!("a");
    e
}

/// `a` (female, in the directory) plays `V` anonymously for 30 s, signs in,
/// plays 60 s more of which the last 30 s report no user again; someone
/// else plays 60 s anonymously; three hours later, a new start of the same
/// playback id plays 20 s anonymously (past the 1 h start window: not `a`'s).
fn signed_in_mid_playback() -> (tempfile::TempDir, Server, TenantKeys) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("ott");
    // March 2026 is more than raw_retention_days (90) before today: keep it.
    server.set(&keys, json!({ "raw_retention_days": 0, "start_window": "1h" }));
    let directory = r#"{"user_id":"a","gender":"female","registered_at":"2026-03-01T10:00:00Z"}"#;
    let r = server.request(
        "PUT",
        "/api/v1/users",
        &[("Authorization", &format!("Bearer {}", keys.admin)), ("Content-Type", "application/x-ndjson")],
        directory,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let a = json!([
        ev("play", &at("10:00:01"), "p5", "V"),
        playing(&at("10:00:31"), "p5", "V", 30.0),
        by_a(playing(&at("10:01:01"), "p5", "V", 30.0)),
        playing(&at("10:01:31"), "p5", "V", 30.0),
        by_a(ev("pause", &at("10:01:32"), "p5", "V")),
    ]);
    server.post_events(&keys.ingest, IP1, UA1, &a);
    let other = json!([ev("play", &at("11:00:00"), "p6", "V"), playing(&at("11:01:00"), "p6", "V", 60.0)]);
    server.post_events(&keys.ingest, "192.0.2.51", UA1, &other);
    let again = json!([ev("play", &at("13:00:00"), "p5", "V"), playing(&at("13:00:20"), "p5", "V", 20.0)]);
    server.post_events(&keys.ingest, IP1, UA1, &again);
    server.wait_idle();
    (dir, server, keys)
}

#[test]
fn the_user_named_mid_playback_owns_its_start_and_seconds_in_the_activity() {
    let (_dir, server, keys) = signed_in_mid_playback();
    let r = server.get(&format!("/api/v1/users/a/activity?{DAY}&tz=UTC"), &keys.admin);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["overview"], json!({ "starts": 1, "streams": 1, "seconds": 90.0, "minutes": 1.5 }), "{v}");
    // Every event of the playback, also those that named nobody.
    assert_eq!(v["events"]["total"], 5, "{v}");
    assert_eq!(v["details"]["on_demand"][0]["seconds"], 90.0, "{v}");
    server.stop();
}

#[test]
fn the_user_named_mid_playback_owns_its_start_and_seconds_in_the_metrics_by_gender() {
    let (_dir, server, keys) = signed_in_mid_playback();
    let v = server.metrics(&keys.admin, &format!("{DAY}&metrics=starts,time&group_by=gender"));
    let rows: Vec<(Value, i64, f64)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["gender"].clone(), r["starts"].as_i64().unwrap(), r["time"].as_f64().unwrap()))
        .collect();
    assert_eq!(rows, [(json!("female"), 1, 90.0), (Value::Null, 2, 80.0)], "{v}");
    // The owner fact counts nothing itself.
    assert_eq!((v["totals"]["starts"].as_i64(), v["totals"]["time"].as_f64()), (Some(3), Some(170.0)), "{v}");
    server.stop();
}

#[test]
fn erasing_the_user_named_mid_playback_erases_the_playback_before_the_naming_too() {
    let (_dir, server, keys) = signed_in_mid_playback();
    let r = server.request(
        "DELETE",
        "/api/v1/subjects?user_id=a",
        &[("Authorization", &format!("Bearer {}", keys.admin))],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = server.metrics(&keys.read, &format!("{DAY}&metrics=starts,time"));
    assert_eq!(
        (v["totals"]["starts"].as_i64(), v["totals"]["time"].as_f64()),
        (Some(2), Some(80.0)),
        "the other viewer's and the later start's: {v}"
    );
    assert_eq!(server.get(&format!("/api/v1/users/a/activity?{DAY}"), &keys.admin).status, 404);
    server.stop();
}

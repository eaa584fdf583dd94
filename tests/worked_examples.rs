//! The spec's worked examples 1, 2, 3, 6 and 7 (`shared/spec/metrics.md` §9),
//! sent through the HTTP API into the real store and read back from the query API.

mod support;

use serde_json::{json, Value};
use support::*;

fn total(v: &Value, metric: &str) -> Value {
    v["totals"][metric].clone()
}

#[test]
fn worked_examples_1_2_3_6_7_through_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);

    // Example 1: player_loaded, play, three playing of 10 s, pause → starts 1, streams 1, time 30 s.
    let t1 = server.tenant("example-1");
    server.post_events(
        &t1.ingest,
        IP1,
        UA1,
        &json!([
            ev("player_loaded", &at("10:00:00"), "P1", "A"),
            ev("play", &at("10:00:01"), "P1", "A"),
            playing(&at("10:00:11"), "P1", "A", 10.0),
            playing(&at("10:00:21"), "P1", "A", 10.0),
            playing(&at("10:00:31"), "P1", "A", 10.0),
            ev("pause", &at("10:00:32"), "P1", "A"),
        ]),
    );
    let v = server.metrics(&t1.read, &format!("{DAY}&metrics=starts,streams,time"));
    assert_eq!(
        (total(&v, "starts"), total(&v, "streams"), total(&v, "time")),
        (json!(1), json!(1), json!(30.0))
    );

    // Example 2: play, one playing of 4 s, content_end → starts 1, streams 0, time 4 s.
    let t2 = server.tenant("example-2");
    server.post_events(
        &t2.ingest,
        IP1,
        UA1,
        &json!([
            ev("play", &at("11:00:00"), "P2", "A"),
            playing(&at("11:00:04"), "P2", "A", 4.0),
            ev("content_end", &at("11:00:04"), "P2", "A")
        ]),
    );
    let v = server.metrics(&t2.read, &format!("{DAY}&metrics=starts,streams,time"));
    assert_eq!((total(&v, "starts"), total(&v, "streams"), total(&v, "time")), (json!(1), json!(0), json!(4.0)));

    // Example 3: player_loaded and playback_start only → starts 0.
    let t3 = server.tenant("example-3");
    server.post_events(
        &t3.ingest,
        IP1,
        UA1,
        &json!([
            ev("player_loaded", &at("12:00:00"), "P3", "A"),
            ev("playback_start", &at("12:00:01"), "P3", "A")
        ]),
    );
    let v = server.metrics(&t3.read, &format!("{DAY}&metrics=starts"));
    assert_eq!(total(&v, "starts"), json!(0));

    // Example 6: A at 09:50 and 09:59 → 1 view in the 09:00 hour; B at 09:55 → a
    // second; A again at 14:00 → a third, in the 14:00 hour.
    let t6 = server.tenant("example-6");
    for (ts, pid, content) in [
        ("09:50:00", "a1", "A"),
        ("09:55:00", "b1", "B"),
        ("09:59:00", "a2", "A"),
        ("14:00:00", "a3", "A"),
    ] {
        server.post_events(&t6.ingest, IP1, UA1, &json!([ev("playback_start", &at(ts), pid, content)]));
    }
    let v = server.metrics(&t6.read, &format!("{DAY}&metrics=views&group_by=hour"));
    assert_eq!(total(&v, "views"), json!(3));
    assert_eq!(
        v["rows"],
        json!([{ "hour": "2026-03-02T09:00:00Z", "views": 2 }, { "hour": "2026-03-02T14:00:00Z", "views": 1 }])
    );
    let v = server.metrics(&t6.read, &format!("{DAY}&metrics=views&group_by=hour,content_id"));
    assert_eq!(
        v["rows"],
        json!([
            { "hour": "2026-03-02T09:00:00Z", "content_id": "A", "views": 1 },
            { "hour": "2026-03-02T09:00:00Z", "content_id": "B", "views": 1 },
            { "hour": "2026-03-02T14:00:00Z", "content_id": "A", "views": 1 }
        ])
    );

    // Example 7: active 09:10–09:40 and 10:20–10:30 → 1 user (09:00 hour);
    // 11:45–11:50 → 2 users; 13:00–17:30 → new users at 13:00 and 17:00.
    let t7 = server.tenant("example-7");
    let heartbeats = |from: &str, to: &str| -> Vec<Value> {
        let start = chrono::DateTime::parse_from_rfc3339(&at(from)).unwrap();
        let end = chrono::DateTime::parse_from_rfc3339(&at(to)).unwrap();
        let mut out = Vec::new();
        let mut t = start;
        while t <= end {
            out.push(playing(&t.to_rfc3339(), "u7", "A", 10.0));
            t += chrono::Duration::seconds(10);
        }
        out
    };
    let send = |events: Vec<Value>| {
        for chunk in events.chunks(500) {
            server.post_events(&t7.ingest, IP1, UA1, &Value::Array(chunk.to_vec()));
        }
    };
    send(heartbeats("09:10:00", "09:40:00"));
    send(heartbeats("10:20:00", "10:30:00"));
    let v = server.metrics(&t7.read, &format!("{DAY}&metrics=users&group_by=hour"));
    assert_eq!(v["rows"], json!([{ "hour": "2026-03-02T09:00:00Z", "users": 1 }]));
    send(heartbeats("11:45:00", "11:50:00"));
    let v = server.metrics(&t7.read, &format!("{DAY}&metrics=users&group_by=hour"));
    assert_eq!(total(&v, "users"), json!(2));
    assert_eq!(v["rows"][1], json!({ "hour": "2026-03-02T11:00:00Z", "users": 1 }));
    send(heartbeats("13:00:00", "17:30:00"));
    let v = server.metrics(&t7.read, &format!("{DAY}&metrics=users&group_by=hour"));
    assert_eq!(
        v["rows"],
        json!([
            { "hour": "2026-03-02T09:00:00Z", "users": 1 },
            { "hour": "2026-03-02T11:00:00Z", "users": 1 },
            { "hour": "2026-03-02T13:00:00Z", "users": 1 },
            { "hour": "2026-03-02T17:00:00Z", "users": 1 }
        ])
    );

    // The same answers survive a restart (now from Parquet files, not memory).
    let data = server.data.clone();
    server.stop();
    let server = Server::start(&data, &[]);
    let v = server.metrics(&t1.read, &format!("{DAY}&metrics=starts,streams,time"));
    assert_eq!(
        (total(&v, "starts"), total(&v, "streams"), total(&v, "time")),
        (json!(1), json!(1), json!(30.0))
    );
    let v = server.metrics(&t7.read, &format!("{DAY}&metrics=users"));
    assert_eq!(total(&v, "users"), json!(4));
}

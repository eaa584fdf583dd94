//! Free dimensions of player events through the real server: `group_by=dim:NAME`
//! and `filter=dim:NAME:value` (also after a restart, from the Parquet
//! files), at most 100 values of one per answer (the heaviest, the rest
//! named in `truncated`), and a clear refusal of a name SQL could not hold.

mod support;

use serde_json::{json, Value};
use support::*;

fn play(pid: &str, dims: Value) -> Value {
    let mut e = ev("play", &at("10:00:00"), pid, "A");
    for (k, v) in dims.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

fn rows(server: &Server, key: &str, query: &str) -> Vec<Value> {
    server.metrics(key, &format!("{DAY}&metrics=starts&{query}"))["rows"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn a_free_dimension_groups_and_filters_the_metrics_before_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let t = server.tenant("free");
    let events = json!([
        play("p1", json!({ "plan": "gold", "campaign": "spring" })),
        play("p2", json!({ "plan": "gold" })),
        play("p3", json!({ "plan": "free", "campaign": "spring" })),
        play("p4", json!({})),
    ]);
    server.post_events(&t.ingest, IP1, UA1, &events);
    server.wait_idle();
    let by_plan = [
        json!({ "dim:plan": "free", "starts": 1 }),
        json!({ "dim:plan": "gold", "starts": 2 }),
        json!({ "dim:plan": null, "starts": 1 }),
    ];
    assert_eq!(rows(&server, &t.read, "group_by=dim:plan"), by_plan);
    assert_eq!(
        rows(&server, &t.read, "group_by=dim:plan&filter=dim:campaign:spring"),
        [json!({ "dim:plan": "free", "starts": 1 }), json!({ "dim:plan": "gold", "starts": 1 })]
    );
    let bad = server.get(&format!("/api/v1/metrics?{DAY}&metrics=starts&group_by=dim:a'b"), &t.read);
    assert!(bad.status == 400 && bad.body.contains("dim:a'b"), "{}", bad.body);
    server.stop();
    // Counted facts in Parquet now: the same answer.
    let server = Server::start(&data, &[]);
    assert_eq!(rows(&server, &t.read, "group_by=dim:plan"), by_plan);
    server.stop();
}

#[test]
fn an_answer_lists_the_hundred_heaviest_values_of_a_free_dimension() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let t = server.tenant("seats");
    // 105 seats, one start each; seats s100–s104 get a second start.
    let mut events: Vec<Value> = (0..105).map(|i| play(&format!("p{i}"), json!({ "seat": format!("s{i:03}") }))).collect();
    events.extend((100..105).map(|i| play(&format!("q{i}"), json!({ "seat": format!("s{i:03}") }))));
    server.post_events(&t.ingest, IP1, UA1, &Value::Array(events));
    server.wait_idle();
    let v = server.metrics(&t.read, &format!("{DAY}&metrics=starts&group_by=dim:seat"));
    let seats: Vec<&str> = v["rows"].as_array().unwrap().iter().map(|r| r["dim:seat"].as_str().unwrap()).collect();
    assert_eq!(seats.len(), 100, "{v}");
    // The five heavy ones, then the light ones in order of name.
    assert!(seats.contains(&"s104") && seats.contains(&"s094") && !seats.contains(&"s095"), "{seats:?}");
    assert_eq!(v["truncated"], json!({ "dim:seat": 105 }));
    assert_eq!(v["totals"]["starts"], 110, "the totals count every value");
    server.stop();
}

//! Rollups through the real server (issue 17; docs/COUNTING.md "Rollups"):
//! the server makes them of its settled files by itself, answers from them
//! exactly as it answered from the facts, and an erasure reaches them.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const AGENTS: [&str; 3] = [
    UA1,
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
];

/// Forty playbacks over a day from nine addresses and three browsers, some
/// with users, on two properties.
fn watch(server: &Server, ingest: &str) {
    for i in 0..40u32 {
        let (hour, minute) = (i * 7 % 24, i * 13 % 60);
        let start = at(&format!("{hour:02}:{minute:02}:00"));
        let (pid, content) = (format!("p{i}"), ["A", "B", "C"][(i % 3) as usize]);
        let mut events = vec![ev("play", &start, &pid, content)];
        for beat in 1..=1 + i % 4 {
            events.push(playing(&at(&format!("{hour:02}:{minute:02}:{:02}", beat * 12)), &pid, content, 12.0));
        }
        for e in events.iter_mut() {
            e["property"] = json!(["web", "app"][(i % 2) as usize]);
            if i % 5 == 0 {
                e["user_id"] = json!(format!("user-{}", i % 3));
            }
        }
        let ip = format!("198.51.100.{}", i % 9 + 1);
        server.post_events(ingest, &ip, AGENTS[(i % 3) as usize], &json!(events));
    }
}

fn answers(server: &Server, read: &str) -> Vec<Value> {
    let all = "metrics=starts,streams,time,devices,views,users,avg_time";
    [
        format!("{DAY}&{all}"),
        format!("{DAY}&{all}&group_by=hour"),
        format!("{DAY}&{all}&group_by=content_id,browser"),
        format!("from=2026-03-01&to=2026-03-04&{all}&group_by=day&tz=Europe/Berlin"),
        format!("{DAY}&{all}&group_by=device_type&filter=property:web"),
        // Fewer metrics: an hour of other facts only is no row (as ClickHouse answers too).
        format!("{DAY}&metrics=users&group_by=hour"),
        format!("{DAY}&metrics=time,devices&group_by=content_id"),
    ]
    .iter()
    .map(|q| server.metrics(read, q))
    .collect()
}

/// Waits until the server has made every rollup its settled files want.
fn wait_rolled_up(server: &Server) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = server.request("GET", "/healthz", &[], "").json();
        let rollups = &health["rollups"];
        if rollups["rolled"].as_u64().unwrap_or(0) > 0 && rollups["waiting"] == 0 {
            return rollups.clone();
        }
        assert!(Instant::now() < deadline, "no rollups made: {health}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_server_rolls_up_its_settled_facts_and_answers_from_them_as_from_the_facts() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("rolled");
    watch(&server, &t.ingest);
    // Asked at once: the facts are in memory, and no rollup holds them yet.
    let from_facts = answers(&server, &t.read);
    assert_eq!(from_facts[0]["totals"]["starts"], 40, "{}", from_facts[0]);
    wait_rolled_up(&server);
    assert_eq!(answers(&server, &t.read), from_facts);

    // An erased user leaves the answers whether their facts were rolled up or not.
    let auth = format!("Bearer {}", t.admin);
    let r = server.request("DELETE", "/api/v1/subjects?user_id=user-1", &[("Authorization", auth.as_str())], "");
    assert_eq!(r.status, 200, "{}", r.body);
    let erased = answers(&server, &t.read);
    assert!(erased[0]["totals"]["starts"].as_u64().unwrap() < 40, "{}", erased[0]);
    wait_rolled_up(&server);
    assert_eq!(answers(&server, &t.read), erased);
    server.stop();
}

//! Faults of the machine under a real server: a data folder on a small file
//! system that fills up (a tmpfs in a mount namespace of the server's own,
//! `unshare`), then gets room again.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// 20 playbacks per request, each a play and ten seconds of playing.
fn batch(r: usize) -> Value {
    let events: Vec<Value> = (0..20)
        .flat_map(|i| {
            let (p, ts) = (
                format!("r{r}p{i}"),
                at(&format!("{:02}:{:02}:{:02}", 8 + (r / 3600) % 10, (r / 60) % 60, r % 60)),
            );
            [ev("play", &ts, &p, "V"), playing(&ts, &p, "V", 10.0)]
        })
        .collect();
    Value::Array(events)
}

#[test]
fn a_full_disk_is_answered_503_never_a_202_that_is_lost_and_taking_resumes_when_there_is_room() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let folder = data.display().to_string();
    // The data folder is a 6 MiB tmpfs that only the server sees.
    let wrapper = [
        "unshare",
        "--user",
        "--map-root-user",
        "--mount",
        "sh",
        "-c",
        r#"mount -t tmpfs -o size=6m tmpfs "$0" && exec "$@""#,
        folder.as_str(),
    ];
    let server = Server::start_wrapped(&wrapper, &data, 0, &["--checkpoint-interval", "100ms"]);
    let keys = server.tenant("full");
    let mut acked = 0usize;
    let mut refused = None;
    let mut r = 0usize;
    while refused.is_none() {
        assert!(r < 20_000, "6 MiB never filled");
        let reply = server
            .try_post_events(&keys.ingest, &format!("198.51.100.{}", r % 250), UA1, &batch(r))
            .unwrap();
        r += 1;
        match reply.status {
            202 => acked += 20,
            503 => refused = Some(reply),
            other => panic!("{other}: {}", reply.body),
        }
    }
    let refused = refused.unwrap();
    assert!(refused.body.contains("write-ahead log"), "{}", refused.body);
    assert!(acked > 0);
    // Still up, and it says what is wrong.
    let h = server.get("/healthz", "").json();
    assert!(h["wal"]["durable_lsn"].as_u64().is_some(), "{h}");
    // Room again: the file system grows (from inside the server's namespace).
    let grown = Command::new("nsenter")
        .args(["--target", &server.pid().to_string(), "--user", "--mount", "--preserve-credentials"])
        .args(["mount", "-o", "remount,size=256m"])
        .arg(&data)
        .status()
        .unwrap();
    assert!(grown.success(), "nsenter/mount failed");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let reply = server.try_post_events(&keys.ingest, "198.51.100.1", UA1, &batch(r)).unwrap();
        if reply.status == 202 {
            acked += 20;
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no 202 within 30 s of there being room: {} {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Every acknowledged playback counted once, none of the refused.
    let v = server.metrics(&keys.read, &format!("{DAY}&metrics=starts"));
    assert_eq!(v["totals"]["starts"], json!(acked), "{v}");
    // And the files the full disk stopped are written now: checkpoints succeed again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = server.get("/healthz", "").json();
        if h["store"]["checkpoint_failures"] == 0 && h["wal"]["checkpoint_lsn"] == h["wal"]["durable_lsn"] {
            break;
        }
        assert!(Instant::now() < deadline, "checkpoints did not recover: {h}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // (The tmpfs lives as long as the server: the restart after a disk-full
    // is the crash tests' business, on a real folder.)
    server.stop();
}

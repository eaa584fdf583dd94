//! Who is watching, without knowing who (issue: enrichment): UA lists and
//! geography in the server, IPv6 /64 devices, erasure, the abuse guard.

mod support;

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};
use support::*;

fn lists_dir() -> String {
    let shared = std::env::var_os("STREAMTALLY_SHARED").map(PathBuf::from).unwrap_or_else(|| {
        std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into())).join("../shared")
    });
    shared.join("data/opawg-user-agents-v2").display().to_string()
}

fn geoip_args() -> Vec<String> {
    let paths = std::env::var("STREAMTALLY_TEST_GEOIP").expect("STREAMTALLY_TEST_GEOIP names the test geography databases; run ./scripts/test");
    paths.split(':').flat_map(|p| ["--geoip".to_string(), p.to_string()]).collect()
}

fn grep_dir(dir: &std::path::Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            hits.extend(grep_dir(&p, needle));
        } else if std::fs::read(&p).unwrap().windows(needle.len()).any(|w| w == needle) {
            hits.push(p);
        }
    }
    hits
}

#[test]
fn lists_geography_and_ipv6_households_shape_the_counts() {
    let dir = tempfile::tempdir().unwrap();
    let lists = lists_dir();
    let mut args = vec!["--ua-lists".to_string(), lists];
    args.extend(geoip_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::start(&dir.path().join("data"), &args);
    let t = server.tenant("geo");
    // A podcast app from a US address, and a bot only the OPAWG lists know.
    server.post_events(
        &t.ingest,
        "8.8.8.8",
        "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)",
        &json!([ev("play", &at("10:00:00"), "p1", "ep")]),
    );
    server.post_events(&t.ingest, "8.8.4.4", "AIS VirtualListener", &json!([ev("play", &at("10:00:00"), "p2", "ep")]));
    // Two addresses of one IPv6 /64 with one User-Agent: one device.
    server.post_events(&t.ingest, "2001:db8:1:2::10", UA1, &json!([ev("play", &at("11:00:00"), "p3", "ep")]));
    server.post_events(&t.ingest, "2001:db8:1:2:ffff::99", UA1, &json!([ev("play", &at("11:05:00"), "p4", "ep")]));
    server.post_events(&t.ingest, "2001:db8:1:3::10", UA1, &json!([ev("play", &at("11:06:00"), "p5", "ep")]));
    let v = server.metrics(&t.read, &format!("{DAY}&metrics=starts,devices&group_by=country,app&filter=content_id:ep"));
    assert_eq!(v["totals"], json!({ "starts": 4, "devices": 3 }), "{v}");
    // Unknown values sort last.
    assert_eq!(v["rows"][0], json!({ "country": "US", "app": "Overcast", "starts": 1, "devices": 1 }));
    assert_eq!(v["rows"][1], json!({ "country": null, "app": null, "starts": 3, "devices": 2 }));
    let v = server.metrics(&t.read, &format!("{DAY}&metrics=starts&group_by=os,device_type,browser"));
    assert!(
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["browser"] == "Chrome" && r["os"] == "Windows" && r["device_type"] == "desktop"),
        "{v}"
    );
    // The tenant's own deny list.
    let r = server.send("PUT", "/api/v1/settings", &t.admin, r#"{"bot_deny":"acme-qa"}"#);
    assert_eq!(r.status, 200);
    server.post_events(
        &t.ingest,
        "8.8.8.8",
        "Mozilla/5.0 (Windows NT 10.0) Chrome/120.0 ACME-QA/1",
        &json!([ev("play", &at("12:00:00"), "p6", "ep")]),
    );
    assert_eq!(server.metrics(&t.read, &format!("{DAY}&metrics=starts"))["totals"]["starts"], 4);
    let data = server.data.clone();
    server.stop();
    assert!(grep_dir(&data, b"8.8.4.4").is_empty() && grep_dir(&data, b"2001:db8").is_empty() && grep_dir(&data, b"AIS VirtualListener").is_empty());
}

#[test]
fn explain_ua_prints_one_json_object_per_line() {
    let out = Command::new(bin())
        .args(["explain", "--ua", "--ua-lists", &lists_dir()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(b"AIS VirtualListener\nSpotify/8.7.10 iOS/15.3.1 (iPhone13,2)\n\n")?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        (lines[0]["bot"].clone(), lines[0]["bot_rule"].clone()),
        (json!(true), json!("OPAWG bots: Adswizz"))
    );
    assert_eq!(
        (lines[1]["bot"].clone(), lines[1]["app"].clone(), lines[1]["os"].clone()),
        (json!(false), json!("Spotify"), json!("iOS"))
    );
    assert_eq!(lines[2]["bot_rule"], "empty User-Agent");
}

#[test]
fn erasure_removes_every_fact_and_event_of_a_subject() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let t = server.tenant("erase");
    // March 2026 is older than raw_retention_days (90): keep its raw events.
    server.set(&t, json!({ "raw_retention_days": 0 }));
    let with_user = |user: &str, pid: &str, ts: &str| {
        let mut play = ev("play", &at(ts), pid, "A");
        play["user_id"] = json!(user);
        let mut beat = playing(&at(ts), pid, "A", 30.0);
        beat["user_id"] = json!(user);
        json!([play, beat])
    };
    server.post_events(&t.ingest, "198.51.100.1", UA1, &with_user("user-to-forget-4711", "p1", "09:00:00"));
    server.post_events(&t.ingest, "198.51.100.2", UA1, &with_user("user-who-stays", "p2", "09:30:00"));
    let mut dev = ev("play", &at("10:00:00"), "p3", "A");
    dev["device_id"] = json!("tv-set-0815");
    server.post_events(&t.ingest, "198.51.100.3", UA1, &json!([dev]));
    let q = format!("{DAY}&metrics=starts,streams,time,devices,users");
    assert_eq!(
        server.metrics(&t.read, &q)["totals"],
        json!({ "starts": 3, "streams": 2, "time": 60.0, "devices": 3, "users": 3 })
    );
    // Some of it in Parquet files, some only in memory and the WAL.
    std::thread::sleep(std::time::Duration::from_millis(5500));
    server.post_events(&t.ingest, "198.51.100.1", UA1, &with_user("user-to-forget-4711", "p9", "11:00:00"));
    assert_eq!(server.send("POST", "/api/v1/keys", &t.read, r#"{"role":"read"}"#).status, 403);
    let r = agent()
        .delete(&server.url("/api/v1/subjects?user_id=user-to-forget-4711"))
        .header("Authorization", &format!("Bearer {}", t.admin))
        .call()
        .unwrap()
        .body_mut()
        .read_json::<Value>()
        .unwrap();
    assert_eq!(r["erased"]["events"], 4, "{r}");
    assert!(r["erased"]["facts"].as_u64().unwrap() >= 8, "{r}");
    assert_eq!(
        server.metrics(&t.read, &q)["totals"],
        json!({ "starts": 2, "streams": 1, "time": 30.0, "devices": 2, "users": 2 })
    );
    let (status, _) = {
        let mut r = agent()
            .delete(&server.url("/api/v1/subjects"))
            .header("Authorization", &format!("Bearer {}", t.admin))
            .call()
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    assert_eq!(status, 400);
    // Gone from disk too (files, WAL), and it stays gone after a restart.
    server.stop();
    assert!(
        grep_dir(&data, b"user-to-forget-4711").is_empty(),
        "{:?}",
        grep_dir(&data, b"user-to-forget-4711")
    );
    assert!(!grep_dir(&data, b"user-who-stays").is_empty());
    // Offline erasure by device id, through the CLI.
    let out = Command::new(bin())
        .args(["erase", "--data", data.to_str().unwrap(), "--tenant", "erase", "--device-id", "tv-set-0815"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["erased"]["events"], 1);
    let server = Server::start(&data, &[]);
    assert_eq!(
        server.metrics(&t.read, &q)["totals"],
        json!({ "starts": 1, "streams": 1, "time": 30.0, "devices": 1, "users": 1 })
    );
}

#[test]
fn the_abuse_guard_limits_rates_and_keeps_blocked_ips_for_admins_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--ingest-rate-per-ip", "1", "--ingest-burst-per-ip", "5"]);
    let t = server.tenant("guarded");
    let events = json!([ev("play", &at("10:00:00"), "p", "A")]);
    let started = std::time::Instant::now();
    let statuses: Vec<u16> = (0..20)
        .map(|_| server.try_post_events(&t.ingest, "192.0.2.66", UA1, &events).unwrap().status)
        .collect();
    // The burst of 5, plus at most one token per second that passed meanwhile.
    let allowed = 5 + started.elapsed().as_secs() as usize + 1;
    let passed = statuses.iter().filter(|s| **s == 202).count();
    assert!((5..=allowed).contains(&passed), "{passed} passed: {statuses:?}");
    assert!(statuses[..5].iter().all(|s| *s == 202), "{statuses:?}");
    assert_eq!(passed + statuses.iter().filter(|s| **s == 429).count(), 20, "{statuses:?}");
    let limited = server.try_post_events(&t.ingest, "192.0.2.66", UA1, &events).unwrap();
    assert!(limited.header("retry-after").is_some());
    // Another client is not affected.
    assert_eq!(server.try_post_events(&t.ingest, "192.0.2.67", UA1, &events).unwrap().status, 202);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let blocked = server.get("/api/v1/abuse", ADMIN_KEY).json();
    assert_eq!(blocked["blocked"][0]["ip"], "192.0.2.66", "{blocked}");
    assert_eq!(blocked["blocked"][0]["reason"], "rate limit per IP");
    assert_eq!(server.get("/api/v1/abuse", &t.read).status, 403);
    // One playback however often it was sent: one start.
    assert_eq!(server.metrics(&t.read, &format!("{DAY}&metrics=starts"))["totals"]["starts"], 1);
}

//! The command line: setting up a tenant before the server starts, settings,
//! catalogue import, offline reports, and no raw IP or User-Agent at rest.

mod support;

use std::process::Command;

use serde_json::{json, Value};
use support::*;

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin()).args(args).env_remove("STREAMTALLY_ADMIN_KEY").output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (success, stdout, stderr) = run(args);
    assert!(success, "{args:?} failed: {stderr}");
    stdout
}

#[test]
fn scripts_set_up_a_tenant_then_serve_report_and_nothing_personal_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let tenant: Value = serde_json::from_str(&ok(&["tenant", "create", "radio", "--data", d, "--json"])).unwrap();
    assert_eq!(tenant["name"], "radio");
    let (success, _, stderr) = run(&["tenant", "create", "radio", "--data", d]);
    assert!(!success && stderr.contains("exists already"), "{stderr}");
    let ingest: Value = serde_json::from_str(&ok(&["key", "create", "--tenant", "radio", "--role", "ingest", "--data", d, "--json"])).unwrap();
    let read = ok(&["key", "create", "--tenant", "radio", "--role", "read", "--data", d]).trim().to_string();
    assert!(ok(&["tenant", "list", "--data", d]).contains("radio"));
    assert_eq!(
        ok(&[
            "settings",
            "set",
            "--tenant",
            "radio",
            "view_window=2h",
            "timezone=America/Sao_Paulo",
            "--data",
            d
        ]),
        "view_window=2h\ntimezone=America/Sao_Paulo\n"
    );
    let (success, _, stderr) = run(&["settings", "set", "--tenant", "radio", "user_idle=never", "--data", d]);
    assert!(!success && stderr.contains("user_idle"), "{stderr}");
    let settings: Value = serde_json::from_str(&ok(&["settings", "get", "--tenant", "radio", "--data", d, "--json"])).unwrap();
    assert_eq!(settings["view_window"], "2h");
    assert_eq!(settings["start_window"], "1day");
    let csv = dir.path().join("catalogue.csv");
    std::fs::write(
        &csv,
        "content_id,title,kind,media,duration,bitrate,category,show,producer,distributor\nep-1,Episode 1,vod,audio,1800,128,news,Morning Show,Studio A,\n",
    )
    .unwrap();
    assert!(ok(&["contents", "import", csv.to_str().unwrap(), "--tenant", "radio", "--data", d]).contains("imported 1"));

    let secret_ip = "198.51.100.77";
    let secret_ua = "SecretPlayer/9.9 (unique-ua-marker-4711)";
    let server = Server::start(&data, &[]);
    let ingest = ingest["key"].as_str().unwrap();
    server.post_events(
        ingest,
        secret_ip,
        secret_ua,
        &json!([
            ev("play", "2026-03-02T08:00:00Z", "p1", "ep-1"),
            playing("2026-03-02T08:00:30Z", "p1", "ep-1", 30.0),
            ev("file_downloaded", "2026-03-02T08:01:00Z", "d1", "ep-1")
        ]),
    );
    let api = server.metrics(
        &read,
        "from=2026-03-02&to=2026-03-03&metrics=starts,streams,time,downloads,devices&group_by=show,day",
    );
    assert_eq!(api["rows"][0]["show"], "Morning Show");
    assert_eq!(api["totals"]["downloads"], 1);
    assert_eq!(api["totals"]["devices"], 1);
    // The folder is the server's while it runs: report says so and what to do.
    let (success, _, stderr) = run(&["report", "--data", d, "--tenant", "radio", "--from", "2026-03-02", "--to", "2026-03-03"]);
    assert!(!success);
    assert!(
        stderr.contains("in use by another streamtally process") && stderr.contains("/api/v1/metrics"),
        "{stderr}"
    );
    let log = server.log_text();
    server.kill9();
    // Offline, the same answer, including what was only in the WAL at the kill.
    // One day of tenant `radio`, offline.
    let report = |extra: &[&str]| {
        ok(&[
            &["report", "--data", d, "--tenant", "radio", "--from", "2026-03-02", "--to", "2026-03-03"],
            extra,
        ]
        .concat())
    };
    let json_report: Value = serde_json::from_str(&report(&[
        "--metrics",
        "starts,streams,time,downloads,devices",
        "--group-by",
        "show,day",
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(json_report, api);
    let table = report(&["--metrics", "starts,time", "--group-by", "content_id"]);
    assert_eq!(table, "content_id  starts  time\nep-1        1       30\n");

    // Privacy (spec §8): neither the raw IP nor the raw User-Agent is anywhere
    // in the data folder or the server's log.
    let server = Server::start(&data, &[]);
    server.wait_idle();
    let log = log + &server.log_text();
    server.stop();
    for entry in walk(&data) {
        let bytes = std::fs::read(&entry).unwrap();
        for needle in [secret_ip.as_bytes(), b"unique-ua-marker-4711".as_slice()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds {}",
                entry.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }
    assert!(!log.contains(secret_ip) && !log.contains("unique-ua-marker-4711"));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn demo_serves_live_numbers_within_seconds() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .args(["demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("demo"))
        .env_remove("STREAMTALLY_ADMIN_KEY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base, mut read) = (String::new(), String::new());
    while base.is_empty() || read.is_empty() {
        let line = lines.next().expect("demo output").unwrap();
        if let Some(url) = line.strip_prefix("streamtally demo running at ") {
            base = url.trim().to_string();
        }
        if let Some(key) = line.split("read key ").nth(1) {
            read = key.trim().to_string();
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut starts = 0;
    while starts == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let mut r = agent()
            .get(&format!("{base}/api/v1/metrics?metrics=starts,views"))
            .header("Authorization", &format!("Bearer {read}"))
            .call()
            .unwrap();
        let v: Value = r.body_mut().read_json().unwrap();
        starts = v["totals"]["starts"].as_i64().unwrap_or(0);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(starts > 0, "the demo generator produced no starts");
}

#[test]
fn a_data_folder_of_a_newer_release_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    ok(&["tenant", "create", "acme", "--data", data_arg]);
    std::fs::write(data.join("FORMAT"), "99\n").unwrap();
    let (success, _, err) = run(&["report", "--data", data_arg, "--tenant", "acme", "--from", "2026-03-01", "--to", "2026-03-02"]);
    assert!(!success);
    assert!(
        err.contains("format 99, written by a newer streamtally") && err.contains("run the newer release"),
        "{err}"
    );
}

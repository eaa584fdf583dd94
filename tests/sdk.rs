//! The player SDK (`sdk/streamtally.js`, served at `/sdk/streamtally.js`):
//! small, keeping nothing on the device, and counted as the spec says when it
//! reports a playback to the real server (driven in Node by
//! `sdk/test/drive.mjs`: a stand-in media element and a clock of its own).

mod support;

use std::io::Write;
use std::process::Command;

use support::*;

fn sdk_source() -> String {
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()));
    std::fs::read_to_string(root.join("sdk/streamtally.js")).unwrap()
}

#[test]
fn the_sdk_is_under_10_kb_gzipped_and_uses_no_cookie_or_storage() {
    let source = sdk_source();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(source.as_bytes()).unwrap();
    let size = gz.finish().unwrap().len();
    println!("sdk/streamtally.js: {} bytes, {size} bytes gzipped", source.len());
    assert!(size < 10 * 1024, "the SDK is {size} bytes gzipped");
    for banned in ["document.cookie", "localStorage", "sessionStorage", "indexedDB", "caches."] {
        assert!(!source.contains(banned), "the SDK uses {banned}");
    }
}

#[test]
fn the_server_serves_the_sdk_without_a_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let r = server.request("GET", "/sdk/streamtally.js", &[], "");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap_or("").starts_with("text/javascript"));
    assert!(r.header("set-cookie").is_none());
    assert_eq!(r.body, sdk_source());
    server.stop();
}

#[test]
fn a_tracked_playback_counts_one_start_one_stream_and_the_seconds_played() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("sdk");
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()));
    let out = Command::new("node")
        .arg(root.join("sdk/test/drive.mjs"))
        .args([server.url("/sdk/streamtally.js"), server.url("/api/v1/events"), keys.ingest.clone()])
        .output()
        .expect("node runs (the test command installs it)");
    assert!(out.status.success(), "node: {}", String::from_utf8_lossy(&out.stderr));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("{run}");
    assert!(
        run["statuses"].as_array().unwrap().iter().all(|s| s == 202),
        "every batch accepted: {}",
        run["answers"]
    );
    let types: Vec<&str> = run["types"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert_eq!(types[..4], ["player_loaded", "playback_start", "play", "playing"]);
    // No report spans the seek: the interval before it is closed by a
    // `playing` of 5 s, and the stall after it is reported as buffering.
    let durations = run["durations"].to_string();
    assert_eq!(
        durations,
        r#"[["playing",0],["playing",10],["playing",10],["playing",5],["buffering",3],["playing",0],["playing",10]]"#
    );
    assert!(types.contains(&"seek") && types.last() == Some(&"pause"), "{types:?}");
    assert_eq!(run["playback_ids"].as_array().unwrap().len(), 1, "one playback");
    assert_eq!(run["every_event_has_the_user"], true);
    assert_eq!(run["property_sent"], false, "the server picks the property (spec §1)");
    // The server shifted the client's clock to its own (sent_at): today.
    let today = chrono::Utc::now().date_naive();
    let range = format!("from={}&to={}", today.pred_opt().unwrap(), today.succ_opt().unwrap().succ_opt().unwrap());
    let m = server.metrics(&keys.read, &format!("{range}&metrics=starts,streams,time,users&group_by=property"));
    assert_eq!(m["totals"]["starts"], 1, "{m}");
    assert_eq!(m["totals"]["streams"], 1, "{m}");
    assert_eq!(m["totals"]["time"], 35.0, "{m}");
    assert_eq!(m["totals"]["users"], 1, "{m}");
    assert_eq!(m["rows"][0]["property"], "streamtally-video", "{m}");
    server.stop();
}

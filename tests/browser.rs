//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (chromedriver) by `tests/browser/dashboard.mjs`. Every page loads without
//! a console error or a failed request and is saved as a screenshot (in
//! `<target>/artifacts/dashboard/`); sign-in, a filter change, a date-range
//! change and a CSV download are clicked through and checked against the
//! API's answer to the same question; the live page takes the SSE stream.

mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

struct Driver(Child, String);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (the test command installs chromium-driver)");
    // Killed when dropped, also when it never comes up.
    let driver = Driver(child, format!("http://127.0.0.1:{port}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if agent().get(&format!("{}/status", driver.1)).call().is_ok_and(|r| r.status() == 200) {
            return driver;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("chromedriver did not start");
}

#[test]
fn every_page_works_in_chromium_and_shows_what_the_api_says() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("browser");
    let events = json!([
        ev("play", &at("10:00:00"), "p1", "news"),
        playing(&at("10:01:00"), "p1", "news", 60.0),
        { "type": "play", "ts": at("11:00:00"), "playback_id": "p2", "content_id": "film", "property": "web" },
        { "type": "playing", "ts": at("11:00:30"), "playback_id": "p2", "content_id": "film", "property": "web", "duration": 30.0 },
    ]);
    server.post_events(&keys.ingest, "198.51.100.7", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", &events);
    server.wait_idle();
    let driver = chromedriver();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "target".into());
    let shots = target.join("artifacts/dashboard");
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()));
    let out = Command::new("node")
        .arg(root.join("tests/browser/dashboard.mjs"))
        .args([&driver.1, &server.base, &keys.read])
        .arg(&shots)
        .arg("2026-03-02")
        .output()
        .expect("node runs");
    assert!(out.status.success(), "the browser run failed: {}", String::from_utf8_lossy(&out.stderr));
    let run: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("{run:#}");
    assert!(run["signed_in_to"].as_str().unwrap().ends_with("/overview"));
    for (page, seen) in run["pages"].as_object().unwrap() {
        assert_eq!(seen["errors"], json!([]), "{page}: console errors");
        assert_eq!(seen["failed"], json!([]), "{page}: failed requests");
        assert!(seen["tables"].as_u64().unwrap() >= 1, "{page}: a table");
        assert!(shots.join(format!("{page}.png")).exists(), "{page}: screenshot");
    }
    assert_eq!(run["pages"]["live"]["live_updated"], true, "the live page took the SSE stream");
    let checks = &run["checks"];
    assert_eq!(checks["range"]["page"], checks["range"]["api"]);
    assert_eq!(checks["range"]["page"], "2");
    assert_eq!(checks["filter"]["page"], checks["filter"]["api"]);
    assert_eq!(checks["filter"]["page"], "1");
    assert!(checks["filter"]["url"].as_str().unwrap().contains("property=web"), "the filter is in the URL");
    assert_eq!(checks["csv"]["same"], true);
    assert!(run["signed_out_to"].as_str().unwrap().ends_with("/signin"));
    // The README's screenshot, made here when asked for.
    if std::env::var_os("STREAMTALLY_UPDATE_SCREENSHOT").is_some() {
        std::fs::copy(shots.join("overview.png"), root.join("docs/dashboard-overview.png")).unwrap();
    }
    server.stop();
}

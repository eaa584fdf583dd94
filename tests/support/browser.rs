//! Headless Chromium for the browser tests: chromedriver on a free loopback
//! port, stopped when dropped (the scripts in `tests/browser/` drive it).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::agent;
use super::nginx::free_port;

/// A running chromedriver and its URL.
pub struct Driver(Child, pub String);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn chromedriver() -> Driver {
    let port = free_port();
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

/// Where a browser test leaves its screenshots: `<target>/artifacts/NAME`.
pub fn artifacts(name: &str) -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "target".into());
    let dir = target.join("artifacts").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Two playbacks on 2 March 2026: `news` (60 s) and `film` on property `web` (30 s).
pub fn two_playbacks() -> serde_json::Value {
    use super::{at, ev, playing};
    serde_json::json!([
        ev("play", &at("10:00:00"), "p1", "news"),
        playing(&at("10:01:00"), "p1", "news", 60.0),
        { "type": "play", "ts": at("11:00:00"), "playback_id": "p2", "content_id": "film", "property": "web" },
        { "type": "playing", "ts": at("11:00:30"), "playback_id": "p2", "content_id": "film", "property": "web", "duration": 30.0 },
    ])
}

/// Plays the page `url` for `seconds` from its first frame
/// (`tests/browser/player.mjs`), saves its screenshot at `png`, and answers
/// the run's report: `played` (the video's time), `bitrates` (what the page
/// recorded), `errors` (the console's).
pub fn play_for(driver: &Driver, url: &str, seconds: u64, png: &std::path::Path) -> serde_json::Value {
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()));
    let out = Command::new("node")
        .arg(root.join("tests/browser/player.mjs"))
        .args([&driver.1, url, &seconds.to_string()])
        .arg(png)
        .output()
        .expect("node runs");
    assert!(out.status.success(), "the player run failed: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    println!("{v}");
    v
}

/// A file of an npm package the test command installed (`STREAMTALLY_TESTDATA`).
pub fn npm_file(package_path: &str) -> std::path::PathBuf {
    let testdata = std::env::var_os("STREAMTALLY_TESTDATA").expect("STREAMTALLY_TESTDATA (set by the test command)");
    let file = std::path::PathBuf::from(testdata).join("node_modules").join(package_path);
    assert!(file.exists(), "{} is missing; ./scripts/test installs it", file.display());
    file
}

//! The dashboard in a real browser: headless Chromium driven over WebDriver
//! (chromedriver) by `tests/browser/dashboard.mjs`. Every page loads without
//! a console error or a failed request and is saved as a screenshot (in
//! `<target>/artifacts/dashboard/`); sign-in with a staff account, a filter
//! change, a date-range change, a drag that zooms the series and a CSV
//! download are clicked through and checked against the API's answer to the
//! same question; the live page takes the SSE stream.

mod support;

use std::process::Command;

use serde_json::json;
use support::browser::{artifacts, chromedriver, two_playbacks};
use support::*;

#[test]
fn every_page_works_in_chromium_and_shows_what_the_api_says() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("browser");
    server.post_events(&keys.ingest, "198.51.100.7", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", &two_playbacks());
    server.wait_idle();
    let (email, password) = ("staff@example.org", "a long enough password");
    let made = server.send(
        "POST",
        "/api/v1/accounts",
        &keys.admin,
        &json!({ "email": email, "password": password, "role": "admin" }).to_string(),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let driver = chromedriver();
    let shots = artifacts("dashboard");
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into()));
    let out = Command::new("node")
        .arg(root.join("tests/browser/dashboard.mjs"))
        .args([&driver.1, &server.base, &keys.read])
        .arg(&shots)
        .args(["2026-03-02", email, password])
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
    let width = |b: &serde_json::Value| b.as_str().unwrap().split(' ').nth(2).unwrap().parse::<f64>().unwrap();
    let zoom = &checks["zoom"];
    assert!(width(&zoom["zoomed"]) < width(&zoom["full"]) * 0.6, "a drag zooms the series: {zoom}");
    assert_eq!(zoom["back"], zoom["full"], "a double-click goes back");
    let phone = &run["phone"];
    assert!(
        phone["page"].as_u64().unwrap() <= phone["screen"].as_u64().unwrap(),
        "the overview fits a phone: {phone}"
    );
    assert!(run["signed_out_to"].as_str().unwrap().ends_with("/signin"));
    // The README's screenshot, made here when asked for.
    if std::env::var_os("STREAMTALLY_UPDATE_SCREENSHOT").is_some() {
        std::fs::copy(shots.join("overview.png"), root.join("docs/dashboard-overview.png")).unwrap();
    }
    server.stop();
}

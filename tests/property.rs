//! Spec §1's property precedence through the real server: the event's own
//! property, else the ingest key's (a key created with a property), else
//! for the product's SDK `streamtally-video`/`streamtally-audio`, else
//! `Others`; and for log lines the import's (`?property=`, `--property`),
//! else the key's, else `Others`.

mod support;

use serde_json::{json, Value};
use support::*;

fn send(server: &Server, key: &str, sdk: bool, events: &Value) {
    let path = if sdk { "/api/v1/events?sdk=js" } else { "/api/v1/events" };
    let r = server.request(
        "POST",
        path,
        &[
            ("X-Ingest-Key", key),
            ("X-Forwarded-For", IP1),
            ("User-Agent", UA1),
            ("Content-Type", "application/json"),
        ],
        events.to_string(),
    );
    assert_eq!(r.status, 202, "{}", r.body);
}

#[test]
fn the_events_property_then_the_keys_then_the_sdks_then_others() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let t = server.tenant("p");
    let r = server.send("POST", "/api/v1/keys", &t.admin, &json!({ "role": "ingest", "property": "tv-app" }).to_string());
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["property"], "tv-app");
    let tv = r.json()["key"].as_str().unwrap().to_string();
    let listed = server.get("/api/v1/keys", &t.admin).json();
    assert!(listed.to_string().contains("\"property\":\"tv-app\""), "{listed}");

    let mut own = ev("play", &at("10:00:00"), "p1", "A");
    own["property"] = json!("web");
    send(&server, &tv, false, &json!([own]));
    send(&server, &tv, false, &json!([ev("play", &at("10:01:00"), "p2", "A")]));
    // The key's property comes before the SDK's.
    send(&server, &tv, true, &json!([ev("play", &at("10:02:00"), "p3", "A")]));
    let mut audio = ev("play", &at("10:03:00"), "p4", "A");
    audio["media"] = json!("audio");
    send(&server, &t.ingest, true, &json!([ev("play", &at("10:04:00"), "p5", "A"), audio]));
    send(&server, &t.ingest, false, &json!([ev("play", &at("10:05:00"), "p6", "A")]));
    server.wait_idle();

    let v = server.metrics(&t.read, &format!("{DAY}&metrics=starts&group_by=property"));
    let rows: Vec<(String, i64)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["property"].as_str().unwrap().to_string(), r["starts"].as_i64().unwrap()))
        .collect();
    let expected = [("Others", 1), ("streamtally-audio", 1), ("streamtally-video", 1), ("tv-app", 2), ("web", 1)];
    assert_eq!(rows, expected.map(|(p, n)| (p.to_string(), n)), "{v}");

    let bad = server.send(
        "POST",
        "/api/v1/keys",
        &t.admin,
        &json!({ "role": "ingest", "property": "x".repeat(101) }).to_string(),
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    server.stop();
}

fn download(ip: &str, time: &str) -> String {
    format!("{ip} - - [02/Mar/2026:{time} +0000] \"GET /ep/a.mp3 HTTP/1.1\" 200 5000000 \"-\" \"{UA1}\"\n")
}

fn post_log(server: &Server, key: &str, query: &str, body: &str) -> Reply {
    server.request("POST", &format!("/api/v1/logs?format=combined{query}"), &[("X-Ingest-Key", key)], body)
}

#[test]
fn log_lines_count_under_the_imports_property_then_the_keys_then_others() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("p");
    let r = server.send("POST", "/api/v1/keys", &t.admin, &json!({ "role": "ingest", "property": "tv-app" }).to_string());
    let tv = r.json()["key"].as_str().unwrap().to_string();
    assert_eq!(
        post_log(&server, &t.ingest, "&property=radio-web", &download("192.0.2.1", "10:00:00")).status,
        202
    );
    assert_eq!(post_log(&server, &tv, "", &download("192.0.2.2", "10:01:00")).status, 202);
    // The import's own property comes before the key's.
    assert_eq!(post_log(&server, &tv, "&property=radio-web", &download("192.0.2.3", "10:02:00")).status, 202);
    assert_eq!(post_log(&server, &t.ingest, "", &download("192.0.2.4", "10:03:00")).status, 202);
    // The command line's --property, through a running server.
    let file = dir.path().join("feed.log");
    std::fs::write(&file, download("192.0.2.5", "10:04:00")).unwrap();
    let out = std::process::Command::new(bin())
        .args([
            "import",
            "--tenant",
            "p",
            "--server",
            &server.base,
            "--key",
            &t.ingest,
            "--format",
            "combined",
            "--property",
            "feed",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = post_log(&server, &t.ingest, "&property=%07", &download("192.0.2.6", "10:05:00"));
    assert_eq!(bad.status, 400, "{}", bad.body);
    server.wait_idle();

    let v = server.metrics(&t.read, &format!("{DAY}&metrics=downloads&group_by=property"));
    let rows: Vec<(String, i64)> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["property"].as_str().unwrap().to_string(), r["downloads"].as_i64().unwrap()))
        .collect();
    let expected = [("Others", 1), ("feed", 1), ("radio-web", 2), ("tv-app", 1)];
    assert_eq!(rows, expected.map(|(p, n)| (p.to_string(), n)), "{v}");
    server.stop();
}

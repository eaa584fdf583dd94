//! Retention and engagement (spec §8c) through the real server, with fixed
//! numbers: of a 100 s content, one playback watches 0–50 %, another all of
//! it and again 40–60 %. A content without a catalogue duration takes the
//! largest position seen, and says so. Batches change nothing.

mod support;

use serde_json::{json, Value};
use support::*;

fn report(pid: &str, hms: &str, position: f64) -> Value {
    let mut e = playing(&at(hms), pid, "V", 10.0);
    e["position"] = json!(position);
    e
}

/// P1 plays 0–50 s; P2 plays 0–100 s, seeks back to 40 s and plays to 60 s.
fn two_viewers() -> Vec<Value> {
    let mut events = vec![ev("play", &at("10:00:00"), "p1", "V")];
    events.extend((1..=5).map(|i| report("p1", &format!("10:00:{:02}", i * 10), (i * 10) as f64)));
    events.push(ev("play", &at("11:00:00"), "p2", "V"));
    events.extend((1..=10).map(|i| report("p2", &format!("11:0{}:{:02}", i / 6, i % 6 * 10), (i * 10) as f64)));
    events.push(report("p2", "11:01:50", 50.0));
    events.push(report("p2", "11:02:00", 60.0));
    events
}

/// Worked example 11's retention and engagement of section `k`.
fn example_11(k: usize) -> (f64, f64) {
    let retention = if k < 50 { 1.0 } else { 0.5 };
    let engagement = match k {
        0..=39 => 2.0,
        40..=49 => 3.0,
        50..=59 => 2.0,
        _ => 1.0,
    };
    (retention, engagement)
}

fn tenant_with_catalogue(server: &Server, name: &str) -> TenantKeys {
    let t = server.tenant(name);
    let r = server.send("PUT", "/api/v1/contents", &t.admin, r#"{"content_id":"V","kind":"vod","duration":100}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    t
}

fn curve(server: &Server, key: &str, content: &str) -> Value {
    let r = server.get(&format!("/api/v1/contents/{content}/retention?{DAY}"), key);
    assert_eq!(r.status, 200, "{} {}", r.body, std::fs::read_to_string(&server.log).unwrap_or_default());
    r.json()
}

#[test]
fn a_retention_and_an_engagement_curve_of_two_viewers_and_a_rewatch() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let t = tenant_with_catalogue(&server, "vod");
    server.post_events(&t.ingest, IP1, UA1, &Value::Array(two_viewers()));
    server.wait_idle();
    let v = curve(&server, &t.read, "V");
    assert_eq!(
        (v["duration"].as_f64(), v["duration_from"].as_str(), v["starts"].as_i64()),
        (Some(100.0), Some("catalogue"), Some(2))
    );
    let sections = v["sections"].as_array().unwrap();
    assert_eq!(sections.len(), 100);
    for (k, section) in sections.iter().enumerate() {
        let (retention, engagement) = example_11(k);
        let got = (section["retention"].as_f64().unwrap(), section["engagement"].as_f64().unwrap());
        assert_eq!(got, (retention, engagement), "section {k}: {section}");
    }
    assert_eq!((sections[45]["from"].as_f64(), sections[45]["to"].as_f64()), (Some(45.0), Some(46.0)));
    let csv = server.get(&format!("/api/v1/contents/V/retention?{DAY}&format=csv"), &t.read);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(
        (lines.len(), lines[0], lines[46]),
        (101, "section,from,to,retention,engagement", "45,45,46,1,3")
    );
    // Nothing known of a content: no curve to draw.
    let none = server.get(&format!("/api/v1/contents/nothing/retention?{DAY}"), &t.read);
    assert!(none.status == 404 && none.body.contains("duration"), "{}", none.body);
    server.stop();
}

#[test]
fn without_a_catalogue_duration_the_largest_position_is_the_duration() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let t = server.tenant("nocat");
    let mut events = vec![ev("play", &at("10:00:00"), "p1", "V")];
    events.extend((1..=8).map(|i| report("p1", &format!("10:01:{:02}", i * 5), (i * 10) as f64)));
    server.post_events(&t.ingest, IP1, UA1, &Value::Array(events));
    server.wait_idle();
    let v = curve(&server, &t.read, "V");
    assert_eq!(
        (v["duration"].as_f64(), v["duration_from"].as_str()),
        (Some(80.0), Some("largest_position")),
        "{v}"
    );
    assert!(
        v["sections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["retention"] == 1.0 && s["engagement"] == 1.0),
        "{v}"
    );
    server.stop();
}

#[test]
fn the_curves_do_not_depend_on_how_the_events_were_batched() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let whole = tenant_with_catalogue(&server, "whole");
    let single = tenant_with_catalogue(&server, "single");
    server.post_events(&whole.ingest, IP1, UA1, &Value::Array(two_viewers()));
    for e in two_viewers() {
        server.post_events(&single.ingest, IP1, UA1, &json!([e]));
    }
    server.wait_idle();
    assert_eq!(curve(&server, &whole.read, "V")["sections"], curve(&server, &single.read, "V")["sections"]);
    server.stop();
}

/// curl as a podcast app: the status of a ranged GET.
fn curl_range(ua: &str, range: &str, url: &str) -> u16 {
    let out = support::nginx::run(std::process::Command::new("curl").args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-A", ua, "-r", range, url]));
    out.trim().parse().unwrap()
}

#[test]
fn podcast_retention_from_the_byte_ranges_a_real_nginx_served_to_curl() {
    use support::nginx::{free_port, run, start_nginx, tool};
    const LOG_FORMAT: &str =
        r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_range""#;
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir_all(www.join("podcast")).unwrap();
    run(std::process::Command::new(tool("ffmpeg", &["/usr/bin/ffmpeg"]))
        .args(["-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=100", "-b:a", "64k"])
        .arg(www.join("podcast/E.mp3")));
    let size = std::fs::metadata(www.join("podcast/E.mp3")).unwrap().len();
    let port = free_port();
    let _nginx = start_nginx(dir.path(), &www, port, LOG_FORMAT, "");
    let url = format!("http://127.0.0.1:{port}/podcast/E.mp3");
    let share = |percent: u64| size * percent / 100;
    // Listener A takes the first half; B all of it in two ranges, then 40–60 % again.
    let (a, b) = (
        "AppleCoreMedia/1.0.0.21E230 (iPhone; U; CPU OS 17_4 like Mac OS X; en_us)",
        "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)",
    );
    for (ua, range) in [
        (a, format!("0-{}", share(50) - 1)),
        (b, format!("0-{}", share(50) - 1)),
        (b, format!("{}-", share(50))),
        (b, format!("{}-{}", share(40), share(60) - 1)),
    ] {
        assert_eq!(curl_range(ua, &range, &url), 206);
    }
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("pod");
    let r = server.send("PUT", "/api/v1/contents", &t.admin, r#"{"content_id":"E","media":"audio","duration":100}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    std::thread::sleep(std::time::Duration::from_millis(200));
    run(std::process::Command::new(bin())
        .args([
            "import",
            "--tenant",
            "pod",
            "--server",
            &server.base,
            "--key",
            &t.ingest,
            "--format",
            "nginx",
            "--log-format",
            LOG_FORMAT,
        ])
        .arg(dir.path().join("access.log")));
    server.wait_idle();
    let today = chrono::Utc::now().date_naive();
    let range = format!("from={}&to={}", today.pred_opt().unwrap(), today.succ_opt().unwrap().succ_opt().unwrap());
    let r = server.get(&format!("/api/v1/contents/E/retention?{range}"), &t.read);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!((v["starts"].as_i64(), v["duration_from"].as_str()), (Some(2), Some("catalogue")), "{v}");
    for (k, section) in v["sections"].as_array().unwrap().iter().enumerate() {
        let (retention, engagement) = example_11(k);
        let (got_r, got_e) = (section["retention"].as_f64().unwrap(), section["engagement"].as_f64().unwrap());
        // Byte boundaries fall within a ten-thousandth of a section.
        assert!(
            got_r == retention && (got_e - engagement).abs() < 0.01,
            "section {k}: {section} of a {size}-byte file"
        );
    }
    server.stop();
}

#[test]
fn a_filtered_curve_counts_the_sections_of_the_pieces_it_keeps() {
    // Section length 10 s. The start's first piece was played from another
    // CDN than its second, which alone passes the filter:
    // the second piece's first section is still covered, though the first
    // piece touched it before.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let t = server.tenant("filtered");
    let r = server.send("PUT", "/api/v1/contents", &t.admin, r#"{"content_id":"V","kind":"vod","duration":1000}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let cdn = |mut e: Value, name: &str| {
        e["cdn"] = json!(name);
        e
    };
    let events = vec![
        cdn(ev("play", &at("10:00:00"), "p1", "V"), "a"),
        cdn(report("p1", "10:00:15", 15.0), "b"),
        cdn(report("p1", "10:00:25", 25.0), "a"),
    ];
    // `report` plays the 10 s before its position: 5–15 (sections 0–1) and
    // 15–25 (sections 1–2), which share section 1.
    server.post_events(&t.ingest, IP1, UA1, &Value::Array(events));
    server.wait_idle();
    let r = server.get(&format!("/api/v1/contents/V/retention?{DAY}&filter=dim:cdn:a"), &t.read);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let covered: Vec<f64> = v["sections"].as_array().unwrap()[..4]
        .iter()
        .map(|s| s["retention"].as_f64().unwrap())
        .collect();
    assert_eq!((v["starts"].as_i64(), covered), (Some(1), vec![0.0, 1.0, 1.0, 0.0]), "{v}");
    let all = curve(&server, &t.read, "V");
    let covered: Vec<f64> = all["sections"].as_array().unwrap()[..4]
        .iter()
        .map(|s| s["retention"].as_f64().unwrap())
        .collect();
    assert_eq!(covered, vec![1.0, 1.0, 1.0, 0.0], "{all}");
    server.stop();
}

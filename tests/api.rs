//! The HTTP API's contract: authentication, tenant isolation, input errors,
//! beacons, settings, catalogue grouping, CSV, observability.

mod support;

use serde_json::{json, Value};
use support::*;

fn raw(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, String, ureq::http::HeaderMap) {
    let mut r = r.unwrap();
    let headers = r.headers().clone();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap_or_default(), headers)
}

#[test]
fn keys_roles_and_tenant_isolation() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let a = server.tenant("tenant-a");
    let b = server.tenant("tenant-b");
    let events = json!([ev("play", &at("10:00:00"), "P", "A")]);
    server.post_events(&a.ingest, IP1, UA1, &events);
    server.wait_idle();

    // No key, a wrong key: 401.
    let (status, _, _) = raw(agent().get(&server.url(&format!("/api/v1/metrics?{DAY}"))).call());
    assert_eq!(status, 401);
    assert_eq!(server.get(&format!("/api/v1/metrics?{DAY}"), "st_read_000000000000_nope").status, 401);
    assert_eq!(server.try_post_events("wrong", IP1, UA1, &events).unwrap().status, 401);
    // Wrong role: 403.
    assert_eq!(server.get(&format!("/api/v1/metrics?{DAY}"), &a.ingest).status, 403);
    assert_eq!(server.try_post_events(&a.read, IP1, UA1, &events).unwrap().status, 403);
    assert_eq!(server.get("/api/v1/settings", &a.read).status, 403);
    assert_eq!(server.get("/api/v1/tenants", &a.admin).status, 403);
    // A's read key asking for B's data: 404, never data.
    let r = server.get(&format!("/api/v1/metrics?{DAY}&tenant=tenant-b"), &a.read);
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(!r.body.contains("starts"));
    // Each tenant sees only its own.
    assert_eq!(server.metrics(&a.read, &format!("{DAY}&metrics=starts"))["totals"]["starts"], 1);
    assert_eq!(server.metrics(&b.read, &format!("{DAY}&metrics=starts"))["totals"]["starts"], 0);
    // The administrator names the tenant.
    assert_eq!(
        server.get(&format!("/api/v1/metrics?{DAY}&metrics=starts&tenant=tenant-a"), ADMIN_KEY).json()["totals"]["starts"],
        1
    );
    assert_eq!(server.get(&format!("/api/v1/metrics?{DAY}"), ADMIN_KEY).status, 400);
    assert_eq!(server.get(&format!("/api/v1/metrics?{DAY}&tenant=nobody"), ADMIN_KEY).status, 404);
    assert_eq!(server.get("/api/v1/tenants", ADMIN_KEY).json()["tenants"].as_array().unwrap().len(), 2);
    assert_eq!(server.send("POST", "/api/v1/tenants", ADMIN_KEY, r#"{"name":"tenant-a"}"#).status, 409);
    assert_eq!(server.send("POST", "/api/v1/tenants", ADMIN_KEY, r#"{"name":"Bad Name!"}"#).status, 400);
}

#[test]
fn bad_input_is_refused_clearly_and_good_input_kept() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--max-body-bytes", "65536"]);
    let t = server.tenant("inputs");
    // Mixed batch: 400 naming the bad events; the good one still counts.
    let r = server
        .try_post_events(&t.ingest, IP1, UA1, &json!([ev("play", &at("10:00:00"), "P", "A"), { "type": "play", "ts": "yesterday", "playback_id": "Q", "content_id": "A" }, { "ts": at("10:00:00") }]))
        .unwrap();
    assert_eq!(r.status, 400);
    let body = r.json();
    assert_eq!(body["accepted"], 1);
    assert_eq!(
        body["errors"],
        json!([
            { "index": 1, "field": "ts", "message": "must be an RFC 3339 timestamp or epoch milliseconds" },
            { "index": 2, "field": "type", "message": "is required" }
        ])
    );
    assert_eq!(server.metrics(&t.read, &format!("{DAY}&metrics=starts"))["totals"]["starts"], 1);
    // Not JSON at all, empty: 400 with a reason.
    let (status, body, _) = raw(agent().post(&server.url("/api/v1/events")).header("X-Ingest-Key", &t.ingest).send("[{not json"));
    assert_eq!(status, 400);
    assert!(body.contains("not JSON"), "{body}");
    // Too large: 413.
    let big = Value::Array((0..2000).map(|i| ev("play", &at("10:00:00"), &format!("p{i}"), "A")).collect());
    assert_eq!(server.try_post_events(&t.ingest, IP1, UA1, &big).unwrap().status, 413);
    // Far larger than the socket buffers: the client still reads the 413 (the server reads the body before answering).
    let huge = vec![b' '; 8 << 20];
    let r = server.request("POST", "/api/v1/events", &[("X-Ingest-Key", &t.ingest)], &huge);
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("larger than 65536 bytes"), "{}", r.body);
    // Bad query parameters: 400 that says what is wrong.
    let r = server.get(&format!("/api/v1/metrics?{DAY}&metrics=hits"), &t.read);
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("unknown metric `hits`"));
    assert_eq!(server.get("/api/v1/metrics?from=2026-03-03&to=2026-03-02", &t.read).status, 400);
    assert_eq!(server.get(&format!("/api/v1/metrics?{DAY}&tz=Mars/Base"), &t.read).status, 400);
}

#[test]
fn beacons_cors_bots_properties_catalogue_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("media");
    // sendBeacon: text/plain NDJSON, key in the query string, no custom headers.
    let ndjson = [ev("play", &at("09:00:00"), "b1", "live-1"), playing(&at("09:00:10"), "b1", "live-1", 10.0)]
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let (status, _, _) = raw(agent()
        .post(&server.url(&format!("/api/v1/events?key={}", t.ingest)))
        .header("X-Forwarded-For", "198.51.100.1")
        .header("User-Agent", UA1)
        .content_type("text/plain;charset=UTF-8")
        .send(ndjson));
    assert_eq!(status, 202);
    // CORS preflight for a browser on another origin.
    let (status, _, headers) = raw(agent().run(
        ureq::http::Request::builder()
            .method("OPTIONS")
            .uri(server.url("/api/v1/events"))
            .header("Origin", "https://player.example.com")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type,x-ingest-key")
            .body(())
            .unwrap(),
    ));
    assert_eq!(status, 200);
    assert_eq!(headers.get("access-control-allow-origin").unwrap(), "*");
    // A property-tagged playback of a VOD, and a bot that counts nothing.
    let mut vod = ev("play", &at("09:30:00"), "v1", "vod-1");
    vod["property"] = json!("web");
    vod["referrer"] = json!("https://www.news.example/article/42?utm=x");
    server.post_events(&t.ingest, IP1, UA1, &json!([vod]));
    server.post_events(
        &t.ingest,
        IP1,
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        &json!([ev("play", &at("09:40:00"), "bot", "vod-1")]),
    );
    server.post_events(&t.ingest, IP1, "", &json!([ev("play", &at("09:41:00"), "empty-ua", "vod-1")]));
    // Catalogue: kind and category come from it.
    let ndjson = r#"{"content_id":"live-1","title":"Keynote","kind":"live","media":"video","category":"events"}
{"content_id":"vod-1","title":"Tutorial","kind":"vod","media":"video","category":"education"}"#;
    assert_eq!(server.send("PUT", "/api/v1/contents", &t.admin, ndjson).status, 200);
    assert_eq!(
        server.send("PUT", "/api/v1/contents", &t.admin, r#"{"content_id":"x","kind":"film"}"#).status,
        400
    );
    let v = server.metrics(&t.read, &format!("{DAY}&metrics=starts,time&group_by=content_kind,category"));
    assert_eq!(
        v["rows"],
        json!([
            { "content_kind": "live", "category": "events", "starts": 1, "time": 10.0 },
            { "content_kind": "vod", "category": "education", "starts": 1, "time": 0.0 }
        ])
    );
    // Missing property counts under "Others"; filters by property.
    let v = server.metrics(&t.read, &format!("{DAY}&metrics=starts&group_by=property"));
    assert_eq!(v["rows"], json!([{ "property": "Others", "starts": 1 }, { "property": "web", "starts": 1 }]));
    let v = server.metrics(&t.read, &format!("{DAY}&metrics=starts&filter=property:web"));
    assert_eq!(v["totals"]["starts"], 1);
    let v = server.metrics(&t.read, &format!("{DAY}&metrics=starts&group_by=referrer_host&filter=content_id:vod-1"));
    assert_eq!(v["rows"], json!([{ "referrer_host": "news.example", "starts": 1 }]));
    let v = server.metrics(&t.read, &format!("{DAY}&metrics=starts&filter=category:education,title:Tutorial"));
    assert_eq!(v["totals"]["starts"], 1);
    // CSV by Accept header.
    let (status, body, headers) = raw(agent()
        .get(&server.url(&format!("/api/v1/metrics?{DAY}&metrics=starts,devices&group_by=content_id")))
        .header("Authorization", &format!("Bearer {}", t.read))
        .header("Accept", "text/csv")
        .call());
    assert_eq!(status, 200);
    assert!(headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/csv"));
    assert_eq!(body, "content_id,starts,devices\nlive-1,1,1\nvod-1,1,1\n");
}

#[test]
fn settings_and_observability() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("knobs");
    let s = server.get("/api/v1/settings", &t.admin).json();
    assert_eq!(s["view_window"], "4h");
    assert_eq!(s["stream_min_player"], "5s");
    assert_eq!(s["min_bytes"], "70000");
    let r = server.send("PUT", "/api/v1/settings", &t.admin, r#"{"stream_min_player":"3s","timezone":"Europe/Berlin"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = server.send("PUT", "/api/v1/settings", &t.admin, r#"{"view_window":"forever"}"#);
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].as_str().unwrap().contains("view_window"));
    // The new threshold counts: 4 s of playback is now a stream.
    server.post_events(
        &t.ingest,
        IP1,
        UA1,
        &json!([ev("play", &at("10:00:00"), "P", "A"), playing(&at("10:00:04"), "P", "A", 4.0)]),
    );
    let v = server.metrics(&t.read, &format!("{DAY}&metrics=streams&group_by=day"));
    assert_eq!(v["totals"]["streams"], 1);
    // The tenant's time zone is the default for grouping.
    assert_eq!(v["rows"][0]["day"], "2026-03-02T00:00:00+01:00");
    let health = agent().get(&server.url("/healthz")).call().unwrap().body_mut().read_json::<Value>().unwrap();
    assert_eq!(health["status"], "ok");
    let prom = agent().get(&server.url("/metrics")).call().unwrap().body_mut().read_to_string().unwrap();
    assert!(prom.contains("streamtally_events_accepted_total 2"), "{prom}");
    assert!(prom.contains("streamtally_wal_append_seconds_count"));
    assert!(prom.contains("streamtally_fact_write_seconds"));
    assert!(prom.contains("streamtally_wal_lag_records 0"));
}

#[test]
fn a_plain_date_is_a_day_of_the_asked_zone() {
    // 02:00 UTC on 2 March is 23:00 on 1 March in São Paulo (UTC−3).
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let t = server.tenant("zoned");
    server.post_events(&t.ingest, IP1, UA1, &json!([ev("play", &at("02:00:00"), "z1", "A")]));
    let starts = |query: &str| server.metrics(&t.read, &format!("{query}&metrics=starts"))["totals"]["starts"].clone();
    let first_of_march = "from=2026-03-01&to=2026-03-02";
    assert_eq!(starts(&format!("{first_of_march}&tz=America/Sao_Paulo")), 1);
    assert_eq!(starts(&format!("{first_of_march}&tz=UTC")), 0);
    assert_eq!(starts(&format!("{DAY}&tz=America/Sao_Paulo")), 0);
    // An instant is an instant, whatever the zone.
    assert_eq!(starts("from=2026-03-02T01:00:00Z&to=2026-03-02T03:00:00Z&tz=America/Sao_Paulo"), 1);
    server.stop();
}

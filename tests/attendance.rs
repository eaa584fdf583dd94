//! Access codes and attendance (spec §6) through the real server: worked
//! example 9, playback tokens, SecureIDs, the nginx `auth_request` endpoint,
//! failed attempts and the abuse guard, revocation, a playback crossing
//! midnight in the tenant's time zone, consent, erasure and the offline report.

mod support;

use serde_json::{json, Value};
use support::*;

/// `playing` reports every 10 s, each covering the 10 s before it, from
/// `from` + 10 s to `to`: the playback plays exactly `[from, to]`.
fn tab(pid: &str, content: &str, day: &str, from: &str, to: &str, access: (&str, &str)) -> Value {
    let t = |hms: &str| chrono::DateTime::parse_from_rfc3339(&format!("{day}T{hms}Z")).unwrap();
    let (mut at, end) = (t(from), t(to));
    let mut out = vec![json!({ "type": "play", "ts": at.to_rfc3339(), "playback_id": pid, "content_id": content, access.0: access.1 })];
    while at < end {
        at += chrono::Duration::seconds(10);
        out.push(json!({ "type": "playing", "ts": at.to_rfc3339(), "playback_id": pid, "content_id": content, "duration": 10, access.0: access.1 }));
    }
    Value::Array(out)
}

fn rows(v: &Value) -> Vec<(String, String, String, f64, String, String)> {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["access_code"].as_str().unwrap().to_string(),
                r["content_id"].as_str().unwrap().to_string(),
                r["day"].as_str().unwrap().to_string(),
                r["watched_seconds"].as_f64().unwrap(),
                r["first_activity"].as_str().unwrap().to_string(),
                r["last_activity"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Failed attempts on `content` in an `/api/v1/access/failures` answer.
fn failed_on(failures: &Value, content: &str) -> i64 {
    failures["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["content_id"] == content)
        .map(|r| r["failed"].as_i64().unwrap())
        .sum()
}

fn check(server: &Server, key: &str, ip: &str, body: Value) -> Reply {
    server.request(
        "POST",
        "/api/v1/access/check",
        &[("X-Ingest-Key", key), ("X-Forwarded-For", ip)],
        body.to_string(),
    )
}

fn setup(server: &Server, name: &str) -> TenantKeys {
    let t = server.tenant(name);
    server.set(&t, json!({ "attendance": true }));
    let r = server.send("PUT", "/api/v1/access/codes", &t.admin, &json!(["A-1001", "B-2002", "C-3003"]).to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    t
}

#[test]
fn example_9_overlapping_tabs_and_a_wrong_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = setup(&server, "cme");
    // Two tabs of the same code, 09:00–09:30 and 09:20–09:45.
    server.post_events(
        &t.ingest,
        IP1,
        UA1,
        &tab("tab1", "L", "2026-03-02", "09:00:00", "09:30:00", ("access_code", "A-1001")),
    );
    server.post_events(
        &t.ingest,
        IP1,
        UA1,
        &tab("tab2", "L", "2026-03-02", "09:20:00", "09:45:00", ("access_code", "A-1001")),
    );
    server.post_events(
        &t.ingest,
        "198.51.100.7",
        UA1,
        &tab("w", "L", "2026-03-02", "09:00:00", "10:00:00", ("access_code", "WRONG")),
    );
    server.wait_idle();
    let r = server.get("/api/v1/attendance?from=2026-03-02&to=2026-03-03", &t.read);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        rows(&r.json()),
        vec![("A-1001".into(), "L".into(), "2026-03-02".into(), 2700.0, at("09:00:00"), at("09:45:00"))]
    );
    let csv = server.get("/api/v1/attendance?from=2026-03-02&to=2026-03-03&format=csv", &t.read);
    assert_eq!(
        csv.body,
        "access_code,content_id,day,watched_seconds,first_activity,last_activity\nA-1001,L,2026-03-02,2700,2026-03-02T09:00:00Z,2026-03-02T09:45:00Z\n"
    );
    // The wrong code's playback still counts as an audience, without a code.
    let m = server.metrics(&t.read, &format!("{DAY}&metrics=starts"));
    assert_eq!(m["totals"]["starts"], 3);

    // Offline, the same report.
    server.stop();
    let out = std::process::Command::new(bin())
        .args([
            "report",
            "attendance",
            "--tenant",
            "cme",
            "--from",
            "2026-03-02",
            "--to",
            "2026-03-03",
            "--format",
            "csv",
            "--data",
        ])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), csv.body);
}

#[test]
fn tokens_secure_ids_auth_request_failures_and_the_abuse_guard() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--access-failures-per-ip", "3"]);
    let t = setup(&server, "cme");

    // The player checks a code and gets a token bound to the content.
    let r = check(&server, &t.ingest, IP1, json!({ "content_id": "L", "code": "A-1001" }));
    assert_eq!(r.status, 200, "{}", r.body);
    let token = r.json()["token"].as_str().unwrap().to_string();
    assert!(!token.contains("A-1001"));
    // Events carry the token instead of the code and are attributed to the code.
    server.post_events(
        &t.ingest,
        IP1,
        UA1,
        &tab("p", "L", "2026-03-02", "10:00:00", "10:10:00", ("access_token", &token)),
    );
    // The token is for L: on another content it attributes nothing.
    server.post_events(
        &t.ingest,
        IP1,
        UA1,
        &tab("q", "M", "2026-03-02", "10:00:00", "10:10:00", ("access_token", &token)),
    );

    // SecureIDs: signed by the customer's site with the tenant's secret.
    let r = server.send("POST", "/api/v1/access/secret", &t.admin, "");
    let secret = r.json()["secret"].as_str().unwrap().to_string();
    let sid = streamtally_access::sign_secure_id(&secret, "dr-4711", chrono::Utc::now().timestamp() + 3600);
    let r = check(&server, &t.ingest, IP1, json!({ "content_id": "L", "code": sid }));
    assert_eq!(r.status, 200, "{}", r.body);
    server.post_events(&t.ingest, IP1, UA1, &tab("s", "L", "2026-03-02", "11:00:00", "11:05:00", ("access_code", &sid)));
    let expired = streamtally_access::sign_secure_id(&secret, "dr-4711", chrono::Utc::now().timestamp() - 1);
    assert_eq!(
        check(&server, &t.ingest, "198.51.100.1", json!({ "content_id": "L", "code": expired })).status,
        403
    );

    server.wait_idle();
    let report = server.get("/api/v1/attendance?from=2026-03-02&to=2026-03-03", &t.read).json();
    let got: Vec<(String, String, f64)> = rows(&report).into_iter().map(|r| (r.0, r.1, r.3)).collect();
    assert_eq!(got, vec![("A-1001".into(), "L".into(), 600.0), ("dr-4711".into(), "L".into(), 300.0)]);

    // nginx auth_request: the original URI carries the code or the token.
    let auth = |ip: &str, uri: &str| {
        server.request(
            "GET",
            "/api/v1/access/auth",
            &[("X-Ingest-Key", &t.ingest), ("X-Forwarded-For", ip), ("X-Original-URI", uri)],
            "",
        )
    };
    let ok = auth("198.51.100.2", "/live/L/index.m3u8?code=B-2002");
    assert_eq!(ok.status, 200);
    let issued = ok.header("x-playback-token").unwrap().to_string();
    assert_eq!(auth("198.51.100.2", &format!("/live/L/seg_00042.ts?token={issued}")).status, 200);
    assert_eq!(auth("198.51.100.2", &format!("/live/M/seg_00042.ts?token={issued}")).status, 403);
    assert_eq!(auth("198.51.100.2", "/live/L/index.m3u8").status, 401);
    let no_key = server.request("GET", "/api/v1/access/auth", &[("X-Original-URI", "/live/L/index.m3u8?code=B-2002")], "");
    assert_eq!(no_key.status, 401);

    // Failures are counted per content, never with the code; after 3 from one
    // address every check from it is refused, even a right one.
    let guesser = "192.0.2.66";
    for guess in ["A-1000", "A-1002", "A-1003"] {
        assert_eq!(check(&server, &t.ingest, guesser, json!({ "content_id": "L", "code": guess })).status, 403);
    }
    let blocked = check(&server, &t.ingest, guesser, json!({ "content_id": "L", "code": "A-1001" }));
    assert_eq!(blocked.status, 429, "{}", blocked.body);
    assert!(blocked.header("retry-after").is_some());
    assert_eq!(check(&server, &t.ingest, IP1, json!({ "content_id": "L", "code": "A-1001" })).status, 200);
    let failures = server.get("/api/v1/access/failures", &t.read);
    assert_eq!(failures.status, 200);
    let f = failures.json();
    let on_l = failed_on(&f, "L");
    // The expired SecureID and the three guesses (the token sent with events
    // of another content is an attempt on that content, not on L).
    assert_eq!(on_l, 4, "{f}");
    assert!(!failures.body.contains("A-1000"), "codes of failed attempts are never stored");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let abuse = server.get("/api/v1/abuse", &t.admin).json();
    assert!(abuse.to_string().contains("repeated access-code failures"), "{abuse}");
    server.stop();
}

#[test]
fn revoked_codes_stop_counting_and_days_follow_the_tenant_zone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = setup(&server, "cme");
    server.set(&t, json!({ "timezone": "Europe/Berlin" }));

    // B-2002 watches 10 minutes, is revoked, and its later reports count for nothing.
    let token = check(&server, &t.ingest, IP1, json!({ "content_id": "L", "code": "B-2002" })).json()["token"]
        .as_str()
        .unwrap()
        .to_string();
    server.post_events(
        &t.ingest,
        IP1,
        UA1,
        &tab("b1", "L", "2026-03-02", "10:00:00", "10:10:00", ("access_code", "B-2002")),
    );
    let r = server.request(
        "DELETE",
        "/api/v1/access/codes?code=B-2002",
        &[("Authorization", &format!("Bearer {}", t.admin))],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    server.post_events(
        &t.ingest,
        IP1,
        UA1,
        &tab("b2", "L", "2026-03-02", "10:10:00", "10:20:00", ("access_code", "B-2002")),
    );
    server.post_events(
        &t.ingest,
        IP1,
        UA1,
        &tab("b3", "L", "2026-03-02", "10:20:00", "10:30:00", ("access_token", &token)),
    );
    assert_eq!(check(&server, &t.ingest, IP1, json!({ "content_id": "L", "code": "B-2002" })).status, 403);
    let listed = server.get("/api/v1/access/codes", &t.admin).json();
    let b = listed["codes"].as_array().unwrap().iter().find(|c| c["code"] == "B-2002").unwrap().clone();
    assert!(b["revoked"].is_string(), "{listed}");

    // C-3003 plays 22:50–23:10 UTC: 23:50–00:10 in Berlin, across local midnight.
    server.post_events(
        &t.ingest,
        IP1,
        UA1,
        &tab("c", "L", "2026-03-02", "22:50:00", "23:10:00", ("access_code", "C-3003")),
    );
    server.wait_idle();
    let report = server.get("/api/v1/attendance?from=2026-03-02&to=2026-03-04", &t.read).json();
    assert_eq!(
        rows(&report),
        vec![
            (
                "B-2002".into(),
                "L".into(),
                "2026-03-02".into(),
                600.0,
                "2026-03-02T11:00:00+01:00".into(),
                "2026-03-02T11:10:00+01:00".into()
            ),
            (
                "C-3003".into(),
                "L".into(),
                "2026-03-02".into(),
                600.0,
                "2026-03-02T23:50:00+01:00".into(),
                "2026-03-03T00:00:00+01:00".into()
            ),
            (
                "C-3003".into(),
                "L".into(),
                "2026-03-03".into(),
                600.0,
                "2026-03-03T00:00:00+01:00".into(),
                "2026-03-03T00:10:00+01:00".into()
            ),
        ]
    );
    // One code, one content: filters.
    let only = server
        .get("/api/v1/attendance?from=2026-03-02&to=2026-03-04&access_code=C-3003&content_id=L", &t.read)
        .json();
    assert_eq!(rows(&only).len(), 2);

    // Erasure of a code removes its attendance.
    let r = server.request(
        "DELETE",
        "/api/v1/subjects?access_code=C-3003",
        &[("Authorization", &format!("Bearer {}", t.admin))],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let after = server.get("/api/v1/attendance?from=2026-03-02&to=2026-03-04", &t.read).json();
    assert_eq!(rows(&after).iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["B-2002"]);
    server.stop();
}

#[test]
fn without_consent_codes_are_checked_but_not_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = setup(&server, "cme");
    server.set(&t, json!({ "attendance": false }));
    assert_eq!(check(&server, &t.ingest, IP1, json!({ "content_id": "L", "code": "A-1001" })).status, 200);
    assert_eq!(check(&server, &t.ingest, IP1, json!({ "content_id": "L", "code": "nope" })).status, 403);
    server.post_events(
        &t.ingest,
        IP1,
        UA1,
        &tab("p", "L", "2026-03-02", "09:00:00", "09:30:00", ("access_code", "A-1001")),
    );
    server.wait_idle();
    let report = server.get("/api/v1/attendance?from=2026-03-02&to=2026-03-03", &t.read).json();
    assert!(rows(&report).is_empty(), "{report}");
    // The playback itself is counted.
    assert_eq!(server.metrics(&t.read, &format!("{DAY}&metrics=time"))["totals"]["time"], 1800.0);
    // Only admins manage the list.
    let r = server.send("PUT", "/api/v1/access/codes", &t.read, "[\"X\"]");
    assert_eq!(r.status, 403);
    let r = server.send("PUT", "/api/v1/access/codes", &t.admin, "code,expires\nX,next week\n");
    assert_eq!(r.status, 400, "{}", r.body);
    server.stop();
    // Nothing of the code reached storage.
    assert!(!grep_dir(&dir.path().join("data"), b"A-1001"), "an access code was written without consent");
}

/// Whether any file under `dir` other than the metadata (which holds the list) contains `needle`.
fn grep_dir(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let p = e.path();
        if p.is_dir() {
            grep_dir(&p, needle)
        } else {
            !p.file_name().unwrap().to_string_lossy().starts_with("meta.sqlite")
                && std::fs::read(&p).unwrap_or_default().windows(needle.len()).any(|w| w == needle)
        }
    })
}

#[test]
fn failures_take_any_range_text_without_breaking() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = setup(&server, "cme");
    // Multi-byte characters where a date is expected: an answer, not a dropped connection.
    let r = server.get("/api/v1/access/failures?from=%E2%82%AC%E2%82%AC%E2%82%AC%E2%82%AC", &t.read);
    assert_eq!(r.status, 200, "{}", r.body);
    server.stop();
}

#[test]
fn events_with_a_rejected_code_are_failed_attempts_not_attendance() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = setup(&server, "refused");
    // One playback sends a wrong code in every heartbeat, over two batches.
    let events = tab("w1", "L", "2026-03-02", "09:00:00", "09:01:00", ("access_code", "WRONG"));
    server.post_events(&t.ingest, IP1, UA1, &events);
    server.post_events(&t.ingest, IP1, UA1, &events);
    // Another playback with a wrong code: a second attempt.
    server.post_events(
        &t.ingest,
        IP1,
        UA1,
        &tab("w2", "L", "2026-03-02", "09:00:00", "09:00:20", ("access_code", "NOPE")),
    );
    server.wait_idle();
    let f = server.get("/api/v1/access/failures?from=2026-03-01&to=2026-03-03", &t.read).json();
    let on_l = failed_on(&f, "L");
    assert_eq!(on_l, 2, "one failed attempt per playback: {f}");
    let a = server.get("/api/v1/attendance?from=2026-03-01&to=2026-03-03", &t.read).json();
    assert!(rows(&a).is_empty(), "{a}");
}

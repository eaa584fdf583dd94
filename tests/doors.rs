//! Doors and limits (docs/SECURITY.md): what a hostile or careless client can
//! do to the server, through the real binary on loopback.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use support::*;

/// Reads until the server closes the connection (or `limit` passes); returns
/// what was read and when the connection ended.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), Some(started.elapsed())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), Some(started.elapsed())),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), None)
}

#[test]
fn a_slow_loris_is_cut_off_within_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--header-timeout", "2s"]);
    let mut s = TcpStream::connect(server.host()).unwrap();
    let started = Instant::now();
    // One byte every 300 ms: the head would take about 15 s.
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Padding: {}\r\n\r\n", server.host(), "a".repeat(20));
    let mut cut = None;
    for b in head.bytes() {
        if s.write_all(&[b]).is_err() {
            cut = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        s.set_nonblocking(true).unwrap();
        let mut probe = [0u8; 256];
        let closed = match s.read(&mut probe) {
            Ok(_) => true,
            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
        };
        s.set_nonblocking(false).unwrap();
        if closed {
            cut = Some(started.elapsed());
            break;
        }
    }
    let cut = cut.expect("the slow client was never cut off");
    assert!(cut < Duration::from_secs(4), "cut off after {cut:?}");
}

#[test]
fn an_idle_kept_alive_connection_is_closed_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--header-timeout", "2s"]);
    let mut s = TcpStream::connect(server.host()).unwrap();
    write!(s, "GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", server.host()).unwrap();
    let (answer, closed) = read_until_closed(&mut s, Duration::from_secs(8));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let closed = closed.expect("the idle connection stayed open");
    assert!(
        closed >= Duration::from_millis(1_500) && closed < Duration::from_secs(4),
        "closed after {closed:?}"
    );
}

#[test]
fn a_slow_body_is_answered_408() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--body-timeout", "1s"]);
    let t = server.tenant("acme");
    let mut s = TcpStream::connect(server.host()).unwrap();
    write!(
        s,
        "POST /api/v1/events HTTP/1.1\r\nHost: {}\r\nX-Ingest-Key: {}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[",
        server.host(),
        t.ingest
    )
    .unwrap();
    let (answer, _) = read_until_closed(&mut s, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive"), "{answer}");
}

#[test]
fn healthz_answers_while_two_thousand_idle_connections_are_held() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let idle: Vec<TcpStream> = (0..2_000).map(|_| TcpStream::connect(server.host()).unwrap()).collect();
    // Every connection is accepted (and held) before the measurement.
    std::thread::sleep(Duration::from_millis(500));
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            let r = server.request("GET", "/healthz", &[], "");
            assert_eq!(r.status, 200, "{}", r.body);
            started.elapsed()
        })
        .collect();
    times.sort();
    assert!(times[2] < Duration::from_millis(100), "/healthz took {times:?}");
    drop(idle);
}

#[test]
fn connections_past_the_cap_of_an_address_are_answered_503() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--max-connections-per-ip", "20"]);
    let held: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(server.host()).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(server.host()).unwrap();
    let (answer, closed) = read_until_closed(&mut extra, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("as many connections"), "{answer}");
    assert!(closed.is_some());
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.request("GET", "/healthz", &[], "").status, 200);
}

#[test]
fn wrong_secrets_cost_little_cpu_and_end_in_429() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("acme");
    // A real key id with a wrong secret, as a guesser would send it.
    let (prefix, _) = t.read.rsplit_once('_').unwrap();
    let wrong = format!("{prefix}_{}", "0".repeat(32));
    // The tenant's own player behind the same address, seen before the guessing.
    let body = json!([ev("play", &at("10:00:00"), "p1", "V")]);
    server.post_events(&t.ingest, IP1, UA1, &body);
    let before = server.cpu_time();
    let mut statuses = Vec::new();
    for _ in 0..1_000 {
        let r = server.request(
            "GET",
            "/api/v1/metrics?from=2026-03-01&to=2026-03-02",
            &[("Authorization", &format!("Bearer {wrong}")), ("X-Forwarded-For", IP1)],
            "",
        );
        statuses.push(r.status);
    }
    let spent = server.cpu_time().saturating_sub(before);
    assert!(spent < Duration::from_secs(1), "1 000 wrong secrets cost {spent:?} of CPU");
    assert!(statuses[..10].iter().all(|&s| s == 401), "{:?}", &statuses[..10]);
    assert_eq!(*statuses.last().unwrap(), 429);
    // The crowd's known key still works from the guessing address.
    assert_eq!(server.try_post_events(&t.ingest, IP1, UA1, &body).unwrap().status, 202);
    let blocked = server.get("/api/v1/abuse", ADMIN_KEY).json();
    assert!(
        blocked["blocked"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["reason"] == "repeated authentication failures" && b["ip"] == IP1),
        "{blocked}"
    );
}

fn check(server: &Server, key: &str, code: &str) -> Reply {
    server.request(
        "POST",
        "/api/v1/access/check",
        &[("X-Ingest-Key", key), ("X-Forwarded-For", IP1)],
        json!({ "content_id": "LIVE", "code": code }).to_string(),
    )
}

#[test]
fn guessing_one_tenants_codes_locks_nobody_out_of_another() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let a = server.tenant("alpha");
    let b = server.tenant("beta");
    for t in [&a, &b] {
        server.set(t, json!({ "attendance": true }));
        assert_eq!(server.send("PUT", "/api/v1/access/codes", &t.admin, r#"["GOOD-1"]"#).status, 200);
    }
    let mut last = 0;
    for i in 0..25 {
        last = check(&server, &b.ingest, &format!("BAD-{i}")).status;
    }
    assert_eq!(last, 429, "tenant B's guessing was not stopped");
    let r = check(&server, &a.ingest, "GOOD-1");
    assert_eq!(r.status, 200, "tenant A's valid check: {}", r.body);
    let of = |t: &TenantKeys| server.get("/api/v1/abuse", &t.admin).json()["blocked"].as_array().unwrap().len();
    assert_eq!((of(&a), of(&b)), (0, 1));
}

#[test]
fn every_refusal_is_json_that_names_the_parameter_and_never_shows_sql() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("acme");
    let range = "from=2026-03-01&to=2026-03-02";
    let long = format!("/api/v1/live?minutes={}", "9".repeat(400));
    let gets: Vec<(String, u16, &str)> = vec![
        (format!("/api/v1/metrics?{range}&group_by=day,day"), 400, "`group_by` names `day` twice"),
        (format!("/api/v1/metrics?{range}&metrics=starts,starts"), 400, "`metrics` names `starts` twice"),
        (format!("/api/v1/cdn?{range}&group_by=zone,zone"), 400, "`group_by` names `zone` twice"),
        (format!("/api/v1/cdn?{range}&group_by=content_id"), 400, "unknown CDN dimension `content_id`"),
        (format!("/api/v1/metrics?{range}&format=xml"), 400, "unknown `format` `xml`"),
        ("/api/v1/attendance?to=2026-03-02".into(), 400, "`from`"),
        ("/api/v1/live?minutes=-1".into(), 400, "`minutes` must be 1 to 60"),
        (long, 400, "query parameters"),
        ("/api/v1/nothing-here".into(), 404, "no such endpoint"),
    ];
    let mut cases: Vec<(Reply, u16, &str)> = gets
        .into_iter()
        .map(|(path, status, says)| (server.get(&path, &t.read), status, says))
        .collect();
    cases.extend([
        (
            server.request(
                "POST",
                "/api/v1/tenants",
                &[("Authorization", &format!("Bearer {ADMIN_KEY}")), ("Content-Type", "text/plain")],
                "{}",
            ),
            415,
            "Content-Type: application/json",
        ),
        (
            server.send("POST", "/api/v1/tenants", ADMIN_KEY, r#"{"name":"a","name":"b"}"#),
            400,
            "duplicate field `name`",
        ),
        (server.send("POST", "/api/v1/tenants", ADMIN_KEY, "{}"), 400, "missing field `name`"),
        (server.send("PUT", "/api/v1/metrics", &t.read, "{}"), 405, "does not take PUT"),
        (
            server.get(&format!("/api/v1/metrics?{range}"), &t.ingest),
            403,
            "an ingest key cannot do this; it needs a read key",
        ),
    ]);
    for (r, status, says) in cases {
        assert_eq!(r.status, status, "{}", r.body);
        let message = r.json()["error"].as_str().unwrap_or_else(|| panic!("no message: {}", r.body)).to_string();
        assert!(message.contains(says), "`{message}` does not say `{says}`");
        assert!(!message.to_ascii_uppercase().contains("SELECT"), "{message}");
        assert!(message.len() < 400, "{message}");
    }
}

#[test]
fn settings_outside_their_range_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("acme");
    let before = server.get("/api/v1/settings", &t.admin).json();
    for body in [
        json!({ "start_window": "1000000000days" }),
        json!({ "allowed_lateness": "1year" }),
        json!({ "min_bytes": "18446744073709551615" }),
        json!({ "default_audio_kbps": "1e29" }),
    ] {
        let r = server.send("PUT", "/api/v1/settings", &t.admin, &body.to_string());
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert!(r.json()["error"].as_str().unwrap().contains("must be from"), "{}", r.body);
    }
    assert_eq!(server.get("/api/v1/settings", &t.admin).json(), before);
}

fn refusal(r: &Reply, index: usize) -> String {
    let v = r.json();
    v["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors: {v}"))
        .iter()
        .find(|e| e["index"] == index)
        .map(|e| e["message"].as_str().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("event {index} was not refused: {v}"))
}

#[test]
fn absurd_times_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("acme");
    let r = server
        .try_post_events(
            &t.ingest,
            IP1,
            UA1,
            &json!([
                ev("play", "0000-01-01T00:00:00Z", "p1", "V"),
                { "type": "play", "ts": 1_764_579_600, "playback_id": "p2", "content_id": "V" },
                ev("play", &at("10:00:00"), "p3", "V"),
            ]),
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["accepted"], 1);
    assert!(refusal(&r, 0).contains("earliest_input"), "{}", r.body);
    assert!(refusal(&r, 1).contains("epoch milliseconds"), "{}", r.body);
    // A client clock of year 9999 that says its events are of year 0000.
    let r = server.request(
        "POST",
        "/api/v1/events?sent_at=9999-12-31T00:00:00Z",
        &[("X-Ingest-Key", &t.ingest), ("X-Forwarded-For", IP1)],
        json!([ev("play", "0000-01-01T00:00:00Z", "p4", "V")]).to_string(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(refusal(&r, 0).contains("earliest_input"), "{}", r.body);
    // Queries outside the years any input can have are refused, not a 500.
    let r = server.get("/api/v1/metrics?from=0000-01-01&to=2026-03-03&group_by=month", &t.read);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("queries cover"), "{}", r.body);
    // Backfilling older data stays possible within the setting (on a tenant
    // whose counting has not moved past it).
    let archive = server.tenant("archive");
    let old = json!([ev("play", "1995-06-01T10:00:00Z", "p5", "V")]);
    assert_eq!(server.try_post_events(&archive.ingest, IP1, UA1, &old).unwrap().status, 400);
    server.set(&archive, json!({ "earliest_input": "1990-01-01" }));
    let r = server.try_post_events(&archive.ingest, IP1, UA1, &old).unwrap();
    assert_eq!(r.status, 202, "{}", r.body);
}

#[test]
fn implausible_numbers_are_refused_and_time_rows_add_up_to_the_total() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("acme");
    let r = server
        .try_post_events(
            &t.ingest,
            IP1,
            UA1,
            &json!([
                { "type": "playing", "ts": at("10:00:00"), "playback_id": "p1", "content_id": "V", "position": 1e300 },
                { "type": "playing", "ts": at("10:00:00"), "playback_id": "p1", "content_id": "V", "bitrate": 1e29 },
            ]),
        )
        .unwrap();
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["accepted"], 0, "{}", r.body);
    let line = format!("{IP1} - - [02/Mar/2026:08:00:00 +0000] \"GET /podcast/E.mp3 HTTP/1.1\" 200 18446744073709551615 \"-\" \"{UA1}\"\n");
    let r = server.request(
        "POST",
        "/api/v1/logs?format=combined",
        &[("X-Ingest-Key", &t.ingest), ("Content-Type", "text/plain")],
        line,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("more than one response can carry"), "{}", r.body);
    // Fractional times on many contents: the rows of `time` add up to its total exactly.
    let mut events = Vec::new();
    for i in 0..60 {
        let pid = format!("p{i}");
        let content = format!("C{}", i % 7);
        events.push(ev("play", &at("11:00:00"), &pid, &content));
        events.push(playing(&at("11:00:10"), &pid, &content, 0.1 + f64::from(i) * 0.013));
        events.push(playing(&at("11:00:20"), &pid, &content, 0.7));
    }
    server.post_events(&t.ingest, IP1, UA1, &json!(events));
    let grouped = server.metrics(&t.read, &format!("{DAY}&metrics=time&group_by=content_id"));
    let ms = |v: &serde_json::Value| (v.as_f64().unwrap() * 1000.0).round() as i64;
    let rows: i64 = grouped["rows"].as_array().unwrap().iter().map(|r| ms(&r["time"])).sum();
    assert_eq!(rows, ms(&grouped["totals"]["time"]), "{grouped}");
    assert!(rows > 0);
}

/// Opens a live stream on a raw connection; returns the status and the connection.
fn open_stream(server: &Server, key: &str) -> (u16, TcpStream) {
    let mut s = TcpStream::connect(server.host()).unwrap();
    write!(
        s,
        "GET /api/v1/live/stream?interval=1 HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {key}\r\n\r\n",
        server.host()
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    let status = String::from_utf8_lossy(&head[9..12]).parse().unwrap_or(0);
    (status, s)
}

fn live_computations(server: &Server) -> u64 {
    let text = server.request("GET", "/metrics", &[], "").body;
    text.lines()
        .find_map(|l| l.strip_prefix("streamtally_live_computations_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no live_computations in {text}"))
}

#[test]
fn live_streams_are_capped_per_key_and_share_one_computation() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--max-streams-per-key", "5"]);
    let t = server.tenant("acme");
    server.post_events(&t.ingest, IP1, UA1, &json!([ev("play", &at("10:00:00"), "p1", "LIVE")]));
    let streams: Vec<TcpStream> = (0..5)
        .map(|_| {
            let (status, s) = open_stream(&server, &t.read);
            assert_eq!(status, 200);
            s
        })
        .collect();
    let (status, _) = open_stream(&server, &t.read);
    assert_eq!(status, 429, "a sixth stream on one key");
    let before = live_computations(&server);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let computed = live_computations(&server) - before;
    let seconds = started.elapsed().as_secs() + 1;
    // Five subscribers every second share one computation per second.
    assert!(computed <= seconds + 1, "{computed} computations in {seconds} s for 5 subscribers");
    // A query is not starved by the streams.
    assert_eq!(server.get(&format!("/api/v1/metrics?{DAY}"), &t.read).status, 200);
    drop(streams);
    // Closed streams give their places back (noticed at their next push).
    std::thread::sleep(Duration::from_millis(2_500));
    assert_eq!(open_stream(&server, &t.read).0, 200);
}

#[cfg(unix)]
#[test]
fn the_data_folder_and_its_files_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let all_private = |root: &std::path::Path| {
        let mut stack = vec![root.to_path_buf()];
        while let Some(p) = stack.pop() {
            assert_eq!(mode(&p) & 0o077, 0, "{} is {:o}", p.display(), mode(&p));
            if p.is_dir() {
                stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            }
        }
    };
    let server = Server::start(&data, &[]);
    let t = server.tenant("acme");
    server.post_events(&t.ingest, IP1, UA1, &json!([ev("play", &at("10:00:00"), "p1", "V")]));
    server.wait_idle();
    server.stop();
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("meta.sqlite")), 0o600);
    all_private(&data);
    // A folder of an older release (0755, files 0644) is tightened when opened.
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("meta.sqlite"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = Server::start(&data, &[]);
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("meta.sqlite")), 0o600);
    server.stop();
}

fn parquet_files(root: &std::path::Path) -> usize {
    let mut n = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            stack.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.extension().is_some_and(|e| e == "parquet") {
            n += 1;
        }
    }
    n
}

#[test]
fn a_batch_spread_over_years_writes_a_few_files_not_one_per_day() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, &[]);
    let t = server.tenant("archive");
    server.set(&t, json!({ "earliest_input": "1990-01-01" }));
    // 3 000 plays on different days of 1990–98, in time order (a backfill).
    let start = chrono::NaiveDate::from_ymd_opt(1990, 1, 1).unwrap();
    let events: Vec<_> = (0..3_000)
        .map(|i| {
            let day = start + chrono::Duration::days(i);
            ev("play", &format!("{day}T12:00:00Z"), &format!("p{i}"), "OLD")
        })
        .collect();
    server.post_events(&t.ingest, IP1, UA1, &json!(events));
    server.wait_idle();
    let starts = server.metrics(&t.read, "from=1990-01-01&to=1999-01-01&metrics=starts")["totals"]["starts"].clone();
    assert_eq!(starts, 3_000);
    server.stop();
    // Facts and raw events of nine years: a folder per year, not 6 000 files.
    let files = parquet_files(&data);
    assert!(files > 0 && files <= 40, "{files} files");
    let server = Server::start(&data, &[]);
    let starts = server.metrics(&t.read, "from=1994-01-01&to=1994-02-01&metrics=starts")["totals"]["starts"].clone();
    assert_eq!(starts, 31);
    server.stop();
}

//! Every route × every wrong way of asking (docs/SECURITY.md, "Tenant
//! isolation"): no key, a garbage key, another tenant's key, a key of too low
//! a role, a revoked key — each refused as it should be, and the right key
//! let through. A route added to the server without a row here fails
//! `every_route_is_in_the_table`.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde_json::json;
use support::*;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Needs {
    Ingest,
    Read,
    Admin,
    /// The server administrator only.
    Server,
}

struct Route {
    method: &'static str,
    /// With `{tenant}` where `?tenant=` goes.
    path: &'static str,
    needs: Needs,
    body: &'static str,
    content_type: &'static str,
}

const JSON: &str = "application/json";

fn routes() -> Vec<Route> {
    let r = |method, path, needs, body| Route {
        method,
        path,
        needs,
        body,
        content_type: JSON,
    };
    vec![
        r(
            "POST",
            "/api/v1/events?tenant={tenant}",
            Needs::Ingest,
            r#"[{"type":"play","ts":"2026-03-02T10:00:00Z","playback_id":"p","content_id":"V"}]"#,
        ),
        Route {
            content_type: "text/plain",
            ..r(
                "POST",
                "/api/v1/logs?format=combined&tenant={tenant}",
                Needs::Ingest,
                "192.0.2.1 - - [02/Mar/2026:10:00:00 +0000] \"GET /e.mp3 HTTP/1.1\" 200 100000 \"-\" \"Podcasts/1.0\"\n",
            )
        },
        r("GET", "/api/v1/logs/imported?file=a.log&tenant={tenant}", Needs::Ingest, ""),
        r("GET", "/api/v1/cdn?from=2026-03-01&to=2026-03-02&tenant={tenant}", Needs::Read, ""),
        r("GET", "/api/v1/overview/monthly?from=2026-03-01&to=2026-04-01&tenant={tenant}", Needs::Read, ""),
        r("GET", "/api/v1/metrics?from=2026-03-01&to=2026-03-02&tenant={tenant}", Needs::Read, ""),
        r("GET", "/api/v1/qoe?from=2026-03-01&to=2026-03-02&tenant={tenant}", Needs::Read, ""),
        r("GET", "/api/v1/settings?tenant={tenant}", Needs::Admin, ""),
        r("PUT", "/api/v1/settings?tenant={tenant}", Needs::Admin, r#"{"view_window":"4h"}"#),
        r("GET", "/api/v1/contents?tenant={tenant}", Needs::Read, ""),
        r(
            "PUT",
            "/api/v1/contents?tenant={tenant}",
            Needs::Admin,
            r#"[{"content_id":"V","kind":"vod"},{"content_id":"L","duration":3600}]"#,
        ),
        // After the catalogue gave L a duration: a curve to draw.
        r("GET", "/api/v1/contents/L/retention?tenant={tenant}", Needs::Read, ""),
        r("GET", "/api/v1/tenants", Needs::Server, ""),
        r("POST", "/api/v1/tenants", Needs::Server, r#"{"name":"made-by-the-table"}"#),
        r("GET", "/api/v1/keys?tenant={tenant}", Needs::Admin, ""),
        r("POST", "/api/v1/keys?tenant={tenant}", Needs::Admin, r#"{"role":"read"}"#),
        r("DELETE", "/api/v1/keys/{spare}?tenant={tenant}", Needs::Admin, ""),
        r("GET", "/api/v1/accounts?tenant={tenant}", Needs::Admin, ""),
        r(
            "POST",
            "/api/v1/accounts?tenant={tenant}",
            Needs::Admin,
            r#"{"email":"made-by-the-table@example.org","password":"a long enough password","role":"read"}"#,
        ),
        r("DELETE", "/api/v1/accounts/{account}?tenant={tenant}", Needs::Admin, ""),
        r(
            "PUT",
            "/api/v1/users?tenant={tenant}",
            Needs::Admin,
            r#"[{"user_id":"u-table","name":"Ana","registered_at":"2026-03-02T10:00:00Z"}]"#,
        ),
        r("GET", "/api/v1/users/u-table?tenant={tenant}", Needs::Admin, ""),
        r(
            "GET",
            "/api/v1/users/u-table/activity?from=2026-03-01&to=2026-03-03&tenant={tenant}",
            Needs::Admin,
            "",
        ),
        r("GET", "/api/v1/audience/lookups?tenant={tenant}", Needs::Admin, ""),
        r(
            "GET",
            "/api/v1/audience/registrations?from=2026-03-01&to=2026-03-03&tenant={tenant}",
            Needs::Read,
            "",
        ),
        // After the look-up above, which needs the user.
        r("DELETE", "/api/v1/users/u-table?tenant={tenant}", Needs::Admin, ""),
        r("DELETE", "/api/v1/subjects?device_id=d1&tenant={tenant}", Needs::Admin, ""),
        r("GET", "/api/v1/abuse?tenant={tenant}", Needs::Admin, ""),
        r("GET", "/api/v1/live?tenant={tenant}", Needs::Read, ""),
        r("GET", "/api/v1/live/stream?tenant={tenant}", Needs::Read, ""),
        r("GET", "/api/v1/live/overview?tenant={tenant}", Needs::Read, ""),
        r("GET", "/api/v1/live/L/concurrency?tenant={tenant}", Needs::Read, ""),
        r("GET", "/api/v1/live/L/summary?tenant={tenant}", Needs::Read, ""),
        r("GET", "/api/v1/access/codes?tenant={tenant}", Needs::Admin, ""),
        r("PUT", "/api/v1/access/codes?tenant={tenant}", Needs::Admin, r#"["X-1"]"#),
        r("POST", "/api/v1/access/secret?tenant={tenant}", Needs::Admin, ""),
        r(
            "POST",
            "/api/v1/access/check?tenant={tenant}",
            Needs::Ingest,
            r#"{"content_id":"L","code":"X-1"}"#,
        ),
        r("GET", "/api/v1/access/auth?content_id=L&code=X-1&tenant={tenant}", Needs::Ingest, ""),
        r("GET", "/api/v1/access/failures?tenant={tenant}", Needs::Read, ""),
        // After the checks above, which use the code it revokes.
        r("DELETE", "/api/v1/access/codes?code=X-1&tenant={tenant}", Needs::Admin, ""),
        r("GET", "/api/v1/attendance?from=2026-03-01&to=2026-03-02&tenant={tenant}", Needs::Read, ""),
    ]
}

/// A new client address for every request: the refusals below would
/// otherwise add up to the failed-authentication budget of one address.
fn next_ip() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("198.18.{}.{}", n / 250, n % 250 + 1)
}

/// The status of one request; a live stream's status is read from its head
/// only (its body never ends).
fn status(server: &Server, route: &Route, path: &str, key: Option<&str>) -> u16 {
    let ip = next_ip();
    let auth = key.map(|k| format!("Bearer {k}"));
    if route.path.starts_with("/api/v1/live/stream") {
        let mut s = TcpStream::connect(server.host()).unwrap();
        let auth_line = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
        write!(s, "GET {path} HTTP/1.1\r\nHost: {}\r\nX-Forwarded-For: {ip}\r\n{auth_line}\r\n", server.host()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        return String::from_utf8_lossy(&head[9..12]).parse().unwrap();
    }
    let mut headers: Vec<(&str, &str)> = vec![("X-Forwarded-For", &ip), ("Content-Type", route.content_type)];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    let r = server.request(route.method, path, &headers, route.body);
    if r.status >= 400 {
        // Every refusal is JSON with a message (an access check's "no" is its answer).
        let v = r.json();
        assert!(v["error"].is_string() || v["allowed"] == false, "{} {path}: {}", route.method, r.body);
    }
    r.status
}

#[test]
fn every_route_refuses_every_wrong_key_and_takes_the_right_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let a = server.tenant("alpha");
    let b = server.tenant("beta");
    // A revoked key of each role: used once (so it is remembered), then revoked.
    let revoked = |role: &str| {
        let r = server.send("POST", "/api/v1/keys", &a.admin, &json!({ "role": role }).to_string());
        let key = r.json()["key"].as_str().unwrap().to_string();
        let id = r.json()["key_id"].as_str().unwrap().to_string();
        assert_eq!(server.get("/api/v1/contents", &key).status, if role == "ingest" { 403 } else { 200 });
        assert_eq!(
            server
                .request(
                    "DELETE",
                    &format!("/api/v1/keys/{id}"),
                    &[("Authorization", &format!("Bearer {}", a.admin))],
                    ""
                )
                .status,
            200
        );
        key
    };
    let revoked = [("ingest", revoked("ingest")), ("read", revoked("read")), ("admin", revoked("admin"))];
    // A live content of now, so its live pages have something to show.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let live = json!([
        { "type": "play", "ts": now, "playback_id": "lp", "content_id": "L", "content_kind": "live" },
        { "type": "playing", "ts": now, "playback_id": "lp", "content_id": "L", "content_kind": "live", "duration": 10 },
    ]);
    server.post_events(&a.ingest, IP1, UA1, &live);
    server.wait_idle();
    let spare = server.send("POST", "/api/v1/keys", &a.admin, r#"{"role":"read"}"#).json()["key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let account = server.send(
        "POST",
        "/api/v1/accounts",
        &a.admin,
        r#"{"email":"spare@example.org","password":"a long enough password","role":"read"}"#,
    );
    assert_eq!(account.status, 201, "{}", account.body);
    let account = account.json()["account"]["account_id"].as_str().unwrap().to_string();
    let mut failures = Vec::new();
    for route in routes() {
        let own = route
            .path
            .replace("{tenant}", "alpha")
            .replace("{spare}", &spare)
            .replace("{account}", &account);
        let mut expect = |what: &str, key: Option<&str>, path: &str, wanted: &[u16]| {
            let got = status(&server, &route, path, key);
            if !wanted.contains(&got) {
                failures.push(format!("{} {path} with {what}: {got}, wanted {wanted:?}", route.method));
            }
        };
        expect("no key", None, &own, &[401]);
        expect("a garbage key", Some("st_read_000000000000_00000000000000000000000000000000"), &own, &[401]);
        expect("a garbage text", Some("hello"), &own, &[401]);
        expect("a made-up dashboard session", Some(&format!("sts_{}", "0".repeat(64))), &own, &[401]);
        let role = match route.needs {
            Needs::Ingest => "ingest",
            Needs::Read => "read",
            Needs::Admin | Needs::Server => "admin",
        };
        let dead = &revoked.iter().find(|(r, _)| *r == role).unwrap().1;
        expect("a revoked key", Some(dead), &own, &[401]);
        match route.needs {
            Needs::Ingest => expect("a read key", Some(&a.read), &own, &[403]),
            Needs::Read => expect("an ingest key", Some(&a.ingest), &own, &[403]),
            Needs::Admin | Needs::Server => {
                expect("an ingest key", Some(&a.ingest), &own, &[403]);
                expect("a read key", Some(&a.read), &own, &[403]);
            }
        }
        if route.needs == Needs::Server {
            expect("a tenant's admin key", Some(&b.admin), &own, &[403]);
            expect("the server administrator's key", Some(ADMIN_KEY), &own, &[200, 201]);
            continue;
        }
        // Another tenant's key of the right role, naming this tenant: as if it did not exist.
        let other = match route.needs {
            Needs::Ingest => &b.ingest,
            Needs::Read => &b.read,
            _ => &b.admin,
        };
        expect("another tenant's key", Some(other), &own, &[404]);
        let right = match route.needs {
            Needs::Ingest => &a.ingest,
            Needs::Read => &a.read,
            _ => &a.admin,
        };
        // Let through: whatever the answer, it is not a refusal of the key.
        let got = status(&server, &route, &own, Some(right));
        if matches!(got, 401 | 403 | 404 | 429) {
            failures.push(format!("{} {own} with the right key: {got}", route.method));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_route_is_in_the_table() {
    // The router's API routes, as its OpenAPI document describes them (the
    // router is built from that list; tests/openapi.rs checks it against the
    // router): a new route needs a row above.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let doc = server.request("GET", "/api/v1/openapi.json", &[], "").json();
    let table: Vec<(String, String)> = routes()
        .iter()
        .map(|r| {
            let path = r
                .path
                .split('?')
                .next()
                .unwrap()
                .replace("{spare}", "{key_id}")
                .replace("{account}", "{account_id}")
                .replace("/u-table", "/{user_id}")
                .replace("/L/", "/{content_id}/");
            (r.method.to_string(), path)
        })
        .collect();
    let mut missing = Vec::new();
    let paths = doc["paths"].as_object().expect("the document's paths");
    for (path, item) in paths {
        for (method, _) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            // Public routes: no key to refuse.
            let public = ["/healthz", "/metrics", "/sdk/streamtally.js"].contains(&path.as_str());
            if !public && !table.contains(&(method.clone(), path.clone())) {
                missing.push(format!("{method} {path}"));
            }
        }
    }
    assert!(paths.len() >= 25, "only {} paths described", paths.len());
    assert!(missing.is_empty(), "routes not in the table of tests/routes.rs: {missing:?}");
}

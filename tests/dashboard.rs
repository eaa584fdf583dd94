//! The dashboard through the real server: signing in with a key (CSRF
//! checked, cookies `HttpOnly` and `SameSite=Strict`), every page loading,
//! and the numbers a page shows being the API's answer to the same question
//! — for the range, a filter and a changed range; its CSV links are the API's
//! CSV; a session reads the API but never changes anything; signing out and
//! revoking the key end it.

mod support;

use serde_json::json;
use support::forms::*;
use support::*;

/// The value of a tile of the overview.
fn tile(html: &str, label: &str) -> String {
    let marker = format!("<span class=\"label\">{label}</span><span class=\"value\">");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no tile {label}")) + marker.len();
    html[at..].split('<').next().unwrap().to_string()
}

fn seed(server: &Server, keys: &TenantKeys) {
    server.post_events(
        &keys.ingest,
        "198.51.100.7",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
        &support::browser::two_playbacks(),
    );
    server.post_events(
        &keys.ingest,
        "198.51.100.8",
        "Mozilla/5.0 (Macintosh) Safari/605.1.15",
        &json!([ev("play", &at("12:00:00"), "p3", "news")]),
    );
    server.wait_idle();
}

#[test]
fn signing_in_sets_a_strict_httponly_session_and_checks_csrf() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("dash");
    // Without the form's token the sign-in is refused.
    let r = call(&server, "POST", "/signin", "", Some(&format!("csrf=forged&key={}", keys.read)));
    assert_eq!(r.status, 403);
    assert!(cookie_of(&r, "st_session").is_none());
    let (session, r) = sign_in(&server, &keys.read);
    assert_eq!(r.status, 303, "{}", r.body);
    let set = cookie_of(&r, "st_session").unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    assert!(!set.contains("Secure"), "Secure only over TLS: {set}");
    // A wrong key is told why.
    let (none, r) = sign_in(&server, "st_nonsense");
    assert!(none.is_empty());
    assert_eq!(r.status, 401);
    assert!(r.body.contains("not valid"), "{}", r.body);
    // An ingest key cannot read, so it cannot sign in either.
    let (none, r) = sign_in(&server, &keys.ingest);
    assert!(none.is_empty() && r.status == 401, "{}", r.status);
    // Pages need a session.
    assert_eq!(call(&server, "GET", "/overview", "", None).status, 303);
    assert_eq!(call(&server, "GET", "/overview", &session, None).status, 200);
    server.stop();
}

#[test]
fn the_overview_shows_the_apis_numbers_for_its_range_filter_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("dash");
    seed(&server, &keys);
    let (session, _) = sign_in(&server, &keys.read);
    let view = "range=custom&from=2026-03-02&to=2026-03-02";
    let page = call(&server, "GET", &format!("/overview?{view}"), &session, None);
    assert_eq!(page.status, 200, "{}", page.body);
    let api = server.metrics(&keys.read, "from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z");
    assert_eq!(tile(&page.body, "Starts"), api["totals"]["starts"].to_string());
    assert_eq!(tile(&page.body, "Starts"), "3");
    assert_eq!(tile(&page.body, "Devices"), api["totals"]["devices"].to_string());
    assert_eq!(tile(&page.body, "Time"), "1 min 30 s");
    // A filter: the same question with `filter=`.
    let web = call(&server, "GET", &format!("/overview?{view}&property=web"), &session, None);
    let api_web = server.metrics(&keys.read, "from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z&filter=property:web");
    assert_eq!(tile(&web.body, "Starts"), api_web["totals"]["starts"].to_string());
    assert_eq!(tile(&web.body, "Starts"), "1");
    // Another range: the day before has nothing, and says what to do.
    let before = call(&server, "GET", "/overview?range=custom&from=2026-03-01&to=2026-03-01", &session, None);
    assert_eq!(tile(&before.body, "Starts"), "0");
    assert!(before.body.contains("No events yet"), "empty state");
    // The top contents table lists what the API lists.
    assert!(page.body.contains("<th scope=\"row\">news</th><td>2</td>"), "top contents");
    // Each CSV link is the API's own CSV for the same question.
    let href = page
        .body
        .split("class=\"csv\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(href.starts_with("/api/v1/metrics?"), "{href}");
    let csv = call(&server, "GET", &href, &session, None);
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let same = server.get(&href, &keys.read);
    assert_eq!(csv.body, same.body);
    assert!(csv.body.starts_with("hour,starts,streams,devices,time"), "{}", csv.body);
    server.stop();
}

#[test]
fn every_page_loads_and_a_session_only_reads() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("dash");
    seed(&server, &keys);
    let (session, _) = sign_in(&server, &keys.admin);
    for page in [
        "/overview",
        "/live",
        "/monthly",
        "/quality",
        "/cdn",
        "/attendance",
        "/audience",
        "/settings",
        "/live?range=custom&from=2026-03-02&to=2026-03-02&item=news",
    ] {
        let r = call(&server, "GET", page, &session, None);
        assert_eq!(r.status, 200, "{page}: {}", r.body);
        assert!(r.body.starts_with("<!doctype html>") && r.body.contains("</html>"), "{page}");
        assert!(r.body.len() < 300 * 1024, "{page} weighs {} bytes", r.body.len());
    }
    // The default monthly view (a year) keeps the other pages' default range in its links.
    let monthly = call(&server, "GET", "/monthly", &session, None);
    let overview = monthly
        .body
        .split("<a href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    assert!(overview.starts_with("/overview?"), "{overview}");
    let r = call(&server, "GET", &overview, &session, None);
    assert!(!r.body.contains("class=\"error\""), "{overview}: {}", r.body);
    for asset in ["/assets/app.css", "/assets/app.js"] {
        assert_eq!(call(&server, "GET", asset, "", None).status, 200, "{asset}");
    }
    // The API takes the session for reads…
    let r = call(&server, "GET", "/api/v1/metrics?from=2026-03-02&to=2026-03-03&metrics=starts", &session, None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["totals"]["starts"], 3);
    // …and never for a change: a cookie alone cannot post, put or delete.
    let r = server.request(
        "POST",
        "/api/v1/keys",
        &[("Cookie", &session), ("Content-Type", "application/json")],
        r#"{"role":"read"}"#,
    );
    assert_eq!(r.status, 401, "{}", r.body);
    server.stop();
}

#[test]
fn signing_out_needs_the_pages_token_and_a_revoked_key_ends_its_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("dash");
    let (session, _) = sign_in(&server, &keys.read);
    let page = call(&server, "GET", "/overview", &session, None);
    let csrf = hidden(&page.body, "csrf");
    assert_eq!(call(&server, "POST", "/signout", &session, Some("csrf=forged")).status, 403);
    assert_eq!(
        call(&server, "GET", "/overview", &session, None).status,
        200,
        "a forged sign-out changes nothing"
    );
    let r = call(&server, "POST", "/signout", &session, Some(&format!("csrf={csrf}")));
    assert_eq!(r.status, 303);
    assert_eq!(call(&server, "GET", "/overview", &session, None).status, 303, "signed out");
    // Revoking the key ends a session made with it at once.
    let (session, _) = sign_in(&server, &keys.read);
    assert_eq!(call(&server, "GET", "/overview", &session, None).status, 200);
    let listed = server.get(&format!("/api/v1/keys?tenant={}", keys.name), &keys.admin).json();
    let id = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["role"] == "read")
        .map(|k| k["key_id"].as_str().unwrap().to_string())
        .unwrap();
    let r = server.request(
        "DELETE",
        &format!("/api/v1/keys/{id}"),
        &[("Authorization", &format!("Bearer {}", keys.admin))],
        "",
    );
    assert!(r.status == 200 || r.status == 204, "{}", r.body);
    assert_eq!(call(&server, "GET", "/overview", &session, None).status, 303, "the revoked key's session ended");
    server.stop();
}

#[test]
fn an_admin_changes_settings_through_the_api_and_a_reader_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("dash");
    let (admin, _) = sign_in(&server, &keys.admin);
    let page = call(&server, "GET", "/settings", &admin, None);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("name=\"s_view_window\""), "every setting has a field");
    let csrf = hidden(&page.body, "csrf");
    assert_eq!(
        call(&server, "POST", "/settings", &admin, Some("csrf=forged&action=settings&s_view_window=2h")).status,
        403
    );
    let saved = call(
        &server,
        "POST",
        "/settings",
        &admin,
        Some(&format!("csrf={csrf}&action=settings&s_view_window=2h")),
    );
    assert!(saved.body.contains("Saved: view_window."), "{}", saved.body);
    assert_eq!(server.get("/api/v1/settings", &keys.admin).json()["view_window"], "2h");
    // The API's own range check answers a bad value.
    let refused = call(
        &server,
        "POST",
        "/settings",
        &admin,
        Some(&format!("csrf={csrf}&action=settings&s_view_window=1000000000days")),
    );
    assert!(refused.body.contains("Not saved"), "{}", refused.body);
    assert_eq!(server.get("/api/v1/settings", &keys.admin).json()["view_window"], "2h");
    // A read key's session sees why it cannot.
    let (reader, _) = sign_in(&server, &keys.read);
    let page = call(&server, "GET", "/settings", &reader, None);
    assert!(page.body.contains("admin key"), "{}", page.body);
    server.stop();
}

#[test]
fn the_server_administrator_switches_between_tenants() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let a = server.tenant("alpha");
    let _b = server.tenant("beta");
    server.post_events(
        &a.ingest,
        "198.51.100.7",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
        &support::browser::two_playbacks(),
    );
    server.wait_idle();
    let (session, r) = sign_in(&server, ADMIN_KEY);
    assert_eq!(r.header("location"), Some("/overview?tenant=alpha"));
    let view = "range=custom&from=2026-03-02&to=2026-03-02";
    let alpha = call(&server, "GET", &format!("/overview?{view}&tenant=alpha"), &session, None);
    assert!(alpha.body.contains("<option value=\"beta\">beta</option>"), "the tenant menu");
    assert_eq!(tile(&alpha.body, "Starts"), "2");
    let beta = call(&server, "GET", &format!("/overview?{view}&tenant=beta"), &session, None);
    assert_eq!(tile(&beta.body, "Starts"), "0");
    // A tenant's own key has no menu, and cannot name another tenant.
    let (own, _) = sign_in(&server, &a.read);
    let page = call(&server, "GET", "/overview", &own, None);
    assert!(!page.body.contains("name=\"tenant\""), "no menu for a tenant's key");
    assert_eq!(call(&server, "GET", "/overview?tenant=beta", &own, None).status, 404);
    server.stop();
}

#[test]
fn the_quality_page_shows_the_apis_figures() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("dash");
    // Two starts of one content: first frames after 1 s and 3 s.
    let events = json!([
        ev("play", &at("10:00:00"), "q1", "news"),
        playing(&at("10:00:01"), "q1", "news", 0.0),
        playing(&at("10:00:11"), "q1", "news", 10.0),
        ev("play", &at("11:00:00"), "q2", "news"),
        playing(&at("11:00:03"), "q2", "news", 0.0),
        playing(&at("11:00:13"), "q2", "news", 10.0),
    ]);
    server.post_events(&keys.ingest, IP1, UA1, &events);
    server.wait_idle();
    let (session, _) = sign_in(&server, &keys.read);
    let page = call(&server, "GET", "/quality?range=custom&from=2026-03-02&to=2026-03-02", &session, None);
    assert_eq!(page.status, 200, "{}", page.body);
    let api = server.get("/api/v1/qoe?from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z", &keys.read).json();
    assert_eq!(api["totals"]["startup_median"], 2.0, "{api}");
    assert_eq!(tile(&page.body, "Startup, median"), "2.00 s");
    assert_eq!(tile(&page.body, "Failed starts"), "0.0 %");
    assert!(
        page.body.contains("<th scope=\"row\">news</th><td>2</td>"),
        "the per-content table: {}",
        page.body
    );
    server.stop();
}

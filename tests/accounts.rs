//! Staff accounts through the real server: made by an admin, they sign in
//! to the dashboard with an e-mail address and a password, read their own
//! tenant through the same API as everyone, and end with their deletion;
//! and the settings page's forms (keys, accounts, access list, erasure, the
//! attendance switch) do what the API then reports.

mod support;

use serde_json::json;
use support::forms::*;
use support::*;

const PASSWORD: &str = "a long enough password";

fn make_account(server: &Server, keys: &TenantKeys, email: &str, role: &str) -> String {
    let r = server.send(
        "POST",
        "/api/v1/accounts",
        &keys.admin,
        &json!({ "email": email, "password": PASSWORD, "role": role }).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(
        !r.body.contains(PASSWORD) && !r.body.contains("argon2"),
        "no password in the answer: {}",
        r.body
    );
    r.json()["account"]["account_id"].as_str().unwrap().to_string()
}

#[test]
fn a_staff_account_signs_in_reads_its_own_tenant_and_ends_when_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("dash");
    let other = server.tenant("other");
    let id = make_account(&server, &keys, "ana@example.org", "read");
    // A weak password and a taken address are refused with the reason.
    let weak = server.send(
        "POST",
        "/api/v1/accounts",
        &keys.admin,
        r#"{"email":"bo@example.org","password":"short","role":"read"}"#,
    );
    assert!(weak.status == 400 && weak.body.contains("10 to 256"), "{}", weak.body);
    let taken = server.send(
        "POST",
        "/api/v1/accounts",
        &other.admin,
        &json!({ "email": "ANA@example.org", "password": PASSWORD, "role": "read" }).to_string(),
    );
    assert_eq!(taken.status, 409, "{}", taken.body);

    let (none, r) = sign_in_as(&server, "ana@example.org", "a long enough passworD");
    assert!(none.is_empty() && r.status == 401 && r.body.contains("wrong"), "{} {}", r.status, r.body);
    let (none, _) = sign_in_as(&server, "nobody@example.org", PASSWORD);
    assert!(none.is_empty());
    let (session, r) = sign_in_as(&server, "ana@example.org", PASSWORD);
    assert_eq!(r.status, 303, "{}", r.body);
    let set = cookie_of(&r, "st_session").unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
    assert_eq!(call(&server, "GET", "/overview", &session, None).status, 200);
    // Its reads go through the API, for its tenant only.
    let own = call(&server, "GET", "/api/v1/metrics?from=2026-03-01&to=2026-03-02&tenant=dash", &session, None);
    assert_eq!(own.status, 200, "{}", own.body);
    let theirs = call(&server, "GET", "/api/v1/metrics?from=2026-03-01&to=2026-03-02&tenant=other", &session, None);
    assert_eq!(theirs.status, 404, "{}", theirs.body);
    // A read account sees no settings and cannot change a thing.
    let page = call(&server, "GET", "/settings", &session, None);
    assert!(page.body.contains("admin key"), "{}", page.body);
    let listed = server.get("/api/v1/accounts", &keys.admin).json();
    assert_eq!(listed["accounts"][0]["email"], "ana@example.org");
    assert!(listed["accounts"][0]["last_sign_in"].is_number(), "{listed}");
    // Deleted: the session ends at once; the address signs in no more.
    let gone = server.request(
        "DELETE",
        &format!("/api/v1/accounts/{id}"),
        &[("Authorization", &format!("Bearer {}", keys.admin))],
        "",
    );
    assert_eq!(gone.status, 200, "{}", gone.body);
    assert_eq!(call(&server, "GET", "/overview", &session, None).status, 303);
    assert_eq!(
        call(&server, "GET", "/api/v1/metrics?from=2026-03-01&to=2026-03-02", &session, None).status,
        401
    );
    assert!(sign_in_as(&server, "ana@example.org", PASSWORD).0.is_empty());
    server.stop();
}

#[test]
fn guessing_passwords_is_stopped_like_guessing_keys() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--auth-failures-per-ip", "3"]);
    let keys = server.tenant("dash");
    make_account(&server, &keys, "ana@example.org", "admin");
    let statuses: Vec<u16> = (0..5)
        .map(|i| sign_in_as(&server, "ana@example.org", &format!("guess number {i}")).1.status)
        .collect();
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // The right password is refused too while the address is blocked.
    let (none, r) = sign_in_as(&server, "ana@example.org", PASSWORD);
    assert!(none.is_empty() && r.status == 429, "{}", r.status);
    server.stop();
}

/// Posts a settings form with the page's CSRF token; the page answered.
fn settings_form(server: &Server, session: &str, fields: &str) -> String {
    let page = call(server, "GET", "/settings", session, None);
    let csrf = hidden(&page.body, "csrf");
    let r = call(server, "POST", "/settings", session, Some(&format!("csrf={csrf}&{fields}")));
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
}

/// The text of the page's note (what the last form did).
fn note(page: &str) -> String {
    let at = page
        .find("<p class=\"note\" role=\"status\">")
        .map(|i| i + 30)
        .unwrap_or_else(|| panic!("no note in {page}"));
    page[at..].split("</p>").next().unwrap().to_string()
}

#[test]
fn an_admin_account_manages_keys_accounts_the_access_list_and_erasure_from_the_settings_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("dash");
    make_account(&server, &keys, "boss@example.org", "admin");
    let (admin, _) = sign_in_as(&server, "boss@example.org", PASSWORD);

    // A key made on the page works, and is revoked from it.
    let made = note(&settings_form(&server, &admin, "action=key_create&role=read"));
    let key = made.rsplit(": ").next().unwrap().to_string();
    assert!(key.starts_with("st_read_"), "{made}");
    assert_eq!(server.get("/api/v1/contents", &key).status, 200);
    let key_id = key.split('_').nth(2).unwrap();
    let revoked = note(&settings_form(&server, &admin, &format!("action=key_revoke&id={key_id}")));
    assert_eq!(revoked, "Revoked the key.");
    assert_eq!(server.get("/api/v1/contents", &key).status, 401);

    // Accounts: made and deleted.
    let made = note(&settings_form(
        &server,
        &admin,
        &format!("action=account_create&email=eve%40example.org&password={}&role=read", enc(PASSWORD)),
    ));
    assert!(made.contains("eve@example.org"), "{made}");
    let accounts = server.get("/api/v1/accounts", &keys.admin).json();
    let eve = accounts["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["email"] == "eve@example.org")
        .unwrap()["account_id"]
        .as_str()
        .unwrap()
        .to_string();
    let short = note(&settings_form(
        &server,
        &admin,
        "action=account_create&email=x%40example.org&password=short&role=read",
    ));
    assert!(short.starts_with("Not done") && short.contains("10 to 256"), "{short}");
    settings_form(&server, &admin, &format!("action=account_delete&id={eve}"));
    assert_eq!(server.get("/api/v1/accounts", &keys.admin).json()["accounts"].as_array().unwrap().len(), 1);

    // The access list.
    let added = note(&settings_form(
        &server,
        &admin,
        &format!("action=codes_add&codes={}", enc("A-1001\nB-2002, 2030-01-01T00:00:00Z, front row\n")),
    ));
    assert_eq!(added, "Added 2 codes.");
    settings_form(&server, &admin, "action=code_revoke&id=A-1001");
    let codes = server.get("/api/v1/access/codes", &keys.admin).json();
    let codes = codes["codes"].as_array().unwrap();
    assert_eq!(codes.len(), 2, "{codes:?}");
    let by = |c: &str| codes.iter().find(|e| e["code"] == c).unwrap().clone();
    assert!(by("A-1001")["revoked"].is_string(), "{codes:?}");
    assert_eq!(by("B-2002")["note"], "front row");
    assert!(by("B-2002")["expires"].as_str().unwrap().starts_with("2030-01-01"), "{codes:?}");

    // The attendance consent switch.
    let page = call(&server, "GET", "/settings", &admin, None);
    assert!(page.body.contains("<select id=\"s_attendance\" name=\"s_attendance\">"), "a switch is a choice");
    let saved = note(&settings_form(&server, &admin, "action=settings&s_attendance=true"));
    assert_eq!(saved, "Saved: attendance.");
    assert_eq!(server.get("/api/v1/settings", &keys.admin).json()["attendance"], "true");

    // Erasure needs the confirmation, then does what the API does.
    let mut play = ev("play", &at("10:00:00"), "p1", "V");
    play["user_id"] = json!("u-42");
    server.post_events(&keys.ingest, IP1, UA1, &json!([play]));
    server.wait_idle();
    let unconfirmed = note(&settings_form(&server, &admin, "action=erase&subject=user_id&value=u-42"));
    assert!(unconfirmed.starts_with("Nothing erased"), "{unconfirmed}");
    let erased = note(&settings_form(&server, &admin, "action=erase&subject=user_id&value=u-42&confirm=yes"));
    assert!(erased.starts_with("Erased user id u-42"), "{erased}");
    server.stop();
}

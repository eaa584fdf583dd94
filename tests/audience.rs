//! The audience of registered users through the real server: the directory
//! loaded (`PUT /api/v1/users`, 100 000 lines in one request; bad rows named,
//! good rows kept), one user looked up by an admin only and every look-up
//! recorded, erasure removing the entry, and the registrations with fixed
//! expected numbers — by day and gender with the peak, gender shares, an age
//! range at its boundary, the home country's states with the others as
//! `Other`, and CSV.

mod support;

use std::fmt::Write;

use serde_json::{json, Value};
use support::forms::{call, sign_in};
use support::*;

fn put_users(server: &Server, key: &str, body: &str) -> Reply {
    server.request(
        "PUT",
        "/api/v1/users",
        &[("Authorization", &format!("Bearer {key}")), ("Content-Type", "application/x-ndjson")],
        body,
    )
}

/// `DELETE path` with the tenant's admin key.
fn delete(server: &Server, keys: &TenantKeys, path: &str) -> Reply {
    server.request("DELETE", path, &[("Authorization", &format!("Bearer {}", keys.admin))], "")
}

/// Erases user `a` (spec §8), who is in the directory.
fn erase_a(server: &Server, keys: &TenantKeys) {
    let r = delete(server, keys, "/api/v1/subjects?user_id=a");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["erased"]["directory_entries"], 1, "{}", r.body);
}

/// A server with the tenant `ott` and its [`DIRECTORY`] loaded.
fn ott_with_directory() -> (tempfile::TempDir, Server, TenantKeys) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("ott");
    assert_eq!(put_users(&server, &keys.admin, DIRECTORY).status, 200);
    (dir, server, keys)
}

/// Six users around 1–3 March 2026 (UTC); `e` turns 25 on the day she registers.
const DIRECTORY: &str = r#"{"user_id":"a","name":"Ana","gender":"female","birth_year":2000,"country":"BR","state":"SP","city":"Campinas","registered_at":"2026-03-01T10:00:00Z","plan":"gold"}
{"user_id":"b","name":"Bruno","gender":"male","birth_year":1990,"country":"BR","state":"RJ","city":"Niterói","registered_at":"2026-03-02T09:00:00Z"}
{"user_id":"c","name":"Carla","gender":"Female","birth_date":"1960-07-01","country":"br","state":"SP","city":"Campinas","registered_at":"2026-03-02T15:00:00Z"}
{"user_id":"d","name":"Dani","gender":"nonbinary","age_range":"35-44","country":"PT","region":"Lisboa","city":"Lisboa","registered_at":"2026-03-02T18:00:00Z"}
{"user_id":"e","name":"Eva","gender":"female","birth_date":"2001-03-03","country":"BR","state":"MG","city":"Belo Horizonte","registered_at":"2026-03-03T08:00:00Z"}
{"user_id":"f","name":"Fábio","gender":"male","country":"AR","registered_at":"2026-02-27T12:00:00Z"}
"#;

#[test]
fn the_directory_takes_good_rows_names_bad_ones_and_holds_100_000_in_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("ott");
    let r = put_users(
        &server,
        &keys.admin,
        &format!("{DIRECTORY}{{\"name\":\"no id\"}}\n{{\"user_id\":\"g\",\"birth_date\":\"1990-13-01\"}}\n"),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let v = r.json();
    assert_eq!((v["accepted"].as_u64(), v["rejected"].as_u64()), (Some(6), Some(2)), "{v}");
    assert_eq!(v["errors"][0], json!({ "row": 7, "field": "user_id", "message": "missing" }));
    assert_eq!(v["errors"][1]["row"], 8);
    assert_eq!(v["errors"][1]["field"], "birth_date");
    // A read key may not load or read the directory.
    assert_eq!(put_users(&server, &keys.read, DIRECTORY).status, 403);
    assert_eq!(server.get("/api/v1/users/a", &keys.read).status, 403);
    let a = server.get("/api/v1/users/a", &keys.admin);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["user"]["name"], "Ana");
    assert_eq!(a.json()["user"]["attributes"]["plan"], "gold");
    assert_eq!(a.json()["user"]["gender"], "female");
    let unknown = server.get("/api/v1/users/nobody", &keys.admin);
    assert!(unknown.status == 404 && unknown.body.contains("nobody"), "{}", unknown.body);
    // Both look-ups were recorded, newest first, with the key that looked.
    let lookups = server.get("/api/v1/audience/lookups", &keys.admin).json();
    let seen: Vec<&str> = lookups["lookups"].as_array().unwrap().iter().map(|l| l["user_id"].as_str().unwrap()).collect();
    assert_eq!(seen, ["nobody", "a"], "{lookups}");
    assert!(lookups["lookups"][0]["by"].as_str().unwrap().len() >= 6);

    // 100 000 users in one request: over the 1 MiB of the ingest routes, under the directory's limit.
    let mut big = String::new();
    for i in 0..100_000 {
        let _ = writeln!(
            big,
            r#"{{"user_id":"bulk-{i}","name":"User {i}","gender":"{}","birth_year":{},"country":"BR","state":"SP","city":"São Paulo","registered_at":"2026-01-{:02}T12:00:00Z","plan":"basic"}}"#,
            ["female", "male", "other", "x"][i % 4],
            1950 + i % 50,
            1 + i % 28
        );
    }
    assert!(big.len() > 10 * 1024 * 1024, "{} bytes", big.len());
    let r = put_users(&server, &keys.admin, &big);
    assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(300)]);
    assert_eq!(r.json()["upserted"], 100_000);
    assert_eq!(server.get("/api/v1/users/bulk-99999", &keys.admin).json()["user"]["name"], "User 99999");
    server.stop();
}

#[test]
fn erasing_a_user_removes_the_directory_entry_and_deleting_one_keeps_activity() {
    let (_dir, server, keys) = ott_with_directory();
    let mut play = ev("play", &at("10:00:00"), "p1", "V");
    play["user_id"] = json!("a");
    server.post_events(&keys.ingest, IP1, UA1, &json!([play]));
    server.wait_idle();
    erase_a(&server, &keys);
    assert_eq!(server.get("/api/v1/users/a", &keys.admin).status, 404);
    // Deleting from the directory only.
    let r = delete(&server, &keys, "/api/v1/users/b");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(server.get("/api/v1/users/b", &keys.admin).status, 404);
    server.stop();
}

fn registrations(server: &Server, key: &str, query: &str) -> Value {
    let r = server.get(
        &format!("/api/v1/audience/registrations?from=2026-03-01T00:00:00Z&to=2026-03-04T00:00:00Z&{query}"),
        key,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn registrations_by_day_gender_age_and_home_geography() {
    let (_dir, server, keys) = ott_with_directory();
    server.set(&keys, json!({ "home_country": "br" }));
    let v = registrations(&server, &keys.read, "group_by=day&tz=UTC");
    assert_eq!(v["total"], 5, "f registered before the range: {v}");
    let days: Vec<(String, u64, u64, u64, u64)> = v["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let n = |k: &str| d[k].as_u64().unwrap();
            (d["period"].as_str().unwrap().to_string(), n("female"), n("male"), n("unknown"), n("total"))
        })
        .collect();
    assert_eq!(
        days,
        [
            ("2026-03-01".to_string(), 1, 0, 0, 1),
            ("2026-03-02".to_string(), 1, 1, 1, 3),
            ("2026-03-03".to_string(), 1, 0, 0, 1)
        ]
    );
    assert_eq!(v["peak"], json!({ "period": "2026-03-02", "registrations": 3 }));
    assert_eq!(v["series"][1]["peak"], true);
    let share = |part: &str, key: &str, name: &str| v[part].as_array().unwrap().iter().find(|r| r[key] == name).cloned().unwrap();
    assert_eq!(share("gender", "gender", "female"), json!({ "gender": "female", "users": 3, "share": 60.0 }));
    assert_eq!(share("gender", "gender", "unknown")["users"], 1, "nonbinary is not one of the three: unknown");
    // a: 2026−2000 = 26; b: 36; c: 65 (born July 1960, registered March 2026 → 65); d: given 35-44; e: 25 that day.
    let ages: Vec<(String, u64)> = v["age_ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["age_range"].as_str().unwrap().to_string(), r["users"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        ages,
        [("18-24", 0), ("25-34", 2), ("35-44", 2), ("45-54", 0), ("55-64", 0), ("65+", 1), ("unknown", 0)].map(|(a, n)| (a.to_string(), n))
    );
    // Home country BR: its states; Portugal is Other.
    let regions: Vec<(String, u64)> = v["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["region"].as_str().unwrap().to_string(), r["users"].as_u64().unwrap()))
        .collect();
    assert_eq!(regions, [("SP", 2), ("MG", 1), ("Other", 1), ("RJ", 1)].map(|(a, n)| (a.to_string(), n)));
    assert_eq!(v["cities"][0], json!({ "city": "Campinas", "region": "SP", "users": 2, "share": 40.0 }));
    assert_eq!(v["countries"][0], json!({ "country": "BR", "users": 4, "share": 80.0 }));
    // Days in São Paulo (UTC−3): 10:00Z on the 1st is 07:00 the 1st; 08:00Z on the 3rd is 05:00 the 3rd.
    let sp = registrations(&server, &keys.read, "group_by=day&tz=America/Sao_Paulo");
    assert_eq!(sp["series"][0]["period"], "2026-02-28", "the range starts 21:00 on 28 February there");
    // CSV of one part.
    let csv = server.get(
        "/api/v1/audience/registrations?from=2026-03-01T00:00:00Z&to=2026-03-04T00:00:00Z&tz=UTC&format=csv&part=gender",
        &keys.read,
    );
    assert_eq!(csv.body, "gender,users,share\nfemale,3,60.0\nmale,1,20.0\nother,0,0.0\nunknown,1,20.0\n");
    let series = server.get(
        "/api/v1/audience/registrations?from=2026-03-01T00:00:00Z&to=2026-03-04T00:00:00Z&tz=UTC&format=csv",
        &keys.read,
    );
    assert_eq!(series.body.lines().nth(2), Some("2026-03-02,1,1,0,1,3,true"));
    // Bad questions are told why.
    let bad = server.get("/api/v1/audience/registrations?group_by=minute", &keys.read);
    assert!(bad.status == 400 && bad.body.contains("hour, day, week or month"), "{}", bad.body);
    server.stop();
}

#[test]
fn the_audience_page_shows_the_registrations_the_api_counts() {
    let (_dir, server, keys) = ott_with_directory();
    server.set(&keys, json!({ "home_country": "BR" }));
    let (session, _) = sign_in(&server, &keys.read);
    let page = call(&server, "GET", "/audience?range=custom&from=2026-03-01&to=2026-03-03", &session, None);
    assert_eq!(page.status, 200, "{}", page.body);
    let html = page.body;
    assert!(
        html.contains("<span class=\"label\">Registrations</span><span class=\"value\">5</span>"),
        "{html}"
    );
    assert!(html.contains("<span class=\"value\">2026-03-02 (3)</span>"), "the peak period");
    assert!(
        html.contains("<th scope=\"row\">2026-03-02</th><td>1</td><td>1</td><td>0</td><td>1</td><td>3</td><td>true</td>"),
        "{html}"
    );
    assert!(html.contains("<th scope=\"row\">Other</th><td>1</td>"), "other countries as Other");
    // Its CSV links are the API's own answers.
    assert!(html.contains("part=age_ranges"), "{html}");
    let empty = call(&server, "GET", "/audience?range=custom&from=2025-01-01&to=2025-01-02", &session, None);
    assert!(empty.body.contains("No registrations in this range"), "{}", empty.body);
    server.stop();
}

const PHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const IP2: &str = "198.51.100.23";

fn with(mut event: Value, fields: Value) -> Value {
    for (k, v) in fields.as_object().unwrap() {
        event[k] = v.clone();
    }
    event
}

/// User `a` logs in on a desktop and watches the on-demand `V` (90 s, with a
/// seek and buffering), then the live `L` on a phone (120 s); user `b`
/// watches `V` for 30 s; someone anonymous 60 s.
fn two_devices_a_live_and_an_on_demand_content(server: &Server, keys: &TenantKeys) {
    // March 2026 is more than raw_retention_days (90) before today: keep it.
    server.set(keys, json!({ "raw_retention_days": 0 }));
    let r = server.send(
        "PUT",
        "/api/v1/contents",
        &keys.admin,
        "{\"content_id\":\"V\",\"title\":\"Aula 1\",\"kind\":\"vod\",\"duration\":600}\n{\"content_id\":\"L\",\"title\":\"Culto ao vivo\",\"kind\":\"live\"}\n",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let a = |e: Value| with(e, json!({ "user_id": "a", "referrer": "https://portal.example.com/aulas?x=1" }));
    let desktop = json!([
        a(json!({ "type": "session_start", "ts": at("09:59:00") })),
        a(ev("player_loaded", &at("10:00:00"), "p1", "V")),
        a(ev("play", &at("10:00:01"), "p1", "V")),
        a(with(
            playing(&at("10:00:31"), "p1", "V", 30.0),
            json!({ "position": 30, "bitrate": 2500, "bandwidth": 8000 })
        )),
        a(with(
            playing(&at("10:01:01"), "p1", "V", 30.0),
            json!({ "position": 60, "bitrate": 2500, "bandwidth": 6000 })
        )),
        a(with(ev("seek", &at("10:01:05"), "p1", "V"), json!({ "position": 120 }))),
        a(ev("buffering", &at("10:01:06"), "p1", "V")),
        a(with(
            playing(&at("10:01:36"), "p1", "V", 30.0),
            json!({ "position": 150, "bitrate": 1200, "bandwidth": 3000 })
        )),
        a(with(ev("pause", &at("10:01:40"), "p1", "V"), json!({ "position": 154 }))),
    ]);
    server.post_events(&keys.ingest, IP1, UA1, &desktop);
    let live = |e: Value| with(e, json!({ "user_id": "a", "content_kind": "live" }));
    let phone = json!([
        live(ev("play", &at("20:00:00"), "p2", "L")),
        live(with(playing(&at("20:01:00"), "p2", "L", 60.0), json!({ "bitrate": 800, "bandwidth": 2000 }))),
        live(playing(&at("20:02:00"), "p2", "L", 60.0)),
    ]);
    server.post_events(&keys.ingest, IP2, PHONE, &phone);
    let b = |e: Value| with(e, json!({ "user_id": "b" }));
    server.post_events(
        &keys.ingest,
        "192.0.2.50",
        UA1,
        &json!([b(ev("play", &at("11:00:00"), "p3", "V")), b(playing(&at("11:00:30"), "p3", "V", 30.0))]),
    );
    server.post_events(
        &keys.ingest,
        "192.0.2.51",
        UA1,
        &json!([ev("play", &at("12:00:00"), "p4", "V"), playing(&at("12:01:00"), "p4", "V", 60.0)]),
    );
    server.wait_idle();
}

fn activity(server: &Server, key: &str, user: &str, query: &str) -> Reply {
    server.get(&format!("/api/v1/users/{user}/activity?{DAY}&tz=UTC&{query}"), key)
}

#[test]
fn one_users_overview_events_bandwidth_and_details() {
    let (_dir, server, keys) = ott_with_directory();
    two_devices_a_live_and_an_on_demand_content(&server, &keys);
    assert_eq!(activity(&server, &keys.read, "a", "").status, 403, "a reader may not follow one user");
    let r = activity(&server, &keys.admin, "a", "per_page=5&page=3");
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["registered"], true);
    assert_eq!(
        v["overview"],
        json!({ "starts": 2, "streams": 2, "seconds": 210.0, "minutes": 3.5 }),
        "90 s of V and 120 s of L; b's and the anonymous viewer's time are not a's"
    );
    // 9 desktop events and 3 phone events, 5 a page: the third page holds the last two.
    assert_eq!((v["events"]["total"].as_u64(), v["events"]["pages"].as_u64()), (Some(12), Some(3)), "{v}");
    let last: Vec<(&str, &str)> = v["events"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["ts"].as_str().unwrap()))
        .collect();
    assert_eq!(last, [("playing", "2026-03-02T20:01:00Z"), ("playing", "2026-03-02T20:02:00Z")]);
    let first = activity(&server, &keys.admin, "a", "per_page=5").json();
    let e = &first["events"]["items"][3];
    assert_eq!(
        (
            e["type"].as_str(),
            e["day"].as_str(),
            e["title"].as_str(),
            e["position"].as_f64(),
            e["duration"].as_f64(),
            e["bitrate"].as_f64()
        ),
        (Some("playing"), Some("2026-03-02"), Some("Aula 1"), Some(30.0), Some(30.0), Some(2500.0)),
        "{e}"
    );
    assert_eq!(e["device"]["browser"], "Chrome", "{e}");
    assert_eq!(first["events"]["items"][0]["type"], "session_start");
    // Bandwidth per minute: 10:00 one report, 10:01 two (averaged), 20:01 one; 20:02 carried none.
    let bandwidth: Vec<(String, f64, f64)> = v["bandwidth"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["minute"].as_str().unwrap().to_string(),
                m["bandwidth_kbps"].as_f64().unwrap(),
                m["bitrate_kbps"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        bandwidth,
        [("10:00", 8000.0, 2500.0), ("10:01", 4500.0, 1850.0), ("20:01", 2000.0, 800.0)].map(|(m, b, r)| (at(&format!("{m}:00")), b, r))
    );
    let d = &v["details"];
    let devices: Vec<(&str, &str, u64)> = d["devices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["browser"].as_str().unwrap(), x["first_seen"].as_str().unwrap(), x["events"].as_u64().unwrap()))
        .collect();
    assert_eq!(devices, [("Chrome", "2026-03-02T09:59:00Z", 9), ("Safari", "2026-03-02T20:00:00Z", 3)], "{d}");
    assert_ne!(d["devices"][0]["id"], d["devices"][1]["id"]);
    assert_eq!(d["referrers"], json!([{ "referrer_host": "portal.example.com", "events": 9 }]));
    assert_eq!(
        d["on_demand"],
        json!([{ "content_id": "V", "title": "Aula 1", "seconds": 90.0, "minutes": 1.5 }])
    );
    assert_eq!(
        d["live"],
        json!([{ "content_id": "L", "title": "Culto ao vivo", "seconds": 120.0, "minutes": 2.0 }])
    );
    assert_eq!(d["logins"], json!(["2026-03-02T09:59:00Z"]));
    assert_eq!(v["last_login"], "2026-03-02T09:59:00Z");
    assert_eq!(server.get("/api/v1/users/a", &keys.admin).json()["last_login"], "2026-03-02T09:59:00Z");
    // Every look-up of the user is on the record.
    let lookups = server.get("/api/v1/audience/lookups", &keys.admin).json();
    assert_eq!(lookups["lookups"].as_array().unwrap().len(), 3, "{lookups}");
    // The dashboard's user page shows the same to an admin, and a reader the refusal.
    let (admin, _) = sign_in(&server, &keys.admin);
    let page = call(&server, "GET", "/audience/user?item=a&range=custom&from=2026-03-02&to=2026-03-02", &admin, None);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("<span class=\"label\">Minutes</span><span class=\"value\">3.50</span>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Culto ao vivo") && page.body.contains("portal.example.com") && page.body.contains("Events (12)"));
    let (reader, _) = sign_in(&server, &keys.read);
    let refused = call(
        &server,
        "GET",
        "/audience/user?item=a&range=custom&from=2026-03-02&to=2026-03-02",
        &reader,
        None,
    );
    assert!(refused.body.contains("admin") && !refused.body.contains("Culto ao vivo"), "{}", refused.body);
    // Bad pages are refused with the reason.
    let bad = activity(&server, &keys.admin, "a", "per_page=0");
    assert!(bad.status == 400 && bad.body.contains("per_page"), "{}", bad.body);
    server.stop();
}

#[test]
fn an_unknown_user_is_404_a_quiet_one_is_zeros_and_erasure_removes_every_event() {
    let (_dir, server, keys) = ott_with_directory();
    two_devices_a_live_and_an_on_demand_content(&server, &keys);
    let unknown = activity(&server, &keys.admin, "zed", "");
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(unknown.body.contains("`zed`") && unknown.body.contains("directory"), "{}", unknown.body);
    // `c` is in the directory and did nothing that day.
    let quiet = activity(&server, &keys.admin, "c", "");
    assert_eq!(quiet.status, 200, "{}", quiet.body);
    let q = quiet.json();
    assert_eq!(q["overview"], json!({ "starts": 0, "streams": 0, "seconds": 0.0, "minutes": 0.0 }));
    assert_eq!(
        (q["events"]["total"].as_u64(), q["events"]["items"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );
    assert_eq!(q["bandwidth"], json!([]));
    assert_eq!(q["details"]["devices"], json!([]));
    assert_eq!(q["last_login"], Value::Null);
    // Not in the directory, but named by events: still a user (without demographics).
    let r = delete(&server, &keys, "/api/v1/users/b");
    assert_eq!(r.status, 200);
    let b = activity(&server, &keys.admin, "b", "").json();
    assert_eq!((b["registered"].as_bool(), b["overview"]["seconds"].as_f64()), (Some(false), Some(30.0)), "{b}");
    // Erasure takes the entry and every event; then the user is unknown.
    erase_a(&server, &keys);
    assert_eq!(activity(&server, &keys.admin, "a", "").status, 404);
    assert_eq!(
        server.metrics(&keys.read, &format!("{DAY}&metrics=time"))["totals"]["time"],
        90.0,
        "b's 30 s and the anonymous 60 s"
    );
    server.stop();
}

#[test]
fn metrics_group_and_filter_by_the_registered_users_gender_age_and_home() {
    let (_dir, server, keys) = ott_with_directory();
    server.set(&keys, json!({ "home_country": "BR" }));
    two_devices_a_live_and_an_on_demand_content(&server, &keys);
    let rows = |query: &str, dim: &str| -> Vec<(Value, f64)> {
        let v = server.metrics(&keys.admin, &format!("{DAY}&metrics=time&{query}"));
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r[dim].clone(), r["time"].as_f64().unwrap()))
            .collect()
    };
    // Demographic filters can single out one user: a reader may not use them.
    let refused = server.get(&format!("/api/v1/metrics?{DAY}&metrics=time&group_by=gender"), &keys.read);
    assert!(refused.status == 403 && refused.body.contains("admin"), "{}", refused.body);
    // a is female, b male; the anonymous viewer is no registered user (null).
    assert_eq!(
        rows("group_by=gender", "gender"),
        [(json!("female"), 210.0), (json!("male"), 30.0), (Value::Null, 60.0)]
    );
    // a was 26 at registration, b 36.
    assert_eq!(rows("group_by=age_range&filter=age_range:25-34", "age_range"), [(json!("25-34"), 210.0)]);
    assert_eq!(rows("group_by=home_region&filter=gender:male", "home_region"), [(json!("RJ"), 30.0)]);
    let totals = server.metrics(&keys.admin, &format!("{DAY}&metrics=starts,time&filter=age_range:35-44"));
    assert_eq!(
        (totals["totals"]["starts"].as_u64(), totals["totals"]["time"].as_f64()),
        (Some(1), Some(30.0)),
        "{totals}"
    );
    server.stop();
}

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
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("ott");
    assert_eq!(put_users(&server, &keys.admin, DIRECTORY).status, 200);
    let mut play = ev("play", &at("10:00:00"), "p1", "V");
    play["user_id"] = json!("a");
    server.post_events(&keys.ingest, IP1, UA1, &json!([play]));
    server.wait_idle();
    let r = server.request(
        "DELETE",
        "/api/v1/subjects?user_id=a",
        &[("Authorization", &format!("Bearer {}", keys.admin))],
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["erased"]["directory_entries"], 1, "{}", r.body);
    assert_eq!(server.get("/api/v1/users/a", &keys.admin).status, 404);
    // Deleting from the directory only.
    let r = server.request("DELETE", "/api/v1/users/b", &[("Authorization", &format!("Bearer {}", keys.admin))], "");
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
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("ott");
    assert_eq!(put_users(&server, &keys.admin, DIRECTORY).status, 200);
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
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let keys = server.tenant("ott");
    assert_eq!(put_users(&server, &keys.admin, DIRECTORY).status, 200);
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

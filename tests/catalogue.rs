//! The catalogue fields of source 004's glossary through the real server:
//! season, episode, broadcaster and the episode's GUID, groupable and
//! filterable in `/api/v1/metrics` (a number given for a season or an
//! episode is kept as its label).

mod support;

use serde_json::{json, Value};
use support::*;

#[test]
fn season_episode_broadcaster_and_guid_group_and_filter_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let t = server.tenant("radio");
    let catalogue = r#"{"content_id":"e1","show":"Manhã","season":1,"episode":1,"broadcaster":"Rádio Sul","guid":"urn:uuid:aa-1"}
{"content_id":"e2","show":"Manhã","season":"1","episode":"2","broadcaster":"Rádio Sul","guid":"urn:uuid:aa-2"}
{"content_id":"x","broadcaster":"Outra"}"#;
    let r = server.send("PUT", "/api/v1/contents", &t.admin, catalogue);
    assert_eq!(r.status, 200, "{}", r.body);
    let plays = json!([
        ev("play", &at("10:00:00"), "p1", "e1"),
        ev("play", &at("10:10:00"), "p2", "e1"),
        ev("play", &at("10:20:00"), "p3", "e2"),
        ev("play", &at("10:30:00"), "p4", "x"),
    ]);
    server.post_events(&t.ingest, IP1, UA1, &plays);
    server.wait_idle();
    let rows = |query: &str| -> Vec<Value> {
        server.metrics(&t.read, &format!("{DAY}&metrics=starts&{query}"))["rows"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert_eq!(
        rows("group_by=season,episode"),
        [
            json!({ "season": "1", "episode": "1", "starts": 2 }),
            json!({ "season": "1", "episode": "2", "starts": 1 }),
            json!({ "season": null, "episode": null, "starts": 1 }),
        ]
    );
    assert_eq!(
        rows("group_by=broadcaster"),
        [
            json!({ "broadcaster": "Outra", "starts": 1 }),
            json!({ "broadcaster": "Rádio Sul", "starts": 3 })
        ]
    );
    assert_eq!(
        rows("group_by=guid&filter=guid:urn:uuid:aa-2"),
        [json!({ "guid": "urn:uuid:aa-2", "starts": 1 })]
    );
    server.stop();
}

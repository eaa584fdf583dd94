//! The storage suite: what every [`FactStore`] backend must do, written once
//! and run against each — the embedded store and ClickHouse (Debian's
//! 18.16 server, started by the test on a loopback port). Questions are asked through the query model, so each
//! backend is checked with the SQL of its own dialect. Each check makes
//! tenants of its own, so all of them may share one store.

use std::sync::Arc;

use chrono::NaiveDate;
use streamtally_model::{Fact, TenantId};
use streamtally_query::{Ask, Cell, MetricsQuery};
use streamtally_store::{ClickHouseConfig, ClickHouseStore, EmbeddedStore, FactStore, Meta, OpenMode, Subject};

#[path = "support/clickhouse.rs"]
mod clickhouse;
#[path = "support/facts.rs"]
mod facts;

/// Opens the backend under test on the same data each time it is called
/// (after the previous one was dropped), with its metadata.
type Opener<'a> = dyn Fn() -> (Arc<dyn FactStore>, Arc<Meta>) + 'a;

const USERS: [&str; 3] = ["u0", "u1", "u2"];

/// A start of `device` (its user one of [`USERS`]).
fn start(ts: &str, device: u64, content: &'static str, lsn: u64) -> Fact<'static> {
    facts::start(ts, device, content, Some(USERS[(device % 3) as usize]), lsn)
}

async fn starts(store: &dyn FactStore, tenant: TenantId, from: &str, to: &str) -> i64 {
    let q = MetricsQuery::parse(from, to, "starts", None, None, None).expect("a valid query");
    let answer = store.query(tenant, &q).await.expect("the query runs");
    match answer.totals.rows.first().and_then(|r| r.first()) {
        Some(Cell::Int(n)) => *n,
        other => panic!("starts total is {other:?}"),
    }
}

fn tenant(meta: &Meta, name: &str) -> TenantId {
    meta.create_tenant(name).expect("a new tenant").id
}

/// Appended facts are answered before and after a checkpoint, alike.
async fn appended_facts_are_answered_before_and_after_a_checkpoint(open: &Opener<'_>) {
    let (store, meta) = open();
    let t = tenant(&meta, "suite-append");
    let facts = [start("2026-03-02T09:00:00Z", 1, "A", 1), start("2026-03-03T09:00:00Z", 2, "B", 2)];
    store.append_facts(t, &facts).unwrap();
    assert_eq!(starts(&*store, t, "2026-03-01", "2026-03-04").await, 2);
    let mut checkpoint = store.begin_checkpoint();
    // Appends go on while a checkpoint is under way.
    store.append_facts(t, &[start("2026-03-03T10:00:00Z", 3, "B", 3)]).unwrap();
    store.finish_checkpoint(&mut checkpoint, 2).unwrap();
    assert_eq!(starts(&*store, t, "2026-03-01", "2026-03-04").await, 3);
    assert_eq!(starts(&*store, t, "2026-03-03", "2026-03-04").await, 2);
}

/// What a checkpoint covered survives reopening; what was replayed at or
/// below the covered position is not taken twice.
async fn checkpointed_facts_survive_reopening_and_replays_count_once(open: &Opener<'_>) {
    let t = {
        let (store, meta) = open();
        let t = tenant(&meta, "suite-durable");
        store.append_facts(t, &[start("2026-03-02T09:00:00Z", 1, "A", 10)]).unwrap();
        store.flush(10).unwrap();
        store.close();
        t
    };
    let (store, _) = open();
    assert_eq!(
        starts(&*store, t, "2026-03-01", "2026-03-04").await,
        1,
        "the checkpointed fact is there after reopening"
    );
    // A restart replays the WAL from before the checkpoint: the same fact again.
    store.append_facts(t, &[start("2026-03-02T09:00:00Z", 1, "A", 10)]).unwrap();
    assert_eq!(starts(&*store, t, "2026-03-01", "2026-03-04").await, 1);
}

/// A tenant never sees another's facts.
async fn tenants_are_apart(open: &Opener<'_>) {
    let (store, meta) = open();
    let (a, b) = (tenant(&meta, "suite-apart-a"), tenant(&meta, "suite-apart-b"));
    store.append_facts(a, &[start("2026-03-02T09:00:00Z", 1, "A", 20)]).unwrap();
    store
        .append_facts(b, &[start("2026-03-02T09:00:00Z", 1, "A", 21), start("2026-03-02T10:00:00Z", 2, "A", 21)])
        .unwrap();
    store.flush(21).unwrap();
    assert_eq!(starts(&*store, a, "2026-03-01", "2026-03-04").await, 1);
    assert_eq!(starts(&*store, b, "2026-03-01", "2026-03-04").await, 2);
}

/// Erasing a subject removes its facts from memory and files, and only its.
async fn erasure_removes_the_subjects_facts_only(open: &Opener<'_>) {
    let (store, meta) = open();
    let t = tenant(&meta, "suite-erase");
    // Devices 1 and 4 are user u1; device 2 is u2.
    store
        .append_facts(t, &[start("2026-03-02T09:00:00Z", 1, "A", 30), start("2026-03-02T09:00:00Z", 2, "A", 30)])
        .unwrap();
    store.flush(30).unwrap();
    store.append_facts(t, &[start("2026-03-02T10:00:00Z", 4, "A", 31)]).unwrap();
    let erased = store.erase(t, &Subject::UserId("u1".into())).unwrap();
    assert_eq!(erased.facts, 2);
    assert_eq!(starts(&*store, t, "2026-03-01", "2026-03-04").await, 1);
}

/// Retention drops the days before its cut and keeps the rest.
async fn retention_drops_the_days_before_the_cut(open: &Opener<'_>) {
    let (store, meta) = open();
    let t = tenant(&meta, "suite-retention");
    store
        .append_facts(t, &[start("2026-03-02T09:00:00Z", 1, "A", 40), start("2026-03-20T09:00:00Z", 2, "A", 40)])
        .unwrap();
    store.flush(40).unwrap();
    store.apply_retention(t, NaiveDate::from_ymd_opt(2026, 3, 10).unwrap_or_default()).unwrap();
    assert_eq!(starts(&*store, t, "2026-03-01", "2026-04-01").await, 1);
}

/// Days and hours are cut in the asked time zone, not in UTC.
async fn buckets_follow_the_time_zone(open: &Opener<'_>) {
    let (store, meta) = open();
    let t = tenant(&meta, "suite-zone");
    // 23:30 UTC on 2 March is 00:30 on 3 March in Berlin.
    store.append_facts(t, &[start("2026-03-02T23:30:00Z", 1, "A", 50)]).unwrap();
    let day = |tz| MetricsQuery::parse("2026-03-01", "2026-03-04", "starts", Some("day"), None, tz).expect("a valid query");
    let berlin = store.query(t, &day(Some("Europe/Berlin"))).await.unwrap();
    assert_eq!(berlin.to_json()["rows"][0]["day"], "2026-03-03T00:00:00+01:00");
    let utc = store.query(t, &day(None)).await.unwrap();
    assert_eq!(utc.to_json()["rows"][0]["day"], "2026-03-02T00:00:00Z");
}

/// A filter value is data, never SQL: quotes, backslashes and placeholders
/// in it match nothing but themselves.
async fn filter_values_cannot_change_the_statement(open: &Opener<'_>) {
    let (store, meta) = open();
    let t = tenant(&meta, "suite-hostile");
    let other = tenant(&meta, "suite-hostile-other");
    store.append_facts(t, &[start("2026-03-02T09:00:00Z", 1, "A", 60)]).unwrap();
    store.append_facts(other, &[start("2026-03-02T09:00:00Z", 1, "B", 60)]).unwrap();
    let with =
        |value: &str| MetricsQuery::parse("2026-03-01", "2026-03-04", "starts", None, Some(&format!("content_id:{value}")), None).expect("a valid query");
    let total = |a: streamtally_query::Answer| a.to_json()["totals"]["starts"].clone();
    assert_eq!(total(store.query(t, &with("A")).await.unwrap()), 1);
    for hostile in ["A' OR '1'='1", "A\\' OR 1=1 --", "{p1:String}", "B') OR (1=1", "A\\"] {
        let answer = store.query(t, &with(hostile)).await.unwrap_or_else(|e| panic!("{hostile}: {e}"));
        assert_eq!(total(answer), 0, "{hostile}");
    }
}

/// Every check of the suite, in turn.
async fn run_all(open: &Opener<'_>) {
    appended_facts_are_answered_before_and_after_a_checkpoint(open).await;
    checkpointed_facts_survive_reopening_and_replays_count_once(open).await;
    tenants_are_apart(open).await;
    erasure_removes_the_subjects_facts_only(open).await;
    retention_drops_the_days_before_the_cut(open).await;
    buckets_follow_the_time_zone(open).await;
    filter_values_cannot_change_the_statement(open).await;
}

#[tokio::test]
async fn the_storage_suite_holds_for_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
        let meta = store.meta().clone();
        (Arc::new(store) as Arc<dyn FactStore>, meta)
    };
    run_all(&open).await;
}

#[tokio::test]
async fn the_storage_suite_holds_for_clickhouse() {
    let server = clickhouse::ClickHouseServer::start();
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let config = ClickHouseConfig::parse(&server.url(), "suite-node").unwrap();
        let store = ClickHouseStore::open(dir.path(), config).unwrap();
        let meta = store.meta().clone();
        (Arc::new(store) as Arc<dyn FactStore>, meta)
    };
    run_all(&open).await;
}

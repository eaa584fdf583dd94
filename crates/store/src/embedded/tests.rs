use crate::Cell;
use datafusion::arrow::array::StringArray;
use streamtally_model::{ClientFamily, FactKind, Geo, Source};

use super::*;

pub(super) fn fact(kind: FactKind, ts: &str, device: u64, content: &'static str, lsn: u64) -> Fact<'static> {
    Fact {
        kind,
        ts: streamtally_model::parse_ts(ts).unwrap(),
        value: if kind == FactKind::Time { 10.0 } else { 1.0 },
        device_key: DeviceKey(device),
        content_id: Some(content),
        playback_id: None,
        source: Source::Player,
        property: "web",
        content_kind: None,
        media: None,
        referrer_host: None,
        client: &ClientFamily::UNKNOWN,
        geo: &Geo::UNKNOWN,
        user_id: Some(format!("u{device}").into()),
        dimensions: None,
        span: None,
        near: None,
        bitrate: None,
        access_code: None,
        served: None,
        lsn,
    }
}

/// Starts, seconds, devices and days of one tenant's March 2026 facts, asked
/// in the store's own SQL (the query model's questions are tested through the
/// storage suite, `tests/suite.rs`).
async fn totals(store: &EmbeddedStore, tenant: TenantId) -> Vec<Cell> {
    let march = Scope::facts(
        streamtally_model::parse_ts("2026-03-01T00:00:00Z").unwrap(),
        streamtally_model::parse_ts("2026-04-01T00:00:00Z").unwrap(),
    );
    let sql = Sql {
        text: "SELECT COUNT(CASE WHEN kind = 'start' THEN 1 END) AS starts, \
               COALESCE(SUM(CASE WHEN kind = 'time' THEN value END), 0.0) AS time, \
               COUNT(DISTINCT device_key) AS devices, COUNT(DISTINCT date_trunc('day', ts)) AS days FROM facts"
            .into(),
        params: vec![],
        columns: ["starts", "time", "devices", "days"].map(String::from).to_vec(),
    };
    let mut tables = store.run_select(tenant, march, &[sql]).await.unwrap();
    tables.pop().unwrap().rows.pop().unwrap()
}

#[tokio::test]
async fn memory_and_files_answer_alike_and_tenants_are_apart() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
    let a = store.meta().create_tenant("a").unwrap().id;
    let b = store.meta().create_tenant("b").unwrap().id;
    store
        .append_facts(
            a,
            &[
                fact(FactKind::Start, "2026-03-02T09:10:00Z", 1, "A", 1),
                fact(FactKind::Time, "2026-03-02T09:10:10Z", 1, "A", 1),
            ],
        )
        .unwrap();
    store.append_facts(a, &[fact(FactKind::Start, "2026-03-03T09:10:00Z", 2, "B", 2)]).unwrap();
    store.append_facts(b, &[fact(FactKind::Start, "2026-03-02T09:10:00Z", 9, "A", 3)]).unwrap();
    let before = totals(&store, a).await;
    assert_eq!(before, [Cell::Int(2), Cell::Float(10.0), Cell::Int(2), Cell::Int(2)]);
    let stats = store.flush(3).unwrap();
    // Tenant a's two days are more than a week old: they share March's folder.
    assert_eq!(stats.files_written, 2);
    let after = totals(&store, a).await;
    assert_eq!(before, after);
    // Replayed rows at or below the manifest's WAL position are not taken again.
    store.append_facts(a, &[fact(FactKind::Start, "2026-03-02T09:10:00Z", 1, "A", 1)]).unwrap();
    assert_eq!(starts(&store, a).await, Cell::Int(2));
    assert_eq!(starts(&store, b).await, Cell::Int(1));
    drop(store);
    let store = EmbeddedStore::open(dir.path(), OpenMode::ReadOnly).unwrap();
    assert_eq!(totals(&store, a).await, after);
}

async fn starts(store: &EmbeddedStore, tenant: TenantId) -> Cell {
    totals(store, tenant).await.swap_remove(0)
}

#[tokio::test]
async fn sealed_rows_are_read_while_written_and_written_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
    let a = store.meta().create_tenant("a").unwrap().id;
    store.append_facts(a, &[fact(FactKind::Start, "2026-03-02T09:10:00Z", 1, "A", 1)]).unwrap();
    let mut first = store.seal();
    store.append_facts(a, &[fact(FactKind::Start, "2026-03-02T09:20:00Z", 2, "A", 2)]).unwrap();
    let mut second = store.seal();
    store.append_facts(a, &[fact(FactKind::Start, "2026-03-03T09:00:00Z", 3, "B", 3)]).unwrap();
    // Sealed rows are still answered from memory while their files are written.
    assert_eq!(starts(&store, a).await, Cell::Int(3));
    assert_eq!(store.pending_rows(), 1, "only the unsealed row waits for a seal");
    // Each seal writes only its own rows, covering its own WAL position.
    assert_eq!(store.write_sealed(&mut first, 1).unwrap().rows, 1);
    assert_eq!(starts(&store, a).await, Cell::Int(3));
    assert_eq!(store.write_sealed(&mut second, 2).unwrap().rows, 1);
    assert_eq!(starts(&store, a).await, Cell::Int(3));
    // A replay of what the files cover adds nothing; the unsealed row is still in memory.
    store.append_facts(a, &[fact(FactKind::Start, "2026-03-02T09:20:00Z", 2, "A", 2)]).unwrap();
    assert_eq!(starts(&store, a).await, Cell::Int(3));
    drop(store);
    // Only what was written survives without the WAL: the third row was never sealed.
    let store = EmbeddedStore::open(dir.path(), OpenMode::ReadOnly).unwrap();
    assert_eq!(starts(&store, a).await, Cell::Int(2));
}

#[tokio::test]
async fn a_second_opener_is_refused_while_the_folder_is_held() {
    let dir = tempfile::tempdir().unwrap();
    let _held = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
    match EmbeddedStore::open(dir.path(), OpenMode::ReadOnly) {
        Err(StoreError::Locked { hint, .. }) => assert!(hint.contains("pid")),
        other => panic!("expected Locked, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn erasure_and_retention_rewrite_through_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
    let a = store.meta().create_tenant("a").unwrap().id;
    store
        .append_facts(
            a,
            &[
                fact(FactKind::Start, "2026-03-02T09:00:00Z", 1, "A", 1),
                fact(FactKind::Start, "2026-03-02T09:00:00Z", 2, "A", 1),
            ],
        )
        .unwrap();
    store.flush(1).unwrap();
    store.append_facts(a, &[fact(FactKind::Start, "2026-03-03T09:00:00Z", 1, "A", 2)]).unwrap();
    let erased = store.erase(a, &Subject::UserId("u1".into())).unwrap();
    assert_eq!(erased.facts, 2);
    assert_eq!(starts(&store, a).await, Cell::Int(1));
    store.flush(2).unwrap();
    assert_eq!(store.apply_retention(a, NaiveDate::from_ymd_opt(2026, 3, 3).unwrap()).unwrap(), 1);
    assert_eq!(starts(&store, a).await, Cell::Int(0));
    store.close();
}

#[tokio::test]
async fn many_small_files_of_a_day_are_compacted_without_changing_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
    let a = store.meta().create_tenant("a").unwrap().id;
    let mut compacted = 0;
    for i in 0..COMPACT_AT_FILES as u64 {
        store.append_facts(a, &[fact(FactKind::Start, "2026-03-02T09:00:00Z", i, "A", i + 1)]).unwrap();
        compacted += store.flush(i + 1).unwrap().files_compacted;
    }
    assert_eq!(compacted, COMPACT_AT_FILES);
    let files = store.with_tenant(a, |t| Ok(t.facts.manifest.files.len())).unwrap();
    assert_eq!(files, 1);
    let answer = totals(&store, a).await;
    assert_eq!(
        (&answer[0], &answer[2]),
        (&Cell::Int(COMPACT_AT_FILES as i64), &Cell::Int(COMPACT_AT_FILES as i64))
    );
}

#[test]
fn small_files_are_merged_in_groups_a_merge_can_hold() {
    let day = chrono::NaiveDate::from_ymd_opt(2026, 3, 2).unwrap();
    let part = Partition::of(day, day);
    let files = |rows: &[usize]| rows.iter().enumerate().map(|(i, r)| entry(format!("f{i}"), part, *r)).collect::<Vec<_>>();
    let groups = |rows: &[usize]| merge_groups(files(rows), 1_000).into_iter().map(|g| g.len()).collect::<Vec<_>>();
    // Sixteen of 200 rows: five a merge (1 000 rows), the last one alone stays.
    assert_eq!(groups(&[200; 16]), vec![5, 5, 5]);
    // Small ones all together when they fit.
    assert_eq!(groups(&[10; 16]), vec![16]);
    // A file that fills the cap by itself is no group.
    assert_eq!(groups(&[900, 900, 100, 100]), vec![2]);
    let merged: Vec<String> = merge_groups(files(&[900, 900, 100, 100]), 1_000).concat().into_iter().map(|f| f.path).collect();
    assert_eq!(merged, ["f1", "f2"]);
}

#[tokio::test]
async fn retention_cuts_inside_a_shared_month_folder() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
    let a = store.meta().create_tenant("a").unwrap().id;
    store
        .append_facts(
            a,
            &[
                fact(FactKind::Start, "2026-03-02T09:00:00Z", 1, "A", 1),
                fact(FactKind::Start, "2026-03-20T09:00:00Z", 2, "A", 1),
            ],
        )
        .unwrap();
    // Both days are months old: one folder, month=2026-03.
    assert_eq!(store.flush(1).unwrap().files_written, 1);
    assert_eq!(store.apply_retention(a, NaiveDate::from_ymd_opt(2026, 3, 10).unwrap()).unwrap(), 1);
    assert_eq!(starts(&store, a).await, Cell::Int(1));
    store.close();
}

#[test]
fn one_tenant_held_does_not_hold_up_another_tenants_query() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap());
    let a = store.meta().create_tenant("a").unwrap().id;
    let b = store.meta().create_tenant("b").unwrap().id;
    store.append_facts(b, &[fact(FactKind::Start, "2026-03-02T09:10:00Z", 1, "A", 1)]).unwrap();
    // While tenant a's tables are held (as its compaction or erasure holds
    // them), tenant b's query is answered.
    let answered = store
        .with_tenant(a, |_| {
            let (tx, rx) = std::sync::mpsc::channel();
            let other = store.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
                let _ = tx.send(rt.block_on(starts(&other, b)));
            });
            Ok(rx.recv_timeout(Duration::from_secs(10)).ok())
        })
        .unwrap();
    assert_eq!(answered, Some(Cell::Int(1)), "tenant b's query waited for tenant a");
}

fn event(user: Option<&str>, ts: &str, lsn: u64) -> (u64, EnrichedEvent) {
    let mut e = streamtally_model::PlayerEvent::new(streamtally_model::EventType::Playing, streamtally_model::parse_ts(ts).unwrap(), "p", "A");
    e.user_id = user.map(str::to_string);
    let enriched = EnrichedEvent {
        received_at: e.ts,
        event: e,
        device_key: DeviceKey(u64::MAX - lsn),
        referrer_host: None,
        client: ClientFamily::UNKNOWN,
        geo: Geo::UNKNOWN,
    };
    (lsn, enriched)
}

async fn events_of(store: &EmbeddedStore, tenant: TenantId, user: &str) -> Vec<Vec<Cell>> {
    let scope = Scope {
        events: true,
        ..Scope::facts(
            streamtally_model::parse_ts("2026-03-01T00:00:00Z").unwrap(),
            streamtally_model::parse_ts("2026-04-01T00:00:00Z").unwrap(),
        )
    };
    let sql = Sql {
        text: "SELECT lsn, user_id FROM events WHERE user_id = $1 ORDER BY ts".into(),
        params: vec![user.to_string()],
        columns: ["lsn", "user_id"].map(String::from).to_vec(),
    };
    store.run_select(tenant, scope, &[sql]).await.unwrap().pop().unwrap().rows
}

#[tokio::test]
async fn raw_events_are_written_by_user_and_read_back_one_user_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
    let a = store.meta().create_tenant("a").unwrap().id;
    store
        .append_events(
            a,
            vec![
                event(Some("zoe"), "2026-03-02T09:00:00Z", 1),
                event(None, "2026-03-02T09:00:01Z", 1),
                event(Some("ann"), "2026-03-02T09:00:02Z", 1),
            ],
        )
        .unwrap();
    store.flush(1).unwrap();
    store
        .append_events(
            a,
            vec![event(Some("ann"), "2026-03-02T10:00:00Z", 2), event(Some("bob"), "2026-03-02T10:00:01Z", 2)],
        )
        .unwrap();
    // From a file and from memory alike.
    assert_eq!(events_of(&store, a, "ann").await.len(), 2);
    assert_eq!(events_of(&store, a, "zoe").await, vec![vec![Cell::Int(1), Cell::Text("zoe".into())]]);
    store.flush(2).unwrap();
    assert_eq!(events_of(&store, a, "ann").await.len(), 2);
    assert_eq!(events_of(&store, a, "bob").await.len(), 1);
    // Each file is sorted by user, anonymous rows last.
    let (files, _) = store
        .with_tenant(a, |t| {
            Ok((t.events.files_between(0, streamtally_model::parse_ts("2027-01-01T00:00:00Z").unwrap()), ()))
        })
        .unwrap();
    let users: Vec<Option<String>> = read_parquet(Path::new(&files[0]))
        .unwrap()
        .iter()
        .flat_map(|b| {
            let c = b.column_by_name("user_id").unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
            (0..c.len()).map(move |i| (!c.is_null(i)).then(|| c.value(i).to_string()))
        })
        .collect();
    assert_eq!(users, [Some("ann".to_string()), Some("zoe".into()), None]);
    store.close();
}

/// Rewrites a facts file as a release before free dimensions wrote it.
fn without_dimensions(path: &Path) {
    let batches: Vec<RecordBatch> = read_parquet(path)
        .unwrap()
        .into_iter()
        .map(|b| {
            let keep: Vec<usize> = (0..b.num_columns()).filter(|i| b.schema().field(*i).name() != "dimensions").collect();
            b.project(&keep).unwrap()
        })
        .collect();
    let mut writer = ArrowWriter::try_new(File::create(path).unwrap(), batches[0].schema(), None).unwrap();
    for b in &batches {
        writer.write(b).unwrap();
    }
    writer.close().unwrap();
}

#[tokio::test]
async fn files_written_before_free_dimensions_are_read_compacted_and_erased_with_newer_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
    let a = store.meta().create_tenant("a").unwrap().id;
    store.append_facts(a, &[fact(FactKind::Start, "2026-03-02T09:00:00Z", 1, "A", 1)]).unwrap();
    store.flush(1).unwrap();
    let old = store.with_tenant(a, |t| Ok(t.facts.dir.join(&t.facts.manifest.files[0].path))).unwrap();
    without_dimensions(&old);
    let dims = std::collections::BTreeMap::from([("plan".to_string(), "gold".to_string())]);
    for lsn in 2..=COMPACT_AT_FILES as u64 {
        let mut f = fact(FactKind::Start, "2026-03-02T10:00:00Z", lsn, "A", lsn);
        f.dimensions = Some(&dims);
        store.append_facts(a, &[f]).unwrap();
        store.flush(lsn).unwrap();
    }
    let files = store.with_tenant(a, |t| Ok(t.facts.manifest.files.len())).unwrap();
    assert_eq!(files, 1, "the old file was compacted with the newer ones");
    let sql = Sql {
        text: "SELECT free_dimension(dimensions, 'plan') AS plan, COUNT(*) AS n FROM facts GROUP BY 1 ORDER BY 1".into(),
        params: vec![],
        columns: vec!["plan".into(), "n".into()],
    };
    let march = Scope::facts(
        streamtally_model::parse_ts("2026-03-01T00:00:00Z").unwrap(),
        streamtally_model::parse_ts("2026-04-01T00:00:00Z").unwrap(),
    );
    let table = store.run_select(a, march, std::slice::from_ref(&sql)).await.unwrap().remove(0);
    let n = (COMPACT_AT_FILES - 1) as i64;
    assert_eq!(table.rows, vec![vec![Cell::Text("gold".into()), Cell::Int(n)], vec![Cell::Null, Cell::Int(1)]]);
    assert_eq!(store.erase(a, &Subject::UserId("u1".into())).unwrap().facts, 1);
    store.close();
}

#[tokio::test]
async fn spans_are_stored_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
    let a = store.meta().create_tenant("a").unwrap().id;
    let mut f = fact(FactKind::Time, "2026-03-02T09:00:00Z", 1, "A", 1);
    f.span = Some((3, 9));
    store.append_facts(a, &[f]).unwrap();
    let sql = Sql {
        text: "SELECT MAX(f.span_to) AS seen FROM facts AS f".into(),
        params: vec![],
        columns: vec!["seen".into()],
    };
    let march = Scope::facts(
        streamtally_model::parse_ts("2026-03-01T00:00:00Z").unwrap(),
        streamtally_model::parse_ts("2026-04-01T00:00:00Z").unwrap(),
    );
    let t = store.run_select(a, march, std::slice::from_ref(&sql)).await.unwrap().remove(0);
    assert_eq!(t.rows, vec![vec![Cell::Int(9)]]);
    store.flush(1).unwrap();
    let t = store.run_select(a, march, std::slice::from_ref(&sql)).await.unwrap().remove(0);
    assert_eq!(t.rows, vec![vec![Cell::Int(9)]]);
}

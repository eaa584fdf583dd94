//! Batch boundaries, checkpoints and restarts change no answer.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use proptest::prelude::*;
use streamtally_model::{parse_ts, ClientFamily, ContentKind, DeviceKey, EnrichedEvent, EventType, Fact, Geo, Media, Micros, PlayerEvent, Text};
use streamtally_query::{Answer, Ask, MetricsQuery};

use super::counting::recycle;
use super::*;

fn events() -> Vec<EnrichedEvent> {
    let base = parse_ts("2026-03-02T09:00:00Z").unwrap();
    let mut out = Vec::new();
    for i in 0..60i64 {
        let device = (i % 7) as u64;
        let pid = format!("p{}", i % 11);
        let content = format!("c{}", i % 3);
        let ts = base + i * 97 * 1_000_000;
        let kind = [
            EventType::PlayerLoaded,
            EventType::Play,
            EventType::Playing,
            EventType::Playing,
            EventType::FileDownloaded,
        ][i as usize % 5];
        let mut ev = PlayerEvent::new(kind, ts, &pid, &content);
        if kind == EventType::Playing {
            ev.duration = Some((i % 9) as f64);
        }
        out.push(EnrichedEvent {
            received_at: ts,
            event: ev,
            device_key: DeviceKey(device),
            referrer_host: None,
            client: ClientFamily::default(),
            geo: Geo::default(),
        });
    }
    out
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

pub(crate) fn wait_applied(p: &Pipeline) {
    for _ in 0..500 {
        if p.progress().applied_lsn.load(Ordering::SeqCst) >= p.progress().durable_lsn.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("the engine did not catch up");
}

fn answer(p: &Pipeline, tenant: TenantId) -> Answer {
    let q = MetricsQuery::parse(
        "2026-03-01",
        "2026-03-04",
        "starts,streams,time,downloads,devices,views,users",
        Some("hour,content_id"),
        None,
        None,
    )
    .unwrap();
    runtime().block_on(p.store().query(tenant, &q)).unwrap()
}

/// Sends `events` in batches cut at `cuts`, restarting the pipeline after batch `restart_at`.
fn run(cuts: &[usize], restart_at: Option<usize>, checkpoint_every: Duration) -> Answer {
    let dir = tempfile::tempdir().unwrap();
    let config = PipelineConfig {
        checkpoint_interval: checkpoint_every,
        checkpoint_rows: 1_000_000,
        ..PipelineConfig::default()
    };
    let mut p = open_serving(dir.path(), config.clone()).unwrap();
    let tenant = p.meta().create_tenant("t").unwrap().id;
    let all = events();
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (all.len() + 1)).collect();
    bounds.push(0);
    bounds.push(all.len());
    bounds.sort_unstable();
    bounds.dedup();
    let rt = runtime();
    for (i, w) in bounds.windows(2).enumerate() {
        let ctx = p.tenants().get(tenant).unwrap();
        rt.block_on(p.submit(&ctx, all[w[0]..w[1]].to_vec())).unwrap();
        if restart_at == Some(i) {
            wait_applied(&p);
            p.shutdown();
            drop(p);
            p = open_serving(dir.path(), config.clone()).unwrap();
        }
    }
    wait_applied(&p);
    let a = answer(&p, tenant);
    p.shutdown();
    a
}

#[test]
fn wal_replay_after_restart_without_checkpoint_counts_once() {
    let whole = run(&[], None, Duration::from_secs(3600));
    let restarted = run(&[10, 30], Some(1), Duration::from_secs(3600));
    assert_eq!(whole, restarted);
    assert!(!whole.rows.rows.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]
    #[test]
    fn batch_boundaries_checkpoints_and_restarts_change_nothing(cuts in proptest::collection::vec(0usize..61, 0..8), restart in proptest::option::of(0usize..8), fast in any::<bool>()) {
        let whole = run(&[], None, Duration::from_secs(3600));
        let every = if fast { Duration::from_millis(1) } else { Duration::from_secs(3600) };
        prop_assert_eq!(whole, run(&cuts, restart, every));
    }
}

/// An event in the shape record versions 1 to 4 wrote (field for field).
#[allow(clippy::type_complexity)]
fn event_v4(
    e: &EnrichedEvent,
) -> (
    Micros,
    (
        EventType,
        Micros,
        &Option<String>,
        &Option<String>,
        Option<f64>,
        Option<f64>,
        Option<ContentKind>,
        Option<Media>,
        Option<f64>,
        Option<f64>,
        &Option<String>,
        &Option<String>,
        &Option<String>,
        &Option<String>,
        &Option<String>,
        &BTreeMap<String, String>,
    ),
    DeviceKey,
    &Option<Text>,
    &ClientFamily,
    &Geo,
) {
    let v = &e.event;
    let event = (
        v.event_type,
        v.ts,
        &v.playback_id,
        &v.content_id,
        v.position,
        v.duration,
        v.content_kind,
        v.media,
        v.bitrate,
        v.bandwidth,
        &v.property,
        &v.user_id,
        &v.device_id,
        &v.access_code,
        &v.referrer,
        &v.dimensions,
    );
    (e.received_at, event, e.device_key, &e.referrer_host, &e.client, &e.geo)
}

#[test]
fn wal_records_carry_a_version_and_refuse_unknown_ones() {
    let record = WalRecord {
        tenant: 7,
        received_at: 1_000,
        settings: vec![("stream_min_player".into(), "7s".into())],
        events: events()[..3].to_vec(),
        requests: Vec::new(),
        property: Some("radio-web".into()),
        import: vec![ImportPosition {
            file_key: "abc+shard0/2".into(),
            end: 4096,
        }],
    };
    let bytes = record.encode().unwrap();
    assert_eq!(bytes[0], 6);
    let back = WalRecord::decode(1, &bytes).unwrap();
    assert_eq!(
        (
            back.tenant,
            &back.events,
            back.received_at,
            &back.settings,
            back.property.as_deref(),
            &back.import
        ),
        (7, &record.events, 1_000, &record.settings, Some("radio-web"), &record.import)
    );
    // Version 5 records (no import positions) still read.
    let mut v5 = vec![5u8];
    postcard::to_io(
        &(7i64, 1_000i64, &record.settings, &record.events, Vec::<()>::new(), Some("radio-web")),
        &mut v5,
    )
    .unwrap();
    let old = WalRecord::decode(8, &v5).unwrap();
    assert_eq!((&old.events, old.property.as_deref(), old.import.len()), (&record.events, Some("radio-web"), 0));
    // Versions 1 to 4 hold events without `fatal` and `startup` (spec §8d).
    let old_events: Vec<_> = record.events.iter().map(event_v4).collect();
    let mut v4 = vec![4u8];
    postcard::to_io(&(7i64, 1_000i64, &record.settings, &old_events, Vec::<()>::new(), Some("radio-web")), &mut v4).unwrap();
    let old = WalRecord::decode(7, &v4).unwrap();
    assert_eq!((&old.events, old.property.as_deref()), (&record.events, Some("radio-web")));
    // Version 3 records (no property) still read, as `Others`.
    let mut v3 = vec![3u8];
    postcard::to_io(&(7i64, 1_000i64, &record.settings, &old_events, Vec::<()>::new()), &mut v3).unwrap();
    let old = WalRecord::decode(6, &v3).unwrap();
    assert_eq!((old.received_at, &old.events, old.property), (1_000, &record.events, None));
    // Version 2 records (events and requests, no settings) still read.
    let mut v2 = vec![2u8];
    postcard::to_io(&(7i64, &old_events, Vec::<()>::new()), &mut v2).unwrap();
    let old = WalRecord::decode(5, &v2).unwrap();
    assert_eq!((old.tenant, &old.events, old.settings.len()), (7, &record.events, 0));
    // Version 1 records (events only) still read.
    let mut v1 = vec![1u8];
    postcard::to_io(&(7i64, &old_events), &mut v1).unwrap();
    let old = WalRecord::decode(4, &v1).unwrap();
    assert_eq!((old.tenant, old.events, old.requests.len()), (7, record.events, 0));
    let mut newer = bytes.clone();
    newer[0] = 9;
    assert!(matches!(WalRecord::decode(2, &newer), Err(PipelineError::BadRecord { lsn: 2, .. })));
    assert!(WalRecord::decode(3, &[]).is_err());
}

#[test]
fn recycled_fact_vectors_keep_their_memory() {
    let scratch: Vec<Fact<'static>> = Vec::with_capacity(1000);
    let at = scratch.as_ptr() as usize;
    let content = String::from("c");
    let mut facts = recycle(scratch);
    let family = ClientFamily::default();
    facts.push(Fact {
        kind: streamtally_model::FactKind::View,
        ts: 0,
        value: 1.0,
        device_key: DeviceKey(1),
        content_id: Some(&content),
        playback_id: None,
        source: streamtally_model::Source::Player,
        property: streamtally_model::PROPERTY_OTHERS,
        content_kind: None,
        media: None,
        referrer_host: None,
        client: &family,
        geo: &Geo::UNKNOWN,
        user_id: None,
        dimensions: None,
        span: None,
        near: None,
        bitrate: None,
        access_code: None,
        served: None,
        lsn: 1,
    });
    let back: Vec<Fact<'static>> = recycle(facts);
    assert!(back.is_empty());
    assert!(back.capacity() >= 1000);
    assert_eq!(back.as_ptr() as usize, at, "the same memory, not a new allocation");
}

/// A store that refuses facts once told to: what a remote store does when it
/// is unreachable.
struct Refusing {
    inner: EmbeddedStore,
    refuse: std::sync::atomic::AtomicBool,
}

impl FactStore for Refusing {
    fn append_facts(&self, tenant: TenantId, facts: &[Fact<'_>]) -> Result<(), StoreError> {
        if self.refuse.load(Ordering::SeqCst) {
            return Err(StoreError::ReadOnly);
        }
        self.inner.append_facts(tenant, facts)
    }
    fn append_events(&self, tenant: TenantId, events: Vec<(u64, EnrichedEvent)>) -> Result<(), StoreError> {
        self.inner.append_events(tenant, events)
    }
    fn begin_checkpoint(&self) -> streamtally_store::Checkpoint {
        self.inner.begin_checkpoint()
    }
    fn finish_checkpoint(&self, c: &mut streamtally_store::Checkpoint, upto: u64) -> Result<streamtally_store::FlushStats, StoreError> {
        self.inner.finish_checkpoint(c, upto)
    }
    fn pending_rows(&self) -> usize {
        FactStore::pending_rows(&self.inner)
    }
    fn collect_garbage(&self) {
        self.inner.collect_garbage()
    }
    fn close(&self) {
        FactStore::close(&self.inner)
    }
    fn dialect(&self) -> streamtally_store::SqlDialect {
        self.inner.dialect()
    }
    fn select<'a>(
        &'a self,
        tenant: TenantId,
        scope: streamtally_store::Scope,
        statements: &'a [streamtally_store::Sql],
    ) -> streamtally_store::BoxFuture<'a, Result<Vec<streamtally_store::Table>, StoreError>> {
        self.inner.select(tenant, scope, statements)
    }
    fn erase(&self, tenant: TenantId, subject: &Subject) -> Result<Erased, StoreError> {
        self.inner.erase(tenant, subject)
    }
    fn apply_retention(&self, tenant: TenantId, keep_from_day: chrono::NaiveDate) -> Result<usize, StoreError> {
        self.inner.apply_retention(tenant, keep_from_day)
    }
    fn apply_raw_retention(&self, tenant: TenantId, keep_from_day: chrono::NaiveDate) -> Result<usize, StoreError> {
        self.inner.apply_raw_retention(tenant, keep_from_day)
    }
}

#[test]
fn facts_a_store_refused_are_counted_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = PipelineConfig {
        checkpoint_interval: Duration::from_millis(20),
        checkpoint_rows: 1_000_000,
        ..PipelineConfig::default()
    };
    let start = |refuse: bool| {
        let inner = EmbeddedStore::open(dir.path(), OpenMode::Serve).unwrap();
        let meta = inner.meta().clone();
        let store = Arc::new(Refusing {
            inner,
            refuse: std::sync::atomic::AtomicBool::new(refuse),
        });
        Pipeline::start(store, meta, DataFolder::new(dir.path()), config.clone()).unwrap()
    };
    let expected = run(&[], None, Duration::from_millis(20));
    let p = start(true);
    let tenant = p.meta().create_tenant("t").unwrap().id;
    let ctx = p.tenants().get(tenant).unwrap();
    runtime().block_on(p.submit(&ctx, events())).unwrap();
    wait_applied(&p);
    std::thread::sleep(Duration::from_millis(200));
    // No checkpoint covered the refused facts: the WAL still holds their inputs.
    assert_eq!(p.progress().checkpoint_lsn.load(Ordering::SeqCst), 0);
    p.shutdown();
    drop(p);
    let p = start(false);
    wait_applied(&p);
    assert_eq!(answer(&p, tenant), expected);
    p.shutdown();
}

#[test]
fn counting_a_record_moves_the_import_ledger_to_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let p = open_serving(dir.path(), PipelineConfig::default()).unwrap();
    let t = p.meta().create_tenant("t").unwrap().id;
    let ctx = p.tenants().get(t).unwrap();
    let at = |end| {
        vec![ImportPosition {
            file_key: "f+shard0/2".into(),
            end,
        }]
    };
    p.queue_requests_blocking(&ctx, Vec::new(), None, at(4096)).unwrap().wait().unwrap();
    wait_applied(&p);
    assert_eq!(p.meta().imported_bytes(t, "f+shard0/2").unwrap(), 4096, "no sender said so: counting did");
    // A position behind it never moves it back.
    p.queue_requests_blocking(&ctx, Vec::new(), None, at(100)).unwrap().wait().unwrap();
    wait_applied(&p);
    assert_eq!(p.meta().imported_bytes(t, "f+shard0/2").unwrap(), 4096);
    p.shutdown();
}

//! Spec §8d on the engine alone, for the cases the server tests do not
//! reach: a v2 CMCD session that starts after several `sta=s` requests, a
//! start that fails before its first frame and recovers, and a start in
//! progress when a version 4 snapshot was upgraded.

use streamtally_model::{parse_ts, CmcdQoe, DeviceKey, EnrichedEvent, EnrichedRequest, EventType, FactKind, Micros, RequestKind, MICROS_PER_SEC};

use crate::tests_support::ev;
use crate::Engine;

const T: i64 = 1;

fn at(secs: i64) -> Micros {
    parse_ts("2026-03-02T10:00:00Z").unwrap() + secs * MICROS_PER_SEC
}

fn kinds(out: &[streamtally_model::Fact]) -> Vec<(FactKind, f64)> {
    out.iter()
        .filter(|f| matches!(f.kind, FactKind::Startup | FactKind::Failure | FactKind::Stall | FactKind::Attempt))
        .map(|f| (f.kind, f.value))
        .collect()
}

fn cmcd(secs: i64, kind: RequestKind, state: &str, ms: Option<f64>) -> EnrichedRequest {
    EnrichedRequest {
        ts: at(secs),
        device_key: DeviceKey(7),
        client: Default::default(),
        geo: Default::default(),
        referrer_host: None,
        method: "GET".into(),
        status: 200,
        bytes: 100_000,
        range: None,
        kind,
        content_id: Some("V".into()),
        playback_id: Some("s".into()),
        content_kind: None,
        media: None,
        segment_seconds: Some(4.0),
        media_object: Some(secs as u64),
        bitrate_kbps: None,
        rebuffering: false,
        qoe: Some(Box::new(CmcdQoe {
            state: Some(state.into()),
            start_delay_ms: ms,
            ..CmcdQoe::default()
        })),
        cache_status: None,
        pop: None,
        zone: None,
    }
}

#[test]
fn a_cmcd_v2_session_starts_at_its_first_playing_request_after_several_starting_ones() {
    let requests: &'static [EnrichedRequest] = Box::leak(
        vec![
            cmcd(0, RequestKind::Manifest, "s", None),
            cmcd(1, RequestKind::Manifest, "s", None),
            cmcd(2, RequestKind::Segment, "s", None),
            cmcd(5, RequestKind::Segment, "p", None),
            // A later `msd` changes nothing: the startup was counted.
            cmcd(9, RequestKind::Segment, "p", Some(800.0)),
        ]
        .into_boxed_slice(),
    );
    let mut engine = Engine::new();
    let mut out = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        let _ = engine.apply_request(T, i as u64 + 1, r.ts, (r, "web"), &mut out);
    }
    assert_eq!(kinds(&out), [(FactKind::Startup, 5.0)]);
}

fn run(engine: &mut Engine, events: Vec<EnrichedEvent>) -> Vec<(FactKind, f64)> {
    let events: &'static [EnrichedEvent] = Box::leak(events.into_boxed_slice());
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let _ = engine.apply_event(T, i as u64 + 1, e, &mut out);
    }
    kinds(&out)
}

fn playing(secs: i64, duration: f64) -> EnrichedEvent {
    let mut e = ev(EventType::Playing, at(secs), "P", "V", 1);
    e.event.duration = Some(duration);
    e
}

#[test]
fn a_start_that_fails_before_its_first_frame_stays_a_failure_when_it_recovers() {
    let mut fatal = ev(EventType::Error, at(2), "P", "V", 1);
    fatal.event.fatal = true;
    let mut stall = ev(EventType::Buffering, at(20), "P", "V", 1);
    stall.event.duration = Some(2.0);
    let facts = run(
        &mut Engine::new(),
        vec![ev(EventType::Play, at(0), "P", "V", 1), fatal, playing(6, 0.0), playing(16, 10.0), stall],
    );
    // No startup (it would make the start both begun and failed before a frame);
    // its stalls after the recovery still count.
    assert_eq!(facts, [(FactKind::Attempt, 1.0), (FactKind::Failure, 1.0), (FactKind::Stall, 2.0)]);
}

#[test]
fn a_start_in_progress_in_a_version_4_snapshot_counts_no_startup() {
    use crate::legacy::{EngineV4, PlaybackStateV4, TenantStateV4};
    let mut v4 = TenantStateV4 {
        clock: at(30),
        ..TenantStateV4::default()
    };
    let old = PlaybackStateV4 {
        start_at: Some(at(0)),
        played: 20.0,
        streamed: false,
        last_ts: at(30),
        more: None,
    };
    v4.playbacks.insert("P".into(), old);
    let bytes = postcard::to_stdvec(&EngineV4 {
        tenants: [(T, v4)].into_iter().collect(),
    })
    .unwrap();
    let mut engine = Engine::restore_v4(&bytes).unwrap();
    let mut fatal = ev(EventType::Error, at(45), "P", "V", 1);
    fatal.event.fatal = true;
    let facts = run(&mut engine, vec![playing(40, 10.0), fatal]);
    // It played before the upgrade: its failure came after its first frame.
    assert_eq!(facts, [(FactKind::Failure, 0.0)]);
}

#[test]
fn an_error_code_repeated_on_every_request_is_one_error() {
    let with_error = |secs: i64, code: Option<&str>| {
        let mut r = cmcd(secs, RequestKind::Segment, "p", None);
        if let Some(q) = r.qoe.as_mut() {
            q.error = code.map(Into::into);
        }
        r
    };
    let requests: &'static [EnrichedRequest] = Box::leak(
        vec![
            cmcd(0, RequestKind::Manifest, "s", None),
            with_error(2, Some("E1")),
            with_error(4, Some("E1")),
            with_error(6, Some("E2")),
            with_error(8, None),
            with_error(10, Some("E2")),
        ]
        .into_boxed_slice(),
    );
    let mut engine = Engine::new();
    let mut out = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        let _ = engine.apply_request(T, i as u64 + 1, r.ts, (r, "web"), &mut out);
    }
    let faults: Vec<Micros> = out.iter().filter(|f| f.kind == FactKind::Fault).map(|f| f.ts).collect();
    assert_eq!(faults, [at(2), at(6), at(10)]);
}

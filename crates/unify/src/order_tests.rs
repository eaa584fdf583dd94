//! Spec §8a on the engine alone: arrival order of different devices changes
//! no fact (worked example 13 and a property over interleavings), late input
//! is refused rather than miscounted, and one far-dated input moves no clock.
//! Also the rules of §3/§4 that depend on kinds: live and on-demand users,
//! and segment time.

use proptest::prelude::*;
use streamtally_model::{
    parse_ts, ClientFamily, ContentKind, DeviceKey, EnrichedEvent, EnrichedRequest, EventType, Fact, FactKind, Geo, Micros, RequestKind, Source, MICROS_PER_SEC,
};

use crate::tests_support::ev;
use crate::{Dropped, Engine, EngineSettings};

const T: i64 = 1;
const H: Micros = 3600 * MICROS_PER_SEC;

fn base() -> Micros {
    parse_ts("2026-03-02T00:00:00Z").unwrap()
}

/// What an answer can see of a fact (the LSN says only when it was counted).
type Seen = (FactKind, Micros, u64, Option<String>, Source, Option<ContentKind>, i64, Option<String>);

fn seen(facts: &[Fact]) -> Vec<Seen> {
    let mut v: Vec<Seen> = facts
        .iter()
        .map(|f| {
            (
                f.kind,
                f.ts,
                f.device_key.0,
                f.content_id.map(str::to_string),
                f.source,
                f.content_kind,
                (f.value * 1e6).round() as i64,
                f.user_id.as_ref().map(|u| u.to_string()),
            )
        })
        .collect();
    // The kinds have no order of their own; their names do.
    v.sort_by_cached_key(|s| format!("{s:?}"));
    v
}

fn run(events: &[EnrichedEvent]) -> (Vec<Seen>, Vec<Result<(), Dropped>>) {
    let mut engine = Engine::new();
    let mut out = Vec::new();
    let verdicts = events
        .iter()
        .enumerate()
        .map(|(i, e)| engine.apply_event(T, i as u64 + 1, e, &mut out))
        .collect();
    (seen(&out), verdicts)
}

fn count(facts: &[Seen], kind: FactKind, device: u64) -> usize {
    facts.iter().filter(|f| f.0 == kind && f.2 == device).count()
}

#[test]
fn example_13_other_devices_far_ahead_do_not_close_a_device_s_windows() {
    let mut events = vec![ev(EventType::Play, base(), "X1", "A", 1)];
    // A few hundred other devices, 40 h later: enough inputs for sweeps to run.
    for d in 0..400u64 {
        events.push(ev(EventType::Play, base() + 40 * H + d as i64 * MICROS_PER_SEC, &format!("o{d}"), "B", 100 + d));
    }
    events.push(ev(EventType::Play, base() + H / 2, "X1", "A", 1));
    let (facts, verdicts) = run(&events);
    assert!(verdicts.iter().all(Result::is_ok));
    assert_eq!((count(&facts, FactKind::View, 1), count(&facts, FactKind::User, 1)), (1, 1));
    assert_eq!(count(&facts, FactKind::Start, 1), 1);
    // Exactly what the same inputs in time order give.
    let mut sorted = events.clone();
    sorted.sort_by_key(|e| e.event.ts);
    assert_eq!(run(&sorted).0, facts);
}

#[test]
fn input_older_than_the_lateness_window_is_refused_not_counted_twice() {
    let mut events = vec![ev(EventType::Play, base(), "X1", "A", 1)];
    events.push(ev(EventType::Play, base() + 60 * H, "Y", "B", 2));
    // 49 h behind the clock: beyond the default 48 h.
    events.push(ev(EventType::Play, base() + 11 * H, "X1", "A", 1));
    let (facts, verdicts) = run(&events);
    assert_eq!(verdicts[2], Err(Dropped::Late));
    assert_eq!(count(&facts, FactKind::View, 1), 1, "the late view is not counted at all");
    // Within a longer lateness it is counted, exactly once.
    let mut engine = Engine::new();
    engine.set_settings(
        T,
        EngineSettings {
            allowed_lateness: 72 * H,
            ..EngineSettings::default()
        },
    );
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        engine.apply_event(T, i as u64, e, &mut out).unwrap();
    }
    assert_eq!(count(&seen(&out), FactKind::View, 1), 2, "a new view: 11 h after the first");
}

#[test]
fn one_far_future_input_does_not_move_the_clock_for_everyone() {
    let now = base() + 10 * H;
    let mut far = ev(EventType::Play, parse_ts("9999-12-31T00:00:00Z").unwrap(), "Z", "C", 9);
    far.received_at = now;
    // The same playback played twice ten minutes apart, the far input between.
    let play = |minute: i64| {
        let mut e = ev(EventType::Play, now + minute * 60 * MICROS_PER_SEC, "P", "A", 1);
        e.received_at = now + minute * 60 * MICROS_PER_SEC;
        e
    };
    let events = vec![play(0), far, play(10)];
    let (facts, verdicts) = run(&events);
    assert!(verdicts.iter().all(Result::is_ok), "{verdicts:?}");
    assert_eq!(
        (
            count(&facts, FactKind::Start, 1),
            count(&facts, FactKind::User, 1),
            count(&facts, FactKind::View, 1)
        ),
        (1, 1, 1)
    );
}

#[test]
fn a_user_who_watched_live_and_on_demand_counts_once_in_each() {
    let mut live = ev(EventType::Playing, base() + H, "L1", "LIVE", 1);
    live.event.content_kind = Some(ContentKind::Live);
    let mut live2 = live.clone();
    live2.event.ts += 10 * MICROS_PER_SEC;
    let vod = ev(EventType::Playing, base() + H + 20 * MICROS_PER_SEC, "V1", "VOD", 1);
    let login = ev(EventType::SessionStart, base() + H - MICROS_PER_SEC, "", "", 1);
    let mut login = login;
    login.event.content_id = None;
    login.event.playback_id = None;
    let (facts, _) = run(&[login, live, live2, vod]);
    let users: Vec<_> = facts.iter().filter(|f| f.0 == FactKind::User).map(|f| f.5).collect();
    assert_eq!(users.iter().filter(|k| **k == Some(ContentKind::Live)).count(), 1, "{users:?}");
    assert_eq!(users.iter().filter(|k| **k != Some(ContentKind::Live)).count(), 1, "{users:?}");
}

fn segment(ts: Micros, path: &str, sid: Option<&str>) -> EnrichedRequest {
    EnrichedRequest {
        ts,
        device_key: DeviceKey(1),
        client: ClientFamily::default(),
        geo: Geo::default(),
        referrer_host: None,
        method: "GET".into(),
        status: 200,
        bytes: 500_000,
        range: None,
        kind: RequestKind::Segment,
        content_id: Some("V".into()),
        playback_id: sid.map(Into::into),
        content_kind: Some(ContentKind::Vod),
        media: None,
        segment_seconds: Some(6.0),
        media_object: sid.map(|_| path.bytes().map(u64::from).sum()),
        bitrate_kbps: None,
        rebuffering: false,
        qoe: None,
        cache_status: None,
        pop: None,
        zone: None,
    }
}

fn time_of(requests: &[EnrichedRequest], settings: EngineSettings) -> f64 {
    let mut engine = Engine::new();
    engine.set_settings(T, settings);
    let mut out = Vec::new();
    engine.apply_record(T, 1, base(), (&[], requests, None), &mut out);
    out.iter().filter(|f| f.kind == FactKind::Time).map(|f| f.value).sum()
}

#[test]
fn video_segments_have_time_only_from_cmcd_sessions_or_when_opted_in() {
    let plain: Vec<_> = (0..4).map(|i| segment(base() + i * 6 * MICROS_PER_SEC, &format!("/V/{i}.ts"), None)).collect();
    assert_eq!(time_of(&plain, EngineSettings::default()), 0.0, "video-log is request only by default");
    let opted = EngineSettings {
        video_log_time: streamtally_model::VideoLogTime::Segments,
        ..EngineSettings::default()
    };
    assert_eq!(time_of(&plain, opted), 24.0);
    // A CMCD session: four objects, one of them fetched twice, counts 4 × 6 s.
    let mut cmcd: Vec<_> = (0..4)
        .map(|i| segment(base() + i * 6 * MICROS_PER_SEC, &format!("/V/{i}.ts"), Some("s1")))
        .collect();
    cmcd.push(segment(base() + 30 * MICROS_PER_SEC, "/V/2.ts", Some("s1")));
    assert_eq!(time_of(&cmcd, EngineSettings::default()), 24.0);
}

/// A random scenario: devices each with their own inputs in time order, with
/// gaps around every window boundary (1 h idle, 4 h views, 24 h starts).
fn arb_scenario() -> impl Strategy<Value = Vec<EnrichedEvent>> {
    let gaps = prop_oneof![
        Just(10i64),
        Just(3599),
        Just(3601),
        Just(4 * 3600 - 1),
        Just(4 * 3600 + 1),
        Just(24 * 3600 - 1),
        Just(24 * 3600 + 1),
        0i64..(30 * 3600)
    ];
    // Some steps name one of two users (spec §8b), some none.
    let step = (0u8..8, gaps, 0u8..3, any::<bool>(), 0u8..12, 0u8..3);
    let device = (proptest::collection::vec(step, 1..12), 0i64..(40 * 3600));
    proptest::collection::vec(device, 1..40).prop_map(|devices| {
        let mut out = Vec::new();
        for (d, (steps, offset)) in devices.into_iter().enumerate() {
            let mut ts = base() + offset * MICROS_PER_SEC;
            for (k, gap, content, live, secs, user) in steps {
                ts += gap * MICROS_PER_SEC;
                let kind = [
                    EventType::Play,
                    EventType::Playing,
                    EventType::Playing,
                    EventType::PlaybackStart,
                    EventType::FileDownloaded,
                    EventType::Pause,
                    // Spec §8d: stalls, errors (some fatal) and bitrates.
                    EventType::Buffering,
                    EventType::Error,
                ][k as usize];
                let mut e = ev(kind, ts, &format!("d{d}p{content}"), &format!("c{content}"), d as u64);
                if live {
                    e.event.content_kind = Some(ContentKind::Live);
                }
                if matches!(kind, EventType::Playing | EventType::Buffering) {
                    e.event.duration = Some(secs as f64);
                    e.event.bitrate = Some(500.0 * f64::from(1 + secs % 3));
                }
                e.event.fatal = kind == EventType::Error && secs % 2 == 0;
                if user > 0 {
                    e.event.user_id = Some(format!("u{d}-{user}"));
                }
                out.push(e);
            }
        }
        out
    })
}

/// Interleaves the devices' streams in the order `picks` chooses (each pick a
/// device index modulo the devices left), keeping each device's own order.
fn interleave(events: &[EnrichedEvent], picks: &[usize]) -> Vec<EnrichedEvent> {
    let mut by_device: std::collections::BTreeMap<u64, std::collections::VecDeque<EnrichedEvent>> = Default::default();
    for e in events {
        by_device.entry(e.device_key.0).or_default().push_back(e.clone());
    }
    let mut queues: Vec<_> = by_device.into_values().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while !queues.is_empty() {
        let q = picks.get(i).copied().unwrap_or(0) % queues.len();
        i += 1;
        if let Some(e) = queues[q].pop_front() {
            out.push(e);
        }
        if queues[q].is_empty() {
            queues.remove(q);
        }
    }
    out
}

/// Device by device within slices of `hours` of event time.
fn device_by_device(events: &[EnrichedEvent], hours: i64) -> Vec<EnrichedEvent> {
    let mut v = events.to_vec();
    v.sort_by_key(|e| ((e.event.ts - base()).div_euclid(hours * H), e.device_key.0, e.event.ts));
    v
}

/// Whether no input comes more than the lateness behind the newest before it.
fn within_lateness(events: &[EnrichedEvent]) -> bool {
    let mut newest = Micros::MIN;
    events.iter().all(|e| {
        let ok = e.event.ts >= newest.saturating_sub(48 * H);
        newest = newest.max(e.event.ts);
        ok
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    /// Spec §8a: any interleaving that keeps each device's order and stays
    /// within the lateness gives the facts of the inputs sorted by time.
    #[test]
    fn facts_do_not_depend_on_how_devices_interleave(events in arb_scenario(), picks in proptest::collection::vec(0usize..64, 0..600), hours in 1i64..8) {
        let mut sorted = events.clone();
        sorted.sort_by_key(|e| e.event.ts);
        let (expected, _) = run(&sorted);
        for order in [device_by_device(&events, hours), interleave(&events, &picks)] {
            if !within_lateness(&order) {
                continue;
            }
            let (facts, verdicts) = run(&order);
            prop_assert!(verdicts.iter().all(|v| *v != Err(Dropped::Late)));
            prop_assert_eq!(&facts, &expected);
        }
    }
}

#[test]
fn a_version_2_snapshot_is_upgraded_and_its_windows_go_on() {
    use crate::legacy::{EngineV2, LogPlayV2, TenantStateV2};
    let mut v2 = TenantStateV2 {
        watermark: base() + H,
        swept_at: base(),
        ..TenantStateV2::default()
    };
    v2.users.insert(
        DeviceKey(1),
        crate::state::UserSession {
            began: base(),
            last_active: base() + H / 2,
        },
    );
    v2.views.insert((DeviceKey(1), "A".into()), base());
    v2.log_plays.insert(
        (DeviceKey(2), "E".into()),
        LogPlayV2 {
            start_at: base(),
            played: 10.0,
            streamed: false,
        },
    );
    let bytes = postcard::to_stdvec(&EngineV2 {
        tenants: [(T, v2)].into_iter().collect(),
    })
    .unwrap();
    let mut engine = Engine::restore_v2(&bytes).unwrap();
    assert_eq!(engine.clock(T), Some(base() + H));
    assert_eq!(engine.state_keys(), 3);
    // The device's user and view go on: a request 40 minutes later opens neither.
    let play = ev(EventType::Play, base() + H / 2 + 40 * 60 * MICROS_PER_SEC, "P", "A", 1);
    let mut out = Vec::new();
    engine.apply_event(T, 1, &play, &mut out).unwrap();
    let facts = seen(&out);
    assert_eq!(
        (
            count(&facts, FactKind::User, 1),
            count(&facts, FactKind::View, 1),
            count(&facts, FactKind::Start, 1)
        ),
        (0, 0, 1)
    );
}

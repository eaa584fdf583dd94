//! The spec's worked examples 1, 2, 3, 6 and 7 on the engine alone, plus the
//! determinism and boundedness properties. (The same examples also run through
//! the HTTP API and the store in the server's integration tests.)

use proptest::prelude::*;
use streamtally_model::{parse_ts, ClientFamily, DeviceKey, EnrichedEvent, EventType, Fact, FactKind, Geo, Micros};

use crate::tests_support::ev;
use crate::Engine;

/// The default `allowed_lateness`.
const LATENESS: Micros = 48 * 3600 * 1_000_000;

const T: i64 = 1;

fn at(hms: &str) -> Micros {
    parse_ts(&format!("2026-03-02T{hms}Z")).unwrap()
}

fn playing(ts: Micros, pid: &str, content: &str, secs: f64) -> EnrichedEvent {
    let mut e = ev(EventType::Playing, ts, pid, content, 1);
    e.event.duration = Some(secs);
    e
}

/// Facts borrow their inputs; the inputs of a test live as long as the test.
fn kept<T: Clone>(inputs: &[T]) -> &'static [T] {
    Box::leak(inputs.to_vec().into_boxed_slice())
}

fn run(events: &[EnrichedEvent]) -> Vec<Fact<'static>> {
    let mut engine = Engine::new();
    let mut out = Vec::new();
    for (i, e) in kept(events).iter().enumerate() {
        let _ = engine.apply_event(T, i as u64 + 1, e, &mut out);
    }
    out
}

fn total(facts: &[Fact], kind: FactKind) -> f64 {
    facts.iter().filter(|f| f.kind == kind).map(|f| f.value).sum()
}

#[test]
fn example_1_three_playing_of_ten_seconds() {
    let facts = run(&[
        ev(EventType::PlayerLoaded, at("10:00:00"), "P1", "A", 1),
        ev(EventType::Play, at("10:00:01"), "P1", "A", 1),
        playing(at("10:00:11"), "P1", "A", 10.0),
        playing(at("10:00:21"), "P1", "A", 10.0),
        playing(at("10:00:31"), "P1", "A", 10.0),
        ev(EventType::Pause, at("10:00:31"), "P1", "A", 1),
    ]);
    assert_eq!(total(&facts, FactKind::Start), 1.0);
    assert_eq!(total(&facts, FactKind::Stream), 1.0);
    assert_eq!(total(&facts, FactKind::Time), 30.0);
    // The stream is attributed to its start.
    assert_eq!(facts.iter().find(|f| f.kind == FactKind::Stream).unwrap().ts, at("10:00:01"));
}

#[test]
fn example_2_four_seconds_is_a_start_but_no_stream() {
    let facts = run(&[
        ev(EventType::Play, at("11:00:00"), "P2", "A", 1),
        playing(at("11:00:04"), "P2", "A", 4.0),
        ev(EventType::ContentEnd, at("11:00:04"), "P2", "A", 1),
    ]);
    assert_eq!(
        (total(&facts, FactKind::Start), total(&facts, FactKind::Stream), total(&facts, FactKind::Time)),
        (1.0, 0.0, 4.0)
    );
}

#[test]
fn example_3_loaded_and_playback_start_alone_are_no_start() {
    let facts = run(&[
        ev(EventType::PlayerLoaded, at("12:00:00"), "P3", "A", 1),
        ev(EventType::PlaybackStart, at("12:00:01"), "P3", "A", 1),
    ]);
    assert_eq!(total(&facts, FactKind::Start), 0.0);
}

#[test]
fn example_6_views() {
    let facts = run(&[
        ev(EventType::Play, at("09:50:00"), "a1", "A", 1),
        ev(EventType::Play, at("09:55:00"), "b1", "B", 1),
        ev(EventType::Play, at("09:59:00"), "a2", "A", 1),
        ev(EventType::Play, at("14:00:00"), "a3", "A", 1),
    ]);
    let views: Vec<_> = facts
        .iter()
        .filter(|f| f.kind == FactKind::View)
        .map(|f| (f.content_id.unwrap(), f.ts))
        .collect();
    assert_eq!(views, vec![("A", at("09:50:00")), ("B", at("09:55:00")), ("A", at("14:00:00"))]);
}

/// Heartbeats every `step` seconds from `from` to `to` inclusive.
fn active(from: &str, to: &str, step: i64) -> Vec<EnrichedEvent> {
    let (a, b) = (at(from), at(to));
    (0..)
        .map(|i| a + i * step * 1_000_000)
        .take_while(|t| *t <= b)
        .map(|t| playing(t, "p", "A", step as f64))
        .collect()
}

#[test]
fn example_7_users() {
    let mut events = active("09:10:00", "09:40:00", 10);
    events.extend(active("10:20:00", "10:30:00", 10));
    let users = |events: &[EnrichedEvent]| -> Vec<Micros> { run(events).iter().filter(|f| f.kind == FactKind::User).map(|f| f.ts).collect() };
    assert_eq!(users(&events), vec![at("09:10:00")]);
    events.extend(active("11:45:00", "11:50:00", 10));
    assert_eq!(users(&events), vec![at("09:10:00"), at("11:45:00")]);
    events.extend(active("13:00:00", "17:30:00", 10));
    assert_eq!(users(&events), vec![at("09:10:00"), at("11:45:00"), at("13:00:00"), at("17:00:00")]);
}

#[test]
fn a_start_is_counted_again_after_its_window() {
    let next_day = at("10:00:01") + 24 * 3600 * 1_000_000;
    let facts = run(&[
        ev(EventType::Play, at("10:00:01"), "P", "A", 1),
        ev(EventType::Play, at("20:00:00"), "P", "A", 1),
        ev(EventType::Play, next_day, "P", "A", 1),
    ]);
    assert_eq!(total(&facts, FactKind::Start), 2.0);
}

#[test]
fn downloads_unify_per_device_and_content_for_24_hours() {
    let day2 = at("09:30:00") + 24 * 3600 * 1_000_000;
    let facts = run(&[
        ev(EventType::FileDownloaded, at("09:00:00"), "d1", "E", 1),
        ev(EventType::FileDownloaded, at("20:00:00"), "d2", "E", 1),
        ev(EventType::FileDownloaded, at("20:00:00"), "d3", "E", 2),
        ev(EventType::FileDownloaded, day2, "d4", "E", 1),
    ]);
    assert_eq!(total(&facts, FactKind::Download), 3.0);
    assert_eq!(total(&facts, FactKind::Start), 0.0);
}

#[test]
fn bots_count_nothing() {
    let mut e = ev(EventType::Play, at("10:00:00"), "P", "A", 1);
    e.client.bot = true;
    assert!(run(&[e]).is_empty());
}

#[test]
fn state_is_bounded_by_active_keys() {
    let mut engine = Engine::new();
    // 40 000 playbacks, one per minute (four weeks), each on its own device: old ones expire.
    for i in 0..40_000i64 {
        let ts = at("00:00:00") + i * 60 * 1_000_000;
        let _ = engine.apply_event(T, i as u64, &ev(EventType::Play, ts, &format!("p{i}"), "A", i as u64), &mut Vec::new());
    }
    // Each device holds a playback (start window 24 h), a view (4 h) and a user
    // (1 h), each kept `allowed_lateness` (48 h) past its window.
    let minutes = |window_h: i64| (window_h * 3600 + LATENESS / 1_000_000) / 60 + 2;
    let live = (minutes(24) + minutes(4) + minutes(1)) as usize;
    // Sweeps come once the inputs since the last one are an eighth of the keys
    // held, so expired keys wait at most that long: state stays within twice the live keys.
    let keys = engine.state_keys();
    assert!(keys < 2 * live, "{keys} keys, {live} live");
    assert!(keys < 3 * 40_000 / 2, "{keys} keys: old state must be swept");
    let bytes = engine.state_bytes();
    println!("engine state: {keys} keys, about {bytes} bytes in memory, {} bytes per key", bytes / keys);
    assert!(bytes / keys < 200, "{} bytes per key", bytes / keys);
}

fn arb_events() -> impl Strategy<Value = Vec<EnrichedEvent>> {
    let one = (0u8..6, 0i64..(30 * 3600), 0u8..4, 0u8..3, 0u64..3, 0u8..12).prop_map(|(k, secs, pid, content, dev, dur)| {
        let kind = [
            EventType::Play,
            EventType::Playing,
            EventType::Playing,
            EventType::PlaybackStart,
            EventType::FileDownloaded,
            EventType::Pause,
        ][k as usize];
        let mut e = ev(kind, at("00:00:00") + secs * 1_000_000, &format!("p{pid}"), &format!("c{content}"), dev);
        if kind == EventType::Playing {
            e.event.duration = Some(dur as f64);
        }
        e
    });
    proptest::collection::vec(one, 0..120).prop_map(|mut v| {
        // Mostly in time order, as players send them.
        v.sort_by_key(|e| e.event.ts);
        v
    })
}

proptest! {
    /// Snapshotting and restoring at any point changes no fact.
    #[test]
    fn snapshot_restore_anywhere_gives_the_same_facts(events in arb_events(), cut in 0usize..120) {
        let whole = run(&events);
        let cut = cut.min(events.len());
        let mut engine = Engine::new();
        let mut out = Vec::new();
        for (i, e) in events[..cut].iter().enumerate() {
            let _ = engine.apply_event(T, i as u64 + 1, e, &mut out);
        }
        let mut engine = Engine::restore(&engine.snapshot().unwrap()).unwrap();
        for (i, e) in events[cut..].iter().enumerate() {
            let _ = engine.apply_event(T, (cut + i) as u64 + 1, e, &mut out);
        }
        prop_assert_eq!(whole, out);
    }

    /// Streams never outnumber starts, and time is exactly the reported playing seconds.
    #[test]
    fn streams_never_exceed_starts_and_time_is_reported_seconds(events in arb_events()) {
        let facts = run(&events);
        prop_assert!(total(&facts, FactKind::Stream) <= total(&facts, FactKind::Start));
        let reported: f64 = events.iter().filter(|e| e.event.event_type == EventType::Playing).filter_map(|e| e.event.duration).sum();
        prop_assert!((total(&facts, FactKind::Time) - reported).abs() < 1e-9);
    }
}

/// Distinct devices active per minute of `content`, as the live query counts them.
fn concurrency(facts: &[Fact], content: &str) -> std::collections::BTreeMap<Micros, usize> {
    let mut minutes: std::collections::BTreeMap<Micros, std::collections::BTreeSet<u64>> = Default::default();
    for f in facts.iter().filter(|f| f.kind == FactKind::Active && f.content_id == Some(content)) {
        minutes.entry(f.ts).or_default().insert(f.device_key.0);
    }
    minutes.into_iter().map(|(m, d)| (m, d.len())).collect()
}

fn heartbeats(device: u64, pid: &str, content: &str, from: Micros, to: Micros) -> Vec<EnrichedEvent> {
    (0..)
        .map(|i| from + i * 10 * crate::tests_support::SEC)
        .take_while(|t| *t <= to)
        .map(|t| {
            let mut e = ev(EventType::Playing, t, pid, content, device);
            e.event.duration = Some(10.0);
            e
        })
        .collect()
}

#[test]
fn example_8_live_concurrency_per_minute() {
    let mut events = heartbeats(1, "X", "L", at("10:00:00"), at("10:05:30"));
    events.extend(heartbeats(2, "Y", "L", at("10:03:10"), at("10:07:00")));
    events.sort_by_key(|e| e.event.ts);
    let facts = run(&events);
    let series = concurrency(&facts, "L");
    let expected: Vec<(Micros, usize)> = [
        ("10:00:00", 1),
        ("10:01:00", 1),
        ("10:02:00", 1),
        ("10:03:00", 2),
        ("10:04:00", 2),
        ("10:05:00", 2),
        ("10:06:00", 1),
        ("10:07:00", 1),
    ]
    .iter()
    .map(|(t, n)| (at(t), *n))
    .collect();
    assert_eq!(series.into_iter().collect::<Vec<_>>(), expected);
    // One fact per device and minute: repeats within a minute add nothing.
    assert_eq!(facts.iter().filter(|f| f.kind == FactKind::Active).count(), 6 + 5);
}

#[test]
fn activity_arriving_late_or_out_of_order_is_not_counted_twice() {
    let mut m = crate::tests_support::recent(100);
    assert!(!m.mark(100));
    assert!(m.mark(98));
    assert!(!m.mark(98));
    assert!(m.mark(101));
    assert!(!m.mark(98));
    assert!(m.mark(170));
    assert!(!m.mark(170));
    assert!(m.mark(120));
}

fn with_code(mut events: Vec<EnrichedEvent>, code: &str) -> Vec<EnrichedEvent> {
    for e in &mut events {
        e.event.access_code = Some(code.into());
    }
    events
}

fn attended(facts: &[Fact], code: &str) -> f64 {
    facts
        .iter()
        .filter(|f| f.kind == FactKind::Attended && f.access_code == Some(code))
        .map(|f| f.value)
        .sum()
}

#[test]
fn example_9_two_tabs_count_once() {
    // Heartbeats every 10 s, each covering the 10 s before it.
    let mut events = with_code(heartbeats(1, "tab1", "L", at("09:00:10"), at("09:30:00")), "A-1001");
    events.extend(with_code(heartbeats(1, "tab2", "L", at("09:20:10"), at("09:45:00")), "A-1001"));
    events.sort_by_key(|e| e.event.ts);
    let facts = run(&events);
    assert_eq!(attended(&facts, "A-1001"), 45.0 * 60.0);
    let pieces: Vec<&Fact> = facts.iter().filter(|f| f.kind == FactKind::Attended).collect();
    assert_eq!(pieces.iter().map(|f| f.ts).min(), Some(at("09:00:00")));
    let last = pieces.iter().map(|f| f.ts + (f.value * 1e6) as i64).max();
    assert_eq!(last, Some(at("09:45:00")));
    // Facts of other kinds never carry the code.
    assert!(facts.iter().filter(|f| f.kind != FactKind::Attended).all(|f| f.access_code.is_none()));
}

#[test]
fn attendance_is_cut_at_midnight_in_the_tenant_time_zone() {
    // 22:50–23:10 UTC is 23:50–00:10 in Berlin (UTC+1 in March).
    let mut engine = Engine::new();
    let settings = crate::EngineSettings {
        tz: "Europe/Berlin".parse().unwrap(),
        ..Default::default()
    };
    engine.set_settings(T, settings);
    let mut out = Vec::new();
    let mut e = ev(EventType::Playing, at("23:10:00"), "P", "L", 1);
    e.event.duration = Some(1200.0);
    e.event.access_code = Some("C".into());
    let _ = engine.apply_event(T, 1, &e, &mut out);
    let pieces: Vec<(Micros, f64)> = out.iter().filter(|f| f.kind == FactKind::Attended).map(|f| (f.ts, f.value)).collect();
    assert_eq!(pieces, vec![(at("22:50:00"), 600.0), (at("23:00:00"), 600.0)]);
}

#[test]
fn cover_returns_exactly_the_new_pieces() {
    use crate::windows::cover;
    let mut iv = Vec::new();
    assert_eq!(cover(&mut iv, 10, 20), vec![(10, 20)]);
    assert_eq!(cover(&mut iv, 30, 40), vec![(30, 40)]);
    assert_eq!(cover(&mut iv, 15, 35), vec![(20, 30)]);
    assert_eq!(iv, vec![(10, 40)]);
    assert_eq!(cover(&mut iv, 0, 50), vec![(0, 10), (40, 50)]);
    assert_eq!(cover(&mut iv, 5, 45), vec![]);
    assert_eq!(iv, vec![(0, 50)]);
}

proptest! {
    #[test]
    fn cover_grows_by_the_union(ivs in proptest::collection::vec((0i64..200, 1i64..40), 1..30)) {
        let mut set = Vec::new();
        let mut seconds = std::collections::BTreeSet::new();
        for (a, len) in ivs {
            let new: i64 = crate::windows::cover(&mut set, a, a + len).iter().map(|(x, y)| y - x).sum();
            let before = seconds.len() as i64;
            seconds.extend(a..a + len);
            prop_assert_eq!(new, seconds.len() as i64 - before);
            prop_assert!(set.windows(2).all(|w| w[0].1 < w[1].0));
        }
    }
}

fn req(hms: &str, method: &str, status: u16, bytes: u64, path: &str, device: u64) -> streamtally_model::EnrichedRequest {
    let (kind, media) = match path.rsplit('.').next() {
        Some("mp3") => (streamtally_model::RequestKind::AudioFile, Some(streamtally_model::Media::Audio)),
        Some("m3u8") => (streamtally_model::RequestKind::Manifest, None),
        _ => (streamtally_model::RequestKind::Segment, None),
    };
    streamtally_model::EnrichedRequest {
        ts: at(hms),
        device_key: DeviceKey(device),
        client: ClientFamily::default(),
        geo: Geo::default(),
        referrer_host: None,
        method: method.into(),
        status,
        bytes,
        range: None,
        kind,
        content_id: Some("E".into()),
        playback_id: None,
        content_kind: None,
        media,
        segment_seconds: (kind == streamtally_model::RequestKind::Segment).then_some(6.0),
        media_object: None,
        bitrate_kbps: Some(128.0),
        rebuffering: false,
        qoe: None,
        cache_status: None,
        pop: None,
        zone: None,
    }
}

fn run_requests(reqs: &[streamtally_model::EnrichedRequest]) -> (Vec<Fact<'static>>, Vec<Result<(), crate::Dropped>>) {
    let mut engine = Engine::new();
    let mut out = Vec::new();
    let mut cdn = crate::CdnTally::default();
    let verdicts = kept(reqs)
        .iter()
        .enumerate()
        .map(|(i, r)| {
            cdn.add(r);
            engine.apply_request(T, i as u64 + 1, r.ts, (r, streamtally_model::PROPERTY_OTHERS), &mut out)
        })
        .collect();
    cdn.drain_into(reqs.len() as u64, streamtally_model::PROPERTY_OTHERS, &mut out);
    (out, verdicts)
}

#[test]
fn example_4_audio_log_byte_ranges() {
    let (facts, verdicts) = run_requests(&[
        req("08:00:00", "GET", 206, 50_000, "/E.mp3", 1),
        req("08:01:00", "GET", 206, 1_000_000, "/E.mp3", 1),
        req("10:00:00", "GET", 206, 480_000, "/E.mp3", 1),
    ]);
    assert_eq!(verdicts[0], Err(crate::Dropped::UnderMinBytes));
    assert_eq!(total(&facts, FactKind::Start), 1.0);
    assert_eq!(total(&facts, FactKind::Stream), 1.0);
    assert_eq!(total(&facts, FactKind::Time), 92.5);
    assert_eq!(facts.iter().find(|f| f.kind == FactKind::Start).unwrap().ts, at("08:01:00"));
    // Every request is CDN traffic, the dropped one too: summed per 5-minute bucket.
    assert_eq!(total(&facts, FactKind::Request), 1_530_000.0);
    let sums: Vec<(Micros, u64)> = facts
        .iter()
        .filter(|f| f.kind == FactKind::Request)
        .map(|f| (f.ts, f.served.as_ref().unwrap().requests))
        .collect();
    assert_eq!(sums, vec![(at("08:00:00"), 2), (at("10:00:00"), 1)]);
    // The same from a crawler: traffic, and nothing else.
    let mut bot = [
        req("08:01:00", "GET", 206, 1_000_000, "/E.mp3", 1),
        req("10:00:00", "GET", 206, 480_000, "/E.mp3", 1),
    ];
    for r in &mut bot {
        r.client.bot = true;
    }
    let (facts, verdicts) = run_requests(&bot);
    assert!(verdicts.iter().all(|v| *v == Err(crate::Dropped::Bot)));
    assert!(facts.iter().all(|f| f.kind == FactKind::Request));
}

#[test]
fn example_5_downloads_and_head() {
    let mut next_day = req("09:30:00", "GET", 200, 5_000_000, "/E.mp3", 1);
    next_day.ts += 24 * 3600 * MICROS_PER_SEC_TEST;
    let mut probe = req("09:10:00", "GET", 206, 100_000, "/E.mp3", 2);
    probe.range = Some((0, Some(1)));
    let (facts, verdicts) = run_requests(&[
        req("09:00:00", "GET", 200, 5_000_000, "/E.mp3", 1),
        req("09:05:00", "HEAD", 200, 5_000_000, "/E.mp3", 1),
        probe,
        req("20:00:00", "GET", 200, 5_000_000, "/E.mp3", 1),
        next_day,
    ]);
    assert_eq!(total(&facts, FactKind::Download), 2.0);
    assert_eq!(total(&facts, FactKind::Start), 0.0, "downloads are not starts");
    assert_eq!(total(&facts, FactKind::Time), 0.0);
    assert_eq!(verdicts[1], Err(crate::Dropped::Method));
    assert_eq!(verdicts[2], Err(crate::Dropped::Probe));
}

const MICROS_PER_SEC_TEST: i64 = 1_000_000;

#[test]
fn segment_requests_make_live_activity_and_video_log_starts() {
    let mut reqs = vec![req("10:00:00", "GET", 200, 900, "/L/index.m3u8", 1)];
    for s in 0..20 {
        let mut r = req("10:00:00", "GET", 200, 400_000, "/L/seg.ts", 1);
        r.ts += s * 6 * MICROS_PER_SEC_TEST;
        reqs.push(r);
    }
    reqs.push(req("10:01:00", "GET", 200, 900, "/L/index.m3u8", 1));
    let (facts, _) = run_requests(&reqs);
    assert_eq!(total(&facts, FactKind::Start), 1.0, "one playback per device and content");
    assert_eq!(total(&facts, FactKind::Stream), 0.0, "video-log makes no streams");
    assert_eq!(total(&facts, FactKind::Time), 0.0, "video segments without CMCD carry no time by default");
    // 20 segments every 6 s from 10:00:00: minutes 10:00 and 10:01.
    assert_eq!(
        concurrency(&facts, "E").into_iter().collect::<Vec<_>>(),
        vec![(at("10:00:00"), 1), (at("10:01:00"), 1)]
    );
    assert!(facts
        .iter()
        .filter(|f| f.kind != FactKind::Request)
        .all(|f| f.source == streamtally_model::Source::VideoLog));
}

#[test]
fn five_seconds_exactly_is_a_stream() {
    let facts = run(&[ev(EventType::Play, at("12:00:00"), "P5", "A", 1), playing(at("12:00:05"), "P5", "A", 5.0)]);
    assert_eq!((total(&facts, FactKind::Start), total(&facts, FactKind::Stream)), (1.0, 1.0));
    let facts = run(&[ev(EventType::Play, at("12:00:00"), "P4", "A", 1), playing(at("12:00:05"), "P4", "A", 4.999)]);
    assert_eq!(total(&facts, FactKind::Stream), 0.0);
}

#[test]
fn log_requests_make_views_and_users() {
    // Example 6 and 7 from logs: A at 09:50 and 09:59 is one view, B a second;
    // a request 75 minutes after the last activity is a second user.
    let reqs = [
        req("09:50:00", "GET", 206, 100_000, "/pod/A.mp3", 1),
        req("09:59:00", "GET", 206, 100_000, "/pod/A.mp3", 1),
        req("09:55:00", "GET", 206, 100_000, "/pod/B.mp3", 1),
        req("11:14:00", "GET", 206, 100_000, "/pod/A.mp3", 1),
    ];
    let mut reqs = reqs.to_vec();
    for (r, c) in reqs.iter_mut().zip(["A", "A", "B", "A"]) {
        r.content_id = Some(c.into());
    }
    reqs.sort_by_key(|r| r.ts);
    let (facts, _) = run_requests(&reqs);
    assert_eq!(total(&facts, FactKind::View), 2.0, "A once within 4 h, B once");
    assert_eq!(total(&facts, FactKind::User), 2.0, "a gap of 75 minutes begins a new user");
}

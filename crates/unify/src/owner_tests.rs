//! Spec §8b on the engine alone: a playback belongs to the user any of its
//! events names. Facts after the naming carry the user; facts before it are
//! given to the user by one `Owner` fact; a playback named from its first
//! event needs none.

use streamtally_model::{parse_ts, EnrichedEvent, EventType, Fact, FactKind, Micros, MICROS_PER_SEC};

use crate::legacy::{EngineV3, PlaybackStateV3, TenantStateV3};
use crate::tests_support::ev;
use crate::Engine;

const T: i64 = 1;

fn at(secs: i64) -> Micros {
    parse_ts("2026-03-02T10:00:00Z").unwrap() + secs * MICROS_PER_SEC
}

fn by(mut e: EnrichedEvent, user: Option<&str>) -> EnrichedEvent {
    e.event.user_id = user.map(str::to_string);
    e
}

fn playing(secs: i64, user: Option<&str>) -> EnrichedEvent {
    let mut e = by(ev(EventType::Playing, at(secs), "P", "A", 1), user);
    e.event.duration = Some(10.0);
    e
}

fn facts(engine: &mut Engine, events: &[EnrichedEvent]) -> Vec<Fact<'static>> {
    let events: &'static [EnrichedEvent] = Box::leak(events.to_vec().into_boxed_slice());
    let mut out: Vec<Fact<'static>> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        engine.apply_event(T, i as u64 + 1, e, &mut out).unwrap();
    }
    out
}

fn run(engine: &mut Engine, events: &[EnrichedEvent]) -> Vec<(FactKind, Option<String>)> {
    facts(engine, events)
        .iter()
        .map(|f| (f.kind, f.user_id.as_ref().map(|u| u.to_string())))
        .collect()
}

fn of(facts: &[(FactKind, Option<String>)], kind: FactKind) -> Vec<Option<&str>> {
    facts.iter().filter(|f| f.0 == kind).map(|f| f.1.as_deref()).collect()
}

#[test]
fn a_user_named_late_owns_the_facts_before_and_is_carried_after() {
    let facts = run(
        &mut Engine::new(),
        &[
            by(ev(EventType::Play, at(0), "P", "A", 1), None),
            playing(10, None),
            playing(20, Some("u")),
            playing(30, None),
            by(ev(EventType::Pause, at(31), "P", "A", 1), Some("u")),
        ],
    );
    assert_eq!(of(&facts, FactKind::Start), vec![None]);
    assert_eq!(of(&facts, FactKind::Time), vec![None, Some("u"), Some("u")]);
    // One owner, from the naming event: the start and the first 10 s are u's.
    assert_eq!(of(&facts, FactKind::Owner), vec![Some("u")]);
}

#[test]
fn an_owner_owns_the_stretch_from_the_first_anonymous_fact_to_the_naming() {
    let out = facts(
        &mut Engine::new(),
        &[by(ev(EventType::Play, at(0), "P", "A", 1), None), playing(10, None), playing(20, Some("u"))],
    );
    let owner = out.iter().find(|f| f.kind == FactKind::Owner).unwrap();
    assert_eq!((owner.ts, owner.value, owner.playback_id), (at(0), 20.0, Some("P")));
}

#[test]
fn a_playback_named_from_its_first_event_needs_no_owner() {
    let facts = run(
        &mut Engine::new(),
        &[
            by(ev(EventType::Play, at(0), "P", "A", 1), Some("u")),
            playing(10, None),
            playing(20, Some("u")),
        ],
    );
    assert_eq!(of(&facts, FactKind::Start), vec![Some("u")]);
    assert_eq!(of(&facts, FactKind::Time), vec![Some("u"), Some("u")]);
    assert!(of(&facts, FactKind::Owner).is_empty());
}

#[test]
fn a_new_start_forgets_the_user_of_the_one_before() {
    // Whether the old start was swept yet depends on other devices' inputs:
    // past its window it counts as gone either way (spec §8a).
    let day = 24 * 3600;
    let facts = run(
        &mut Engine::new(),
        &[
            by(ev(EventType::Play, at(0), "P", "A", 1), Some("u")),
            by(ev(EventType::Pause, at(day - 1), "P", "A", 1), None),
            by(ev(EventType::Play, at(day), "P", "A", 1), None),
        ],
    );
    assert_eq!(of(&facts, FactKind::Start), vec![Some("u"), None]);
}

#[test]
fn a_playback_in_progress_in_a_version_3_snapshot_can_still_name_its_user() {
    let mut v3 = TenantStateV3::default();
    v3.playbacks.insert(
        "P".into(),
        PlaybackStateV3 {
            start_at: Some(at(0)),
            played: 3.0,
            streamed: false,
            last_ts: at(3),
        },
    );
    let bytes = postcard::to_stdvec(&EngineV3 {
        tenants: [(T, v3)].into_iter().collect(),
    })
    .unwrap();
    let mut engine = Engine::restore_v3(&bytes).unwrap();
    let facts = run(&mut engine, &[playing(13, Some("u"))]);
    // 3 s before the snapshot and 10 s after: the start streams, as u's.
    assert_eq!(of(&facts, FactKind::Stream), vec![Some("u")]);
    assert_eq!(of(&facts, FactKind::Owner), vec![Some("u")]);
}

#[test]
fn an_erased_user_is_forgotten_by_the_playbacks_that_named_it() {
    let mut engine = Engine::new();
    run(&mut engine, &[by(ev(EventType::Play, at(0), "P", "A", 1), Some("user-to-forget"))]);
    let named = |e: &Engine| String::from_utf8_lossy(&e.snapshot().unwrap()).contains("user-to-forget");
    assert!(named(&engine));
    engine.forget_user(T, "user-to-forget");
    assert!(!named(&engine), "the snapshot names no user");
    let facts = run(&mut engine, &[playing(10, None)]);
    assert_eq!(of(&facts, FactKind::Time), vec![None]);
}

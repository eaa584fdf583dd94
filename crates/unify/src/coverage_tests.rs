//! Spec §8c on the engine alone: a start's covered pieces are the whole
//! seconds it newly covered, attributed to the start; every piece played is
//! the span of its `time` fact; positions nobody could mean are none.

use streamtally_model::{parse_ts, EnrichedEvent, EventType, FactKind, Micros, MICROS_PER_SEC};

use crate::tests_support::ev;
use crate::Engine;

fn at(secs: i64) -> Micros {
    parse_ts("2026-03-02T10:00:00Z").unwrap() + secs * MICROS_PER_SEC
}

fn report(secs: i64, position: f64, duration: f64) -> EnrichedEvent {
    let mut e = ev(EventType::Playing, at(secs), "P", "A", 1);
    e.event.position = Some(position);
    e.event.duration = Some(duration);
    e
}

#[test]
fn a_rewatch_plays_again_but_covers_nothing_new() {
    let events: &'static [EnrichedEvent] = Box::leak(
        vec![
            ev(EventType::Play, at(0), "P", "A", 1),
            report(10, 10.0, 10.0),
            report(20, 20.4, 10.0),
            // Back to 5 s and on to 25 s: 5–20 again, 20–25 new.
            report(40, 25.0, 20.0),
            report(41, f64::NAN, 1.0),
            report(42, 2e9, 1.0),
        ]
        .into_boxed_slice(),
    );
    let mut engine = Engine::new();
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate() {
        engine.apply_event(1, i as u64 + 1, e, &mut out).unwrap();
    }
    let spans = |kind: FactKind| out.iter().filter(|f| f.kind == kind).map(|f| (f.ts, f.span)).collect::<Vec<_>>();
    assert_eq!(
        spans(FactKind::Covered),
        [(at(0), Some((0, 10))), (at(0), Some((10, 20))), (at(0), Some((20, 25)))]
    );
    // Each new piece names the coverage nearest it when counted.
    let near: Vec<_> = out.iter().filter(|f| f.kind == FactKind::Covered).map(|f| f.near).collect();
    assert_eq!(near, [Some((0, u32::MAX)), Some((10, u32::MAX)), Some((20, u32::MAX))]);
    assert_eq!(
        spans(FactKind::Time).into_iter().map(|(_, s)| s).collect::<Vec<_>>(),
        [Some((0, 10)), Some((10, 20)), Some((5, 25)), None, None]
    );
}

//! Retention and engagement of one content with a million playbacks (issue
//! 15): 1 M starts of a 10-minute on-demand content over 30 days, each
//! watching from the start for a random share of it (two in ten re-watch a
//! stretch), reported every 30 s, counted by the real engine and stored as
//! the server stores them. Then `GET /api/v1/contents/{id}/retention`'s two
//! questions (duration and starts, then the 100 sections) through the query
//! model and store, timed warm: p50/p95 of 10 runs. Numbers only; it asserts
//! that the curve is whole (retention falls, the first section is 1).
//!
//! Run: `cargo bench --bench retention` (`STREAMTALLY_BENCH_PLAYBACKS` to
//! scale; `STREAMTALLY_BENCH_DIR` keeps the data for another run).

mod support;

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use streamtally_model::{ClientFamily, DeviceKey, EnrichedEvent, EventType, Geo, PlayerEvent, Settings, MICROS_PER_SEC};
use streamtally_query::{Ask, RetentionQuery, Select};
use streamtally_store::{Content, EmbeddedStore, FactStore};
use streamtally_unify::{Engine, EngineSettings};
use support::{env_number, today, BenchFolder, DAY_US};

const DURATION: i64 = 600;
/// Seconds between `playing` reports.
const REPORT: i64 = 30;
const DAYS: i64 = 30;
const RECORD: usize = 10_000;
const RUNS: usize = 10;

fn main() {
    let playbacks = env_number("STREAMTALLY_BENCH_PLAYBACKS", 1_000_000);
    let today = today();
    let first_day = today - DAYS * DAY_US;
    let folder = BenchFolder::open(&format!("{playbacks}-{first_day}"));
    let (store, tenant) = (&*folder.store, folder.tenant);
    if !folder.generated() {
        let content = Content {
            content_id: "ep".into(),
            kind: Some("vod".into()),
            duration: Some(DURATION as f64),
            ..Content::default()
        };
        store.meta().upsert_contents(tenant, &[content]).expect("catalogue");
        generate(store, tenant, playbacks, first_day);
        folder.mark_generated();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let from = streamtally_model::format_ts(first_day);
    let to = streamtally_model::format_ts(today + DAY_US);
    let mut times = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let curve = runtime.block_on(async {
            let mut q = RetentionQuery::parse("ep", &from, &to, None).expect("query");
            let (basis, curve) = store.retention(tenant, &mut q).await.expect("retention").expect("a duration");
            (basis.starts, curve)
        });
        times.push(started.elapsed());
        let (starts, s) = curve;
        assert_eq!(starts as u64, playbacks / DAYS as u64 * DAYS as u64, "every start counted");
        assert_eq!(s[0].retention, 1.0, "every start covered the first section");
        assert!(s[99].retention < s[50].retention && s[50].retention < 1.0, "retention falls");
    }
    times.sort();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    println!(
        "retention of one content, {playbacks} playbacks: p50 {:.0} ms, p95 {:.0} ms (page cache warm, {RUNS} runs)",
        ms(times[RUNS / 2]),
        ms(times[(RUNS * 95 / 100).min(RUNS - 1)])
    );
    // Where the time goes: each statement of both questions alone.
    runtime.block_on(async {
        let mut q = RetentionQuery::parse("ep", &from, &to, None).expect("query");
        let dialect = streamtally_query::dialect_of(store.dialect());
        for (curve, unknown_ends) in [(false, false), (true, false), (true, true)] {
            if curve {
                q.duration = Some(DURATION as f64);
            }
            q.unknown_ends = unknown_ends;
            for (i, statement) in q.statements(tenant, dialect).into_iter().enumerate() {
                let started = Instant::now();
                store.select(tenant, q.scope(), std::slice::from_ref(&statement)).await.expect("statement");
                let question = if curve { "curve" } else { "basis" };
                println!("  {question} statement {i} ({}): {:.0} ms", statement.columns.join(","), ms(started.elapsed()));
            }
        }
    });
    store.close();
}

fn generate(store: &EmbeddedStore, tenant: streamtally_model::TenantId, playbacks: u64, first_day: i64) {
    let started = Instant::now();
    let mut engine = Engine::new();
    engine.set_settings(tenant, EngineSettings::from(&Settings::default()));
    let mut rng = StdRng::seed_from_u64(15);
    let per_day = playbacks / DAYS as u64;
    let (mut lsn, mut facts_total) = (0u64, 0usize);
    for day in 0..DAYS {
        let day_start = first_day + day * DAY_US;
        let mut batch: Vec<EnrichedEvent> = Vec::new();
        for p in 0..per_day {
            let start = day_start + rng.random_range(0..(86_400 - 2 * DURATION)) * MICROS_PER_SEC;
            let playback = format!("p{day}-{p}");
            let watched = rng.random_range(1..=DURATION / REPORT) * REPORT;
            let event = |kind: EventType, secs: i64, position: Option<f64>| {
                let mut e = PlayerEvent::new(kind, start + secs * MICROS_PER_SEC, &playback, "ep");
                if let Some(p) = position {
                    e.position = Some(p);
                    e.duration = Some(REPORT as f64);
                }
                EnrichedEvent {
                    received_at: e.ts,
                    event: e,
                    device_key: DeviceKey(day as u64 * 10_000_000 + p),
                    referrer_host: None,
                    client: ClientFamily::default(),
                    geo: Geo::UNKNOWN,
                }
            };
            batch.push(event(EventType::Play, 0, None));
            for t in (REPORT..=watched).step_by(REPORT as usize) {
                batch.push(event(EventType::Playing, t, Some(t as f64)));
            }
            // Two in ten go back a minute and watch it again.
            if p % 5 == 0 && watched > 60 {
                for t in (watched - 60 + REPORT..=watched).step_by(REPORT as usize) {
                    batch.push(event(EventType::Playing, watched + REPORT + t, Some(t as f64)));
                }
            }
        }
        batch.sort_by_key(|e| e.event.ts);
        for record in batch.chunks(RECORD) {
            lsn += 1;
            let mut facts = Vec::new();
            engine.apply_record(tenant, lsn, record.last().map_or(0, |e| e.received_at), (record, &[], None), &mut facts);
            facts_total += facts.len();
            store.append_facts(tenant, &facts).expect("facts");
        }
        store.flush(lsn).expect("flush");
    }
    println!(
        "generated {playbacks} playbacks, {facts_total} facts in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

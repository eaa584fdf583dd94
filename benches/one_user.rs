//! One user's activity at scale (issue 14). Generates 100 M raw player events
//! of 1 M users over the last 90 days (`STREAMTALLY_BENCH_EVENTS` to scale),
//! counts them with the real engine into facts, and stores both as the server
//! does (the embedded store: Parquet files sorted by user). Then asks the
//! 30-day activity of 100 random users through the query model and store that
//! answer `GET /api/v1/users/{id}/activity` (the look-up of the user, the
//! playbacks it owns, then the activity's eight statements), first with the files in the page cache,
//! then with the cache dropped before each question. Prints p50/p95 and the
//! bytes each question read. Numbers only; it asserts that answers are whole.
//!
//! Run: `cargo bench --bench one_user` (about 45 minutes on 2 cores, most of it generating; set
//! `STREAMTALLY_BENCH_DIR` to keep the generated data for another run).

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use streamtally_model::{DeviceKey, EnrichedEvent, EventType, Geo, PlayerEvent, MICROS_PER_SEC};
use streamtally_query::{ActivityQuery, Ask, OwnedPlaybacks, UserTrace};
use streamtally_store::{EmbeddedStore, FactStore};
use support::{env_number, today, BenchFolder, DAY_US};

const USERS: u64 = 1_000_000;
const DAYS: i64 = 90;
const CONTENTS: u64 = 2_000;
/// A playback: `play`, eight `playing` reports 30 s apart, `pause`.
const EVENTS_PER_PLAYBACK: usize = 10;
/// Events per WAL record, as the server batches them.
const RECORD: usize = 10_000;
const QUESTIONS: usize = 100;

fn main() {
    let events = env_number("STREAMTALLY_BENCH_EVENTS", 100_000_000);
    let today = today();
    let first_day = today - DAYS * DAY_US;
    let folder = BenchFolder::open(&format!("{events}-{first_day}"));
    let (store, tenant) = (&folder.store, folder.tenant);
    if !folder.generated() {
        generate(store, tenant, events, first_day);
        folder.mark_generated();
    }
    let (files, bytes) = support::parquet_files(&folder.dir.join("tenants"));
    println!(
        "stored: {} Parquet files, {:.2} GiB (facts and raw events)",
        files.len(),
        bytes as f64 / (1u64 << 30) as f64
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut rng = StdRng::seed_from_u64(14);
    let users: Vec<String> = (0..QUESTIONS).map(|_| user_name(rng.random_range(0..USERS))).collect();
    let from = today - 30 * DAY_US;
    for cold in [false, true] {
        let mut times = Vec::new();
        let mut read = Vec::new();
        let mut found = 0u64;
        for user in &users {
            if cold {
                drop_cache(&files);
            }
            let before = read_bytes();
            let started = Instant::now();
            let answer = runtime.block_on(async {
                let trace = store.ask(tenant, &UserTrace { user_id: user.clone() }).await.expect("trace");
                let mut q = ActivityQuery::parse(
                    user,
                    &micros_text(from),
                    &micros_text(today),
                    streamtally_query::parse_tz(None).expect("UTC"),
                    None,
                    Some("1000"),
                )
                .expect("query");
                // As the route does: the playbacks that named the user late (spec §8b).
                let owners = OwnedPlaybacks {
                    user_id: user.clone(),
                    from: q.from,
                    to: q.to,
                };
                q.owned = OwnedPlaybacks::read(&store.ask(tenant, &owners).await.expect("owners"));
                let tables = store.ask(tenant, &q).await.expect("activity");
                (UserTrace::read(&trace), q.answer(&tables))
            });
            times.push(started.elapsed());
            read.push(read_bytes().saturating_sub(before));
            let events = answer.1["events"]["total"].as_u64().unwrap_or(0);
            assert_eq!(answer.1["events"]["items"].as_array().map(Vec::len), Some(events.min(1000) as usize));
            assert!(answer.0 .0 as u64 >= events, "the look-up sees every raw event of the range");
            found += events;
        }
        times.sort();
        read.sort();
        let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
        println!(
            "{}: {QUESTIONS} users' 30-day activity (avg {:.1} events each): p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms; read per question p50 {:.1} MiB, p95 {:.1} MiB",
            if cold { "page cache dropped before each" } else { "page cache warm" },
            found as f64 / QUESTIONS as f64,
            ms(pct(50)),
            ms(pct(95)),
            ms(*times.last().unwrap_or(&Duration::ZERO)),
            mib(read[read.len() * 50 / 100]),
            mib(read[(read.len() * 95 / 100).min(read.len() - 1)]),
        );
    }
    store.close();
}

fn user_name(u: u64) -> String {
    format!("user-{u:07}")
}

fn micros_text(us: i64) -> String {
    streamtally_model::format_ts(us)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(b: u64) -> f64 {
    b as f64 / (1u64 << 20) as f64
}

/// Generates `events` over 90 days, a day at a time in time order: counted
/// by the engine, appended as facts and raw events, flushed once a day.
fn generate(store: &EmbeddedStore, tenant: streamtally_model::TenantId, events: u64, first_day: i64) {
    let started = Instant::now();
    let mut engine = support::engine(tenant);
    let mut rng = StdRng::seed_from_u64(2026);
    let clients = support::clients(&[]);
    let per_day = events / DAYS as u64;
    let mut lsn = 0u64;
    let mut facts_total = 0usize;
    for day in 0..DAYS {
        let day_start = first_day + day * DAY_US;
        let playbacks = per_day as usize / EVENTS_PER_PLAYBACK;
        let mut batch: Vec<EnrichedEvent> = Vec::with_capacity(playbacks * EVENTS_PER_PLAYBACK);
        for p in 0..playbacks {
            let user = rng.random_range(0..USERS);
            let device = user * 2 + rng.random_range(0..2u64);
            let start = day_start + rng.random_range(0..(86_400 - 300)) * MICROS_PER_SEC;
            let content = format!("c{}", rng.random_range(0..CONTENTS));
            let playback = format!("p{day}-{p}");
            let bitrate = [800.0, 2500.0, 5000.0][rng.random_range(0..3)];
            for i in 0..EVENTS_PER_PLAYBACK {
                let (kind, at) = match i {
                    0 => (EventType::Play, start),
                    9 => (EventType::Pause, start + 245 * MICROS_PER_SEC),
                    k => (EventType::Playing, start + 30 * k as i64 * MICROS_PER_SEC),
                };
                let mut e = PlayerEvent::new(kind, at, &playback, &content);
                // One playback in ten signs in after its start (spec §8b).
                if p % 10 != 0 || i >= 2 {
                    e.user_id = Some(user_name(user));
                }
                if kind == EventType::Playing {
                    e.duration = Some(30.0);
                    e.position = Some(30.0 * i as f64);
                    e.bitrate = Some(bitrate);
                    e.bandwidth = Some(bitrate * rng.random_range(1.5..4.0));
                }
                batch.push(EnrichedEvent {
                    received_at: at,
                    event: e,
                    device_key: DeviceKey(blake3_key(device)),
                    referrer_host: None,
                    client: clients[(device % clients.len() as u64) as usize].clone(),
                    geo: Geo::UNKNOWN,
                });
            }
        }
        batch.sort_by_key(|e| e.event.ts);
        for record in batch.chunks(RECORD) {
            lsn += 1;
            let mut facts = Vec::new();
            engine.apply_record(tenant, lsn, record.last().map_or(0, |e| e.received_at), (record, &[], None), &mut facts);
            facts_total += facts.len();
            store.append_facts(tenant, &facts).expect("facts");
            store.append_events(tenant, record.iter().map(|e| (lsn, e.clone())).collect()).expect("events");
        }
        store.flush(lsn).expect("flush");
        if day % 10 == 9 {
            println!(
                "generated {} days: {} events, {facts_total} facts, {:.0} s",
                day + 1,
                (day as u64 + 1) * per_day,
                started.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "generated {} events and {facts_total} facts of {USERS} users in {:.0} s",
        per_day * DAYS as u64,
        started.elapsed().as_secs_f64()
    );
}

/// A device key as the enrichment makes them: a keyed hash, spread over all 64 bits.
fn blake3_key(device: u64) -> u64 {
    let h = blake3::keyed_hash(&[7; 32], &device.to_le_bytes());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or_default())
}

/// Asks the kernel to forget the files' cached pages, so a question reads from disk.
fn drop_cache(files: &[PathBuf]) {
    use std::os::fd::AsRawFd;
    for f in files {
        if let Ok(file) = std::fs::File::open(f) {
            // SAFETY: a valid descriptor for the call's duration; advice only.
            unsafe {
                libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
            }
        }
    }
}

/// Bytes this process has read through system calls (`rchar` of /proc/self/io).
fn read_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("rchar: ").and_then(|v| v.trim().parse().ok())))
        .unwrap_or(0)
}

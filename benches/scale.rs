//! Queries at scale (issue 17, benchmark 3). Generates a year of facts
//! (100 M by default, `STREAMTALLY_BENCH_FACTS`) of 1 000 contents (one in ten
//! live) and 1 M devices: player playbacks counted by the real engine and
//! stored as the server stores them (the embedded store's Parquet files).
//! Then starts the release server on that folder and asks through the HTTP
//! API, `STREAMTALLY_BENCH_REPEATS` times each (20): the dashboard overview's
//! nine questions (asked together, as the page does) for 7 and for 30 days,
//! a month of hourly series, the contents of a month (the top 100 taken from
//! them), the distinct devices of a month and one live stream's concurrency
//! over a day. Before the server starts, the store makes the rollups a
//! server makes in the background (`rollup.rs`), which the metrics
//! questions read. DuckDB (PyPI `duckdb`, the Python at
//! `STREAMTALLY_BENCH_PYTHON`) runs the statements the same query model
//! writes for the facts alone (`FromFacts`: the peer has no rollups), on
//! the same files of facts (`benches/peers/duckdb_queries.py`). Prints p50/p95 of both
//! and `RESULT` lines for `scripts/bench`; asserts that both count the same
//! devices in the month. Target: overview p95 < 200 ms and no slower than
//! DuckDB.
//!
//! Run: `cargo bench --bench scale` (`STREAMTALLY_BENCH_DIR` keeps the
//! generated data for the next run).

#[path = "../tests/support/mod.rs"]
mod server;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use streamtally_model::{ContentKind, DeviceKey, EnrichedEvent, EventType, Geo, PlayerEvent, TenantId, Text, MICROS_PER_SEC};
use streamtally_query::{dialect_of, rollup_definition, FromFacts, LiveQuery, MetricsQuery, Select};
use streamtally_store::{EmbeddedStore, FactStore, OpenMode, SqlDialect};
use support::{env_number, DAY_US};

const DAYS: i64 = 365;
const DEVICES: u64 = 1_000_000;
const CONTENTS: u64 = 1_000;
/// Events per WAL record, as the server batches them.
const RECORD: usize = 10_000;
const TENANT_NAME: &str = "scale";

fn main() {
    let facts: u64 = env_number("STREAMTALLY_BENCH_FACTS", 100_000_000);
    let repeats = env_number("STREAMTALLY_BENCH_REPEATS", 20) as usize;
    let today = support::today();
    let (_temp, dir) = match std::env::var("STREAMTALLY_BENCH_DIR") {
        Ok(d) => (None, PathBuf::from(d)),
        Err(_) => {
            let t = tempfile::tempdir().expect("temp dir");
            let p = t.path().join("data");
            (Some(t), p)
        }
    };
    let marker = dir.join(format!("generated-scale-{facts}-{today}"));
    if marker.exists() {
        println!("using the data generated before in {}", dir.display());
    } else {
        let store = EmbeddedStore::open(&dir, OpenMode::Serve).expect("open store");
        let tenant = store.meta().create_tenant(TENANT_NAME).expect("tenant").id;
        generate(&store, tenant, facts, today - DAYS * DAY_US);
        store.close();
        drop(store);
        std::fs::write(&marker, b"").expect("marker");
    }
    roll_up(&dir);
    // The facts' files, not the raw events' or the rollups.
    let (mut files, _) = support::parquet_files(&dir);
    files.retain(|f| f.components().any(|c| c.as_os_str() == "facts") && !f.to_string_lossy().contains(".rollup-"));
    let bytes: u64 = files.iter().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum();
    println!("stored: {} Parquet files of facts, {:.2} GiB", files.len(), bytes as f64 / (1u64 << 30) as f64);

    let questions = questions(today);
    let ours = ask_the_server(&dir, &questions, repeats);
    let peer = ask_duckdb(&dir, &files, &questions, repeats);
    println!("| question | streamtally p50 | p95 | DuckDB p50 | p95 | p95 ratio |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (q, (o, p)) in questions.iter().zip(ours.iter().zip(&peer)) {
        println!(
            "| {} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {:.2} |",
            q.name,
            o.p50,
            o.p95,
            p.p50,
            p.p95,
            o.p95 / p.p95
        );
    }
    for (q, (o, p)) in questions.iter().zip(ours.iter().zip(&peer)) {
        println!(
            "RESULT scale {}_p95_ms ours={:.0} peer={:.0} ratio={:.2} peer_is=duckdb",
            q.name,
            o.p95,
            p.p95,
            o.p95 / p.p95
        );
    }
    // The same statements over the same files: the same distinct devices.
    let (o, p) = (&ours[DEVICES_MONTH], &peer[DEVICES_MONTH]);
    assert_eq!(o.devices, p.devices, "the API and DuckDB count the month's devices alike");
    println!("devices in the month: {} (the API and DuckDB agree)", o.devices.unwrap_or(0.0));
}

/// One question of the benchmark: the API calls it makes (asked together)
/// and the query model's questions behind them, for DuckDB.
struct Question {
    name: String,
    calls: Vec<String>,
    model: Vec<Box<dyn Select>>,
}

/// The index of `devices_month` in [`questions`].
const DEVICES_MONTH: usize = 4;

fn questions(today: i64) -> Vec<Question> {
    let day = |d: i64| streamtally_model::format_ts(today - d * DAY_US)[..10].to_string();
    let metrics = |from: &str, to: &str, metrics: &str, group_by: Option<&str>| {
        let call = match group_by {
            Some(g) => format!("/api/v1/metrics?from={from}&to={to}&metrics={metrics}&group_by={g}"),
            None => format!("/api/v1/metrics?from={from}&to={to}&metrics={metrics}"),
        };
        let q = MetricsQuery::parse(from, to, metrics, group_by, None, None).expect("metrics query");
        // The peer has no rollups: it runs what the facts alone answer with.
        (call, Box::new(FromFacts(q)) as Box<dyn Select>)
    };
    // The dashboard overview (crates/server/src/dashboard/pages.rs): the
    // totals, the period before, the series and six tops.
    let overview = |days: i64| {
        let (from, to, before) = (day(days), day(0), day(2 * days));
        let all = "starts,streams,time,downloads,devices,views,users";
        let mut asked = vec![
            metrics(&from, &to, all, None),
            metrics(&before, &from, all, None),
            metrics(&from, &to, "starts,streams,devices,time", Some("day")),
        ];
        for dim in ["content_id", "property", "referrer_host", "country", "device_type", "app"] {
            asked.push(metrics(&from, &to, "starts,time,devices", Some(dim)));
        }
        let (calls, model) = asked.into_iter().unzip();
        Question {
            name: format!("overview_{days}d"),
            calls,
            model,
        }
    };
    let one = |name: &str, (call, model): (String, Box<dyn Select>)| Question {
        name: name.into(),
        calls: vec![call],
        model: vec![model],
    };
    let (month, now, yesterday) = (day(30), day(0), day(1));
    let live = LiveQuery::parse(&yesterday, &now, Some("c0"), None, streamtally_query::parse_tz(None).expect("UTC")).expect("live query");
    vec![
        overview(7),
        overview(30),
        one("hourly_month", metrics(&month, &now, "starts,streams,devices,time", Some("hour"))),
        one("contents_month", metrics(&month, &now, "starts,time,devices", Some("content_id"))),
        one("devices_month", metrics(&month, &now, "devices", None)),
        one(
            "live_concurrency_day",
            (format!("/api/v1/live/c0/concurrency?from={yesterday}&to={now}"), Box::new(live)),
        ),
    ]
}

struct Timing {
    p50: f64,
    p95: f64,
    /// The distinct devices the answer gave, for `devices_month`.
    devices: Option<f64>,
}

fn timing(mut ms: Vec<f64>, devices: Option<f64>) -> Timing {
    ms.sort_by(f64::total_cmp);
    Timing {
        p50: ms[ms.len() / 2],
        p95: ms[(ms.len() * 95 / 100).min(ms.len() - 1)],
        devices,
    }
}

/// Each question through the release server's HTTP API, its calls together.
fn ask_the_server(dir: &Path, questions: &[Question], repeats: usize) -> Vec<Timing> {
    let srv = server::Server::start(dir, &[]);
    let r = srv.send(
        "POST",
        &format!("/api/v1/keys?tenant={TENANT_NAME}"),
        server::ADMIN_KEY,
        &json!({ "role": "read" }).to_string(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let key = r.json()["key"].as_str().expect("key").to_string();
    let mut out = Vec::new();
    for q in questions {
        // Once unmeasured: the first question opens the files.
        let mut answers = ask_together(&srv, &key, &q.calls);
        let mut ms = Vec::new();
        for _ in 0..repeats {
            let began = Instant::now();
            answers = ask_together(&srv, &key, &q.calls);
            ms.push(began.elapsed().as_secs_f64() * 1000.0);
        }
        let devices = answers[0]["totals"]["devices"].as_f64();
        let t = timing(ms, devices);
        println!("streamtally {}: p50 {:.0} ms, p95 {:.0} ms ({} calls)", q.name, t.p50, t.p95, q.calls.len());
        out.push(t);
    }
    let (cpu, peak) = srv.resources();
    println!("server CPU {cpu:.1} s, peak memory {peak} MiB");
    srv.stop();
    out
}

fn ask_together(srv: &server::Server, key: &str, calls: &[String]) -> Vec<Value> {
    std::thread::scope(|s| {
        let asked: Vec<_> = calls
            .iter()
            .map(|c| {
                s.spawn(move || {
                    let r = srv.get(c, key);
                    assert_eq!(r.status, 200, "{c}: {}", r.body);
                    r.json()
                })
            })
            .collect();
        asked.into_iter().map(|h| h.join().expect("call")).collect()
    })
}

/// The same statements in DuckDB over the same files.
fn ask_duckdb(dir: &Path, files: &[PathBuf], questions: &[Question], repeats: usize) -> Vec<Timing> {
    let python = std::env::var("STREAMTALLY_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let dialect = dialect_of(SqlDialect::DataFusion);
    let asked: Vec<Value> = questions
        .iter()
        .map(|q| {
            let statements: Vec<Value> = q
                .model
                .iter()
                .flat_map(|m| m.statements(1, dialect))
                .map(|s| json!({ "text": s.text, "params": s.params }))
                .collect();
            json!({ "name": q.name, "statements": statements })
        })
        .collect();
    let input = dir.with_extension("questions.json");
    let body = json!({ "files": files, "questions": asked, "content_columns": streamtally_query::CONTENT_COLUMNS });
    std::fs::write(&input, body.to_string()).expect("questions");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/peers/duckdb_queries.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(&input)
        .arg(repeats.to_string())
        .output()
        .unwrap_or_else(|e| panic!("{python}: {e} (set STREAMTALLY_BENCH_PYTHON to a Python with duckdb)"));
    assert!(output.status.success(), "duckdb: {}", String::from_utf8_lossy(&output.stderr));
    let _ = std::fs::remove_file(&input);
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("a line of the peer");
            let t = Timing {
                p50: v["p50_ms"].as_f64().unwrap_or(0.0),
                p95: v["p95_ms"].as_f64().unwrap_or(0.0),
                devices: v["first"][0].as_f64(),
            };
            println!(
                "duckdb {}: p50 {:.0} ms, p95 {:.0} ms ({} rows)",
                v["name"].as_str().unwrap_or(""),
                t.p50,
                t.p95,
                v["rows"]
            );
            t
        })
        .collect()
}

/// Makes the rollups a server makes in the background (`serve` has a thread
/// for them), before the server is asked: the questions then read them.
fn roll_up(dir: &Path) {
    let store = EmbeddedStore::open(dir, OpenMode::Serve).expect("open store");
    store.define_rollup(rollup_definition());
    let began = Instant::now();
    let made = store.build_rollups(std::time::Duration::MAX).expect("rollups");
    let status = store.rollup_status(rollup_definition());
    store.close();
    let (files, _) = support::parquet_files(dir);
    let bytes = |rollups: bool| -> u64 {
        files
            .iter()
            .filter(|f| f.to_string_lossy().contains(".rollup-") == rollups && f.components().any(|c| c.as_os_str() == "facts"))
            .filter_map(|f| f.metadata().ok())
            .map(|m| m.len())
            .sum()
    };
    println!(
        "rollups: {made} made in {:.0} s; {} files of facts rolled up, {} waiting; {:.0} MiB of rollups beside {:.0} MiB of facts",
        began.elapsed().as_secs_f64(),
        status.rolled,
        status.waiting,
        bytes(true) as f64 / (1u64 << 20) as f64,
        bytes(false) as f64 / (1u64 << 20) as f64
    );
}

/// A year of playbacks, a day at a time in time order: counted by the
/// engine, appended as facts and flushed once a day, until about `target`
/// facts. Devices and contents are drawn unevenly, as audiences are: a few
/// contents carry most playbacks.
fn generate(store: &EmbeddedStore, tenant: TenantId, target: u64, first_day: i64) {
    let started = Instant::now();
    let mut engine = support::engine(tenant);
    let mut rng = StdRng::seed_from_u64(17);
    let clients = support::clients(&[("Samsung Internet", "Android", "tv")]);
    let countries: Vec<Geo> = [Some("DE"), Some("US"), Some("BR"), Some("FR"), None]
        .iter()
        .map(|c| Geo {
            country: c.map(Text::from),
            ..Geo::UNKNOWN
        })
        .collect();
    let referrers: [Option<Text>; 3] = [Some("news.example".into()), Some("social.example".into()), None];
    let (mut lsn, mut stored, mut per_playback) = (0u64, 0u64, 12.0f64);
    for day in 0..DAYS {
        let day_start = first_day + day * DAY_US;
        let left = target.saturating_sub(stored) as f64 / (DAYS - day) as f64;
        let playbacks = (left / per_playback).ceil() as usize;
        let mut batch: Vec<EnrichedEvent> = Vec::with_capacity(playbacks * 8);
        for p in 0..playbacks {
            let device = rng.random_range(0..DEVICES);
            let content = (rng.random::<f64>().powi(3) * CONTENTS as f64) as u64;
            let kind = if content.is_multiple_of(10) { ContentKind::Live } else { ContentKind::Vod };
            let start = day_start + rng.random_range(0..(86_400 - 600)) * MICROS_PER_SEC;
            let reports = rng.random_range(1..=12);
            let (playback, content_id) = (format!("p{day}-{p}"), format!("c{content}"));
            let bitrate = [800.0, 2500.0, 5000.0][rng.random_range(0..3)];
            let property = if device % 3 == 0 { "app" } else { "web" };
            for i in 0..=reports + 1 {
                let at = start + 30 * i as i64 * MICROS_PER_SEC;
                let kind_of_event = match i {
                    0 => EventType::Play,
                    i if i == reports + 1 => EventType::Pause,
                    _ => EventType::Playing,
                };
                let mut e = PlayerEvent::new(kind_of_event, at, &playback, &content_id);
                e.content_kind = Some(kind);
                e.property = Some(property.into());
                if device % 10 < 3 {
                    e.user_id = Some(format!("user-{}", device / 3));
                }
                if kind_of_event == EventType::Playing {
                    e.duration = Some(30.0);
                    e.position = (kind == ContentKind::Vod).then_some(30.0 * i as f64);
                    e.bitrate = Some(bitrate);
                }
                batch.push(EnrichedEvent {
                    received_at: at,
                    event: e,
                    device_key: DeviceKey(device.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                    referrer_host: referrers[(device % 3) as usize].clone(),
                    client: clients[(device % clients.len() as u64) as usize].clone(),
                    geo: countries[(device / 7 % countries.len() as u64) as usize].clone(),
                });
            }
        }
        batch.sort_by_key(|e| e.event.ts);
        let mut today = 0u64;
        for record in batch.chunks(RECORD) {
            lsn += 1;
            let mut facts = Vec::new();
            engine.apply_record(tenant, lsn, record.last().map_or(0, |e| e.received_at), (record, &[], None), &mut facts);
            today += facts.len() as u64;
            store.append_facts(tenant, &facts).expect("facts");
        }
        store.flush(lsn).expect("flush");
        stored += today;
        if playbacks > 0 {
            per_playback = (today as f64 / playbacks as f64).max(1.0);
        }
        if day % 30 == 29 {
            println!("generated {} days: {stored} facts, {:.0} s", day + 1, started.elapsed().as_secs_f64());
        }
    }
    println!(
        "generated {stored} facts of {DEVICES} devices and {CONTENTS} contents over {DAYS} days in {:.0} s",
        started.elapsed().as_secs_f64()
    );
}

//! Log import benchmark (issue "Logs in"): generates a combined-format access
//! log (Apache/nginx `combined`, which GoAccess reads as COMBINED; 1 GiB by
//! default, `STREAMTALLY_BENCH_LOG_MB`) in two shapes, then reports lines per
//! second and bytes per second for each. The shapes (`STREAMTALLY_BENCH_SHAPES`,
//! both by default):
//! - `devices`: 50 000 devices each coming back only every few hours, so
//!   nearly every line opens a playback, a view and a user (about 3.2 facts a
//!   line) — the worst case for counting and storing, kept as the first log
//!   so numbers compare with earlier runs;
//! - `sessions`: listeners and viewers as they behave — podcast apps fetching
//!   byte ranges of an episode every half minute, HLS viewers fetching the
//!   playlist and a segment every 6 seconds for minutes to an hour.
//!
//! Steps:
//! 1. parse only (this process, one core, `streamtally_parse::log`),
//! 2. the full import (`streamtally import`, release build: parse, enrich,
//!    WAL, count, store) into a fresh data folder,
//! 3. GoAccess on the same file (Debian package `goaccess`), when installed;
//! 4. DuckDB (PyPI `duckdb`, the Python at `STREAMTALLY_BENCH_PYTHON`, which
//!    `scripts/bench` installs) reading the same file with `read_csv` and
//!    computing downloads per content per day with the IAB filters in SQL
//!    (`benches/peers/duckdb_logs.py`).
//!
//! Each of 2–4 runs as its own process: its seconds and its peak resident
//! memory (its `VmHWM`) are printed.
//! Local files only; prints numbers, asserts nothing but the line counts.
//! Run: `cargo bench --bench logs`. For profiling one step on a log at hand:
//! `STREAMTALLY_BENCH_LOG=FILE STREAMTALLY_BENCH_STEPS=parse` (steps: `parse`,
//! `import`, `goaccess`, `duckdb`, comma-separated; all by default); the generated logs
//! stay on disk with `STREAMTALLY_BENCH_KEEP=1`.

use std::io::{BufWriter, Write};
use std::process::Command;
use std::time::Instant;

use rand::{Rng, SeedableRng};

/// The allocator of the `streamtally` binary, so parsing here costs what it costs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use streamtally_parse::log::{Line, LogFormat, LogParser};

const UAS: [&str; 8] = [
    "AppleCoreMedia/1.0.0.21E230 (iPhone; U; CPU OS 17_4 like Mac OS X; en_us)",
    "Spotify/8.9.18 Android/34 (SM-S918B)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Overcast/3.0 (+http://overcast.fm/; iOS podcast app)",
    "PocketCasts/1.0 (Pocket Casts Feed Parser; +http://pocketcasts.com/)",
    "VLC/3.0.20 LibVLC/3.0.20",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
];

fn generate(path: &std::path::Path, bytes: u64) -> u64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let (mut written, mut lines) = (0u64, 0u64);
    let mut second = 0u64;
    while written < bytes {
        second += u64::from(rng.random_range(0..2u8));
        let (h, m, s) = ((second / 3600) % 24, (second / 60) % 60, second % 60);
        let day = 2 + (second / 86_400) % 20;
        let device = rng.random_range(0..50_000u32);
        let ip = format!("10.{}.{}.{}", device >> 16, (device >> 8) & 255, device & 255);
        let ua = UAS[(device as usize * 7 + rng.random_range(0..2)) % UAS.len()];
        let line = match rng.random_range(0..10u8) {
            0..=3 => format!(
                r#"{ip} - - [{day:02}/Mar/2026:{h:02}:{m:02}:{s:02} +0000] "GET /podcast/ep{}.mp3 HTTP/1.1" 206 {} "-" "{ua}""#,
                device % 300,
                rng.random_range(60_000..2_000_000),
            ),
            4 => format!(
                r#"{ip} - - [{day:02}/Mar/2026:{h:02}:{m:02}:{s:02} +0000] "GET /podcast/ep{}.mp3 HTTP/1.1" 200 48000000 "-" "{ua}""#,
                device % 300
            ),
            5 => format!(
                r#"{ip} - - [{day:02}/Mar/2026:{h:02}:{m:02}:{s:02} +0000] "GET /live/ch{}/index.m3u8 HTTP/1.1" 200 612 "https://www.example.org/live" "{ua}""#,
                device % 4
            ),
            _ => format!(
                r#"{ip} - - [{day:02}/Mar/2026:{h:02}:{m:02}:{s:02} +0000] "GET /live/ch{}/720p/seg_{}.ts HTTP/1.1" 200 {} "https://www.example.org/live" "{ua}""#,
                device % 4,
                second / 6,
                rng.random_range(300_000..900_000)
            ),
        };
        out.write_all(line.as_bytes()).unwrap();
        out.write_all(b"\n").unwrap();
        written += line.len() as u64 + 1;
        lines += 1;
    }
    out.flush().unwrap();
    lines
}

fn main() {
    let mb: u64 = std::env::var("STREAMTALLY_BENCH_LOG_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    let steps = std::env::var("STREAMTALLY_BENCH_STEPS").unwrap_or_else(|_| "parse,import,goaccess,duckdb".into());
    let step = |name: &str| steps.split(',').any(|s| s.trim() == name);
    let shapes = std::env::var("STREAMTALLY_BENCH_SHAPES").unwrap_or_else(|_| "devices,sessions".into());
    for shape in shapes.split(',').map(str::trim) {
        let dir = tempfile::tempdir().unwrap();
        let t = Instant::now();
        let (log, lines) = match std::env::var_os("STREAMTALLY_BENCH_LOG") {
            Some(given) => {
                let log = std::path::PathBuf::from(given);
                let lines = memchr::memchr_iter(b'\n', &std::fs::read(&log).unwrap()).count() as u64;
                (log, lines)
            }
            None => {
                let log = dir.path().join("access.log");
                let lines = match shape {
                    "devices" => generate(&log, mb * 1024 * 1024),
                    "sessions" => generate_sessions(&log, mb * 1024 * 1024),
                    other => panic!("unknown shape `{other}` (devices, sessions)"),
                };
                (log, lines)
            }
        };
        let size = std::fs::metadata(&log).unwrap().len();
        println!(
            "== {shape}: {lines} lines, {:.2} GiB, ready in {:.1} s",
            size as f64 / (1u64 << 30) as f64,
            t.elapsed().as_secs_f64()
        );
        if step("parse") {
            parse_only(&log, lines, size);
        }
        let ours = step("import").then(|| full_import(&log, lines, size, dir.path()));
        let peer = if step("goaccess") { goaccess(&log, lines, dir.path()) } else { None };
        let duck = if step("duckdb") { duckdb(&log, lines, dir.path()) } else { None };
        // Lines for scripts/bench's table: lines per second and peak memory against each peer.
        if let Some(ours) = ours {
            for (name, peer) in [("goaccess", peer), ("duckdb", duck)] {
                if let Some(peer) = peer {
                    println!(
                        "RESULT logs {shape}_lines_per_sec ours={:.0} peer={:.0} ratio={:.2} peer_is={name}",
                        ours.lines_per_sec,
                        peer.lines_per_sec,
                        ours.lines_per_sec / peer.lines_per_sec
                    );
                    println!(
                        "RESULT logs {shape}_peak_mib ours={} peer={} ratio={:.2} peer_is={name}",
                        ours.peak_mib,
                        peer.peak_mib,
                        ours.peak_mib as f64 / peer.peak_mib.max(1) as f64
                    );
                }
            }
        }
        if std::env::var_os("STREAMTALLY_BENCH_KEEP").is_some() {
            println!("kept in {}", dir.keep().display());
        }
        if std::env::var_os("STREAMTALLY_BENCH_LOG").is_some() {
            break;
        }
    }
}

/// What one listener or viewer is doing.
enum Session {
    /// A podcast app taking an episode in byte ranges.
    Podcast { episode: u32, offset: u64, size: u64 },
    /// An HLS viewer of a live channel: the playlist, then a segment.
    Hls { channel: u32 },
}

/// The `sessions` shape: about 3 000 listeners and viewers at any time, each
/// with its own address and app, coming and going.
fn generate_sessions(path: &std::path::Path, bytes: u64) -> u64 {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    const CONCURRENT: usize = 3_000;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let (mut written, mut lines) = (0u64, 0u64);
    // (next request's second, session number) — sessions in a slab by number.
    let mut due: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    let mut sessions: Vec<(u32, u64, Session)> = Vec::new();
    let mut next_device = 0u32;
    let start = |rng: &mut rand::rngs::StdRng, device: u32, now: u64| -> (u32, u64, Session) {
        let ends = now + rng.random_range(120..3_600);
        if rng.random_range(0..2u8) == 0 {
            let size = rng.random_range(20_000_000..80_000_000);
            (
                device,
                ends,
                Session::Podcast {
                    episode: rng.random_range(0..300),
                    offset: 0,
                    size,
                },
            )
        } else {
            (
                device,
                ends,
                Session::Hls {
                    channel: rng.random_range(0..4),
                },
            )
        }
    };
    for i in 0..CONCURRENT {
        sessions.push(start(&mut rng, next_device, 0));
        next_device += 1;
        due.push(Reverse((rng.random_range(0..30), i)));
    }
    while written < bytes {
        let Reverse((now, i)) = due.pop().unwrap();
        let (device, ends, session) = &mut sessions[i];
        let ip = format!("10.{}.{}.{}", (*device >> 16) & 255, (*device >> 8) & 255, *device & 255);
        let ua = UAS[(*device as usize) % (UAS.len() - 1)];
        let (day, h, m, s) = (2 + now / 86_400, (now / 3600) % 24, (now / 60) % 60, now % 60);
        let when = format!("{day:02}/Mar/2026:{h:02}:{m:02}:{s:02} +0000");
        let mut emit = |line: String| {
            out.write_all(line.as_bytes()).unwrap();
            out.write_all(b"\n").unwrap();
            written += line.len() as u64 + 1;
            lines += 1;
        };
        let next = match session {
            Session::Podcast { episode, offset, size } => {
                let len = (*size - *offset).min(1_048_576);
                emit(format!(r#"{ip} - - [{when}] "GET /podcast/ep{episode}.mp3 HTTP/1.1" 206 {len} "-" "{ua}""#));
                *offset += len;
                (*offset < *size).then_some(now + 30)
            }
            Session::Hls { channel } => {
                emit(format!(
                    r#"{ip} - - [{when}] "GET /live/ch{channel}/index.m3u8 HTTP/1.1" 200 612 "https://www.example.org/live" "{ua}""#
                ));
                emit(format!(
                    r#"{ip} - - [{when}] "GET /live/ch{channel}/720p/seg_{}.ts HTTP/1.1" 200 {} "https://www.example.org/live" "{ua}""#,
                    now / 6,
                    rng.random_range(300_000..900_000)
                ));
                Some(now + 6)
            }
        };
        match next {
            Some(at) if at < *ends => due.push(Reverse((at, i))),
            // Gone: someone new takes the place.
            _ => {
                sessions[i] = start(&mut rng, next_device, now);
                next_device += 1;
                due.push(Reverse((now + rng.random_range(1..30), i)));
            }
        }
    }
    out.flush().unwrap();
    lines
}

/// 1. Parse only, one thread: lines split, checked as UTF-8 and parsed.
fn parse_only(log: &std::path::Path, lines: u64, size: u64) {
    let bytes = std::fs::read(log).unwrap();
    let mut parser = LogParser::new(LogFormat::named("combined", None).unwrap());
    let t = Instant::now();
    let mut parsed = 0u64;
    // As the importer reads a chunk: one UTF-8 check, lines split with memchr.
    let text = std::str::from_utf8(&bytes).unwrap();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', bytes.as_slice()) {
        if let Ok(Line::Request(_)) = parser.parse_line(&text[start..end]) {
            parsed += 1;
        }
        start = end + 1;
    }
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(parsed, lines);
    println!(
        "parse only (1 core): {:.0} lines/s, {:.2} GB/s ({:.1} s)",
        lines as f64 / secs,
        size as f64 / 1e9 / secs,
        secs
    );
}

/// What one step's process did: lines per second and its peak resident memory.
#[derive(Clone, Copy)]
struct Measured {
    lines_per_sec: f64,
    peak_mib: u64,
}

/// A process run to its end, timed, with its peak resident memory (MiB),
/// its exit and its output (both streams, read from files: nothing blocks).
/// The peak is the process's own `VmHWM`, read every 10 ms while it runs:
/// `wait4`'s `ru_maxrss` would also count this bench's memory at the fork.
fn run_measured(cmd: &mut Command, dir: &std::path::Path) -> (bool, f64, u64, String) {
    let (out_path, err_path) = (dir.join("step.out"), dir.join("step.err"));
    cmd.stdout(std::fs::File::create(&out_path).unwrap());
    cmd.stderr(std::fs::File::create(&err_path).unwrap());
    let t = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let pid = child.id();
    let done = std::sync::atomic::AtomicBool::new(false);
    let (status, peak_kib) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut peak = 0u64;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let hwm = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .unwrap_or_default()
                    .lines()
                    .find_map(|l| l.strip_prefix("VmHWM:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
                peak = peak.max(hwm.unwrap_or(0));
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            peak
        });
        let status = child.wait().unwrap();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (status, watcher.join().unwrap())
    });
    let secs = t.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&out_path).unwrap_or_default() + &std::fs::read_to_string(&err_path).unwrap_or_default();
    (status.success(), secs, peak_kib / 1024, text)
}

/// Step 2, the full import as a user runs it.
fn full_import(log: &std::path::Path, lines: u64, size: u64, dir: &std::path::Path) -> Measured {
    let bin = env!("CARGO_BIN_EXE_streamtally");
    let data = dir.join("data");
    let d = data.to_str().unwrap();
    assert!(Command::new(bin)
        .args(["tenant", "create", "bench", "--data", d])
        .output()
        .unwrap()
        .status
        .success());
    // The generated days wrap around every 20 days (the `devices` log spans
    // more than March): keep every line countable (spec §8a allows 30 days).
    assert!(Command::new(bin)
        .args(["settings", "set", "--tenant", "bench", "allowed_lateness=30days", "--data", d])
        .output()
        .unwrap()
        .status
        .success());
    let (ok, secs, peak_mib, summary) = run_measured(
        Command::new(bin)
            .args(["import", "--tenant", "bench", "--data", d, "--format", "combined"])
            .arg(log),
        dir,
    );
    assert!(ok, "{summary}");
    assert!(summary.contains(&format!("parsed:          {lines}")), "{summary}");
    println!(
        "full import (parse, enrich, WAL, count, store): {:.0} lines/s, {:.1} MB/s ({secs:.1} s), peak memory {peak_mib} MiB",
        lines as f64 / secs,
        size as f64 / 1e6 / secs,
    );
    Measured {
        lines_per_sec: lines as f64 / secs,
        peak_mib,
    }
}

/// Step 3, GoAccess on the same file, when it is installed.
fn goaccess(log: &std::path::Path, lines: u64, dir: &std::path::Path) -> Option<Measured> {
    let goaccess = ["/usr/bin/goaccess", "/usr/local/bin/goaccess"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    match goaccess {
        Some(g) => {
            let (ok, secs, peak_mib, out) = run_measured(
                Command::new(g)
                    .arg(log)
                    .args(["--log-format=COMBINED", "--no-global-config", "-o"])
                    .arg(dir.join("report.json")),
                dir,
            );
            println!(
                "goaccess (--log-format=COMBINED, JSON report): {:.0} lines/s ({secs:.1} s), peak memory {peak_mib} MiB{}",
                lines as f64 / secs,
                if ok { String::new() } else { format!(" — failed: {out}") }
            );
            ok.then_some(Measured {
                lines_per_sec: lines as f64 / secs,
                peak_mib,
            })
        }
        None => {
            println!("goaccess: not installed (apt-get install goaccess) — skipped");
            None
        }
    }
}

/// Step 4, DuckDB on the same file, when the bench's Python has it.
fn duckdb(log: &std::path::Path, lines: u64, dir: &std::path::Path) -> Option<Measured> {
    let python = std::env::var("STREAMTALLY_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/peers/duckdb_logs.py");
    let has = Command::new(&python).args(["-c", "import duckdb"]).output();
    if !has.is_ok_and(|o| o.status.success()) {
        println!("duckdb: `{python}` has no duckdb module (scripts/bench installs it) — skipped");
        return None;
    }
    let (ok, secs, peak_mib, out) = run_measured(Command::new(&python).arg(script).arg(log), dir);
    println!(
        "duckdb (read_csv, downloads per content per day, IAB filters in SQL): {:.0} lines/s ({secs:.1} s), peak memory {peak_mib} MiB — {}",
        lines as f64 / secs,
        out.trim()
    );
    // It must have read every line, or the figure says nothing.
    (ok && out.contains(&format!("lines={lines} "))).then_some(Measured {
        lines_per_sec: lines as f64 / secs,
        peak_mib,
    })
}

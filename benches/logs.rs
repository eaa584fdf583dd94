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
//! 3. GoAccess on the same file (Debian package `goaccess`), when installed.
//!
//! Local files only; prints numbers, asserts nothing but the line counts.
//! Run: `cargo bench --bench logs`. For profiling one step on a log at hand:
//! `STREAMTALLY_BENCH_LOG=FILE STREAMTALLY_BENCH_STEPS=parse` (steps: `parse`,
//! `import`, `goaccess`, comma-separated; all by default); the generated logs
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
    let steps = std::env::var("STREAMTALLY_BENCH_STEPS").unwrap_or_else(|_| "parse,import,goaccess".into());
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
        // One line for scripts/bench's table: lines per second against GoAccess.
        if let (Some(ours), Some(peer)) = (ours, peer) {
            println!(
                "RESULT logs {shape}_lines_per_sec ours={ours:.0} peer={peer:.0} ratio={:.2} peer_is=goaccess",
                ours / peer
            );
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

/// Step 2, the full import as a user runs it; lines per second.
fn full_import(log: &std::path::Path, lines: u64, size: u64, dir: &std::path::Path) -> f64 {
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
    let t = Instant::now();
    let out = Command::new(bin)
        .args(["import", "--tenant", "bench", "--data", d, "--format", "combined"])
        .arg(log)
        .output()
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains(&format!("parsed:          {lines}")), "{summary}");
    println!(
        "full import (parse, enrich, WAL, count, store): {:.0} lines/s, {:.1} MB/s ({:.1} s)",
        lines as f64 / secs,
        size as f64 / 1e6 / secs,
        secs
    );
    lines as f64 / secs
}

/// Step 3, GoAccess on the same file; lines per second when it ran.
fn goaccess(log: &std::path::Path, lines: u64, dir: &std::path::Path) -> Option<f64> {
    let goaccess = ["/usr/bin/goaccess", "/usr/local/bin/goaccess"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    match goaccess {
        Some(g) => {
            let t = Instant::now();
            let out = Command::new(g)
                .arg(log)
                .args(["--log-format=COMBINED", "--no-global-config", "-o"])
                .arg(dir.join("report.json"))
                .output()
                .unwrap();
            let secs = t.elapsed().as_secs_f64();
            println!(
                "goaccess (--log-format=COMBINED, JSON report): {:.0} lines/s ({:.1} s){}",
                lines as f64 / secs,
                secs,
                if out.status.success() {
                    String::new()
                } else {
                    format!(" — failed: {}", String::from_utf8_lossy(&out.stderr))
                }
            );
            out.status.success().then_some(lines as f64 / secs)
        }
        None => {
            println!("goaccess: not installed (apt-get install goaccess) — skipped");
            None
        }
    }
}

//! Several servers' logs of one period (spec §8a): imported in one command
//! they are merged by time, so the answers equal those of one log holding
//! every line in time order, even when the files are days apart in what they
//! hold; imported one command after another they give the same answers as
//! long as each device's lines are in one file and the skew stays within
//! `allowed_lateness` — and beyond it the late lines are refused, with a
//! reason, never counted twice.

mod support;

use std::path::Path;
use std::process::Command;

use rand::{Rng, SeedableRng};
use serde_json::Value;
use support::*;

/// A combined-format line at `at` (seconds after 2026-03-02T00:00:00Z).
fn line(at: i64, ip: &str, path: &str, status: u16, bytes: u64) -> (i64, String) {
    let t = chrono::DateTime::from_timestamp(1_772_409_600 + at, 0).unwrap();
    let text = format!(
        "{ip} - - [{}] \"GET {path} HTTP/1.1\" {status} {bytes} \"-\" \"{UA1}\"\n",
        t.format("%d/%b/%Y:%H:%M:%S +0000")
    );
    (at, text)
}

/// A day and a half of listeners and viewers: podcast byte ranges and
/// downloads, HLS playlists and segments, with gaps around the windows.
fn scenario(seed: u64, devices: usize, hours: i64) -> Vec<(usize, i64, String)> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for d in 0..devices {
        let ip = format!("198.51.{}.{}", 100 + d / 200, d % 200 + 1);
        let mut at = rng.random_range(0..hours * 3600);
        while at < hours * 3600 {
            let content = rng.random_range(0..3);
            match rng.random_range(0..3) {
                0 => out.push((d, line(at, &ip, &format!("/podcast/E{content}.mp3"), 206, rng.random_range(100_000..2_000_000)))),
                1 => out.push((d, line(at, &ip, &format!("/podcast/E{content}.mp3"), 200, 5_000_000))),
                _ => {
                    out.push((d, line(at, &ip, &format!("/live/L{content}/index.m3u8"), 200, 900)));
                    for s in 1..4 {
                        out.push((d, line(at + s * 6, &ip, &format!("/live/L{content}/seg_{s}.ts"), 200, 400_000)));
                    }
                }
            }
            at += [30, 3_599, 3_601, 4 * 3600 + 1, 20 * 3600][rng.random_range(0..5)];
        }
    }
    out.into_iter().map(|(d, (at, text))| (d, at, text)).collect()
}

fn write(path: &Path, lines: &[&(usize, i64, String)]) {
    let mut sorted: Vec<_> = lines.to_vec();
    sorted.sort_by_key(|(_, at, _)| *at);
    std::fs::write(path, sorted.iter().map(|(_, _, t)| t.as_str()).collect::<String>()).unwrap();
}

fn streamtally(args: &[&str]) -> String {
    let out = Command::new(bin()).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{args:?}: {text}");
    text
}

/// A fresh data folder with tenant `pod`, the files imported by `commands`
/// (each a list of files for one `import`), and its answers.
fn answers(dir: &Path, name: &str, commands: &[Vec<&Path>]) -> (Value, String) {
    let data = dir.join(name);
    let d = data.to_str().unwrap();
    streamtally(&["tenant", "create", "pod", "--data", d]);
    let mut summaries = String::new();
    for files in commands {
        let mut args = vec!["import", "--tenant", "pod", "--data", d, "--format", "combined"];
        args.extend(files.iter().map(|f| f.to_str().unwrap()));
        summaries += &streamtally(&args);
    }
    let report = streamtally(&[
        "report",
        "--data",
        d,
        "--tenant",
        "pod",
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-08",
        "--metrics",
        "starts,streams,time,downloads,devices,views,users",
        "--group-by",
        "hour,content_id",
        "--format",
        "json",
    ]);
    (serde_json::from_str(&report).unwrap(), summaries)
}

/// Sums of seconds differ in their last bits with the order they are added
/// in (stored facts are summed in file order): compare them to the microsecond.
fn rounded(v: Value) -> Value {
    match v {
        Value::Number(n) if n.is_f64() => serde_json::json!((n.as_f64().unwrap_or(0.0) * 1e6).round() / 1e6),
        Value::Array(a) => Value::Array(a.into_iter().map(rounded).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, rounded(v))).collect()),
        other => other,
    }
}

/// The rows that differ between two answers, for a readable failure.
fn differ(a: &Value, b: &Value) -> Vec<(Value, Value)> {
    let rows = |v: &Value| v["rows"].as_array().cloned().unwrap_or_default();
    let (ra, rb) = (rows(a), rows(b));
    let key = |r: &Value| (r["hour"].clone().to_string(), r["content_id"].clone().to_string());
    let mut out: Vec<(Value, Value)> = ra
        .iter()
        .filter(|r| !rb.contains(r))
        .map(|r| (r.clone(), rb.iter().find(|x| key(x) == key(r)).cloned().unwrap_or(Value::Null)))
        .collect();
    out.extend(rb.iter().filter(|r| !ra.iter().any(|x| key(x) == key(r))).map(|r| (Value::Null, r.clone())));
    out.push((a["totals"].clone(), b["totals"].clone()));
    out
}

fn assert_same(got: Value, expected: Value, what: &str) {
    let (got, expected) = (rounded(got), rounded(expected));
    assert!(got == expected, "{what}: {:#?}", differ(&got, &expected));
}

#[test]
fn two_servers_logs_in_one_import_count_as_one_log_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let lines = scenario(7, 120, 36);
    let all: Vec<_> = lines.iter().collect();
    // Devices reach either server, and some switch between them: a line goes to A or B at random.
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (a, b): (Vec<_>, Vec<_>) = all.iter().partition(|_| rng.random_bool(0.5));
    let (one, fa, fb) = (dir.path().join("one.log"), dir.path().join("a.log"), dir.path().join("b.log"));
    write(&one, &all);
    write(&fa, &a);
    write(&fb, &b);
    let (expected, _) = answers(dir.path(), "one", &[vec![&one]]);
    assert!(expected["totals"]["starts"].as_i64().unwrap() > 100, "{}", expected["totals"]);
    let (merged, summary) = answers(dir.path(), "merged", &[vec![&fa, &fb]]);
    assert!(summary.contains("rejected:        0"), "{summary}");
    assert_same(merged, expected, "one import of both files = one log in time order");
}

#[test]
fn logs_imported_one_after_another_count_alike_within_the_lateness() {
    let dir = tempfile::tempdir().unwrap();
    // 40 h of traffic, each device on one server: within the 48 h lateness.
    let lines = scenario(3, 120, 40);
    let all: Vec<_> = lines.iter().collect();
    let (a, b): (Vec<_>, Vec<_>) = all.iter().partition(|(d, _, _)| d % 2 == 0);
    let (one, fa, fb) = (dir.path().join("one.log"), dir.path().join("a.log"), dir.path().join("b.log"));
    write(&one, &all);
    write(&fa, &a);
    write(&fb, &b);
    let (expected, _) = answers(dir.path(), "one", &[vec![&one]]);
    let (sequential, summary) = answers(dir.path(), "sequential", &[vec![&fa], vec![&fb]]);
    assert!(!summary.contains("allowed_lateness"), "{summary}");
    assert_same(sequential, expected.clone(), "A then B = one log in time order");
    let (merged, _) = answers(dir.path(), "merged", &[vec![&fa, &fb]]);
    assert_same(merged, expected, "A and B in one import = one log in time order");
}

#[test]
fn beyond_the_lateness_a_later_import_refuses_old_lines_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (fa, fb) = (dir.path().join("a.log"), dir.path().join("b.log"));
    // Server A's log reaches three days later than server B's.
    std::fs::write(&fa, line(3 * 86_400, "198.51.100.1", "/podcast/E.mp3", 206, 1_000_000).1).unwrap();
    std::fs::write(&fb, line(0, "198.51.100.2", "/podcast/E.mp3", 206, 1_000_000).1).unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    streamtally(&["tenant", "create", "pod", "--data", d]);
    streamtally(&["import", "--tenant", "pod", "--data", d, fa.to_str().unwrap()]);
    let out = Command::new(bin())
        .args(["import", "--tenant", "pod", "--data", d, fb.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rejected:        1") && text.contains("allowed_lateness") && text.contains("older data before newer"),
        "{text}"
    );
    // In one import the same two files count both listeners.
    let data2 = dir.path().join("data2");
    let d2 = data2.to_str().unwrap();
    streamtally(&["tenant", "create", "pod", "--data", d2]);
    let summary = streamtally(&["import", "--tenant", "pod", "--data", d2, fa.to_str().unwrap(), fb.to_str().unwrap()]);
    assert!(summary.contains("parsed:          2") && summary.contains("rejected:        0"), "{summary}");
}

//! Beacon ingest against its ceiling (issue 17, benchmark 2): `wrk` (Debian)
//! posts batches of 20 `playing` events over 32 keep-alive connections, with
//! a browser's User-Agent and a new playback per request, first to
//! `streamtally serve` (the durable `202`), then to a bare axum server of this
//! file that reads each body and answers `202` doing nothing (the ceiling).
//! `wrk` is pinned to core 0 and each server to core 1 (`taskset`), the same
//! for both. Prints requests/s, events/s and the `202`'s p50/p99 for both,
//! the ratio, whether every acknowledged event was counted, and each
//! server's peak resident memory under the load.
//! Run: `cargo bench --bench beacons` (or `scripts/bench`); seconds per run
//! with `STREAMTALLY_BENCH_SECONDS` (10). Loopback only; asserts nothing but
//! the count.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

const ADMIN: &str = "bench-admin-key-0123456789";
const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// The ceiling: reads each request's body and answers 202, nothing more.
fn ceiling() {
    use axum::routing::post;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let app = axum::Router::new().route(
            "/api/v1/events",
            post(|body: axum::body::Bytes| async move { (axum::http::StatusCode::ACCEPTED, format!("{{\"accepted\":{}}}", body.len().min(1))) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening on http://{}", listener.local_addr().unwrap());
        std::io::stdout().flush().unwrap();
        axum::serve(listener, app).await.unwrap();
    });
}

/// A process's peak and current resident memory (`VmHWM`, `VmRSS`), MiB.
fn memory_mib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Starts `program` on core 1 and waits for its "listening on URL" line.
fn start_pinned(program: &str, args: &[&str], envs: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new("taskset")
        .args(["-c", "1", program])
        .args(args)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("taskset runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the server exited before listening").unwrap();
        if let Some(at) = line.split("listening on ").nth(1) {
            break at.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

struct Run {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    not_2xx: u64,
}

/// wrk on core 0 against `url` with the Lua script; its figures.
fn wrk(url: &str, key: &str, seconds: u64, dir: &std::path::Path) -> Run {
    // A new playback per request (the per-player limit is per playback), 20 beats each.
    let script = format!(
        r#"wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Ingest-Key"] = "{key}"
wrk.headers["User-Agent"] = "{UA}"
counter = 0
request = function()
  counter = counter + 1
  local beats = {{}}
  for i = 1, 20 do
    beats[i] = string.format('{{"type":"playing","ts":"2026-03-02T10:%02d:%02d.%03dZ","playback_id":"w%d","content_id":"L","duration":1}}', math.floor(counter / 60) % 60, counter % 60, i, counter)
  end
  return wrk.format(nil, "/api/v1/events", nil, "[" .. table.concat(beats, ",") .. "]")
end
"#
    );
    let path = dir.join("beacons.lua");
    std::fs::write(&path, script).unwrap();
    let out = Command::new("taskset")
        .args(["-c", "0", "wrk", "-t1", "-c32", &format!("-d{seconds}s"), "--latency", "-s"])
        .arg(&path)
        .arg(url)
        .output()
        .expect("wrk runs (scripts/bench installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let number = |prefix: &str| -> Option<String> { text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_string())) };
    let millis = |v: String| -> f64 {
        let v = v.trim();
        if let Some(us) = v.strip_suffix("us") {
            us.parse::<f64>().unwrap_or(f64::NAN) / 1000.0
        } else if let Some(ms) = v.strip_suffix("ms") {
            ms.parse().unwrap_or(f64::NAN)
        } else if let Some(s) = v.strip_suffix('s') {
            s.parse::<f64>().unwrap_or(f64::NAN) * 1000.0
        } else {
            f64::NAN
        }
    };
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ").map(|(n, _)| n.trim().parse::<u64>().unwrap_or(0)))
        .unwrap_or(0);
    Run {
        requests_per_sec: number("Requests/sec:").and_then(|v| v.parse().ok()).unwrap_or(0.0),
        p50_ms: number("50%").map(millis).unwrap_or(f64::NAN),
        p99_ms: number("99%").map(millis).unwrap_or(f64::NAN),
        requests,
        not_2xx: number("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0),
    }
}

/// Whether the counted seconds (a second a beat) are what was acknowledged:
/// wrk reads no reply of the requests in flight when it stops (at most one
/// per connection), which the server took and counted all the same.
fn counted_verdict(counted: f64, acked: u64) -> String {
    let (low, high) = (acked as f64 * 20.0, (acked + 32) as f64 * 20.0);
    if counted + 0.5 >= low && counted <= high + 0.5 {
        format!("all(+{}_in_flight_at_the_end)", ((counted - low) / 20.0).round())
    } else {
        format!("{counted}s_of_{low}s_acknowledged")
    }
}

fn http(method: &str, url: &str, key: &str, body: &Value) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .unwrap();
    let mut r = agent.run(req).unwrap();
    r.body_mut().read_json().unwrap_or(Value::Null)
}

fn main() {
    if std::env::var_os("STREAMTALLY_BENCH_CEILING").is_some() {
        return ceiling();
    }
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("beacons: wrk is not installed (scripts/bench installs it); skipped");
        return;
    }
    let seconds: u64 = std::env::var("STREAMTALLY_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = data.to_str().unwrap();
    // streamtally: the abuse guard's limits raised (one address sends it all).
    let (mut ours, url) = start_pinned(
        env!("CARGO_BIN_EXE_streamtally"),
        &[
            "serve",
            "--data",
            data_s,
            "--listen",
            "127.0.0.1:0",
            "--ingest-rate-per-ip",
            "10000000",
            "--ingest-burst-per-ip",
            "10000000",
            "--ingest-new-clients-per-ip",
            "10000000",
            "--ingest-new-clients-burst",
            "10000000",
            "--ingest-rate-per-key",
            "10000000",
            "--ingest-burst-per-key",
            "10000000",
        ],
        &[("STREAMTALLY_ADMIN_KEY", ADMIN), ("STREAMTALLY_LOG", "warn")],
    );
    http("POST", &format!("{url}/api/v1/tenants"), ADMIN, &json!({ "name": "bench" }));
    let key = http("POST", &format!("{url}/api/v1/keys?tenant=bench"), ADMIN, &json!({ "role": "ingest" }))["key"]
        .as_str()
        .unwrap()
        .to_string();
    let read = http("POST", &format!("{url}/api/v1/keys?tenant=bench"), ADMIN, &json!({ "role": "read" }))["key"]
        .as_str()
        .unwrap()
        .to_string();
    let durable = wrk(&url, &key, seconds, dir.path());
    // Every acknowledged event counted: a second of time each.
    let acked = durable.requests - durable.not_2xx;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let counted = loop {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let h: Value = agent.get(&format!("{url}/healthz")).call().unwrap().body_mut().read_json().unwrap();
        if h["wal"]["applied_lsn"] == h["wal"]["durable_lsn"] || std::time::Instant::now() > deadline {
            let m: Value = agent
                .get(&format!("{url}/api/v1/metrics?from=2026-03-02&to=2026-03-03&metrics=time"))
                .header("Authorization", &format!("Bearer {read}"))
                .call()
                .unwrap()
                .body_mut()
                .read_json()
                .unwrap();
            break m["totals"]["time"].as_f64().unwrap_or(0.0);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let ours_mib = memory_mib(ours.id());
    let _ = ours.kill();
    let _ = ours.wait();
    let me = std::env::current_exe().unwrap();
    let (mut bare, bare_url) = start_pinned(me.to_str().unwrap(), &[], &[("STREAMTALLY_BENCH_CEILING", "1")]);
    let ceiling = wrk(&bare_url, &key, seconds, dir.path());
    let bare_mib = memory_mib(bare.id());
    let _ = bare.kill();
    let _ = bare.wait();

    println!("beacons: wrk -t1 -c32, {seconds} s, 20 events a request; wrk on core 0, the server on core 1");
    println!("| server | requests/s | events/s | p50 | p99 | non-2xx |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, r) in [("streamtally (durable 202)", &durable), ("bare axum (ceiling)", &ceiling)] {
        println!(
            "| {name} | {:.0} | {:.0} | {:.2} ms | {:.2} ms | {} |",
            r.requests_per_sec,
            r.requests_per_sec * 20.0,
            r.p50_ms,
            r.p99_ms,
            r.not_2xx
        );
    }
    println!(
        "server memory under the load: streamtally peak {} MiB (resident at the end {} MiB), bare axum peak {} MiB",
        ours_mib.0, ours_mib.1, bare_mib.0
    );
    println!(
        "RESULT beacons server_peak_mib ours={} peer={} ratio={:.1} peer_is=bare_axum",
        ours_mib.0,
        bare_mib.0,
        ours_mib.0 as f64 / bare_mib.0.max(1) as f64
    );
    println!(
        "RESULT beacons requests_per_sec ours={:.0} peer={:.0} ratio={:.3} p99_ms={:.2} counted={}",
        durable.requests_per_sec,
        ceiling.requests_per_sec,
        durable.requests_per_sec / ceiling.requests_per_sec.max(1.0),
        durable.p99_ms,
        counted_verdict(counted, acked)
    );
}

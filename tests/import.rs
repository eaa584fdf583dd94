//! `streamtally import`: files, gzip, folders, globs and stdin into the data
//! folder; idempotent re-imports; a truncated gzip and garbage do not stop the
//! rest; `--server` sends to a running server; the summary names what was
//! excluded and why.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

use support::*;

fn line(hms: &str, ip: &str, method: &str, path: &str, status: u16, bytes: u64, ua: &str) -> String {
    format!(
        r#"{ip} - - [02/Mar/2026:{hms} +0000] "{method} {path} HTTP/1.1" {status} {bytes} "-" "{ua}"{}"#,
        "\n"
    )
}

/// `import --tenant pod` into a running server, then `more`.
fn import_to_server<'a>(server: &'a Server, key: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["import", "--tenant", "pod", "--server", &server.base, "--key", key];
    args.extend_from_slice(more);
    args
}

fn streamtally(args: &[&str], stdin: Option<&[u8]>) -> (bool, String, String) {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn report(data: &str, metrics: &str) -> serde_json::Value {
    let (ok, out, err) = streamtally(
        &[
            "report",
            "--data",
            data,
            "--tenant",
            "pod",
            "--from",
            "2026-03-02",
            "--to",
            "2026-03-03",
            "--metrics",
            metrics,
            "--format",
            "json",
        ],
        None,
    );
    assert!(ok, "{err}");
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["totals"].clone()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn files_gzip_folders_and_stdin_import_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    assert!(streamtally(&["tenant", "create", "pod", "--data", d], None).0);
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("old")).unwrap();
    // Plain: example 4's listener plus a HEAD, a bot and a probe.
    let mut plain = String::new();
    plain += &line("08:00:00", IP1, "GET", "/podcast/E.mp3", 206, 50_000, UA1);
    plain += &line("08:01:00", IP1, "GET", "/podcast/E.mp3", 206, 1_000_000, UA1);
    plain += &line("08:02:00", IP1, "HEAD", "/podcast/E.mp3", 200, 0, UA1);
    plain += &line(
        "08:03:00",
        "198.51.100.2",
        "GET",
        "/podcast/E.mp3",
        206,
        2,
        "Googlebot/2.1 (+http://www.google.com/bot.html)",
    );
    plain += "this line is garbage\n";
    std::fs::write(logs.join("access.log"), &plain).unwrap();
    // Gzip in a subfolder: another listener.
    let other = line("09:00:00", "198.51.100.3", "GET", "/podcast/E.mp3", 206, 1_000_000, UA1);
    std::fs::write(logs.join("old/access.log.1.gz"), gzip(other.as_bytes())).unwrap();
    // A truncated gzip: its whole lines before the cut still count.
    let mut long = String::new();
    for i in 0..2000 {
        long += &line(
            &format!("11:{:02}:{:02}", i / 60 % 60, i % 60),
            &format!("198.51.{}.{}", 100 + i / 250, i % 250),
            "GET",
            "/podcast/F.mp3",
            206,
            1_000_000,
            UA1,
        );
    }
    let gz = gzip(long.as_bytes());
    std::fs::write(logs.join("old/broken.log.gz"), &gz[..gz.len() / 2]).unwrap();

    let folder = logs.to_str().unwrap();
    let (ok, out, err) = streamtally(&["import", "--tenant", "pod", "--data", d, folder], None);
    assert!(ok, "{out}{err}");
    assert!(out.contains("rejected:        1"), "{out}");
    assert!(out.contains("access.log:5: expected"), "the bad line is named with its number: {out}");
    assert!(
        out.contains("under_min_bytes: 1") && out.contains("method: 1") && out.contains("bot: 1"),
        "{out}"
    );
    assert!(out.contains("broken.log.gz") && out.contains("error:"), "the truncated file is reported: {out}");
    let first = report(d, "starts,time");
    let starts_f = first["starts"].as_i64().unwrap();
    assert!(starts_f > 2 && starts_f < 2002, "some lines of the truncated gzip were imported: {first}");

    // Importing the same files again adds nothing.
    let (ok, out, _) = streamtally(
        &[
            "import",
            "--tenant",
            "pod",
            "--data",
            d,
            &format!("{folder}/*.log"),
            &format!("{folder}/old/*.gz"),
        ],
        None,
    );
    assert!(ok);
    assert!(out.contains("files imported before"), "{out}");
    assert_eq!(report(d, "starts,time"), first);

    // stdin, with the format named.
    let from_stdin = line("12:00:00", "198.51.100.77", "GET", "/podcast/E.mp3", 206, 1_000_000, UA1);
    let (ok, out, err) = streamtally(
        &["import", "--tenant", "pod", "--data", d, "--format", "combined", "-"],
        Some(from_stdin.as_bytes()),
    );
    assert!(ok, "{out}{err}");
    assert_eq!(report(d, "starts")["starts"].as_i64().unwrap(), starts_f + 1);

    // Errors that stop before anything is read are clear.
    let (ok, _, err) = streamtally(
        &["import", "--tenant", "pod", "--data", d, "--format", "nginx", "--log-format", "$status", folder],
        None,
    );
    assert!(!ok && err.contains("log_format"), "{err}");
    let (ok, _, err) = streamtally(&["import", "--tenant", "pod", "--data", d, "/no/such/file"], None);
    assert!(!ok && err.contains("no such file"), "{err}");
}

#[test]
fn import_into_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("pod");
    let file = dir.path().join("cdn.log");
    std::fs::write(
        &file,
        line("08:01:00", IP1, "GET", "/podcast/E.mp3", 206, 1_000_000, UA1) + &line("08:02:00", IP1, "HEAD", "/podcast/E.mp3", 200, 0, UA1),
    )
    .unwrap();
    // The folder is the server's: a direct import says how to reach it instead.
    let (ok, _, err) = streamtally(
        &[
            "import",
            "--tenant",
            "pod",
            "--data",
            dir.path().join("data").to_str().unwrap(),
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(!ok && err.contains("--server"), "{err}");
    let to_server = import_to_server(&server, &t.ingest, &[file.to_str().unwrap()]);
    let (ok, out, err) = streamtally(&to_server, None);
    assert!(ok, "{out}{err}");
    assert!(out.contains("parsed:          2") && out.contains("method: 1"), "{out}");
    assert_eq!(server.metrics(&t.read, &format!("{DAY}&metrics=starts"))["totals"]["starts"], 1);
    let time = || server.metrics(&t.read, &format!("{DAY}&metrics=time"))["totals"]["time"].as_f64().unwrap();
    let time_once = time();
    assert!(time_once > 0.0);
    // The same file again: the server says how much of it it has, and nothing is counted twice.
    let (ok, out, err) = streamtally(&to_server, None);
    assert!(ok, "{out}{err}");
    assert!(out.contains("files imported before"), "{out}");
    assert_eq!(time(), time_once, "the byte ranges were not counted again");
    // Chunks of a named file by hand: a chunk taken before is a duplicate, one leaving a gap is refused.
    let lines = line("09:00:00", "198.51.100.9", "GET", "/podcast/E.mp3", 206, 1_000_000, UA1);
    let post = |offset: usize| {
        server.request(
            "POST",
            &format!("/api/v1/logs?format=combined&file=by-hand&offset={offset}"),
            &[("X-Ingest-Key", &t.ingest)],
            &lines,
        )
    };
    assert_eq!(post(0).status, 202);
    let dup = post(0);
    assert!(dup.status == 200 && dup.body.contains("\"duplicate\":true"), "{}", dup.body);
    let gap = post(lines.len() + 10);
    assert_eq!(gap.status, 409, "{}", gap.body);
    assert!(gap.body.contains(&format!("up to byte {}", lines.len())), "{}", gap.body);
    assert_eq!(post(lines.len()).status, 202, "the next chunk follows on");
    let imported = server.request("GET", "/api/v1/logs/imported?file=by-hand", &[("X-Ingest-Key", &t.ingest)], "");
    assert!(imported.body.contains(&format!("\"imported_bytes\":{}", 2 * lines.len())), "{}", imported.body);
    assert_eq!(
        server.metrics(&t.read, &format!("{DAY}&metrics=starts"))["totals"]["starts"],
        2,
        "09:00 is a second start, counted once"
    );
    server.stop();
}

#[test]
fn follow_tails_a_live_log_through_rotation_and_truncation() {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("pod");
    let log = dir.path().join("live.log");
    let listener = |n: usize| line("08:01:00", &format!("198.51.100.{n}"), "GET", "/podcast/E.mp3", 206, 1_000_000, UA1);
    std::fs::write(&log, listener(1)).unwrap();
    let mut follow = Command::new(bin())
        .args(import_to_server(&server, &t.ingest, &["--follow", "--format", "combined"]))
        .arg(&log)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let starts = || server.metrics(&t.read, &format!("{DAY}&metrics=starts"))["totals"]["starts"].as_i64().unwrap();
    let wait_for = |n: i64| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while starts() != n {
            assert!(Instant::now() < deadline, "expected {n} starts, have {}", starts());
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_for(1);
    // Appended lines, one written in two halves (the follower waits for its end).
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let two = listener(2);
    f.write_all(&two.as_bytes()[..20]).unwrap();
    f.flush().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    f.write_all(&two.as_bytes()[20..]).unwrap();
    drop(f);
    wait_for(2);
    // Rotation: the file is moved away and a new one begins.
    std::fs::rename(&log, dir.path().join("live.log.1")).unwrap();
    std::fs::write(&log, listener(3)).unwrap();
    wait_for(3);
    // Truncation: the same file starts over.
    std::fs::write(&log, listener(4)).unwrap();
    wait_for(4);
    let _ = follow.kill();
    let _ = follow.wait();
    server.stop();
}

/// `--shard i/N` into data folders: each line lands in exactly the shard
/// nginx's `hash $remote_addr` gives its address, and no line in two.
#[test]
fn each_shard_takes_the_lines_of_its_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let ips: Vec<String> = (0..24)
        .map(|k| {
            if k % 5 == 0 {
                format!("2001:db8:{:x}::1", k + 1)
            } else {
                format!("198.51.100.{}", k + 1)
            }
        })
        .collect();
    let log: String = ips
        .iter()
        .map(|ip| line("08:00:00", ip, "GET", "/podcast/E.mp3", 200, 3_000_000, UA1))
        .collect();
    let file = dir.path().join("access.log");
    std::fs::write(&file, log).unwrap();
    let mut total = 0;
    for i in 0..2u32 {
        let data = dir.path().join(format!("shard{i}"));
        let d = data.to_str().unwrap();
        assert!(streamtally(&["tenant", "create", "pod", "--data", d], None).0);
        let shard = format!("{i}/2");
        let (ok, _, err) = streamtally(&["import", file.to_str().unwrap(), "--tenant", "pod", "--data", d, "--shard", &shard], None);
        assert!(ok, "{err}");
        let expected = ips.iter().filter(|ip| streamtally_enrich::Shard::of(ip.parse().ok(), 2) == i).count();
        assert!(expected > 0 && expected < ips.len(), "the addresses split: {expected}");
        let downloads = report(d, "downloads")["downloads"].as_u64().unwrap_or(0);
        assert_eq!(downloads as usize, expected, "shard {shard}");
        total += downloads;
    }
    assert_eq!(total as usize, ips.len());
}

//! Real logs: a real nginx serves real HLS and MP3 files (made by ffmpeg) to
//! real clients — curl with Range headers, HEAD and a missing file, and ffmpeg
//! playing the HLS stream — on loopback. The access log nginx wrote is then
//! parsed and imported: the request count, bytes and status classes must equal
//! what the clients did, and the audience must be what they were. And nginx's
//! `auth_request` asks streamtally whether an access code may watch.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::nginx::{free_port, run, start_nginx, tool};
use support::*;

const LOG_FORMAT: &str =
    r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" "$http_range" $request_time"#;
const PODCAST_APP: &str = "AppleCoreMedia/1.0.0.21E230 (iPhone; U; CPU OS 17_4 like Mac OS X; en_us)";

/// curl: the status and the body bytes received.
fn curl(args: &[&str], url: &str) -> (u16, u64) {
    let out = run(Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "-A", PODCAST_APP])
        .args(args)
        .arg(url));
    let mut it = out.split_whitespace();
    (it.next().unwrap().parse().unwrap(), it.next().unwrap().parse().unwrap())
}

#[test]
fn a_real_nginx_log_of_real_clients() {
    let ffmpeg = tool("ffmpeg", &["/usr/bin/ffmpeg"]);
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    std::fs::create_dir_all(www.join("podcast")).unwrap();
    std::fs::create_dir_all(www.join("live/L")).unwrap();
    // A 60 s MP3 at 128 kbps and a 12 s HLS stream in 2 s segments.
    run(Command::new(&ffmpeg)
        .args(["-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=60", "-b:a", "128k"])
        .arg(www.join("podcast/E.mp3")));
    run(Command::new(&ffmpeg)
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10",
            "-t",
            "12",
            "-c:v",
            "mpeg2video",
            "-f",
            "hls",
            "-hls_time",
            "2",
            "-hls_list_size",
            "0",
        ])
        .arg(www.join("live/L/index.m3u8")));
    let mp3 = std::fs::metadata(www.join("podcast/E.mp3")).unwrap().len();
    let segments: Vec<u64> = std::fs::read_dir(www.join("live/L"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "ts"))
        .map(|e| e.metadata().unwrap().len())
        .collect();
    let manifest = std::fs::metadata(www.join("live/L/index.m3u8")).unwrap().len();
    assert!(mp3 > 500_000 && segments.len() >= 5, "mp3 {mp3} bytes, {} segments", segments.len());

    let port = free_port();
    let nginx = start_nginx(dir.path(), &www, port, LOG_FORMAT, "");
    let base = format!("http://127.0.0.1:{port}");
    let e = format!("{base}/podcast/E.mp3");
    // The podcast app: a probe, two ranges of one listen, a whole download, a HEAD, a missing episode.
    let mut expected = vec![
        curl(&["-r", "0-1"], &e),
        curl(&["-r", "0-499999"], &e),
        curl(&["-r", "500000-"], &e),
        curl(&[], &e),
        curl(&["-I"], &e),
        curl(&[], &format!("{base}/podcast/missing.mp3")),
    ];
    assert_eq!(expected.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![206, 206, 206, 200, 200, 404]);
    // ffmpeg plays the stream: the playlist, then every segment.
    run(Command::new(&ffmpeg)
        .args(["-v", "error", "-user_agent", UA1, "-i"])
        .arg(format!("{base}/live/L/index.m3u8"))
        .args(["-c", "copy", "-f", "null", "-"]));
    expected.push((200, manifest));
    expected.extend(segments.iter().map(|b| (200, *b)));
    // nginx writes its log line after the response: wait until all are there.
    let log = dir.path().join("access.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&log).unwrap_or_default().lines().count() < expected.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(nginx);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), expected.len(), "{text}");

    // Import exactly what nginx wrote, with the log_format pasted from its config.
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    run(Command::new(bin()).args(["tenant", "create", "cdn", "--data", d]));
    // ffmpeg sends no CMCD: its segments count time only when the tenant opts in (spec §3).
    run(Command::new(bin()).args(["settings", "set", "--tenant", "cdn", "video_log_time=segments", "--data", d]));
    let summary = run(Command::new(bin())
        .args([
            "import",
            "--tenant",
            "cdn",
            "--data",
            d,
            "--format",
            "nginx",
            "--zone",
            "media.example.org",
            "--log-format",
            LOG_FORMAT,
            "--media-root",
        ])
        .arg(&www)
        .arg(&log));
    assert!(
        summary.contains(&format!("parsed:          {}", expected.len())) && summary.contains("rejected:        0"),
        "{summary}"
    );
    assert!(
        summary.contains("probe: 1") && summary.contains("method: 1") && summary.contains("status: 1"),
        "{summary}"
    );

    let server = Server::start(&data, &[]);
    let key = run(Command::new(bin()).args(["key", "create", "--tenant", "cdn", "--role", "read", "--data", d]))
        .trim()
        .to_string();
    let cdn = server.get("/api/v1/cdn?from=2020-01-01&to=2100-01-01&group_by=status_class", &key).json();
    let total_bytes: u64 = expected.iter().map(|(_, b)| b).sum();
    assert_eq!(cdn["totals"]["requests"].as_u64(), Some(expected.len() as u64));
    assert_eq!(cdn["totals"]["traffic"].as_u64(), Some(total_bytes), "bytes as the clients received them");
    let class = |c: &str| expected.iter().filter(|(s, _)| format!("{}xx", s / 100) == c).count() as i64;
    for row in cdn["rows"].as_array().unwrap() {
        let c = row["status_class"].as_str().unwrap();
        assert_eq!(row["requests"].as_i64().unwrap(), class(c), "{c}");
    }
    // The audience: one listen (two ranges, the probe ignored), one download,
    // one video playback whose segments add their playlist durations (ffmpeg's `#EXTINF`s,
    // with `video_log_time=segments`).
    let m = server
        .get(
            "/api/v1/metrics?from=2020-01-01&to=2100-01-01&metrics=starts,streams,downloads,time&group_by=source",
            &key,
        )
        .json();
    let by = |source: &str, metric: &str| {
        m["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["source"] == source)
            .map(|r| r[metric].as_f64().unwrap())
            .unwrap_or(0.0)
    };
    assert_eq!((by("audio-log", "starts"), by("audio-log", "streams")), (1.0, 1.0));
    let listened = (mp3 as f64 / 16_000.0 * 1000.0).round() / 1000.0;
    assert!(
        (by("audio-log", "time") - listened).abs() < 0.01,
        "audio time {} vs {listened}",
        by("audio-log", "time")
    );
    assert_eq!(by("download", "downloads"), 1.0);
    assert_eq!(by("video-log", "starts"), 1.0);
    let playlist = std::fs::read_to_string(www.join("live/L/index.m3u8")).unwrap();
    let extinf: Vec<f64> = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse().unwrap())
        .collect();
    assert_eq!(extinf.len(), segments.len());
    let watched: f64 = extinf.iter().sum();
    assert!((watched - 12.0).abs() < 0.5, "ffmpeg made {watched} s of segments");
    assert!(
        (by("video-log", "time") - watched).abs() < 1e-6,
        "video time {} vs the playlist's {watched} s (the default would give {} s)",
        by("video-log", "time"),
        6.0 * segments.len() as f64
    );
    server.stop();
}

#[test]
fn nginx_auth_request_lets_only_valid_codes_watch() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let t = server.tenant("cme");
    let r = server.send("PUT", "/api/v1/access/codes", &t.admin, r#"["A-1001"]"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let www = dir.path().join("www");
    for stream in ["L", "M"] {
        std::fs::create_dir_all(www.join("live").join(stream)).unwrap();
        std::fs::write(
            www.join(format!("live/{stream}/index.m3u8")),
            "#EXTM3U\n#EXTINF:2.0,\nseg_0.ts\n#EXT-X-ENDLIST\n",
        )
        .unwrap();
        std::fs::write(www.join(format!("live/{stream}/seg_0.ts")), vec![0x47u8; 188 * 100]).unwrap();
    }
    let upstream = server.base.trim_start_matches("http://").to_string();
    // The configuration of docs/ACCESS.md, with the token handed to the player.
    let locations = format!(
        r#"location /live/ {{ auth_request /_streamtally_auth; auth_request_set $token $upstream_http_x_playback_token; add_header X-Playback-Token $token; }}
  location = /_streamtally_auth {{ internal; proxy_pass http://{upstream}/api/v1/access/auth; proxy_pass_request_body off;
    proxy_set_header Content-Length ""; proxy_set_header X-Original-URI $request_uri; proxy_set_header X-Forwarded-For $remote_addr;
    proxy_set_header X-Ingest-Key "{key}"; }}"#,
        key = t.ingest
    );
    let port = free_port();
    let _nginx = start_nginx(dir.path(), &www, port, LOG_FORMAT, &locations);
    let base = format!("http://127.0.0.1:{port}");
    let get = |path: &str| -> (u16, Option<String>) {
        let out = run(Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-D", "-", "-w", "%{http_code}"])
            .arg(format!("{base}{path}")));
        let status = out.lines().last().unwrap().trim().parse().unwrap();
        let token = out
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .starts_with("x-playback-token:")
                    .then(|| l.split_once(':').unwrap().1.trim().to_string())
            })
            .filter(|t| !t.is_empty());
        (status, token)
    };
    let (status, token) = get("/live/L/index.m3u8?code=A-1001");
    assert_eq!(status, 200);
    let token = token.expect("nginx passes the playback token on");
    assert_eq!(get(&format!("/live/L/seg_0.ts?token={token}")).0, 200);
    assert_eq!(get(&format!("/live/M/seg_0.ts?token={token}")).0, 403, "a token is for its content only");
    assert_eq!(get("/live/L/index.m3u8?code=WRONG").0, 403);
    assert_eq!(get("/live/L/index.m3u8").0, 401);
    let failures = server.get("/api/v1/access/failures", &t.read).json();
    let on = |c: &str| {
        failures["failures"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["content_id"] == c)
            .map(|r| r["failed"].as_i64().unwrap())
            .sum::<i64>()
    };
    assert_eq!((on("L"), on("M")), (1, 1), "{failures}");
    server.stop();
}

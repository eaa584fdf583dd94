//! A real player in a real browser: hls.js (from the npm registry) in
//! headless Chromium plays an HLS stream that ffmpeg made from a test
//! pattern, served by a real nginx. With the SDK attached, the API then
//! shows one start, one stream and the seconds played (±1 s), and the live
//! figure shows the viewer; with the SDK off and hls.js's CMCD on, the nginx
//! log imported gives the same start and the time within ±2 s (spec §3: CMCD
//! requests with a session id count the durations of distinct media objects).

mod support;

use std::process::Command;
use std::time::Duration;

use support::browser::{artifacts, chromedriver, npm_file, play_for, Driver};
use support::nginx::{free_port, run, start_nginx};
use support::*;

const LOG_FORMAT: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;
/// Seconds the player is left to play.
const PLAY: u64 = 8;

/// The page: hls.js playing the pattern, with the SDK (`key`) or with CMCD.
fn page(server: &str, key: Option<&str>) -> String {
    let (sdk, hls) = match key {
        Some(key) => (
            format!(
                r#"window.tracker = streamtally.track(video, {{ hls, key: "{key}", endpoint: "{server}/api/v1/events", contentId: "pattern", contentKind: "live" }});"#
            ),
            "{}".to_string(),
        ),
        // A short buffer: what is fetched is close to what is played.
        None => (
            String::new(),
            r#"{ cmcd: { sessionId: "e2e-cmcd", contentId: "pattern" }, maxBufferLength: 1, maxMaxBufferLength: 2, backBufferLength: 0 }"#.to_string(),
        ),
    };
    format!(
        r#"<!doctype html><html><body><video id="v" muted playsinline width="320" height="180"></video>
<script src="/hls.min.js"></script><script src="{server}/sdk/streamtally.js"></script>
<script>
window.playerErrors = [];
const video = document.getElementById("v");
const hls = new Hls({hls});
hls.on(Hls.Events.ERROR, (_, d) => window.playerErrors.push(d.details));
{sdk}
hls.loadSource("/vod/pattern/index.m3u8");
hls.attachMedia(video);
hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());
</script></body></html>"#
    )
}

fn play(driver: &Driver, url: &str, png: &std::path::Path) -> f64 {
    play_for(driver, url, PLAY, png)["played"].as_f64().unwrap()
}

#[test]
fn hls_js_in_chromium_counts_as_played_with_the_sdk_and_with_cmcd() {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    support::media::pattern_hls(&www.join("vod/pattern"));
    std::fs::copy(npm_file("hls.js/dist/hls.min.js"), www.join("hls.min.js")).unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let sdk = server.tenant("sdk");
    let cmcd = server.tenant("cmcd");
    std::fs::write(www.join("sdk.html"), page(&server.base, Some(&sdk.ingest))).unwrap();
    std::fs::write(www.join("cmcd.html"), page(&server.base, None)).unwrap();
    let port = free_port();
    let _nginx = start_nginx(dir.path(), &www, port, LOG_FORMAT, "");
    let driver = chromedriver();
    let shots = artifacts("player");

    // The SDK on hls.js.
    let started = chrono::Utc::now();
    let played = play(&driver, &format!("http://127.0.0.1:{port}/sdk.html"), &shots.join("sdk.png"));
    let today = chrono::Utc::now().date_naive();
    let range = format!("from={}&to={}", today.pred_opt().unwrap(), today.succ_opt().unwrap().succ_opt().unwrap());
    let m = server.metrics(&sdk.read, &format!("{range}&metrics=starts,streams,time"));
    assert_eq!(m["totals"]["starts"], 1, "{m}");
    assert_eq!(m["totals"]["streams"], 1, "{m}");
    let time = m["totals"]["time"].as_f64().unwrap();
    println!("SDK: time {time} s, played {played} s");
    assert!((time - played).abs() <= 1.0, "time {time} s, played {played} s");
    // The viewer is asked for in the middle of the playback: asked for at the
    // end, the clock may have passed into a minute nobody played in.
    let middle = started + chrono::Duration::milliseconds((PLAY * 500) as i64);
    let live = server
        .get(&format!("/api/v1/live?at={}", middle.format("%Y-%m-%dT%H:%M:%SZ")), &sdk.read)
        .json();
    assert_eq!(live["viewers"], 1, "{live}");
    // Spec §8d: the SDK measured its startup (from `play` to the first
    // frame, seconds on a local nginx) and nothing failed.
    let q = server
        .get(&format!("/api/v1/qoe?{range}&metrics=startup_median,failure_rate,rebuffer_ratio"), &sdk.read)
        .json();
    println!("SDK quality: {q}");
    let startup = q["totals"]["startup_median"].as_f64().unwrap_or(-1.0);
    assert!((0.0..5.0).contains(&startup), "{q}");
    assert_eq!(q["totals"]["failure_rate"], 0.0, "{q}");

    // CMCD from hls.js, no SDK: the nginx log of this run only, imported.
    let log = dir.path().join("access.log");
    std::fs::File::create(&log).unwrap();
    let played = play(&driver, &format!("http://127.0.0.1:{port}/cmcd.html"), &shots.join("cmcd.png"));
    std::thread::sleep(Duration::from_millis(300));
    let lines = std::fs::read_to_string(&log).unwrap();
    assert!(lines.contains("CMCD="), "hls.js sent CMCD: {lines}");
    run(Command::new(bin())
        .args([
            "import",
            "--tenant",
            "cmcd",
            "--server",
            &server.base,
            "--key",
            &cmcd.ingest,
            "--format",
            "nginx",
            "--log-format",
            LOG_FORMAT,
        ])
        .arg(&log));
    let m = server.metrics(&cmcd.read, &format!("{range}&metrics=starts,time"));
    assert_eq!(m["totals"]["starts"], 1, "{m}");
    let time = m["totals"]["time"].as_f64().unwrap();
    println!("CMCD: time {time} s, played {played} s");
    assert!((time - played).abs() <= 2.0, "time {time} s from CMCD, played {played} s");
    // What hls.js's CMCD says of quality: no failure (its other keys vary by release).
    let q = server
        .get(
            &format!("/api/v1/qoe?{range}&metrics=startup_median,failure_rate,bitrate_avg,rebuffer_ratio"),
            &cmcd.read,
        )
        .json();
    println!("CMCD quality: {q}");
    assert_eq!(q["totals"]["failure_rate"], 0.0, "{q}");
    server.stop();
}

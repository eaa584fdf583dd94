//! The SDK's adapters on the players they are written for, each from the npm
//! registry, in headless Chromium: dash.js and Shaka Player playing a DASH
//! stream, video.js an HLS stream (ffmpeg made both from a test pattern;
//! nginx serves them). Each run counts one start, one stream and the seconds
//! played (±1 s), without a console error, and the adapter reports the
//! stream's bitrate where the player announces one.

mod support;

use serde_json::Value;
use support::browser::{artifacts, chromedriver, npm_file, play_for};
use support::nginx::{free_port, start_nginx};
use support::*;

const PLAY: u64 = 6;
const LOG_FORMAT: &str = r#"$remote_addr - - [$time_local] "$request" $status $body_bytes_sent "-" "$http_user_agent""#;

/// A page with `player` (a script of the library and the code that starts
/// it, with `video` and `options` — the SDK's options — in scope).
fn page(server: &str, library: &str, markup: &str, start: &str, key: &str) -> String {
    format!(
        r#"<!doctype html><html><head><link rel="icon" href="data:,"></head><body>{markup}
<script src="/{library}"></script><script src="{server}/sdk/streamtally.js"></script>
<script>
window.bitrates = [];
const options = {{ key: "{key}", endpoint: "{server}/api/v1/events", contentId: "pattern", contentKind: "vod" }};
// What the adapter tells the tracker, recorded for the test.
const record = (t) => {{ const set = t.setBitrate.bind(t); t.setBitrate = (k) => {{ window.bitrates.push(k); set(k); }}; return t; }};
(async () => {{ {start} }})().catch((e) => console.error("player: " + e));
</script></body></html>"#
    )
}

fn counted(server: &Server, keys: &TenantKeys) -> Value {
    let today = chrono::Utc::now().date_naive();
    let range = format!("from={}&to={}", today.pred_opt().unwrap(), today.succ_opt().unwrap().succ_opt().unwrap());
    server.metrics(&keys.read, &format!("{range}&metrics=starts,streams,time"))["totals"].clone()
}

#[test]
fn dash_js_shaka_and_video_js_count_as_played_through_their_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let www = dir.path().join("www");
    support::media::pattern_dash(&www.join("dash"));
    support::media::pattern_hls(&www.join("hls"));
    for (from, to) in [
        ("dashjs/dist/modern/umd/dash.all.min.js", "dash.all.min.js"),
        ("shaka-player/dist/shaka-player.compiled.js", "shaka-player.compiled.js"),
        ("video.js/dist/video.min.js", "video.min.js"),
    ] {
        std::fs::copy(npm_file(from), www.join(to)).unwrap();
    }
    let server = Server::start(&dir.path().join("data"), &[]);
    let video = r#"<video id="v" muted playsinline width="320" height="180"></video>"#;
    let players = [
        (
            "dashjs",
            "dash.all.min.js",
            video.to_string(),
            r#"const video = document.getElementById("v");
const player = dashjs.MediaPlayer().create();
window.tracker = record(streamtally.track(video, { ...options, dash: player }));
player.initialize(video, "/dash/manifest.mpd", true);"#,
        ),
        (
            "shaka",
            "shaka-player.compiled.js",
            video.to_string(),
            r#"const video = document.getElementById("v");
shaka.polyfill.installAll();
const player = new shaka.Player();
await player.attach(video);
window.tracker = record(streamtally.track(video, { ...options, shaka: player }));
await player.load("/dash/manifest.mpd");
await video.play();"#,
        ),
        (
            "videojs",
            "video.min.js",
            r#"<video id="v" class="video-js" muted playsinline width="320" height="180"></video>"#.to_string(),
            r#"const player = videojs("v", { muted: true });
window.tracker = record(streamtally.track(player, { ...options, videojs: player }));
player.src({ src: "/hls/index.m3u8", type: "application/x-mpegURL" });
await player.play();"#,
        ),
    ];
    let port = free_port();
    let mut tenants = Vec::new();
    for (name, library, markup, start) in &players {
        let keys = server.tenant(name);
        std::fs::write(www.join(format!("{name}.html")), page(&server.base, library, markup, start, &keys.ingest)).unwrap();
        tenants.push(keys);
    }
    let _nginx = start_nginx(dir.path(), &www, port, LOG_FORMAT, "");
    let driver = chromedriver();
    let shots = artifacts("players");
    let mut wrong = Vec::new();
    for ((name, ..), keys) in players.iter().zip(&tenants) {
        let report = play_for(
            &driver,
            &format!("http://127.0.0.1:{port}/{name}.html"),
            PLAY,
            &shots.join(format!("{name}.png")),
        );
        let played = report["played"].as_f64().unwrap();
        let errors = report["errors"].as_array().cloned().unwrap_or_default();
        if !errors.is_empty() {
            wrong.push(format!("{name}: console errors {errors:?}"));
        }
        let totals = counted(&server, keys);
        println!("{name}: played {played} s, counted {totals}, bitrates {}", report["bitrates"]);
        if totals["starts"] != 1 || totals["streams"] != 1 {
            wrong.push(format!("{name}: {totals}, wanted 1 start and 1 stream"));
        }
        let time = totals["time"].as_f64().unwrap_or(0.0);
        if (time - played).abs() > 1.0 {
            wrong.push(format!("{name}: time {time} s, played {played} s"));
        }
        // dash.js and Shaka announce the representation they play; the
        // pattern is 300 kbit/s of video (the adapter's figure is the manifest's).
        if *name != "videojs" {
            let rates: Vec<f64> = report["bitrates"].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
            if !rates.iter().any(|k| (200.0..=600.0).contains(k)) {
                wrong.push(format!("{name}: bitrates {rates:?}, wanted about 300 kbit/s"));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    server.stop();
}

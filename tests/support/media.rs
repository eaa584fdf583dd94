//! Streams made by ffmpeg from a generated test pattern: 30 s of H.264 in
//! 1 s segments, as HLS or as DASH.

use std::path::Path;
use std::process::Command;

use super::nginx::{run, tool};

const SECONDS: &str = "30";

fn encode(out: &Path, format: &[&str], target: &str) {
    std::fs::create_dir_all(out).unwrap();
    let ffmpeg = tool("ffmpeg", &["/usr/bin/ffmpeg"]);
    run(Command::new(&ffmpeg)
        .current_dir(out)
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=25", "-t", SECONDS])
        .args(["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-b:v", "300k"])
        .args(["-g", "25", "-sc_threshold", "0"])
        .args(format)
        .arg(target));
}

/// `out/index.m3u8` and its segments.
pub fn pattern_hls(out: &Path) {
    encode(
        out,
        &["-f", "hls", "-hls_time", "1", "-hls_list_size", "0", "-hls_playlist_type", "vod"],
        "index.m3u8",
    );
}

/// `out/manifest.mpd` and its segments (fragmented MP4).
pub fn pattern_dash(out: &Path) {
    encode(
        out,
        &["-f", "dash", "-seg_duration", "1", "-use_template", "1", "-use_timeline", "0"],
        "manifest.mpd",
    );
}

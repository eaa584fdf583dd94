//! Access-log lines in each named format (combined, common, W3C, JSON and
//! the CDN presets), the first byte choosing it; and format detection.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamtally_parse::log::{LogFormat, LogParser};

const FORMATS: &[&str] = &["combined", "common", "w3c", "json", "fastly", "bunny", "cloudflare"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let _ = LogFormat::detect(&text);
    let Ok(format) = LogFormat::named(FORMATS[pick as usize % FORMATS.len()], None) else {
        return;
    };
    let mut parser = LogParser::new(format);
    for line in text.lines() {
        let _ = parser.parse_line(line);
    }
});

//! HTTP `Range` values of podcast requests (`bytes=a-b`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Some((start, Some(end))) = streamtally_parse::log::parse_range(&text) {
        assert!(start <= end, "a range read as {start}-{end}");
    }
});

//! JSON-lines field mappings (`--log-format` with `json`), then lines read
//! with what was accepted: the first line is the mapping, the rest the log.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamtally_parse::log::{LogFormat, LogParser};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (spec, log) = text.split_once('\n').unwrap_or((&text, ""));
    let Ok(format) = LogFormat::named("json", Some(spec)) else { return };
    let mut parser = LogParser::new(format);
    for line in log.lines() {
        let _ = parser.parse_line(line);
    }
});

//! W3C extended logs (CloudFront, IIS, Wowza): `#Fields:` and other header
//! lines change how the following lines are read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamtally_parse::log::{LogFormat, LogParser};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parser = LogParser::new(LogFormat::W3c);
    for line in text.lines() {
        let _ = parser.parse_line(line);
    }
});

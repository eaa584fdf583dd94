//! CMCD (CTA-5004) data as a header value and as a URL's query.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamtally_parse::log::{cmcd_of_query, parse_cmcd};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut cmcd = streamtally_model::Cmcd::default();
    parse_cmcd(&text, &mut cmcd);
    let mut from_query = None;
    cmcd_of_query(&text, &mut from_query);
});

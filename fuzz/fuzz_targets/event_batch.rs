//! Player-event batches as `POST /api/v1/events` takes them (JSON array,
//! NDJSON, `text/plain` beacons, `{"sent_at", "events"}`): the first line is
//! the `sent_at` query parameter, the rest the body.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// 2026-03-02T10:00:00Z, the spec's worked examples' day.
const RECEIVED_AT: i64 = 1_772_445_600_000_000;

fuzz_target!(|data: &[u8]| {
    let (param, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (std::str::from_utf8(&data[..i]).ok(), &data[i + 1..]),
        None => (None, data),
    };
    if let Ok(mut batch) = streamtally_parse::parse_event_batch(body, RECEIVED_AT, param) {
        batch.refuse_before(RECEIVED_AT - 3_600_000_000, "too old");
        batch.default_to_sdk_property();
        batch.default_to_key_property("fuzz");
    }
});

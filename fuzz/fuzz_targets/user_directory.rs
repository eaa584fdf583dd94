//! The user directory's uploads (`PUT /api/v1/users`: CSV or NDJSON).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = streamtally_parse::users::parse_users(data);
});

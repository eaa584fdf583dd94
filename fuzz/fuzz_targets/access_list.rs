//! Access-code lists (`PUT /api/v1/access/codes`: CSV or one code a line).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = streamtally_access::parse_code_list(data);
});

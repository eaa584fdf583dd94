//! What a player presents to the access check: codes, SecureIDs and playback
//! tokens, each read by every check that takes one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamtally_access::{AccessEntry, AccessList};

/// 2026-03-02T10:00:00Z.
const NOW: i64 = 1_772_445_600_000_000;

fuzz_target!(|data: &[u8]| {
    let presented = String::from_utf8_lossy(data);
    let list = AccessList::new(vec![AccessEntry::new("A-1001")], Some("sid_0123456789abcdef".into()), &[7; 32]);
    if let Ok(granted) = list.check(&presented, NOW) {
        let (token, _) = list.issue_token(&granted, "L", NOW, 3_600_000_000);
        assert!(list.verify_token(&token, Some("L"), NOW).is_ok(), "a token just issued must verify");
    }
    let _ = list.verify_token(&presented, Some("L"), NOW);
    let _ = list.resolve(Some(&presented), Some(&presented), Some("L"), NOW);
});

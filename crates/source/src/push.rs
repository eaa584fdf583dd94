//! The reply of `POST /api/v1/logs`, one type for the server that writes it
//! and the importer that reads it (`streamtally import --server`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A rejected line, numbered from 1 within the chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineError {
    pub line: usize,
    pub error: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PushReply {
    /// The format the lines were read in (absent for a duplicate chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub accepted: u64,
    pub rejected: u64,
    #[serde(default)]
    pub repaired: u64,
    pub skipped: u64,
    /// Accepted requests left out of the audience metrics, per reason (still CDN traffic).
    #[serde(default)]
    pub excluded: BTreeMap<String, u64>,
    /// The first few rejected lines.
    #[serde(default)]
    pub errors: Vec<LineError>,
    /// The chunk was taken before; nothing was counted again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// How far the named file is taken (a duplicate chunk's reply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_bytes: Option<u64>,
    /// Why every line was refused, when none was taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl PushReply {
    /// Lines the chunk held, as the server counted them.
    pub fn lines(&self) -> u64 {
        self.accepted + self.rejected + self.skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_reads_back_as_written_and_a_duplicate_stays_small() {
        let reply = PushReply {
            format: Some("combined".into()),
            accepted: 2,
            rejected: 1,
            skipped: 1,
            excluded: [("bot".to_string(), 1)].into(),
            errors: vec![LineError {
                line: 3,
                error: "bad time".into(),
            }],
            ..PushReply::default()
        };
        let text = serde_json::to_string(&reply).unwrap();
        assert_eq!(serde_json::from_str::<PushReply>(&text).unwrap(), reply);
        assert_eq!(reply.lines(), 4);
        let dup = PushReply {
            duplicate: true,
            imported_bytes: Some(10),
            ..PushReply::default()
        };
        let v: serde_json::Value = serde_json::to_value(&dup).unwrap();
        assert_eq!(v["duplicate"], true);
        assert!(v.get("format").is_none());
    }
}

//! The access list's entries and the CSV / JSON forms customers upload.

use serde::{Deserialize, Serialize};
use streamtally_model::{parse_ts, Micros};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    pub code: String,
    /// Free text for the customer (e.g. "Dr. Smith, ticket 17"); never reported.
    pub note: Option<String>,
    pub expires_at: Option<Micros>,
    pub revoked_at: Option<Micros>,
}

impl AccessEntry {
    pub fn new(code: &str) -> AccessEntry {
        AccessEntry {
            code: code.to_string(),
            note: None,
            expires_at: None,
            revoked_at: None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ListError {
    #[error("entry {index}: {reason}")]
    Entry { index: usize, reason: String },
    #[error("not a JSON list of codes or a CSV with a `code` column: {0}")]
    Format(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonEntry {
    Code(String),
    Full {
        code: String,
        #[serde(default)]
        note: Option<String>,
        #[serde(default)]
        expires: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonList {
    List(Vec<JsonEntry>),
    Wrapped { codes: Vec<JsonEntry> },
}

fn entry(index: usize, code: &str, note: Option<String>, expires: Option<&str>) -> Result<AccessEntry, ListError> {
    let code = code.trim();
    let bad = |reason: String| ListError::Entry { index, reason };
    if code.is_empty() || code.len() > 256 {
        return Err(bad("a code must have 1 to 256 bytes".into()));
    }
    if code.chars().any(char::is_control) {
        return Err(bad("a code must not contain control characters".into()));
    }
    let expires_at = match expires.map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => Some(parse_ts(e).ok_or_else(|| bad(format!("`{e}` is not a time (RFC 3339 or a date)")))?),
        None => None,
    };
    Ok(AccessEntry {
        code: code.to_string(),
        note: note.filter(|n| !n.is_empty()),
        expires_at,
        revoked_at: None,
    })
}

/// Reads a code list: JSON (`["A-1001", …]`, `[{"code", "expires", "note"}]` or
/// `{"codes": […]}`) or CSV with a header naming `code` and optionally
/// `expires` and `note` (a header-less single column of codes works too).
pub fn parse_code_list(body: &[u8]) -> Result<Vec<AccessEntry>, ListError> {
    let text = std::str::from_utf8(body).map_err(|e| ListError::Format(e.to_string()))?;
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        let list: JsonList = serde_json::from_str(trimmed).map_err(|e| ListError::Format(e.to_string()))?;
        let items = match list {
            JsonList::List(v) | JsonList::Wrapped { codes: v } => v,
        };
        return items
            .into_iter()
            .enumerate()
            .map(|(i, e)| match e {
                JsonEntry::Code(c) => entry(i, &c, None, None),
                JsonEntry::Full { code, note, expires } => entry(i, &code, note, expires.as_deref()),
            })
            .collect();
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(trimmed.as_bytes());
    let mut rows = reader.records();
    let Some(first) = rows.next() else { return Ok(Vec::new()) };
    let first = first.map_err(|e| ListError::Format(e.to_string()))?;
    let header: Vec<String> = first.iter().map(|h| h.to_ascii_lowercase()).collect();
    let col = |name: &str| header.iter().position(|h| h == name);
    let (code_col, expires_col, note_col, data_start) = match col("code") {
        Some(c) => (c, col("expires"), col("note"), Vec::new()),
        None => (0, None, None, vec![first]),
    };
    let mut out = Vec::new();
    for (i, rec) in data_start.into_iter().map(Ok).chain(rows).enumerate() {
        let rec = rec.map_err(|e| ListError::Format(e.to_string()))?;
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).map(str::to_string);
        let code = get(Some(code_col)).unwrap_or_default();
        if code.is_empty() && rec.iter().all(str::is_empty) {
            continue;
        }
        out.push(entry(i, &code, get(note_col), get(expires_col).as_deref())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_csv_forms() {
        let a = parse_code_list(br#"["A-1001", {"code": "A-1002", "expires": "2026-04-01", "note": "late"}]"#).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[1].expires_at, parse_ts("2026-04-01"));
        assert_eq!(parse_code_list(br#"{"codes": ["X"]}"#).unwrap()[0].code, "X");
        let c = parse_code_list(b"note,code,expires\nfirst,A-1001,\nsecond,A-1002,2026-04-01T00:00:00Z\n\n").unwrap();
        assert_eq!((c[0].code.as_str(), c[0].note.as_deref(), c[0].expires_at), ("A-1001", Some("first"), None));
        assert_eq!(c[1].code, "A-1002");
        let bare = parse_code_list(b"A-1001\nA-1002\n").unwrap();
        assert_eq!(bare.iter().map(|e| e.code.as_str()).collect::<Vec<_>>(), ["A-1001", "A-1002"]);
        assert!(matches!(
            parse_code_list(b"code,expires\nA,next week\n"),
            Err(ListError::Entry { index: 0, .. })
        ));
        assert!(matches!(parse_code_list(b"[1, 2]"), Err(ListError::Format(_))));
        assert!(parse_code_list(&[0xff, 0xfe]).is_err());
    }
}

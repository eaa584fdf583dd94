//! Time as stored and compared everywhere: microseconds since the Unix epoch, UTC.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;
pub const MICROS_PER_SEC: i64 = 1_000_000;

/// How far ahead of its receive time an input may be dated (clock skew). Any
/// input dated later is refused on every path (spec §8a), and the counting
/// clock never runs further ahead than this.
pub const MAX_AHEAD: Micros = 3600 * MICROS_PER_SEC;

pub fn micros_to_datetime(us: Micros) -> DateTime<Utc> {
    Utc.timestamp_micros(us).single().unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// RFC 3339 with a `Z`, whole seconds when there is no fraction.
pub fn format_ts(us: Micros) -> String {
    let dt = micros_to_datetime(us);
    if us % MICROS_PER_SEC == 0 {
        dt.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        dt.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

/// Parses an RFC 3339 timestamp, a plain date (`2026-03-02`, midnight UTC), or
/// epoch milliseconds given as digits.
pub fn parse_ts(s: &str) -> Option<Micros> {
    let s = s.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_micros());
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|n| n.and_utc().timestamp_micros());
    }
    if let Ok(n) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S") {
        return Some(n.and_utc().timestamp_micros());
    }
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok().and_then(|ms| ms.checked_mul(1000));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_accepted_forms() {
        let z = parse_ts("2026-03-02T10:00:01Z").unwrap();
        assert_eq!(format_ts(z), "2026-03-02T10:00:01Z");
        assert_eq!(parse_ts("2026-03-02T11:00:01+01:00"), Some(z));
        assert_eq!(parse_ts("1772445601000"), Some(z));
        assert_eq!(format_ts(parse_ts("2026-03-02").unwrap()), "2026-03-02T00:00:00Z");
        assert_eq!(parse_ts("yesterday"), None);
        assert_eq!(format_ts(z + 500_000), "2026-03-02T10:00:01.500000Z");
    }
}

//! Named log fields onto a [`LogRequest`]: the one place that knows what a
//! value of `$status`, `sc-bytes` or `EdgeResponseStatus` means.

use streamtally_model::LogRequest;

use super::cmcd::{cmcd_of_query, parse_cmcd};
use super::LineError;

/// The request fields every format maps its own names to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Ip,
    /// `[02/Mar/2026:08:01:00 +0000]`
    TimeLocal,
    /// RFC 3339.
    TimeIso,
    /// Seconds since the epoch, with fractions (`$msec`).
    EpochSeconds,
    /// Milliseconds since the epoch.
    EpochMillis,
    /// Nanoseconds since the epoch.
    EpochNanos,
    /// `GET /path?query HTTP/1.1`
    RequestLine,
    Method,
    /// Path with query.
    Uri,
    /// Path only.
    Path,
    Query,
    /// A full URL (`https://host/path?query`): path, query and zone (host).
    Url,
    Status,
    Bytes,
    UserAgent,
    Referrer,
    Range,
    CacheStatus,
    Pop,
    Zone,
    /// Seconds.
    TimeToServe,
    /// Milliseconds.
    TimeToServeMillis,
    /// A CMCD header's value.
    Cmcd,
    Ignore,
}

fn num<T: std::str::FromStr>(v: &str, what: &str) -> Result<T, LineError> {
    v.trim().parse().map_err(|_| LineError(format!("{what} `{v}` is not a number")))
}

/// `02/Mar/2026:08:01:00 +0000` read by position: every line of a log has one,
/// and the general format parser is most of the cost of a line.
fn time_local(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[14] != b':' || b[17] != b':' || b[20] != b' ' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to]
            .iter()
            .try_fold(0u32, |n, c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    const MONTHS: [&[u8; 3]; 12] = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    let month = MONTHS.iter().position(|m| &b[3..6] == *m)? as u32 + 1;
    let date = chrono::NaiveDate::from_ymd_opt(num(7, 11)? as i32, month, num(0, 2)?)?;
    let local = date.and_hms_opt(num(12, 14)?, num(15, 17)?, num(18, 20)?)?.and_utc().timestamp();
    let offset = i64::from(num(22, 24)? * 3600 + num(24, 26)? * 60);
    let utc = match b[21] {
        b'+' => local - offset,
        b'-' => local + offset,
        _ => return None,
    };
    Some(utc * 1_000_000)
}

fn time_from_secs(secs: f64) -> Result<i64, LineError> {
    if !(secs.is_finite() && secs > 0.0 && secs < 32_503_680_000.0) {
        return Err(LineError(format!("time {secs} is out of range")));
    }
    Ok((secs * 1e6).round() as i64)
}

/// Applies one value; `-` and empty values mean "not logged".
pub fn apply(req: &mut LogRequest, field: Field, value: &str) -> Result<(), LineError> {
    let v = value.trim();
    if v.is_empty() || v == "-" {
        return Ok(());
    }
    match field {
        Field::Ip => {
            // A list (X-Forwarded-For): the first is the client.
            let first = v.split(',').next().unwrap_or(v).trim();
            req.ip = Some(first.parse().map_err(|_| LineError(format!("`{first}` is not an IP address")))?);
        }
        Field::TimeLocal => {
            let text = v.trim_matches(['[', ']']);
            req.ts = match time_local(text) {
                Some(ts) => ts,
                None => chrono::DateTime::parse_from_str(text, "%d/%b/%Y:%H:%M:%S %z")
                    .map_err(|_| LineError(format!("`{v}` is not a time like 02/Mar/2026:08:01:00 +0000")))?
                    .timestamp_micros(),
            };
        }
        Field::TimeIso => {
            req.ts = streamtally_model::parse_ts(v).ok_or_else(|| LineError(format!("`{v}` is not an RFC 3339 time")))?;
        }
        Field::EpochSeconds => req.ts = time_from_secs(num(v, "time")?)?,
        Field::EpochMillis => req.ts = time_from_secs(num::<f64>(v, "time")? / 1e3)?,
        Field::EpochNanos => req.ts = time_from_secs(num::<f64>(v, "time")? / 1e9)?,
        Field::RequestLine => {
            let mut parts = v.split(' ');
            let method = parts.next().unwrap_or_default();
            let uri = parts.next().ok_or_else(|| LineError(format!("request `{v}` has no URI")))?;
            if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(LineError(format!("request `{v}` has no method")));
            }
            req.method = method.to_string();
            apply(req, Field::Uri, uri)?;
        }
        Field::Method => req.method = v.to_ascii_uppercase(),
        Field::Uri => match v.split_once('?') {
            Some((path, query)) => {
                req.path = path.to_string();
                apply(req, Field::Query, query)?;
            }
            None => req.path = v.to_string(),
        },
        Field::Path => req.path = v.to_string(),
        Field::Query => {
            cmcd_of_query(v, &mut req.cmcd);
            req.query = Some(v.to_string());
        }
        Field::Url => {
            let url = url::Url::parse(v).map_err(|e| LineError(format!("`{v}` is not a URL: {e}")))?;
            req.path = url.path().to_string();
            if let Some(q) = url.query() {
                apply(req, Field::Query, q)?;
            }
            if req.zone.is_none() {
                req.zone = url.host_str().map(str::to_string);
            }
        }
        Field::Status => {
            let s: u16 = num(v, "status")?;
            if !(100..=599).contains(&s) {
                return Err(LineError(format!("status {s} is not an HTTP status")));
            }
            req.status = s;
        }
        Field::Bytes => req.bytes = num(v, "bytes")?,
        Field::UserAgent => req.user_agent = Some(v.to_string()),
        Field::Referrer => req.referrer = Some(v.to_string()),
        Field::Range => req.range = Some(v.to_string()),
        Field::CacheStatus => req.cache_status = Some(v.to_ascii_uppercase()),
        Field::Pop => req.pop = Some(v.to_string()),
        Field::Zone => req.zone = Some(v.to_string()),
        Field::TimeToServe => req.time_to_serve = Some(num(v, "time to serve")?),
        Field::TimeToServeMillis => req.time_to_serve = Some(num::<f64>(v, "time to serve")? / 1e3),
        Field::Cmcd => parse_cmcd(v, &mut req.cmcd),
        Field::Ignore => {}
    }
    Ok(())
}

/// A parsed request must say when, what and how it went.
pub fn complete(req: LogRequest) -> Result<LogRequest, LineError> {
    if req.ts == 0 {
        return Err(LineError("no time".into()));
    }
    if req.method.is_empty() || req.path.is_empty() {
        return Err(LineError("no request method and path".into()));
    }
    if req.status == 0 {
        return Err(LineError("no status".into()));
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_local_by_position_agrees_with_the_format_parser() {
        for t in [
            "02/Mar/2026:08:01:00 +0000",
            "29/Feb/2024:23:59:59 -0700",
            "01/Jan/1999:00:00:00 +0530",
            "31/Dec/2030:12:30:45 +1400",
        ] {
            let slow = chrono::DateTime::parse_from_str(t, "%d/%b/%Y:%H:%M:%S %z").unwrap().timestamp_micros();
            assert_eq!(time_local(t), Some(slow), "{t}");
        }
        for bad in [
            "31/Feb/2026:08:01:00 +0000",
            "02/Mar/2026:24:01:00 +0000",
            "02/Xyz/2026:08:01:00 +0000",
            "02/Mar/2026:08:01:00 *0000",
            "2/Mar/2026:08:01:00 +0000",
        ] {
            assert_eq!(time_local(bad), None, "{bad}");
        }
    }
}

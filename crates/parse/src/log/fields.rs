//! Named log fields onto a [`LogRequest`]: the one place that knows what a
//! value of `$status`, `sc-bytes` or `EdgeResponseStatus` means.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};

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

/// No response is larger: the sums of bytes then never overflow (2^63 bytes
/// is 8 million such responses), and a corrupt field cannot swamp a total.
pub const MAX_RESPONSE_BYTES: u64 = 1 << 40;

/// Seconds to serve one request: finite, not negative, at most a day.
fn serve_time(seconds: f64) -> Result<f64, LineError> {
    if seconds.is_finite() && (0.0..=86_400.0).contains(&seconds) {
        Ok(seconds)
    } else {
        Err(LineError(format!("time to serve {seconds} s is not between 0 and a day")))
    }
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
    let (year, day) = (num(7, 11)?, num(0, 2)?);
    let (hour, minute, second) = (num(12, 14)?, num(15, 17)?, num(18, 20)?);
    if day == 0 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let local = days_from_civil(i64::from(year), month, day) * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    let offset = i64::from(num(22, 24)? * 3600 + num(24, 26)? * 60);
    let utc = match b[21] {
        b'+' => local - offset,
        b'-' => local + offset,
        _ => return None,
    };
    Some(utc * 1_000_000)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`): a few integer operations where a date library
/// validates and converts through its own representation on every line.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * i64::from((month + 9) % 12) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn time_from_secs(secs: f64) -> Result<i64, LineError> {
    if !(secs.is_finite() && secs > 0.0 && secs < 32_503_680_000.0) {
        return Err(LineError(format!("time {secs} is out of range")));
    }
    Ok((secs * 1e6).round() as i64)
}

/// A piece of `value` (a sub-slice of it) with `value`'s lifetime when it
/// borrows the line, else a copy.
#[inline(always)]
fn piece<'a>(value: &Cow<'a, str>, part: &str) -> Cow<'a, str> {
    match value {
        Cow::Borrowed(whole) => {
            let start = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize);
            match whole.get(start..start + part.len()) {
                Some(p) if p.as_ptr() == part.as_ptr() => Cow::Borrowed(p),
                _ => Cow::Owned(part.to_string()),
            }
        }
        Cow::Owned(_) => Cow::Owned(part.to_string()),
    }
}

/// `value` in upper case, borrowed when it already is.
fn upper<'a>(value: Cow<'a, str>) -> Cow<'a, str> {
    if value.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(value.to_ascii_uppercase())
    } else {
        value
    }
}

/// A dotted-quad IPv4 address read by hand (every line has one, and the
/// general address parser costs more than the rest of the field); anything
/// else, IPv6 included, is left to the general parser.
fn ipv4(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.as_bytes().split(|b| *b == b'.');
    for octet in &mut octets {
        let part = parts.next()?;
        // Leading zeros are refused, as the general parser does (they could mean octal).
        if part.is_empty() || part.len() > 3 || (part.len() > 1 && part[0] == b'0') {
            return None;
        }
        let n = part.iter().try_fold(0u16, |n, c| c.is_ascii_digit().then(|| n * 10 + u16::from(c - b'0')))?;
        *octet = u8::try_from(n).ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// `text` before and after the first `byte` (an ASCII byte, so both halves are text).
fn split_at_byte(text: &str, byte: u8) -> Option<(&str, &str)> {
    let at = super::nginx::find_byte(byte, text.as_bytes())?;
    Some((&text[..at], &text[at + 1..]))
}

/// Applies one value; `-` and empty values mean "not logged".
pub fn apply<'a>(req: &mut LogRequest<'a>, field: Field, value: Cow<'a, str>) -> Result<(), LineError> {
    let v = value.trim_ascii();
    if v.is_empty() || v == "-" {
        return Ok(());
    }
    let text = || piece(&value, v);
    match field {
        Field::Ip => {
            // A list (X-Forwarded-For): the first is the client.
            let first = match super::nginx::find_byte(b',', v.as_bytes()) {
                Some(comma) => v[..comma].trim(),
                None => v,
            };
            req.ip = Some(match ipv4(first) {
                Some(v4) => IpAddr::V4(v4),
                None => first.parse().map_err(|_| LineError(format!("`{first}` is not an IP address")))?,
            });
        }
        Field::TimeLocal => {
            let text = v.strip_prefix('[').unwrap_or(v);
            let text = text.strip_suffix(']').unwrap_or(text);
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
            let (method, rest) = split_at_byte(v, b' ').unwrap_or((v, ""));
            let uri = split_at_byte(rest, b' ').map_or(rest, |(uri, _)| uri);
            if uri.is_empty() {
                return Err(LineError(format!("request `{v}` has no URI")));
            }
            if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(LineError(format!("request `{v}` has no method")));
            }
            req.method = piece(&value, method);
            apply(req, Field::Uri, piece(&value, uri))?;
        }
        Field::Method => req.method = upper(text()),
        Field::Uri => match split_at_byte(v, b'?') {
            Some((path, query)) => {
                req.path = piece(&value, path);
                apply(req, Field::Query, piece(&value, query))?;
            }
            None => req.path = text(),
        },
        Field::Path => req.path = text(),
        Field::Query => {
            cmcd_of_query(v, &mut req.cmcd);
            req.query = Some(text());
        }
        Field::Url => {
            let url = url::Url::parse(v).map_err(|e| LineError(format!("`{v}` is not a URL: {e}")))?;
            req.path = Cow::Owned(url.path().to_string());
            if let Some(q) = url.query() {
                apply(req, Field::Query, Cow::Owned(q.to_string()))?;
            }
            if req.zone.is_none() {
                req.zone = url.host_str().map(|h| Cow::Owned(h.to_string()));
            }
        }
        Field::Status => {
            let s: u16 = num(v, "status")?;
            if !(100..=599).contains(&s) {
                return Err(LineError(format!("status {s} is not an HTTP status")));
            }
            req.status = s;
        }
        Field::Bytes => {
            let bytes: u64 = num(v, "bytes")?;
            if bytes > MAX_RESPONSE_BYTES {
                return Err(LineError(format!("bytes {bytes} is more than one response can carry (1 TiB)")));
            }
            req.bytes = bytes;
        }
        Field::UserAgent => req.user_agent = Some(text()),
        Field::Referrer => req.referrer = Some(text()),
        Field::Range => req.range = Some(text()),
        Field::CacheStatus => req.cache_status = Some(upper(text())),
        Field::Pop => req.pop = Some(text()),
        Field::Zone => req.zone = Some(text()),
        Field::TimeToServe => req.time_to_serve = Some(serve_time(num(v, "time to serve")?)?),
        Field::TimeToServeMillis => req.time_to_serve = Some(serve_time(num::<f64>(v, "time to serve")? / 1e3)?),
        Field::Cmcd => parse_cmcd(v, req.cmcd.get_or_insert_default()),
        Field::Ignore => {}
    }
    Ok(())
}

/// A parsed request must say when, what and how it went.
pub fn complete(req: &LogRequest<'_>) -> Result<(), LineError> {
    if req.ts == 0 {
        return Err(LineError("no time".into()));
    }
    if req.method.is_empty() || req.path.is_empty() {
        return Err(LineError("no request method and path".into()));
    }
    if req.status == 0 {
        return Err(LineError("no status".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_by_hand_agrees_with_the_general_parser() {
        for text in [
            "203.0.113.7",
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "01.2.3.4",
            "1..2.3",
            "1.2.3.4 ",
            "a.b.c.d",
            "1.2.3.-4",
            "",
            "::1",
            "1000.1.1.1",
        ] {
            let general = text.parse::<Ipv4Addr>().ok();
            match ipv4(text) {
                Some(ip) => assert_eq!(Some(ip), general, "{text}"),
                // Refused here: the general parser decides (and refuses too, for these).
                None => assert_eq!(general, None, "{text}"),
            }
        }
    }

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
        // Every day of 1900–2199 (leap years and centuries) and every month's last day + 1.
        const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
        for year in 1900..2200 {
            for (m, name) in MONTHS.iter().enumerate() {
                for day in 1..=32 {
                    let t = format!("{day:02}/{name}/{year}:13:14:15 -0230");
                    let slow = chrono::DateTime::parse_from_str(&t, "%d/%b/%Y:%H:%M:%S %z").ok().map(|d| d.timestamp_micros());
                    assert_eq!(time_local(&t), slow, "{t} (month {})", m + 1);
                }
            }
        }
    }
}

//! Access-log lines (spec §1 "log request"): nginx/Apache combined and common
//! formats, any nginx `log_format` string, W3C extended logs (CloudFront,
//! IIS, Wowza) and JSON lines with a field mapping (Fastly, Bunny,
//! Cloudflare). Each line becomes a [`LogRequest`] or a [`LineError`] saying
//! why not; a bad line never stops the lines after it.

mod cmcd;
mod fields;
mod json;
mod nginx;
mod w3c;

pub use cmcd::{cmcd_of_query, parse_cmcd};
pub use json::JsonMapping;
pub use nginx::NginxFormat;

use streamtally_model::LogRequest;

/// nginx's predefined `combined` format (Apache's combined is the same shape).
pub const COMBINED: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#;
/// The common log format: combined without referrer and User-Agent.
pub const COMMON: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent"#;

/// Lines longer than this are rejected (a log line is a few hundred bytes).
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum LogFormat {
    Nginx(NginxFormat),
    /// W3C extended: the `#Fields:` header names the columns.
    W3c,
    Json(JsonMapping),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FormatError {
    #[error("unknown log format `{0}` (combined, common, nginx, w3c, cloudfront, json, fastly, bunny, cloudflare)")]
    Unknown(String),
    #[error("format `nginx` needs the log_format string (--log-format '…')")]
    MissingLogFormat,
    #[error("log_format string: {0}")]
    BadLogFormat(String),
    #[error("JSON field mapping: {0}")]
    BadMapping(String),
}

impl LogFormat {
    /// A format by name; `log_format` is the nginx format string or the JSON mapping.
    pub fn named(name: &str, spec: Option<&str>) -> Result<LogFormat, FormatError> {
        match name {
            "combined" => Ok(LogFormat::Nginx(NginxFormat::compile(COMBINED)?)),
            "common" => Ok(LogFormat::Nginx(NginxFormat::compile(COMMON)?)),
            "nginx" => Ok(LogFormat::Nginx(NginxFormat::compile(spec.ok_or(FormatError::MissingLogFormat)?)?)),
            "w3c" | "cloudfront" | "iis" | "wowza" => Ok(LogFormat::W3c),
            "json" => Ok(LogFormat::Json(match spec {
                Some(s) => JsonMapping::from_spec(s)?,
                None => JsonMapping::generic(),
            })),
            preset @ ("fastly" | "bunny" | "cloudflare") => {
                Ok(LogFormat::Json(JsonMapping::preset(preset).ok_or_else(|| FormatError::Unknown(preset.into()))?))
            }
            other => Err(FormatError::Unknown(other.to_string())),
        }
    }

    /// Guesses the format from the first lines of a log.
    pub fn detect(sample: &str) -> Option<LogFormat> {
        let first = sample.lines().map(str::trim).find(|l| !l.is_empty())?;
        if first.starts_with("#Version") || first.starts_with("#Fields") || first.starts_with("#Software") {
            return Some(LogFormat::W3c);
        }
        if first.starts_with('{') {
            return Some(LogFormat::Json(JsonMapping::detect(first)));
        }
        for f in [COMBINED, COMMON] {
            let format = NginxFormat::compile(f).ok()?;
            if format.parse(first).is_ok() {
                return Some(LogFormat::Nginx(format));
            }
        }
        None
    }

    pub fn name(&self) -> String {
        match self {
            LogFormat::Nginx(f) if f.source() == COMBINED => "combined".into(),
            LogFormat::Nginx(f) if f.source() == COMMON => "common".into(),
            LogFormat::Nginx(_) => "nginx".into(),
            LogFormat::W3c => "w3c".into(),
            LogFormat::Json(m) => format!("json ({})", m.name()),
        }
    }
}

/// Why a line was not read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct LineError(pub String);

/// What one line holds.
// Nearly every line is a request: boxing it would allocate once per line.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Line<'line> {
    Request(LogRequest<'line>),
    /// Blank lines, comments and headers.
    Skip,
}

/// A parser for one log: W3C logs change their columns with each `#Fields:` line.
#[derive(Debug, Clone)]
pub struct LogParser {
    format: LogFormat,
    w3c_fields: Option<Vec<String>>,
}

impl LogParser {
    pub fn new(format: LogFormat) -> LogParser {
        LogParser { format, w3c_fields: None }
    }

    pub fn format(&self) -> &LogFormat {
        &self.format
    }

    /// Whether each line is read without the lines before it (W3C's
    /// `#Fields:` lines change how the lines after them read).
    pub fn lines_stand_alone(&self) -> bool {
        !matches!(self.format, LogFormat::W3c)
    }

    /// Parses one line (without its line end). Invalid UTF-8 was replaced by
    /// the caller; every other problem is a [`LineError`].
    pub fn parse_line<'line>(&mut self, line: &'line str) -> Result<Line<'line>, LineError> {
        if line.len() > MAX_LINE {
            return Err(LineError(format!("line of {} bytes is longer than {MAX_LINE}", line.len())));
        }
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim_ascii().is_empty() {
            return Ok(Line::Skip);
        }
        let req = match &self.format {
            LogFormat::Nginx(f) => f.parse(line)?,
            LogFormat::W3c => {
                if let Some(rest) = line.strip_prefix('#') {
                    if let Some(fields) = rest.strip_prefix("Fields:") {
                        self.w3c_fields = Some(fields.split_whitespace().map(str::to_string).collect());
                    }
                    return Ok(Line::Skip);
                }
                let fields = self
                    .w3c_fields
                    .as_deref()
                    .ok_or_else(|| LineError("W3C log line before any #Fields: header".into()))?;
                w3c::parse(fields, line)?
            }
            LogFormat::Json(m) => m.parse(line)?,
        };
        Ok(Line::Request(req))
    }
}

/// A `Range` header's first range: `bytes=0-1` → `(0, Some(1))`, `bytes=100-` → `(100, None)`.
/// A range whose last byte comes before its first is invalid (RFC 9110 §14.1.1): `None`.
pub fn parse_range(range: &str) -> Option<(u64, Option<u64>)> {
    let spec = range.trim().strip_prefix("bytes=")?;
    let first = spec.split(',').next()?.trim();
    let (a, b) = first.split_once('-')?;
    let start = a.trim().parse().ok()?;
    let end = match b.trim() {
        "" => None,
        e => Some(e.parse().ok()?),
    };
    if end.is_some_and(|e| e < start) {
        return None;
    }
    Some((start, end))
}

#[cfg(test)]
mod tests;

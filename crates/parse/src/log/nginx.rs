//! nginx `log_format` strings (and so Apache's combined/common): the string is
//! compiled once into literals and variables; a line is read by matching the
//! literals in order, each variable taking the text up to the next literal.

use streamtally_model::LogRequest;

use super::fields::{apply, complete, Field};
use super::{FormatError, LineError};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(String),
    Var(Field),
}

#[derive(Debug, Clone)]
pub struct NginxFormat {
    source: String,
    tokens: Vec<Token>,
    /// A searcher per token for the literal after it (built once, not per line).
    next_literal: Vec<Option<memchr::memmem::Finder<'static>>>,
}

impl PartialEq for NginxFormat {
    fn eq(&self, other: &Self) -> bool {
        self.tokens == other.tokens
    }
}

/// What an nginx variable means; variables streamtally does not use are skipped.
fn field_of(var: &str) -> Field {
    match var {
        "remote_addr" | "realip_remote_addr" | "http_x_forwarded_for" | "proxy_add_x_forwarded_for" => Field::Ip,
        "time_local" => Field::TimeLocal,
        "time_iso8601" => Field::TimeIso,
        "msec" => Field::EpochSeconds,
        "request" => Field::RequestLine,
        "request_method" => Field::Method,
        "request_uri" => Field::Uri,
        "uri" | "document_uri" => Field::Path,
        "args" | "query_string" => Field::Query,
        "status" => Field::Status,
        "body_bytes_sent" | "bytes_sent" => Field::Bytes,
        "http_user_agent" => Field::UserAgent,
        "http_referer" => Field::Referrer,
        "http_range" => Field::Range,
        "upstream_cache_status" | "sent_http_x_cache" | "srcache_fetch_status" => Field::CacheStatus,
        "request_time" => Field::TimeToServe,
        "host" | "server_name" | "http_host" => Field::Zone,
        "pop" | "server_pop" => Field::Pop,
        "http_cmcd_request" | "http_cmcd_object" | "http_cmcd_status" | "http_cmcd_session" | "http_cmcd" => Field::Cmcd,
        _ => Field::Ignore,
    }
}

impl NginxFormat {
    pub fn compile(source: &str) -> Result<NginxFormat, FormatError> {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '$' {
                literal.push(c);
                continue;
            }
            let braced = chars.peek().is_some_and(|(_, c)| *c == '{');
            if braced {
                chars.next();
            }
            let mut name = String::new();
            while let Some((_, c)) = chars.peek() {
                if c.is_ascii_alphanumeric() || *c == '_' {
                    name.push(*c);
                    chars.next();
                } else {
                    break;
                }
            }
            if braced && chars.next().map(|(_, c)| c) != Some('}') {
                return Err(FormatError::BadLogFormat(format!("`${{` at byte {i} is not closed")));
            }
            if name.is_empty() {
                return Err(FormatError::BadLogFormat(format!("`$` at byte {i} names no variable")));
            }
            if matches!(tokens.last(), Some(Token::Var(_))) && literal.is_empty() {
                return Err(FormatError::BadLogFormat(format!(
                    "`${name}` follows another variable with nothing between them, so a line cannot be split"
                )));
            }
            if !literal.is_empty() {
                tokens.push(Token::Literal(std::mem::take(&mut literal)));
            }
            tokens.push(Token::Var(field_of(&name)));
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        let fields: Vec<Field> = tokens
            .iter()
            .filter_map(|t| match t {
                Token::Var(f) => Some(*f),
                _ => None,
            })
            .collect();
        let has = |f: &[Field]| fields.iter().any(|x| f.contains(x));
        if !has(&[Field::TimeLocal, Field::TimeIso, Field::EpochSeconds]) {
            return Err(FormatError::BadLogFormat("no time variable ($time_local, $time_iso8601 or $msec)".into()));
        }
        if !has(&[Field::Status]) || !has(&[Field::RequestLine, Field::Uri, Field::Path]) {
            return Err(FormatError::BadLogFormat("needs $status and $request (or $request_uri / $uri)".into()));
        }
        let next_literal = (0..tokens.len())
            .map(|i| match tokens.get(i + 1) {
                Some(Token::Literal(next)) => Some(memchr::memmem::Finder::new(next.as_bytes()).into_owned()),
                _ => None,
            })
            .collect();
        Ok(NginxFormat {
            source: source.to_string(),
            tokens,
            next_literal,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn parse(&self, line: &str) -> Result<LogRequest, LineError> {
        let mut req = LogRequest::default();
        let mut pos = 0;
        for (i, token) in self.tokens.iter().enumerate() {
            match token {
                Token::Literal(lit) => {
                    if !line[pos..].starts_with(lit.as_str()) {
                        return Err(LineError(format!("expected `{lit}` at byte {pos}")));
                    }
                    pos += lit.len();
                }
                Token::Var(field) => {
                    let end = match (&self.next_literal[i], self.tokens.get(i + 1)) {
                        (Some(finder), Some(Token::Literal(next))) => {
                            pos + find_unescaped(&line[pos..], finder).ok_or_else(|| LineError(format!("expected `{next}` after byte {pos}")))?
                        }
                        _ => line.len(),
                    };
                    let value = &line[pos..end];
                    // Escapes (`\xHH`, `\"`) are rare: one byte search decides.
                    let value = if memchr::memchr(b'\\', value.as_bytes()).is_some() {
                        std::borrow::Cow::Owned(unescape(value))
                    } else {
                        std::borrow::Cow::Borrowed(value)
                    };
                    apply(&mut req, *field, &value)?;
                    pos = end;
                }
            }
        }
        complete(req)
    }
}

/// The first `needle` in `hay` not preceded by a backslash (Apache escapes `"` as `\"`).
fn find_unescaped(hay: &str, needle: &memchr::memmem::Finder<'_>) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = needle.find(&hay.as_bytes()[from..]) {
        let at = from + i;
        if at > 0 && hay.as_bytes()[at - 1] == b'\\' {
            from = at + 1;
            continue;
        }
        return Some(at);
    }
    None
}

/// nginx writes unsafe bytes as `\xHH`; Apache escapes quotes as `\"`.
fn unescape(v: &str) -> String {
    let mut out = Vec::with_capacity(v.len());
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1] == b'x' {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(b[i + 2]), hex(b[i + 3])) {
                out.push((hi * 16 + lo) as u8);
                i += 4;
                continue;
            }
        }
        if b[i] == b'\\' && i + 1 < b.len() && b[i + 1] == b'"' {
            out.push(b'"');
            i += 2;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

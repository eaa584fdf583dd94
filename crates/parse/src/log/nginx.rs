//! nginx `log_format` strings (and so Apache's combined/common): the string is
//! compiled once into literals and variables; a line is read by matching the
//! literals in order, each variable taking the text up to the next literal.

use std::borrow::Cow;

use streamtally_model::LogRequest;

use super::fields::{apply, complete, Field};
use super::{FormatError, LineError};

/// `02/Mar/2026:08:01:00 +0000`: `$time_local` always has this width.
const TIME_LOCAL_BYTES: usize = 26;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(String),
    Var(Field),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NginxFormat {
    source: String,
    tokens: Vec<Token>,
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
        Ok(NginxFormat {
            source: source.to_string(),
            tokens,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn parse<'a>(&self, line: &'a str) -> Result<LogRequest<'a>, LineError> {
        let bytes = line.as_bytes();
        // Escapes (`\xHH`, `\"`) are rare: one search per line decides whether values are looked at for them.
        let escaped = memchr::memchr(b'\\', bytes).is_some();
        let mut req = LogRequest::default();
        let mut pos = 0;
        // A literal found by the variable before it is known to stand there.
        let mut found = false;
        for (i, token) in self.tokens.iter().enumerate() {
            match token {
                Token::Literal(lit) => {
                    if !found && !starts_with(&bytes[pos..], lit.as_bytes()) {
                        return Err(LineError(format!("expected `{lit}` at byte {pos}")));
                    }
                    pos += lit.len();
                    found = false;
                }
                Token::Var(field) => {
                    let end = match self.tokens.get(i + 1) {
                        Some(Token::Literal(next)) => {
                            found = true;
                            let lit = next.as_bytes();
                            let closes_line = i + 2 == self.tokens.len();
                            if closes_line
                                && bytes.len() >= pos + lit.len()
                                && bytes.ends_with(lit)
                                && !(escaped && bytes[..bytes.len() - lit.len()].ends_with(b"\\"))
                            {
                                // The last value runs to the literal that ends the line
                                // (the User-Agent of `combined`, the longest field): no search.
                                bytes.len() - lit.len()
                            } else if *field == Field::TimeLocal && starts_with(bytes.get(pos + TIME_LOCAL_BYTES..).unwrap_or_default(), lit) {
                                pos + TIME_LOCAL_BYTES
                            } else {
                                match find_literal(&bytes[pos..], lit, escaped) {
                                    Some(at) => pos + at,
                                    // The last quoted value was cut off (a truncated
                                    // User-Agent, seen in real logs): take it as read.
                                    None if closes_line && lit.first() == Some(&b'"') => {
                                        req.repaired = true;
                                        bytes.len()
                                    }
                                    None => return Err(LineError(format!("expected `{next}` after byte {pos}"))),
                                }
                            }
                        }
                        _ => line.len(),
                    };
                    let value = &line[pos..end];
                    pos = end;
                    if *field == Field::Ignore {
                        continue;
                    }
                    let value = if escaped && memchr::memchr(b'\\', value.as_bytes()).is_some() {
                        Cow::Owned(unescape(value))
                    } else {
                        Cow::Borrowed(value)
                    };
                    apply(&mut req, *field, value)?;
                }
            }
        }
        complete(&req)?;
        Ok(req)
    }
}

/// The first `byte` in `hay`. Most log fields (address, time, status, size)
/// are shorter than 16 bytes, where a plain loop is done before a vector
/// search is set up; longer ones (request, User-Agent) get the vector search.
pub(super) fn find_byte(byte: u8, hay: &[u8]) -> Option<usize> {
    let head = hay.len().min(16);
    match hay[..head].iter().position(|b| *b == byte) {
        Some(i) => Some(i),
        None => memchr::memchr(byte, &hay[head..]).map(|i| i + head),
    }
}

/// A byte loop: the literals are a byte or three, shorter than a call to `memcmp`.
fn starts_with(hay: &[u8], prefix: &[u8]) -> bool {
    hay.len() >= prefix.len() && hay.iter().zip(prefix).all(|(a, b)| a == b)
}

/// The first `needle` in `hay`, not preceded by a backslash when the line has
/// escapes (Apache escapes `"` as `\"`). Literals between log fields are a
/// byte or three whose first byte is rare in the value before them, so a byte
/// search and a compare per hit beat a substring searcher's set-up on a field
/// of a few dozen bytes.
fn find_literal(hay: &[u8], needle: &[u8], escaped: bool) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while let Some(i) = find_byte(first, &hay[from..]) {
        let at = from + i;
        if starts_with(&hay[at + 1..], rest) && !(escaped && at > 0 && hay[at - 1] == b'\\') {
            return Some(at);
        }
        from = at + 1;
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

//! JSON-lines logs (Fastly, Bunny, Cloudflare Logpush style): one object per
//! line, read through a field mapping — a preset, or `field=json_key,…`.

use serde_json::Value;
use streamtally_model::LogRequest;

use super::fields::{apply, complete, Field};
use super::{FormatError, LineError};

#[derive(Debug, Clone, PartialEq)]
pub struct JsonMapping {
    name: String,
    /// Our field ← the JSON key (dots reach into nested objects).
    keys: Vec<(Field, String)>,
}

const FIELD_NAMES: [(&str, Field); 21] = [
    ("ip", Field::Ip),
    ("time", Field::TimeIso),
    ("time_local", Field::TimeLocal),
    ("epoch_s", Field::EpochSeconds),
    ("epoch_ms", Field::EpochMillis),
    ("epoch_ns", Field::EpochNanos),
    ("request", Field::RequestLine),
    ("method", Field::Method),
    ("uri", Field::Uri),
    ("path", Field::Path),
    ("query", Field::Query),
    ("url", Field::Url),
    ("status", Field::Status),
    ("bytes", Field::Bytes),
    ("user_agent", Field::UserAgent),
    ("referrer", Field::Referrer),
    ("range", Field::Range),
    ("cache_status", Field::CacheStatus),
    ("pop", Field::Pop),
    ("zone", Field::Zone),
    ("time_to_serve", Field::TimeToServe),
];

fn mapping(name: &str, pairs: &[(Field, &str)]) -> JsonMapping {
    JsonMapping {
        name: name.to_string(),
        keys: pairs.iter().map(|(f, k)| (*f, k.to_string())).collect(),
    }
}

impl JsonMapping {
    /// `ip=client_ip,time=timestamp,…` with the field names of [`FIELD_NAMES`] (and `cmcd`).
    pub fn from_spec(spec: &str) -> Result<JsonMapping, FormatError> {
        let mut keys = Vec::new();
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, key) = pair
                .split_once('=')
                .ok_or_else(|| FormatError::BadMapping(format!("`{pair}` is not field=json_key")))?;
            let f = match field.trim() {
                "cmcd" => Field::Cmcd,
                "time_to_serve_ms" => Field::TimeToServeMillis,
                name => FIELD_NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f).ok_or_else(|| {
                    FormatError::BadMapping(format!(
                        "unknown field `{name}` (known: {}, cmcd, time_to_serve_ms)",
                        FIELD_NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
                    ))
                })?,
            };
            keys.push((f, key.trim().to_string()));
        }
        if keys.is_empty() {
            return Err(FormatError::BadMapping("no fields".into()));
        }
        Ok(JsonMapping { name: "custom".into(), keys })
    }

    /// Field names as streamtally calls them (`ip`, `time`, `method`, `uri`, …).
    pub fn generic() -> JsonMapping {
        let mut m = mapping("generic", &[]);
        m.keys = FIELD_NAMES.iter().map(|(n, f)| (*f, n.to_string())).collect();
        m.keys.push((Field::Cmcd, "cmcd".into()));
        m
    }

    /// The shipped mappings of CDN log-streaming formats.
    pub fn preset(name: &str) -> Option<JsonMapping> {
        use Field::*;
        Some(match name {
            // Cloudflare Logpush, dataset http_requests (EdgeStartTimestamp as RFC 3339).
            "cloudflare" => mapping(
                name,
                &[
                    (Ip, "ClientIP"),
                    (TimeIso, "EdgeStartTimestamp"),
                    (Method, "ClientRequestMethod"),
                    (Uri, "ClientRequestURI"),
                    (Status, "EdgeResponseStatus"),
                    (Bytes, "EdgeResponseBytes"),
                    (UserAgent, "ClientRequestUserAgent"),
                    (Referrer, "ClientRequestReferer"),
                    (CacheStatus, "CacheCacheStatus"),
                    (Pop, "EdgeColoCode"),
                    (Zone, "ClientRequestHost"),
                    (TimeToServeMillis, "EdgeTimeToFirstByteMs"),
                ],
            ),
            // Bunny CDN log forwarding (JSON).
            "bunny" => mapping(
                name,
                &[
                    (Ip, "RemoteIp"),
                    (EpochMillis, "Timestamp"),
                    (Url, "Url"),
                    (Status, "Status"),
                    (Bytes, "BytesSent"),
                    (UserAgent, "UserAgent"),
                    (Referrer, "Referer"),
                    (CacheStatus, "CacheStatus"),
                    (Pop, "ServerZone"),
                    (Zone, "PullZoneId"),
                ],
            ),
            // Fastly real-time logging with a JSON format the customer defines;
            // these are the names of Fastly's documented JSON example.
            "fastly" => mapping(
                name,
                &[
                    (Ip, "client_ip"),
                    (TimeIso, "timestamp"),
                    (Method, "request_method"),
                    (Uri, "url"),
                    (Status, "response_status"),
                    (Bytes, "response_body_size"),
                    (UserAgent, "request_user_agent"),
                    (Referrer, "request_referer"),
                    (Range, "request_range"),
                    (CacheStatus, "cache_status"),
                    (Pop, "pop"),
                    (Zone, "host"),
                ],
            ),
            _ => return None,
        })
    }

    /// Picks the preset whose keys a sample line has, else the generic names.
    pub fn detect(sample: &str) -> JsonMapping {
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(sample) else {
            return JsonMapping::generic();
        };
        for name in ["cloudflare", "bunny", "fastly"] {
            if let Some(m) = JsonMapping::preset(name) {
                if m.keys
                    .iter()
                    .filter(|(f, _)| matches!(f, Field::Status | Field::Ip))
                    .all(|(_, k)| obj.contains_key(k))
                {
                    return m;
                }
            }
        }
        JsonMapping::generic()
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn parse(&self, line: &str) -> Result<LogRequest<'static>, LineError> {
        let obj: Value = serde_json::from_str(line).map_err(|e| LineError(format!("not a JSON object: {e}")))?;
        if !obj.is_object() {
            return Err(LineError("not a JSON object".into()));
        }
        let mut req = LogRequest::default();
        for (field, key) in &self.keys {
            let value = key.split('.').try_fold(&obj, |v, k| v.get(k));
            let text = match value {
                None | Some(Value::Null) => continue,
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                Some(Value::Bool(b)) => b.to_string(),
                Some(other) => other.to_string(),
            };
            // RFC 3339 or epoch numbers are both common for "time".
            let field = match (*field, value) {
                (Field::TimeIso, Some(Value::Number(n))) => match n.as_f64() {
                    Some(x) if x > 1e17 => Field::EpochNanos,
                    Some(x) if x > 1e11 => Field::EpochMillis,
                    _ => Field::EpochSeconds,
                },
                (f, _) => f,
            };
            apply(&mut req, field, std::borrow::Cow::Owned(text))?;
        }
        // Logs that carry no method (Bunny) log GET requests.
        if req.method.is_empty() && !self.keys.iter().any(|(f, _)| matches!(f, Field::Method | Field::RequestLine)) {
            req.method = "GET".into();
        }
        complete(&req)?;
        Ok(req)
    }
}

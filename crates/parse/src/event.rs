use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};
use streamtally_model::{parse_ts, ContentKind, EventType, Media, Micros, PlayerEvent};

/// Events stamped more than this after receipt (after skew correction) are refused:
/// a far-future clock would otherwise close every counting window early.
pub const MAX_FUTURE_SKEW_US: Micros = streamtally_model::MAX_AHEAD;
const MAX_ID_LEN: usize = 256;
const MAX_TEXT_LEN: usize = 2048;
const MAX_DIMENSIONS: usize = 32;
/// One `playing` report covers at most a day of playback.
const MAX_DURATION_S: f64 = 86_400.0;
/// A playhead position in seconds: a day-long content, or a live stream's
/// wall-clock position (epoch seconds) — never more than this.
const MAX_POSITION_S: f64 = 1e10;
/// Bits per second: 100 Gbit/s is beyond any player's stream or link.
const MAX_BITS_PER_S: f64 = 1e11;

/// A problem with the body as a whole: nothing in it could be read.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BatchError {
    #[error("the body is empty")]
    Empty,
    #[error("the body is not UTF-8 text")]
    NotUtf8,
    #[error("`sent_at` is not a timestamp (RFC 3339 or epoch milliseconds): {0}")]
    BadSentAt(String),
    #[error("the body is not JSON: {0}")]
    NotJson(String),
}

/// A problem with one event; the rest of the batch is still taken.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventError {
    /// Position of the event in the batch (0-based; the line for NDJSON).
    pub index: usize,
    /// The offending field, when one is to blame.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

#[derive(Debug, Default)]
pub struct ParsedBatch {
    pub events: Vec<PlayerEvent>,
    pub errors: Vec<EventError>,
    /// Each event's position in the batch.
    positions: Vec<usize>,
}

/// The properties of events from the product's own SDK that name none (spec §1).
pub const SDK_VIDEO_PROPERTY: &str = "streamtally-video";
pub const SDK_AUDIO_PROPERTY: &str = "streamtally-audio";

impl ParsedBatch {
    /// Spec §1's precedence, second step: an event that names no property
    /// gets its ingest key's (a key created with `--property`).
    pub fn default_to_key_property(&mut self, property: &str) {
        for e in self.events.iter_mut().filter(|e| e.property.is_none()) {
            e.property = Some(property.to_string());
        }
    }

    /// The last step but one of spec §1's precedence (after the event's own
    /// and the ingest key's property), for the product's own SDK: an event
    /// that names no property gets `streamtally-video` or `streamtally-audio`.
    pub fn default_to_sdk_property(&mut self) {
        for e in self.events.iter_mut().filter(|e| e.property.is_none()) {
            let audio = e.media == Some(streamtally_model::Media::Audio);
            e.property = Some(if audio { SDK_AUDIO_PROPERTY } else { SDK_VIDEO_PROPERTY }.to_string());
        }
    }

    /// Refuses the events dated before `oldest` (spec §8a: input older than
    /// the lateness window cannot be counted exactly), each with `why`.
    pub fn refuse_before(&mut self, oldest: Micros, why: &str) {
        if self.events.iter().all(|e| e.ts >= oldest) {
            return;
        }
        let events = std::mem::take(&mut self.events);
        let positions = std::mem::take(&mut self.positions);
        for (ev, index) in events.into_iter().zip(positions) {
            if ev.ts >= oldest {
                self.events.push(ev);
                self.positions.push(index);
            } else {
                self.errors.push(EventError {
                    index,
                    field: Some("ts".into()),
                    message: why.to_string(),
                });
            }
        }
        self.errors.sort_by_key(|e| e.index);
    }
}

/// Parses a batch received at `received_at`. `sent_at_param` is the `sent_at`
/// query parameter, used when the body does not carry one.
pub fn parse_event_batch(body: &[u8], received_at: Micros, sent_at_param: Option<&str>) -> Result<ParsedBatch, BatchError> {
    let text = std::str::from_utf8(body).map_err(|_| BatchError::NotUtf8)?;
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    if trimmed.is_empty() {
        return Err(BatchError::Empty);
    }
    let mut sent_at = match sent_at_param {
        Some(s) => Some(parse_ts(s).ok_or_else(|| BatchError::BadSentAt(s.to_string()))?),
        None => None,
    };
    let items: Vec<Result<Value, String>> = if trimmed.starts_with('[') {
        match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Array(items)) => items.into_iter().map(Ok).collect(),
            Ok(other) => vec![Ok(other)],
            Err(e) => return Err(BatchError::NotJson(e.to_string())),
        }
    } else {
        match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(mut obj)) if obj.contains_key("events") => {
                if let Some(v) = obj.remove("sent_at") {
                    sent_at = Some(ts_of(&v).ok_or_else(|| BatchError::BadSentAt(v.to_string()))?);
                }
                match obj.remove("events") {
                    Some(Value::Array(items)) => items.into_iter().map(Ok).collect(),
                    _ => return Err(BatchError::NotJson("`events` must be an array".into())),
                }
            }
            Ok(single) => vec![Ok(single)],
            // Several lines: NDJSON, each line its own event (blank lines skipped).
            Err(_) => trimmed
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_str::<Value>(l).map_err(|e| format!("not JSON: {e}")))
                .collect(),
        }
    };
    let mut out = ParsedBatch::default();
    for (index, item) in items.into_iter().enumerate() {
        let result = item
            .map_err(|message| EventError { index, field: None, message })
            .and_then(|v| event_from_json(v, received_at, sent_at).map_err(|(field, message)| EventError { index, field, message }));
        match result {
            Ok(ev) => {
                out.events.push(ev);
                out.positions.push(index);
            }
            Err(e) => out.errors.push(e),
        }
    }
    Ok(out)
}

/// Numbers below this are not epoch milliseconds of any plausible time
/// (1973-03-03): they are epoch seconds, which are refused rather than read
/// as 1970 (`1764579600` would be 1970-01-21).
const SMALLEST_EPOCH_MS: i64 = 100_000_000_000;

fn ts_of(v: &Value) -> Option<Micros> {
    match v {
        Value::String(s) => parse_ts(s),
        Value::Number(n) => n.as_i64().filter(|ms| *ms >= SMALLEST_EPOCH_MS).and_then(|ms| ms.checked_mul(1000)),
        _ => None,
    }
}

type FieldError = (Option<String>, String);

fn field_err(field: &str, message: impl Into<String>) -> FieldError {
    (Some(field.to_string()), message.into())
}

fn event_from_json(v: Value, received_at: Micros, sent_at: Option<Micros>) -> Result<PlayerEvent, FieldError> {
    let Value::Object(mut obj) = v else {
        return Err((None, "an event must be a JSON object".into()));
    };
    let event_type = match obj.remove("type") {
        Some(Value::String(s)) => EventType::parse(&s).ok_or_else(|| {
            let known: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
            field_err("type", format!("unknown event type `{s}` (known: {})", known.join(", ")))
        })?,
        Some(_) => return Err(field_err("type", "must be a string")),
        None => return Err(field_err("type", "is required")),
    };
    let client_ts = match obj.remove("ts") {
        Some(v) => ts_of(&v).ok_or_else(|| {
            field_err(
                "ts",
                if v.is_number() {
                    "a number must be epoch milliseconds (13 digits today); epoch seconds are not taken"
                } else {
                    "must be an RFC 3339 timestamp or epoch milliseconds"
                },
            )
        })?,
        None => return Err(field_err("ts", "is required")),
    };
    let ts = match sent_at {
        Some(sent) => received_at - (sent - client_ts),
        None => client_ts,
    };
    if ts > received_at + MAX_FUTURE_SKEW_US {
        return Err(field_err(
            "ts",
            "is more than an hour in the future; send `sent_at` with the batch to correct the client clock",
        ));
    }
    let playback_id = id_field(&mut obj, "playback_id")?;
    let content_id = id_field(&mut obj, "content_id")?;
    if event_type.needs_playback() {
        if playback_id.is_none() {
            return Err(field_err("playback_id", format!("is required for `{event_type}` events")));
        }
        if content_id.is_none() {
            return Err(field_err("content_id", format!("is required for `{event_type}` events")));
        }
    }
    let position = number_field(&mut obj, "position", 0.0, MAX_POSITION_S)?;
    let duration = number_field(&mut obj, "duration", 0.0, MAX_DURATION_S)?;
    let bitrate = number_field(&mut obj, "bitrate", 0.0, MAX_BITS_PER_S)?;
    let bandwidth = number_field(&mut obj, "bandwidth", 0.0, MAX_BITS_PER_S)?;
    let startup = number_field(&mut obj, "startup", 0.0, MAX_DURATION_S)?;
    let fatal = match obj.remove("fatal") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(field_err("fatal", "must be true or false")),
    };
    let content_kind = match text_field(&mut obj, "content_kind", MAX_ID_LEN)? {
        Some(s) => Some(ContentKind::parse(&s).ok_or_else(|| field_err("content_kind", format!("`{s}` is not one of live, vod, dar")))?),
        None => None,
    };
    let media = match text_field(&mut obj, "media", MAX_ID_LEN)? {
        Some(s) => Some(Media::parse(&s).ok_or_else(|| field_err("media", format!("`{s}` is not one of video, audio")))?),
        None => None,
    };
    let property = text_field(&mut obj, "property", MAX_ID_LEN)?;
    let user_id = id_field(&mut obj, "user_id")?;
    let device_id = id_field(&mut obj, "device_id")?;
    let access_code = id_field(&mut obj, "access_code")?;
    let access_token = text_field(&mut obj, "access_token", MAX_TEXT_LEN)?;
    let referrer = text_field(&mut obj, "referrer", MAX_TEXT_LEN)?;
    let dimensions = dimensions(obj)?;
    Ok(PlayerEvent {
        event_type,
        ts,
        playback_id,
        content_id,
        position,
        duration,
        content_kind,
        media,
        bitrate,
        bandwidth,
        fatal,
        startup,
        property,
        user_id,
        device_id,
        access_code,
        access_token,
        referrer,
        dimensions,
    })
}

fn text_field(obj: &mut Map<String, Value>, name: &str, max: usize) -> Result<Option<String>, FieldError> {
    match obj.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s.len() > max => Err(field_err(name, format!("is longer than {max} bytes"))),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(field_err(name, "must be a string")),
    }
}

/// Identifiers: strings, or integers (players often send numeric ids).
fn id_field(obj: &mut Map<String, Value>, name: &str) -> Result<Option<String>, FieldError> {
    if let Some(Value::Number(n)) = obj.get(name) {
        if n.is_i64() || n.is_u64() {
            let s = n.to_string();
            obj.remove(name);
            return Ok(Some(s));
        }
    }
    text_field(obj, name, MAX_ID_LEN)
}

fn number_field(obj: &mut Map<String, Value>, name: &str, min: f64, max: f64) -> Result<Option<f64>, FieldError> {
    match obj.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let v = n.as_f64().filter(|v| v.is_finite()).ok_or_else(|| field_err(name, "must be a finite number"))?;
            if v < min || v > max {
                return Err(field_err(name, format!("must be between {min} and {max}")));
            }
            Ok(Some(v))
        }
        Some(_) => Err(field_err(name, "must be a number")),
    }
}

/// Whatever else the event carries is a free dimension, kept as text.
fn dimensions(obj: Map<String, Value>) -> Result<BTreeMap<String, String>, FieldError> {
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        if k == "sent_at" {
            continue;
        }
        let text = match v {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Array(_) | Value::Object(_) => return Err(field_err(&k, "free dimensions must be strings, numbers or booleans")),
        };
        if k.len() > MAX_ID_LEN || text.len() > MAX_TEXT_LEN {
            return Err(field_err(&k, "free dimension name or value is too long"));
        }
        out.insert(k, text);
    }
    if out.len() > MAX_DIMENSIONS {
        return Err((None, format!("at most {MAX_DIMENSIONS} free dimensions per event")));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use streamtally_model::parse_ts;

    fn now() -> Micros {
        parse_ts("2026-03-02T12:00:00Z").unwrap()
    }

    #[test]
    fn json_array_ndjson_and_wrapped_batches_give_the_same_events() {
        let a = br#"[{"type":"play","ts":"2026-03-02T10:00:01Z","playback_id":"P1","content_id":"A"},
                    {"type":"playing","ts":"2026-03-02T10:00:11Z","playback_id":"P1","content_id":"A","duration":10}]"#;
        let n = b"{\"type\":\"play\",\"ts\":\"2026-03-02T10:00:01Z\",\"playback_id\":\"P1\",\"content_id\":\"A\"}\n\n{\"type\":\"playing\",\"ts\":\"2026-03-02T10:00:11Z\",\"playback_id\":\"P1\",\"content_id\":\"A\",\"duration\":10}\n";
        let w = br#"{"events":[{"type":"play","ts":"2026-03-02T10:00:01Z","playback_id":"P1","content_id":"A"},
                    {"type":"playing","ts":"2026-03-02T10:00:11Z","playback_id":"P1","content_id":"A","duration":10}]}"#;
        let pa = parse_event_batch(a, now(), None).unwrap();
        let pn = parse_event_batch(n, now(), None).unwrap();
        let pw = parse_event_batch(w, now(), None).unwrap();
        assert_eq!(pa.events.len(), 2);
        assert!(pa.errors.is_empty());
        assert_eq!(pa.events, pn.events);
        assert_eq!(pa.events, pw.events);
        assert_eq!(pa.events[1].duration, Some(10.0));
    }

    #[test]
    fn bad_events_name_their_field_and_good_ones_are_kept() {
        let body = br#"[{"type":"play","ts":"2026-03-02T10:00:01Z","playback_id":"P1","content_id":"A"},
            {"type":"jump","ts":"2026-03-02T10:00:01Z"},
            {"type":"play","playback_id":"P1","content_id":"A"},
            {"type":"playing","ts":"2026-03-02T10:00:01Z","playback_id":"P1","content_id":"A","duration":-3},
            {"type":"pause","ts":"2026-03-02T10:00:01Z","content_id":"A"},
            {"type":"play","ts":"2026-03-02T10:00:01Z","playback_id":"P1","content_id":"A","media":"smell"},
            "just a string"]"#;
        let p = parse_event_batch(body, now(), None).unwrap();
        assert_eq!(p.events.len(), 1);
        let fields: Vec<_> = p.errors.iter().map(|e| (e.index, e.field.clone())).collect();
        assert_eq!(
            fields,
            vec![
                (1, Some("type".into())),
                (2, Some("ts".into())),
                (3, Some("duration".into())),
                (4, Some("playback_id".into())),
                (5, Some("media".into())),
                (6, None)
            ]
        );
    }

    #[test]
    fn sent_at_corrects_client_clock_skew() {
        // The client clock is 5 minutes fast: it says it sent at 12:05 what it stamped 12:04.
        let body = br#"{"sent_at":"2026-03-02T12:05:00Z","events":[{"type":"play","ts":"2026-03-02T12:04:00Z","playback_id":"P","content_id":"A"}]}"#;
        let p = parse_event_batch(body, now(), None).unwrap();
        assert_eq!(p.events[0].ts, parse_ts("2026-03-02T11:59:00Z").unwrap());
        let p = parse_event_batch(
            br#"[{"type":"play","ts":1772453040000,"playback_id":"P","content_id":"A"}]"#,
            now(),
            Some("1772453100000"),
        )
        .unwrap();
        assert_eq!(p.events[0].ts, parse_ts("2026-03-02T11:59:00Z").unwrap());
    }

    #[test]
    fn whole_body_problems_are_batch_errors() {
        assert_eq!(parse_event_batch(b"  ", now(), None).unwrap_err(), BatchError::Empty);
        assert_eq!(parse_event_batch(&[0xff, 0xfe], now(), None).unwrap_err(), BatchError::NotUtf8);
        assert!(matches!(parse_event_batch(b"[{", now(), None), Err(BatchError::NotJson(_))));
        assert!(matches!(parse_event_batch(b"{}", now(), Some("soon")), Err(BatchError::BadSentAt(_))));
    }

    #[test]
    fn far_future_events_are_refused_and_free_dimensions_kept() {
        let body = br#"[{"type":"play","ts":"2026-03-02T15:00:00Z","playback_id":"P","content_id":"A"},
            {"type":"play","ts":"2026-03-02T11:00:00Z","playback_id":"P","content_id":9,"campaign":"spring","tier":2}]"#;
        let p = parse_event_batch(body, now(), None).unwrap();
        assert_eq!(p.errors[0].field.as_deref(), Some("ts"));
        assert_eq!(p.events[0].content_id.as_deref(), Some("9"));
        assert_eq!(p.events[0].dimensions.get("campaign").map(String::as_str), Some("spring"));
        assert_eq!(p.events[0].dimensions.get("tier").map(String::as_str), Some("2"));
    }
}

//! A tenant's counting settings: every parameter in `code font` in the spec, plus
//! time zone, retention and feature switches. Defaults are the spec's.

use std::time::Duration;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::Micros;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SettingsError {
    #[error("unknown setting `{0}` (known: {known})", known = Settings::KEYS.join(", "))]
    UnknownKey(String),
    #[error("setting `{key}`: {reason}")]
    BadValue { key: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Same playback (player) or device + content (logs) is one start within this window.
    #[serde(with = "humantime_serde_compat")]
    pub start_window: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub stream_min_player: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub stream_min_audio: Duration,
    pub default_audio_kbps: f64,
    pub min_bytes: u64,
    #[serde(with = "humantime_serde_compat")]
    pub user_idle: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub user_max: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub view_window: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub realtime_lag: Duration,
    #[serde(with = "humantime_serde_compat")]
    pub abuse_retention: Duration,
    /// IANA time zone for day boundaries and default grouping.
    pub timezone: String,
    /// Days of facts and raw events kept; 0 keeps everything.
    pub retention_days: u32,
    /// Record access codes with playbacks (attendance, spec §6). Off until consent.
    pub attendance: bool,
    /// Keep the enriched raw events beside the facts.
    pub store_raw_events: bool,
    /// Days of raw events kept (one user's activity reads them); 0 keeps
    /// them as long as the facts. A new tenant starts with
    /// [`Settings::NEW_TENANT_RAW_RETENTION`]; a tenant made before the
    /// setting existed has none stored and keeps its raw events, as it did.
    #[serde(default)]
    pub raw_retention_days: u32,
    /// Extra bot words of this tenant (lower case): User-Agents containing one are bots.
    pub bot_deny: Vec<String>,
    /// Media seconds of one HLS/DASH segment when the request does not say (CMCD `d`).
    #[serde(with = "humantime_serde_compat", default = "default_segment")]
    pub segment_seconds: Duration,
    /// How far behind the newest input counted another input may arrive and
    /// still be counted exactly (spec §8a). Engine state is kept this much
    /// longer than its windows: memory grows with the devices active in it.
    #[serde(with = "humantime_serde_compat", default = "default_lateness")]
    pub allowed_lateness: Duration,
    /// What time segment requests without CMCD carry (spec §3): none by
    /// default; `segments` counts each segment's duration as watched.
    #[serde(default)]
    pub video_log_time: VideoLogTime,
    /// Input dated before this UTC day is refused (a year-0000 clock, seconds
    /// read as milliseconds); set it earlier to backfill older logs.
    #[serde(default = "default_earliest")]
    pub earliest_input: chrono::NaiveDate,
    /// The tenant's own country (ISO 3166 code): the audience's geography
    /// shows its states and cities, every other country as `Other`.
    #[serde(default)]
    pub home_country: String,
    /// Age ranges of the audience, e.g. `18-24,…,65+`.
    #[serde(default = "default_age_ranges")]
    pub age_ranges: String,
}

fn default_age_ranges() -> String {
    crate::registered::AgeRanges::DEFAULT.to_string()
}

fn default_earliest() -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default()
}

/// The range `earliest_input` may be set in.
pub const EARLIEST_INPUT_RANGE: (&str, &str) = ("1970-01-01", "2100-01-01");

/// Time of video segment requests known only from logs (spec §3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoLogTime {
    /// Video-log is request only: no time (the spec's default).
    #[default]
    None,
    /// Each segment request adds its duration (opt-in; a device that fetches
    /// ahead or twice is counted as having watched it).
    Segments,
}

impl VideoLogTime {
    pub fn as_str(self) -> &'static str {
        match self {
            VideoLogTime::None => "none",
            VideoLogTime::Segments => "segments",
        }
    }
}

fn default_lateness() -> Duration {
    Duration::from_secs(48 * 3600)
}

fn default_segment() -> Duration {
    Duration::from_secs(6)
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            start_window: Duration::from_secs(24 * 3600),
            stream_min_player: Duration::from_secs(5),
            stream_min_audio: Duration::from_secs(25),
            default_audio_kbps: 128.0,
            min_bytes: 70_000,
            user_idle: Duration::from_secs(3600),
            user_max: Duration::from_secs(4 * 3600),
            view_window: Duration::from_secs(4 * 3600),
            realtime_lag: Duration::from_secs(10),
            abuse_retention: Duration::from_secs(7 * 24 * 3600),
            timezone: "UTC".into(),
            retention_days: 0,
            attendance: false,
            store_raw_events: true,
            raw_retention_days: 0,
            bot_deny: Vec::new(),
            segment_seconds: default_segment(),
            allowed_lateness: default_lateness(),
            video_log_time: VideoLogTime::None,
            earliest_input: default_earliest(),
            home_country: String::new(),
            age_ranges: default_age_ranges(),
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// The range of each duration setting: wide enough for every counting method
/// the sources describe, narrow enough that a typo cannot stop counting
/// (`start_window=1000000000days`) or make state grow without end.
pub const DURATION_RANGES: [(&str, Duration, Duration); 10] = [
    ("start_window", MINUTE, Duration::from_secs(7 * 86_400)),
    ("stream_min_player", Duration::from_secs(1), Duration::from_secs(600)),
    ("stream_min_audio", Duration::from_secs(1), Duration::from_secs(600)),
    ("user_idle", MINUTE, DAY),
    ("user_max", MINUTE, Duration::from_secs(7 * 86_400)),
    ("view_window", MINUTE, Duration::from_secs(7 * 86_400)),
    ("realtime_lag", Duration::from_secs(1), Duration::from_secs(600)),
    ("abuse_retention", HOUR, Duration::from_secs(365 * 86_400)),
    ("segment_seconds", Duration::from_millis(100), Duration::from_secs(300)),
    ("allowed_lateness", MINUTE, Duration::from_secs(30 * 86_400)),
];

/// The range of each number setting.
pub const NUMBER_RANGES: [(&str, f64, f64); 4] = [
    ("default_audio_kbps", 8.0, 10_000.0),
    ("min_bytes", 1.0, 100_000_000.0),
    ("retention_days", 0.0, 36_500.0),
    ("raw_retention_days", 0.0, 36_500.0),
];

pub fn duration_micros(d: Duration) -> Micros {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Settings {
    /// The `raw_retention_days` a new tenant is made with (issue 14).
    pub const NEW_TENANT_RAW_RETENTION: u32 = 90;

    pub const KEYS: [&'static str; 22] = [
        "start_window",
        "stream_min_player",
        "stream_min_audio",
        "default_audio_kbps",
        "min_bytes",
        "user_idle",
        "user_max",
        "view_window",
        "realtime_lag",
        "abuse_retention",
        "timezone",
        "retention_days",
        "attendance",
        "store_raw_events",
        "raw_retention_days",
        "bot_deny",
        "segment_seconds",
        "allowed_lateness",
        "video_log_time",
        "earliest_input",
        "home_country",
        "age_ranges",
    ];

    /// Why an input dated before `oldest` (the tenant's clock less
    /// `allowed_lateness`) is refused, and what to do about it (spec §8a).
    pub fn too_late_reason(&self, oldest: Micros) -> String {
        format!(
            "is more than allowed_lateness ({}) behind the newest input counted, so it cannot be counted exactly \
             (oldest countable: {}); send or import older data before newer data, or raise allowed_lateness first",
            humantime::format_duration(self.allowed_lateness),
            crate::format_ts(oldest)
        )
    }

    /// The first instant input may carry (the start of `earliest_input`).
    pub fn earliest_micros(&self) -> Micros {
        self.earliest_input.and_time(chrono::NaiveTime::MIN).and_utc().timestamp_micros()
    }

    /// Why an input dated before `earliest_input` is refused.
    pub fn too_early_reason(&self) -> String {
        format!(
            "is before earliest_input ({}): a clock far in the past, or epoch seconds where milliseconds were meant; \
             to backfill older data, set earliest_input to an earlier date first",
            self.earliest_input
        )
    }

    /// The audience's age ranges (always valid: `set` checked them).
    pub fn age_ranges(&self) -> crate::registered::AgeRanges {
        crate::registered::AgeRanges::parse(&self.age_ranges).unwrap_or_default()
    }

    pub fn tz(&self) -> Tz {
        self.timezone.parse().unwrap_or(Tz::UTC)
    }

    pub fn micros(d: Duration) -> Micros {
        duration_micros(d)
    }

    /// Sets one setting from its text form, validating it against its range
    /// ([`DURATION_RANGES`], [`NUMBER_RANGES`]; docs/SECURITY.md lists them).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SettingsError> {
        self.set_within(key, value, true)
    }

    /// `set`, with the ranges checked or not: values stored by an older
    /// release (which had no ranges) are read as they were counted with.
    fn set_within(&mut self, key: &str, value: &str, ranges: bool) -> Result<(), SettingsError> {
        let bad = |reason: String| SettingsError::BadValue { key: key.to_string(), reason };
        let shown: String = value.chars().take(40).collect();
        let dur = |v: &str| -> Result<Duration, SettingsError> {
            let d = humantime::parse_duration(v.trim()).map_err(|e| bad(format!("`{shown}` is not a duration like 24h or 5s ({e})")))?;
            if d.is_zero() {
                return Err(bad("must be longer than zero".into()));
            }
            if let Some((_, lo, hi)) = DURATION_RANGES.iter().find(|(k, _, _)| ranges && *k == key) {
                if d < *lo || d > *hi {
                    return Err(bad(format!(
                        "must be from {} to {}",
                        humantime::format_duration(*lo),
                        humantime::format_duration(*hi)
                    )));
                }
            }
            Ok(d)
        };
        let number = |v: &str, what: &str| -> Result<f64, SettingsError> {
            let n: f64 = v.trim().parse().map_err(|_| bad(format!("`{shown}` is not {what}")))?;
            let (_, lo, hi) = NUMBER_RANGES
                .iter()
                .find(|(k, _, _)| ranges && *k == key)
                .copied()
                .unwrap_or((key, f64::MIN, f64::MAX));
            if !(n.is_finite() && n >= lo && n <= hi) {
                return Err(bad(format!("must be from {lo} to {hi}")));
            }
            Ok(n)
        };
        let boolean = |v: &str| match v.trim() {
            "true" | "on" | "1" | "yes" => Ok(true),
            "false" | "off" | "0" | "no" => Ok(false),
            _ => Err(bad(format!("`{v}` is not true or false"))),
        };
        match key {
            "start_window" => self.start_window = dur(value)?,
            "stream_min_player" => self.stream_min_player = dur(value)?,
            "stream_min_audio" => self.stream_min_audio = dur(value)?,
            "user_idle" => self.user_idle = dur(value)?,
            "user_max" => self.user_max = dur(value)?,
            "view_window" => self.view_window = dur(value)?,
            "realtime_lag" => self.realtime_lag = dur(value)?,
            "abuse_retention" => self.abuse_retention = dur(value)?,
            "segment_seconds" => self.segment_seconds = dur(value)?,
            "allowed_lateness" => self.allowed_lateness = dur(value)?,
            "video_log_time" => {
                self.video_log_time = match value.trim() {
                    "none" => VideoLogTime::None,
                    "segments" => VideoLogTime::Segments,
                    v => return Err(bad(format!("`{v}` is not `none` or `segments`"))),
                }
            }
            "default_audio_kbps" => self.default_audio_kbps = number(value, "a number")?,
            "min_bytes" => {
                number(value, "a whole number of bytes")?;
                self.min_bytes = value.trim().parse().map_err(|_| bad(format!("`{shown}` is not a whole number of bytes")))?;
            }
            "retention_days" => {
                number(value, "a whole number of days")?;
                self.retention_days = value.trim().parse().map_err(|_| bad(format!("`{shown}` is not a whole number of days")))?;
            }
            "raw_retention_days" => {
                number(value, "a whole number of days")?;
                self.raw_retention_days = value.trim().parse().map_err(|_| bad(format!("`{shown}` is not a whole number of days")))?;
            }
            "timezone" => {
                value
                    .trim()
                    .parse::<Tz>()
                    .map_err(|_| bad(format!("`{shown}` is not an IANA time zone such as Europe/Berlin")))?;
                self.timezone = value.trim().to_string();
            }
            "earliest_input" => {
                let day =
                    chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| bad(format!("`{shown}` is not a date such as 2000-01-01")))?;
                let (lo, hi) = EARLIEST_INPUT_RANGE;
                if ranges && (day.to_string().as_str() < lo || day.to_string().as_str() > hi) {
                    return Err(bad(format!("must be from {lo} to {hi}")));
                }
                self.earliest_input = day;
            }
            "home_country" => {
                let code = value.trim().to_ascii_uppercase();
                if !(code.is_empty() || code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())) {
                    return Err(bad(format!("`{shown}` is not a two-letter country code such as BR (or empty)")));
                }
                self.home_country = code;
            }
            "age_ranges" => self.age_ranges = crate::registered::AgeRanges::parse(value).map_err(bad)?.to_string(),
            "attendance" => self.attendance = boolean(value)?,
            "store_raw_events" => self.store_raw_events = boolean(value)?,
            "bot_deny" => self.bot_deny = value.split(',').map(|w| w.trim().to_ascii_lowercase()).filter(|w| !w.is_empty()).collect(),
            _ => return Err(SettingsError::UnknownKey(key.to_string())),
        }
        Ok(())
    }

    /// The text form of one setting, as `set` accepts it.
    pub fn get(&self, key: &str) -> Result<String, SettingsError> {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        Ok(match key {
            "start_window" => d(self.start_window),
            "stream_min_player" => d(self.stream_min_player),
            "stream_min_audio" => d(self.stream_min_audio),
            "user_idle" => d(self.user_idle),
            "user_max" => d(self.user_max),
            "view_window" => d(self.view_window),
            "realtime_lag" => d(self.realtime_lag),
            "abuse_retention" => d(self.abuse_retention),
            "segment_seconds" => d(self.segment_seconds),
            "allowed_lateness" => d(self.allowed_lateness),
            "video_log_time" => self.video_log_time.as_str().to_string(),
            "earliest_input" => self.earliest_input.to_string(),
            "default_audio_kbps" => self.default_audio_kbps.to_string(),
            "min_bytes" => self.min_bytes.to_string(),
            "retention_days" => self.retention_days.to_string(),
            "raw_retention_days" => self.raw_retention_days.to_string(),
            "timezone" => self.timezone.clone(),
            "attendance" => self.attendance.to_string(),
            "store_raw_events" => self.store_raw_events.to_string(),
            "bot_deny" => self.bot_deny.join(","),
            "home_country" => self.home_country.clone(),
            "age_ranges" => self.age_ranges.clone(),
            _ => return Err(SettingsError::UnknownKey(key.to_string())),
        })
    }

    /// All settings in text form, in the order of [`Settings::KEYS`].
    pub fn to_pairs(&self) -> Vec<(&'static str, String)> {
        Settings::KEYS.iter().map(|k| (*k, self.get(k).unwrap_or_default())).collect()
    }

    /// Rebuilds settings from stored pairs; unknown or bad stored values are reported.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Settings, SettingsError> {
        let mut s = Settings::default();
        for (k, v) in pairs {
            s.set_within(k, v, false)?;
        }
        Ok(s)
    }
}

/// Durations serialise as humantime text (`"24h"`), so settings JSON reads well.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_spec_values() {
        let s = Settings::default();
        assert_eq!(s.get("start_window").unwrap(), "1day");
        assert_eq!(s.stream_min_player, Duration::from_secs(5));
        assert_eq!(s.stream_min_audio, Duration::from_secs(25));
        assert_eq!(s.min_bytes, 70_000);
        assert_eq!(s.user_idle, Duration::from_secs(3600));
        assert_eq!(s.view_window, Duration::from_secs(4 * 3600));
        assert!(!s.attendance);
    }

    #[test]
    fn set_validates_and_round_trips() {
        let mut s = Settings::default();
        s.set("view_window", "2h").unwrap();
        assert_eq!(s.view_window, Duration::from_secs(7200));
        s.set("timezone", "Europe/Berlin").unwrap();
        assert!(matches!(s.set("timezone", "Mars/Olympus"), Err(SettingsError::BadValue { .. })));
        assert!(matches!(s.set("user_idle", "0s"), Err(SettingsError::BadValue { .. })));
        assert!(matches!(s.set("nope", "1"), Err(SettingsError::UnknownKey(_))));
    }

    #[test]
    fn values_outside_their_range_are_refused() {
        let mut s = Settings::default();
        for (key, value) in [
            ("start_window", "1000000000days"),
            ("start_window", "1s"),
            ("allowed_lateness", "365days"),
            ("min_bytes", "18446744073709551615"),
            ("default_audio_kbps", "1e29"),
            ("retention_days", "-1"),
        ] {
            let e = s.set(key, value).unwrap_err();
            assert!(e.to_string().contains("must be from"), "{key}={value}: {e}");
        }
        assert_eq!(s, Settings::default());
        s.set("start_window", "7days").unwrap();
        s.set("allowed_lateness", "30days").unwrap();
        let pairs = s.to_pairs();
        let back = Settings::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(back, s);
    }
}

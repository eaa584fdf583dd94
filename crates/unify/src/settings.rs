//! The windows and thresholds the engine counts by, in its own units.

use chrono_tz::Tz;
use streamtally_model::{duration_micros, Micros, Settings, VideoLogTime};

/// The windows and thresholds the engine uses, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EngineSettings {
    pub start_window: Micros,
    pub stream_min_player: f64,
    pub user_idle: Micros,
    pub user_max: Micros,
    pub view_window: Micros,
    /// Attendance days are cut at midnight in the tenant's time zone (spec §6).
    pub tz: Tz,
    /// Seconds of audio (from bytes) that make a log start a stream.
    pub stream_min_audio: f64,
    pub default_audio_kbps: f64,
    /// Log records of files under this many bytes are validation probes.
    pub min_bytes: u64,
    /// How far behind the tenant's clock an input may be and still be counted
    /// exactly (spec §8a); state is kept this much past its window.
    pub allowed_lateness: Micros,
    pub video_log_time: VideoLogTime,
}

impl From<&Settings> for EngineSettings {
    fn from(s: &Settings) -> Self {
        EngineSettings {
            start_window: duration_micros(s.start_window),
            stream_min_player: s.stream_min_player.as_secs_f64(),
            user_idle: duration_micros(s.user_idle),
            user_max: duration_micros(s.user_max),
            view_window: duration_micros(s.view_window),
            tz: s.tz(),
            stream_min_audio: s.stream_min_audio.as_secs_f64(),
            default_audio_kbps: s.default_audio_kbps,
            min_bytes: s.min_bytes,
            allowed_lateness: duration_micros(s.allowed_lateness),
            video_log_time: s.video_log_time,
        }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings::from(&Settings::default())
    }
}

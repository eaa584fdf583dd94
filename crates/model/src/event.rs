//! Player events (spec §1) and the enriched form that is written to the WAL.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{DeviceKey, Micros, Text};

/// The eleven event types of spec §1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    SessionStart,
    PlayerLoaded,
    PlaybackStart,
    Play,
    Playing,
    Pause,
    Seek,
    Buffering,
    ContentEnd,
    FileDownloaded,
    Error,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::SessionStart,
        EventType::PlayerLoaded,
        EventType::PlaybackStart,
        EventType::Play,
        EventType::Playing,
        EventType::Pause,
        EventType::Seek,
        EventType::Buffering,
        EventType::ContentEnd,
        EventType::FileDownloaded,
        EventType::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SessionStart => "session_start",
            EventType::PlayerLoaded => "player_loaded",
            EventType::PlaybackStart => "playback_start",
            EventType::Play => "play",
            EventType::Playing => "playing",
            EventType::Pause => "pause",
            EventType::Seek => "seek",
            EventType::Buffering => "buffering",
            EventType::ContentEnd => "content_end",
            EventType::FileDownloaded => "file_downloaded",
            EventType::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Events that may come before a playback exists (no `playback_id`/`content_id` needed).
    pub fn needs_playback(self) -> bool {
        !matches!(self, EventType::SessionStart | EventType::PlayerLoaded | EventType::Error)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Live, on-demand, or DAR (a recording of a live stream that can be seeked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ContentKind {
    Live,
    Vod,
    Dar,
}

impl ContentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentKind::Live => "live",
            ContentKind::Vod => "vod",
            ContentKind::Dar => "dar",
        }
    }
    pub fn parse(s: &str) -> Option<ContentKind> {
        match s {
            "live" => Some(ContentKind::Live),
            "vod" => Some(ContentKind::Vod),
            "dar" => Some(ContentKind::Dar),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Media {
    Video,
    Audio,
}

impl Media {
    pub fn as_str(self) -> &'static str {
        match self {
            Media::Video => "video",
            Media::Audio => "audio",
        }
    }
    pub fn parse(s: &str) -> Option<Media> {
        match s {
            "video" => Some(Media::Video),
            "audio" => Some(Media::Audio),
            _ => None,
        }
    }
}

/// One player event as the player sent it, after validation; `ts` is already
/// corrected for client clock skew.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlayerEvent {
    pub event_type: EventType,
    pub ts: Micros,
    pub playback_id: Option<String>,
    pub content_id: Option<String>,
    /// Seconds into the content.
    pub position: Option<f64>,
    /// Seconds of playback a `playing` event covers since the previous one.
    pub duration: Option<f64>,
    pub content_kind: Option<ContentKind>,
    pub media: Option<Media>,
    pub bitrate: Option<f64>,
    pub bandwidth: Option<f64>,
    /// On `error` events: the error ended the playback (spec §8d).
    pub fatal: bool,
    /// On a start's first `playing`: the startup time the player measured
    /// itself, in seconds (spec §8d: it wins over the one from timestamps).
    pub startup: Option<f64>,
    pub property: Option<String>,
    pub user_id: Option<String>,
    pub device_id: Option<String>,
    pub access_code: Option<String>,
    /// A playback token from `/api/v1/access/check`, standing for a verified code.
    /// Resolved to `access_code` before the WAL, so it is never written anywhere.
    #[serde(skip)]
    pub access_token: Option<String>,
    pub referrer: Option<String>,
    /// Free dimensions the player attached (string values only).
    pub dimensions: BTreeMap<String, String>,
}

impl PlayerEvent {
    /// A minimal event, convenient for tests and generators.
    pub fn new(event_type: EventType, ts: Micros, playback_id: &str, content_id: &str) -> Self {
        PlayerEvent {
            event_type,
            ts,
            playback_id: Some(playback_id.to_string()),
            content_id: Some(content_id.to_string()),
            position: None,
            duration: None,
            content_kind: None,
            media: None,
            bitrate: None,
            bandwidth: None,
            fatal: false,
            startup: None,
            property: None,
            user_id: None,
            device_id: None,
            access_code: None,
            access_token: None,
            referrer: None,
            dimensions: BTreeMap::new(),
        }
    }
}

/// The parsed family of a User-Agent: all that is kept of it (spec §8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientFamily {
    pub browser: Option<Text>,
    pub os: Option<Text>,
    pub device_type: Option<Text>,
    pub app: Option<Text>,
    /// Bots are kept as raw events but excluded from every audience metric.
    pub bot: bool,
}

impl ClientFamily {
    /// Nothing known (what facts summed over clients carry).
    pub const UNKNOWN: ClientFamily = ClientFamily {
        browser: None,
        os: None,
        device_type: None,
        app: None,
        bot: false,
    };
}

impl Default for ClientFamily {
    fn default() -> Self {
        ClientFamily::UNKNOWN
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geo {
    pub country: Option<Text>,
    pub region: Option<Text>,
    pub city: Option<Text>,
}

impl Geo {
    /// Nowhere known.
    pub const UNKNOWN: Geo = Geo {
        country: None,
        region: None,
        city: None,
    };
}

impl Default for Geo {
    fn default() -> Self {
        Geo::UNKNOWN
    }
}

/// A player event after enrichment: the raw IP and User-Agent are gone, replaced
/// by the device key, the client family and geography. This is what the WAL holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedEvent {
    pub received_at: Micros,
    pub event: PlayerEvent,
    pub device_key: DeviceKey,
    /// Host of the referrer only, never path or query.
    pub referrer_host: Option<Text>,
    pub client: ClientFamily,
    pub geo: Geo,
}

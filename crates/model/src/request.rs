//! Log requests (spec §1): one line of a CDN or streaming-server access log, or
//! a request carrying CMCD data; and the enriched form the WAL holds.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{ClientFamily, ContentKind, DeviceKey, Geo, Media, Micros, Text};

/// Common Media Client Data (CTA-5004) keys streamtally uses. Durations are in
/// milliseconds and bitrates in kbps, as CMCD sends them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cmcd {
    /// Session id: a playback.
    pub sid: Option<String>,
    /// Content id.
    pub cid: Option<String>,
    /// Stream type: `v` on demand, `l` live.
    pub st: Option<String>,
    /// Object type: `m` manifest, `a`/`v`/`av` media segments, `i` init, …
    pub ot: Option<String>,
    /// Object duration (ms).
    pub d: Option<f64>,
    /// Encoded bitrate (kbps).
    pub br: Option<f64>,
    /// Buffer starvation since the last request.
    pub bs: bool,
    /// Buffer length (ms).
    pub bl: Option<f64>,
    /// Measured throughput (kbps).
    pub mtp: Option<f64>,
    /// Startup: the object is needed urgently (startup, seek, recovery).
    pub su: bool,
    /// CMCD v2: player state (`s` starting, `p` playing, `k` seeking, `r` rebuffering, `a` paused, `w` waiting, `e` ended, `f` fatal error, `q` quit, `d` preloading).
    pub sta: Option<String>,
    /// v2: playhead time (ms).
    pub pt: Option<f64>,
    /// v2: timestamp of the report (ms since the epoch).
    pub ts: Option<f64>,
    /// v2: media start delay (ms).
    pub msd: Option<f64>,
    /// v2: backgrounded / buffer-starvation absolute and duration.
    pub bsa: Option<f64>,
    pub bsd: Option<f64>,
    /// v2: error code.
    pub ec: Option<String>,
}

impl Default for Cmcd {
    fn default() -> Self {
        Cmcd::NONE
    }
}

impl Cmcd {
    /// No data (what `Default` gives), usable in a `static`.
    pub const NONE: Cmcd = Cmcd {
        sid: None,
        cid: None,
        st: None,
        ot: None,
        d: None,
        br: None,
        bs: false,
        bl: None,
        mtp: None,
        su: false,
        sta: None,
        pt: None,
        ts: None,
        msd: None,
        bsa: None,
        bsd: None,
        ec: None,
    };

    pub fn is_empty(&self) -> bool {
        *self == Cmcd::default()
    }
}

/// A log line as parsed: still holds the client's IP and User-Agent, which
/// enrichment replaces. Never written anywhere. Its texts borrow the line
/// where they stand in it unchanged (most do), so reading a line allocates
/// nothing; unescaped or decoded values are owned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogRequest<'line> {
    pub ts: Micros,
    pub ip: Option<IpAddr>,
    pub user_agent: Option<Cow<'line, str>>,
    pub method: Cow<'line, str>,
    /// Path without the query.
    pub path: Cow<'line, str>,
    pub query: Option<Cow<'line, str>>,
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
    /// The `Range` request header, when logged.
    pub range: Option<Cow<'line, str>>,
    pub referrer: Option<Cow<'line, str>>,
    /// `HIT`, `MISS`, … as the server logged it.
    pub cache_status: Option<Cow<'line, str>>,
    pub pop: Option<Cow<'line, str>>,
    pub zone: Option<Cow<'line, str>>,
    /// Seconds to serve.
    pub time_to_serve: Option<f64>,
    /// Boxed: a line without CMCD (most) stays small to move.
    pub cmcd: Option<Box<Cmcd>>,
    /// The line was cut off inside its last quoted value, which was taken as read.
    pub repaired: bool,
}

impl LogRequest<'_> {
    /// The CMCD data sent, empty when none.
    pub fn cmcd(&self) -> &Cmcd {
        static NONE: Cmcd = Cmcd::NONE;
        self.cmcd.as_deref().unwrap_or(&NONE)
    }
}

/// What a request asked for, from its path (or CMCD `ot`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RequestKind {
    /// A whole audio file (.mp3, .m4a, .aac, …): podcasts (audio-log, downloads).
    AudioFile,
    /// An HLS playlist or DASH manifest.
    Manifest,
    /// A media segment of a stream.
    Segment,
    /// A whole video file (.mp4 without segments).
    VideoFile,
    Other,
}

impl RequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::AudioFile => "audio_file",
            RequestKind::Manifest => "manifest",
            RequestKind::Segment => "segment",
            RequestKind::VideoFile => "video_file",
            RequestKind::Other => "other",
        }
    }
}

/// The CMCD keys of a request that speak of quality of experience (spec
/// §8d, docs/COUNTING.md rule 59), as sent: durations in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CmcdQoe {
    /// `su`: the object is needed urgently (startup, seek, recovery).
    pub urgent: bool,
    /// v2 `msd`: media start delay.
    pub start_delay_ms: Option<f64>,
    /// v2 `bsa`: buffer starvations since the session began.
    pub starvations: Option<f64>,
    /// v2 `bsd`: milliseconds starved since the session began.
    pub starved_ms: Option<f64>,
    /// v2 `sta`: the player's state.
    pub state: Option<Text>,
    /// v2 `ec`: an error code.
    pub error: Option<Text>,
}

impl CmcdQoe {
    /// What of `cmcd` speaks of quality; `None` when nothing does.
    pub fn of(cmcd: &Cmcd) -> Option<Box<CmcdQoe>> {
        let qoe = CmcdQoe {
            urgent: cmcd.su,
            start_delay_ms: cmcd.msd.filter(|v| v.is_finite() && *v >= 0.0),
            starvations: cmcd.bsa.filter(|v| v.is_finite() && *v >= 0.0),
            starved_ms: cmcd.bsd.filter(|v| v.is_finite() && *v >= 0.0),
            state: cmcd.sta.as_deref().map(Into::into),
            error: cmcd.ec.as_deref().map(Into::into),
        };
        (qoe != CmcdQoe::default()).then(|| Box::new(qoe))
    }
}

/// A log request after enrichment: what the WAL holds and the engine counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedRequest {
    pub ts: Micros,
    pub device_key: DeviceKey,
    pub client: ClientFamily,
    pub geo: Geo,
    pub referrer_host: Option<Text>,
    pub method: Text,
    pub status: u16,
    pub bytes: u64,
    /// Requested byte range `(first, last)` when a Range header was logged.
    pub range: Option<(u64, Option<u64>)>,
    pub kind: RequestKind,
    pub content_id: Option<Text>,
    /// CMCD `sid` when present: the playback.
    pub playback_id: Option<Text>,
    pub content_kind: Option<ContentKind>,
    pub media: Option<Media>,
    /// Seconds of media a segment holds (CMCD `d`, else the tenant's default).
    pub segment_seconds: Option<f64>,
    /// For segments of a CMCD session: a hash of the object's path, so the
    /// session's time counts each media object once (spec §3).
    pub media_object: Option<u64>,
    pub bitrate_kbps: Option<f64>,
    /// The client reported a stall (CMCD `bs`, or v2 `sta=r`).
    pub rebuffering: bool,
    /// What else CMCD said of the playback's quality (spec §8d); boxed, as
    /// most requests send none.
    pub qoe: Option<Box<CmcdQoe>>,
    pub cache_status: Option<Text>,
    pub pop: Option<Text>,
    pub zone: Option<Text>,
}

//! The log filters of spec §3 and why an input counts for no audience.

use std::collections::BTreeMap;

use serde::Serialize;
use streamtally_model::{ContentKind, EnrichedRequest, Media, RequestKind, Source};

use crate::EngineSettings;

/// Why an input counts for no audience metric (a log request may still count as CDN traffic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Dropped {
    Bot,
    Method,
    Status,
    UnderMinBytes,
    /// `Range: bytes=0-1`: a client checking the file, not playing it.
    Probe,
    /// Neither a media file nor a stream (a web page, an image…) or no content.
    NotMedia,
    /// Older than `allowed_lateness` behind the tenant's clock when it came to
    /// be counted (spec §8a): the state it belongs to may be gone, so it is
    /// not counted at all (not even as CDN traffic) rather than counted wrong.
    Late,
}

impl Dropped {
    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::Bot => "bot",
            Dropped::Method => "method",
            Dropped::Status => "status",
            Dropped::UnderMinBytes => "under_min_bytes",
            Dropped::Probe => "probe",
            Dropped::NotMedia => "not_media",
            Dropped::Late => "late",
        }
    }
}

/// How many inputs of a record each rule excluded, by [`Dropped::as_str`].
pub type Exclusions = BTreeMap<&'static str, u64>;

/// Which source's metrics a log request feeds (spec §3).
pub fn source_of(r: &EnrichedRequest) -> Source {
    match r.kind {
        RequestKind::AudioFile => Source::AudioLog,
        RequestKind::Segment if r.media == Some(Media::Audio) && r.content_kind != Some(ContentKind::Vod) => Source::AudioLog,
        _ => Source::VideoLog,
    }
}

/// How many requests each log filter excludes (for summaries; `explain` per line).
pub fn exclusions<'a>(requests: impl IntoIterator<Item = &'a EnrichedRequest>, settings: &EngineSettings) -> Exclusions {
    let mut out = Exclusions::new();
    for r in requests {
        if let Err(why) = log_filter(r, settings) {
            *out.entry(why.as_str()).or_default() += 1;
        }
    }
    out
}

/// The log filters of spec §3, in order. Streams' manifests and segments are
/// small by nature, so `min_bytes` applies to whole files only (docs/COUNTING.md).
pub fn log_filter(r: &EnrichedRequest, settings: &EngineSettings) -> Result<(), Dropped> {
    if r.client.bot {
        return Err(Dropped::Bot);
    }
    if &*r.method != "GET" {
        return Err(Dropped::Method);
    }
    if r.status != 200 && r.status != 206 {
        return Err(Dropped::Status);
    }
    if r.range == Some((0, Some(1))) {
        return Err(Dropped::Probe);
    }
    if r.content_id.is_none() || r.kind == RequestKind::Other {
        return Err(Dropped::NotMedia);
    }
    if matches!(r.kind, RequestKind::AudioFile | RequestKind::VideoFile) && r.bytes < settings.min_bytes {
        return Err(Dropped::UnderMinBytes);
    }
    Ok(())
}

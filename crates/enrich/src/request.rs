//! Log requests: the same enrichment as player events (device key from IP +
//! User-Agent, client family, bot verdict, geography, referrer host), plus
//! what the path says — which content, and whether it is an audio file, a
//! manifest or a segment (spec §1 "Catalogue": inferred without one).

use std::borrow::Cow;
use std::net::IpAddr;

use hashbrown::{HashMap as FastMap, HashSet as FastSet};
use streamtally_model::{ClientFamily, ContentKind, DeviceKey, EnrichedRequest, Geo, LogRequest, Media, RequestKind, Text};

use crate::{device_key, referrer_host, DeviceSecret, EnrichOptions, Enricher, SegmentLength};

const AUDIO_FILES: [&str; 7] = ["mp3", "m4a", "aac", "ogg", "opus", "oga", "wav"];
const MANIFESTS: [&str; 3] = ["m3u8", "mpd", "ism"];
const SEGMENTS: [&str; 7] = ["ts", "m4s", "m4v", "m4a.seg", "cmfv", "cmfa", "vtt"];
const VIDEO_FILES: [&str; 4] = ["mp4", "mov", "webm", "mkv"];

/// `ext` is one of `names`, in any case.
fn one_of(ext: &str, names: &[&str]) -> bool {
    names.iter().any(|n| ext.eq_ignore_ascii_case(n))
}

/// The kind of object a path names, and its media when the name tells.
pub fn request_kind(path: &str, object_type: Option<&str>) -> (RequestKind, Option<Media>) {
    let file = path.rsplit('/').next().unwrap_or("");
    let ext = file.rsplit_once('.').map_or("", |(_, e)| e);
    // CMCD says what the object is, whatever its name.
    match object_type {
        Some("m") => return (RequestKind::Manifest, None),
        Some("a") => return (RequestKind::Segment, Some(Media::Audio)),
        Some("v" | "av" | "muxed") => return (RequestKind::Segment, Some(Media::Video)),
        _ => {}
    }
    let in_stream = || path.contains("/hls/") || path.contains("/dash/") || file.contains("seg") || file.contains("chunk") || file.contains("frag");
    if one_of(ext, &MANIFESTS) {
        (RequestKind::Manifest, None)
    } else if one_of(ext, &SEGMENTS) {
        (RequestKind::Segment, None)
    } else if one_of(ext, &AUDIO_FILES) {
        // An .aac or .m4a inside a stream folder is a segment of that stream.
        if in_stream() {
            (RequestKind::Segment, Some(Media::Audio))
        } else {
            (RequestKind::AudioFile, Some(Media::Audio))
        }
    } else if one_of(ext, &VIDEO_FILES) {
        if in_stream() {
            (RequestKind::Segment, Some(Media::Video))
        } else {
            (RequestKind::VideoFile, Some(Media::Video))
        }
    } else {
        (RequestKind::Other, None)
    }
}

/// The content a request belongs to: CMCD `cid`, else for streams the folder
/// holding the manifest or segment (`/live/L/seg_1.ts` → `L`; a rendition
/// folder such as `/live/L/720p/seg_1.ts` belongs to `L`), for files the file
/// name without its extension (`/podcast/E.mp3` → `E`). Borrowed from the
/// path unless the path is percent-encoded.
pub fn content_of(path: &str, kind: RequestKind) -> Option<Cow<'_, str>> {
    if memchr::memchr(b'%', path.as_bytes()).is_none() {
        return content_in(path, kind).map(Cow::Borrowed);
    }
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    content_in(&decoded, kind).map(|c| Cow::Owned(c.to_string()))
}

/// [`content_of`] a decoded path.
fn content_in(path: &str, kind: RequestKind) -> Option<&str> {
    let mut parts = path.split('/').filter(|p| !p.is_empty()).rev();
    let file = parts.next()?;
    match kind {
        RequestKind::Manifest | RequestKind::Segment => {
            let folder = parts.next()?;
            Some(if is_rendition(folder) { parts.next().unwrap_or(folder) } else { folder })
        }
        RequestKind::AudioFile | RequestKind::VideoFile => Some(file.rsplit_once('.').map_or(file, |(stem, _)| stem)),
        RequestKind::Other => None,
    }
}

/// Folder names of one rendition of a stream: `720p`, `1080p60`, `audio_128k`, `v3`, `stream_2`.
fn is_rendition(folder: &str) -> bool {
    let f = folder.as_bytes();
    let starts = |text: &[u8], prefix: &[u8]| text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix);
    let digits = f.iter().take_while(|b| b.is_ascii_digit()).count();
    (digits > 0 && (starts(&f[digits..], b"p") || starts(&f[digits..], b"k")))
        || (f.len() > 1 && starts(f, b"v") && f[1..].iter().all(u8::is_ascii_digit))
        || starts(f, b"audio_")
        || starts(f, b"video_")
        || starts(f, b"stream_")
}

/// What the lines of one batch share, worked out once per batch: texts kept
/// once (a log repeats its contents, zones and referrers on thousands of
/// lines), each referrer's host, each User-Agent's client family, and per
/// User-Agent and address the device key and geography (a listener's or
/// viewer's requests come every few seconds, and the keyed hash is the
/// dearest step of a line).
#[derive(Debug, Default)]
pub struct BatchMemo {
    texts: FastSet<Text>,
    hosts: FastMap<String, Option<Text>>,
    clients: FastMap<String, Client>,
}

#[derive(Debug)]
struct Client {
    family: ClientFamily,
    devices: FastMap<Option<IpAddr>, (DeviceKey, Geo)>,
}

impl BatchMemo {
    pub fn get(&mut self, s: &str) -> Text {
        if let Some(t) = self.texts.get(s) {
            return t.clone();
        }
        let t: Text = s.into();
        self.texts.insert(t.clone());
        t
    }

    /// [`referrer_host`], remembered per referrer.
    pub fn referrer_host(&mut self, referrer: &str) -> Option<Text> {
        if let Some(h) = self.hosts.get(referrer) {
            return h.clone();
        }
        let host = referrer_host(referrer).map(|h| self.get(&h));
        self.hosts.insert(referrer.to_string(), host.clone());
        host
    }
}

impl Enricher {
    /// Enriches one log request of a tenant; its IP and User-Agent are dropped here.
    pub fn enrich_request(
        &self,
        req: LogRequest<'_>,
        secret: &DeviceSecret,
        opts: EnrichOptions<'_>,
        segment_length: SegmentLength<'_>,
        memo: &mut BatchMemo,
    ) -> EnrichedRequest {
        let ua = req.user_agent.as_deref().unwrap_or("");
        let client = memo.clients.entry_ref(ua).or_insert_with(|| Client {
            family: self.classify(ua, opts.bot_deny).family,
            devices: FastMap::default(),
        });
        let (device_key, geo) = client
            .devices
            .entry(req.ip)
            .or_insert_with(|| (device_key(secret, req.ip, ua, None), self.geo(req.ip)))
            .clone();
        let family = client.family.clone();
        let cmcd = req.cmcd();
        let (kind, media) = request_kind(&req.path, cmcd.ot.as_deref());
        let content_id = match &cmcd.cid {
            Some(cid) => Some(memo.get(cid)),
            None => content_of(&req.path, kind).map(|c| memo.get(&c)),
        };
        let content_kind = match cmcd.st.as_deref() {
            Some("l") => Some(ContentKind::Live),
            Some("v") => Some(ContentKind::Vod),
            _ => None,
        };
        let range = req.range.as_deref().and_then(streamtally_parse::log::parse_range);
        let segment_seconds = (kind == RequestKind::Segment).then(|| segment_length.of(&req.path, cmcd.d));
        EnrichedRequest {
            ts: req.ts,
            device_key,
            client: family,
            geo,
            referrer_host: req.referrer.as_deref().and_then(|r| memo.referrer_host(r)),
            method: memo.get(&req.method),
            status: req.status,
            bytes: req.bytes,
            range,
            kind,
            content_id,
            playback_id: cmcd.sid.as_deref().map(Text::from),
            content_kind,
            media,
            segment_seconds,
            media_object: (kind == RequestKind::Segment && cmcd.sid.is_some()).then(|| object_hash(&req.path)),
            bitrate_kbps: cmcd.br,
            rebuffering: cmcd.bs || cmcd.sta.as_deref() == Some("r"),
            qoe: streamtally_model::CmcdQoe::of(cmcd),
            cache_status: req.cache_status.as_deref().map(|t| memo.get(t)),
            pop: req.pop.as_deref().map(|t| memo.get(t)),
            zone: req.zone.as_deref().map(|t| memo.get(t)),
        }
    }
}

/// A stable hash of a media object's path (query and fragment left out):
/// the same segment fetched twice hashes alike on every run and machine.
fn object_hash(path: &str) -> u64 {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let h = blake3::hash(path.as_bytes());
    u64::from_le_bytes(h.as_bytes()[..8].try_into().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_contents_from_paths() {
        assert_eq!(request_kind("/podcast/E.mp3", None), (RequestKind::AudioFile, Some(Media::Audio)));
        assert_eq!(content_of("/podcast/E.mp3", RequestKind::AudioFile).as_deref(), Some("E"));
        assert_eq!(request_kind("/live/L/index.m3u8", None).0, RequestKind::Manifest);
        assert_eq!(content_of("/live/L/index.m3u8", RequestKind::Manifest).as_deref(), Some("L"));
        assert_eq!(request_kind("/live/L/720p/seg_00042.ts", None).0, RequestKind::Segment);
        assert_eq!(content_of("/live/L/720p/seg_00042.ts", RequestKind::Segment).as_deref(), Some("L"));
        assert_eq!(request_kind("/hls/radio/chunk_3.aac", None), (RequestKind::Segment, Some(Media::Audio)));
        assert_eq!(request_kind("/dash/film/video.mp4", None), (RequestKind::Segment, Some(Media::Video)));
        assert_eq!(request_kind("/files/film.mp4", None), (RequestKind::VideoFile, Some(Media::Video)));
        assert_eq!(request_kind("/x/anything", Some("m")).0, RequestKind::Manifest);
        assert_eq!(request_kind("/favicon.ico", None).0, RequestKind::Other);
        assert_eq!(content_of("/favicon.ico", RequestKind::Other), None);
        assert_eq!(content_of("/live/Big%20Show/index.m3u8", RequestKind::Manifest).as_deref(), Some("Big Show"));
        assert_eq!(content_of("/index.m3u8", RequestKind::Manifest), None);
        assert_eq!(request_kind("/Live/L/INDEX.M3U8", None).0, RequestKind::Manifest, "extensions in any case");
        for (folder, rendition) in [
            ("720p", true),
            ("1080P60", true),
            ("audio_128k", true),
            ("V3", true),
            ("stream_2", true),
            ("v", false),
            ("show", false),
            ("42", false),
        ] {
            assert_eq!(is_rendition(folder), rendition, "{folder}");
        }
    }
}

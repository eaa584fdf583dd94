//! Log requests: the same enrichment as player events (device key from IP +
//! User-Agent, client family, bot verdict, geography, referrer host), plus
//! what the path says — which content, and whether it is an audio file, a
//! manifest or a segment (spec §1 "Catalogue": inferred without one).

use std::collections::{HashMap, HashSet};

use streamtally_model::{ContentKind, EnrichedRequest, LogRequest, Media, RequestKind, Text};

use crate::{device_key, referrer_host, DeviceSecret, EnrichOptions, Enricher};

const AUDIO_FILES: [&str; 7] = ["mp3", "m4a", "aac", "ogg", "opus", "oga", "wav"];
const MANIFESTS: [&str; 3] = ["m3u8", "mpd", "ism"];
const SEGMENTS: [&str; 7] = ["ts", "m4s", "m4v", "m4a.seg", "cmfv", "cmfa", "vtt"];
const VIDEO_FILES: [&str; 4] = ["mp4", "mov", "webm", "mkv"];

/// The kind of object a path names, and its media when the name tells.
pub fn request_kind(path: &str, object_type: Option<&str>) -> (RequestKind, Option<Media>) {
    let file = path.rsplit('/').next().unwrap_or("");
    let ext = file.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    // CMCD says what the object is, whatever its name.
    match object_type {
        Some("m") => return (RequestKind::Manifest, None),
        Some("a") => return (RequestKind::Segment, Some(Media::Audio)),
        Some("v" | "av" | "muxed") => return (RequestKind::Segment, Some(Media::Video)),
        _ => {}
    }
    let in_stream = path.contains("/hls/") || path.contains("/dash/") || file.contains("seg") || file.contains("chunk") || file.contains("frag");
    if MANIFESTS.contains(&ext.as_str()) {
        (RequestKind::Manifest, None)
    } else if SEGMENTS.contains(&ext.as_str()) {
        (RequestKind::Segment, None)
    } else if AUDIO_FILES.contains(&ext.as_str()) {
        // An .aac or .m4a inside a stream folder is a segment of that stream.
        if in_stream {
            (RequestKind::Segment, Some(Media::Audio))
        } else {
            (RequestKind::AudioFile, Some(Media::Audio))
        }
    } else if VIDEO_FILES.contains(&ext.as_str()) {
        if in_stream {
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
/// name without its extension (`/podcast/E.mp3` → `E`).
pub fn content_of(path: &str, kind: RequestKind) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    let parts: Vec<&str> = decoded.split('/').filter(|p| !p.is_empty()).collect();
    let file = parts.last()?;
    match kind {
        RequestKind::Manifest | RequestKind::Segment => {
            let mut folders = parts[..parts.len() - 1].iter().rev();
            let mut folder = folders.next()?;
            if is_rendition(folder) {
                folder = folders.next().unwrap_or(folder);
            }
            Some(folder.to_string())
        }
        RequestKind::AudioFile | RequestKind::VideoFile => Some(file.rsplit_once('.').map(|(s, _)| s).unwrap_or(file).to_string()),
        RequestKind::Other => None,
    }
}

/// Folder names of one rendition of a stream: `720p`, `1080p60`, `audio_128k`, `v3`, `stream_2`.
fn is_rendition(folder: &str) -> bool {
    let f = folder.to_ascii_lowercase();
    let digits_then = |suffix: &[&str]| {
        let trimmed = f.trim_start_matches(|c: char| c.is_ascii_digit());
        trimmed.len() < f.len() && suffix.iter().any(|s| trimmed.starts_with(s))
    };
    digits_then(&["p", "k"])
        || (f.starts_with('v') && f[1..].chars().all(|c| c.is_ascii_digit()) && f.len() > 1)
        || f.starts_with("audio_")
        || f.starts_with("video_")
        || f.starts_with("stream_")
}

/// The texts of the requests of one batch, each kept once (a log repeats its
/// contents, zones and referrers on thousands of lines), and each referrer's
/// host worked out once.
#[derive(Debug, Default)]
pub struct Texts {
    texts: HashSet<Text>,
    hosts: HashMap<String, Option<Text>>,
}

impl Texts {
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
        texts: &mut Texts,
    ) -> EnrichedRequest {
        let ua = req.user_agent.as_deref().unwrap_or("");
        let device_key = device_key(secret, req.ip, ua, None);
        let family = self.classify(ua, opts.bot_deny).family;
        let cmcd = req.cmcd();
        let (kind, media) = request_kind(&req.path, cmcd.ot.as_deref());
        let content_id = match &cmcd.cid {
            Some(cid) => Some(texts.get(cid)),
            None => content_of(&req.path, kind).map(|c| texts.get(&c)),
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
            geo: self.geo(req.ip),
            referrer_host: req.referrer.as_deref().and_then(|r| texts.referrer_host(r)),
            method: texts.get(&req.method),
            status: req.status,
            bytes: req.bytes,
            range,
            kind,
            content_id,
            playback_id: cmcd.sid.as_deref().map(Text::from),
            content_kind,
            media,
            segment_seconds,
            bitrate_kbps: cmcd.br,
            rebuffering: cmcd.bs || cmcd.sta.as_deref() == Some("r"),
            cache_status: req.cache_status.as_deref().map(|t| texts.get(t)),
            pop: req.pop.as_deref().map(|t| texts.get(t)),
            zone: req.zone.as_deref().map(|t| texts.get(t)),
        }
    }
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
    }
}

/// Lines of a log read and enriched: the requests, and what could not be read.
#[derive(Debug, Default)]
pub struct LogBatch {
    pub requests: Vec<EnrichedRequest>,
    /// Lines seen (blank lines and comments included).
    pub lines: usize,
    /// Blank lines, comments, headers.
    pub skipped: usize,
    pub rejected: usize,
    /// The first few rejected lines: (line number, why, the line cut to 200 bytes).
    pub first_rejects: Vec<(usize, String, String)>,
}

/// How many rejected lines a batch keeps as examples.
pub const REJECT_EXAMPLES: usize = 5;

/// How long a segment is: CMCD `d` when the request sent it, else its
/// playlist's `#EXTINF` when the playlists are at hand, else the default.
#[derive(Debug, Clone, Copy)]
pub struct SegmentLength<'a> {
    pub default_seconds: f64,
    pub playlists: Option<&'a crate::SegmentDurations>,
}

impl SegmentLength<'_> {
    pub fn of(&self, path: &str, cmcd_duration_ms: Option<f64>) -> f64 {
        cmcd_duration_ms
            .map(|ms| ms / 1000.0)
            .or_else(|| self.playlists.and_then(|p| p.get(path)))
            .unwrap_or(self.default_seconds)
    }
}

/// What enriching log lines needs besides the lines: the tenant's secret and
/// options, how long segments are and the catalogue's bitrates.
pub struct LogContext<'a> {
    pub secret: &'a DeviceSecret,
    pub opts: EnrichOptions<'a>,
    pub segment_length: SegmentLength<'a>,
    pub bitrate_of: &'a dyn Fn(&str) -> Option<f64>,
}

impl<'a> LogContext<'a> {
    /// The context of one tenant: its secret, settings and catalogue bitrates.
    pub fn new(secret: &'a DeviceSecret, settings: &'a streamtally_model::Settings, bitrate_of: &'a dyn Fn(&str) -> Option<f64>) -> Self {
        LogContext {
            secret,
            opts: EnrichOptions {
                keep_access_code: false,
                bot_deny: &settings.bot_deny,
            },
            segment_length: SegmentLength {
                default_seconds: settings.segment_seconds.as_secs_f64(),
                playlists: None,
            },
            bitrate_of,
        }
    }
}

impl LogBatch {
    /// Zone and POP for the requests whose line named none (a per-file option).
    pub fn fill_zone_pop(&mut self, zone: Option<&str>, pop: Option<&str>) {
        for r in &mut self.requests {
            if r.zone.is_none() {
                r.zone = zone.map(Text::from);
            }
            if r.pop.is_none() {
                r.pop = pop.map(Text::from);
            }
        }
    }
}

impl Enricher {
    /// Reads the lines of `text` (numbered from `first_line`) with `parser`.
    /// A bad line is counted and skipped; invalid UTF-8 is replaced, not fatal.
    pub fn read_log_lines(&self, parser: &mut streamtally_parse::log::LogParser, text: &[u8], first_line: usize, ctx: &LogContext<'_>) -> LogBatch {
        let mut batch = LogBatch::default();
        let mut texts = Texts::default();
        let body = text.strip_suffix(b"\n").unwrap_or(text);
        if body.is_empty() {
            return batch;
        }
        batch.requests.reserve(memchr::memchr_iter(b'\n', body).count() + 1);
        // One UTF-8 check for the chunk; only a chunk with invalid bytes is read line by line with replacements.
        let valid = std::str::from_utf8(body).ok();
        let mut start = 0;
        for (i, end) in memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len())).enumerate() {
            batch.lines += 1;
            let raw = &body[start..end];
            let line = match valid {
                Some(text) => std::borrow::Cow::Borrowed(&text[start..end]),
                None => String::from_utf8_lossy(raw),
            };
            start = end + 1;
            match parser.parse_line(&line) {
                Ok(streamtally_parse::log::Line::Request(req)) => {
                    let mut r = self.enrich_request(req, ctx.secret, ctx.opts, ctx.segment_length, &mut texts);
                    // The catalogue's bitrate wins over what the request said (spec §3).
                    if let Some(b) = r.content_id.as_deref().and_then(ctx.bitrate_of) {
                        r.bitrate_kbps = Some(b);
                    }
                    batch.requests.push(r);
                }
                Ok(streamtally_parse::log::Line::Skip) => batch.skipped += 1,
                Err(e) => {
                    batch.rejected += 1;
                    if batch.first_rejects.len() < REJECT_EXAMPLES {
                        let cut: String = line.chars().take(200).collect();
                        batch.first_rejects.push((first_line + i, e.0, cut));
                    }
                }
            }
        }
        batch
    }
}

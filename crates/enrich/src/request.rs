//! Log requests: the same enrichment as player events (device key from IP +
//! User-Agent, client family, bot verdict, geography, referrer host), plus
//! what the path says — which content, and whether it is an audio file, a
//! manifest or a segment (spec §1 "Catalogue": inferred without one).

use std::borrow::Cow;
use std::net::IpAddr;

use hashbrown::{HashMap as FastMap, HashSet as FastSet};
use streamtally_model::{ClientFamily, ContentKind, DeviceKey, EnrichedRequest, Geo, LogRequest, Media, Micros, RequestKind, Text};

use crate::{device_key, referrer_host, DeviceSecret, EnrichOptions, Enricher};

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

    /// A batch read in pieces on threads says what one thread reading it says:
    /// the same requests in the same order, counts, and rejected lines' numbers.
    #[test]
    fn a_batch_read_in_pieces_reads_as_one() {
        let format = || streamtally_parse::log::LogFormat::named("combined", None).unwrap();
        let mut text = String::new();
        for i in 0..12_000 {
            match i % 997 {
                0 => text.push_str("not a log line\n"),
                1 => text.push('\n'),
                _ => text.push_str(&format!(
                    "10.0.{}.{} - - [02/Mar/2026:08:{:02}:00 +0000] \"GET /live/ch{}/seg_{i}.ts HTTP/1.1\" 200 {} \"https://www.example.org/\" \"VLC/3.0.{}\"\n",
                    i % 7,
                    i % 251,
                    i % 60,
                    i % 3,
                    1000 + i,
                    i % 5
                )),
            }
        }
        text.push_str("\n\n");
        assert!(text.len() > 2 * PIECE_BYTES, "large enough to be split");
        let enricher = Enricher::default();
        let secret = DeviceSecret::from_bytes([7; 32]);
        let settings = streamtally_model::Settings::default();
        let bitrate_of = |_: &str| None;
        let ctx = LogContext::new(&secret, &settings, &bitrate_of);
        let mut parser = streamtally_parse::log::LogParser::new(format());
        let split = enricher.read_log_lines(&mut parser, text.as_bytes(), 40, &ctx);
        let mut parser = streamtally_parse::log::LogParser::new(format());
        let whole = enricher.read_piece(&mut parser, text.strip_suffix('\n').unwrap().as_bytes(), 40, &ctx);
        assert_eq!(split.requests, whole.requests);
        assert_eq!(
            (split.lines, split.skipped, split.rejected, &split.first_rejects),
            (whole.lines, whole.skipped, whole.rejected, &whole.first_rejects)
        );
        assert_eq!((whole.lines, whole.rejected), (12_002, 13));
        // Each request knows where its line ends: just past its newline.
        assert_eq!(split.line_ends, whole.line_ends);
        assert_eq!(split.line_ends.len(), split.requests.len());
        assert!(split.line_ends.iter().all(|e| text.as_bytes()[e - 1] == b'\n'));
        // The last request's line is followed by the two blank lines of the end.
        assert_eq!(split.line_ends.last(), Some(&(text.len() - 2)));
        assert_eq!(whole.first_rejects[1].0, 40 + 997, "numbered from the batch's first line");
    }

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

/// Lines of a log read and enriched: the requests, and what could not be read.
#[derive(Debug, Default)]
pub struct LogBatch {
    pub requests: Vec<EnrichedRequest>,
    /// For each request, the byte offset just past its line in the text read
    /// (so an import can say how far the file is taken when only some of a
    /// chunk's requests are sent).
    pub line_ends: Vec<usize>,
    /// Lines seen (blank lines and comments included).
    pub lines: usize,
    /// Blank lines, comments, headers.
    pub skipped: usize,
    pub rejected: usize,
    /// Lines cut off inside their last quoted value, read as far as they go.
    pub repaired: usize,
    /// The first few rejected lines: (line number, why, the line cut to 200 bytes).
    pub first_rejects: Vec<(usize, String, String)>,
}

/// How many rejected lines a batch keeps as examples.
pub const REJECT_EXAMPLES: usize = 5;

/// The least a thread of [`Enricher::read_log_lines`] is given: below a few
/// thousand lines, starting a thread costs more than it saves.
const PIECE_BYTES: usize = 256 * 1024;
/// Threads one batch is read on at most.
const MAX_THREADS: usize = 8;

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
    pub bitrate_of: &'a (dyn Fn(&str) -> Option<f64> + Sync),
    pub accept: TimeBounds,
}

/// The times a log line may carry to be counted (spec §8a): not more than
/// [`streamtally_model::MAX_AHEAD`] after it was read, and, once the tenant
/// has a clock, not older than the lateness window behind it.
#[derive(Debug, Clone)]
pub struct TimeBounds {
    pub newest: Micros,
    pub oldest: Option<(Micros, String)>,
    /// The tenant's `earliest_input`, with its reason.
    pub earliest: Option<(Micros, String)>,
}

fn now_micros() -> Micros {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(Micros::MAX))
}

impl TimeBounds {
    /// Lines read now, with no lower bound.
    pub fn now() -> TimeBounds {
        TimeBounds {
            newest: now_micros().saturating_add(streamtally_model::MAX_AHEAD),
            oldest: None,
            earliest: None,
        }
    }

    /// Also refuses lines dated before `oldest` (the lateness window) or
    /// before the tenant's `earliest_input`, each with its reason.
    pub fn not_before(mut self, oldest: Option<Micros>, settings: &streamtally_model::Settings) -> TimeBounds {
        self.oldest = oldest.map(|o| (o, settings.too_late_reason(o)));
        self.earliest = Some((settings.earliest_micros(), settings.too_early_reason()));
        self
    }

    fn check(&self, ts: Micros) -> Result<(), String> {
        if ts > self.newest {
            return Err(
                "its time is more than an hour after it was read (a clock or log far in the future); such a line is refused so it cannot make other input late"
                    .into(),
            );
        }
        match (&self.earliest, &self.oldest) {
            (Some((earliest, why)), _) if ts < *earliest => Err(format!("its time {why}")),
            (_, Some((oldest, why))) if ts < *oldest => Err(format!("its time {why}")),
            _ => Ok(()),
        }
    }
}

impl<'a> LogContext<'a> {
    /// The context of one tenant: its secret, settings and catalogue bitrates.
    pub fn new(secret: &'a DeviceSecret, settings: &'a streamtally_model::Settings, bitrate_of: &'a (dyn Fn(&str) -> Option<f64> + Sync)) -> Self {
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
            accept: TimeBounds::now(),
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
    ///
    /// A large batch in a format whose lines stand alone (all but W3C, whose
    /// `#Fields:` lines change the columns) is read in pieces on as many
    /// threads as there are cores; the requests keep the lines' order.
    pub fn read_log_lines(&self, parser: &mut streamtally_parse::log::LogParser, text: &[u8], first_line: usize, ctx: &LogContext<'_>) -> LogBatch {
        let body = text.strip_suffix(b"\n").unwrap_or(text);
        if body.is_empty() {
            return LogBatch::default();
        }
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS);
        let clamp = |mut batch: LogBatch| {
            if let Some(last) = batch.line_ends.last_mut() {
                *last = (*last).min(text.len());
            }
            batch
        };
        if threads < 2 || body.len() < PIECE_BYTES * 2 || !parser.lines_stand_alone() {
            return clamp(self.read_piece(parser, body, first_line, ctx));
        }
        // Pieces end where a line does, near equal shares of the bytes.
        let pieces = threads.min(body.len() / PIECE_BYTES);
        let mut bounds = vec![0];
        for k in 1..pieces {
            let from = *bounds.last().unwrap_or(&0);
            let target = (body.len() * k / pieces).max(from);
            match memchr::memchr(b'\n', &body[target..]) {
                Some(i) => bounds.push(target + i + 1),
                None => break,
            }
        }
        bounds.push(body.len() + 1);
        let slices: Vec<&[u8]> = bounds.windows(2).map(|w| &body[w[0]..w[1] - 1]).collect();
        let (first, rest) = slices.split_first().expect("one piece at least");
        let mut batches = std::thread::scope(|scope| {
            let workers: Vec<_> = rest
                .iter()
                .map(|piece| {
                    let mut parser = parser.clone();
                    scope.spawn(move || self.read_piece(&mut parser, piece, 0, ctx))
                })
                .collect();
            let mut batches = vec![self.read_piece(parser, first, first_line, ctx)];
            // A worker's panic is a bug; it ends this batch as it would have ended one thread.
            batches.extend(workers.into_iter().map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e))));
            batches
        })
        .into_iter();
        let mut batch = batches.next().unwrap_or_default();
        for (mut piece, start) in batches.zip(bounds.iter().skip(1)) {
            let offset = first_line + batch.lines;
            batch.requests.append(&mut piece.requests);
            batch.line_ends.extend(piece.line_ends.iter().map(|e| e + start));
            batch.skipped += piece.skipped;
            batch.rejected += piece.rejected;
            batch.repaired += piece.repaired;
            for (line, why, text) in piece.first_rejects {
                if batch.first_rejects.len() < REJECT_EXAMPLES {
                    batch.first_rejects.push((offset + line, why, text));
                }
            }
            batch.lines += piece.lines;
        }
        clamp(batch)
    }

    /// Reads `body` (whole lines, without the last one's newline; empty, it
    /// is one blank line) on this thread.
    fn read_piece(&self, parser: &mut streamtally_parse::log::LogParser, body: &[u8], first_line: usize, ctx: &LogContext<'_>) -> LogBatch {
        let mut batch = LogBatch::default();
        let mut memo = BatchMemo::default();
        let lines = memchr::memchr_iter(b'\n', body).count() + 1;
        batch.requests.reserve(lines);
        batch.line_ends.reserve(lines);
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
            let parsed = parser.parse_line(&line).and_then(|l| match l {
                streamtally_parse::log::Line::Request(req) => match ctx.accept.check(req.ts) {
                    Ok(()) => Ok(streamtally_parse::log::Line::Request(req)),
                    Err(why) => Err(streamtally_parse::log::LineError(why)),
                },
                skip => Ok(skip),
            });
            match parsed {
                Ok(streamtally_parse::log::Line::Request(req)) => {
                    batch.repaired += usize::from(req.repaired);
                    // Past the newline; the caller clamps the last line to its text.
                    batch.line_ends.push(end + 1);
                    let mut r = self.enrich_request(req, ctx.secret, ctx.opts, ctx.segment_length, &mut memo);
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

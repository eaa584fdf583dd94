//! Log lines read in batches: a chunk split at line ends over the cores,
//! each piece parsed and enriched under the tenant's [`LogContext`] (time
//! bounds, segment lengths, catalogue bitrates), the requests handed back in
//! line order with what could not be read.

use streamtally_model::{EnrichedRequest, Micros, Text};

use crate::request::BatchMemo;
use crate::{DeviceSecret, EnrichOptions, Enricher};
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
    /// Only the lines of this shard's client addresses (the rest are skipped).
    pub shard: Option<crate::Shard>,
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
            shard: None,
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
                Ok(streamtally_parse::log::Line::Request(req)) if ctx.shard.is_some_and(|s| !s.takes(req.ip)) => batch.skipped += 1,
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
}

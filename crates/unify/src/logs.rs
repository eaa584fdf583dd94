//! The log path (spec §3 audio-log, video-log, downloads; §4; §5): one
//! enriched log request against a tenant's state, after the log filters.

use streamtally_model::{ContentKind, EnrichedRequest, Fact, FactKind, Micros, RequestKind, Source, VideoLogTime};

use crate::filters::{log_filter, source_of, Dropped};
use crate::state::{TenantState, UserClass};
use crate::windows::{open_window, push_covered, DeviceContentRef};

/// Bytes `[first, first + sent)` of a file, when they fit the span's width
/// (files up to 4 GiB).
fn byte_span(first: u64, sent: u64) -> Option<(u32, u32)> {
    let to = u32::try_from(first.checked_add(sent)?).ok()?;
    (sent > 0).then_some((first as u32, to))
}
use crate::EngineSettings;

impl TenantState {
    /// Counts one admitted log request for the audience; returns why it
    /// counts for none, if it does not.
    pub(crate) fn count_request<'a>(
        &mut self,
        settings: &EngineSettings,
        lsn: u64,
        (r, property): (&'a EnrichedRequest, &'a str),
        out: &mut Vec<Fact<'a>>,
    ) -> Result<(), Dropped> {
        log_filter(r, settings)?;
        let ts = r.ts;
        let fact = |kind: FactKind, at: Micros, value: f64, source: Source| Fact {
            kind,
            ts: at,
            value,
            device_key: r.device_key,
            content_id: r.content_id.as_deref(),
            playback_id: r.playback_id.as_deref(),
            source,
            property,
            content_kind: r.content_kind,
            media: r.media,
            referrer_host: r.referrer_host.as_deref(),
            client: &r.client,
            geo: &r.geo,
            user_id: None,
            dimensions: None,
            span: None,
            near: None,
            bitrate: None,
            access_code: None,
            served: None,
            lsn,
        };
        let source = source_of(r);
        let content = r.content_id.as_deref().unwrap_or_default();
        let class = if r.content_kind == Some(ContentKind::Live) {
            UserClass::Live
        } else {
            UserClass::OnDemand
        };
        if self.note_user(r.device_key, Some(class), ts, settings).is_some() {
            let mut f = fact(FactKind::User, ts, 1.0, source);
            f.playback_id = None;
            out.push(f);
        }
        if self.note_view(r.device_key, content, ts, settings) {
            out.push(fact(FactKind::View, ts, 1.0, source));
        }
        let sid_key;
        let key = match &r.playback_id {
            Some(sid) => {
                sid_key = format!("sid:{sid}");
                sid_key.as_str()
            }
            None => content,
        };
        match r.kind {
            // A whole file taken (no Range, or from 0 to the end) is a download.
            RequestKind::AudioFile if r.status == 200 && r.range.is_none_or(|(a, b)| a == 0 && b.is_none()) => {
                if open_window(&mut self.downloads, DeviceContentRef(r.device_key, content), ts, settings.start_window) {
                    // The whole file: its size, which byte ranges are shares of (spec §8c).
                    let mut download = fact(FactKind::Download, ts, 1.0, Source::Download);
                    download.span = byte_span(0, r.bytes);
                    out.push(download);
                }
            }
            // Byte ranges of one listener add up within the start window.
            RequestKind::AudioFile if r.status == 206 => {
                let kbps = r.bitrate_kbps.filter(|b| *b > 0.0).unwrap_or(settings.default_audio_kbps);
                let secs = r.bytes as f64 / (kbps * 1000.0 / 8.0);
                let play = self.log_play(r.device_key, key, ts, settings, |at| out.push(fact(FactKind::Start, at, 1.0, Source::AudioLog)));
                play.played += secs;
                // Spec §8c from logs: the bytes this range sent, and those
                // this start newly covered (retention maps bytes to shares
                // of the file when asked).
                // A closed range never spans past its last byte (a log's byte
                // count may include the answer's headers).
                let span = r
                    .range
                    .and_then(|(first, last)| byte_span(first, last.map_or(r.bytes, |l| r.bytes.min(l.saturating_sub(first) + 1))));
                let mut time = fact(FactKind::Time, ts, secs, Source::AudioLog);
                time.span = span;
                out.push(time);
                if let Some(span) = span {
                    push_covered(fact(FactKind::Covered, play.start_at, 0.0, Source::AudioLog), &mut play.covered, span, out);
                }
                if !play.streamed && play.played >= settings.stream_min_audio {
                    play.streamed = true;
                    out.push(fact(FactKind::Stream, play.start_at, 1.0, Source::AudioLog));
                }
            }
            // Video-log: a manifest request of a new playback is a start.
            RequestKind::Manifest => {
                let play = self.log_play(r.device_key, key, ts, settings, |at| out.push(fact(FactKind::Start, at, 1.0, source)));
                if r.playback_id.is_some() {
                    play.cmcd_quality(r, |kind, at, value| out.push(fact(kind, at, value, source)));
                }
            }
            // Segments: the device is active in that minute (live concurrency);
            // live audio segments start an audio-log playback (200 for HLS/live audio).
            RequestKind::Segment => {
                if let Some(minute) = self.note_active(r.device_key, content, ts) {
                    out.push(fact(FactKind::Active, minute, 1.0, source));
                }
                let play = self.log_play(r.device_key, key, ts, settings, |at| {
                    if source == Source::AudioLog {
                        out.push(fact(FactKind::Start, at, 1.0, source));
                    }
                });
                if r.playback_id.is_some() {
                    play.cmcd_quality(r, |kind, at, value| out.push(fact(kind, at, value, source)));
                }
                let secs = r.segment_seconds.unwrap_or(0.0);
                // Time of segments (spec §3): a CMCD session counts the durations
                // of its distinct media objects; without one, audio segments
                // count theirs, and video segments only when the tenant opted in.
                let counts = match (&r.playback_id, r.media_object) {
                    (Some(_), Some(object)) => play.objects.first_time(object),
                    (Some(_), None) => true,
                    (None, _) => source == Source::AudioLog || settings.video_log_time == VideoLogTime::Segments,
                };
                if counts && secs > 0.0 {
                    play.played += secs;
                    let mut time = fact(FactKind::Time, ts, secs, source);
                    time.bitrate = r.bitrate_kbps.filter(|b| *b > 0.0);
                    out.push(time);
                }
                if source == Source::AudioLog && !play.streamed && play.played >= settings.stream_min_audio {
                    play.streamed = true;
                    out.push(fact(FactKind::Stream, play.start_at, 1.0, source));
                }
            }
            // Whole video files and 206 of them: a request only (video-log).
            RequestKind::VideoFile => {
                self.log_play(r.device_key, key, ts, settings, |at| out.push(fact(FactKind::Start, at, 1.0, Source::VideoLog)));
            }
            RequestKind::AudioFile | RequestKind::Other => {}
        }
        Ok(())
    }
}

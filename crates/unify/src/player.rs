//! The player path (spec §3 player, §4, §5, §6): one enriched player event
//! against a tenant's state, and the facts it makes true.

use std::borrow::Cow;

use streamtally_model::{ContentKind, EnrichedEvent, EventType, Fact, FactKind, Micros, Source, MICROS_PER_SEC, OWNER_WINDOW};

use crate::state::{PlaybackState, TenantState, UserClass};
use crate::windows::{cover, day_bounds, open_window, push_covered, DayCover, DeviceContentRef};
use crate::EngineSettings;

/// The most seconds of a content a position can name (over 11 days): a
/// position past it is no position.
const MAX_POSITION: f64 = 1_000_000.0;

/// Spec §8c: the whole seconds of the content a `playing` report with
/// `position` p and `duration` d covers, `[round(p - d), round(p))`.
fn content_span(position: Option<f64>, secs: f64) -> Option<(u32, u32)> {
    let p = position.filter(|p| p.is_finite() && (0.0..=MAX_POSITION).contains(p))?;
    let (from, to) = ((p - secs).round().max(0.0) as u32, p.round() as u32);
    (to > from).then_some((from, to))
}

/// The longest interval one `playing` report can cover for attendance: a
/// report claiming more is cut to it (so attendance state can be swept a
/// bounded time after its day ended).
pub(crate) const MAX_COVER: Micros = 6 * 3600 * MICROS_PER_SEC;

impl TenantState {
    /// Counts one admitted player event; bots count nothing (spec §2).
    /// Returns the user it was counted for when the event named none (its
    /// playback's, spec §8b).
    pub(crate) fn count_event<'a>(&mut self, settings: &EngineSettings, lsn: u64, input: &'a EnrichedEvent, out: &mut Vec<Fact<'a>>) -> Option<String> {
        if input.client.bot {
            return None;
        }
        let ev = &input.event;
        let ts = ev.ts;
        let property = ev.property.as_deref().unwrap_or(streamtally_model::PROPERTY_OTHERS);
        // Spec §8b: the event's user, else the one its playback named before
        // in this start.
        let named = self
            .current_playback(ev.playback_id.as_ref(), ts, settings.start_window)
            .and_then(|pb| pb.user());
        let user: Option<Cow<'a, str>> = match (&ev.user_id, named) {
            (Some(u), _) => Some(Cow::Borrowed(u)),
            (None, Some(u)) => Some(Cow::Owned(u.clone())),
            (None, None) => None,
        };
        let first = out.len();
        let fact = |kind: FactKind, at: Micros, value: f64, source: Source| Fact {
            kind,
            ts: at,
            value,
            device_key: input.device_key,
            content_id: ev.content_id.as_deref(),
            playback_id: ev.playback_id.as_deref(),
            source,
            property,
            content_kind: ev.content_kind,
            media: ev.media,
            referrer_host: input.referrer_host.as_deref(),
            client: &input.client,
            geo: &input.geo,
            user_id: user.clone(),
            dimensions: (!ev.dimensions.is_empty()).then_some(&ev.dimensions),
            span: None,
            near: None,
            bitrate: None,
            access_code: None,
            served: None,
            lsn,
        };
        let class = UserClass::of(ev.content_id.is_some(), ev.content_kind);
        if let Some(opened) = self.note_user(input.device_key, class, ts, settings) {
            let mut f = fact(FactKind::User, ts, 1.0, Source::Player);
            f.playback_id = None;
            if opened == UserClass::Live {
                f.content_kind = Some(ContentKind::Live);
            }
            out.push(f);
        }
        // Views (spec §4): a request of a content opens a `view_window`.
        if let (Some(content), EventType::PlaybackStart | EventType::Play | EventType::Playing) = (&ev.content_id, ev.event_type) {
            if self.note_view(input.device_key, content, ts, settings) {
                out.push(fact(FactKind::View, ts, 1.0, Source::Player));
            }
        }
        // Live activity (spec §5): a `playing` report makes its device active
        // in that minute of the content.
        if let (Some(content), EventType::Playing) = (&ev.content_id, ev.event_type) {
            if let Some(minute) = self.note_active(input.device_key, content, ts) {
                out.push(fact(FactKind::Active, minute, 1.0, Source::Player));
            }
        }
        // Attendance (spec §6): the interval a `playing` report covers joins
        // the union of its code's intervals on that content and day.
        if let (Some(content), Some(code), EventType::Playing) = (&ev.content_id, &ev.access_code, ev.event_type) {
            let secs = ev.duration.unwrap_or(0.0);
            if secs > 0.0 {
                let mut from = ts - ((secs * MICROS_PER_SEC as f64).round() as Micros).min(MAX_COVER);
                while from < ts {
                    let (day_start, day_end) = day_bounds(from, settings.tz);
                    // A day always ends after `from`; should a zone's rules say
                    // otherwise, the rest of the interval stays on this day.
                    let to = if day_end > from { ts.min(day_end) } else { ts };
                    let day = self.attendance.entry((code.clone(), content.clone(), day_start)).or_insert_with(|| DayCover {
                        day_end,
                        intervals: Vec::new(),
                    });
                    for (a, b) in cover(&mut day.intervals, from, to) {
                        let mut f = fact(FactKind::Attended, a, (b - a) as f64 / MICROS_PER_SEC as f64, Source::Player);
                        f.access_code = Some(code);
                        out.push(f);
                    }
                    from = to;
                }
            }
        }
        match (ev.event_type, &ev.playback_id) {
            (EventType::Play | EventType::Playing, Some(pid)) => {
                let pb = self.playbacks.entry(pid.clone()).or_insert_with(|| PlaybackState::new(ts));
                // The start window closed (or, before any start, the playback
                // was silent that long): what follows belongs to a new start.
                if pb.expired_at(ts, settings.start_window) {
                    *pb = PlaybackState::new(ts);
                }
                pb.last_ts = pb.last_ts.max(ts);
                if ev.event_type == EventType::Play && pb.start_at.is_none() {
                    pb.start_at = Some(ts);
                    out.push(fact(FactKind::Start, ts, 1.0, Source::Player));
                    out.push(fact(FactKind::Attempt, ts, 1.0, Source::Player));
                }
                if ev.event_type == EventType::Playing {
                    let secs = ev.duration.unwrap_or(0.0);
                    // Spec §8d: the start's first frame ends its startup, and
                    // a bitrate unlike the last report's is a switch.
                    if let (Some(start), false) = (pb.start_at, pb.began) {
                        pb.began = true;
                        // A start that failed before its first frame stays a
                        // failure (no startup), whatever it played after a recovery.
                        if !pb.failed {
                            let measured = ((ts - start) as f64 / MICROS_PER_SEC as f64 - secs).max(0.0);
                            out.push(fact(FactKind::Startup, start, ev.startup.unwrap_or(measured), Source::Player));
                        }
                    }
                    if let Some(kbps) = ev.bitrate.filter(|b| *b > 0.0).map(|b| b as f32) {
                        if pb.bitrate > 0.0 && pb.bitrate != kbps {
                            out.push(fact(FactKind::Switch, ts, 1.0, Source::Player));
                        }
                        pb.bitrate = kbps;
                    }
                    if secs > 0.0 {
                        pb.played += secs;
                        let span = content_span(ev.position, secs);
                        let mut time = fact(FactKind::Time, ts, secs, Source::Player);
                        time.span = span;
                        time.bitrate = ev.bitrate.filter(|b| *b > 0.0);
                        out.push(time);
                        // Spec §8c: the pieces this start newly covered, at its time.
                        if let (Some(span), Some(start)) = (span, pb.start_at) {
                            push_covered(fact(FactKind::Covered, start, 0.0, Source::Player), &mut pb.more().covered, span, out);
                        }
                    }
                }
                if let Some(start) = pb.start_at {
                    if !pb.streamed && pb.played >= settings.stream_min_player {
                        pb.streamed = true;
                        out.push(fact(FactKind::Stream, start, 1.0, Source::Player));
                    }
                }
            }
            // Spec §8d: stalls after the first frame (before it, they are
            // part of the startup time), and errors.
            (EventType::Buffering, pid) if self.current_playback(pid.as_ref(), ts, settings.start_window).is_some_and(|pb| pb.began) => {
                out.push(fact(FactKind::Stall, ts, ev.duration.unwrap_or(0.0), Source::Player));
            }
            (EventType::Error, pid) => {
                let current = self
                    .current_playback(pid.as_ref(), ts, settings.start_window)
                    .filter(|pb| pb.start_at.is_some());
                match (ev.fatal, current) {
                    (true, Some(pb)) if !pb.failed => {
                        pb.failed = true;
                        let before_first_frame = if pb.began { 0.0 } else { 1.0 };
                        out.push(fact(FactKind::Failure, pb.start_at.unwrap_or(ts), before_first_frame, Source::Player));
                    }
                    // Errors that end no start (or one already ended): counted apart.
                    _ => out.push(fact(FactKind::Fault, ts, 1.0, Source::Player)),
                }
            }
            (EventType::FileDownloaded, _) => {
                if let Some(content) = &ev.content_id {
                    if open_window(&mut self.downloads, DeviceContentRef(input.device_key, content), ts, settings.start_window) {
                        out.push(fact(FactKind::Download, ts, 1.0, Source::Download));
                    }
                }
            }
            _ => {}
        }
        // Spec §8b: facts of this start counted without a user, and then the
        // playback names one: an `Owner` fact gives them to that user — the
        // stretch from the first of them to the naming (its later facts carry
        // the user themselves).
        let unowned = out[first..].iter().any(|f| f.playback_id.is_some() && f.user_id.is_none());
        if let Some(pb) = self.current_playback(ev.playback_id.as_ref(), ts, settings.start_window) {
            if unowned && pb.more.as_ref().is_none_or(|m| m.first_unowned.is_none()) {
                pb.more().first_unowned = Some(ts);
            }
            if let (None, Some(named)) = (pb.user(), &ev.user_id) {
                let more = pb.more();
                more.user = Some(named.clone());
                if let Some(since) = more.first_unowned.filter(|t| ts - t < OWNER_WINDOW) {
                    out.push(fact(FactKind::Owner, since, (ts - since) as f64 / MICROS_PER_SEC as f64, Source::Player));
                }
            }
        }
        match (&ev.user_id, user) {
            (None, Some(carried)) => Some(carried.into_owned()),
            _ => None,
        }
    }
}

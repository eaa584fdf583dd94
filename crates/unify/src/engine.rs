use std::hash::{Hash, Hasher};

use hashbrown::hash_map::EntryRef;
use hashbrown::{Equivalent, HashMap as FastMap};

use chrono::TimeZone;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use streamtally_model::{
    duration_micros, ClientFamily, ContentKind, DeviceKey, EnrichedEvent, EnrichedRequest, EventType, Fact, FactKind, Geo, Micros, RequestKind, Served,
    Settings, Source, TenantId, Text, MICROS_PER_SEC,
};

/// How far behind a tenant's latest event time an input may arrive and still
/// meet the state it belongs to. Later inputs are counted as if their key were new.
pub const LATENESS: Micros = 3600 * MICROS_PER_SEC;
/// The watermark must move this far before state is swept again: a sweep
/// visits every key, so it must not come every few inputs of a busy log.
const SWEEP_EVERY: Micros = 10 * 60 * MICROS_PER_SEC;
/// …and at least one input per this many keys held must have come since the
/// last sweep: a sweep then visits at most this many keys per input however
/// far apart in time the inputs are (a log of one request per device per
/// hour swept every few thousand lines and spent most of its time there).
const SWEEP_KEYS_PER_INPUT: usize = 8;

/// A state key of a device and a content.
type DeviceContent = (DeviceKey, String);

/// Looks up a [`DeviceContent`] key without building one (no allocation per
/// input); hashes exactly as the owned tuple does.
struct DeviceContentRef<'a>(DeviceKey, &'a str);

impl Hash for DeviceContentRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.hash(h);
        self.1.hash(h);
    }
}

impl Equivalent<DeviceContent> for DeviceContentRef<'_> {
    fn equivalent(&self, key: &DeviceContent) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

impl From<&DeviceContentRef<'_>> for DeviceContent {
    fn from(r: &DeviceContentRef<'_>) -> Self {
        (r.0, r.1.to_string())
    }
}

/// Opens a window for `key` at `ts` unless one began less than `length` before.
fn open_window(map: &mut FastMap<DeviceContent, Micros>, key: DeviceContentRef<'_>, ts: Micros, length: Micros) -> bool {
    match map.entry_ref(&key) {
        EntryRef::Occupied(e) => {
            let began = e.into_mut();
            if ts < *began + length {
                return false;
            }
            *began = ts;
            true
        }
        EntryRef::Vacant(e) => {
            e.insert(ts);
            true
        }
    }
}

const MINUTE: Micros = 60 * MICROS_PER_SEC;

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
        }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings::from(&Settings::default())
    }
}

/// One playback (player source), unified by its `playback_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PlaybackState {
    /// When the current start began; `None` before the first `play`.
    start_at: Option<Micros>,
    /// Seconds of playback reported since the current start (or before the first).
    played: f64,
    streamed: bool,
    last_ts: Micros,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct UserSession {
    began: Micros,
    last_active: Micros,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct TenantState {
    watermark: Micros,
    swept_at: Micros,
    /// Inputs since the last sweep (not kept in snapshots: a restart sweeps a little early).
    #[serde(skip)]
    since_sweep: usize,
    playbacks: FastMap<String, PlaybackState>,
    /// (device, content) → when the current download window began.
    downloads: FastMap<DeviceContent, Micros>,
    /// (device, content) → when the current view began.
    views: FastMap<DeviceContent, Micros>,
    users: FastMap<DeviceKey, UserSession>,
    /// (device, content) → the minutes it was active in lately (spec §5).
    active: FastMap<DeviceContent, RecentMinutes>,
    /// (access code, content, day start) → what that code covered that day (spec §6).
    attendance: FastMap<(String, String, Micros), DayCover>,
    /// Log playbacks: (device, content or `sid:` + CMCD session) → the current start (spec §3).
    log_plays: FastMap<DeviceContent, LogPlay>,
}

/// One start known from logs, unified by device key + content for `start_window`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct LogPlay {
    start_at: Micros,
    /// Seconds consumed (audio: from bytes).
    played: f64,
    streamed: bool,
}

/// Why a log request counts for no audience metric (it may still count as CDN traffic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
        }
    }
}

/// Which source's metrics a log request feeds (spec §3).
pub fn source_of(r: &EnrichedRequest) -> Source {
    match r.kind {
        RequestKind::AudioFile => Source::AudioLog,
        RequestKind::Segment if r.media == Some(streamtally_model::Media::Audio) && r.content_kind != Some(ContentKind::Vod) => Source::AudioLog,
        _ => Source::VideoLog,
    }
}

/// CDN traffic (spec §7) of the log requests of one input batch, bots
/// included, summed per 5-minute bucket, zone, POP, status, cache status and
/// source: one fact per sum instead of one per line, since CDN metrics need
/// no more (and a busy CDN log has thousands of lines per bucket).
#[derive(Debug, Default)]
pub struct CdnTally {
    sums: FastMap<CdnKey, (u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct CdnKey {
    bucket: Micros,
    status: u16,
    cache_status: Option<Text>,
    pop: Option<Text>,
    zone: Option<Text>,
    source: Source,
}

/// CDN buckets are five minutes long.
pub const CDN_BUCKET: Micros = 5 * 60 * MICROS_PER_SEC;

impl CdnTally {
    pub fn add(&mut self, r: &EnrichedRequest) {
        let key = CdnKey {
            bucket: r.ts.div_euclid(CDN_BUCKET) * CDN_BUCKET,
            status: r.status,
            cache_status: r.cache_status.clone(),
            pop: r.pop.clone(),
            zone: r.zone.clone(),
            source: source_of(r),
        };
        let sum = self.sums.entry(key).or_default();
        sum.0 += 1;
        sum.1 += r.bytes;
    }

    /// The sums as `request` facts (in a fixed order), leaving the tally empty.
    pub fn drain_into(&mut self, lsn: u64, out: &mut Vec<Fact<'_>>) {
        let mut sums: Vec<(CdnKey, (u64, u64))> = self.sums.drain().collect();
        sums.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (k, (requests, bytes)) in sums {
            out.push(Fact {
                kind: FactKind::Request,
                ts: k.bucket,
                value: bytes as f64,
                // A sum over devices: it belongs to none.
                device_key: DeviceKey(0),
                content_id: None,
                playback_id: None,
                source: k.source,
                property: streamtally_model::PROPERTY_OTHERS,
                content_kind: None,
                media: None,
                referrer_host: None,
                client: &ClientFamily::UNKNOWN,
                geo: &Geo::UNKNOWN,
                user_id: None,
                access_code: None,
                served: Some(Box::new(Served {
                    requests,
                    status: k.status,
                    cache_status: k.cache_status,
                    pop: k.pop,
                    zone: k.zone,
                })),
                lsn,
            });
        }
    }
}

/// How many requests each log filter excludes (for summaries; `explain` per line).
pub fn exclusions<'a>(requests: impl IntoIterator<Item = &'a EnrichedRequest>, settings: &EngineSettings) -> std::collections::BTreeMap<&'static str, u64> {
    let mut out = std::collections::BTreeMap::new();
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

impl TenantState {
    fn keys(&self) -> usize {
        self.playbacks.len() + self.downloads.len() + self.views.len() + self.users.len() + self.active.len() + self.attendance.len() + self.log_plays.len()
    }

    fn sweep_due(&self) -> bool {
        self.watermark - self.swept_at >= SWEEP_EVERY && self.since_sweep * SWEEP_KEYS_PER_INPUT >= self.keys()
    }

    /// The log playback `key` belongs to at `ts`, opening a new start (reported
    /// to `started`) when none is open within `start_window`.
    fn log_play(&mut self, device: DeviceKey, key: &str, ts: Micros, settings: &EngineSettings, started: impl FnOnce(Micros)) -> &mut LogPlay {
        let fresh = LogPlay {
            start_at: ts,
            played: 0.0,
            streamed: false,
        };
        let mut opened = false;
        let play = match self.log_plays.entry_ref(&DeviceContentRef(device, key)) {
            EntryRef::Occupied(e) => {
                let p = e.into_mut();
                if ts >= p.start_at + settings.start_window {
                    *p = fresh;
                    opened = true;
                }
                p
            }
            EntryRef::Vacant(e) => {
                opened = true;
                e.insert(fresh)
            }
        };
        if opened {
            started(ts);
        }
        play
    }

    /// Users (spec §4): any activity; a new user after `user_idle` of silence or
    /// `user_max` of continuous activity, counted when its session began.
    fn note_user(&mut self, device: DeviceKey, ts: Micros, settings: &EngineSettings) -> bool {
        match self.users.get_mut(&device) {
            Some(s) if ts < s.began => false,
            Some(s) if ts - s.last_active <= settings.user_idle && ts - s.began < settings.user_max => {
                s.last_active = s.last_active.max(ts);
                false
            }
            _ => {
                self.users.insert(device, UserSession { began: ts, last_active: ts });
                true
            }
        }
    }

    /// Views (spec §4): true when the request opens a new `view_window`.
    fn note_view(&mut self, device: DeviceKey, content: &str, ts: Micros, settings: &EngineSettings) -> bool {
        open_window(&mut self.views, DeviceContentRef(device, content), ts, settings.view_window)
    }

    /// Live activity (spec §5): the minute's start when the device was not yet
    /// active in that minute of the content.
    fn note_active(&mut self, device: DeviceKey, content: &str, ts: Micros) -> Option<Micros> {
        let minute = ts.div_euclid(MINUTE);
        let new = match self.active.entry_ref(&DeviceContentRef(device, content)) {
            EntryRef::Occupied(e) => e.into_mut().mark(minute),
            EntryRef::Vacant(e) => {
                e.insert(RecentMinutes::new(minute));
                true
            }
        };
        new.then_some(minute * MINUTE)
    }
}

/// The minutes a device was active in, as a bit set over the 64 minutes up to
/// the latest one: enough to recognise repeats within [`LATENESS`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct RecentMinutes {
    last: i64,
    seen: u64,
}

impl RecentMinutes {
    fn new(minute: i64) -> Self {
        RecentMinutes { last: minute, seen: 1 }
    }

    /// Marks `minute`; true when it was not marked yet.
    pub(crate) fn mark(&mut self, minute: i64) -> bool {
        if minute > self.last {
            let shift = minute - self.last;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.last = minute;
            return true;
        }
        let age = self.last - minute;
        if age >= 64 {
            // Older than the set remembers; queries count distinct devices anyway.
            return true;
        }
        let bit = 1u64 << age;
        let new = self.seen & bit == 0;
        self.seen |= bit;
        new
    }
}

/// The union of the intervals an access code was playing a content on one day.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct DayCover {
    day_end: Micros,
    /// Sorted, disjoint, half-open `[from, to)` intervals.
    intervals: Vec<(Micros, Micros)>,
}

/// Adds `[from, to)` to the sorted, disjoint `intervals`; returns the pieces of it
/// that were not covered yet (so their lengths sum to the growth of the union).
pub(crate) fn cover(intervals: &mut Vec<(Micros, Micros)>, from: Micros, to: Micros) -> Vec<(Micros, Micros)> {
    let mut new = Vec::new();
    if from >= to {
        return new;
    }
    // Intervals touching [from, to) are merged with it.
    let first = intervals.partition_point(|&(_, e)| e < from);
    let mut last = first;
    let mut cursor = from;
    let (mut lo, mut hi) = (from, to);
    while last < intervals.len() && intervals[last].0 <= to {
        let (s, e) = intervals[last];
        if s > cursor {
            new.push((cursor, s.min(to)));
        }
        cursor = cursor.max(e);
        lo = lo.min(s);
        hi = hi.max(e);
        last += 1;
    }
    if cursor < to {
        new.push((cursor, to));
    }
    intervals.splice(first..last, [(lo, hi)]);
    new
}

/// The instants local midnight falls on before and after `ts` in `tz`.
fn day_bounds(ts: Micros, tz: Tz) -> (Micros, Micros) {
    let midnight = |date: chrono::NaiveDate| -> Micros {
        let local = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        match tz.from_local_datetime(&local).earliest() {
            Some(t) => t.timestamp_micros(),
            // Midnight skipped by a DST change: the day starts an hour later.
            None => tz
                .from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
                .map(|t| t.timestamp_micros())
                .unwrap_or(ts),
        }
    };
    let date = tz.timestamp_micros(ts).single().map(|t| t.date_naive()).unwrap_or_default();
    let start = midnight(date);
    let end = date.succ_opt().map(midnight).unwrap_or(start + 24 * 3600 * MICROS_PER_SEC);
    (start, end)
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Engine {
    tenants: FastMap<TenantId, TenantState>,
    #[serde(skip)]
    settings: FastMap<TenantId, EngineSettings>,
}

/// Opens a window keyed in `map` at `ts` unless one is open; true when it opened.

impl Engine {
    pub fn new() -> Self {
        Engine::default()
    }

    /// Sets a tenant's windows; inputs after this call use them.
    pub fn set_settings(&mut self, tenant: TenantId, settings: EngineSettings) {
        self.settings.insert(tenant, settings);
    }

    /// Number of keys held, for the state-size gauge and the boundedness test.
    pub fn state_keys(&self) -> usize {
        self.tenants.values().map(TenantState::keys).sum()
    }

    /// Feeds one player event; the facts it makes true are pushed to `out`.
    pub fn apply_event<'a>(&mut self, tenant: TenantId, lsn: u64, input: &'a EnrichedEvent, out: &mut Vec<Fact<'a>>) {
        let settings = self.settings.get(&tenant).copied().unwrap_or_default();
        let state = self.tenants.entry(tenant).or_default();
        let ev = &input.event;
        let ts = ev.ts;
        if ts > state.watermark {
            state.watermark = ts;
        }
        // Bots are kept as raw events but are in no audience metric (spec §2).
        if !input.client.bot {
            let property = ev.property.as_deref().unwrap_or(streamtally_model::PROPERTY_OTHERS);
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
                user_id: ev.user_id.as_deref(),
                access_code: None,
                served: None,
                lsn,
            };
            if state.note_user(input.device_key, ts, &settings) {
                let mut f = fact(FactKind::User, ts, 1.0, Source::Player);
                f.playback_id = None;
                out.push(f);
            }
            // Views (spec §4): a request of a content opens a `view_window`.
            if let (Some(content), EventType::PlaybackStart | EventType::Play | EventType::Playing) = (&ev.content_id, ev.event_type) {
                if state.note_view(input.device_key, content, ts, &settings) {
                    out.push(fact(FactKind::View, ts, 1.0, Source::Player));
                }
            }
            // Live activity (spec §5): a `playing` report makes its device active
            // in that minute of the content.
            if let (Some(content), EventType::Playing) = (&ev.content_id, ev.event_type) {
                if let Some(minute) = state.note_active(input.device_key, content, ts) {
                    out.push(fact(FactKind::Active, minute, 1.0, Source::Player));
                }
            }
            // Attendance (spec §6): the interval a `playing` report covers joins
            // the union of its code's intervals on that content and day.
            if let (Some(content), Some(code), EventType::Playing) = (&ev.content_id, &ev.access_code, ev.event_type) {
                let secs = ev.duration.unwrap_or(0.0);
                if secs > 0.0 {
                    let mut from = ts - (secs * MICROS_PER_SEC as f64).round() as Micros;
                    while from < ts {
                        let (day_start, day_end) = day_bounds(from, settings.tz);
                        // A day always ends after `from`; should a zone's rules say
                        // otherwise, the rest of the interval stays on this day.
                        let to = if day_end > from { ts.min(day_end) } else { ts };
                        let day = state.attendance.entry((code.clone(), content.clone(), day_start)).or_insert_with(|| DayCover {
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
                    let pb = state.playbacks.entry(pid.clone()).or_insert(PlaybackState {
                        start_at: None,
                        played: 0.0,
                        streamed: false,
                        last_ts: ts,
                    });
                    pb.last_ts = pb.last_ts.max(ts);
                    // The start window closed: what follows belongs to a new start.
                    if pb.start_at.is_some_and(|s| ts >= s + settings.start_window) {
                        *pb = PlaybackState {
                            start_at: None,
                            played: 0.0,
                            streamed: false,
                            last_ts: ts,
                        };
                    }
                    if ev.event_type == EventType::Play && pb.start_at.is_none() {
                        pb.start_at = Some(ts);
                        out.push(fact(FactKind::Start, ts, 1.0, Source::Player));
                    }
                    if ev.event_type == EventType::Playing {
                        let secs = ev.duration.unwrap_or(0.0);
                        if secs > 0.0 {
                            pb.played += secs;
                            out.push(fact(FactKind::Time, ts, secs, Source::Player));
                        }
                    }
                    if let Some(start) = pb.start_at {
                        if !pb.streamed && pb.played >= settings.stream_min_player {
                            pb.streamed = true;
                            out.push(fact(FactKind::Stream, start, 1.0, Source::Player));
                        }
                    }
                }
                (EventType::FileDownloaded, _) => {
                    if let Some(content) = &ev.content_id {
                        if open_window(&mut state.downloads, DeviceContentRef(input.device_key, content), ts, settings.start_window) {
                            out.push(fact(FactKind::Download, ts, 1.0, Source::Download));
                        }
                    }
                }
                _ => {}
            }
        }
        state.since_sweep += 1;
        if state.sweep_due() {
            sweep(state, &settings);
        }
    }

    /// Feeds one log request (spec §3, §4, §5): those passing the log filters
    /// count as audio-log, video-log or download. Returns why it counts for no
    /// audience, if it does not. (Its CDN traffic is summed by a [`CdnTally`].)
    pub fn apply_request<'a>(&mut self, tenant: TenantId, lsn: u64, r: &'a EnrichedRequest, out: &mut Vec<Fact<'a>>) -> Result<(), Dropped> {
        let settings = self.settings.get(&tenant).copied().unwrap_or_default();
        let state = self.tenants.entry(tenant).or_default();
        let ts = r.ts;
        if ts > state.watermark {
            state.watermark = ts;
        }
        let fact = |kind: FactKind, at: Micros, value: f64, source: Source| Fact {
            kind,
            ts: at,
            value,
            device_key: r.device_key,
            content_id: r.content_id.as_deref(),
            playback_id: r.playback_id.as_deref(),
            source,
            property: streamtally_model::PROPERTY_OTHERS,
            content_kind: r.content_kind,
            media: r.media,
            referrer_host: r.referrer_host.as_deref(),
            client: &r.client,
            geo: &r.geo,
            user_id: None,
            access_code: None,
            served: None,
            lsn,
        };
        let source = source_of(r);
        let verdict = log_filter(r, &settings);
        if verdict.is_ok() {
            let content = r.content_id.as_deref().unwrap_or_default();
            if state.note_user(r.device_key, ts, &settings) {
                let mut f = fact(FactKind::User, ts, 1.0, source);
                f.playback_id = None;
                out.push(f);
            }
            if state.note_view(r.device_key, content, ts, &settings) {
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
                    let opened = open_window(&mut state.downloads, DeviceContentRef(r.device_key, content), ts, settings.start_window);
                    if opened {
                        out.push(fact(FactKind::Download, ts, 1.0, Source::Download));
                    }
                }
                // Byte ranges of one listener add up within the start window.
                RequestKind::AudioFile if r.status == 206 => {
                    let kbps = r.bitrate_kbps.filter(|b| *b > 0.0).unwrap_or(settings.default_audio_kbps);
                    let secs = r.bytes as f64 / (kbps * 1000.0 / 8.0);
                    let play = state.log_play(r.device_key, key, ts, &settings, |at| {
                        out.push(fact(FactKind::Start, at, 1.0, Source::AudioLog))
                    });
                    play.played += secs;
                    out.push(fact(FactKind::Time, ts, secs, Source::AudioLog));
                    if !play.streamed && play.played >= settings.stream_min_audio {
                        play.streamed = true;
                        out.push(fact(FactKind::Stream, play.start_at, 1.0, Source::AudioLog));
                    }
                }
                // Video-log: a manifest request of a new playback is a start.
                RequestKind::Manifest => {
                    state.log_play(r.device_key, key, ts, &settings, |at| out.push(fact(FactKind::Start, at, 1.0, source)));
                }
                // Segments: the device is active in that minute (live concurrency)
                // and watched the segment's duration; live audio segments start
                // an audio-log playback (200 for HLS/live audio).
                RequestKind::Segment => {
                    if let Some(minute) = state.note_active(r.device_key, content, ts) {
                        out.push(fact(FactKind::Active, minute, 1.0, source));
                    }
                    let secs = r.segment_seconds.unwrap_or(0.0);
                    let play = state.log_play(r.device_key, key, ts, &settings, |at| {
                        if source == Source::AudioLog {
                            out.push(fact(FactKind::Start, at, 1.0, source));
                        }
                    });
                    play.played += secs;
                    if secs > 0.0 {
                        out.push(fact(FactKind::Time, ts, secs, source));
                    }
                    if source == Source::AudioLog && !play.streamed && play.played >= settings.stream_min_audio {
                        play.streamed = true;
                        out.push(fact(FactKind::Stream, play.start_at, 1.0, source));
                    }
                }
                // Whole video files and 206 of them: a request only (video-log).
                RequestKind::VideoFile => {
                    state.log_play(r.device_key, key, ts, &settings, |at| {
                        out.push(fact(FactKind::Start, at, 1.0, Source::VideoLog))
                    });
                }
                _ => {}
            }
        }
        state.since_sweep += 1;
        if state.sweep_due() {
            sweep(state, &settings);
        }
        verdict
    }

    /// Serialises the whole state (settings excluded: they come from the store).
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        Ok(postcard::to_stdvec(self)?)
    }

    pub fn restore(bytes: &[u8]) -> Result<Engine, SnapshotError> {
        Ok(postcard::from_bytes(bytes)?)
    }
}

/// Drops state no input within [`LATENESS`] of the watermark can still change.
fn sweep(state: &mut TenantState, s: &EngineSettings) {
    let horizon = state.watermark - LATENESS;
    state
        .playbacks
        .retain(|_, p| p.last_ts.max(p.start_at.unwrap_or(p.last_ts)) + s.start_window >= horizon);
    state.downloads.retain(|_, began| *began + s.start_window >= horizon);
    state.views.retain(|_, began| *began + s.view_window >= horizon);
    state.users.retain(|_, u| u.last_active + s.user_idle >= horizon);
    state.active.retain(|_, m| (m.last + 1) * MINUTE >= horizon);
    state.attendance.retain(|_, d| d.day_end >= horizon);
    state.log_plays.retain(|_, p| p.start_at + s.start_window >= horizon);
    state.swept_at = state.watermark;
    state.since_sweep = 0;
}

#[derive(Debug, thiserror::Error)]
#[error("engine snapshot cannot be encoded or decoded: {0}")]
pub struct SnapshotError(#[from] postcard::Error);

#[cfg(test)]
pub(crate) mod tests_support {
    pub const SEC: super::Micros = super::MICROS_PER_SEC;
    pub fn recent(minute: i64) -> super::RecentMinutes {
        super::RecentMinutes::new(minute)
    }
}

//! Facts: the additive results of counting, emitted when they become true.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ClientFamily, ContentKind, DeviceKey, Geo, Media, Micros, Text};

/// What a fact says happened. `value` is 1 for every kind but `Time`,
/// `Attended`, `Request` and `Owner` (each says what its value is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FactKind {
    Start,
    Stream,
    Time,
    Download,
    View,
    User,
    /// A device active (playing) in one minute of one content (spec §5); `ts` is
    /// the minute's start. Concurrent viewers = distinct device keys per minute.
    Active,
    /// Seconds an access code newly covered of a content on one day (spec §6):
    /// `ts` is where the newly covered piece begins, `value` its length. Their sum
    /// per (code, content, day) is the union of the playing intervals.
    Attended,
    /// Requests a CDN or server served (spec §7), bots included, summed per
    /// 5-minute bucket and response: `value` is the bytes sent, the count and
    /// the response are in [`Fact::served`].
    Request,
    /// Whole seconds of an on-demand content a start newly covered (spec
    /// §8c): [`Fact::span`] is the piece, `value` its seconds, `ts` the
    /// start's time. A start's pieces never overlap, so retention counts
    /// starts, not re-watches.
    Covered,
    /// A playback named its user only after some facts of its start were
    /// counted without one (spec §8b: a playback belongs to the user any of
    /// its events names): its facts of no user from `ts` (the first of them)
    /// for `value` seconds (to the naming event) are this user's. It counts
    /// nothing itself.
    Owner,
    /// A player start whose first frame is watched for (spec §8d), at the
    /// start's time: emitted with the start from the release that counts
    /// quality on, so starts counted before it are no exits before start.
    Attempt,
    /// A start's startup time (spec §8d): `value` is the seconds from its
    /// `play` to its first frame (or the player's or CMCD's own figure), `ts`
    /// the start's time. One per start that began playing; percentiles are
    /// taken over these raw values, so they merge across any buckets.
    Startup,
    /// A rebuffering (spec §8d) after the first frame: `value` is the seconds
    /// stalled (0 when the source says a stall happened but not how long).
    Stall,
    /// Seconds stalled that a CMCD session reported (`bsd` growing) on a
    /// request that counted no stall: seconds of rebuffering, no stall.
    Stalled,
    /// A start's fatal error (spec §8d), at the start's time, once per start:
    /// `value` is 1 when it came before the first frame (that start is then
    /// no exit before start), else 0.
    Failure,
    /// An error that was not fatal (spec §8d: counted apart).
    Fault,
    /// A change of bitrate between consecutive reports of a playback (spec §8d).
    Switch,
}

/// The longest stretch an [`FactKind::Owner`] fact owns: a query of facts
/// from `from` looks for owners from `from - OWNER_WINDOW`. A day: a viewer
/// who signs in later than that after a start's first anonymous fact keeps
/// those facts anonymous, and one user's activity reads a day of owners
/// more than its range, not a week.
pub const OWNER_WINDOW: Micros = 86_400 * 1_000_000;

impl FactKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FactKind::Start => "start",
            FactKind::Stream => "stream",
            FactKind::Time => "time",
            FactKind::Download => "download",
            FactKind::View => "view",
            FactKind::User => "user",
            FactKind::Active => "active",
            FactKind::Attended => "attended",
            FactKind::Request => "request",
            FactKind::Owner => "owner",
            FactKind::Covered => "covered",
            FactKind::Attempt => "attempt",
            FactKind::Startup => "startup",
            FactKind::Stall => "stall",
            FactKind::Stalled => "stalled",
            FactKind::Failure => "failure",
            FactKind::Fault => "fault",
            FactKind::Switch => "switch",
        }
    }
}

/// Where a fact's evidence came from (spec §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Source {
    Player,
    AudioLog,
    VideoLog,
    Download,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Player => "player",
            Source::AudioLog => "audio-log",
            Source::VideoLog => "video-log",
            Source::Download => "download",
        }
    }
}

/// One counted thing, with the dimensions it can be grouped and filtered by.
/// Facts live only from the engine to the store's columns, so they borrow the
/// input's texts (a request yields three facts or so; copying its dimensions
/// into each cost the import more than counting did).
#[derive(Debug, Clone, PartialEq)]
pub struct Fact<'a> {
    pub kind: FactKind,
    /// The moment the fact is attributed to (a start's time, a view's first request…).
    pub ts: Micros,
    pub value: f64,
    pub device_key: DeviceKey,
    pub content_id: Option<&'a str>,
    pub playback_id: Option<&'a str>,
    pub source: Source,
    pub property: &'a str,
    pub content_kind: Option<ContentKind>,
    pub media: Option<Media>,
    pub referrer_host: Option<&'a str>,
    pub client: &'a ClientFamily,
    pub geo: &'a Geo,
    /// The event's own user, else the one its playback named before (owned
    /// text then: the engine's state holds it, not the input).
    pub user_id: Option<Cow<'a, str>>,
    /// Whole seconds of the content `[from, to)`: on `Time` facts of a
    /// `playing` report with a position, the piece it played; on `Covered`
    /// facts, the piece newly covered (spec §8c).
    pub span: Option<(u32, u32)>,
    /// On `Covered` facts: where the start's coverage nearest the piece
    /// ended on its left and began on its right when the piece was counted
    /// (0 and `u32::MAX`: nothing there), so a retention section that two
    /// pieces of one start touch is counted for the first of them only.
    pub near: Option<(u32, u32)>,
    /// The bitrate (kbps) the piece was played at, on `Time` facts whose
    /// report or segment said it (spec §8d: bitrate weighted by time).
    pub bitrate: Option<f64>,
    /// The free dimensions of the player event it came from (issue 15:
    /// `group_by=dim:NAME`); `None` when the event had none.
    pub dimensions: Option<&'a BTreeMap<String, String>>,
    /// The verified access code; only on `Attended` facts (attendance consent, spec §6).
    pub access_code: Option<&'a str>,
    /// The responses summed, on `Request` facts only (boxed: the other kinds,
    /// nearly all facts, stay small to move).
    pub served: Option<Box<Served>>,
    /// WAL position of the input that produced it: replay skips what is stored.
    pub lsn: u64,
}

/// How a request was answered (spec §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Served {
    /// How many requests this fact sums.
    pub requests: u64,
    pub status: u16,
    /// Upper case as logged: `HIT`, `MISS`, `EXPIRED`, …
    pub cache_status: Option<Text>,
    pub pop: Option<Text>,
    pub zone: Option<Text>,
}

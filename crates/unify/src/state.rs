//! A tenant's counting state: what each window remembers, and when it may be
//! forgotten (spec §8a: never while an input within `allowed_lateness` of the
//! tenant's clock could still change what it decides).

use hashbrown::hash_map::EntryRef;
use hashbrown::HashMap as FastMap;
use serde::{Deserialize, Serialize};
use streamtally_model::{ContentKind, DeviceKey, Micros};

use crate::windows::{open_window, DayCover, DeviceContent, DeviceContentRef, RecentMinutes, MINUTE};
use crate::EngineSettings;

/// The watermark must move this far before state is swept again: a sweep
/// visits every key, so it must not come every few inputs of a busy log.
const SWEEP_EVERY: Micros = 10 * MINUTE;
/// …and at least one input per this many keys held must have come since the
/// last sweep: a sweep then visits at most this many keys per input however
/// far apart in time the inputs are.
const SWEEP_KEYS_PER_INPUT: usize = 8;

/// One playback (player source), unified by its `playback_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PlaybackState {
    /// When the current start began; `None` before the first `play`.
    pub start_at: Option<Micros>,
    /// Seconds of playback reported since the current start (or before the first).
    pub played: f64,
    pub streamed: bool,
    /// The current start showed its first frame (spec §8d).
    pub began: bool,
    /// The current start had a fatal error (spec §8d).
    pub failed: bool,
    /// The bitrate of the last report that said one (kbps; 0: none yet).
    pub bitrate: f32,
    pub last_ts: Micros,
    /// What only some playbacks need, apart: a playback of a log-less player
    /// without users or positions stays as small as before.
    pub more: Option<Box<PlaybackMore>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct PlaybackMore {
    /// The user an event of this start named first (spec §8b): its later
    /// facts carry it even when their events do not. A new start forgets it,
    /// as a sweep would.
    pub user: Option<String>,
    /// When the first fact of this start counted without a user was: an
    /// [`FactKind::Owner`](streamtally_model::FactKind::Owner) fact then names
    /// the user, once one is named.
    pub first_unowned: Option<Micros>,
    /// Whole seconds of the content this start covered, merged (spec §8c).
    pub covered: Vec<(Micros, Micros)>,
}

impl PlaybackState {
    pub fn new(ts: Micros) -> Self {
        PlaybackState {
            start_at: None,
            played: 0.0,
            streamed: false,
            began: false,
            failed: false,
            bitrate: 0.0,
            last_ts: ts,
            more: None,
        }
    }

    pub fn user(&self) -> Option<&String> {
        self.more.as_ref()?.user.as_ref()
    }

    pub fn more(&mut self) -> &mut PlaybackMore {
        self.more.get_or_insert_with(Box::default)
    }

    /// True when nothing of this playback can still join the input at `ts`:
    /// its start window closed, or (before any start) it was silent for as
    /// long. The same rule decides when it may be swept, so a swept playback
    /// and a kept one count a late input alike.
    pub fn expired_at(&self, ts: Micros, start_window: Micros) -> bool {
        ts >= self.start_at.unwrap_or(self.last_ts) + start_window
    }
}

/// Users are counted apart for live and on-demand content (spec §4, source 003).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) enum UserClass {
    OnDemand,
    Live,
}

impl UserClass {
    /// The class of an input about a content of `kind`; `None` for an input
    /// about no content (a login, a loaded player without content).
    pub fn of(has_content: bool, kind: Option<ContentKind>) -> Option<UserClass> {
        match (has_content, kind) {
            (_, Some(ContentKind::Live)) => Some(UserClass::Live),
            (true, _) => Some(UserClass::OnDemand),
            (false, _) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct UserSession {
    pub began: Micros,
    pub last_active: Micros,
}

impl UserSession {
    /// Whether activity at `ts` continues this session (spec §4).
    fn continues(&self, ts: Micros, s: &EngineSettings) -> bool {
        ts - self.last_active <= s.user_idle && ts - self.began < s.user_max
    }
}

/// One start known from logs, unified by device key + content for `start_window`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogPlay {
    pub start_at: Micros,
    /// Seconds consumed (audio: from bytes).
    pub played: f64,
    pub streamed: bool,
    /// The media objects a CMCD session fetched lately, so a segment fetched
    /// twice (a retry, a rendition switch back) adds its duration once.
    pub objects: RecentObjects,
    /// What the session's CMCD said of its quality so far (spec §8d); only
    /// for sessions that sent some.
    pub qoe: Option<Box<SessionQoe>>,
    /// Bytes of an audio file this start's byte ranges covered, merged
    /// (spec §8c from logs: podcast retention without an SDK).
    pub covered: Vec<(Micros, Micros)>,
}

/// A CMCD session's quality so far (docs/COUNTING.md rule 59).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SessionQoe {
    /// Its startup was counted (or cannot be any more).
    pub started: bool,
    /// Its first request (the start's) asked urgently (`su`): CMCD v1's
    /// startup then ends at the first media request that does not.
    pub urgent_start: bool,
    pub failed: bool,
    /// The largest `bsa` and `bsd` seen: both count from the session's start.
    pub starvations: f64,
    pub starved_ms: f64,
    /// The last `sta` was `r` (rebuffering).
    pub rebuffering: bool,
    /// The last error code (`ec`) sent: an error repeated on every request
    /// is one error.
    pub error: Option<streamtally_model::Text>,
    /// The encoded bitrate of its last video (or muxed) and audio media
    /// request (kbps; 0: none yet).
    pub bitrate: f64,
    pub audio_bitrate: f64,
}

/// The last few media objects of a session, as hashes of their paths.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RecentObjects {
    ring: Vec<u64>,
    next: usize,
}

/// Players re-fetch a segment within seconds of the first fetch; 32 covers a
/// few minutes of 6-second segments in two renditions.
const RECENT_OBJECTS: usize = 32;

impl RecentObjects {
    pub fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    /// Remembers `object`; true when it was not among the recent ones.
    pub fn first_time(&mut self, object: u64) -> bool {
        if self.ring.contains(&object) {
            return false;
        }
        if self.ring.len() < RECENT_OBJECTS {
            self.ring.push(object);
        } else {
            self.ring[self.next] = object;
            self.next = (self.next + 1) % RECENT_OBJECTS;
        }
        true
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct TenantState {
    /// The tenant's clock: the newest input time counted, never ahead of an
    /// input's receive time by more than [`streamtally_model::MAX_AHEAD`].
    pub clock: Micros,
    pub swept_at: Micros,
    /// Inputs since the last sweep (not kept in snapshots: a restart sweeps a little early).
    #[serde(skip)]
    pub since_sweep: usize,
    pub playbacks: FastMap<String, PlaybackState>,
    /// (device, content) → when the current download window began.
    pub downloads: FastMap<DeviceContent, Micros>,
    /// (device, content) → when the current view began.
    pub views: FastMap<DeviceContent, Micros>,
    pub users: FastMap<(DeviceKey, UserClass), UserSession>,
    /// (device, content) → the minutes it was active in lately (spec §5).
    pub active: FastMap<DeviceContent, RecentMinutes>,
    /// (access code, content, day start) → what that code covered that day (spec §6).
    pub attendance: FastMap<(String, String, Micros), DayCover>,
    /// Log playbacks: (device, content or `sid:` + CMCD session) → the current start (spec §3).
    pub log_plays: FastMap<DeviceContent, LogPlay>,
}

impl TenantState {
    pub fn keys(&self) -> usize {
        self.playbacks.len() + self.downloads.len() + self.views.len() + self.users.len() + self.active.len() + self.attendance.len() + self.log_plays.len()
    }

    /// About how many bytes of memory the state takes: each map's slots (key,
    /// value and control byte) plus the text its keys own.
    pub fn approx_bytes(&self) -> usize {
        fn slots<K, V>(m: &FastMap<K, V>) -> usize {
            m.capacity() * (std::mem::size_of::<(K, V)>() + 1)
        }
        let text = |s: &String| s.capacity();
        slots(&self.playbacks)
            + self
                .playbacks
                .iter()
                .map(|(k, p)| {
                    text(k)
                        + p.more.as_ref().map_or(0, |m| {
                            std::mem::size_of::<PlaybackMore>()
                                + m.user.as_ref().map_or(0, text)
                                + m.covered.capacity() * std::mem::size_of::<(Micros, Micros)>()
                        })
                })
                .sum::<usize>()
            + slots(&self.downloads)
            + self.downloads.keys().map(|k| text(&k.1)).sum::<usize>()
            + slots(&self.views)
            + self.views.keys().map(|k| text(&k.1)).sum::<usize>()
            + slots(&self.users)
            + slots(&self.active)
            + self.active.keys().map(|k| text(&k.1)).sum::<usize>()
            + slots(&self.attendance)
            + self
                .attendance
                .iter()
                .map(|(k, d)| text(&k.0) + text(&k.1) + d.intervals.capacity() * 16)
                .sum::<usize>()
            + slots(&self.log_plays)
            + self
                .log_plays
                .iter()
                .map(|(k, p)| {
                    text(&k.1) + p.objects.capacity() * 8 + p.covered.capacity() * 16 + p.qoe.as_ref().map_or(0, |_| std::mem::size_of::<SessionQoe>())
                })
                .sum::<usize>()
    }

    /// Admits an input at `ts` received at `received_at` (spec §8a): an input
    /// further behind the clock than `allowed_lateness` is late; any other
    /// moves the clock, but never past its receive time plus the hour of
    /// clock skew allowed, so one input however dated cannot make others late.
    pub fn admit(&mut self, ts: Micros, received_at: Micros, s: &EngineSettings) -> Result<(), crate::Dropped> {
        if ts < self.clock.saturating_sub(s.allowed_lateness) {
            return Err(crate::Dropped::Late);
        }
        self.clock = self.clock.max(ts.min(received_at.saturating_add(streamtally_model::MAX_AHEAD)));
        Ok(())
    }

    /// Counts an input towards the next sweep, and sweeps when one is due.
    pub fn after_input(&mut self, s: &EngineSettings) {
        self.since_sweep += 1;
        if self.clock - self.swept_at >= SWEEP_EVERY && self.since_sweep * SWEEP_KEYS_PER_INPUT >= self.keys() {
            self.sweep(s);
        }
    }

    /// Drops state no admissible input (one at or after the clock less
    /// `allowed_lateness`) can still change: for each window, the rule that
    /// drops it is the rule by which such an input would open a new one.
    pub fn sweep(&mut self, s: &EngineSettings) {
        let horizon = self.clock.saturating_sub(s.allowed_lateness);
        self.playbacks.retain(|_, p| !p.expired_at(horizon, s.start_window));
        self.downloads.retain(|_, began| *began + s.start_window > horizon);
        self.views.retain(|_, began| *began + s.view_window > horizon);
        self.users.retain(|_, u| u.continues(horizon, s) || horizon < u.began);
        self.active.retain(|_, m| (m.last + 1) * MINUTE > horizon);
        self.attendance.retain(|_, d| d.day_end + crate::player::MAX_COVER > horizon);
        self.log_plays.retain(|_, p| p.start_at + s.start_window > horizon);
        self.swept_at = self.clock;
        self.since_sweep = 0;
    }

    /// The log playback `key` belongs to at `ts`, opening a new start (reported
    /// to `started`) when none is open within `start_window`.
    /// The playback `pid` while an input at `ts` still belongs to its
    /// current start: a state past its start window is as good as swept, and
    /// whether it was swept yet depends on other devices' inputs (spec §8a).
    pub fn current_playback(&mut self, pid: Option<&String>, ts: Micros, start_window: Micros) -> Option<&mut PlaybackState> {
        self.playbacks.get_mut(pid?).filter(|pb| !pb.expired_at(ts, start_window))
    }

    pub fn log_play(&mut self, device: DeviceKey, key: &str, ts: Micros, settings: &EngineSettings, started: impl FnOnce(Micros)) -> &mut LogPlay {
        let fresh = || LogPlay {
            start_at: ts,
            played: 0.0,
            streamed: false,
            objects: RecentObjects::default(),
            qoe: None,
            covered: Vec::new(),
        };
        let mut opened = false;
        let play = match self.log_plays.entry_ref(&DeviceContentRef(device, key)) {
            EntryRef::Occupied(e) => {
                let p = e.into_mut();
                if ts >= p.start_at + settings.start_window {
                    *p = fresh();
                    opened = true;
                }
                p
            }
            EntryRef::Vacant(e) => {
                opened = true;
                e.insert(fresh())
            }
        };
        if opened {
            started(ts);
        }
        play
    }

    /// Users (spec §4): any activity; a new user after `user_idle` of silence or
    /// `user_max` of continuous activity, counted when its session began, apart
    /// for live and on-demand content. Activity about no content continues the
    /// device's open sessions, or opens an on-demand one when none is open.
    /// Returns the class of the user it opened, if any.
    pub fn note_user(&mut self, device: DeviceKey, class: Option<UserClass>, ts: Micros, s: &EngineSettings) -> Option<UserClass> {
        let class = match class {
            Some(c) => c,
            None => {
                let mut continued = false;
                for c in [UserClass::OnDemand, UserClass::Live] {
                    if let Some(u) = self.users.get_mut(&(device, c)) {
                        if ts < u.began || u.continues(ts, s) {
                            u.last_active = u.last_active.max(ts);
                            continued = true;
                        }
                    }
                }
                if continued {
                    return None;
                }
                UserClass::OnDemand
            }
        };
        match self.users.get_mut(&(device, class)) {
            Some(u) if ts < u.began => None,
            Some(u) if u.continues(ts, s) => {
                u.last_active = u.last_active.max(ts);
                None
            }
            _ => {
                self.users.insert((device, class), UserSession { began: ts, last_active: ts });
                Some(class)
            }
        }
    }

    /// Views (spec §4): true when the request opens a new `view_window`.
    pub fn note_view(&mut self, device: DeviceKey, content: &str, ts: Micros, settings: &EngineSettings) -> bool {
        open_window(&mut self.views, DeviceContentRef(device, content), ts, settings.view_window)
    }

    /// Live activity (spec §5): the minute's start when the device was not yet
    /// active in that minute of the content.
    pub fn note_active(&mut self, device: DeviceKey, content: &str, ts: Micros) -> Option<Micros> {
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

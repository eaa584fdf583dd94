//! The engine state as snapshots of versions 2 to 4 held it, and its
//! upgrade, each version through the next: version 2 was written before
//! live and on-demand users were apart, media objects were remembered and
//! the clock was admitted by receive time; version 3 before playbacks
//! remembered their user (spec §8b); version 4 before starts and CMCD
//! sessions kept their quality of experience (§8d).

use hashbrown::HashMap as FastMap;
use serde::{Deserialize, Serialize};
use streamtally_model::{DeviceKey, Micros, TenantId};

use crate::state::{LogPlay, PlaybackMore, PlaybackState, RecentObjects, SessionQoe, TenantState, UserClass, UserSession};
use crate::windows::{DayCover, DeviceContent, RecentMinutes};
use crate::Engine;

#[derive(Serialize, Deserialize)]
pub(crate) struct EngineV2 {
    pub tenants: FastMap<TenantId, TenantStateV2>,
}

#[derive(Default, Serialize, Deserialize)]
pub(crate) struct TenantStateV2 {
    pub watermark: Micros,
    pub swept_at: Micros,
    pub playbacks: FastMap<String, PlaybackStateV3>,
    pub downloads: FastMap<DeviceContent, Micros>,
    pub views: FastMap<DeviceContent, Micros>,
    pub users: FastMap<DeviceKey, UserSession>,
    pub active: FastMap<DeviceContent, RecentMinutes>,
    pub attendance: FastMap<(String, String, Micros), DayCover>,
    pub log_plays: FastMap<DeviceContent, LogPlayV2>,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct LogPlayV2 {
    pub start_at: Micros,
    pub played: f64,
    pub streamed: bool,
}

impl From<TenantStateV2> for TenantStateV3 {
    fn from(v2: TenantStateV2) -> Self {
        TenantStateV3 {
            clock: v2.watermark,
            swept_at: v2.swept_at,
            playbacks: v2.playbacks,
            downloads: v2.downloads,
            views: v2.views,
            // Version 2 kept one session per device, whatever the kind: it
            // goes on as the on-demand one (a live one opens when live comes).
            users: v2.users.into_iter().map(|(d, u)| ((d, UserClass::OnDemand), u)).collect(),
            active: v2.active,
            attendance: v2.attendance,
            log_plays: v2
                .log_plays
                .into_iter()
                .map(|(k, p)| {
                    let play = LogPlayV4 {
                        start_at: p.start_at,
                        played: p.played,
                        streamed: p.streamed,
                        objects: RecentObjects::default(),
                    };
                    (k, play)
                })
                .collect(),
        }
    }
}

/// A playback before it remembered its user (versions 2 and 3).
#[derive(Clone, Copy, Serialize, Deserialize)]
pub(crate) struct PlaybackStateV3 {
    pub start_at: Option<Micros>,
    pub played: f64,
    pub streamed: bool,
    pub last_ts: Micros,
}

impl From<PlaybackStateV3> for PlaybackStateV4 {
    fn from(p: PlaybackStateV3) -> Self {
        PlaybackStateV4 {
            start_at: p.start_at,
            played: p.played,
            streamed: p.streamed,
            last_ts: p.last_ts,
            // Its facts so far may have had no user: should it name one, an
            // `Owner` fact gives them to it (harmless for facts that had one).
            more: Some(Box::new(PlaybackMore {
                first_unowned: Some(p.start_at.unwrap_or(p.last_ts)),
                ..PlaybackMore::default()
            })),
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct EngineV3 {
    pub tenants: FastMap<TenantId, TenantStateV3>,
}

/// [`TenantState`] of version 3, field for field (its log playbacks as version 4's).
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct TenantStateV3 {
    pub clock: Micros,
    pub swept_at: Micros,
    pub playbacks: FastMap<String, PlaybackStateV3>,
    pub downloads: FastMap<DeviceContent, Micros>,
    pub views: FastMap<DeviceContent, Micros>,
    pub users: FastMap<(DeviceKey, UserClass), UserSession>,
    pub active: FastMap<DeviceContent, RecentMinutes>,
    pub attendance: FastMap<(String, String, Micros), DayCover>,
    pub log_plays: FastMap<DeviceContent, LogPlayV4>,
}

impl From<TenantStateV3> for TenantStateV4 {
    fn from(v3: TenantStateV3) -> Self {
        TenantStateV4 {
            clock: v3.clock,
            swept_at: v3.swept_at,
            playbacks: v3.playbacks.into_iter().map(|(k, p)| (k, p.into())).collect(),
            downloads: v3.downloads,
            views: v3.views,
            users: v3.users,
            active: v3.active,
            attendance: v3.attendance,
            log_plays: v3.log_plays,
        }
    }
}

/// A log playback of versions 3 and 4 (before CMCD quality, spec §8d).
#[derive(Serialize, Deserialize)]
pub(crate) struct LogPlayV4 {
    pub start_at: Micros,
    pub played: f64,
    pub streamed: bool,
    pub objects: RecentObjects,
}

impl From<LogPlayV4> for LogPlay {
    fn from(p: LogPlayV4) -> Self {
        LogPlay {
            start_at: p.start_at,
            played: p.played,
            streamed: p.streamed,
            objects: p.objects,
            // Its startup, if any, is unknown: none is counted for it.
            qoe: Some(Box::new(SessionQoe {
                started: true,
                ..SessionQoe::default()
            })),
            covered: Vec::new(),
        }
    }
}

/// A playback of version 4 (before quality of experience, spec §8d).
#[derive(Serialize, Deserialize)]
pub(crate) struct PlaybackStateV4 {
    pub start_at: Option<Micros>,
    pub played: f64,
    pub streamed: bool,
    pub last_ts: Micros,
    pub more: Option<Box<PlaybackMore>>,
}

impl From<PlaybackStateV4> for PlaybackState {
    fn from(p: PlaybackStateV4) -> Self {
        PlaybackState {
            start_at: p.start_at,
            played: p.played,
            streamed: p.streamed,
            // Whether a start in progress showed a frame is unknown: taken as
            // shown, so it counts no startup, exit or early failure (it has
            // no `attempt` fact either, rule 58).
            began: p.start_at.is_some(),
            more: p.more,
            ..PlaybackState::new(p.last_ts)
        }
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct EngineV4 {
    pub tenants: FastMap<TenantId, TenantStateV4>,
}

/// [`TenantState`] of version 4, field for field.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct TenantStateV4 {
    pub clock: Micros,
    pub swept_at: Micros,
    pub playbacks: FastMap<String, PlaybackStateV4>,
    pub downloads: FastMap<DeviceContent, Micros>,
    pub views: FastMap<DeviceContent, Micros>,
    pub users: FastMap<(DeviceKey, UserClass), UserSession>,
    pub active: FastMap<DeviceContent, RecentMinutes>,
    pub attendance: FastMap<(String, String, Micros), DayCover>,
    pub log_plays: FastMap<DeviceContent, LogPlayV4>,
}

impl From<TenantStateV4> for TenantState {
    fn from(v4: TenantStateV4) -> Self {
        TenantState {
            clock: v4.clock,
            swept_at: v4.swept_at,
            since_sweep: 0,
            playbacks: v4.playbacks.into_iter().map(|(k, p)| (k, p.into())).collect(),
            downloads: v4.downloads,
            views: v4.views,
            users: v4.users,
            active: v4.active,
            attendance: v4.attendance,
            log_plays: v4.log_plays.into_iter().map(|(k, p)| (k, p.into())).collect(),
        }
    }
}

/// The engine of any older version's tenants, each upgraded to this one.
fn upgraded<S: Into<TenantState>>(tenants: FastMap<TenantId, S>) -> Engine {
    Engine::from_tenants(tenants.into_iter().map(|(t, s)| (t, s.into())).collect())
}

impl From<TenantStateV3> for TenantState {
    fn from(v3: TenantStateV3) -> Self {
        TenantStateV4::from(v3).into()
    }
}

impl From<TenantStateV2> for TenantState {
    fn from(v2: TenantStateV2) -> Self {
        TenantStateV3::from(v2).into()
    }
}

impl From<EngineV2> for Engine {
    fn from(v2: EngineV2) -> Self {
        upgraded(v2.tenants)
    }
}

impl From<EngineV3> for Engine {
    fn from(v3: EngineV3) -> Self {
        upgraded(v3.tenants)
    }
}

impl From<EngineV4> for Engine {
    fn from(v4: EngineV4) -> Self {
        upgraded(v4.tenants)
    }
}

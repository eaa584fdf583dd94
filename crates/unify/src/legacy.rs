//! The engine state as snapshots of version 2 held it, and its upgrade: a
//! data folder written before live and on-demand users were apart, media
//! objects were remembered and the clock was admitted by receive time.

use hashbrown::HashMap as FastMap;
use serde::{Deserialize, Serialize};
use streamtally_model::{DeviceKey, Micros, TenantId};

use crate::state::{LogPlay, PlaybackState, RecentObjects, TenantState, UserClass, UserSession};
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
    pub playbacks: FastMap<String, PlaybackState>,
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

impl From<TenantStateV2> for TenantState {
    fn from(v2: TenantStateV2) -> Self {
        TenantState {
            clock: v2.watermark,
            swept_at: v2.swept_at,
            since_sweep: 0,
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
                    let play = LogPlay {
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

impl From<EngineV2> for Engine {
    fn from(v2: EngineV2) -> Self {
        Engine::from_tenants(v2.tenants.into_iter().map(|(t, s)| (t, s.into())).collect())
    }
}

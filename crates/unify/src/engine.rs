use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use streamtally_model::{
    duration_micros, DeviceKey, EnrichedEvent, EventType, Fact, FactKind, Micros, Settings, Source, TenantId, MICROS_PER_SEC, PROPERTY_OTHERS,
};

/// How far behind a tenant's latest event time an input may arrive and still
/// meet the state it belongs to. Later inputs are counted as if their key were new.
pub const LATENESS: Micros = 3600 * MICROS_PER_SEC;
/// The watermark must move this far before state is swept again.
const SWEEP_EVERY: Micros = 60 * MICROS_PER_SEC;

/// The windows and thresholds the engine uses, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EngineSettings {
    pub start_window: Micros,
    pub stream_min_player: f64,
    pub user_idle: Micros,
    pub user_max: Micros,
    pub view_window: Micros,
}

impl From<&Settings> for EngineSettings {
    fn from(s: &Settings) -> Self {
        EngineSettings {
            start_window: duration_micros(s.start_window),
            stream_min_player: s.stream_min_player.as_secs_f64(),
            user_idle: duration_micros(s.user_idle),
            user_max: duration_micros(s.user_max),
            view_window: duration_micros(s.view_window),
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
    playbacks: HashMap<String, PlaybackState>,
    /// (device, content) → when the current download window began.
    downloads: HashMap<(DeviceKey, String), Micros>,
    /// (device, content) → when the current view began.
    views: HashMap<(DeviceKey, String), Micros>,
    users: HashMap<DeviceKey, UserSession>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Engine {
    tenants: HashMap<TenantId, TenantState>,
    #[serde(skip)]
    settings: HashMap<TenantId, EngineSettings>,
}

/// Opens a window keyed in `map` at `ts` unless one is open; true when it opened.
fn open_window<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Micros>, key: K, ts: Micros, length: Micros) -> bool {
    match map.get_mut(&key) {
        Some(began) if ts < *began + length => false,
        Some(began) => {
            *began = ts;
            true
        }
        None => {
            map.insert(key, ts);
            true
        }
    }
}

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
        self.tenants
            .values()
            .map(|t| t.playbacks.len() + t.downloads.len() + t.views.len() + t.users.len())
            .sum()
    }

    /// Feeds one player event; the facts it makes true are pushed to `out`.
    pub fn apply_event(&mut self, tenant: TenantId, lsn: u64, input: &EnrichedEvent, out: &mut Vec<Fact>) {
        let settings = self.settings.get(&tenant).copied().unwrap_or_default();
        let state = self.tenants.entry(tenant).or_default();
        let ev = &input.event;
        let ts = ev.ts;
        if ts > state.watermark {
            state.watermark = ts;
        }
        // Bots are kept as raw events but are in no audience metric (spec §2).
        if !input.client.bot {
            let fact = |kind: FactKind, at: Micros, value: f64, source: Source| Fact {
                kind,
                ts: at,
                value,
                device_key: input.device_key,
                content_id: ev.content_id.clone(),
                playback_id: ev.playback_id.clone(),
                source,
                property: ev.property.clone().unwrap_or_else(|| PROPERTY_OTHERS.to_string()),
                content_kind: ev.content_kind,
                media: ev.media,
                referrer_host: input.referrer_host.clone(),
                client: input.client.clone(),
                geo: input.geo.clone(),
                user_id: ev.user_id.clone(),
                lsn,
            };
            // Users (spec §4): any activity; a new user after `user_idle` of silence
            // or `user_max` of continuous activity, counted when its session began.
            let new_user = match state.users.get_mut(&input.device_key) {
                Some(s) if ts < s.began => false,
                Some(s) if ts - s.last_active <= settings.user_idle && ts - s.began < settings.user_max => {
                    s.last_active = s.last_active.max(ts);
                    false
                }
                _ => {
                    state.users.insert(input.device_key, UserSession { began: ts, last_active: ts });
                    true
                }
            };
            if new_user {
                let mut f = fact(FactKind::User, ts, 1.0, Source::Player);
                f.playback_id = None;
                out.push(f);
            }
            // Views (spec §4): a request of a content opens a `view_window`.
            if let (Some(content), EventType::PlaybackStart | EventType::Play | EventType::Playing) = (&ev.content_id, ev.event_type) {
                if open_window(&mut state.views, (input.device_key, content.clone()), ts, settings.view_window) {
                    out.push(fact(FactKind::View, ts, 1.0, Source::Player));
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
                        if open_window(&mut state.downloads, (input.device_key, content.clone()), ts, settings.start_window) {
                            out.push(fact(FactKind::Download, ts, 1.0, Source::Download));
                        }
                    }
                }
                _ => {}
            }
        }
        if state.watermark - state.swept_at >= SWEEP_EVERY {
            sweep(state, &settings);
        }
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
    state.swept_at = state.watermark;
}

#[derive(Debug, thiserror::Error)]
#[error("engine snapshot cannot be encoded or decoded: {0}")]
pub struct SnapshotError(#[from] postcard::Error);

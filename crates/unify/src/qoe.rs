//! Quality of experience from CMCD (spec §8d; docs/COUNTING.md rule 59): what
//! a CMCD session's requests say of its startup, stalls, failure and bitrate,
//! turned into the same facts the player's events give.

use streamtally_model::{EnrichedRequest, FactKind, Media, Micros, RequestKind, MICROS_PER_SEC};

use crate::state::{LogPlay, SessionQoe};

/// The most stalls one request can report (`bsa` jumping by more is cut).
const MAX_STALLS_PER_REQUEST: f64 = 100.0;

impl LogPlay {
    /// Counts the quality a request of this CMCD session reports: `emit`
    /// gets each fact's kind, time and value (spec §8d).
    pub(crate) fn cmcd_quality(&mut self, r: &EnrichedRequest, mut emit: impl FnMut(FactKind, Micros, f64)) {
        let media_bitrate = r.bitrate_kbps.filter(|b| *b > 0.0 && r.kind == RequestKind::Segment);
        // The request that opened the start: its session's quality is watched
        // from here, whatever keys it sent.
        let opened_here = self.start_at == r.ts && self.played == 0.0;
        if self.qoe.is_none() && !opened_here && r.qoe.is_none() && !r.rebuffering && media_bitrate.is_none() {
            return;
        }
        let q = self.qoe.get_or_insert_with(|| {
            Box::new(SessionQoe {
                // A session first heard of after its start says nothing of
                // that start's beginning.
                started: !opened_here,
                ..SessionQoe::default()
            })
        });
        let start_at = self.start_at;
        let none = streamtally_model::CmcdQoe::default();
        let c = r.qoe.as_deref().unwrap_or(&none);
        let state = c.state.as_deref();
        // Startup: v2 `msd`; else the first `sta=p`; else (v1) from the first
        // request, sent with `su`, to the first media request without it.
        // A v1 session that did not ask urgently at once says no startup.
        if !q.started {
            let since_start = (r.ts - start_at).max(0) as f64 / MICROS_PER_SEC as f64;
            let startup = match (c.start_delay_ms, state) {
                (Some(ms), _) => Some(ms / 1000.0),
                (None, Some("p")) => Some(since_start),
                (None, _) if c.urgent && opened_here => {
                    q.urgent_start = true;
                    None
                }
                (None, _) if !c.urgent && r.kind == RequestKind::Segment && q.urgent_start => Some(since_start),
                _ => None,
            };
            if let Some(s) = startup {
                q.started = true;
                emit(FactKind::Startup, start_at, s);
            }
        }
        // Stalls: `bsa` counts them from the session's start; else a `bs`
        // flag is one, and so is each change of state to `r`.
        let stalls = match c.starvations {
            Some(n) => {
                let new = (n - q.starvations).clamp(0.0, MAX_STALLS_PER_REQUEST);
                q.starvations = q.starvations.max(n);
                new as u32
            }
            None if state == Some("r") => u32::from(!q.rebuffering),
            None if state.is_none() && r.rebuffering => 1,
            None => 0,
        };
        q.rebuffering = state == Some("r");
        // Seconds stalled: the growth of `bsd`, on the first stall of this
        // request, else apart (a `Stalled` fact counts seconds, not stalls).
        let mut seconds = 0.0;
        if let Some(ms) = c.starved_ms {
            if ms > q.starved_ms {
                seconds = (ms - q.starved_ms) / 1000.0;
                q.starved_ms = ms;
            }
        }
        for i in 0..stalls {
            emit(FactKind::Stall, r.ts, if i == 0 { seconds } else { 0.0 });
        }
        if stalls == 0 && seconds > 0.0 {
            emit(FactKind::Stalled, r.ts, seconds);
        }
        if state == Some("f") {
            if !q.failed {
                q.failed = true;
                emit(FactKind::Failure, start_at, if q.started { 0.0 } else { 1.0 });
            }
        } else if c.error.is_some() && c.error != q.error {
            emit(FactKind::Fault, r.ts, 1.0);
        }
        q.error = c.error.clone();
        // Switches: a media request at another bitrate than the last of its
        // media (audio and video renditions switch apart).
        if let Some(kbps) = media_bitrate {
            let last = if r.media == Some(Media::Audio) {
                &mut q.audio_bitrate
            } else {
                &mut q.bitrate
            };
            if *last > 0.0 && *last != kbps {
                emit(FactKind::Switch, r.ts, 1.0);
            }
            *last = kbps;
        }
    }
}

//! The engine's memory per device (issue 17, benchmark 4): 1 million devices
//! (`STREAMTALLY_BENCH_DEVICES`), each with one open playback, view and user
//! — a `play` and a `playing` report with position, bitrate and the
//! player's startup, on one of 1 000 contents, the devices arriving over 30
//! minutes so that none of their windows closes — fed to the real engine
//! (`streamtally_unify::Engine`) at the default settings (lateness 48 h), once
//! for live contents (live minutes) and once for on-demand ones (coverage).
//! Counted by this process's allocator: the bytes the engine holds after the
//! last device minus before the first, divided by the devices; beside it the
//! resident memory's growth (the allocator's own overhead included) and the
//! engine's snapshot size. Target ≤ 200 B a device. Prints a `RESULT` line
//! for `scripts/bench`. Run: `cargo bench --bench memory`.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use streamtally_model::{ClientFamily, ContentKind, DeviceKey, EnrichedEvent, EventType, Geo, PlayerEvent, Settings, MICROS_PER_SEC};
use streamtally_unify::{Engine, EngineSettings};

/// mimalloc (the binary's allocator) counting the bytes it hands out.
struct Counting;

static HELD: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HELD.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        HELD.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HELD.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const TENANT: i64 = 1;
const CONTENTS: u64 = 1_000;
/// Events per WAL record, as a busy server's group commit makes them.
const RECORD: usize = 10_000;

fn main() {
    let devices = std::env::var("STREAMTALLY_BENCH_DEVICES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000u64);
    let mut worst = 0.0f64;
    for kind in [ContentKind::Live, ContentKind::Vod] {
        let per_device = run(devices, kind);
        worst = worst.max(per_device);
    }
    println!(
        "RESULT memory engine_bytes_per_device ours={worst:.0} peer=200 ratio={:.2} peer_is=target",
        worst / 200.0
    );
}

/// Feeds `devices` devices of contents of `kind`; the bytes a device holds.
fn run(devices: u64, kind: ContentKind) -> f64 {
    let base = 1_772_445_600 * MICROS_PER_SEC; // 2026-03-02T10:00:00Z
    let spread = 1_800 * MICROS_PER_SEC;
    let rss_before = resident_kib();
    let held_before = HELD.load(Ordering::Relaxed);
    let mut engine = Engine::new();
    engine.set_settings(TENANT, EngineSettings::from(&Settings::default()));
    let started = Instant::now();
    let (mut lsn, mut facts) = (0u64, 0usize);
    let mut batch: Vec<EnrichedEvent> = Vec::with_capacity(RECORD);
    let mut d = 0u64;
    while d < devices {
        batch.clear();
        while batch.len() < RECORD && d < devices {
            let ts = base + (d as i64 * spread) / devices as i64;
            batch.extend(device_events(d, ts, kind));
            d += 1;
        }
        lsn += 1;
        // Facts borrow the record's events: they go before the next record.
        let mut out = Vec::new();
        let received = batch.last().map_or(0, |e| e.received_at);
        engine.apply_record(TENANT, lsn, received, (&batch, &[], None), &mut out);
        facts += out.len();
    }
    drop(batch);
    let held = (HELD.load(Ordering::Relaxed) - held_before) as f64;
    let rss = resident_kib().saturating_sub(rss_before) as f64 * 1024.0;
    let secs = started.elapsed().as_secs_f64();
    let snapshot = engine.snapshot().expect("snapshot").len() as f64;
    let per = |bytes: f64| bytes / devices as f64;
    println!(
        "{kind:?}: {devices} devices ({facts} facts) in {secs:.1} s — the engine holds {:.0} B a device (allocated; its own estimate {:.0} B), resident memory grew {:.0} B a device, snapshot {:.0} B a device, {} keys",
        per(held),
        per(engine.state_bytes() as f64),
        per(rss),
        per(snapshot),
        engine.state_keys()
    );
    drop(engine);
    per(held)
}

/// A device's `play` and first `playing` of its playback.
fn device_events(d: u64, ts: i64, kind: ContentKind) -> [EnrichedEvent; 2] {
    let playback = format!("pb-{d:08x}-{:08x}", d.wrapping_mul(0x9E37_79B9) as u32);
    let content = format!("content-{}", d % CONTENTS);
    let event = |t: EventType, ts: i64| {
        let mut e = PlayerEvent::new(t, ts, &playback, &content);
        e.content_kind = Some(kind);
        EnrichedEvent {
            received_at: ts,
            event: e,
            // Keyed hashes are spread over the whole range.
            device_key: DeviceKey(d.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            referrer_host: None,
            client: ClientFamily::default(),
            geo: Geo::UNKNOWN,
        }
    };
    let play = event(EventType::Play, ts);
    let mut playing = event(EventType::Playing, ts + 10 * MICROS_PER_SEC);
    playing.event.duration = Some(10.0);
    playing.event.position = Some(10.0);
    playing.event.bitrate = Some(3_000.0);
    playing.event.startup = Some(0.8);
    [play, playing]
}

fn resident_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

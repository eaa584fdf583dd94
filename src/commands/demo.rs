//! `streamtally demo`: a server with a demo tenant and a traffic generator that
//! posts realistic player events to it over HTTP — a live event with a few
//! hundred viewers joining and leaving, on-demand videos and an audio show.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::{json, Value};
use streamtally_server::ServerConfig;
use streamtally_store::{Content, Role};

use crate::{DataArg, EnrichArgs, ServeArgs};

const TENANT: &str = "demo";
const USER_AGENTS: [&str; 5] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (SMART-TV; Linux; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/5.0 Chrome/94.0 TV Safari/537.36",
];

fn catalogue() -> Vec<Content> {
    let c = |id: &str, title: &str, kind: &str, media: &str, category: &str, show: Option<&str>| Content {
        content_id: id.into(),
        title: Some(title.into()),
        kind: Some(kind.into()),
        media: Some(media.into()),
        category: Some(category.into()),
        show: show.map(str::to_string),
        bitrate: (media == "audio").then_some(128.0),
        ..Content::default()
    };
    vec![
        c("live-keynote", "Keynote 2026 (live)", "live", "video", "events", None),
        c("vod-intro", "Product intro", "vod", "video", "marketing", None),
        c("vod-tutorial", "Getting started tutorial", "vod", "video", "education", None),
        c("vod-keynote-2025", "Keynote 2025 (recording)", "dar", "video", "events", None),
        c("pod-ep1", "Streaming Talk #1", "vod", "audio", "podcast", Some("Streaming Talk")),
        c("pod-ep2", "Streaming Talk #2", "vod", "audio", "podcast", Some("Streaming Talk")),
    ]
}

struct Viewer {
    device: String,
    playback: String,
    content: &'static str,
    kind: &'static str,
    media: &'static str,
    property: &'static str,
    ua: usize,
    next_beat: u64,
    ends_at: u64,
}

/// Posts simulated player events every second until `stop`.
fn generate(base: String, key: String, stop: Arc<AtomicBool>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(Duration::from_secs(10))).build().into();
    let mut rng = rand::rng();
    let mut viewers: Vec<Viewer> = Vec::new();
    let mut next_id = 0u64;
    let mut tick = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let now = chrono::Utc::now().to_rfc3339();
        let mut batches: Vec<Vec<Value>> = vec![Vec::new(); USER_AGENTS.len()];
        // The live audience ramps up over three minutes, then breathes around 300.
        let live_now = viewers.iter().filter(|v| v.kind == "live").count();
        let target = if tick < 180 {
            300 * tick as usize / 180
        } else {
            270 + (30.0 * ((tick as f64) / 60.0).sin()) as usize
        };
        let mut joins: Vec<(&'static str, &'static str, &'static str, &'static str, u64)> = Vec::new();
        for _ in live_now..target.min(live_now + 15) {
            joins.push(("live-keynote", "live", "video", "web", rng.random_range(120..1800)));
        }
        if rng.random_bool(0.4) {
            let (content, kind) = [("vod-intro", "vod"), ("vod-tutorial", "vod"), ("vod-keynote-2025", "dar")][rng.random_range(0..3)];
            joins.push((content, kind, "video", "web", rng.random_range(3..900)));
        }
        if rng.random_bool(0.25) {
            let content = ["pod-ep1", "pod-ep2"][rng.random_range(0..2)];
            joins.push((content, "vod", "audio", "app", rng.random_range(20..1500)));
        }
        for (content, kind, media, property, length) in joins {
            next_id += 1;
            let v = Viewer {
                device: format!("demo-device-{}", rng.random_range(0..5000)),
                playback: format!("pb-{next_id}"),
                content,
                kind,
                media,
                property,
                ua: rng.random_range(0..USER_AGENTS.len()),
                next_beat: tick + 10,
                ends_at: tick + length,
            };
            for t in ["player_loaded", "playback_start", "play"] {
                batches[v.ua].push(event(t, &now, &v, None));
            }
            viewers.push(v);
        }
        if rng.random_bool(0.05) {
            let content = ["pod-ep1", "pod-ep2"][rng.random_range(0..2)];
            let v = Viewer {
                device: format!("demo-device-{}", rng.random_range(0..5000)),
                playback: format!("dl-{tick}"),
                content,
                kind: "vod",
                media: "audio",
                property: "app",
                ua: 1,
                next_beat: 0,
                ends_at: 0,
            };
            batches[v.ua].push(event("file_downloaded", &now, &v, None));
        }
        viewers.retain(|v| {
            if tick >= v.ends_at {
                batches[v.ua].push(event(if v.kind == "live" { "pause" } else { "content_end" }, &now, v, None));
                return false;
            }
            true
        });
        for v in viewers.iter_mut().filter(|v| tick >= v.next_beat) {
            batches[v.ua].push(event("playing", &now, v, Some(10.0)));
            v.next_beat = tick + 10;
        }
        for (ua, batch) in batches.into_iter().enumerate().filter(|(_, b)| !b.is_empty()) {
            let body = Value::Array(batch).to_string();
            let sent = agent
                .post(&format!("{base}/api/v1/events"))
                .header("X-Ingest-Key", &key)
                .header("User-Agent", USER_AGENTS[ua])
                .content_type("application/json")
                .send(body);
            if let Err(e) = sent {
                tracing::warn!(error = %e, "demo generator: post failed");
            }
        }
        tick += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn event(kind: &str, ts: &str, v: &Viewer, duration: Option<f64>) -> Value {
    let mut e = json!({
        "type": kind, "ts": ts, "playback_id": v.playback, "content_id": v.content,
        "content_kind": v.kind, "media": v.media, "property": v.property, "device_id": v.device,
        "referrer": "https://www.example.com/watch",
    });
    if let Some(d) = duration {
        e["duration"] = json!(d);
    }
    e
}

pub fn run(data: PathBuf, listen: SocketAddr) -> anyhow::Result<()> {
    let limits = streamtally_server::RateLimits::default();
    let connections = streamtally_server::ConnectionLimits::default();
    let readers = streamtally_server::ReaderLimits::default();
    let args = ServeArgs {
        data: DataArg {
            data,
            meta: None,
            meta_ca: None,
        },
        listen,
        tls_cert: None,
        tls_key: None,
        trust_forwarded_for: false,
        max_body_bytes: 1024 * 1024,
        store: None,
        store_ca: None,
        node: None,
        cluster: None,
        wal_backlog_mib: streamtally_pipeline::PipelineConfig::default().wal_backlog_limit >> 20,
        enrich: EnrichArgs::default(),
        ingest_rate_per_ip: limits.per_ip,
        ingest_burst_per_ip: limits.per_ip_burst,
        ingest_rate_per_client: limits.per_client,
        ingest_burst_per_client: limits.per_client_burst,
        ingest_new_clients_per_ip: limits.new_clients_per_ip,
        ingest_new_clients_burst: limits.new_clients_burst,
        ingest_rate_per_key: limits.per_key,
        ingest_burst_per_key: limits.per_key_burst,
        access_failures_per_ip: limits.access_failures,
        auth_failures_per_ip: limits.auth_failures,
        header_timeout: connections.header_timeout,
        body_timeout: connections.body_timeout,
        max_connections: connections.max_connections,
        max_connections_per_ip: connections.max_connections_per_ip,
        max_streams_per_key: readers.streams_per_key,
        max_streams_per_tenant: readers.streams_per_tenant,
        max_queries_per_tenant: readers.queries_per_tenant,
        checkpoint_interval: Duration::from_secs(5),
    };
    let (pipeline, admin_key) = crate::commands::serve::open(&args)?;
    let meta = pipeline.meta().clone();
    let tenant = match meta.tenant_by_name(TENANT) {
        Ok(t) => t,
        Err(_) => meta.create_tenant(TENANT)?,
    };
    meta.upsert_contents(tenant.id, &catalogue())?;
    let ingest = meta.create_key(Some(tenant.id), Role::Ingest)?.key;
    let read = meta.create_key(Some(tenant.id), Role::Read)?.key;
    let stop = Arc::new(AtomicBool::new(false));
    let generator_stop = stop.clone();
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(crate::commands::serve::serve_until_signal(
        pipeline,
        streamtally_enrich::Enricher::default(),
        listen,
        ServerConfig::default(),
        move |addr| {
            let base = format!("http://{addr}");
            println!("streamtally demo running at {base}");
            println!("demo tenant `{TENANT}`: read key {read}");
            if let Some(k) = admin_key {
                println!("server administrator key (shown once): {k}");
            }
            println!("dashboard: open {base}/ and sign in with the read key above");
            println!("live numbers (refresh after a minute):");
            println!("  curl -H 'Authorization: Bearer {read}' '{base}/api/v1/metrics?group_by=minute,content_kind&metrics=views,users,starts,streams,time'");
            println!("  curl -H 'Authorization: Bearer {read}' '{base}/api/v1/live'");
            println!("  curl -H 'Authorization: Bearer {read}' '{base}/api/v1/live/live-keynote/summary'");
            println!("  curl -H 'Authorization: Bearer {read}' '{base}/api/v1/metrics?group_by=content_id&format=csv'");
            println!("press Ctrl-C to stop");
            use std::io::Write;
            let _ = std::io::stdout().flush();
            std::thread::spawn(move || generate(base, ingest, generator_stop));
        },
    ));
    stop.store(true, Ordering::Relaxed);
    result
}

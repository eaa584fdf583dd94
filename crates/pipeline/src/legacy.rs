//! The shapes older WAL records were written in, so they still replay.

use serde::Deserialize;
use streamtally_model::{ClientFamily, ContentKind, DeviceKey, EnrichedRequest, Geo, Media, Micros, RequestKind, Text};

/// A log request as record version 2 held it (before `media_object`).
#[derive(Deserialize)]
pub(crate) struct EnrichedRequestV2 {
    ts: Micros,
    device_key: DeviceKey,
    client: ClientFamily,
    geo: Geo,
    referrer_host: Option<Text>,
    method: Text,
    status: u16,
    bytes: u64,
    range: Option<(u64, Option<u64>)>,
    kind: RequestKind,
    content_id: Option<Text>,
    playback_id: Option<Text>,
    content_kind: Option<ContentKind>,
    media: Option<Media>,
    segment_seconds: Option<f64>,
    bitrate_kbps: Option<f64>,
    rebuffering: bool,
    cache_status: Option<Text>,
    pop: Option<Text>,
    zone: Option<Text>,
}

impl From<EnrichedRequestV2> for EnrichedRequest {
    fn from(r: EnrichedRequestV2) -> Self {
        EnrichedRequest {
            ts: r.ts,
            device_key: r.device_key,
            client: r.client,
            geo: r.geo,
            referrer_host: r.referrer_host,
            method: r.method,
            status: r.status,
            bytes: r.bytes,
            range: r.range,
            kind: r.kind,
            content_id: r.content_id,
            playback_id: r.playback_id,
            content_kind: r.content_kind,
            media: r.media,
            segment_seconds: r.segment_seconds,
            // Version 2 knew no media objects: each segment counts, as it did then.
            media_object: None,
            bitrate_kbps: r.bitrate_kbps,
            rebuffering: r.rebuffering,
            cache_status: r.cache_status,
            pop: r.pop,
            zone: r.zone,
        }
    }
}

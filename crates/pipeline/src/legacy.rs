//! The shapes older WAL records were written in, so they still replay.

use std::collections::BTreeMap;

use serde::Deserialize;
use streamtally_model::{ClientFamily, ContentKind, DeviceKey, EnrichedEvent, EnrichedRequest, EventType, Geo, Media, Micros, PlayerEvent, RequestKind, Text};

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
        EnrichedRequestV4 {
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
        .into()
    }
}

/// A player event as record versions 1 to 4 held it (before `fatal` and
/// `startup`, spec §8d).
#[derive(Deserialize)]
struct PlayerEventV4 {
    event_type: EventType,
    ts: Micros,
    playback_id: Option<String>,
    content_id: Option<String>,
    position: Option<f64>,
    duration: Option<f64>,
    content_kind: Option<ContentKind>,
    media: Option<Media>,
    bitrate: Option<f64>,
    bandwidth: Option<f64>,
    property: Option<String>,
    user_id: Option<String>,
    device_id: Option<String>,
    access_code: Option<String>,
    referrer: Option<String>,
    dimensions: BTreeMap<String, String>,
}

/// An enriched player event of record versions 1 to 4.
#[derive(Deserialize)]
pub(crate) struct EnrichedEventV4 {
    received_at: Micros,
    event: PlayerEventV4,
    device_key: DeviceKey,
    referrer_host: Option<Text>,
    client: ClientFamily,
    geo: Geo,
}

impl From<EnrichedEventV4> for EnrichedEvent {
    fn from(e: EnrichedEventV4) -> Self {
        let v = e.event;
        EnrichedEvent {
            received_at: e.received_at,
            event: PlayerEvent {
                event_type: v.event_type,
                ts: v.ts,
                playback_id: v.playback_id,
                content_id: v.content_id,
                position: v.position,
                duration: v.duration,
                content_kind: v.content_kind,
                media: v.media,
                bitrate: v.bitrate,
                bandwidth: v.bandwidth,
                // Before §8d an error said nothing of being fatal.
                fatal: false,
                startup: None,
                property: v.property,
                user_id: v.user_id,
                device_id: v.device_id,
                access_code: v.access_code,
                access_token: None,
                referrer: v.referrer,
                dimensions: v.dimensions,
            },
            device_key: e.device_key,
            referrer_host: e.referrer_host,
            client: e.client,
            geo: e.geo,
        }
    }
}

/// A log request as record versions 3 and 4 held it (before the CMCD
/// quality keys, spec §8d).
#[derive(Deserialize)]
pub(crate) struct EnrichedRequestV4 {
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
    media_object: Option<u64>,
    bitrate_kbps: Option<f64>,
    rebuffering: bool,
    cache_status: Option<Text>,
    pop: Option<Text>,
    zone: Option<Text>,
}

impl From<EnrichedRequestV4> for EnrichedRequest {
    fn from(r: EnrichedRequestV4) -> Self {
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
            media_object: r.media_object,
            bitrate_kbps: r.bitrate_kbps,
            rebuffering: r.rebuffering,
            qoe: None,
            cache_status: r.cache_status,
            pop: r.pop,
            zone: r.zone,
        }
    }
}

/// Upgrades a list of older inputs.
pub(crate) fn upgrade<T: Into<U>, U>(old: Vec<T>) -> Vec<U> {
    old.into_iter().map(Into::into).collect()
}

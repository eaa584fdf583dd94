//! Facts for the storage tests: a player `Start` of a device and content.

use streamtally_model::{parse_ts, ClientFamily, DeviceKey, Fact, FactKind, Geo, Source};

/// A player start at `ts` (RFC 3339) of `device` on `content`, made by the
/// WAL record `lsn`, of `user` if any.
pub fn start(ts: &str, device: u64, content: &'static str, user: Option<&'static str>, lsn: u64) -> Fact<'static> {
    Fact {
        kind: FactKind::Start,
        ts: parse_ts(ts).unwrap_or_default(),
        value: 1.0,
        device_key: DeviceKey(device),
        content_id: Some(content),
        playback_id: None,
        source: Source::Player,
        property: "web",
        content_kind: None,
        media: None,
        referrer_host: None,
        client: &ClientFamily::UNKNOWN,
        geo: &Geo::UNKNOWN,
        user_id: user.map(Into::into),
        dimensions: None,
        span: None,
        near: None,
        bitrate: None,
        access_code: None,
        served: None,
        lsn,
    }
}

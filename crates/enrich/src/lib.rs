//! Enrichment: what a request tells about who sent it, without keeping who.
//!
//! The raw IP and User-Agent enter here and do not leave: out come the keyed
//! [`DeviceKey`] (spec §2), the client family (browser, OS, device type, bot),
//! geography and the referrer's host. Everything after this step — WAL, counting,
//! storage — sees only the [`EnrichedEvent`].

mod device;
mod ua;

use std::net::IpAddr;

pub use device::{device_key, DeviceSecret};
use streamtally_model::{EnrichedEvent, Geo, Micros, PlayerEvent};
pub use ua::classify_user_agent;

/// What the transport knew about the sender of an event. Lives only in memory.
#[derive(Debug, Clone, Default)]
pub struct ClientContext {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// Per-tenant switches that decide what enrichment keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnrichOptions {
    /// Keep `access_code` on events (attendance consent, spec §6); dropped otherwise.
    pub keep_access_code: bool,
}

/// Enriches one event of a tenant; the client context is dropped afterwards.
pub fn enrich(mut event: PlayerEvent, client: &ClientContext, secret: &DeviceSecret, received_at: Micros, opts: EnrichOptions) -> EnrichedEvent {
    let ua = client.user_agent.as_deref().unwrap_or("");
    let device_key = device_key(secret, client.ip, ua, event.device_id.as_deref());
    let referrer_host = event.referrer.take().and_then(|r| referrer_host(&r));
    if !opts.keep_access_code {
        event.access_code = None;
    }
    EnrichedEvent {
        received_at,
        device_key,
        referrer_host,
        client: classify_user_agent(ua),
        geo: Geo::default(),
        event,
    }
}

/// The host of a referrer URL, lower-cased; never its path or query (spec §8).
pub fn referrer_host(referrer: &str) -> Option<String> {
    let parsed = url::Url::parse(referrer.trim()).ok()?;
    parsed.host_str().map(|h| h.trim_start_matches("www.").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use streamtally_model::EventType;

    #[test]
    fn referrer_keeps_only_the_host() {
        assert_eq!(referrer_host("https://www.Example.com/path/page?id=secret#x").as_deref(), Some("example.com"));
        assert_eq!(referrer_host("android-app://com.app.tv/").as_deref(), Some("com.app.tv"));
        assert_eq!(referrer_host("not a url"), None);
    }

    #[test]
    fn enrichment_drops_referrer_path_and_access_code_without_consent() {
        let mut ev = PlayerEvent::new(EventType::Play, 0, "P", "A");
        ev.referrer = Some("https://news.example.org/a/b?c=d".into());
        ev.access_code = Some("A-1001".into());
        let ctx = ClientContext {
            ip: "203.0.113.7".parse().ok(),
            user_agent: Some("Mozilla/5.0 Chrome/120.0".into()),
        };
        let secret = DeviceSecret::from_bytes([7; 32]);
        let e = enrich(ev.clone(), &ctx, &secret, 0, EnrichOptions::default());
        assert_eq!(e.referrer_host.as_deref(), Some("news.example.org"));
        assert_eq!(e.event.referrer, None);
        assert_eq!(e.event.access_code, None);
        let kept = enrich(ev, &ctx, &secret, 0, EnrichOptions { keep_access_code: true });
        assert_eq!(kept.event.access_code.as_deref(), Some("A-1001"));
        assert_eq!(kept.device_key, e.device_key);
    }
}

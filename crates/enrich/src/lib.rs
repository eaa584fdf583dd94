//! Enrichment: what a request tells about who sent it, without keeping who.
//!
//! The raw IP and User-Agent enter here and do not leave: out come the keyed
//! [`DeviceKey`](streamtally_model::DeviceKey) (spec §2), the client family
//! (browser, OS, device type, podcast app, bot), geography and the referrer's
//! host. Everything after this step — WAL, counting, storage — sees only the
//! [`EnrichedEvent`].

mod device;
mod geo;
mod log_batch;
mod playlists;
mod request;
mod shard;
mod ua;

use std::net::IpAddr;

pub use device::{device_id_key, device_key, DeviceSecret};
pub use geo::{GeoDb, GeoError};
pub use log_batch::{LogBatch, LogContext, SegmentLength, TimeBounds, REJECT_EXAMPLES};
pub use playlists::{PlaylistError, SegmentDurations};
pub use request::{content_of, request_kind};
pub use shard::{ledger_key, Shard};
use streamtally_model::{EnrichedEvent, Geo, Micros, PlayerEvent};
pub use ua::{Classification, Classifier, ListError, UaLists};

/// What the transport knew about the sender of an event. Lives only in memory.
#[derive(Debug, Clone, Default)]
pub struct ClientContext {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// Per-tenant switches that decide what enrichment keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnrichOptions<'a> {
    /// Keep `access_code` on events (attendance consent, spec §6); dropped otherwise.
    pub keep_access_code: bool,
    /// The tenant's extra bot words (lower case): a User-Agent containing one is a bot.
    pub bot_deny: &'a [String],
}

/// The shared, read-only parts of enrichment: UA rules and geography.
#[derive(Default)]
pub struct Enricher {
    pub classifier: Classifier,
    pub geo: Option<GeoDb>,
}

impl Enricher {
    pub fn new(classifier: Classifier, geo: Option<GeoDb>) -> Self {
        Enricher { classifier, geo }
    }

    /// Classifies a User-Agent, with the tenant's deny list on top.
    pub fn classify(&self, user_agent: &str, bot_deny: &[String]) -> Classification {
        let mut c = (*self.classifier.classify(user_agent)).clone();
        if !c.family.bot && !bot_deny.is_empty() {
            let lower = user_agent.to_ascii_lowercase();
            if let Some(word) = bot_deny.iter().find(|w| !w.is_empty() && lower.contains(w.as_str())) {
                c.family.bot = true;
                c.bot_rule = Some(format!("tenant deny list: {word}"));
            }
        }
        c
    }

    pub fn geo(&self, ip: Option<IpAddr>) -> Geo {
        match (&self.geo, ip) {
            (Some(db), Some(ip)) => db.lookup(ip),
            _ => Geo::default(),
        }
    }

    /// Enriches one event of a tenant; the client context is dropped afterwards.
    pub fn enrich(&self, mut event: PlayerEvent, client: &ClientContext, secret: &DeviceSecret, received_at: Micros, opts: EnrichOptions<'_>) -> EnrichedEvent {
        let ua = client.user_agent.as_deref().unwrap_or("");
        let device_key = device_key(secret, client.ip, ua, event.device_id.as_deref());
        let referrer = event.referrer.take();
        let referrer_host = referrer.as_deref().and_then(referrer_host).map(Into::into);
        if !opts.keep_access_code {
            event.access_code = None;
        }
        let mut family = self.classify(ua, opts.bot_deny).family;
        // Web players inside an app are known by the page that embeds them.
        if family.app.is_none() && family.browser.is_some() {
            family.app = referrer.as_deref().and_then(|r| self.classifier.referrer_app(r)).map(Into::into);
        }
        EnrichedEvent {
            received_at,
            device_key,
            referrer_host,
            client: family,
            geo: self.geo(client.ip),
            event,
        }
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
        let enricher = Enricher::default();
        let e = enricher.enrich(ev.clone(), &ctx, &secret, 0, EnrichOptions::default());
        assert_eq!(e.referrer_host.as_deref(), Some("news.example.org"));
        assert_eq!(e.event.referrer, None);
        assert_eq!(e.event.access_code, None);
        let kept = enricher.enrich(
            ev,
            &ctx,
            &secret,
            0,
            EnrichOptions {
                keep_access_code: true,
                ..EnrichOptions::default()
            },
        );
        assert_eq!(kept.event.access_code.as_deref(), Some("A-1001"));
        assert_eq!(kept.device_key, e.device_key);
    }

    #[test]
    fn the_tenant_deny_list_adds_bots() {
        let enricher = Enricher::default();
        let deny = vec!["acme-qa-rig".to_string()];
        let ua = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0 ACME-QA-Rig/2";
        assert!(!enricher.classify("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", &deny).family.bot);
        let c = enricher.classify(ua, &deny);
        assert!(c.family.bot);
        assert_eq!(c.bot_rule.as_deref(), Some("tenant deny list: acme-qa-rig"));
    }
}

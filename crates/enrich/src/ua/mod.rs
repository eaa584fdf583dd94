//! User-Agent → client family: browser, OS, device type, podcast app, and
//! whether it is a bot (and by which rule).
//!
//! Bot verdicts, in this order (docs/COUNTING.md 16): a known app (OPAWG
//! `apps` or a non-bot library when the lists are loaded, or a built-in
//! podcast app) is never a bot; then an OPAWG `bots` match; then the field's
//! maintained crawler patterns (the `isbot` crate); then the built-in generic
//! signals. Browsers, systems and devices come from the lists and woothee.
//! Results are cached: User-Agents repeat heavily in real traffic.

mod builtin;
mod lists;

use std::sync::Arc;

use serde::Serialize;
use streamtally_model::ClientFamily;

pub use lists::{ListError, UaLists};

/// A classification with the reason for its bot verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    #[serde(flatten)]
    pub family: ClientFamily,
    /// Which rule made it a bot (`None` when it is not one).
    pub bot_rule: Option<String>,
}

pub struct Classifier {
    lists: Option<UaLists>,
    /// Only beside the OPAWG lists, whose app names keep podcast apps from
    /// the patterns' broader matches (alone they flagged 5 % of OPAWG's app
    /// examples, against 1 % for the built-in rules).
    crawlers: Option<isbot::Bots>,
    woothee: woothee::parser::Parser,
    cache: quick_cache::sync::Cache<String, Arc<Classification>>,
}

/// Cached User-Agents at most; the cache evicts the least useful beyond this.
const CACHE_ENTRIES: usize = 100_000;
/// Longer User-Agents are classified by their first bytes (and never cached).
const MAX_UA_BYTES: usize = 1024;

impl Default for Classifier {
    fn default() -> Self {
        Classifier::new(None)
    }
}

impl Classifier {
    pub fn new(lists: Option<UaLists>) -> Self {
        Classifier {
            crawlers: lists.as_ref().map(|_| crawler_patterns()),
            lists,
            woothee: woothee::parser::Parser::new(),
            cache: quick_cache::sync::Cache::new(CACHE_ENTRIES),
        }
    }

    /// A web-based app named by the Referer, when the lists are loaded.
    pub fn referrer_app(&self, referrer: &str) -> Option<&str> {
        self.lists.as_ref().and_then(|l| l.match_referrer(referrer))
    }

    pub fn classify(&self, user_agent: &str) -> Arc<Classification> {
        if user_agent.len() > MAX_UA_BYTES {
            let mut cut = MAX_UA_BYTES;
            while !user_agent.is_char_boundary(cut) {
                cut -= 1;
            }
            return Arc::new(self.classify_uncached(&user_agent[..cut]));
        }
        if let Some(hit) = self.cache.get(user_agent) {
            return hit;
        }
        let c = Arc::new(self.classify_uncached(user_agent));
        self.cache.insert(user_agent.to_string(), c.clone());
        c
    }

    fn classify_uncached(&self, user_agent: &str) -> Classification {
        let ua = user_agent.trim();
        let mut family = ClientFamily::default();
        if ua.is_empty() {
            family.bot = true;
            return Classification {
                family,
                bot_rule: Some("empty User-Agent".into()),
            };
        }
        let mut bot_rule = None;
        let mut known_client = false;
        if let Some(lists) = &self.lists {
            let m = lists.match_user_agent(ua);
            if let Some(name) = m.bot {
                bot_rule = Some(format!("OPAWG bots: {name}"));
            }
            if let Some(name) = m.app {
                family.app = Some(name.into());
                known_client = true;
            }
            if let Some(lib) = m.library {
                if lib.bot {
                    bot_rule.get_or_insert_with(|| format!("OPAWG libraries: {}", lib.name));
                } else {
                    family.app.get_or_insert_with(|| lib.name.into());
                    known_client = true;
                }
            }
            if let Some(name) = m.browser {
                family.browser = Some(name.into());
            }
            if let Some(device) = m.device {
                family.device_type = Some(device.into());
            }
        }
        if family.app.is_none() {
            if let Some(app) = builtin::podcast_app(ua) {
                family.app = Some(app.into());
                known_client = true;
            }
        }
        // A known app wins over every rule but the OPAWG bots list (whose
        // own order puts bots first): podcast apps are often built on
        // generic HTTP libraries whose names the bot rules catch.
        if known_client && !bot_rule.as_deref().is_some_and(|r| r.starts_with("OPAWG bots")) {
            bot_rule = None;
        }
        if let Some(crawlers) = self.crawlers.as_ref().filter(|c| bot_rule.is_none() && !known_client && c.is_bot(ua)) {
            let matched = matched_part(ua, |t| crawlers.is_bot(t));
            if crawler_verdict(ua, &matched) {
                bot_rule = Some(format!("isbot crawler patterns: `{matched}`"));
            }
        }
        if self.crawlers.is_some() && bot_rule.is_none() && !known_client && builtin::lacks_product_and_system(ua) {
            bot_rule = Some("beside the lists: no product/version token and no system".into());
        }
        // Generic signals only speak where no list named a real client.
        if bot_rule.is_none() && !known_client {
            bot_rule = builtin::bot_signal(ua).map(|w| format!("built-in: {w}"));
        }
        if let Some(w) = self.woothee.parse(ua) {
            if w.category == "crawler" && bot_rule.is_none() && !known_client {
                bot_rule = Some(format!("built-in: known crawler {}", w.name));
            }
            if family.browser.is_none() && w.name != "UNKNOWN" && w.category != "crawler" {
                family.browser = Some(w.name.into());
            }
            if w.os != "UNKNOWN" {
                family.os = Some(builtin::os_name(w.os).into());
            }
            if family.device_type.is_none() {
                family.device_type = builtin::device_from_woothee(w.category, ua).map(Into::into);
            }
        }
        if family.os.is_none() {
            family.os = builtin::os_hint(ua).map(Into::into);
        }
        if family.device_type.is_none() || family.device_type.as_deref() == Some("desktop") {
            if let Some(d) = builtin::device_hint(ua) {
                family.device_type = Some(d.into());
            }
        }
        family.bot = bot_rule.is_some();
        Classification { family, bot_rule }
    }
}

/// The isbot patterns.
fn crawler_patterns() -> isbot::Bots {
    isbot::Bots::default()
}

/// Whether an isbot verdict stands: a URL alone (isbot's `http[s]?://`) does
/// not make a bot of a User-Agent that names a phone's platform, since podcast
/// apps put their project's address there (OPAWG's app examples lost 6 % to it).
fn crawler_verdict(ua: &str, matched: &str) -> bool {
    let url_only = matched.eq_ignore_ascii_case("http://") || matched.eq_ignore_ascii_case("https://");
    !(url_only && builtin::names_app_platform(ua))
}

/// The shortest part of `ua` that `matches` still accepts: the text a
/// pattern list matched, for `explain` (a list that answers only yes or no
/// tells no more). The shortest matching prefix ends where the match does;
/// its shortest matching suffix begins where it does.
fn matched_part(ua: &str, matches: impl Fn(&str) -> bool) -> String {
    let bounds: Vec<usize> = ua.char_indices().map(|(i, _)| i).chain([ua.len()]).collect();
    // Matching is monotone in the prefix length, so a binary search finds the end.
    let end = bounds[bounds.partition_point(|&e| !matches(&ua[..e])).min(bounds.len() - 1)];
    let prefix = &ua[..end];
    // …and in the start: once a suffix no longer matches, no shorter one does.
    let starts: Vec<usize> = bounds.iter().copied().filter(|&b| b < end).collect();
    let first_miss = starts.partition_point(|&b| matches(&prefix[b..]));
    let start = starts.get(first_miss.saturating_sub(1)).copied().unwrap_or(0);
    prefix[start..].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_clients_and_flags_bots_without_lists() {
        let c = Classifier::default();
        let chrome = c.classify("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36");
        assert_eq!(
            (
                chrome.family.browser.as_deref(),
                chrome.family.os.as_deref(),
                chrome.family.device_type.as_deref(),
                chrome.family.bot
            ),
            (Some("Chrome"), Some("Windows"), Some("desktop"), false)
        );
        let iphone = c.classify(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(
            (
                iphone.family.browser.as_deref(),
                iphone.family.os.as_deref(),
                iphone.family.device_type.as_deref()
            ),
            (Some("Safari"), Some("iOS"), Some("mobile"))
        );
        let apple = c.classify("Podcasts/1410.53 CFNetwork/1111 Darwin/19.0.0 (x86_64)");
        assert_eq!(apple.family.app.as_deref(), Some("Apple Podcasts"));
        assert!(!apple.family.bot);
        let spotify = c.classify("Spotify/8.7.10 iOS/15.3.1 (iPhone13,2)");
        assert_eq!(spotify.family.app.as_deref(), Some("Spotify"));
        let empty = c.classify("");
        assert_eq!((empty.family.bot, empty.bot_rule.as_deref()), (true, Some("empty User-Agent")));
        let google = c.classify("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
        assert!(google.family.bot, "{google:?}");
        assert!(
            c.classify("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36")
                .family
                .bot
        );
        let tv = c.classify("Mozilla/5.0 (SMART-TV; Linux; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/5.0 Chrome/94.0 TV Safari/537.36");
        assert_eq!(tv.family.device_type.as_deref(), Some("tv"));
        // Old and rare browsers that write `Mozilla/5.0 (compatible; …)` are people.
        for ua in [
            "Mozilla/5.0 (compatible; Konqueror/4.5; Linux) KHTML/4.5.5 (like Gecko)",
            "Mozilla/5.0 (compatible; IBrowse 3.0; AmigaOS4.0)",
            "Mozilla/5.0 (compatible; U; ABrowse 0.6; Syllable) AppleWebKit/420+ (KHTML, like Gecko)",
        ] {
            assert!(!c.classify(ua).family.bot, "{ua}");
        }
        // …and a service in that form is not.
        assert!(
            c.classify("Mozilla/5.0 (compatible; Crowli/1.0; +http://www.miniradioplayer.net/crowli.html)")
                .family
                .bot
        );
        assert_eq!(super::matched_part("x (compatible; FooBot/1.0)", |t| t.contains("Bot/")), "Bot/");
        assert_eq!(
            super::matched_part("Googlebot/2.1", |t| t.starts_with("googlebot") || t.starts_with("Googlebot")),
            "Googlebot"
        );
        // Cached results are the same results.
        assert_eq!(c.classify("Spotify/8.7.10 iOS/15.3.1 (iPhone13,2)"), spotify);
    }

    #[test]
    fn pre_loaders_are_bots() {
        let c = Classifier::default();
        for ua in [
            "Mozilla/5.0 (compatible; FeedPreloader/1.0)",
            "PodPrefetch/1.0 (prefetch for offline listening)",
            "Mozilla/5.0 (Windows NT 10.0) Chrome/124.0 Safari/537.36 LinkPreview/2.0",
        ] {
            assert!(c.classify(ua).family.bot, "{ua}: {:?}", c.classify(ua));
        }
    }
}

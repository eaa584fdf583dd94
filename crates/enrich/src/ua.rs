//! Built-in User-Agent rules: enough to name the common browser, OS and device
//! type, and to flag every generic bot signal (spec §2: an empty UA is a bot).

use streamtally_model::ClientFamily;

/// Words that mark crawlers, monitors, pre-loaders and headless browsers.
const BOT_WORDS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "crawl",
    "slurp",
    "headless",
    "phantomjs",
    "preview",
    "prefetch",
    "preload",
    "monitor",
    "scan",
    "python-requests",
    "go-http-client",
    "wget",
    "http_request",
    "feedfetcher",
    "validator",
];

pub fn classify_user_agent(ua: &str) -> ClientFamily {
    let trimmed = ua.trim();
    if trimmed.is_empty() {
        return ClientFamily {
            bot: true,
            ..ClientFamily::default()
        };
    }
    let l = trimmed.to_ascii_lowercase();
    let bot = BOT_WORDS.iter().any(|w| l.contains(w));
    let browser = if l.contains("edg/") {
        Some("Edge")
    } else if l.contains("opr/") || l.contains("opera") {
        Some("Opera")
    } else if l.contains("firefox/") {
        Some("Firefox")
    } else if l.contains("chrome/") || l.contains("crios/") {
        Some("Chrome")
    } else if l.contains("safari/") {
        Some("Safari")
    } else {
        None
    };
    let os = if l.contains("windows") {
        Some("Windows")
    } else if l.contains("iphone") || l.contains("ipad") || l.contains("ios") {
        Some("iOS")
    } else if l.contains("android") {
        Some("Android")
    } else if l.contains("mac os") || l.contains("macintosh") {
        Some("macOS")
    } else if l.contains("cros") {
        Some("ChromeOS")
    } else if l.contains("linux") {
        Some("Linux")
    } else {
        None
    };
    let device_type = if l.contains("smart-tv")
        || l.contains("smarttv")
        || l.contains("tizen")
        || l.contains("webos")
        || l.contains("roku")
        || l.contains("crkey")
        || l.contains("appletv")
    {
        "tv"
    } else if l.contains("ipad") || l.contains("tablet") {
        "tablet"
    } else if l.contains("mobile") || l.contains("iphone") || l.contains("android") {
        "mobile"
    } else if browser.is_some() {
        "desktop"
    } else {
        "other"
    };
    ClientFamily {
        browser: browser.map(str::to_string),
        os: os.map(str::to_string),
        device_type: Some(device_type.to_string()),
        app: None,
        bot,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_clients_and_flags_bots() {
        let chrome = classify_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36");
        assert_eq!(
            (chrome.browser.as_deref(), chrome.os.as_deref(), chrome.device_type.as_deref(), chrome.bot),
            (Some("Chrome"), Some("Windows"), Some("desktop"), false)
        );
        let iphone = classify_user_agent(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(
            (iphone.browser.as_deref(), iphone.os.as_deref(), iphone.device_type.as_deref()),
            (Some("Safari"), Some("iOS"), Some("mobile"))
        );
        assert!(classify_user_agent("").bot);
        assert!(classify_user_agent("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)").bot);
        assert!(classify_user_agent("Mozilla/5.0 HeadlessChrome/120.0").bot);
    }
}

//! Built-in rules, used without the OPAWG lists and for what they do not name.

/// Words (lower case) that mark automated clients wherever they stand:
/// crawlers, monitors, validators, pre-loaders, headless browsers, link previews.
const STRONG_SIGNALS: &[&str] = &[
    "bot",
    "crawl",
    "spider",
    "slurp",
    "scrap",
    "headless",
    "phantomjs",
    "puppeteer",
    "playwright",
    "selenium",
    "lighthouse",
    "pingdom",
    "uptime",
    "monitor",
    "validator",
    "preview",
    "prefetch",
    "preload",
    "archiver",
    "indexer",
    "import",
    "transcri",
    "processor",
    "pipeline",
    "podcast sync",
    "fetch",
    "checker",
    "sharingextension",
    "sharingui",
    "sharesheet",
    "scrper",
    "synthetic",
    "scan",
    "webhook",
    "vulnerab",
    "@",
];

/// Words that mark automated clients only when nothing names a device platform
/// (an iOS network stack, Android, a browser) or a known app: real apps are
/// called "Downloader" or "FeedReader" too.
const WEAK_SIGNALS: &[&str] = &[
    " api",
    "-api",
    "-python",
    "-sync",
    "-tester",
    ".ai",
    "ai ",
    "ai-",
    "ai/",
    "analyz",
    "audio processor",
    "audit",
    "autohotkey",
    "backfill",
    "castget",
    "classifier",
    "convert",
    "curl",
    "detector",
    "download",
    "externalhit",
    "externalua",
    "facebookplatform",
    "fediverse",
    "feed",
    "flexget",
    "geturl",
    "google-",
    "googleagent",
    "googleother",
    "grab",
    "hosting",
    "httrack",
    "index",
    "llm",
    "mastodon",
    "mcp",
    "mechanize",
    "mediapartners",
    "migration",
    "misskey",
    "ms-office",
    "node/",
    "optimization",
    "parser",
    "pleroma",
    "podget",
    "powershell",
    "preflight",
    "puller",
    "research",
    "sanity",
    "scanner",
    "screenshot",
    "search",
    "stt",
    "studio/",
    "subscribers",
    "tester/",
    "transmission/",
    "worker",
    "xrawler",
];

/// HTTP libraries and tools, when the User-Agent begins with them.
const LIBRARY_PREFIXES: &[&str] = &[
    "curl/",
    "wget/",
    "python",
    "java/",
    "java-http",
    "go-http-client",
    "apache-httpclient",
    "node-fetch",
    "axios/",
    "got/",
    "got (",
    "undici",
    "deno/",
    "bun/",
    "dart/",
    "okhttp",
    "aiohttp",
    "httpx",
    "urllib",
    "libwww",
    "lwp:",
    "guzzle",
    "symfony",
    "http.rb",
    "rest-client",
    "scrapy",
    "aria2",
    "lavf/",
    "ahc/",
    "req/",
    "colly",
    "hackney",
    "lua-resty",
    "resty",
    "git-annex",
    "carrierwave",
    "down/",
    "http-tiny",
    "wordpress",
    "php/",
    "perl",
    "winhttp",
    "postman",
    "insomnia/",
    "httpie",
    "nutch",
    "heritrix",
];

/// Browsers that write their User-Agent as `Mozilla/5.0 (compatible; …)`.
const COMPATIBLE_BROWSERS: &[&str] = &[
    "msie",
    "konqueror",
    "ibrowse",
    "abrowse",
    "icab",
    "opera",
    "omniweb",
    "netfront",
    "aweb",
    "voyager",
];

/// Operating systems a browser's User-Agent names (services name none).
const SYSTEM_TOKENS: &[&str] = &[
    "windows",
    "linux",
    "mac os",
    "macintosh",
    "x11",
    "android",
    "iphone",
    "ipad",
    "amiga",
    "morphos",
    "syllable",
    "beos",
    "haiku",
    "os/2",
    "bsd",
    "sunos",
    "qnx",
    "risc os",
    "symbian",
    "blackberry",
    "tizen",
    "webos",
];

/// Real players whose names contain a bot word.
const NOT_BOTS: &[&str] = &["cubot", "tweetbot"];

/// Tokens of a device platform: a person's phone, computer or browser.
const PLATFORM_TOKENS: &[&str] = &[
    "cfnetwork",
    "darwin/",
    "android",
    "iphone",
    "ipad",
    "ios ",
    "ios;",
    "windows",
    "macintosh",
    "linux;",
    "dalvik",
    "exoplayer",
    "mozilla/5.0 (",
];

/// Whether the User-Agent names the platform of a phone app (where podcast
/// apps run), not a browser's generic `Mozilla/5.0 (` that crawlers copy.
pub fn names_app_platform(ua: &str) -> bool {
    let l = ua.to_ascii_lowercase();
    [
        "android",
        "iphone",
        "ipad",
        "ios ",
        "ios;",
        "ios/",
        "cfnetwork",
        "darwin/",
        "dalvik",
        "exoplayer",
    ]
    .iter()
    .any(|t| l.contains(t))
}

/// Whether the User-Agent has no `product/version` token (RFC 9110 §10.1.5)
/// and names no system: what browsers, players and HTTP stacks all send one
/// of. Only beside the OPAWG lists, which name the podcast apps that do not
/// (about 9 % of their examples, such as `AmazonMusic` or `bPod`).
pub fn lacks_product_and_system(ua: &str) -> bool {
    let l = ua.to_ascii_lowercase();
    !l.contains('/') && !SYSTEM_TOKENS.iter().any(|t| l.contains(t))
}

/// The matched signal, when the User-Agent looks automated.
pub fn bot_signal(ua: &str) -> Option<&'static str> {
    let l = ua.to_ascii_lowercase();
    if NOT_BOTS.iter().any(|n| l.contains(n)) {
        return None;
    }
    if let Some(w) = STRONG_SIGNALS.iter().find(|w| l.contains(*w)) {
        return Some(w);
    }
    if podcast_app(ua).is_some() {
        return None;
    }
    let platform = PLATFORM_TOKENS.iter().any(|t| l.contains(t));
    if !platform {
        if let Some(w) = WEAK_SIGNALS.iter().find(|w| l.contains(*w)) {
            return Some(w);
        }
    }
    if let Some(w) = LIBRARY_PREFIXES.iter().find(|w| l.starts_with(*w)) {
        return Some(w);
    }
    let bare = l.trim_matches(|c| matches!(c, '(' | ')' | '\'' | '"' | '.'));
    if bare == "mozilla" || bare.strip_prefix("mozilla/").is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.')) {
        return Some("a bare Mozilla token");
    }
    // Services dress as `Mozilla/5.0 (compatible; Name/1.0; +url)`; browsers
    // that use the same form (Konqueror, IBrowse, …) name a system or are known.
    if l.starts_with("mozilla/5.0 (compatible;") && !COMPATIBLE_BROWSERS.iter().any(|b| l.contains(b)) && !SYSTEM_TOKENS.iter().any(|t| l.contains(t)) {
        return Some("mozilla compatible naming neither a browser nor a system");
    }
    None
}

/// The twenty-odd most common podcast and audio apps, by their own tokens.
const PODCAST_APPS: &[(&str, &[&str])] = &[
    (
        "Apple Podcasts",
        &["podcasts/", "balados/", "podcasti/", "podcastit/", "podkaster/", "itunes/", "applecoremedia/"],
    ),
    ("Spotify", &["spotify/", "spotify-lite", "spotify_"]),
    ("Overcast", &["overcast/", "overcast player"]),
    ("Pocket Casts", &["pocket casts", "pocket%20casts", "pocketcasts/"]),
    ("Castbox", &["castbox", "fm.castbox."]),
    ("Podcast Addict", &["podcastaddict/", "podcast addict"]),
    ("Castro", &["castro/", "castro "]),
    ("Google Podcasts", &["googlepodcasts/", "googlechirp", "gsa/"]),
    ("Amazon Music", &["amazonmusic", "alexamediaplayer/", "echo/"]),
    ("Audible", &["audible,", "com.audible."]),
    ("iHeartRadio", &["iheartradio/", "iheartpodcasts/", "iheart/"]),
    ("Deezer", &["deezer/", "deezerjukebox/"]),
    ("Stitcher", &["stitcher/", "stitcher demo/"]),
    ("TuneIn", &["tunein"]),
    ("Podbean", &["podbean/"]),
    ("Player FM", &["player fm", "player%20fm", "playerfm/"]),
    ("Podcast Republic", &["podcastrepublic/"]),
    ("AntennaPod", &["antennapod/", "de.danoeh.antennapod/"]),
    ("Podkicker", &["podkicker"]),
    ("Downcast", &["downcast/"]),
    ("BeyondPod", &["beyondpod"]),
    ("Podimo", &["podimo/"]),
    ("Audacy", &["audacy ", "radio.com/"]),
    (
        "YouTube Music",
        &["youtubemusic/", "youtube music/", "apps.youtube.music/", "ios.youtubemusic/"],
    ),
    ("Pandora", &["pandora/"]),
    ("Podverse", &["podverse/"]),
    ("Fountain", &["fountain/", "fountainapp/"]),
    ("Goodpods", &["goodpods"]),
    ("Castamatic", &["castamatic/"]),
    ("Podcast Guru", &["podcastguru"]),
    ("RadioPublic", &["radiopublic"]),
    ("Himalaya", &["himalaya/"]),
    ("Luminary", &["luminary/"]),
    ("Snipd", &["snipd/"]),
    ("Sonos", &["sonos"]),
    ("The Podcast App", &["thepodcastapp"]),
];

pub fn podcast_app(ua: &str) -> Option<&'static str> {
    let l = ua.to_ascii_lowercase();
    PODCAST_APPS
        .iter()
        .find(|(_, tokens)| tokens.iter().any(|t| l.contains(t)))
        .map(|(name, _)| *name)
}

/// Woothee's OS names, shortened to the families people filter by.
pub fn os_name(woothee_os: &str) -> &str {
    match woothee_os {
        "Mac OSX" => "macOS",
        "iPhone" | "iPad" | "iPod" => "iOS",
        os if os.starts_with("Windows") => "Windows",
        other => other,
    }
}

pub fn os_hint(ua: &str) -> Option<&'static str> {
    let l = ua.to_ascii_lowercase();
    Some(if l.contains("android") {
        "Android"
    } else if l.contains("iphone") || l.contains("ipad") || l.contains(" ios") || l.contains("ios/") || l.contains("darwin/") && l.contains("cfnetwork") {
        "iOS"
    } else if l.contains("watchos") {
        "watchOS"
    } else if l.contains("tvos") {
        "tvOS"
    } else if l.contains("windows") {
        "Windows"
    } else if l.contains("mac os") || l.contains("macintosh") {
        "macOS"
    } else if l.contains("linux") {
        "Linux"
    } else {
        return None;
    })
}

pub fn device_from_woothee(category: &str, ua: &str) -> Option<&'static str> {
    let l = ua.to_ascii_lowercase();
    match category {
        "pc" => Some("desktop"),
        "smartphone" | "mobilephone" => Some(if l.contains("ipad") || l.contains("tablet") { "tablet" } else { "mobile" }),
        "appliance" => Some("tv"),
        _ => None,
    }
}

/// Device types the spec names beyond desktop and mobile.
pub fn device_hint(ua: &str) -> Option<&'static str> {
    let l = ua.to_ascii_lowercase();
    Some(
        if [
            "smart-tv",
            "smarttv",
            "tizen",
            "webos",
            "roku",
            "crkey",
            "appletv",
            "apple tv",
            "tvos",
            "aft",
            "bravia",
            "hbbtv",
            "android tv",
            "googletv",
        ]
        .iter()
        .any(|w| l.contains(w))
        {
            "tv"
        } else if ["homepod", "alexa", "echo/", "sonos", "google home", "airpodcasts/"]
            .iter()
            .any(|w| l.contains(w))
        {
            "smart speaker"
        } else if ["carplay", "android auto", "polestar", "volvo", "tesla"].iter().any(|w| l.contains(w)) {
            "car"
        } else if ["watch", "wear os", "watchos"].iter().any(|w| l.contains(w)) {
            "watch"
        } else if l.contains("ipad") || l.contains("tablet") {
            "tablet"
        } else {
            return None;
        },
    )
}

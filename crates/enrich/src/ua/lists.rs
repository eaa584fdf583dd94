//! The Open Podcast Analytics Working Group's `user-agents-v2` pattern lists,
//! loaded at start from a folder the operator names (they are not shipped).

use std::path::{Path, PathBuf};

use regex::RegexSet;
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not an OPAWG pattern file: {reason}")]
    Format { path: PathBuf, reason: String },
}

#[derive(Deserialize)]
struct File {
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    name: String,
    pattern: String,
    #[serde(default)]
    category: Option<String>,
}

/// One list: entries in file order, matched together.
struct Patterns {
    names: Vec<String>,
    categories: Vec<Option<String>>,
    set: RegexSet,
}

impl Patterns {
    fn load(dir: &Path, file: &str) -> Result<(Patterns, usize), ListError> {
        let path = dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|source| ListError::Read { path: path.clone(), source })?;
        let parsed: File = serde_json::from_str(&text).map_err(|e| ListError::Format {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let (mut names, mut categories, mut patterns, mut skipped) = (Vec::new(), Vec::new(), Vec::new(), 0);
        for e in parsed.entries {
            // A pattern this regex engine cannot take (e.g. a look-around) is skipped, not fatal.
            if regex::Regex::new(&e.pattern).is_err() {
                tracing::warn!(file, name = %e.name, "skipping a pattern this engine cannot compile");
                skipped += 1;
                continue;
            }
            names.push(e.name);
            categories.push(e.category);
            patterns.push(e.pattern);
        }
        let set = RegexSet::new(&patterns).map_err(|e| ListError::Format { path, reason: e.to_string() })?;
        Ok((Patterns { names, categories, set }, skipped))
    }

    /// The first entry (in file order) that matches.
    fn first(&self, text: &str) -> Option<usize> {
        self.set.matches(text).iter().next()
    }
}

pub struct UaLists {
    bots: Patterns,
    apps: Patterns,
    libraries: Patterns,
    browsers: Patterns,
    devices: Patterns,
    referrers: Patterns,
    /// Entries whose patterns could not be compiled.
    pub skipped: usize,
}

pub struct LibraryMatch<'a> {
    pub name: &'a str,
    pub bot: bool,
}

/// What each list says of one User-Agent.
pub struct ListMatch<'a> {
    pub bot: Option<&'a str>,
    pub app: Option<&'a str>,
    pub library: Option<LibraryMatch<'a>>,
    pub browser: Option<&'a str>,
    pub device: Option<&'static str>,
}

fn device_type(category: Option<&str>) -> Option<&'static str> {
    Some(match category? {
        "mobile" => "mobile",
        "smart_speaker" => "smart speaker",
        "smart_tv" => "tv",
        "watch" => "watch",
        "computer" => "desktop",
        "auto" => "car",
        "tablet" => "tablet",
        _ => return None,
    })
}

impl UaLists {
    /// Loads the lists from a checkout of `user-agents-v2` (or its `src/` folder).
    pub fn load(dir: &Path) -> Result<UaLists, ListError> {
        let dir = if dir.join("src").join("bots.json").exists() {
            dir.join("src")
        } else {
            dir.to_path_buf()
        };
        let mut skipped = 0;
        let mut load = |file: &str| {
            Patterns::load(&dir, file).map(|(p, s)| {
                skipped += s;
                p
            })
        };
        let lists = UaLists {
            bots: load("bots.json")?,
            apps: load("apps.json")?,
            libraries: load("libraries.json")?,
            browsers: load("browsers.json")?,
            devices: load("devices.json")?,
            referrers: load("referrers.json")?,
            skipped: 0,
        };
        Ok(UaLists { skipped, ..lists })
    }

    pub fn entries(&self) -> usize {
        [&self.bots, &self.apps, &self.libraries, &self.browsers, &self.devices, &self.referrers]
            .iter()
            .map(|p| p.names.len())
            .sum()
    }

    /// The lists' order: a bot match wins; otherwise app, library, browser.
    pub fn match_user_agent(&self, ua: &str) -> ListMatch<'_> {
        if let Some(i) = self.bots.first(ua) {
            return ListMatch {
                bot: Some(&self.bots.names[i]),
                app: None,
                library: None,
                browser: None,
                device: None,
            };
        }
        let app = self.apps.first(ua).map(|i| self.apps.names[i].as_str());
        let library = if app.is_none() {
            self.libraries.first(ua).map(|i| LibraryMatch {
                name: &self.libraries.names[i],
                bot: self.libraries.categories[i].as_deref() == Some("bot"),
            })
        } else {
            None
        };
        let browser = if app.is_none() && library.is_none() {
            self.browsers.first(ua).map(|i| self.browsers.names[i].as_str())
        } else {
            None
        };
        let device = if library.as_ref().is_some_and(|l| l.bot) {
            None
        } else {
            self.devices.first(ua).and_then(|i| device_type(self.devices.categories[i].as_deref()))
        };
        ListMatch {
            bot: None,
            app,
            library,
            browser,
            device,
        }
    }

    /// A web-based app or host named by the Referer (for browser plays).
    pub fn match_referrer(&self, referrer: &str) -> Option<&str> {
        self.referrers.first(referrer).map(|i| self.referrers.names[i].as_str())
    }
}

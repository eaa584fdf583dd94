//! Segment durations from HLS media playlists (`#EXTINF`): watch time from
//! segment requests uses them when the playlists are at hand (a server's
//! document root), before the tenant's default length. CMCD `d`, sent with
//! the request itself, still comes first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PlaylistError {
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// Seconds per segment, by the URI path a server answers it under.
#[derive(Debug, Default, Clone)]
pub struct SegmentDurations {
    by_path: HashMap<String, f64>,
    playlists: usize,
}

impl SegmentDurations {
    /// Reads every `.m3u8` under `root`, the folder a server maps URI paths
    /// onto (nginx's `root`): `ROOT/live/L/index.m3u8` answers `/live/L/index.m3u8`.
    pub fn from_root(root: &Path) -> Result<SegmentDurations, PlaylistError> {
        let mut durations = SegmentDurations::default();
        let mut files = Vec::new();
        walk(root, &mut files)?;
        files.sort();
        for file in files {
            let text = std::fs::read(&file).map_err(|source| PlaylistError::Io {
                path: file.display().to_string(),
                source,
            })?;
            let rel = file.strip_prefix(root).unwrap_or(&file);
            let dir = rel.parent().map(|p| p.to_string_lossy().replace('\\', "/")).unwrap_or_default();
            durations.add_playlist(&String::from_utf8_lossy(&text), &format!("/{dir}"));
        }
        Ok(durations)
    }

    /// Adds a media playlist served from the URI folder `dir` (`/live/L`).
    pub fn add_playlist(&mut self, text: &str, dir: &str) {
        let mut pending: Option<f64> = None;
        let mut any = false;
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("#EXTINF:") {
                pending = rest
                    .split(',')
                    .next()
                    .and_then(|d| d.trim().parse::<f64>().ok())
                    .filter(|d| d.is_finite() && *d >= 0.0);
            } else if line.is_empty() || line.starts_with('#') {
                continue;
            } else if let Some(seconds) = pending.take() {
                self.by_path.insert(resolve(dir, line), seconds);
                any = true;
            }
        }
        self.playlists += usize::from(any);
    }

    /// The duration of the segment at `path` (a request's path, without query).
    pub fn get(&self, path: &str) -> Option<f64> {
        self.by_path.get(path).copied().or_else(|| {
            let decoded = percent_encoding::percent_decode_str(path).decode_utf8().ok()?;
            self.by_path.get(decoded.as_ref()).copied()
        })
    }

    pub fn segments(&self) -> usize {
        self.by_path.len()
    }

    pub fn playlists(&self) -> usize {
        self.playlists
    }
}

/// A playlist's segment URI as a URI path: relative to the playlist's folder,
/// absolute, or a full URL; query and fragment dropped; `.` and `..` resolved.
fn resolve(dir: &str, uri: &str) -> String {
    let uri = uri.split(['?', '#']).next().unwrap_or(uri);
    let path = match uri.split_once("://") {
        Some((_, rest)) => rest.find('/').map(|i| &rest[i..]).unwrap_or("/"),
        None => uri,
    };
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", dir.trim_end_matches('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), PlaylistError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PlaylistError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("m3u8")) {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extinf_durations_by_uri_path() {
        let mut d = SegmentDurations::default();
        d.add_playlist(
            "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.006,\nseg_1.ts\n#EXTINF:5.5,title\n#EXT-X-BYTERANGE:1000@0\n./sub/../seg_2.ts?token=x\n\
             #EXTINF:4,\n/abs/seg_3.ts\n#EXTINF:3.2,\nhttps://cdn.example.org/other/seg_4.ts\nno_duration.ts\n#EXT-X-ENDLIST\n",
            "/live/L/720p",
        );
        assert_eq!(d.get("/live/L/720p/seg_1.ts"), Some(6.006));
        assert_eq!(d.get("/live/L/720p/seg_2.ts"), Some(5.5));
        assert_eq!(d.get("/abs/seg_3.ts"), Some(4.0));
        assert_eq!(d.get("/other/seg_4.ts"), Some(3.2));
        assert_eq!(d.get("/live/L/720p/no_duration.ts"), None);
        assert_eq!((d.segments(), d.playlists()), (4, 1));
        // A master playlist names playlists, not segments: nothing to learn.
        d.add_playlist("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n720p/index.m3u8\n", "/live/L");
        assert_eq!((d.segments(), d.playlists()), (4, 1));
    }

    #[test]
    fn encoded_request_paths_find_their_segment() {
        let mut d = SegmentDurations::default();
        d.add_playlist("#EXTINF:2,\nseg 1.ts\n", "/live/Big Show");
        assert_eq!(d.get("/live/Big%20Show/seg%201.ts"), Some(2.0));
    }

    #[test]
    fn a_root_is_read_recursively() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("live/L")).unwrap();
        std::fs::write(dir.path().join("live/L/index.m3u8"), "#EXTINF:2.002,\nseg0.ts\n#EXTINF:1.5,\nseg1.ts\n").unwrap();
        std::fs::write(dir.path().join("live/L/seg0.ts"), b"not a playlist").unwrap();
        let d = SegmentDurations::from_root(dir.path()).unwrap();
        assert_eq!(d.get("/live/L/seg0.ts"), Some(2.002));
        assert_eq!(d.get("/live/L/seg1.ts"), Some(1.5));
        assert!(SegmentDurations::from_root(&dir.path().join("missing")).is_err());
    }
}

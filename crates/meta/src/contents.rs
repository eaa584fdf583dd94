//! The content catalogue (spec §1).

use serde::{Deserialize, Serialize};
use streamtally_model::{ContentKind, Media, TenantId};

use crate::db::args;
use crate::{Meta, MetaError};

/// A catalogue entry (spec §1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Content {
    pub content_id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub media: Option<String>,
    #[serde(default)]
    pub duration: Option<f64>,
    #[serde(default)]
    pub bitrate: Option<f64>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub show: Option<String>,
    #[serde(default)]
    pub producer: Option<String>,
    #[serde(default)]
    pub distributor: Option<String>,
    /// Source 004's glossary: the season and episode of a series, the
    /// broadcaster, and the episode's GUID (a podcast feed's `<guid>`).
    #[serde(default, deserialize_with = "text_or_number")]
    pub season: Option<String>,
    #[serde(default, deserialize_with = "text_or_number")]
    pub episode: Option<String>,
    #[serde(default)]
    pub broadcaster: Option<String>,
    #[serde(default)]
    pub guid: Option<String>,
}

/// A season or episode given as `3` or `"3"`: kept as text, a label to group by.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Label {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(Option::<Label>::deserialize(d)?.map(|l| match l {
        Label::Text(t) => t,
        Label::Number(n) => n.to_string(),
    }))
}

impl Content {
    pub fn validate(&self) -> Result<(), MetaError> {
        let bad = |reason: &str| MetaError::BadContent {
            content_id: self.content_id.clone(),
            reason: reason.to_string(),
        };
        if self.content_id.trim().is_empty() {
            return Err(bad("content_id is required"));
        }
        if let Some(k) = &self.kind {
            ContentKind::parse(k).ok_or_else(|| bad("kind must be live, vod or dar"))?;
        }
        if let Some(m) = &self.media {
            Media::parse(m).ok_or_else(|| bad("media must be video or audio"))?;
        }
        for (name, v) in [("duration", self.duration), ("bitrate", self.bitrate)] {
            if v.is_some_and(|v| !v.is_finite() || v < 0.0) {
                return Err(bad(&format!("{name} must be a number of at least 0")));
            }
        }
        Ok(())
    }
}

impl Meta {
    /// Inserts or replaces catalogue entries; all are validated before any is written.
    pub fn upsert_contents(&self, tenant: TenantId, contents: &[Content]) -> Result<usize, MetaError> {
        for c in contents {
            c.validate()?;
        }
        self.conn().transaction(|tx| {
            for c in contents {
                tx.execute(
                    "INSERT INTO contents (tenant_id, content_id, title, kind, media, duration, bitrate, category, show, producer, distributor,
                   season, episode, broadcaster, guid)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                 ON CONFLICT (tenant_id, content_id) DO UPDATE SET title = excluded.title, kind = excluded.kind, media = excluded.media,
                   duration = excluded.duration, bitrate = excluded.bitrate, category = excluded.category, show = excluded.show,
                   producer = excluded.producer, distributor = excluded.distributor, season = excluded.season,
                   episode = excluded.episode, broadcaster = excluded.broadcaster, guid = excluded.guid",
                    args![
                        tenant,
                        c.content_id,
                        c.title,
                        c.kind,
                        c.media,
                        c.duration,
                        c.bitrate,
                        c.category,
                        c.show,
                        c.producer,
                        c.distributor,
                        c.season,
                        c.episode,
                        c.broadcaster,
                        c.guid
                    ],
                )?;
            }
            Ok(contents.len())
        })
    }

    pub fn contents(&self, tenant: TenantId) -> Result<Vec<Content>, MetaError> {
        let rows = self.conn().query(
            "SELECT content_id, title, kind, media, duration, bitrate, category, show, producer, distributor, season, episode, broadcaster, guid
             FROM contents WHERE tenant_id = ?1 ORDER BY content_id",
            args![tenant],
        )?;
        let contents = rows.iter().map(|r| {
            Ok(Content {
                content_id: r.get(0)?,
                title: r.get(1)?,
                kind: r.get(2)?,
                media: r.get(3)?,
                duration: r.get(4)?,
                bitrate: r.get(5)?,
                category: r.get(6)?,
                show: r.get(7)?,
                producer: r.get(8)?,
                distributor: r.get(9)?,
                season: r.get(10)?,
                episode: r.get(11)?,
                broadcaster: r.get(12)?,
                guid: r.get(13)?,
            })
        });
        Ok(contents.collect::<Result<_, crate::DbError>>()?)
    }
}

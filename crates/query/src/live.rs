//! Live questions (spec §5): concurrent viewers per minute, the live-detail
//! figures of one stream, and the overview of all live streams of a range.
//!
//! Concurrency is counted from `active` facts (one per device, content and
//! minute): the viewers of a minute are its distinct device keys, so a device
//! seen by a player and in a log in the same minute counts once.

use std::collections::BTreeMap;

use chrono_tz::Tz;
use serde_json::{json, Value};
use streamtally_model::{Micros, TenantId, MICROS_PER_SEC};

use crate::answer::format_in_tz;
use crate::model::{parse_filters, parse_range_in};
use crate::sql::{catalogue_join, filter_clauses, param, scope_filter};
use crate::{Cell, Dialect, Filter, QueryError, Sql, Table};
use crate::{Scope, Select};

pub const MINUTE: Micros = 60 * MICROS_PER_SEC;

#[derive(Debug, Clone, PartialEq)]
pub struct LiveQuery {
    pub from: Micros,
    pub to: Micros,
    /// One content; all contents when `None`.
    pub content_id: Option<String>,
    /// Only contents that are live by the player's word or the catalogue's.
    pub live_only: bool,
    pub filters: Vec<Filter>,
}

impl LiveQuery {
    /// Plain dates in `from`/`to` are days in `tz`.
    pub fn parse(from: &str, to: &str, content_id: Option<&str>, filter: Option<&str>, tz: Tz) -> Result<LiveQuery, QueryError> {
        let (from, to) = parse_range_in(from, to, tz)?;
        Ok(LiveQuery {
            from,
            to,
            content_id: content_id.map(str::to_string),
            live_only: content_id.is_none(),
            filters: parse_filters(filter)?,
        })
    }

    /// The live contents active in the `minutes` up to and including `now`'s minute.
    pub fn recent(now: Micros, minutes: i64) -> LiveQuery {
        let this_minute = now.div_euclid(MINUTE) * MINUTE;
        LiveQuery {
            from: this_minute - (minutes.max(1) - 1) * MINUTE,
            to: this_minute + MINUTE,
            content_id: None,
            live_only: true,
            filters: Vec::new(),
        }
    }

    fn wheres(&self, tenant: TenantId, kinds: &str, dialect: &dyn Dialect, params: &mut Vec<String>) -> String {
        let mut w = scope_filter(tenant, self.from, self.to, dialect);
        w.extend([format!("f.kind IN ({kinds})")]);
        if let Some(c) = &self.content_id {
            w.push(format!("f.content_id = {}", param(dialect, params, c)));
        } else {
            w.push("f.content_id IS NOT NULL".into());
        }
        if self.live_only {
            w.push("COALESCE(f.content_kind, c.kind) = 'live'".into());
        }
        w.extend(filter_clauses(&self.filters, dialect, params));
        w.join(" AND ")
    }
}

impl Select for LiveQuery {
    fn scope(&self) -> Scope {
        Scope {
            catalogue: true,
            ..Scope::facts(self.from, self.to)
        }
    }

    /// Viewers per content and minute; then per content its distinct viewers,
    /// watch time and title.
    fn statements(&self, tenant: TenantId, dialect: &dyn Dialect) -> Vec<Sql> {
        let from = format!("FROM {} AS f{}", dialect.facts_table(), catalogue_join(dialect));
        let mut params = Vec::new();
        let wheres = self.wheres(tenant, "'active'", dialect, &mut params);
        let series = Sql {
            text: format!(
                "SELECT f.content_id AS content_id, {} AS minute, COUNT(DISTINCT f.device_key) AS viewers {from} WHERE {wheres} \
                 GROUP BY f.content_id, f.ts ORDER BY f.content_id, f.ts",
                dialect.instant("f.ts")
            ),
            params,
            columns: vec!["content_id".into(), "minute".into(), "viewers".into()],
        };
        let mut params = Vec::new();
        let wheres = self.wheres(tenant, "'active', 'time'", dialect, &mut params);
        let totals = Sql {
            text: format!(
                "SELECT f.content_id AS content_id, \
                 COUNT(DISTINCT CASE WHEN f.kind = 'active' THEN f.device_key END) AS viewers, \
                 COALESCE(SUM(CASE WHEN f.kind = 'time' THEN f.value END), 0.0) AS watch_time, \
                 MAX(c.title) AS title {from} WHERE {wheres} GROUP BY f.content_id ORDER BY f.content_id"
            ),
            params,
            columns: vec!["content_id".into(), "viewers".into(), "watch_time".into(), "title".into()],
        };
        vec![series, totals]
    }
}

/// The live-detail figures of one content (spec §5).
#[derive(Debug, Clone, PartialEq)]
pub struct LiveDetail {
    pub content_id: String,
    pub title: Option<String>,
    /// Minutes with at least one viewer, in order, with their viewers.
    pub series: Vec<(Micros, i64)>,
    pub peak: i64,
    pub peak_minute: Option<Micros>,
    /// Mean of the concurrent viewers over the active minutes.
    pub average: f64,
    /// Distinct viewers over the whole range.
    pub viewers: i64,
    /// Seconds of playback reported (player `playing` durations).
    pub watch_time: f64,
}

impl LiveDetail {
    pub fn first_minute(&self) -> Option<Micros> {
        self.series.first().map(|(m, _)| *m)
    }
    pub fn last_minute(&self) -> Option<Micros> {
        self.series.last().map(|(m, _)| *m)
    }
    pub fn average_watch_time(&self) -> f64 {
        if self.viewers > 0 {
            self.watch_time / self.viewers as f64
        } else {
            0.0
        }
    }
    /// Viewers in the minute starting at `minute` (0 when none was active).
    pub fn viewers_in(&self, minute: Micros) -> i64 {
        self.series.binary_search_by_key(&minute, |(m, _)| *m).map(|i| self.series[i].1).unwrap_or(0)
    }

    pub fn summary_json(&self, tz: Tz) -> Value {
        let t = |m: Option<Micros>| m.map(|m| format_in_tz(m, tz));
        json!({
            "content_id": self.content_id,
            "title": self.title,
            "first_minute": t(self.first_minute()),
            "last_minute": t(self.last_minute()),
            "active_minutes": self.series.len(),
            "peak": self.peak,
            "peak_minute": t(self.peak_minute),
            "average": round3(self.average),
            "viewers": self.viewers,
            "watch_time": round3(self.watch_time),
            "average_watch_time": round3(self.average_watch_time()),
        })
    }

    pub fn series_json(&self, tz: Tz) -> Value {
        Value::Array(
            self.series
                .iter()
                .map(|(m, v)| json!({ "minute": format_in_tz(*m, tz), "viewers": v }))
                .collect(),
        )
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Assembles the details from the two tables a [`LiveQuery`] answers.
pub fn live_details(tables: &[Table]) -> Vec<LiveDetail> {
    let mut by_content: BTreeMap<String, LiveDetail> = BTreeMap::new();
    let text = |c: &Cell| match c {
        Cell::Text(s) => Some(s.clone()),
        _ => None,
    };
    let int = |c: &Cell| match c {
        Cell::Int(i) => *i,
        Cell::Float(f) => *f as i64,
        _ => 0,
    };
    if let Some(series) = tables.first() {
        for row in &series.rows {
            let (Some(id), Cell::Time(minute)) = (text(&row[0]), &row[1]) else { continue };
            let d = by_content.entry(id.clone()).or_insert_with(|| empty_detail(id));
            d.series.push((*minute, int(&row[2])));
        }
    }
    if let Some(totals) = tables.get(1) {
        for row in &totals.rows {
            let Some(id) = text(&row[0]) else { continue };
            let d = by_content.entry(id.clone()).or_insert_with(|| empty_detail(id));
            d.viewers = int(&row[1]);
            d.watch_time = match &row[2] {
                Cell::Float(f) => *f,
                c => int(c) as f64,
            };
            d.title = text(&row[3]);
        }
    }
    let mut out: Vec<LiveDetail> = by_content.into_values().collect();
    for d in &mut out {
        d.series.sort_unstable();
        // The first minute reaching the peak.
        for (m, v) in &d.series {
            if *v > d.peak {
                d.peak = *v;
                d.peak_minute = Some(*m);
            }
        }
        if !d.series.is_empty() {
            d.average = d.series.iter().map(|(_, v)| *v as f64).sum::<f64>() / d.series.len() as f64;
        }
    }
    out
}

fn empty_detail(content_id: String) -> LiveDetail {
    LiveDetail {
        content_id,
        title: None,
        series: Vec::new(),
        peak: 0,
        peak_minute: None,
        average: 0.0,
        viewers: 0,
        watch_time: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClickHouse, DataFusion};

    #[test]
    fn details_follow_the_spec_from_the_per_minute_rows() {
        let m = |i: i64| 1_000 * MINUTE + i * MINUTE;
        let series = Table {
            columns: vec![],
            rows: [(0, 1), (1, 1), (2, 1), (3, 2), (4, 2), (5, 2), (6, 1), (7, 1)]
                .iter()
                .map(|(i, v)| vec![Cell::Text("L".into()), Cell::Time(m(*i)), Cell::Int(*v)])
                .collect(),
        };
        let totals = Table {
            columns: vec![],
            rows: vec![vec![Cell::Text("L".into()), Cell::Int(2), Cell::Float(560.0), Cell::Null]],
        };
        let d = &live_details(&[series, totals])[0];
        assert_eq!((d.first_minute(), d.last_minute()), (Some(m(0)), Some(m(7))));
        assert_eq!((d.peak, d.peak_minute), (2, Some(m(3))));
        assert_eq!(d.average, 11.0 / 8.0);
        assert_eq!(d.viewers, 2);
        assert_eq!(d.average_watch_time(), 280.0);
        assert_eq!(d.viewers_in(m(4)), 2);
        assert_eq!(d.viewers_in(m(9)), 0);
    }

    #[test]
    fn sql_counts_distinct_devices_and_binds_values() {
        let q = LiveQuery::parse("2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z", Some("L' --"), Some("country:DE"), Tz::UTC).unwrap();
        let s = q.statements(1, &DataFusion);
        assert!(s[0].text.contains("COUNT(DISTINCT f.device_key)"), "{}", s[0].text);
        assert!(s[0].text.contains("f.content_id = $1") && s[0].text.contains("f.country IN ($2)"));
        assert_eq!(s[0].params, vec!["L' --".to_string(), "DE".to_string()]);
        assert!(!s[0].text.contains("'live'"), "one named content needs no kind");
        let overview = LiveQuery::recent(0, 5).statements(1, &ClickHouse);
        assert!(overview[0].text.contains("COALESCE(f.content_kind, c.kind) = 'live'"));
    }
}

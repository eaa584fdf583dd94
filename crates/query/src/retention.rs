//! Retention and engagement of one on-demand content (spec §8c, source 004):
//! for each 1 % section of its duration, the share of starts whose playbacks
//! covered it at least once, and how many times it was played (re-watches
//! included). The engine keeps coverage in whole seconds of the content
//! (`covered` facts: the pieces a start newly covered; spans on `time`
//! facts: every piece played), so a duration learned later changes no fact:
//! sections are cut when asked, from the catalogue's duration or, without
//! one, the largest position seen.

use serde_json::{json, Value};
use streamtally_model::{Micros, TenantId};

use crate::model::parse_range;
use crate::sql::{filter_clauses, param, scope_filter};
use crate::{parse_filters, Cell, Dialect, Filter, QueryError, Scope, Select, Sql, Table};

/// Sections of a curve.
pub const SECTIONS: i64 = 100;

#[derive(Debug, Clone, PartialEq)]
pub struct RetentionQuery {
    pub content_id: String,
    pub from: Micros,
    pub to: Micros,
    pub filters: Vec<Filter>,
    /// The content's duration in seconds once known (the second question).
    pub duration: Option<f64>,
    /// The file's size in bytes, when log byte ranges covered it: their
    /// spans are bytes, scaled to the duration (the second question).
    pub bytes: Option<f64>,
    /// The third question, asked only when the curve's pieces include some
    /// counted before `near` was kept: their end sections, once per start.
    pub unknown_ends: bool,
}

/// Where a curve's duration came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DurationFrom {
    Catalogue,
    LargestPosition,
    /// Only log byte ranges, no duration: the sections are of the file's
    /// bytes (the largest byte a full response or a range reached).
    FileSize,
}

/// Sources whose spans are bytes of a file (spec §8c from logs), not seconds.
const BYTE_SOURCES: &str = "f.source IN ('audio-log', 'download')";

impl RetentionQuery {
    pub fn parse(content_id: &str, from: &str, to: &str, filter: Option<&str>) -> Result<RetentionQuery, QueryError> {
        let (from, to) = parse_range(from, to)?;
        let filters = parse_filters(filter)?;
        if let Some(f) = filters.iter().find(|f| f.dimension.needs_directory()) {
            return Err(QueryError::Audience(format!(
                "retention cannot be filtered by `{}` (a registered user's); ask the metrics with an admin key",
                f.dimension.name()
            )));
        }
        Ok(RetentionQuery {
            content_id: content_id.to_string(),
            from,
            to,
            filters,
            duration: None,
            bytes: None,
            unknown_ends: false,
        })
    }

    fn wheres(&self, tenant: TenantId, dialect: &dyn Dialect, params: &mut Vec<String>, kinds: &str) -> String {
        let mut w = self.unfiltered(tenant, dialect, params, kinds);
        w.extend(filter_clauses(&self.filters, dialect, params));
        w.join(" AND ")
    }

    fn unfiltered(&self, tenant: TenantId, dialect: &dyn Dialect, params: &mut Vec<String>, kinds: &str) -> Vec<String> {
        let mut w = scope_filter(tenant, self.from, self.to, dialect);
        w.push(format!("f.content_id = {}", param(dialect, params, &self.content_id)));
        w.push(format!("f.kind IN ({kinds})"));
        w
    }

    /// Whether every piece of a start passes the filters as its start does:
    /// only then may a piece's end section be left to an earlier piece
    /// (`near`). A piece carries its own report's client, place, media and
    /// free dimensions, which may change within a start.
    fn pieces_stand_together(&self) -> bool {
        use crate::Dimension as D;
        self.filters.iter().all(|f| {
            matches!(
                f.dimension,
                D::Source | D::Title | D::Category | D::Show | D::Producer | D::Distributor | D::Season | D::Episode | D::Broadcaster | D::Guid
            )
        })
    }

    fn catalogue_join(&self, dialect: &dyn Dialect) -> String {
        if self.filters.iter().any(|f| f.dimension.needs_catalogue()) {
            crate::sql::catalogue_join(dialect)
        } else {
            String::new()
        }
    }
}

impl Select for RetentionQuery {
    fn scope(&self) -> Scope {
        Scope {
            catalogue: true,
            ..Scope::facts(self.from, self.to)
        }
    }

    /// The catalogue's duration and the starts with the largest position
    /// seen; with the duration known, the covering starts per section and
    /// the pieces played.
    fn statements(&self, tenant: TenantId, dialect: &dyn Dialect) -> Vec<Sql> {
        let join = self.catalogue_join(dialect);
        let table = dialect.facts_table();
        let Some(duration) = self.duration else {
            let mut params = Vec::new();
            let catalogue = Sql {
                text: format!(
                    "SELECT c.duration FROM {} AS c WHERE c.content_id = {}",
                    dialect.contents_table(),
                    param(dialect, &mut params, &self.content_id)
                ),
                params,
                columns: vec!["duration".into()],
            };
            let mut params = Vec::new();
            let wheres = self.wheres(tenant, dialect, &mut params, "'start', 'time', 'covered', 'download'");
            let seen = Sql {
                text: format!(
                    "SELECT COUNT(CASE WHEN f.kind = 'start' THEN 1 END) AS starts, MAX(CASE WHEN NOT ({BYTE_SOURCES}) THEN f.span_to END) AS seen, \
                     MAX(CASE WHEN {BYTE_SOURCES} THEN f.span_to END) AS bytes FROM {table} AS f{join} WHERE {wheres}"
                ),
                params,
                columns: vec!["starts".into(), "seen".into(), "bytes".into()],
            };
            if self.filters.is_empty() {
                return vec![catalogue, seen];
            }
            // The file's size is the whole audience's, not the filtered part's
            // (a country where nobody finished would stretch its curve).
            let mut params = Vec::new();
            let wheres = self.unfiltered(tenant, dialect, &mut params, "'covered', 'download'").join(" AND ");
            let size = Sql {
                text: format!("SELECT MAX(f.span_to) AS bytes FROM {table} AS f WHERE {wheres} AND {BYTE_SOURCES}"),
                params,
                columns: vec!["bytes".into()],
            };
            return vec![catalogue, seen, size];
        };
        let d = format!("{duration:?}");
        // Byte spans are shares of the file: scaled to seconds of the duration.
        let scale = format!("{:?}", self.bytes.filter(|b| *b > 0.0).map_or(1.0, |b| duration / b));
        let span = |end: &str| format!("(CASE WHEN {BYTE_SOURCES} THEN f.{end} * {scale} ELSE f.{end} * 1.0 END)");
        let (from, to) = (span("span_from"), span("span_to"));
        let lo = dialect.integer(&format!("floor({from} * {SECTIONS}.0 / {d})"));
        let hi = format!("least({}, {SECTIONS})", dialect.integer(&format!("ceil({to} * {SECTIONS}.0 / {d})")));
        // A piece covers sections lo to hi − 1. It covers those strictly
        // between whole, so no other piece of its start touches them (a
        // start's pieces never overlap): they are counted per piece. Its two
        // end sections it may share with other pieces of its start: the
        // engine noted where the start's coverage nearest it ended and began
        // when it was counted (`near`), so an end section counts for a piece
        // only when no piece counted before touches it (`l`, `r`: 1 when
        // clear). Pieces counted before `near` was kept have none: their end
        // sections are counted once per start instead (a start is its device
        // and time: numbers hash faster than ids).
        let together = self.pieces_stand_together();
        let covered = |params: &mut Vec<String>, more: &str| {
            let wheres = self.wheres(tenant, dialect, params, "'covered'");
            format!("FROM {table} AS f{join} WHERE {wheres} AND f.span_from IS NOT NULL AND {lo} < {SECTIONS}{more}")
        };
        if self.unknown_ends {
            let mut params = Vec::new();
            let unknown = if together { " AND f.near_from IS NULL" } else { "" };
            let (firsts, lasts) = (covered(&mut params, unknown), covered(&mut params, unknown));
            return vec![Sql {
                text: format!(
                    "SELECT e.k, COUNT(*) AS starts FROM (SELECT DISTINCT b.device_key, b.ts, b.k FROM \
                     (SELECT f.device_key, f.ts, {lo} AS k {firsts} UNION ALL SELECT f.device_key, f.ts, {hi} - 1 AS k {lasts}) AS b) AS e \
                     GROUP BY e.k ORDER BY e.k"
                ),
                params,
                columns: vec!["section".into(), "starts".into()],
            }];
        }
        let (clear_left, clear_right) = if together {
            let (near_from, near_to) = (span("near_from"), span("near_to"));
            (
                format!("CASE WHEN f.near_from IS NULL THEN NULL WHEN {near_from} * {SECTIONS}.0 / {d} > {lo} THEN 0 ELSE 1 END"),
                format!(
                    "CASE WHEN f.near_to IS NULL THEN NULL WHEN f.near_to = {} THEN 1 WHEN {near_to} * {SECTIONS}.0 / {d} < {hi} THEN 0 ELSE 1 END",
                    u32::MAX
                ),
            )
        } else {
            // Typed nulls (an untyped NULL column reads as no number).
            let none = "CASE WHEN 1 = 1 THEN NULL ELSE 0 END".to_string();
            (none.clone(), none)
        };
        let mut params = Vec::new();
        let all = covered(&mut params, "");
        let keys = [lo.as_str(), hi.as_str(), clear_left.as_str(), clear_right.as_str()].join(", ");
        let pieces = Sql {
            text: format!("SELECT {lo} AS lo, {hi} AS hi, {clear_left} AS l, {clear_right} AS r, COUNT(*) AS n {all} GROUP BY {keys} ORDER BY {keys}"),
            params,
            columns: vec!["lo".into(), "hi".into(), "l".into(), "r".into(), "n".into()],
        };
        let mut params = Vec::new();
        let wheres = self.wheres(tenant, dialect, &mut params, "'time'");
        let played = Sql {
            text: format!(
                "SELECT {from} AS played_from, {to} AS played_to, COUNT(*) AS n FROM {table} AS f{join} WHERE {wheres} AND f.span_from IS NOT NULL GROUP BY {from}, {to} ORDER BY {from}, {to}"
            ),
            params,
            columns: vec!["span_from".into(), "span_to".into(), "n".into()],
        };
        vec![pieces, played]
    }
}

fn number(cell: Option<&Cell>) -> Option<f64> {
    cell.and_then(Cell::as_f64)
}

/// What the first question found: the starts, and the duration with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionBasis {
    pub starts: i64,
    pub duration: Option<(f64, DurationFrom)>,
    /// The file's size, when log byte ranges or full responses named one.
    pub bytes: Option<f64>,
}

impl RetentionBasis {
    pub fn read(tables: &[Table]) -> RetentionBasis {
        let first = |i: usize, c: usize| tables.get(i).and_then(|t| t.rows.first()).and_then(|r| number(r.get(c)));
        let catalogue = first(0, 0).filter(|d| *d > 0.0).map(|d| (d, DurationFrom::Catalogue));
        let seen = first(1, 1).filter(|d| *d > 0.0).map(|d| (d, DurationFrom::LargestPosition));
        // Unfiltered when the question was filtered (a third table).
        let bytes = if tables.len() > 2 { first(2, 0) } else { first(1, 2) }.filter(|b| *b > 0.0);
        RetentionBasis {
            starts: first(1, 0).unwrap_or(0.0) as i64,
            duration: catalogue.or(seen).or(bytes.map(|b| (b, DurationFrom::FileSize))),
            bytes,
        }
    }
}

/// A content's curve: what the first question found, and the 100 sections.
pub type RetentionCurve = (RetentionBasis, Vec<Section>);

/// One section's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub from: f64,
    pub to: f64,
    pub retention: f64,
    pub engagement: f64,
}

/// Whether the curve's pieces (the second question's first table) include
/// some counted before `near` was kept: then the third question is asked.
pub(crate) fn has_unknown_ends(pieces: &Table) -> bool {
    pieces.rows.iter().any(|r| matches!(r.get(2), Some(Cell::Null)))
}

/// The 100 sections of a content of `duration` seconds from the tables of
/// the pieces, the unknown ends (empty when not asked) and the pieces played: retention = covering starts ÷ starts; engagement =
/// seconds played in the section ÷ its length (a whole play-through is 1).
pub fn sections(duration: f64, starts: i64, tables: &[Table]) -> Vec<Section> {
    let len = duration / SECTIONS as f64;
    let mut out: Vec<Section> = (0..SECTIONS)
        .map(|k| Section {
            from: k as f64 * len,
            to: (k + 1) as f64 * len,
            retention: 0.0,
            engagement: 0.0,
        })
        .collect();
    let empty = Table::default();
    // Starts per section: the pieces that cover it whole (ranges, summed
    // through their differences), their end sections when clear, and the
    // starts whose pieces without `near` end in it.
    let sections = SECTIONS as usize;
    let mut whole = vec![0.0; sections + 1];
    let mut covering = vec![0.0; sections + 1];
    for r in &tables.first().unwrap_or(&empty).rows {
        let (Some(lo), Some(hi), Some(n)) = (number(r.first()), number(r.get(1)), number(r.get(4))) else {
            continue;
        };
        let (lo, hi) = (lo.clamp(0.0, SECTIONS as f64) as usize, hi.clamp(0.0, SECTIONS as f64) as usize);
        if hi <= lo {
            continue;
        }
        if lo + 1 < hi - 1 {
            whole[lo + 1] += n;
            whole[hi - 1] -= n;
        }
        let (left, right) = (number(r.get(2)) == Some(1.0), number(r.get(3)) == Some(1.0));
        if hi - 1 == lo {
            if left && right {
                covering[lo] += n;
            }
        } else {
            if left {
                covering[lo] += n;
            }
            if right {
                covering[hi - 1] += n;
            }
        }
    }
    let mut running = 0.0;
    for (c, w) in covering.iter_mut().zip(&whole) {
        running += w;
        *c += running;
    }
    for r in &tables.get(1).unwrap_or(&empty).rows {
        if let (Some(k), Some(n)) = (number(r.first()), number(r.get(1))) {
            if let Some(c) = covering.get_mut(k as usize).filter(|_| k >= 0.0) {
                *c += n;
            }
        }
    }
    for (s, n) in out.iter_mut().zip(&covering) {
        s.retention = if starts > 0 { n / starts as f64 } else { 0.0 };
    }
    for r in &tables.get(2).unwrap_or(&empty).rows {
        let (Some(a), Some(b), Some(n)) = (number(r.first()), number(r.get(1)), number(r.get(2))) else {
            continue;
        };
        let first = (a / len).floor().max(0.0) as i64;
        let last = ((b / len).ceil() as i64).min(SECTIONS);
        for k in first..last {
            let s = &mut out[k as usize];
            let overlap = b.min(s.to) - a.max(s.from);
            if overlap > 0.0 {
                s.engagement += n * overlap / len;
            }
        }
    }
    for s in &mut out {
        s.retention = (s.retention * 10_000.0).round() / 10_000.0;
        s.engagement = (s.engagement * 10_000.0).round() / 10_000.0;
    }
    out
}

/// The answer: the content, the duration and where it came from, the
/// starts, and the sections (JSON; [`retention_csv`] for CSV).
pub fn retention_json(q: &RetentionQuery, basis: &RetentionBasis, sections: &[Section]) -> Value {
    let (duration, from) = basis.duration.map_or((None, None), |(d, f)| {
        (
            Some(d),
            Some(match f {
                DurationFrom::Catalogue => "catalogue",
                DurationFrom::LargestPosition => "largest_position",
                DurationFrom::FileSize => "file_size",
            }),
        )
    });
    json!({
        "content_id": q.content_id,
        "from": streamtally_model::format_ts(q.from),
        "to": streamtally_model::format_ts(q.to),
        "duration": duration,
        "duration_from": from,
        "starts": basis.starts,
        "sections": sections.iter().enumerate().map(|(k, s)| json!({
            "section": k,
            "from": s.from,
            "to": s.to,
            "retention": s.retention,
            "engagement": s.engagement,
        })).collect::<Vec<_>>(),
    })
}

pub fn retention_csv(sections: &[Section]) -> String {
    let mut out = String::from("section,from,to,retention,engagement\n");
    for (k, s) in sections.iter().enumerate() {
        out.push_str(&format!("{k},{},{},{},{}\n", s.from, s.to, s.retention, s.engagement));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClickHouse, DataFusion};

    #[test]
    fn sections_map_whole_seconds_to_hundredths_of_the_duration() {
        // 0–50 covered by both of 2 starts; 50–100 by one; 40–60 played
        // thrice. Start A: one piece 0–50 s, counted with `near`; start B:
        // 0–30 s and 30–100 s, counted before `near` was kept, so its end
        // sections come from the once-per-start question.
        let int = |v: &[i64]| v.iter().map(|&i| Cell::Int(i)).collect::<Vec<_>>();
        let old = |lo: i64, hi: i64| vec![Cell::Int(lo), Cell::Int(hi), Cell::Null, Cell::Null, Cell::Int(1)];
        let pieces = Table {
            columns: vec![],
            rows: vec![int(&[0, 50, 1, 1, 1]), old(0, 30), old(30, 100)],
        };
        let ends = Table {
            columns: vec![],
            rows: vec![int(&[0, 1]), int(&[29, 1]), int(&[30, 1]), int(&[99, 1])],
        };
        let played = Table {
            columns: vec![],
            rows: vec![
                vec![Cell::Int(0), Cell::Int(50), Cell::Int(1)],
                vec![Cell::Int(0), Cell::Int(100), Cell::Int(1)],
                vec![Cell::Int(40), Cell::Int(60), Cell::Int(1)],
            ],
        };
        let s = sections(100.0, 2, &[pieces, ends, played]);
        let retention: Vec<f64> = s.iter().map(|s| s.retention).collect();
        assert_eq!(retention, (0..100).map(|k| if k < 50 { 1.0 } else { 0.5 }).collect::<Vec<_>>());
        assert_eq!((s[0].retention, s[49].retention, s[50].retention), (1.0, 1.0, 0.5));
        assert_eq!((s[39].engagement, s[45].engagement, s[55].engagement, s[60].engagement), (2.0, 3.0, 2.0, 1.0));
        // A duration of 7 s: a section is 0.07 s; second 3 plays a seventh of
        // section 42 (2.94–3.01), all of 43–56, a seventh of 57 (3.99–4.06).
        let one = Table {
            columns: vec![],
            rows: vec![vec![Cell::Int(3), Cell::Int(4), Cell::Int(1)]],
        };
        let s = sections(7.0, 1, &[Table::default(), Table::default(), one]);
        let e = |k: usize| s[k].engagement;
        assert_eq!((e(41), e(42), e(43), e(56), e(57), e(58)), (0.0, 0.1429, 1.0, 1.0, 0.1429, 0.0));
    }

    #[test]
    fn a_section_two_pieces_of_a_start_touch_counts_for_the_first_only() {
        // One start: 0–5 (sections 0–4), then 4–10 whose first section the
        // first piece touched (`l` 0); a one-section piece with a neighbour.
        let int = |v: &[i64]| v.iter().map(|&i| Cell::Int(i)).collect::<Vec<_>>();
        let pieces = Table {
            columns: vec![],
            rows: vec![int(&[0, 5, 1, 1, 1]), int(&[4, 10, 0, 1, 1]), int(&[9, 10, 0, 1, 1])],
        };
        let s = sections(100.0, 1, &[pieces, Table::default(), Table::default()]);
        let covered: Vec<f64> = s[..12].iter().map(|s| s.retention).collect();
        assert_eq!(covered, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn the_content_and_filters_are_parameters_in_both_dialects() {
        let mut q = RetentionQuery::parse("ep' OR 1=1", "2026-03-01", "2026-03-02", Some("country:BR")).unwrap();
        for s in q.statements(2, &DataFusion) {
            assert!(!s.text.contains("OR 1=1") && s.params[0] == "ep' OR 1=1", "{}", s.text);
        }
        q.duration = Some(600.0);
        let curve = q.statements(2, &ClickHouse);
        assert!(curve.iter().all(|s| s.text.contains("f.tenant_id = 2")), "{curve:?}");
        q.unknown_ends = true;
        let ends = q.statements(2, &ClickHouse);
        // The end sections' two branches bind the content and filter each.
        assert_eq!(ends[0].params, ["ep' OR 1=1", "BR", "ep' OR 1=1", "BR"]);
        assert!(ends[0].text.contains("{p1:String}") && ends[0].text.contains("{p4:String}"), "{}", ends[0].text);
    }
}

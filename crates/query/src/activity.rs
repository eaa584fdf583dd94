//! One registered user's activity (source 002, issue 14): what the user's
//! facts count (starts, streams, time — the spec's rules, not recounted), the
//! user's raw player events page by page, bandwidth per minute, and details
//! (devices, referrers, contents with minutes, logins). Raw events are stored
//! sorted by user, so these statements read one user's rows, not everyone's.

use chrono_tz::Tz;
use serde_json::{json, Value};
use streamtally_model::{Micros, TenantId};

use crate::answer::{format_in_tz, to_json};
use crate::model::parse_range_in;
use crate::sql::{catalogue_join, param, scope_filter, time_expr};
use crate::{Cell, Dialect, OwnedStretch, QueryError, Scope, Select, Sql, Table, TimeUnit};

/// Events per page unless asked otherwise, and the most a page holds.
pub const EVENTS_PER_PAGE: usize = 100;
pub const MAX_EVENTS_PER_PAGE: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub struct ActivityQuery {
    pub user_id: String,
    pub from: Micros,
    pub to: Micros,
    pub tz: Tz,
    /// 1-based.
    pub page: usize,
    pub per_page: usize,
    /// The stretches of playbacks the user owns by [`crate::OwnedPlaybacks`]
    /// (spec §8b): their facts and events of no user are the user's too.
    pub owned: Vec<OwnedStretch>,
}

impl ActivityQuery {
    pub fn parse(user_id: &str, from: &str, to: &str, tz: Tz, page: Option<&str>, per_page: Option<&str>) -> Result<ActivityQuery, QueryError> {
        let (from, to) = parse_range_in(from, to, tz)?;
        let number = |name: &str, text: Option<&str>, default: usize, max: usize| -> Result<usize, QueryError> {
            match text.map(str::trim).filter(|t| !t.is_empty()) {
                None => Ok(default),
                Some(t) => t
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| QueryError::Audience(format!("`{name}` must be a whole number from 1 to {max}, not `{}`", crate::model::short(t)))),
            }
        };
        Ok(ActivityQuery {
            user_id: user_id.to_string(),
            from,
            to,
            tz,
            page: number("page", page, 1, 1_000_000)?,
            per_page: number("per_page", per_page, EVENTS_PER_PAGE, MAX_EVENTS_PER_PAGE)?,
            owned: Vec::new(),
        })
    }

    /// One statement over the user's rows of `table` in the range: the rows
    /// naming the user, and those of no user of the playbacks it owns — two
    /// branches, so each reader skips row groups by its own bloom filter.
    fn statement(&self, (tenant, dialect): (TenantId, &dyn Dialect), table: &str, select: &str, catalogue: bool, rest: &str, columns: &[&str]) -> Sql {
        let mut params = Vec::new();
        let scope = scope_filter(tenant, self.from, self.to, dialect).join(" AND ");
        let named = format!("{scope} AND f.user_id = {}", param(dialect, &mut params, &self.user_id));
        let (rows, wheres) = if self.owned.is_empty() {
            (format!("{table} AS f"), named)
        } else {
            // Each playback once as a parameter: the list lets the reader skip
            // row groups by the bloom filter, the stretches pick the rows.
            let mut ids: Vec<(&str, String)> = Vec::new();
            let mut stretches = Vec::new();
            let at = dialect.epoch_micros("f.ts");
            for o in &self.owned {
                let id = match ids.iter().find(|(p, _)| *p == o.playback_id) {
                    Some((_, placeholder)) => placeholder.clone(),
                    None => {
                        let placeholder = param(dialect, &mut params, &o.playback_id);
                        ids.push((&o.playback_id, placeholder.clone()));
                        placeholder
                    }
                };
                stretches.push(format!("(f.playback_id = {id} AND {at} >= {} AND {at} <= {})", o.from, o.to));
            }
            let list: Vec<&str> = ids.iter().map(|(_, p)| p.as_str()).collect();
            let rows = format!(
                "(SELECT * FROM {table} AS f WHERE {named} UNION ALL \
                 SELECT * FROM {table} AS f WHERE {scope} AND f.user_id IS NULL AND f.playback_id IN ({}) AND ({})) AS f",
                list.join(", "),
                stretches.join(" OR ")
            );
            (rows, "TRUE".to_string())
        };
        let join = if catalogue { catalogue_join(dialect) } else { String::new() };
        Sql {
            text: format!("SELECT {select} FROM {rows}{join} WHERE {wheres} {rest}").trim_end().to_string(),
            params,
            columns: columns.iter().map(|c| c.to_string()).collect(),
        }
    }
}

const EVENT_COLUMNS: [&str; 13] = [
    "ts",
    "type",
    "playback_id",
    "content_id",
    "title",
    "position",
    "duration",
    "bitrate",
    "bandwidth",
    "device_key",
    "browser",
    "os",
    "device_type",
];

impl Select for ActivityQuery {
    fn scope(&self) -> Scope {
        Scope {
            catalogue: true,
            events: true,
            ..Scope::facts(self.from, self.to)
        }
    }

    /// Overview, event count, the page of events, bandwidth, devices,
    /// referrers, contents with their time, logins — in that order.
    fn statements(&self, tenant: TenantId, dialect: &dyn Dialect) -> Vec<Sql> {
        let facts = dialect.facts_table();
        let events = dialect.events_table();
        let time = time_expr();
        let count = |kind: &str| format!("COUNT(CASE WHEN f.kind = '{kind}' THEN 1 END)");
        let minute = dialect.time_bucket("f.ts", TimeUnit::Minute, self.tz);
        let offset = (self.page - 1) * self.per_page;
        let at = (tenant, dialect);
        vec![
            self.statement(
                at,
                facts,
                &format!("{} AS starts, {} AS streams, {time} AS time", count("start"), count("stream")),
                false,
                "AND f.kind IN ('start', 'stream', 'time')",
                &["starts", "streams", "time"],
            ),
            self.statement(at, events, "COUNT(*) AS events", false, "", &["events"]),
            self.statement(
                at,
                events,
                &format!(
                    "{} AS event_ts, f.\"type\", f.playback_id, f.content_id, c.title, f.position, f.duration, f.bitrate, f.bandwidth, \
                     CAST(f.device_key AS VARCHAR), f.browser, f.os, f.device_type",
                    dialect.instant("f.ts")
                ),
                true,
                &format!(
                    "ORDER BY f.ts, f.lsn, f.received_at, f.\"type\", f.playback_id, f.position LIMIT {} OFFSET {offset}",
                    self.per_page
                ),
                &EVENT_COLUMNS,
            ),
            self.statement(
                at,
                events,
                &format!("{minute} AS minute, AVG(f.bandwidth) AS bandwidth_kbps, AVG(f.bitrate) AS bitrate_kbps"),
                false,
                &format!("AND (f.bandwidth IS NOT NULL OR f.bitrate IS NOT NULL) GROUP BY {minute} ORDER BY {minute}"),
                &["minute", "bandwidth_kbps", "bitrate_kbps"],
            ),
            self.statement(
                at,
                events,
                &format!(
                    "CAST(f.device_key AS VARCHAR), f.browser, f.os, f.device_type, {} AS first_seen, {} AS last_seen, COUNT(*) AS events",
                    dialect.instant("MIN(f.ts)"),
                    dialect.instant("MAX(f.ts)")
                ),
                false,
                "GROUP BY CAST(f.device_key AS VARCHAR), f.browser, f.os, f.device_type ORDER BY MIN(f.ts), CAST(f.device_key AS VARCHAR)",
                &["device_key", "browser", "os", "device_type", "first_seen", "last_seen", "events"],
            ),
            self.statement(
                at,
                events,
                "f.referrer_host, COUNT(*) AS events",
                false,
                "AND f.referrer_host IS NOT NULL GROUP BY f.referrer_host ORDER BY COUNT(*) DESC, f.referrer_host",
                &["referrer_host", "events"],
            ),
            self.statement(
                at,
                facts,
                &format!("f.content_id, c.title, COALESCE(f.content_kind, c.kind) AS content_type, {time} AS time"),
                true,
                &format!("AND f.kind = 'time' AND f.content_id IS NOT NULL GROUP BY f.content_id, c.title, COALESCE(f.content_kind, c.kind) ORDER BY {time} DESC, f.content_id"),
                &["content_id", "title", "kind", "time"],
            ),
            // A login names its user (spec §8b), never an owned playback's.
            self.statement(
                at,
                events,
                &format!("{} AS login_ts", dialect.instant("f.ts")),
                false,
                "AND f.\"type\" = 'session_start' AND f.user_id IS NOT NULL ORDER BY f.ts",
                &["ts"],
            ),
        ]
    }
}

fn float(cell: Option<&Cell>) -> f64 {
    cell.and_then(Cell::as_f64).unwrap_or(0.0)
}

fn int(cell: Option<&Cell>) -> i64 {
    match cell {
        Some(Cell::Int(i)) => *i,
        _ => 0,
    }
}

/// A device key as the answer names it (the keyed hash, never the viewer's
/// address). Selected as text: half of all keys are beyond a signed integer.
fn device(cell: Option<&Cell>) -> Value {
    match cell {
        Some(Cell::Text(k)) => k.parse::<u64>().map(|k| Value::String(format!("{k:016x}"))).unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// Minutes with two decimals, from seconds.
fn minutes(seconds: f64) -> f64 {
    (seconds / 60.0 * 100.0).round() / 100.0
}

impl ActivityQuery {
    /// A cell as the answer shows it: times in the query's zone.
    fn value(&self, cell: Option<&Cell>) -> Value {
        cell.map_or(Value::Null, |c| to_json(c, self.tz))
    }

    /// The answer from the statements' tables (in [`Select::statements`] order).
    pub fn answer(&self, tables: &[Table]) -> Value {
        let empty = Table::default();
        let table = |i: usize| tables.get(i).unwrap_or(&empty);
        let first = |i: usize| table(i).rows.first().cloned().unwrap_or_default();
        let overview = first(0);
        let seconds = float(overview.get(2));
        let total = int(first(1).first()).max(0) as usize;
        let events: Vec<Value> = table(2)
            .rows
            .iter()
            .map(|r| {
                let day = match r.first() {
                    Some(Cell::Time(us)) => Value::String(format_in_tz(*us, self.tz).chars().take(10).collect()),
                    _ => Value::Null,
                };
                json!({
                    "ts": self.value(r.first()),
                    "day": day,
                    "type": self.value(r.get(1)),
                    "playback_id": self.value(r.get(2)),
                    "content_id": self.value(r.get(3)),
                    "title": self.value(r.get(4)),
                    "position": self.value(r.get(5)),
                    "duration": self.value(r.get(6)),
                    "bitrate": self.value(r.get(7)),
                    "bandwidth": self.value(r.get(8)),
                    "device": { "id": device(r.get(9)), "browser": self.value(r.get(10)), "os": self.value(r.get(11)), "device_type": self.value(r.get(12)) },
                })
            })
            .collect();
        let bandwidth: Vec<Value> = table(3)
            .rows
            .iter()
            .map(|r| json!({ "minute": self.value(r.first()), "bandwidth_kbps": self.value(r.get(1)), "bitrate_kbps": self.value(r.get(2)) }))
            .collect();
        let devices: Vec<Value> = table(4)
            .rows
            .iter()
            .map(|r| {
                json!({
                    "id": device(r.first()),
                    "browser": self.value(r.get(1)),
                    "os": self.value(r.get(2)),
                    "device_type": self.value(r.get(3)),
                    "first_seen": self.value(r.get(4)),
                    "last_seen": self.value(r.get(5)),
                    "events": self.value(r.get(6)),
                })
            })
            .collect();
        let referrers: Vec<Value> = table(5)
            .rows
            .iter()
            .map(|r| json!({ "referrer_host": self.value(r.first()), "events": self.value(r.get(1)) }))
            .collect();
        let (mut on_demand, mut live) = (Vec::new(), Vec::new());
        for r in &table(6).rows {
            let secs = float(r.get(3));
            let item = json!({ "content_id": self.value(r.first()), "title": self.value(r.get(1)), "seconds": secs, "minutes": minutes(secs) });
            match r.get(2) {
                Some(Cell::Text(k)) if k == "live" => live.push(item),
                _ => on_demand.push(item),
            }
        }
        let logins: Vec<Value> = table(7).rows.iter().map(|r| self.value(r.first())).collect();
        json!({
            "user_id": self.user_id,
            "from": format_in_tz(self.from, self.tz),
            "to": format_in_tz(self.to, self.tz),
            "tz": self.tz.name(),
            "overview": {
                "starts": int(overview.first()),
                "streams": int(overview.get(1)),
                "seconds": seconds,
                "minutes": minutes(seconds),
            },
            "events": {
                "total": total,
                "page": self.page,
                "per_page": self.per_page,
                "pages": total.div_ceil(self.per_page),
                "items": events,
            },
            "bandwidth": bandwidth,
            "details": {
                "devices": devices,
                "referrers": referrers,
                "on_demand": on_demand,
                "live": live,
                "logins": logins,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClickHouse, DataFusion};

    #[test]
    fn the_user_is_a_parameter_in_every_statement_and_pages_are_bounded() {
        let q = ActivityQuery::parse("u' OR 1=1", "2026-03-01", "2026-03-31", Tz::UTC, Some("2"), Some("50")).unwrap();
        let statements = q.statements(3, &DataFusion);
        assert_eq!(statements.len(), 8);
        for s in &statements {
            assert_eq!(s.params, vec!["u' OR 1=1".to_string()]);
            assert!(s.text.contains("f.user_id = $1") && !s.text.contains("OR 1=1"), "{}", s.text);
        }
        assert!(statements[2].text.ends_with("LIMIT 50 OFFSET 50"), "{}", statements[2].text);
        for s in q.statements(3, &ClickHouse) {
            assert!(s.text.contains("f.tenant_id = 3"), "{}", s.text);
        }
        let mut owning = q.clone();
        let stretch = |p: &str, from: i64, to: i64| OwnedStretch {
            playback_id: p.into(),
            from,
            to,
        };
        owning.owned = vec![stretch("p1", 10, 20), stretch("p2", 30, 40), stretch("p1", 50, 60)];
        for s in owning.statements(3, &DataFusion) {
            assert!(s.text.contains("UNION ALL SELECT * FROM"), "{}", s.text);
            assert!(
                s.text.contains("f.user_id IS NULL AND f.playback_id IN ($2, $3) AND ((f.playback_id = $2 AND"),
                "{}",
                s.text
            );
            assert!(
                s.text
                    .contains("OR (f.playback_id = $2 AND arrow_cast(f.ts, 'Int64') >= 50 AND arrow_cast(f.ts, 'Int64') <= 60))"),
                "{}",
                s.text
            );
            assert_eq!(s.params.len(), 3);
        }
        assert!(ActivityQuery::parse("u", "2026-03-01", "2026-03-31", Tz::UTC, Some("0"), None).is_err());
        assert!(ActivityQuery::parse("u", "2026-03-01", "2026-03-31", Tz::UTC, None, Some("5000")).is_err());
    }
}

//! CDN metrics (spec §7): what was served, bots included, per 5-minute bucket
//! (or hour, day) and by zone, POP, status class or cache status.

use chrono_tz::Tz;
use streamtally_model::{Micros, TenantId};

use crate::model::parse_range_in;
use crate::sql::{param, scope_filter};
use crate::{Answer, Cell, Dialect, QueryError, Sql, Table, TimeUnit};
use crate::{Scope, Select};

/// Cache statuses counted as hits and as misses (nginx, CloudFront, Cloudflare spellings).
pub const HIT_STATUSES: [&str; 4] = ["HIT", "STALE", "UPDATING", "REVALIDATED"];
pub const MISS_STATUSES: [&str; 2] = ["MISS", "EXPIRED"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdnGroup {
    FiveMinutes,
    Hour,
    Day,
    Zone,
    Pop,
    StatusClass,
    CacheStatus,
}

impl CdnGroup {
    pub const ALL: [(&'static str, CdnGroup); 7] = [
        ("5m", CdnGroup::FiveMinutes),
        ("hour", CdnGroup::Hour),
        ("day", CdnGroup::Day),
        ("zone", CdnGroup::Zone),
        ("pop", CdnGroup::Pop),
        ("status_class", CdnGroup::StatusClass),
        ("cache_status", CdnGroup::CacheStatus),
    ];

    fn name(self) -> &'static str {
        CdnGroup::ALL.iter().find(|(_, g)| *g == self).map(|(n, _)| *n).unwrap_or("")
    }

    fn expr(self, tz: Tz, dialect: &dyn Dialect) -> String {
        match self {
            CdnGroup::FiveMinutes => dialect.fixed_bucket("f.ts", 300),
            CdnGroup::Hour => dialect.time_bucket("f.ts", TimeUnit::Hour, tz),
            CdnGroup::Day => dialect.time_bucket("f.ts", TimeUnit::Day, tz),
            CdnGroup::Zone => "f.zone".into(),
            CdnGroup::Pop => "f.pop".into(),
            CdnGroup::StatusClass => "CASE WHEN f.status < 200 THEN '1xx' WHEN f.status < 300 THEN '2xx' WHEN f.status < 400 THEN '3xx' WHEN f.status < 500 THEN '4xx' ELSE '5xx' END".into(),
            CdnGroup::CacheStatus => "f.cache_status".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CdnQuery {
    pub from: Micros,
    pub to: Micros,
    pub group_by: Vec<CdnGroup>,
    pub zone: Option<String>,
    pub pop: Option<String>,
    pub tz: Tz,
}

pub const CDN_METRICS: [&str; 11] = [
    "traffic",
    "requests",
    "hits",
    "misses",
    "hit_ratio",
    "errors",
    "status_1xx",
    "status_2xx",
    "status_3xx",
    "status_4xx",
    "status_5xx",
];

impl CdnQuery {
    pub fn parse(from: &str, to: &str, group_by: Option<&str>, zone: Option<&str>, pop: Option<&str>, tz: Tz) -> Result<CdnQuery, QueryError> {
        let (from, to) = parse_range_in(from, to, tz)?;
        let group_by = group_by
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(|g| {
                CdnGroup::ALL
                    .iter()
                    .find(|(n, _)| *n == g)
                    .map(|(_, d)| *d)
                    .ok_or_else(|| QueryError::UnknownCdnDimension(g.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        crate::model::refuse_repeats("group_by", &group_by, |g| {
            CdnGroup::ALL.iter().find(|(_, d)| d == g).map(|(n, _)| n.to_string()).unwrap_or_default()
        })?;
        let keep = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_string);
        Ok(CdnQuery {
            from,
            to,
            group_by,
            zone: keep(zone),
            pop: keep(pop),
            tz,
        })
    }

    fn sql(&self, tenant: TenantId, dialect: &dyn Dialect, grouped: bool) -> Sql {
        let mut params = Vec::new();
        let groups: &[CdnGroup] = if grouped { &self.group_by } else { &[] };
        let keys: Vec<String> = groups.iter().map(|g| g.expr(self.tz, dialect)).collect();
        let mut select: Vec<String> = groups
            .iter()
            .zip(&keys)
            .map(|(g, key)| format!("{key} AS {}", dialect.output_alias(g.name())))
            .collect();
        let list = |xs: &[&str]| xs.iter().map(|x| format!("'{x}'")).collect::<Vec<_>>().join(", ");
        let class = |lo: u16| format!("COALESCE(SUM(CASE WHEN f.status >= {lo} AND f.status < {} THEN f.requests END), 0)", lo + 100);
        select.extend([
            "COALESCE(SUM(f.value), 0.0) AS traffic".to_string(),
            "COALESCE(SUM(f.requests), 0) AS total_requests".to_string(),
            format!(
                "COALESCE(SUM(CASE WHEN f.cache_status IN ({}) THEN f.requests END), 0) AS hits",
                list(&HIT_STATUSES)
            ),
            format!(
                "COALESCE(SUM(CASE WHEN f.cache_status IN ({}) THEN f.requests END), 0) AS misses",
                list(&MISS_STATUSES)
            ),
            format!("{} AS errors", class(500)),
            format!("{} AS status_1xx", class(100)),
            format!("{} AS status_2xx", class(200)),
            format!("{} AS status_3xx", class(300)),
            format!("{} AS status_4xx", class(400)),
            format!("{} AS status_5xx", class(500)),
        ]);
        let mut wheres = scope_filter(tenant, self.from, self.to, dialect);
        wheres.extend(["f.kind = 'request'".to_string()]);
        if let Some(z) = &self.zone {
            wheres.push(format!("f.zone = {}", param(dialect, &mut params, z)));
        }
        if let Some(p) = &self.pop {
            wheres.push(format!("f.pop = {}", param(dialect, &mut params, p)));
        }
        let mut text = format!(
            "SELECT {} FROM {} AS f WHERE {}",
            select.join(", "),
            dialect.facts_table(),
            wheres.join(" AND ")
        );
        text.push_str(&crate::sql::grouped_by(&keys));
        let mut columns: Vec<String> = groups.iter().map(|g| g.name().to_string()).collect();
        // hit_ratio is computed from hits and misses afterwards (`cdn_answer`).
        columns.extend(CDN_METRICS.iter().filter(|m| **m != "hit_ratio").map(|m| m.to_string()));
        Sql { text, params, columns }
    }
}

impl Select for CdnQuery {
    fn scope(&self) -> Scope {
        Scope::facts(self.from, self.to)
    }

    /// The grouped rows, then the totals.
    fn statements(&self, tenant: TenantId, dialect: &dyn Dialect) -> Vec<Sql> {
        vec![self.sql(tenant, dialect, true), self.sql(tenant, dialect, false)]
    }
}

/// The answer with the hit ratio (hits ÷ (hits + misses), 3 decimals) added
/// after the misses, and traffic in whole bytes.
pub fn cdn_answer(mut tables: Vec<Table>, tz: Tz) -> Answer {
    let mut totals = tables.pop().unwrap_or_default();
    let mut rows = tables.pop().unwrap_or_default();
    for t in [&mut rows, &mut totals] {
        let Some(hits_at) = t.columns.iter().position(|c| c == "hits") else {
            continue;
        };
        let traffic_at = t.columns.iter().position(|c| c == "traffic");
        t.columns.insert(hits_at + 2, "hit_ratio".into());
        for row in &mut t.rows {
            let n = |c: &Cell| match c {
                Cell::Int(i) => *i as f64,
                Cell::Float(f) => *f,
                _ => 0.0,
            };
            let (hits, misses) = (n(&row[hits_at]), n(&row[hits_at + 1]));
            let ratio = if hits + misses > 0.0 {
                Cell::Float((hits / (hits + misses) * 1000.0).round() / 1000.0)
            } else {
                Cell::Null
            };
            row.insert(hits_at + 2, ratio);
            if let Some(i) = traffic_at {
                row[i] = Cell::Int(n(&row[i]) as i64);
            }
        }
    }
    Answer {
        rows,
        totals,
        tz,
        truncated: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClickHouse, DataFusion};

    #[test]
    fn buckets_groups_and_filters() {
        let q = CdnQuery::parse(
            "2026-03-02",
            "2026-03-03",
            Some("5m,pop,status_class"),
            Some("media.example.org"),
            None,
            Tz::UTC,
        )
        .unwrap();
        let s = &q.statements(1, &DataFusion)[0];
        assert!(s.text.contains("/ 300000000) * 300000000"), "{}", s.text);
        assert_eq!(s.params, vec!["media.example.org".to_string()]);
        assert!(q.statements(1, &ClickHouse)[0]
            .text
            .contains("toDecimal64(intDiv(f.ts, 300000000) * 300000000, 0)"));
        assert!(CdnQuery::parse("2026-03-02", "2026-03-03", Some("browser"), None, None, Tz::UTC).is_err());
    }
}

//! Rollups (issue 17; docs/COUNTING.md, "Rollups"): the facts most
//! questions count (starts, streams, downloads, views, users and time)
//! added up per hour, device, content and the other dimensions a fact
//! carries itself. The embedded store keeps them beside each settled file of
//! facts ([`rollup_definition`]). A question whose metrics, dimensions,
//! filters, range and zone all fit them ([`fits`]) reads them, together with
//! the facts no rollup holds yet, in one statement ([`rolled_facts`]).
//!
//! Every figure read this way is exact, not estimated: the grain keeps the
//! device, so distinct devices are counted from the rows as from the facts,
//! and time is added in whole milliseconds, as the facts' is (`time_expr`).
//! What a row saves is the facts of one playback in one hour (a start, its
//! stream, view and user, and a time fact per report), not the device.

use std::sync::OnceLock;

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;
use streamtally_model::{Micros, TenantId, MICROS_PER_SEC};
use streamtally_store::RollupDefinition;

use crate::sql::scope_filter;
use crate::{DataFusion, Dialect, Dimension, Metric, MetricsQuery, TimeUnit};

/// The dimensions of a fact that a rollup row keeps, besides its hour and device.
const GRAIN: [&str; 13] = [
    "content_id",
    "property",
    "source",
    "referrer_host",
    "content_kind",
    "media",
    "country",
    "region",
    "city",
    "browser",
    "os",
    "device_type",
    "app",
];

/// The fact kinds a rollup counts, each into its column (time facts are
/// counted too, apart from their seconds: a group of time facts of no
/// seconds is a group).
const COUNTED: [(&str, &str); 6] = [
    ("start", "starts"),
    ("stream", "streams"),
    ("download", "downloads"),
    ("view", "views"),
    ("user", "users"),
    ("time", "times"),
];

/// The table of rollup rows a store hands a statement of a scope with rollups.
const ROLLUPS_TABLE: &str = "rollups";
/// The facts of the same scope that no rollup holds yet.
const UNROLLED_TABLE: &str = "unrolled";

const HOUR: Micros = 3_600 * MICROS_PER_SEC;

/// The columns of a rollup row, in order.
fn columns() -> Vec<String> {
    let mut c: Vec<String> = ["ts", "device_key"].into_iter().chain(GRAIN).map(String::from).collect();
    c.extend(COUNTED.iter().map(|(_, column)| column.to_string()));
    c.push("time_ms".into());
    c
}

/// The rollup rows of the facts of `table` (as `f`) that meet `conditions`.
fn rollup_select(table: &str, conditions: &[String], dialect: &dyn Dialect) -> String {
    let hour = dialect.time_bucket("f.ts", TimeUnit::Hour, Tz::UTC);
    let grain = GRAIN.map(|c| format!("f.{c}")).join(", ");
    let mut measures: Vec<String> = COUNTED
        .iter()
        .map(|(kind, column)| format!("COUNT(CASE WHEN f.kind = '{kind}' THEN 1 END) AS {column}"))
        .collect();
    // As `time_expr`, in whole milliseconds: sums that do not depend on their order.
    measures.push("COALESCE(SUM(CASE WHEN f.kind = 'time' THEN CAST(round(f.value * 1000.0) AS BIGINT) END), 0) AS time_ms".into());
    let kinds: Vec<String> = COUNTED.iter().map(|(kind, _)| format!("'{kind}'")).collect();
    let mut wheres = conditions.to_vec();
    wheres.push(format!("f.kind IN ({})", kinds.join(", ")));
    format!(
        "SELECT {hour} AS ts, f.device_key, {grain}, {} FROM {table} AS f WHERE {} GROUP BY {hour}, f.device_key, {grain}",
        measures.join(", "),
        wheres.join(" AND ")
    )
}

/// What the embedded store keeps beside each settled file of facts: its
/// rollup rows, in the dialect it speaks.
pub fn rollup_definition() -> &'static RollupDefinition {
    static DEFINITION: OnceLock<RollupDefinition> = OnceLock::new();
    DEFINITION.get_or_init(|| RollupDefinition {
        sql: rollup_select("facts", &[], &DataFusion),
    })
}

/// A tenant's facts of `[from, to)` as rollup rows: the rollups the store
/// has, and the facts it has none of yet, rolled up as the statement runs.
pub(crate) fn rolled_facts(tenant: TenantId, from: Micros, to: Micros, dialect: &dyn Dialect) -> String {
    let scope = scope_filter(tenant, from, to, dialect);
    let columns: Vec<String> = columns().iter().map(|c| format!("f.{c}")).collect();
    format!(
        "(SELECT {} FROM {ROLLUPS_TABLE} AS f WHERE {} UNION ALL {})",
        columns.join(", "),
        scope.join(" AND "),
        rollup_select(UNROLLED_TABLE, &scope, dialect)
    )
}

/// The condition keeping the rollup rows that hold a fact of any of `kinds`:
/// where facts of those kinds alone are read, rows of only other kinds
/// would make groups the facts do not.
pub(crate) fn holding_any_of(kinds: &[&str]) -> String {
    let held: Vec<String> = COUNTED
        .iter()
        .filter(|(kind, _)| kinds.contains(kind))
        .map(|(_, column)| format!("f.{column} > 0"))
        .collect();
    match held.is_empty() {
        true => "FALSE".into(),
        false => format!("({})", held.join(" OR ")),
    }
}

/// Metric `m` over rollup rows (as `f`), of the same value and type as
/// `measure_expr` over the facts; `None` for the metrics rollups cannot
/// answer (quality of experience needs each fact's value).
pub(crate) fn rolled_measure(m: Metric) -> Option<String> {
    let sum = |column: &str| format!("COALESCE(SUM(f.{column}), 0)");
    let time = format!("{} / 1000.0", sum("time_ms"));
    Some(match m {
        Metric::Starts => sum("starts"),
        Metric::Streams => sum("streams"),
        Metric::Downloads => sum("downloads"),
        Metric::Views => sum("views"),
        Metric::Users => sum("users"),
        Metric::Time => time,
        // Spec §3: distinct device keys among starts and downloads.
        Metric::Devices => "COUNT(DISTINCT CASE WHEN f.starts + f.downloads > 0 THEN f.device_key END)".into(),
        Metric::AvgTime => {
            let starts = sum("starts");
            format!("CASE WHEN {starts} = 0 THEN NULL ELSE round(({time}) / {starts}, 3) END")
        }
        _ => return None,
    })
}

/// Whether rollup rows hold what dimension `d` groups or filters by: the
/// fact's own dimensions, the catalogue's (joined on the content) and time
/// by the hour or longer; not minutes, free dimensions or the directory's
/// (a fact's user is not in the grain).
fn dimension_fits(d: &Dimension) -> bool {
    match d {
        Dimension::Time(unit) => *unit != TimeUnit::Minute,
        Dimension::Free(_) => false,
        d => !d.needs_directory(),
    }
}

/// Ranges longer than this are read from the facts: checking the zone's
/// offset at every hour of them costs more than it saves.
const MAX_CHECKED_HOURS: i64 = 24 * 366 * 3;

/// Whether `tz` is a whole number of hours from UTC at every hour of
/// `[from, to)`: then each local hour, day, week and month begins on a UTC
/// hour, and an hour's rollup row falls in the same local bucket as each of
/// its facts. (India's or Nepal's zones are not, nor Lord Howe's summer.)
fn whole_hours_from_utc(tz: Tz, from: Micros, to: Micros) -> bool {
    if (to - from) / HOUR > MAX_CHECKED_HOURS {
        return false;
    }
    (0..)
        .map(|h| from + h * HOUR)
        .take_while(|at| *at < to)
        .all(|at| match chrono::DateTime::from_timestamp_micros(at) {
            Some(t) => tz.offset_from_utc_datetime(&t.naive_utc()).fix().local_minus_utc() % 3_600 == 0,
            None => false,
        })
}

/// Whether rollup rows answer `q` exactly: its metrics are counts, time
/// and devices; its dimensions and filters fit ([`dimension_fits`]); its
/// range begins and ends on UTC hours; and time buckets in its zone begin on
/// UTC hours.
pub(crate) fn fits(q: &MetricsQuery) -> bool {
    let dimensions = q.group_by.iter().chain(q.filters.iter().map(|f| &f.dimension));
    q.metrics.iter().all(|m| rolled_measure(*m).is_some())
        && dimensions.clone().all(dimension_fits)
        && q.from % HOUR == 0
        && q.to % HOUR == 0
        && (!q.group_by.iter().any(|d| matches!(d, Dimension::Time(_))) || whole_hours_from_utc(q.tz, q.from, q.to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(metrics: &str, group_by: Option<&str>, filter: Option<&str>, tz: Option<&str>) -> MetricsQuery {
        MetricsQuery::parse("2026-03-01", "2026-03-08", metrics, group_by, filter, tz).unwrap()
    }

    #[test]
    fn the_overview_fits() {
        assert!(fits(&q("starts,streams,time,downloads,devices,views,users", None, None, None)));
        assert!(fits(&q("starts,devices,time", Some("day"), None, Some("Europe/Berlin"))));
        assert!(fits(&q("avg_time", Some("content_id,title,country"), Some("property:web"), None)));
    }

    #[test]
    fn what_a_row_does_not_hold_is_read_from_facts() {
        assert!(!fits(&q("starts,startup_median", None, None, None)));
        assert!(!fits(&q("starts", Some("minute"), None, None)));
        assert!(!fits(&q("starts", Some("gender"), None, None)));
        assert!(!fits(&q("starts", Some("dim:team"), None, None)));
        assert!(!fits(&q("starts", None, Some("home_country:DE"), None)));
    }

    #[test]
    fn zones_off_the_hour_and_ranges_off_the_hour_read_facts() {
        assert!(!fits(&q("starts", Some("day"), None, Some("Asia/Kolkata"))));
        // Without time buckets the zone only moves the range, which is on the hour in Berlin…
        assert!(fits(&q("starts", None, None, Some("Europe/Berlin"))));
        // …and not in Kolkata.
        assert!(!fits(&q("starts", None, None, Some("Asia/Kolkata"))));
        let off = MetricsQuery::parse("2026-03-01T00:30:00Z", "2026-03-02T00:00:00Z", "starts", None, None, None).unwrap();
        assert!(!fits(&off));
    }

    #[test]
    fn a_row_of_other_kinds_only_makes_no_group() {
        assert_eq!(holding_any_of(&["start", "time"]), "(f.starts > 0 OR f.times > 0)");
        assert_eq!(holding_any_of(&["view"]), "(f.views > 0)");
    }

    #[test]
    fn the_definition_and_the_rolled_rows_have_the_same_columns() {
        let definition = &rollup_definition().sql;
        for c in columns() {
            assert!(
                definition.contains(&format!(" AS {c}")) || definition.contains(&format!("f.{c}")),
                "{c}: {definition}"
            );
        }
        let rolled = rolled_facts(1, 0, HOUR, &DataFusion);
        assert!(rolled.starts_with("(SELECT f.ts, f.device_key, f.content_id"), "{rolled}");
        assert!(rolled.contains("FROM unrolled AS f"), "{rolled}");
    }
}

//! SQL for a metrics query, generated once for every dialect.

use chrono_tz::Tz;

use streamtally_model::{Micros, TenantId, OWNER_WINDOW};

use streamtally_store::Sql;

use crate::{Dialect, Dimension, Filter, Metric, MetricsQuery};

pub(crate) fn dimension_expr(d: &Dimension, tz: Tz, dialect: &dyn Dialect) -> String {
    match d {
        Dimension::Time(unit) => dialect.time_bucket("f.ts", *unit, tz),
        Dimension::Free(name) => dialect.free_dimension("f.dimensions", name.as_str()),
        Dimension::ContentId => "f.content_id".into(),
        Dimension::Property => "f.property".into(),
        Dimension::Source => "f.source".into(),
        Dimension::ReferrerHost => "f.referrer_host".into(),
        // The player's own word first; the catalogue's when the player gave none.
        Dimension::ContentKind => "COALESCE(f.content_kind, c.kind)".into(),
        Dimension::Media => "COALESCE(f.media, c.media)".into(),
        Dimension::Country => "f.country".into(),
        Dimension::Region => "f.region".into(),
        Dimension::City => "f.city".into(),
        Dimension::Browser => "f.browser".into(),
        Dimension::Os => "f.os".into(),
        Dimension::DeviceType => "f.device_type".into(),
        Dimension::App => "f.app".into(),
        Dimension::Title => "c.title".into(),
        Dimension::Category => "c.category".into(),
        Dimension::Show => "c.show".into(),
        Dimension::Producer => "c.producer".into(),
        Dimension::Distributor => "c.distributor".into(),
        Dimension::Season => "c.season".into(),
        Dimension::Episode => "c.episode".into(),
        Dimension::Broadcaster => "c.broadcaster".into(),
        Dimension::Guid => "c.guid".into(),
        // A fact of no user is no registered user's; a user the directory
        // does not hold is one of unknown gender, age and place.
        Dimension::Gender => registered("u.gender"),
        Dimension::AgeRange => registered("u.age_range"),
        Dimension::HomeCountry => registered("u.home_country"),
        Dimension::HomeRegion => registered("u.home_region"),
        Dimension::HomeCity => registered("u.home_city"),
    }
}

fn registered(column: &str) -> String {
    format!("CASE WHEN {FACT_USER} IS NULL THEN NULL ELSE COALESCE({column}, 'unknown') END")
}

/// Spec §8b: a fact's user is its own, else the one its playback named after
/// it in the same start ([`FactKind::Owner`](streamtally_model::FactKind::Owner),
/// joined by [`directory_join`] as `o`).
pub(crate) const FACT_USER: &str = "COALESCE(f.user_id, o.owner_user)";

fn count_of(kind: &str) -> String {
    format!("COUNT(CASE WHEN f.kind = '{kind}' THEN 1 END)")
}

/// Seconds of time, summed in whole milliseconds: integer sums do not depend
/// on the order rows are added in, so the rows of a grouping add up to its total.
pub(crate) fn time_expr() -> String {
    "COALESCE(SUM(CASE WHEN f.kind = 'time' THEN CAST(round(f.value * 1000.0) AS BIGINT) END), 0) / 1000.0".into()
}

/// Facts of `kinds` from the sources that can report quality (players;
/// video logs, whose time comes from CMCD sessions): podcast byte ranges
/// cannot stall, so their time and starts weigh in no quality figure.
fn of_quality_sources(kinds: &str) -> String {
    format!("f.kind IN ({kinds}) AND f.source IN ('player', 'video-log')")
}

/// The SQL of one metric of `q`, quality of experience included (spec §8d).
pub(crate) fn measure_expr(m: Metric, q: &MetricsQuery, dialect: &dyn Dialect) -> String {
    let sum = |cond: &str, of: &str| format!("SUM(CASE WHEN {cond} THEN {of} END)");
    let count = |cond: &str| format!("COUNT(CASE WHEN {cond} THEN 1 END)");
    let played = format!("COALESCE({}, 0.0)", sum(&of_quality_sources("'time'"), "f.value"));
    let stalled = format!("COALESCE({}, 0.0)", sum(&of_quality_sources("'stall', 'stalled'"), "f.value"));
    match m {
        Metric::StartupMedian | Metric::StartupP95 => {
            let p = if m == Metric::StartupMedian { 0.5 } else { 0.95 };
            format!("round({}, 3)", dialect.percentile("CASE WHEN f.kind = 'startup' THEN f.value END", p))
        }
        Metric::RebufferRatio => format!("CASE WHEN {played} + {stalled} = 0 THEN NULL ELSE round({stalled} / ({played} + {stalled}), 4) END"),
        Metric::RebufferFrequency => {
            format!(
                "CASE WHEN {played} = 0 THEN NULL ELSE round({} * 60.0 / {played}, 4) END",
                count(&of_quality_sources("'stall'"))
            )
        }
        Metric::FailureRate => {
            let starts = count(&of_quality_sources("'start'"));
            format!(
                "CASE WHEN {starts} = 0 THEN NULL ELSE round({} * 1.0 / {starts}, 4) END",
                count(&of_quality_sources("'failure'"))
            )
        }
        Metric::ExitsBeforeStart => {
            // Spec §8d: player starts settled (idle long enough) that showed
            // no frame and did not fail before one. All three facts are at
            // the start's time, so the subtraction is per start; `attempt`
            // rather than `start`, so starts counted before quality was are none.
            let settled = format!("f.source = 'player' AND f.ts < {}", dialect.timestamp(q.settled.min(q.to)));
            format!(
                "{} - {} - CAST(COALESCE({}, 0.0) AS BIGINT)",
                count(&format!("f.kind = 'attempt' AND {settled}")),
                count(&format!("f.kind = 'startup' AND {settled}")),
                sum(&format!("f.kind = 'failure' AND {settled}"), "f.value")
            )
        }
        Metric::BitrateAvg => {
            let rated = format!("{} AND f.bitrate IS NOT NULL", of_quality_sources("'time'"));
            let (weighted, secs) = (sum(&rated, "f.value * f.bitrate"), sum(&rated, "f.value"));
            format!("CASE WHEN COALESCE({secs}, 0.0) = 0 THEN NULL ELSE round({weighted} / {secs}, 1) END")
        }
        Metric::BitrateSwitches => count_of("switch"),
        Metric::Errors => count_of("fault"),
        Metric::Starts => count_of("start"),
        Metric::Streams => count_of("stream"),
        Metric::Downloads => count_of("download"),
        Metric::Views => count_of("view"),
        Metric::Users => count_of("user"),
        Metric::Time => time_expr(),
        // Spec §3: distinct device keys among starts and downloads.
        Metric::Devices => "COUNT(DISTINCT CASE WHEN f.kind IN ('start', 'download') THEN f.device_key END)".into(),
        // Source 000: time ÷ starts, in seconds (ms-exact); none without a start.
        Metric::AvgTime => {
            let starts = count_of("start");
            format!("CASE WHEN {starts} = 0 THEN NULL ELSE round(({}) / {starts}, 3) END", time_expr())
        }
    }
}

fn kinds_of(m: Metric) -> &'static [&'static str] {
    match m {
        Metric::Starts => &["start"],
        Metric::Streams => &["stream"],
        Metric::Downloads => &["download"],
        Metric::Views => &["view"],
        Metric::Users => &["user"],
        Metric::Time => &["time"],
        Metric::Devices => &["start", "download"],
        Metric::AvgTime => &["start", "time"],
        Metric::StartupMedian | Metric::StartupP95 => &["startup"],
        Metric::RebufferRatio | Metric::RebufferFrequency => &["time", "stall", "stalled"],
        Metric::FailureRate => &["start", "failure"],
        Metric::ExitsBeforeStart => &["attempt", "startup", "failure"],
        Metric::BitrateAvg => &["time"],
        Metric::BitrateSwitches => &["switch"],
        Metric::Errors => &["fault"],
    }
}

/// One `IN (…)` condition per filter; the values become parameters.
pub(crate) fn filter_clauses(filters: &[Filter], dialect: &dyn Dialect, params: &mut Vec<String>) -> Vec<String> {
    filters
        .iter()
        .map(|f| {
            let alts: Vec<String> = f.values.iter().map(|v| param(dialect, params, v)).collect();
            format!("{} IN ({})", dimension_expr(&f.dimension, Tz::UTC, dialect), alts.join(", "))
        })
        .collect()
}

/// The conditions keeping one tenant's facts with `from <= ts < to`: every
/// statement starts from these.
pub(crate) fn scope_filter(tenant: TenantId, from: Micros, to: Micros, dialect: &dyn Dialect) -> Vec<String> {
    scope_of("f", tenant, from, to, dialect)
}

fn scope_of(alias: &str, tenant: TenantId, from: Micros, to: Micros, dialect: &dyn Dialect) -> Vec<String> {
    let mut w: Vec<String> = dialect.tenant_condition(alias, tenant).into_iter().collect();
    w.extend([
        format!("{alias}.ts >= {}", dialect.timestamp(from)),
        format!("{alias}.ts < {}", dialect.timestamp(to)),
    ]);
    w
}

/// The `Owner` facts that may name the user of a fact from `from` to `to`:
/// they begin at most [`OWNER_WINDOW`] before the facts they own.
pub(crate) fn owners_of(tenant: TenantId, from: Micros, to: Micros, dialect: &dyn Dialect) -> Vec<String> {
    let mut w = scope_of("f", tenant, from.saturating_sub(OWNER_WINDOW), to, dialect);
    w.push("f.kind = 'owner'".into());
    w
}

/// The owned stretches of the `Owner` facts `owners_of` keeps, as columns
/// `playback_id, owned_from, owned_to` (microseconds, both ends included)
/// and `user_id` (one per stretch: identical facts of a replay are one).
pub(crate) fn owned_stretches(owners: &[String], dialect: &dyn Dialect) -> String {
    let from = dialect.epoch_micros("f.ts");
    format!(
        "SELECT f.playback_id, {from} AS owned_from, {from} + CAST(round(f.value * 1000000.0) AS BIGINT) AS owned_to, MIN(f.user_id) AS owner_user \
         FROM {} AS f WHERE {} GROUP BY f.playback_id, owned_from, owned_to",
        dialect.facts_table(),
        owners.join(" AND ")
    )
}

/// The catalogue, joined on the content: every backend hands a statement
/// the catalogue of its tenant only, so the join needs no tenant condition
/// (which ClickHouse 18.16 could not take in `ON` either).
pub(crate) fn catalogue_join(dialect: &dyn Dialect) -> String {
    format!(" LEFT JOIN {} AS c ON c.content_id = f.content_id", dialect.contents_table())
}

/// The user directory of the facts' tenant, joined on the fact's user (its
/// own, else its playback's owner, joined as `o`).
pub(crate) fn directory_join(tenant: TenantId, from: Micros, to: Micros, dialect: &dyn Dialect) -> String {
    let stretches = owned_stretches(&owners_of(tenant, from, to, dialect), dialect);
    let at = dialect.epoch_micros("f.ts");
    // The directory is the tenant's only, as the catalogue (`catalogue_join`).
    format!(
        " LEFT JOIN ({stretches}) AS o ON o.playback_id = f.playback_id AND f.user_id IS NULL AND {at} >= o.owned_from AND {at} <= o.owned_to \
         LEFT JOIN {} AS u ON u.user_id = {FACT_USER}",
        dialect.users_table()
    )
}

/// Binds `value` as the next parameter and returns its placeholder.
pub(crate) fn param(dialect: &dyn Dialect, params: &mut Vec<String>, value: &str) -> String {
    params.push(value.to_string());
    dialect.param(params.len())
}

/// What a metrics statement reads the facts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    Facts,
    /// Rollup rows (`rollup.rs`): for questions that [`crate::rollup::fits`].
    Rollups,
}

/// The SQL answering `q` from the facts; with `grouped = false`, the totals row (no group keys).
pub fn metrics_sql(q: &MetricsQuery, tenant: TenantId, dialect: &dyn Dialect, grouped: bool) -> Sql {
    metrics_statement(q, tenant, dialect, grouped, false, Reading::Facts)
}

/// As [`metrics_sql`], reading the facts as `reading`.
pub(crate) fn metrics_sql_reading(q: &MetricsQuery, tenant: TenantId, dialect: &dyn Dialect, grouped: bool, reading: Reading) -> Sql {
    metrics_statement(q, tenant, dialect, grouped, false, reading)
}

/// The output column marking the totals row of [`metrics_with_totals_sql`]: 1 there, 0 on grouped rows.
pub const TOTALS_MARK: &str = "totals_row";

/// The grouped rows and their totals in one scan, for dialects with
/// [`Dialect::grouping_sets`]: the totals row is the one whose
/// [`TOTALS_MARK`] is 1 (its keys null).
pub(crate) fn metrics_with_totals_sql(q: &MetricsQuery, tenant: TenantId, dialect: &dyn Dialect, reading: Reading) -> Sql {
    metrics_statement(q, tenant, dialect, true, true, reading)
}

fn metrics_statement(q: &MetricsQuery, tenant: TenantId, dialect: &dyn Dialect, grouped: bool, with_totals: bool, reading: Reading) -> Sql {
    let mut params = Vec::new();
    let mut columns = Vec::new();
    let mut select = Vec::new();
    let group_by: &[Dimension] = if grouped { &q.group_by } else { &[] };
    let keys: Vec<String> = group_by.iter().map(|d| dimension_expr(d, q.tz, dialect)).collect();
    for (d, key) in group_by.iter().zip(&keys) {
        select.push(format!("{key} AS {}", dialect.output_alias(&d.name())));
        columns.push(d.name().to_string());
    }
    for m in &q.metrics {
        let measure = match reading {
            Reading::Facts => measure_expr(*m, q, dialect),
            // `fits` let only metrics with a rolled form through.
            Reading::Rollups => crate::rollup::rolled_measure(*m).unwrap_or_else(|| measure_expr(*m, q, dialect)),
        };
        select.push(format!("{measure} AS {}", dialect.output_alias(m.name())));
        columns.push(m.name().to_string());
    }
    let with_totals = with_totals && !keys.is_empty();
    if with_totals {
        // Any key tells the sets apart: all are aggregated in the totals' set only.
        select.push(format!(
            "{} AS {}",
            dialect.integer(&format!("GROUPING({})", keys[0])),
            dialect.output_alias(TOTALS_MARK)
        ));
        columns.push(TOTALS_MARK.to_string());
    }
    let mut kinds: Vec<&str> = q.metrics.iter().flat_map(|m| kinds_of(*m).iter().copied()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let kind_list = kinds.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ");
    // Rollup rows are of the scope and of the counted kinds already.
    let (mut wheres, table) = match reading {
        Reading::Facts => (scope_filter(tenant, q.from, q.to, dialect), dialect.facts_table().to_string()),
        Reading::Rollups => (Vec::new(), crate::rollup::rolled_facts(tenant, q.from, q.to, dialect)),
    };
    match reading {
        Reading::Facts => wheres.push(format!("f.kind IN ({kind_list})")),
        // Rows of other kinds only (a view alone in its hour) make no group, as facts of them do not.
        Reading::Rollups => wheres.push(crate::rollup::holding_any_of(&kinds)),
    }
    wheres.extend(filter_clauses(&q.filters, dialect, &mut params));
    let mut text = format!("SELECT {} FROM {table} AS f", select.join(", "));
    let mut dimensions = group_by.iter().chain(q.filters.iter().map(|f| &f.dimension));
    if dimensions.clone().any(|d| d.needs_catalogue()) {
        text.push_str(&catalogue_join(dialect));
    }
    if dimensions.any(|d| d.needs_directory()) {
        text.push_str(&directory_join(tenant, q.from, q.to, dialect));
    }
    if !wheres.is_empty() {
        text.push_str(&format!(" WHERE {}", wheres.join(" AND ")));
    }
    match with_totals {
        true => {
            let keys = keys.join(", ");
            text.push_str(&format!(" GROUP BY GROUPING SETS (({keys}), ()) ORDER BY {keys}"));
        }
        false => text.push_str(&grouped_by(&keys)),
    }
    Sql { text, params, columns }
}

/// ` GROUP BY keys ORDER BY keys` (nothing without keys): by the
/// expressions, never by position, which ClickHouse 18.16 reads as a constant.
pub(crate) fn grouped_by(keys: &[String]) -> String {
    if keys.is_empty() {
        return String::new();
    }
    let keys = keys.join(", ");
    format!(" GROUP BY {keys} ORDER BY {keys}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClickHouse, DataFusion};

    #[test]
    fn filter_values_are_parameters_never_text() {
        let q = MetricsQuery::parse(
            "2026-03-02",
            "2026-03-03",
            "starts,devices",
            Some("day,category"),
            Some("property:x' OR '1'='1"),
            Some("Europe/Berlin"),
        )
        .unwrap();
        let sql = metrics_sql(&q, 1, &DataFusion, true);
        assert!(!sql.text.contains("OR '1'"), "{}", sql.text);
        assert_eq!(sql.params, vec!["x' OR '1'='1".to_string()]);
        assert!(sql.text.contains("f.property IN ($1)"));
        assert!(sql.text.contains("LEFT JOIN contents AS c"));
        assert!(sql.text.contains("Europe/Berlin"));
        assert_eq!(sql.columns, vec!["day", "category", "starts", "devices"]);
        let totals = metrics_sql(&q, 1, &DataFusion, false);
        assert!(!totals.text.contains("GROUP BY"));
        assert!(!totals.text.contains("LEFT JOIN"));
    }

    #[test]
    fn the_clickhouse_dialect_differs_only_in_its_pieces() {
        let q = MetricsQuery::parse("2026-03-02", "2026-03-03", "time", Some("hour"), Some("content_id:A"), None).unwrap();
        let sql = metrics_sql(&q, 1, &ClickHouse, true);
        assert!(sql.text.contains("toStartOfHour(toDateTime(intDiv(f.ts, 1000000), 'UTC'))"), "{}", sql.text);
        assert!(sql.text.contains("f.content_id IN ({p1:String})"));
        assert!(sql.text.contains("f.ts >= toInt64(1772409600000000)"), "{}", sql.text);
        // Grouped by the expression: 18.16 reads `GROUP BY 1` as a constant.
        assert!(!sql.text.contains("GROUP BY 1"), "{}", sql.text);
    }
}

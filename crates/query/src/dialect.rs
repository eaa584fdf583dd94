//! The engine-specific pieces of SQL. Everything else is generated once, in `sql.rs`.

use chrono_tz::Tz;

use streamtally_model::TenantId;
use streamtally_store::SqlDialect;

use crate::TimeUnit;

pub trait Dialect {
    /// The table expression the facts are read from.
    fn facts_table(&self) -> &str;
    /// The catalogue table expression, holding one tenant's contents.
    fn contents_table(&self) -> &str;
    /// The raw events table expression.
    fn events_table(&self) -> &str;
    /// The user directory as audience dimensions (`USER_COLUMNS`).
    fn users_table(&self) -> &str;
    /// The start of `unit` containing `column`, in `tz` (an instant).
    fn time_bucket(&self, column: &str, unit: TimeUnit, tz: Tz) -> String;
    /// A timestamp literal for microseconds since the epoch, UTC.
    fn timestamp(&self, micros: i64) -> String;
    /// The `n`-th (1-based) string parameter.
    fn param(&self, n: usize) -> String;
    /// An instant column as microseconds since the epoch (a 64-bit integer).
    fn epoch_micros(&self, column: &str) -> String;
    /// A number, or null, as a 64-bit integer (rounded toward zero).
    fn integer(&self, expr: &str) -> String;
    /// The alias of an output column named `name` in the answer (statements
    /// never refer to it: the answer's names come from `Sql::columns`).
    fn output_alias(&self, name: &str) -> String;
    /// A stored instant (or an aggregate of them) as an output column, so
    /// the answer holds it as an instant.
    fn instant(&self, expr: &str) -> String;
    /// The start of the `seconds`-long bucket (from the epoch) holding `column`, an instant.
    fn fixed_bucket(&self, column: &str, seconds: i64) -> String;
    /// The condition keeping one tenant's rows of the table `alias`, for
    /// engines whose tables hold every tenant's (`None`: the engine is handed
    /// one tenant's rows only, as the embedded store's per-tenant files are).
    fn tenant_condition(&self, alias: &str, tenant: TenantId) -> Option<String>;
    /// The value of the free dimension `name` in `column` (a JSON object of
    /// text values), `NULL` when absent. `name` is a checked [`crate::FreeName`].
    fn free_dimension(&self, column: &str, name: &str) -> String;
    /// The exact `p`-th percentile (0 to 1) of the non-null values of
    /// `expr` in a group, interpolated between the two nearest values (as
    /// SQL's `percentile_cont`): every engine answers the same number.
    fn percentile(&self, expr: &str, p: f64) -> String;
    /// Whether the engine answers `GROUP BY GROUPING SETS ((keys), ())` with
    /// `GROUPING(key)`: grouped rows and their totals in one scan.
    fn grouping_sets(&self) -> bool;
    /// Whether the store of this dialect keeps rollups (`rollup.rs`) and
    /// hands a scope with them its tables `rollups` and `unrolled`.
    fn rollups(&self) -> bool;
}

/// The SQL pieces of the dialect a store speaks.
pub fn dialect_of(kind: SqlDialect) -> &'static dyn Dialect {
    match kind {
        SqlDialect::DataFusion => &DataFusion,
        SqlDialect::ClickHouse => &ClickHouse,
    }
}

/// Apache DataFusion, the embedded engine.
pub struct DataFusion;

impl Dialect for DataFusion {
    fn facts_table(&self) -> &str {
        "facts"
    }
    fn contents_table(&self) -> &str {
        "contents"
    }
    fn events_table(&self) -> &str {
        "events"
    }
    fn users_table(&self) -> &str {
        "users"
    }
    fn time_bucket(&self, column: &str, unit: TimeUnit, tz: Tz) -> String {
        if tz == Tz::UTC {
            return format!("date_trunc('{}', {column})", unit.name());
        }
        // A zoned timestamp makes date_trunc cut at local midnight/hour (DST-aware).
        format!(
            "date_trunc('{}', arrow_cast({column}, 'Timestamp(Microsecond, Some(\"{}\"))'))",
            unit.name(),
            tz.name()
        )
    }
    fn timestamp(&self, micros: i64) -> String {
        format!("arrow_cast({micros}, 'Timestamp(Microsecond, Some(\"UTC\"))')")
    }
    fn param(&self, n: usize) -> String {
        format!("${n}")
    }
    fn epoch_micros(&self, column: &str) -> String {
        format!("arrow_cast({column}, 'Int64')")
    }
    fn instant(&self, expr: &str) -> String {
        expr.to_string()
    }
    fn output_alias(&self, name: &str) -> String {
        format!("\"{name}\"")
    }
    fn integer(&self, expr: &str) -> String {
        format!("CAST({expr} AS BIGINT)")
    }
    fn fixed_bucket(&self, column: &str, seconds: i64) -> String {
        let us = seconds * 1_000_000;
        format!("arrow_cast((arrow_cast({column}, 'Int64') / {us}) * {us}, 'Timestamp(Microsecond, Some(\"UTC\"))')")
    }
    fn tenant_condition(&self, _alias: &str, _tenant: TenantId) -> Option<String> {
        None
    }
    fn free_dimension(&self, column: &str, name: &str) -> String {
        // `free_dimension` is the embedded store's function (JSON of the event's dimensions).
        format!("free_dimension({column}, '{name}')")
    }
    fn percentile(&self, expr: &str, p: f64) -> String {
        format!("percentile_cont({expr}, {p:?})")
    }
    fn grouping_sets(&self) -> bool {
        true
    }
    fn rollups(&self) -> bool {
        true
    }
}

/// ClickHouse, the scale-out store, in SQL that Debian's 18.16 and current
/// releases both run. Instants are stored as Int64 microseconds since the
/// epoch; an instant in an answer is marked as `Decimal(18, 0)`, which the
/// ClickHouse store reads back as an instant. The rows a node holds in
/// memory come with each query as the external tables `facts_recent` and
/// `events_recent`; the catalogue and user directory as `contents` and
/// `users`, one tenant's each.
pub struct ClickHouse;

impl ClickHouse {
    fn micros(seconds: &str) -> String {
        format!("toDecimal64(toInt64(toUInt32({seconds})) * 1000000, 0)")
    }
}

impl Dialect for ClickHouse {
    fn facts_table(&self) -> &str {
        "(SELECT * FROM facts UNION ALL SELECT * FROM facts_recent)"
    }
    fn contents_table(&self) -> &str {
        "contents"
    }
    fn events_table(&self) -> &str {
        "(SELECT * FROM events UNION ALL SELECT * FROM events_recent)"
    }
    fn users_table(&self) -> &str {
        "users"
    }
    fn time_bucket(&self, column: &str, unit: TimeUnit, tz: Tz) -> String {
        let local = format!("toDateTime(intDiv({column}, 1000000), '{}')", tz.name());
        let start = match unit {
            TimeUnit::Minute => format!("toStartOfMinute({local})"),
            TimeUnit::Hour => format!("toStartOfHour({local})"),
            TimeUnit::Day => format!("toStartOfDay({local})"),
            // Dates: their local midnight.
            TimeUnit::Week => format!("toDateTime(toMonday({local}), '{}')", tz.name()),
            TimeUnit::Month => format!("toDateTime(toStartOfMonth({local}), '{}')", tz.name()),
        };
        ClickHouse::micros(&start)
    }
    fn timestamp(&self, micros: i64) -> String {
        format!("toInt64({micros})")
    }
    fn param(&self, n: usize) -> String {
        // Bound by the ClickHouse store: servers before 19.x have no query parameters.
        format!("{{p{n}:String}}")
    }
    fn epoch_micros(&self, column: &str) -> String {
        column.to_string()
    }
    fn instant(&self, expr: &str) -> String {
        format!("toDecimal64({expr}, 0)")
    }
    fn integer(&self, expr: &str) -> String {
        // Rows a condition drops are computed too: a null must stay null.
        format!("CAST({expr} AS Nullable(Int64))")
    }
    fn output_alias(&self, name: &str) -> String {
        // ClickHouse reads an alias wherever its name appears, `f.requests`
        // included: an answer's alias must not be a column's name.
        format!("\"out_{name}\"")
    }
    fn fixed_bucket(&self, column: &str, seconds: i64) -> String {
        let us = seconds * 1_000_000;
        format!("toDecimal64(intDiv({column}, {us}) * {us}, 0)")
    }
    fn tenant_condition(&self, alias: &str, tenant: TenantId) -> Option<String> {
        Some(format!("{alias}.tenant_id = {tenant}"))
    }
    fn free_dimension(&self, column: &str, name: &str) -> String {
        // Absent is NULL, an empty value stays empty (as the embedded store's function).
        format!("if(visitParamHas(ifNull({column}, ''), '{name}'), visitParamExtractString(ifNull({column}, ''), '{name}'), NULL)")
    }
    fn percentile(&self, expr: &str, p: f64) -> String {
        // quantileExact takes a value, not an interpolation; this sorts the
        // group's values once (bound to `s`) and interpolates between ranks
        // h and h+1 (1-based), h = 1 + p (n - 1), as percentile_cont does —
        // in SQL that 18.16 runs too (checked on Debian's clickhouse-server).
        let h = format!("(1 + {p:?} * (length(s) - 1))");
        let i = format!("toUInt64(floor({h}))");
        format!(
            "arrayElement(arrayMap(s -> if(length(s) = 0, NULL, s[{i}] + ({h} - {i}) * (s[least(length(s), {i} + 1)] - s[{i}])), \
             [arraySort(groupArrayIf({expr}, isNotNull({expr})))]), 1)"
        )
    }
    fn grouping_sets(&self) -> bool {
        // 18.16 has none (only `WITH TOTALS`, in another part of the answer).
        false
    }
    fn rollups(&self) -> bool {
        // Its tables are scanned by ClickHouse's own engine (docs/performance.md).
        false
    }
}

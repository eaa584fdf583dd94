use chrono_tz::Tz;
use streamtally_model::{parse_ts, Micros};
use streamtally_store::{Cell, Table};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum QueryError {
    #[error("unknown metric `{shown}` (known: {known})", shown = short(.0), known = Metric::ALL.iter().map(|m| m.name()).collect::<Vec<_>>().join(", "))]
    UnknownMetric(String),
    #[error("unknown dimension `{shown}` (known: {known})", shown = short(.0), known = Dimension::ALL.iter().map(|d| d.name()).collect::<Vec<_>>().join(", ") + ", dim:NAME")]
    UnknownDimension(String),
    #[error("`{field}` is not a time: `{shown}` (use RFC 3339 such as 2026-03-02T10:00:00Z, or a date)", shown = short(.value))]
    BadTime { field: &'static str, value: String },
    #[error("`{field}` is `{value}`: queries cover 1970-01-01 to 2200-01-01")]
    OutOfYears { field: &'static str, value: String },
    #[error("`from` must be before `to`")]
    EmptyRange,
    #[error("unknown time zone `{shown}` (use an IANA name such as Europe/Berlin)", shown = short(.0))]
    BadTimeZone(String),
    #[error("filter `{shown}` must look like dimension:value", shown = short(.0))]
    BadFilter(String),
    #[error("cannot filter by a time bucket (`{shown}`); use from and to", shown = short(.0))]
    TimeFilter(String),
    #[error("at least one metric is required")]
    NoMetrics,
    #[error("`{param}` names `{value}` twice")]
    Repeated { param: &'static str, value: String },
    #[error("free dimension `dim:{shown}` must be named by 1 to 64 letters, digits, `_`, `-` or `.`", shown = short(.0))]
    BadFreeDimension(String),
    #[error("unknown CDN dimension `{shown}` (known: 5m, hour, day, zone, pop, status_class, cache_status)", shown = short(.0))]
    UnknownCdnDimension(String),
    /// A question about the audience that cannot be answered as asked.
    #[error("{0}")]
    Audience(String),
}

/// A value quoted in an error, cut so that a huge parameter makes no huge answer.
pub fn short(value: &str) -> String {
    const MAX: usize = 40;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_string(),
    }
}

/// Refuses a list that names one entry twice (`group_by=day,day`).
pub fn refuse_repeats<T: PartialEq>(param: &'static str, items: &[T], name: impl Fn(&T) -> String) -> Result<(), QueryError> {
    for (i, item) in items.iter().enumerate() {
        if items[..i].contains(item) {
            return Err(QueryError::Repeated { param, value: name(item) });
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Starts,
    Streams,
    Time,
    Downloads,
    Devices,
    Views,
    Users,
    /// Average viewing time (source 000): time ÷ starts, in seconds.
    AvgTime,
    /// Quality of experience (spec §8d): startup seconds, median and 95th
    /// percentile over the starts that began playing.
    StartupMedian,
    StartupP95,
    /// Seconds stalled ÷ (seconds played + stalled).
    RebufferRatio,
    /// Stalls per minute played.
    RebufferFrequency,
    /// Starts with a fatal error ÷ starts.
    FailureRate,
    /// Player starts that never showed a frame and had no fatal error.
    ExitsBeforeStart,
    /// Time-weighted mean bitrate, kbps.
    BitrateAvg,
    /// Changes of bitrate between consecutive reports.
    BitrateSwitches,
    /// Errors that were not fatal.
    Errors,
}

impl Metric {
    pub const ALL: [Metric; 17] = {
        let mut all = [Metric::Starts; 17];
        let mut i = 0;
        while i < all.len() {
            all[i] = if i < Metric::AUDIENCE.len() {
                Metric::AUDIENCE[i]
            } else {
                Metric::QOE[i - Metric::AUDIENCE.len()]
            };
            i += 1;
        }
        all
    };

    /// The audience's metrics: what `/api/v1/metrics` answers when none are named.
    pub const AUDIENCE: [Metric; 8] = [
        Metric::Starts,
        Metric::Streams,
        Metric::Time,
        Metric::Downloads,
        Metric::Devices,
        Metric::Views,
        Metric::Users,
        Metric::AvgTime,
    ];

    /// Quality of experience (spec §8d): what `/api/v1/qoe` answers.
    pub const QOE: [Metric; 9] = [
        Metric::StartupMedian,
        Metric::StartupP95,
        Metric::RebufferRatio,
        Metric::RebufferFrequency,
        Metric::FailureRate,
        Metric::ExitsBeforeStart,
        Metric::BitrateAvg,
        Metric::BitrateSwitches,
        Metric::Errors,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::Starts => "starts",
            Metric::Streams => "streams",
            Metric::Time => "time",
            Metric::Downloads => "downloads",
            Metric::Devices => "devices",
            Metric::Views => "views",
            Metric::Users => "users",
            Metric::AvgTime => "avg_time",
            Metric::StartupMedian => "startup_median",
            Metric::StartupP95 => "startup_p95",
            Metric::RebufferRatio => "rebuffer_ratio",
            Metric::RebufferFrequency => "rebuffer_frequency",
            Metric::FailureRate => "failure_rate",
            Metric::ExitsBeforeStart => "exits_before_start",
            Metric::BitrateAvg => "bitrate_avg",
            Metric::BitrateSwitches => "bitrate_switches",
            Metric::Errors => "errors",
        }
    }

    pub fn parse(s: &str) -> Result<Metric, QueryError> {
        Metric::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| QueryError::UnknownMetric(s.to_string()))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

impl TimeUnit {
    pub fn name(self) -> &'static str {
        match self {
            TimeUnit::Minute => "minute",
            TimeUnit::Hour => "hour",
            TimeUnit::Day => "day",
            TimeUnit::Week => "week",
            TimeUnit::Month => "month",
        }
    }
}

/// The name of a free dimension of events (`dim:NAME`): 1 to 64 letters,
/// digits, `_`, `-` or `.`, so it can stand in SQL text as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FreeName(streamtally_model::Text);

impl FreeName {
    pub fn parse(name: &str) -> Result<FreeName, QueryError> {
        let ok = (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        match ok {
            true => Ok(FreeName(name.into())),
            false => Err(QueryError::BadFreeDimension(name.to_string())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The most values of one free dimension an answer lists (the rest are
/// counted in the totals and named in `truncated`): a dimension of user
/// ids would otherwise make an answer of millions of rows.
pub const MAX_FREE_VALUES: usize = 100;

/// What rows can be grouped and filtered by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dimension {
    Time(TimeUnit),
    ContentId,
    Property,
    Source,
    ReferrerHost,
    ContentKind,
    Media,
    Country,
    Region,
    City,
    Browser,
    Os,
    DeviceType,
    App,
    Title,
    Category,
    Show,
    Producer,
    Distributor,
    /// Source 004's glossary, from the catalogue.
    Season,
    Episode,
    Broadcaster,
    Guid,
    /// The registered user's, from the user directory (spec §8b).
    Gender,
    AgeRange,
    HomeCountry,
    HomeRegion,
    HomeCity,
    /// A free dimension the player attached to its events (`dim:NAME`).
    Free(FreeName),
}

impl Dimension {
    pub const ALL: [Dimension; 32] = [
        Dimension::Time(TimeUnit::Minute),
        Dimension::Time(TimeUnit::Hour),
        Dimension::Time(TimeUnit::Day),
        Dimension::Time(TimeUnit::Week),
        Dimension::Time(TimeUnit::Month),
        Dimension::ContentId,
        Dimension::Property,
        Dimension::Source,
        Dimension::ReferrerHost,
        Dimension::ContentKind,
        Dimension::Media,
        Dimension::Country,
        Dimension::Region,
        Dimension::City,
        Dimension::Browser,
        Dimension::Os,
        Dimension::DeviceType,
        Dimension::App,
        Dimension::Title,
        Dimension::Category,
        Dimension::Show,
        Dimension::Producer,
        Dimension::Distributor,
        Dimension::Season,
        Dimension::Episode,
        Dimension::Broadcaster,
        Dimension::Guid,
        Dimension::Gender,
        Dimension::AgeRange,
        Dimension::HomeCountry,
        Dimension::HomeRegion,
        Dimension::HomeCity,
    ];

    pub fn name(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Dimension::Free(n) => format!("dim:{}", n.as_str()).into(),
            fixed => fixed.fixed_name().into(),
        }
    }

    fn fixed_name(&self) -> &'static str {
        match self {
            Dimension::Free(_) => "dim",
            Dimension::Time(u) => u.name(),
            Dimension::ContentId => "content_id",
            Dimension::Property => "property",
            Dimension::Source => "source",
            Dimension::ReferrerHost => "referrer_host",
            Dimension::ContentKind => "content_kind",
            Dimension::Media => "media",
            Dimension::Country => "country",
            Dimension::Region => "region",
            Dimension::City => "city",
            Dimension::Browser => "browser",
            Dimension::Os => "os",
            Dimension::DeviceType => "device_type",
            Dimension::App => "app",
            Dimension::Title => "title",
            Dimension::Category => "category",
            Dimension::Show => "show",
            Dimension::Producer => "producer",
            Dimension::Distributor => "distributor",
            Dimension::Season => "season",
            Dimension::Episode => "episode",
            Dimension::Broadcaster => "broadcaster",
            Dimension::Guid => "guid",
            Dimension::Gender => "gender",
            Dimension::AgeRange => "age_range",
            Dimension::HomeCountry => "home_country",
            Dimension::HomeRegion => "home_region",
            Dimension::HomeCity => "home_city",
        }
    }

    pub fn parse(s: &str) -> Result<Dimension, QueryError> {
        if let Some(name) = s.strip_prefix("dim:") {
            return Ok(Dimension::Free(FreeName::parse(name)?));
        }
        let s = match s {
            "referrer" => "referrer_host",
            "kind" => "content_kind",
            other => other,
        };
        Dimension::ALL
            .into_iter()
            .find(|d| d.fixed_name() == s)
            .ok_or_else(|| QueryError::UnknownDimension(s.to_string()))
    }

    /// Dimensions that come from the user directory need it joined in.
    pub fn needs_directory(&self) -> bool {
        matches!(
            self,
            Dimension::Gender | Dimension::AgeRange | Dimension::HomeCountry | Dimension::HomeRegion | Dimension::HomeCity
        )
    }

    /// Dimensions that come from the catalogue need it joined in.
    pub fn needs_catalogue(&self) -> bool {
        matches!(
            self,
            Dimension::Title
                | Dimension::Category
                | Dimension::Show
                | Dimension::Producer
                | Dimension::Distributor
                | Dimension::Season
                | Dimension::Episode
                | Dimension::Broadcaster
                | Dimension::Guid
                | Dimension::ContentKind
                | Dimension::Media
        )
    }
}

/// Rows whose dimension equals one of the values.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub dimension: Dimension,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsQuery {
    /// Inclusive.
    pub from: Micros,
    /// Exclusive.
    pub to: Micros,
    pub metrics: Vec<Metric>,
    pub group_by: Vec<Dimension>,
    pub filters: Vec<Filter>,
    pub tz: Tz,
    /// Starts from this instant on may still show their first frame: they
    /// are no exits before start yet (spec §8d; the route sets it to now −
    /// `user_idle`). `Micros::MAX`: every start in the range is settled.
    pub settled: Micros,
}

fn list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_string).collect()
}

/// Queries cover 1970-01-01 to 2200-01-01 (no input is outside them).
pub(crate) const QUERY_YEARS: (Micros, Micros) = (0, 7_258_118_400_000_000);

/// `from` and `to` (RFC 3339 or a date), `from` strictly first.
pub fn parse_range(from: &str, to: &str) -> Result<(Micros, Micros), QueryError> {
    let from_us = parse_ts(from).ok_or_else(|| QueryError::BadTime {
        field: "from",
        value: from.to_string(),
    })?;
    let to_us = parse_ts(to).ok_or_else(|| QueryError::BadTime {
        field: "to",
        value: to.to_string(),
    })?;
    for (field, value, at) in [("from", from, from_us), ("to", to, to_us)] {
        if !(QUERY_YEARS.0..=QUERY_YEARS.1).contains(&at) {
            return Err(QueryError::OutOfYears {
                field,
                value: value.chars().take(40).collect(),
            });
        }
    }
    if from_us >= to_us {
        return Err(QueryError::EmptyRange);
    }
    Ok((from_us, to_us))
}

/// [`parse_range`] with plain dates (`2026-03-01`) taken as the first
/// instant of that day in `tz` — its midnight, or where a clock change at
/// midnight lets the day begin — as the answers' days are cut there.
pub fn parse_range_in(from: &str, to: &str, tz: Tz) -> Result<(Micros, Micros), QueryError> {
    let local = |text: &str| match chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        Ok(d) => crate::audience::start_of(tz, d).map_or_else(|| text.to_string(), |t| t.to_rfc3339()),
        Err(_) => text.to_string(),
    };
    parse_range(&local(from), &local(to))
}

/// `filter=property:web,content_id:A` (same dimension twice = either value).
pub fn parse_filters(filter: Option<&str>) -> Result<Vec<Filter>, QueryError> {
    let mut filters: Vec<Filter> = Vec::new();
    for part in list(filter.unwrap_or("")) {
        // `dim:NAME:value` names a free dimension.
        let free = part.strip_prefix("dim:").and_then(|rest| rest.split_once(':'));
        let (dimension, dim, value) = match free {
            Some((name, value)) => (Dimension::Free(FreeName::parse(name.trim())?), "dim", value),
            None => {
                let (dim, value) = part.split_once(':').ok_or_else(|| QueryError::BadFilter(part.clone()))?;
                (Dimension::parse(dim.trim())?, dim, value)
            }
        };
        if matches!(dimension, Dimension::Time(_)) {
            return Err(QueryError::TimeFilter(dim.to_string()));
        }
        match filters.iter_mut().find(|f| f.dimension == dimension) {
            Some(f) => f.values.push(value.to_string()),
            None => filters.push(Filter {
                dimension,
                values: vec![value.to_string()],
            }),
        }
    }
    Ok(filters)
}

/// An IANA zone name; UTC when absent.
pub fn parse_tz(tz: Option<&str>) -> Result<Tz, QueryError> {
    match tz {
        Some(name) if !name.is_empty() => name.parse::<Tz>().map_err(|_| QueryError::BadTimeZone(name.to_string())),
        _ => Ok(Tz::UTC),
    }
}

impl MetricsQuery {
    /// Builds a query from the text forms the API and CLI take:
    /// `metrics=starts,time`, `group_by=hour,content_id`,
    /// `filter=property:web,content_id:A` (same dimension twice = either value).
    pub fn parse(from: &str, to: &str, metrics: &str, group_by: Option<&str>, filter: Option<&str>, tz: Option<&str>) -> Result<MetricsQuery, QueryError> {
        let tz = parse_tz(tz)?;
        let (from_us, to_us) = parse_range_in(from, to, tz)?;
        let metrics = list(metrics).iter().map(|m| Metric::parse(m)).collect::<Result<Vec<_>, _>>()?;
        if metrics.is_empty() {
            return Err(QueryError::NoMetrics);
        }
        refuse_repeats("metrics", &metrics, |m| m.name().to_string())?;
        let group_by = list(group_by.unwrap_or(""))
            .iter()
            .map(|d| Dimension::parse(d))
            .collect::<Result<Vec<_>, _>>()?;
        refuse_repeats("group_by", &group_by, |d| d.name().to_string())?;
        let filters = parse_filters(filter)?;
        Ok(MetricsQuery {
            from: from_us,
            to: to_us,
            metrics,
            group_by,
            filters,
            tz,
            settled: Micros::MAX,
        })
    }

    pub fn needs_catalogue(&self) -> bool {
        self.dimensions().any(|d| d.needs_catalogue())
    }

    pub fn needs_directory(&self) -> bool {
        self.dimensions().any(|d| d.needs_directory())
    }

    /// Keeps the rows of the [`MAX_FREE_VALUES`] values of each free
    /// dimension grouped by that weigh most in the first metric (ties by
    /// value); names the dimensions that had more.
    pub fn cap_free_values(&self, mut rows: Table) -> (Table, Vec<(String, usize)>) {
        let mut truncated = Vec::new();
        let weight_at = self.group_by.len();
        for (i, d) in self.group_by.iter().enumerate() {
            if !matches!(d, Dimension::Free(_)) {
                continue;
            }
            // Cells have no hash (floats); their debug text tells values apart.
            let key = |c: &Cell| format!("{c:?}");
            let mut weights: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
            for r in &rows.rows {
                let w = r.get(weight_at).and_then(Cell::as_f64).unwrap_or(0.0);
                *weights.entry(key(&r[i])).or_default() += w;
            }
            if weights.len() <= MAX_FREE_VALUES {
                continue;
            }
            let values = weights.len();
            let mut ranked: Vec<(String, f64)> = weights.into_iter().collect();
            // Heaviest first; the BTreeMap's order breaks ties.
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
            let kept: std::collections::HashSet<String> = ranked.into_iter().take(MAX_FREE_VALUES).map(|(k, _)| k).collect();
            rows.rows.retain(|r| kept.contains(&key(&r[i])));
            truncated.push((d.name().into_owned(), values));
        }
        (rows, truncated)
    }

    /// Every dimension the query groups or filters by.
    fn dimensions(&self) -> impl Iterator<Item = &Dimension> + '_ {
        self.group_by.iter().chain(self.filters.iter().map(|f| &f.dimension))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_api_forms_with_clear_errors() {
        let q = MetricsQuery::parse(
            "2026-03-02",
            "2026-03-03",
            "starts, time",
            Some("hour,content_id"),
            Some("property:web,property:app,content_id:A"),
            Some("Europe/Berlin"),
        )
        .unwrap();
        assert_eq!(q.metrics, vec![Metric::Starts, Metric::Time]);
        assert_eq!(q.group_by, vec![Dimension::Time(TimeUnit::Hour), Dimension::ContentId]);
        assert_eq!(q.filters[0].values, vec!["web".to_string(), "app".to_string()]);
        assert_eq!(q.tz, chrono_tz::Europe::Berlin);
        assert_eq!(
            MetricsQuery::parse("2026-03-02", "2026-03-03", "hits", None, None, None),
            Err(QueryError::UnknownMetric("hits".into()))
        );
        assert_eq!(
            MetricsQuery::parse("2026-03-03", "2026-03-02", "starts", None, None, None),
            Err(QueryError::EmptyRange)
        );
        assert!(matches!(
            MetricsQuery::parse("x", "2026-03-02", "starts", None, None, None),
            Err(QueryError::BadTime { field: "from", .. })
        ));
        assert_eq!(
            MetricsQuery::parse("2026-03-02", "2026-03-03", "starts", None, Some("web"), None),
            Err(QueryError::BadFilter("web".into()))
        );
        assert!(MetricsQuery::parse("2026-03-02", "2026-03-03", "starts", None, None, Some("Nowhere")).is_err());
    }
}

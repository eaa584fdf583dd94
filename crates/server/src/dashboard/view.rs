//! What a page shows: the date range (presets or custom, in the tenant's
//! time zone) and the filters, read from the URL so a view can be bookmarked
//! and shared, and written back into links and API questions.

use chrono::{Datelike, Duration, NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::Deserialize;

/// The URL's view parameters (every page takes them).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ViewParams {
    /// today, 7d, 30d, month, last_month, custom (default 7d).
    pub range: Option<String>,
    /// With `custom`: first and last day, inclusive.
    pub from: Option<String>,
    pub to: Option<String>,
    pub content: Option<String>,
    pub property: Option<String>,
    pub country: Option<String>,
    pub device_type: Option<String>,
    /// live or vod.
    pub kind: Option<String>,
    pub zone: Option<String>,
    /// The server administrator's tenant.
    pub tenant: Option<String>,
    /// A page's one item (a live content's id).
    pub item: Option<String>,
}

pub const PRESETS: [(&str, &str); 6] = [
    ("today", "Today"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("month", "This month"),
    ("last_month", "Last month"),
    ("custom", "Custom"),
];

/// A range of whole days in a time zone: `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Days {
    pub first: NaiveDate,
    pub last: NaiveDate,
    pub tz: Tz,
}

fn clean(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl ViewParams {
    pub fn preset(&self) -> &str {
        let p = clean(&self.range).unwrap_or("7d");
        if PRESETS.iter().any(|(k, _)| *k == p) {
            p
        } else {
            "7d"
        }
    }

    /// The days the view covers, `today` being the tenant's today.
    pub fn days(&self, today: NaiveDate, tz: Tz) -> Result<Days, String> {
        let month_start = today.with_day(1).unwrap_or(today);
        let (first, last) = match self.preset() {
            "today" => (today, today),
            "30d" => (today - Duration::days(29), today),
            "month" => (month_start, today),
            "last_month" => {
                let last = month_start - Duration::days(1);
                (last.with_day(1).unwrap_or(last), last)
            }
            "custom" => {
                let day = |v: &Option<String>, what: &str| {
                    clean(v)
                        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
                        .ok_or_else(|| format!("a custom range needs `{what}` as YYYY-MM-DD"))
                };
                let (first, last) = (day(&self.from, "from")?, day(&self.to, "to")?);
                if last < first {
                    return Err("the range ends before it begins".into());
                }
                if (last - first).num_days() > 3 * 366 {
                    return Err("a range is at most three years".into());
                }
                (first, last)
            }
            _ => (today - Duration::days(6), today),
        };
        Ok(Days { first, last, tz })
    }

    /// The metrics API's `filter=` for the view's filters.
    pub fn filter(&self) -> Option<String> {
        let kind = clean(&self.kind).filter(|k| matches!(*k, "live" | "vod" | "dar"));
        let parts: Vec<String> = [
            ("content_id", clean(&self.content)),
            ("property", clean(&self.property)),
            ("country", clean(&self.country)),
            ("device_type", clean(&self.device_type)),
            ("content_kind", kind),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}:{}", v.replace(',', " "))))
        .collect();
        (!parts.is_empty()).then(|| parts.join(","))
    }

    /// The view as a query string (for links: the same view on another page).
    pub fn query_string(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        q.append_pair("range", self.preset());
        if self.preset() == "custom" {
            for (k, v) in [("from", &self.from), ("to", &self.to)] {
                if let Some(v) = clean(v) {
                    q.append_pair(k, v);
                }
            }
        }
        for (k, v) in [
            ("content", &self.content),
            ("property", &self.property),
            ("country", &self.country),
            ("device_type", &self.device_type),
            ("kind", &self.kind),
            ("zone", &self.zone),
            ("tenant", &self.tenant),
        ] {
            if let Some(v) = clean(v) {
                q.append_pair(k, v);
            }
        }
        q.finish()
    }
}

impl Days {
    /// The instant a day begins in the zone (the first instant of a DST gap).
    fn start(&self, day: NaiveDate) -> String {
        let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        let at = self
            .tz
            .from_local_datetime(&midnight)
            .earliest()
            .or_else(|| self.tz.from_local_datetime(&(midnight + Duration::hours(1))).earliest());
        at.map(|t| t.to_rfc3339()).unwrap_or_else(|| format!("{day}T00:00:00Z"))
    }

    /// `from` and `to` (exclusive) for the API.
    pub fn bounds(&self) -> (String, String) {
        (self.start(self.first), self.start(self.last + Duration::days(1)))
    }

    pub fn len(&self) -> i64 {
        (self.last - self.first).num_days() + 1
    }

    /// The same number of days just before.
    pub fn previous(&self) -> Days {
        let n = Duration::days(self.len());
        Days {
            first: self.first - n,
            last: self.last - n,
            tz: self.tz,
        }
    }

    /// Every bucket of `unit` in the range, labelled as the API labels them
    /// (so a series shows its empty hours and days too).
    pub fn buckets(&self, unit: &str) -> Vec<String> {
        let label = |t: chrono::DateTime<Tz>| streamtally_query::format_in_tz(t.timestamp_micros(), self.tz);
        let midnight = |d: NaiveDate| self.tz.from_local_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default()).earliest();
        let mut out = Vec::new();
        let mut day = self.first;
        while day <= self.last {
            match (unit, midnight(day)) {
                ("hour", Some(start)) => {
                    let end = midnight(day + Duration::days(1)).unwrap_or(start + Duration::hours(24));
                    let mut t = start;
                    while t < end {
                        out.push(label(t));
                        t += Duration::hours(1);
                    }
                }
                ("day", Some(start)) => out.push(label(start)),
                ("month", Some(start)) if day.day() == 1 || day == self.first => {
                    let first = day.with_day(1).and_then(midnight).unwrap_or(start);
                    out.push(label(first));
                }
                _ => {}
            }
            day += Duration::days(1);
        }
        out
    }

    /// The time unit a series of the range reads best in.
    pub fn unit(&self) -> &'static str {
        match self.len() {
            0..=2 => "hour",
            3..=92 => "day",
            _ => "month",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(range: &str) -> ViewParams {
        ViewParams {
            range: Some(range.into()),
            ..ViewParams::default()
        }
    }

    #[test]
    fn presets_are_days_of_the_tenants_zone() {
        let today = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        let berlin = chrono_tz::Europe::Berlin;
        let d = view("last_month").days(today, berlin).unwrap();
        assert_eq!((d.first.to_string(), d.last.to_string()), ("2026-02-01".into(), "2026-02-28".into()));
        // March 29 is the day Berlin's clocks go forward: the range ends at +02:00.
        let d = view("7d").days(today, berlin).unwrap();
        assert_eq!(d.bounds(), ("2026-03-25T00:00:00+01:00".into(), "2026-04-01T00:00:00+02:00".into()));
        assert_eq!(d.previous().first.to_string(), "2026-03-18");
        let bad = ViewParams {
            from: Some("2026-03-05".into()),
            to: Some("2026-03-01".into()),
            ..view("custom")
        };
        assert!(bad.days(today, berlin).is_err());
    }

    #[test]
    fn a_series_has_every_bucket_of_its_range() {
        let tz = chrono_tz::Europe::Berlin;
        let d = Days {
            first: NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(),
            last: NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(),
            tz,
        };
        // The day the clocks go forward has 23 hours.
        let hours = d.buckets("hour");
        assert_eq!(hours.len(), 23);
        assert_eq!(hours[0], "2026-03-29T00:00:00+01:00");
        assert_eq!(hours[2], "2026-03-29T03:00:00+02:00");
        assert_eq!(d.buckets("day"), ["2026-03-29T00:00:00+01:00"]);
    }

    #[test]
    fn filters_and_links_carry_the_view() {
        let v = ViewParams {
            property: Some("web".into()),
            kind: Some("live".into()),
            country: Some(" ".into()),
            ..view("30d")
        };
        assert_eq!(v.filter().as_deref(), Some("property:web,content_kind:live"));
        assert_eq!(v.query_string(), "range=30d&property=web&kind=live");
    }
}

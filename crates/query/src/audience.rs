//! Registrations of the audience (source 002): users registered in a range
//! per period split by gender with the peak period, the gender shares, age
//! ranges at registration, and geography — countries, and for the tenant's
//! home country its states and cities, every other country as `Other`.
//! Asked of the user directory, which the metadata store keeps.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;
use serde_json::{json, Value};
use streamtally_model::registered::{AgeRanges, Gender, RegisteredUser};
use streamtally_model::{micros_to_datetime, Micros};

use crate::{QueryError, TimeUnit};

/// The question: a range, its periods, and the tenant's ranges and home.
#[derive(Debug, Clone)]
pub struct RegistrationsQuery {
    pub from: Micros,
    pub to: Micros,
    pub unit: TimeUnit,
    pub tz: Tz,
    pub age_ranges: AgeRanges,
    /// ISO code of the tenant's own country; empty for none.
    pub home_country: String,
}

/// Periods shown at most (a year of days, a few months of hours).
pub const MAX_PERIODS: usize = 5_000;

/// The first instant of local day `d`: its midnight, or where a clock
/// change at midnight (Santiago, Cairo, Havana …) lets the day begin.
pub(crate) fn start_of(tz: Tz, d: NaiveDate) -> Option<DateTime<Tz>> {
    (0..24 * 4).find_map(|quarter| {
        let local = d.and_hms_opt(quarter / 4, quarter % 4 * 15, 0)?;
        tz.from_local_datetime(&local).earliest()
    })
}

/// The label of the period holding `at`, and the start of the next (always
/// after `at`). Hours carry their offset: when clocks go back, the repeated
/// hour is a period of its own.
fn period(at: DateTime<Tz>, unit: TimeUnit) -> (String, DateTime<Tz>) {
    let tz = at.timezone();
    let next_day = |d: NaiveDate| start_of(tz, d).filter(|n| *n > at).unwrap_or(at + Duration::days(1));
    match unit {
        TimeUnit::Minute | TimeUnit::Hour => {
            let start = at - Duration::minutes(at.minute() as i64) - Duration::seconds(at.second() as i64) - Duration::nanoseconds(at.nanosecond() as i64);
            (start.format("%Y-%m-%dT%H:00%:z").to_string(), start + Duration::hours(1))
        }
        TimeUnit::Day => {
            let day = at.date_naive();
            (day.to_string(), next_day(day + Duration::days(1)))
        }
        TimeUnit::Week => {
            let monday = at.date_naive() - Duration::days(at.weekday().num_days_from_monday() as i64);
            (monday.to_string(), next_day(monday + Duration::days(7)))
        }
        TimeUnit::Month => {
            let first = at.date_naive().with_day(1).unwrap_or(at.date_naive());
            let next = if first.month() == 12 {
                NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
            };
            (first.format("%Y-%m").to_string(), next_day(next.unwrap_or(first)))
        }
    }
}

fn share(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        (n as f64 * 10_000.0 / total as f64).round() / 100.0
    }
}

/// Counts largest first (then by key).
fn by_count<K: Ord>(counts: BTreeMap<K, u64>) -> Vec<(K, u64)> {
    let mut rows: Vec<(K, u64)> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows
}

/// Counts of one label each, largest first (then by name).
fn ranked(counts: BTreeMap<String, u64>, key: &str, total: u64) -> Vec<Value> {
    by_count(counts)
        .into_iter()
        .map(|(k, n)| json!({ key: k, "users": n, "share": share(n, total) }))
        .collect()
}

/// The answer: its parts as JSON, any one of them as CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct Registrations {
    pub json: Value,
}

impl RegistrationsQuery {
    /// Answers over `users` (those registered in the range, from the directory).
    pub fn answer(&self, users: &[RegisteredUser]) -> Result<Registrations, QueryError> {
        if self.unit == TimeUnit::Minute {
            return Err(QueryError::Audience("group_by for registrations is hour, day, week or month".into()));
        }
        // Every period of the range, empty ones too, so a chart has no holes.
        let mut series: Vec<(String, [u64; 4])> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        let mut at = micros_to_datetime(self.from).with_timezone(&self.tz);
        let end = micros_to_datetime(self.to).with_timezone(&self.tz);
        while at < end {
            if series.len() >= MAX_PERIODS {
                return Err(QueryError::Audience(format!(
                    "the range has more than {MAX_PERIODS} periods of a {}; choose a larger one",
                    self.unit.name()
                )));
            }
            let (label, next) = period(at, self.unit);
            index.insert(label.clone(), series.len());
            series.push((label, [0; 4]));
            at = next;
        }
        let mut genders = BTreeMap::new();
        let mut ages: BTreeMap<String, u64> = self.age_ranges.labels().into_iter().map(|l| (l, 0)).collect();
        let mut countries = BTreeMap::new();
        let mut regions = BTreeMap::new();
        let mut cities: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut total = 0u64;
        for user in users {
            let Some(registered) = user.registered_at.filter(|t| (self.from..self.to).contains(t)) else {
                continue;
            };
            total += 1;
            let (label, _) = period(micros_to_datetime(registered).with_timezone(&self.tz), self.unit);
            if let Some(&i) = index.get(&label) {
                series[i].1[user.gender as usize] += 1;
            }
            *genders.entry(user.gender.as_str().to_string()).or_insert(0) += 1;
            *ages.entry(self.age_ranges.of(user, self.tz)).or_insert(0) += 1;
            let place = user.home_place(&self.home_country);
            if let (Some(region), Some(city)) = (place.region, place.city) {
                *cities.entry((city, region.clone())).or_insert(0) += 1;
                *regions.entry(region).or_insert(0) += 1;
            }
            let country = place.country;
            *countries.entry(country).or_insert(0) += 1;
        }
        let peak = series
            .iter()
            .map(|(label, by)| (label, by.iter().sum::<u64>()))
            .filter(|(_, n)| *n > 0)
            .fold(None::<(&String, u64)>, |best, (l, n)| match best {
                Some((_, b)) if b >= n => best,
                _ => Some((l, n)),
            });
        let series: Vec<Value> = series
            .iter()
            .map(|(label, by)| {
                let mut row = json!({ "period": label, "total": by.iter().sum::<u64>(), "peak": peak.is_some_and(|(p, _)| p == label) });
                for g in Gender::ALL {
                    row[g.as_str()] = json!(by[g as usize]);
                }
                row
            })
            .collect();
        let gender: Vec<Value> = Gender::ALL
            .iter()
            .map(|g| {
                let n = genders.get(g.as_str()).copied().unwrap_or(0);
                json!({ "gender": g.as_str(), "users": n, "share": share(n, total) })
            })
            .collect();
        // Age ranges in their own order, then any range the tenant gave that is not configured.
        let labels = self.age_ranges.labels();
        let mut age_rows: Vec<Value> = labels
            .iter()
            .map(|l| {
                let n = ages.get(l).copied().unwrap_or(0);
                json!({ "age_range": l, "users": n, "share": share(n, total) })
            })
            .collect();
        age_rows.extend(
            ages.iter()
                .filter(|(l, _)| !labels.contains(l))
                .map(|(l, n)| json!({ "age_range": l, "users": n, "share": share(*n, total) })),
        );
        let cities: Vec<Value> = by_count(cities)
            .into_iter()
            .map(|((city, region), n)| json!({ "city": city, "region": region, "users": n, "share": share(n, total) }))
            .collect();
        Ok(Registrations {
            json: json!({
                "total": total,
                "group_by": self.unit.name(),
                "peak": peak.map(|(p, n)| json!({ "period": p, "registrations": n })),
                "series": series,
                "gender": gender,
                "age_ranges": age_rows,
                "countries": ranked(countries, "country", total),
                "home_country": (!self.home_country.is_empty()).then_some(&self.home_country),
                "regions": ranked(regions, "region", total),
                "cities": cities,
            }),
        })
    }
}

/// The parts of the answer a CSV can be made of.
pub const REGISTRATION_PARTS: [&str; 6] = ["series", "gender", "age_ranges", "countries", "regions", "cities"];

impl Registrations {
    /// One part (`series` by default) as CSV with a header line.
    pub fn to_csv(&self, part: &str) -> Result<String, QueryError> {
        if !REGISTRATION_PARTS.contains(&part) {
            return Err(QueryError::Audience(format!("unknown part `{part}` ({})", REGISTRATION_PARTS.join(", "))));
        }
        let rows = self.json[part].as_array().cloned().unwrap_or_default();
        let columns: Vec<&str> = match part {
            "series" => vec!["period", "female", "male", "other", "unknown", "total", "peak"],
            "gender" => vec!["gender", "users", "share"],
            "age_ranges" => vec!["age_range", "users", "share"],
            "countries" => vec!["country", "users", "share"],
            "regions" => vec!["region", "users", "share"],
            _ => vec!["city", "region", "users", "share"],
        };
        let mut out = csv::Writer::from_writer(Vec::new());
        let failed = |e: csv::Error| QueryError::Audience(e.to_string());
        out.write_record(&columns).map_err(failed)?;
        for row in rows {
            let cells: Vec<String> = columns
                .iter()
                .map(|c| match &row[*c] {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    v => v.to_string(),
                })
                .collect();
            out.write_record(&cells).map_err(failed)?;
        }
        let bytes = out.into_inner().map_err(|e| QueryError::Audience(e.to_string()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streamtally_model::parse_ts;
    use streamtally_model::registered::Birth;

    fn user(id: &str, gender: Gender, born: i32, country: &str, region: &str, city: &str, at: &str) -> RegisteredUser {
        RegisteredUser {
            user_id: id.into(),
            name: None,
            gender,
            birth: Birth::Year(born),
            country: Some(country.into()),
            region: Some(region.into()),
            city: Some(city.into()),
            registered_at: parse_ts(at),
            attributes: BTreeMap::new(),
        }
    }

    fn query(unit: TimeUnit, tz: Tz) -> RegistrationsQuery {
        RegistrationsQuery {
            from: parse_ts("2026-03-01T00:00:00Z").unwrap(),
            to: parse_ts("2026-03-04T00:00:00Z").unwrap(),
            unit,
            tz,
            age_ranges: AgeRanges::default(),
            home_country: "BR".into(),
        }
    }

    fn users() -> Vec<RegisteredUser> {
        vec![
            user("a", Gender::Female, 2000, "BR", "SP", "Campinas", "2026-03-01T10:00:00Z"),
            user("b", Gender::Male, 1990, "BR", "RJ", "Niterói", "2026-03-02T09:00:00Z"),
            user("c", Gender::Female, 1960, "BR", "SP", "Campinas", "2026-03-02T23:30:00Z"),
            user("d", Gender::Other, 1980, "PT", "Lisboa", "Lisboa", "2026-03-03T12:00:00Z"),
        ]
    }

    #[test]
    fn registrations_per_day_by_gender_with_the_peak() {
        let a = query(TimeUnit::Day, Tz::UTC).answer(&users()).unwrap().json;
        let per_day: Vec<(String, u64, u64, u64)> = a["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["period"].as_str().unwrap().to_string(),
                    r["female"].as_u64().unwrap(),
                    r["male"].as_u64().unwrap(),
                    r["total"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            per_day,
            [("2026-03-01".into(), 1, 0, 1), ("2026-03-02".into(), 1, 1, 2), ("2026-03-03".into(), 0, 0, 1)]
        );
        assert_eq!(a["peak"], json!({ "period": "2026-03-02", "registrations": 2 }));
        assert_eq!(a["gender"][0], json!({ "gender": "female", "users": 2, "share": 50.0 }));
        assert_eq!(a["total"], 4);
    }

    #[test]
    fn days_are_the_time_zones() {
        // In Tokyo (+9) the 2nd's 23:30 UTC is 08:30 on the 3rd.
        let a = query(TimeUnit::Day, "Asia/Tokyo".parse().unwrap()).answer(&users()).unwrap().json;
        let totals: Vec<u64> = a["series"].as_array().unwrap().iter().map(|r| r["total"].as_u64().unwrap()).collect();
        assert_eq!(a["series"][0]["period"], "2026-03-01");
        assert_eq!(totals, [1, 1, 2, 0], "the range is 1 March 09:00 to 4 March 09:00 in Tokyo");
    }

    #[test]
    fn a_clock_change_at_midnight_or_a_repeated_hour_loses_no_period() {
        // Santiago moves its clocks from 00:00 to 01:00 on 6 September 2026.
        let santiago: Tz = "America/Santiago".parse().unwrap();
        let mut q = query(TimeUnit::Day, santiago);
        q.from = parse_ts("2026-09-05T12:00:00Z").unwrap();
        q.to = parse_ts("2026-09-08T12:00:00Z").unwrap();
        let days: Vec<String> = q.answer(&[]).unwrap().json["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["period"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(days, ["2026-09-05", "2026-09-06", "2026-09-07", "2026-09-08"]);
        // Berlin repeats 02:00–03:00 on 25 October 2026: two periods, one registration each.
        let berlin: Tz = "Europe/Berlin".parse().unwrap();
        let mut q = query(TimeUnit::Hour, berlin);
        q.from = parse_ts("2026-10-24T23:00:00Z").unwrap();
        q.to = parse_ts("2026-10-25T03:00:00Z").unwrap();
        let users = [
            user("a", Gender::Male, 1990, "DE", "BE", "Berlin", "2026-10-25T00:30:00Z"),
            user("b", Gender::Male, 1990, "DE", "BE", "Berlin", "2026-10-25T01:30:00Z"),
        ];
        let a = q.answer(&users).unwrap().json;
        let hours: Vec<(String, u64)> = a["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["period"].as_str().unwrap().to_string(), r["total"].as_u64().unwrap()))
            .collect();
        assert_eq!(
            hours,
            [
                ("2026-10-25T01:00+02:00".to_string(), 0),
                ("2026-10-25T02:00+02:00".to_string(), 1),
                ("2026-10-25T02:00+01:00".to_string(), 1),
                ("2026-10-25T03:00+01:00".to_string(), 0)
            ]
        );
    }

    #[test]
    fn ages_geography_and_csv() {
        let a = query(TimeUnit::Month, Tz::UTC).answer(&users()).unwrap();
        let ages: BTreeMap<String, u64> = a.json["age_ranges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["age_range"].as_str().unwrap().to_string(), r["users"].as_u64().unwrap()))
            .collect();
        assert_eq!((ages["25-34"], ages["35-44"], ages["45-54"], ages["65+"], ages["18-24"]), (1, 1, 1, 1, 0));
        assert_eq!(
            a.json["regions"],
            json!([
                { "region": "SP", "users": 2, "share": 50.0 },
                { "region": "Other", "users": 1, "share": 25.0 },
                { "region": "RJ", "users": 1, "share": 25.0 },
            ])
        );
        assert_eq!(a.json["cities"][0], json!({ "city": "Campinas", "region": "SP", "users": 2, "share": 50.0 }));
        assert_eq!(a.json["countries"][0]["country"], "BR");
        let csv = a.to_csv("gender").unwrap();
        assert_eq!(csv.lines().next(), Some("gender,users,share"));
        assert!(csv.contains("female,2,50.0"), "{csv}");
        assert!(a.to_csv("names").is_err());
    }
}

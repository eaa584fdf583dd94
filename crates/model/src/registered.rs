//! A registered user of a tenant's service (spec §8b, source 002): who the
//! subscriber is, from the tenant's own directory. Kept in the metadata
//! store only — facts and raw events carry the `user_id`, never a name or a
//! demographic.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use chrono_tz::Tz;
use serde::Serialize;

use crate::time::{micros_to_datetime, Micros};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Female,
    Male,
    Other,
    Unknown,
}

impl Gender {
    pub const ALL: [Gender; 4] = [Gender::Female, Gender::Male, Gender::Other, Gender::Unknown];

    /// `female`, `male`, `other` in any case; anything else is `unknown`.
    pub fn parse(text: &str) -> Gender {
        match text.trim().to_ascii_lowercase().as_str() {
            "female" => Gender::Female,
            "male" => Gender::Male,
            "other" => Gender::Other,
            _ => Gender::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
            Gender::Other => "other",
            Gender::Unknown => "unknown",
        }
    }
}

/// What the tenant knows of a user's age.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Birth {
    Date(NaiveDate),
    Year(i32),
    /// Only a range (`25-34`), as the tenant has it.
    AgeRange(String),
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegisteredUser {
    pub user_id: String,
    pub name: Option<String>,
    pub gender: Gender,
    pub birth: Birth,
    pub country: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    /// When the user registered (µs since 1970, UTC).
    pub registered_at: Option<Micros>,
    /// The tenant's own fields (plan, …).
    pub attributes: BTreeMap<String, String>,
}

impl RegisteredUser {
    /// Age in whole years when the user registered, on the registration's
    /// day in `tz`: from the birth date exactly (a user turning 25 that day
    /// is 25); with only a birth year, registration year − birth year (issue
    /// 14's rule).
    pub fn age_at_registration(&self, tz: Tz) -> Option<i32> {
        let registered = micros_to_datetime(self.registered_at?).with_timezone(&tz).date_naive();
        match &self.birth {
            Birth::Date(born) => registered.years_since(*born).map(|y| y as i32),
            Birth::Year(year) => Some(registered.year() - year),
            Birth::AgeRange(_) | Birth::Unknown => None,
        }
    }
}

/// Where a registered user lives, as the audience shows it (source 002's
/// rule): the country; with a home country set, the region and city inside
/// it, every other country's as `Other`; `unknown` for what is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HomePlace {
    pub country: String,
    /// `None` without a home country setting.
    pub region: Option<String>,
    pub city: Option<String>,
}

impl RegisteredUser {
    pub fn home_place(&self, home_country: &str) -> HomePlace {
        let unknown = || "unknown".to_string();
        let country = self.country.clone().unwrap_or_else(unknown);
        let (region, city) = if home_country.is_empty() {
            (None, None)
        } else if self.country.is_none() {
            // Not known to live elsewhere: unknown, not `Other`.
            (Some(unknown()), Some(unknown()))
        } else if country == home_country {
            (
                Some(self.region.clone().unwrap_or_else(unknown)),
                Some(self.city.clone().unwrap_or_else(unknown)),
            )
        } else {
            (Some("Other".into()), Some("Other".into()))
        };
        HomePlace { country, region, city }
    }
}

/// Age ranges for the audience (`age_ranges` setting): ascending, apart,
/// the last perhaps open (`65+`).
#[derive(Debug, Clone, PartialEq)]
pub struct AgeRanges(Vec<(i32, Option<i32>)>);

impl AgeRanges {
    pub const DEFAULT: &'static str = "18-24,25-34,35-44,45-54,55-64,65+";

    /// `18-24,25-34,…,65+`.
    pub fn parse(text: &str) -> Result<AgeRanges, String> {
        let mut out: Vec<(i32, Option<i32>)> = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = || format!("`{part}` is not an age range such as 25-34 or 65+");
            let (lo, hi) = match part.strip_suffix('+') {
                Some(lo) => (lo.trim().parse::<i32>().map_err(|_| bad())?, None),
                None => {
                    let (lo, hi) = part.split_once('-').ok_or_else(bad)?;
                    (lo.trim().parse().map_err(|_| bad())?, Some(hi.trim().parse().map_err(|_| bad())?))
                }
            };
            if !(0..=150).contains(&lo) || hi.is_some_and(|h| h < lo || h > 150) {
                return Err(bad());
            }
            if let Some(&(_, prev)) = out.last() {
                match prev {
                    None => return Err(format!("`{part}` comes after an open range")),
                    Some(p) if lo <= p => return Err(format!("`{part}` overlaps the range before it")),
                    _ => {}
                }
            }
            out.push((lo, hi));
        }
        if out.is_empty() {
            return Err("name at least one age range".into());
        }
        Ok(AgeRanges(out))
    }

    fn label((lo, hi): (i32, Option<i32>)) -> String {
        match hi {
            Some(hi) => format!("{lo}-{hi}"),
            None => format!("{lo}+"),
        }
    }

    /// The ranges' labels in order, then `unknown`.
    pub fn labels(&self) -> Vec<String> {
        self.0.iter().map(|r| AgeRanges::label(*r)).chain(["unknown".to_string()]).collect()
    }

    /// The range of a user at registration: by age, or the range the tenant
    /// gave; `unknown` when neither (or an age no range holds).
    pub fn of(&self, user: &RegisteredUser, tz: Tz) -> String {
        if let Birth::AgeRange(given) = &user.birth {
            return given.replace(' ', "");
        }
        user.age_at_registration(tz)
            .and_then(|age| self.0.iter().find(|(lo, hi)| age >= *lo && hi.is_none_or(|h| age <= h)))
            .map(|r| AgeRanges::label(*r))
            .unwrap_or_else(|| "unknown".into())
    }
}

impl Default for AgeRanges {
    /// [`AgeRanges::DEFAULT`].
    fn default() -> Self {
        AgeRanges(vec![(18, Some(24)), (25, Some(34)), (35, Some(44)), (45, Some(54)), (55, Some(64)), (65, None)])
    }
}

impl std::fmt::Display for AgeRanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let labels: Vec<String> = self.0.iter().map(|r| AgeRanges::label(*r)).collect();
        f.write_str(&labels.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_ts;

    fn user(birth: Birth, registered: &str) -> RegisteredUser {
        RegisteredUser {
            user_id: "u".into(),
            name: None,
            gender: Gender::Unknown,
            birth,
            country: None,
            region: None,
            city: None,
            registered_at: parse_ts(registered),
            attributes: BTreeMap::new(),
        }
    }

    #[test]
    fn age_counts_whole_years_to_the_registration_day() {
        let born = NaiveDate::from_ymd_opt(2001, 3, 2).unwrap();
        assert_eq!(user(Birth::Date(born), "2026-03-02T00:00:00Z").age_at_registration(Tz::UTC), Some(25));
        assert_eq!(user(Birth::Date(born), "2026-03-01T23:59:59Z").age_at_registration(Tz::UTC), Some(24));
        assert_eq!(user(Birth::Year(2001), "2026-01-01T00:00:00Z").age_at_registration(Tz::UTC), Some(25));
        assert_eq!(user(Birth::AgeRange("25-34".into()), "2026-01-01T00:00:00Z").age_at_registration(Tz::UTC), None);
        // The evening before the birthday in São Paulo is already the day in UTC.
        let sp: Tz = "America/Sao_Paulo".parse().unwrap();
        assert_eq!(user(Birth::Date(born), "2026-03-02T01:00:00Z").age_at_registration(sp), Some(24));
    }

    #[test]
    fn age_ranges_hold_their_boundaries_and_refuse_overlaps() {
        let ranges = AgeRanges::parse(AgeRanges::DEFAULT).unwrap();
        assert_eq!(ranges, AgeRanges::default());
        assert_eq!(ranges.to_string(), AgeRanges::DEFAULT);
        let born = NaiveDate::from_ymd_opt(2001, 3, 2).unwrap();
        assert_eq!(ranges.of(&user(Birth::Date(born), "2026-03-02T00:00:00Z"), Tz::UTC), "25-34", "25 on the day");
        assert_eq!(ranges.of(&user(Birth::Date(born), "2026-03-01T00:00:00Z"), Tz::UTC), "18-24");
        assert_eq!(ranges.of(&user(Birth::Year(1950), "2026-03-01T00:00:00Z"), Tz::UTC), "65+");
        assert_eq!(
            ranges.of(&user(Birth::Year(2015), "2026-03-01T00:00:00Z"), Tz::UTC),
            "unknown",
            "an age no range holds"
        );
        assert_eq!(ranges.of(&user(Birth::AgeRange("35 - 44".into()), "2026-03-01T00:00:00Z"), Tz::UTC), "35-44");
        assert_eq!(ranges.of(&user(Birth::Unknown, "2026-03-01T00:00:00Z"), Tz::UTC), "unknown");
        assert!(AgeRanges::parse("18-30,25-34").is_err());
        assert!(AgeRanges::parse("65+,70-80").is_err());
        assert!(AgeRanges::parse("young").is_err());
        assert_eq!(ranges.labels().last().map(String::as_str), Some("unknown"));
    }

    #[test]
    fn genders_other_than_the_three_are_unknown() {
        assert_eq!(Gender::parse(" Female "), Gender::Female);
        assert_eq!(Gender::parse("MALE"), Gender::Male);
        assert_eq!(Gender::parse("other"), Gender::Other);
        assert_eq!(Gender::parse("f"), Gender::Unknown);
        assert_eq!(Gender::parse(""), Gender::Unknown);
    }
}

//! Which file folder a row's day goes to. Recent days get a folder each (a
//! range query of a day reads only its files); older days share a month's or
//! a year's, so that a backfill of years of old logs, or a batch whose client
//! clock wanders across the 1990s, writes a few files instead of one per day
//! per batch (thousands of files make every range query slow).

use chrono::{Datelike, Duration, NaiveDate};

/// Days at most this far before today get their own folder…
const OWN_FOLDER_DAYS: i64 = 7;
/// …days at most this far share their month's; older ones share their year's.
const MONTH_FOLDER_DAYS: i64 = 366;

/// A span of days that one folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Partition {
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Partition {
    /// The folder a row of `day` goes to, when written on `today`.
    pub fn of(day: NaiveDate, today: NaiveDate) -> Partition {
        let age = (today - day).num_days();
        if age <= OWN_FOLDER_DAYS {
            Partition { first: day, last: day }
        } else if age <= MONTH_FOLDER_DAYS {
            let first = day.with_day(1).unwrap_or(day);
            let next = if first.month() == 12 {
                NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
            };
            Partition {
                first,
                last: next.map_or(day, |n| n - Duration::days(1)),
            }
        } else {
            Partition {
                first: NaiveDate::from_ymd_opt(day.year(), 1, 1).unwrap_or(day),
                last: NaiveDate::from_ymd_opt(day.year(), 12, 31).unwrap_or(day),
            }
        }
    }

    /// The folder's name: `day=2026-03-02`, `month=2026-03` or `year=1995`.
    pub fn folder(&self) -> String {
        if self.first == self.last {
            format!("day={}", self.first)
        } else if self.first.year() == self.last.year() && self.first.month() == 1 && self.last.month() == 12 && self.last.day() == 31 {
            format!("year={}", self.first.year())
        } else {
            format!("month={}", self.first.format("%Y-%m"))
        }
    }

    pub fn overlaps(&self, first: NaiveDate, last: NaiveDate) -> bool {
        self.first <= last && self.last >= first
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn recent_days_have_their_own_folder_and_old_ones_share() {
        let today = d("2026-12-01");
        assert_eq!(Partition::of(d("2026-11-28"), today).folder(), "day=2026-11-28");
        let month = Partition::of(d("2026-02-14"), today);
        assert_eq!(
            (month.folder(), month.first, month.last),
            ("month=2026-02".into(), d("2026-02-01"), d("2026-02-28"))
        );
        assert_eq!(Partition::of(d("2025-12-31"), today).last, d("2025-12-31"));
        let year = Partition::of(d("1995-06-01"), today);
        assert_eq!((year.folder(), year.first, year.last), ("year=1995".into(), d("1995-01-01"), d("1995-12-31")));
        assert!(year.overlaps(d("1995-12-31"), d("1996-01-05")));
        assert!(!year.overlaps(d("1996-01-01"), d("1996-01-05")));
        // Every day of nine years of old data: nine folders, not 3 287.
        let folders: std::collections::BTreeSet<String> = (0..3_287).map(|i| Partition::of(d("1990-01-01") + Duration::days(i), today).folder()).collect();
        assert_eq!(folders.len(), 9);
    }
}

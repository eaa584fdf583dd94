//! Windows and coverage: the small structures the counting state is made of.

use std::hash::{Hash, Hasher};

use chrono::TimeZone;
use chrono_tz::Tz;
use hashbrown::hash_map::EntryRef;
use hashbrown::{Equivalent, HashMap as FastMap};
use serde::{Deserialize, Serialize};
use streamtally_model::{DeviceKey, Fact, Micros, MICROS_PER_SEC};

pub(crate) const MINUTE: Micros = 60 * MICROS_PER_SEC;

/// A state key of a device and a content.
pub(crate) type DeviceContent = (DeviceKey, String);

/// Looks up a [`DeviceContent`] key without building one (no allocation per
/// input); hashes exactly as the owned tuple does.
pub(crate) struct DeviceContentRef<'a>(pub DeviceKey, pub &'a str);

impl Hash for DeviceContentRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.hash(h);
        self.1.hash(h);
    }
}

impl Equivalent<DeviceContent> for DeviceContentRef<'_> {
    fn equivalent(&self, key: &DeviceContent) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

impl From<&DeviceContentRef<'_>> for DeviceContent {
    fn from(r: &DeviceContentRef<'_>) -> Self {
        (r.0, r.1.to_string())
    }
}

/// Opens a window for `key` at `ts` unless one began less than `length` before.
pub(crate) fn open_window(map: &mut FastMap<DeviceContent, Micros>, key: DeviceContentRef<'_>, ts: Micros, length: Micros) -> bool {
    match map.entry_ref(&key) {
        EntryRef::Occupied(e) => {
            let began = e.into_mut();
            if ts < *began + length {
                return false;
            }
            *began = ts;
            true
        }
        EntryRef::Vacant(e) => {
            e.insert(ts);
            true
        }
    }
}

/// The minutes a device was active in, as a bit set over the 64 minutes up to
/// the latest one: enough to recognise repeats, since a
/// device's own inputs come in time order (spec §8a).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct RecentMinutes {
    pub last: i64,
    seen: u64,
}

impl RecentMinutes {
    pub(crate) fn new(minute: i64) -> Self {
        RecentMinutes { last: minute, seen: 1 }
    }

    /// Marks `minute`; true when it was not marked yet.
    pub(crate) fn mark(&mut self, minute: i64) -> bool {
        if minute > self.last {
            let shift = minute - self.last;
            self.seen = if shift >= 64 { 0 } else { self.seen << shift };
            self.seen |= 1;
            self.last = minute;
            return true;
        }
        let age = self.last - minute;
        if age >= 64 {
            // Older than the set remembers; queries count distinct devices anyway.
            return true;
        }
        let bit = 1u64 << age;
        let new = self.seen & bit == 0;
        self.seen |= bit;
        new
    }
}

/// The union of the intervals an access code was playing a content on one day.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct DayCover {
    pub day_end: Micros,
    /// Sorted, disjoint, half-open `[from, to)` intervals.
    pub intervals: Vec<(Micros, Micros)>,
}

/// Adds `[from, to)` to the sorted, disjoint `intervals`; returns the pieces of it
/// that were not covered yet (so their lengths sum to the growth of the union).
pub(crate) fn cover(intervals: &mut Vec<(Micros, Micros)>, from: Micros, to: Micros) -> Vec<(Micros, Micros)> {
    cover_near(intervals, from, to).into_iter().map(|(piece, _)| piece).collect()
}

/// What was covered nearest a new piece before it: where the covered part
/// on its left ended and the one on its right began (`None`: nothing there).
pub(crate) type Near = (Option<Micros>, Option<Micros>);

/// A [`Near`] as a fact's `near`: 0 and `u32::MAX` for nothing there (the
/// covered pieces are whole seconds or bytes, within `u32`).
fn near_span((left, right): Near) -> (u32, u32) {
    let clamp = |v: Micros| v.clamp(0, i64::from(u32::MAX)) as u32;
    (left.map_or(0, clamp), right.map_or(u32::MAX, clamp))
}

/// Spec §8c: covers `[a, b)` (seconds or bytes of a content) in a start's
/// `intervals` and pushes one `covered` fact per piece newly covered, made
/// from `template` (its kind, time and dimensions) with the piece's value,
/// span and [`Near`].
pub(crate) fn push_covered<'a>(template: Fact<'a>, intervals: &mut Vec<(Micros, Micros)>, (a, b): (u32, u32), out: &mut Vec<Fact<'a>>) {
    for ((from, to), near) in cover_near(intervals, i64::from(a), i64::from(b)) {
        out.push(Fact {
            value: (to - from) as f64,
            span: Some((from as u32, to as u32)),
            near: Some(near_span(near)),
            ..template.clone()
        });
    }
}

/// [`cover`], with each new piece's [`Near`] as the intervals were before.
pub(crate) fn cover_near(intervals: &mut Vec<(Micros, Micros)>, from: Micros, to: Micros) -> Vec<((Micros, Micros), Near)> {
    let mut new = Vec::new();
    if from >= to {
        return new;
    }
    // Intervals touching [from, to) are merged with it.
    let first = intervals.partition_point(|&(_, e)| e < from);
    let mut last = first;
    let mut cursor = from;
    let mut left = first.checked_sub(1).map(|i| intervals[i].1);
    let (mut lo, mut hi) = (from, to);
    while last < intervals.len() && intervals[last].0 <= to {
        let (s, e) = intervals[last];
        if s > cursor {
            new.push(((cursor, s.min(to)), (left, Some(s))));
        }
        cursor = cursor.max(e);
        left = Some(e);
        lo = lo.min(s);
        hi = hi.max(e);
        last += 1;
    }
    if cursor < to {
        new.push(((cursor, to), (left, intervals.get(last).map(|i| i.0))));
    }
    intervals.splice(first..last, [(lo, hi)]);
    new
}

/// The instants local midnight falls on before and after `ts` in `tz`.
pub(crate) fn day_bounds(ts: Micros, tz: Tz) -> (Micros, Micros) {
    let midnight = |date: chrono::NaiveDate| -> Micros {
        let local = date.and_hms_opt(0, 0, 0).unwrap_or_default();
        match tz.from_local_datetime(&local).earliest() {
            Some(t) => t.timestamp_micros(),
            // Midnight skipped by a DST change: the day starts an hour later.
            None => tz
                .from_local_datetime(&(local + chrono::Duration::hours(1)))
                .earliest()
                .map(|t| t.timestamp_micros())
                .unwrap_or(ts),
        }
    };
    let date = tz.timestamp_micros(ts).single().map(|t| t.date_naive()).unwrap_or_default();
    let start = midnight(date);
    let end = date.succ_opt().map(midnight).unwrap_or(start + 24 * 3600 * MICROS_PER_SEC);
    (start, end)
}

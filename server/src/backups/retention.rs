//! Grandfather-father-son retention with restic's semantics: for each of the last `daily` days,
//! `weekly` ISO weeks and `monthly` months *that have backups*, the newest backup of that period
//! is kept, and so is the newest backup overall. Periods are read on the local calendar of the
//! schedule's time zone.
//!
//! Candidates are the environment's good backups; pinned backups and those an open restore
//! references are the caller's to add. Because a period's newest backup stays kept for as long
//! as the period is among the last N, pruning after every backup keeps the same set as pruning
//! once at the end (the tests check it).
use app::models::Retention;
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use std::collections::HashSet;
use uuid::Uuid;

/// A calendar period on the local clock: (year, number within the year).
type Period = (i32, u32);

fn day(t: &DateTime<Tz>) -> Period {
    (t.year(), t.ordinal())
}

fn iso_week(t: &DateTime<Tz>) -> Period {
    let week = t.iso_week();
    (week.year(), week.week())
}

fn month(t: &DateTime<Tz>) -> Period {
    (t.year(), t.month())
}

/// One "keep the newest of each of the last N periods" rule, fed backups newest first.
struct Bucket {
    period: fn(&DateTime<Tz>) -> Period,
    remaining: u32,
    last: Option<Period>,
}

impl Bucket {
    fn new(period: fn(&DateTime<Tz>) -> Period, count: u32) -> Bucket {
        Bucket { period, remaining: count, last: None }
    }

    /// Whether this backup is the first (so the newest) seen of a period still to be filled.
    fn takes(&mut self, t: &DateTime<Tz>) -> bool {
        let period = (self.period)(t);
        if self.remaining == 0 || self.last == Some(period) {
            return false;
        }
        self.last = Some(period);
        self.remaining -= 1;
        true
    }
}

/// The backups to keep among `backups` (id, finished at; in any order) under `policy`, with
/// days, weeks and months taken in `tz`. Everything else may be deleted.
pub fn keep(backups: &[(Uuid, DateTime<Utc>)], tz: Tz, policy: Retention) -> HashSet<Uuid> {
    let mut newest_first = backups.to_vec();
    // Ties on the timestamp are broken by id so the answer never depends on input order.
    newest_first.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));

    let mut buckets = [
        Bucket::new(day, policy.daily),
        Bucket::new(iso_week, policy.weekly),
        Bucket::new(month, policy.monthly),
    ];
    let mut kept: HashSet<Uuid> = newest_first.first().map(|(id, _)| *id).into_iter().collect();
    for (id, at) in &newest_first {
        let local = at.with_timezone(&tz);
        // Every bucket sees every backup: one backup can be a day's, a week's and a month's
        // newest at once.
        let mut taken = false;
        for bucket in &mut buckets {
            taken |= bucket.takes(&local);
        }
        if taken {
            kept.insert(*id);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate, TimeZone};
    use chrono_tz::Europe::Brussels;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, mi, 0).unwrap()
    }

    /// The nightly backup of day `n` (0 = Thu 2026-01-01), at 02:00 UTC; its id is `n`.
    fn nightly(n: u32) -> (Uuid, DateTime<Utc>) {
        (Uuid::from_u128(n.into()), utc(2026, 1, 1, 2, 0) + Duration::days(n.into()))
    }

    /// The local dates of the kept backups, oldest first.
    fn kept_dates(backups: &[(Uuid, DateTime<Utc>)], kept: &HashSet<Uuid>) -> Vec<NaiveDate> {
        let mut dates: Vec<_> = backups
            .iter()
            .filter(|(id, _)| kept.contains(id))
            .map(|(_, at)| at.with_timezone(&Brussels).date_naive())
            .collect();
        dates.sort();
        dates
    }

    /// Daily backups from 2026-01-01 for `days` days, pruned after each one as the engine does.
    /// Also checks, every day, that this equals pruning all backups so far once.
    fn simulate(days: u32) -> Vec<(Uuid, DateTime<Utc>)> {
        let mut stored: Vec<(Uuid, DateTime<Utc>)> = Vec::new();
        for n in 0..days {
            stored.push(nightly(n));
            let kept = keep(&stored, Brussels, Retention::PRODUCTION);
            stored.retain(|(id, _)| kept.contains(id));

            let all: Vec<_> = (0..=n).map(nightly).collect();
            let at_once = keep(&all, Brussels, Retention::PRODUCTION);
            assert_eq!(kept, at_once, "day {n}: pruning each day differs from pruning once");
        }
        stored
    }

    #[test]
    fn plan_worked_example_on_monday_march_16() {
        // Mon 2026-03-16 is day 74. Daily: Mar 10-16. Weekly: W12 Mar 16, W11 Sun Mar 15,
        // W10 Sun Mar 8, W09 Sun Mar 1. Monthly: Mar 16, Sat Feb 28, Sat Jan 31.
        let stored = simulate(75);
        let all: HashSet<_> = stored.iter().map(|(id, _)| *id).collect();
        let mut expected = vec![date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 8)];
        expected.extend((10..=16).map(|d| date(2026, 3, d)));
        assert_eq!(kept_dates(&stored, &all), expected);
        assert_eq!(stored.len(), 11);
    }

    #[test]
    fn plan_worked_example_after_a_year() {
        // Thu 2026-12-31 is day 364, in ISO week 53 (Dec 28 - Jan 3). Weekly: W53 Dec 31,
        // W52 Sun Dec 27, W51 Sun Dec 20, W50 Sun Dec 13. Monthly: Dec 31, Nov 30, Oct 31.
        let stored = simulate(365);
        let all: HashSet<_> = stored.iter().map(|(id, _)| *id).collect();
        let mut expected = vec![date(2026, 10, 31), date(2026, 11, 30), date(2026, 12, 13), date(2026, 12, 20)];
        expected.extend((25..=31).map(|d| date(2026, 12, d)));
        assert_eq!(kept_dates(&stored, &all), expected);
    }

    #[test]
    fn only_the_newest_backup_of_a_day_is_kept_for_that_day() {
        let morning = (Uuid::from_u128(1), utc(2026, 5, 4, 6, 0));
        let evening = (Uuid::from_u128(2), utc(2026, 5, 4, 18, 0));
        let next_day = (Uuid::from_u128(3), utc(2026, 5, 5, 6, 0));
        let kept = keep(&[evening, next_day, morning], chrono_tz::UTC, Retention::BEST_EFFORT);
        assert_eq!(kept, HashSet::from([evening.0, next_day.0]));
    }

    #[test]
    fn days_are_counted_in_the_time_zone() {
        // 23:30 UTC on May 4 is 01:30 on May 5 in Brussels (summer time).
        let noon = (Uuid::from_u128(1), utc(2026, 5, 4, 12, 0));
        let late = (Uuid::from_u128(2), utc(2026, 5, 4, 23, 30));
        let morning = (Uuid::from_u128(3), utc(2026, 5, 5, 6, 0));
        let policy = Retention { daily: 2, weekly: 0, monthly: 0 };
        let backups = [noon, late, morning];
        assert_eq!(keep(&backups, chrono_tz::UTC, policy), HashSet::from([late.0, morning.0]));
        assert_eq!(keep(&backups, Brussels, policy), HashSet::from([noon.0, morning.0]));
    }

    #[test]
    fn best_effort_keeps_the_newest_of_the_last_three_days() {
        // Two backups a day for ten days, given newest first and oldest first alike.
        let mut backups: Vec<_> = (0..20u32)
            .map(|i| (Uuid::from_u128(i.into()), utc(2026, 6, 1, 3, 0) + Duration::hours(12 * i64::from(i))))
            .collect();
        let expected = HashSet::from([Uuid::from_u128(15), Uuid::from_u128(17), Uuid::from_u128(19)]);
        assert_eq!(keep(&backups, Brussels, Retention::BEST_EFFORT), expected);
        backups.reverse();
        assert_eq!(keep(&backups, Brussels, Retention::BEST_EFFORT), expected);
    }

    #[test]
    fn days_without_backups_do_not_count() {
        // A gap of a week: the three days kept are the last three that have backups.
        let backups: Vec<_> = [1, 2, 3, 10, 11]
            .map(|d| (Uuid::from_u128(d), utc(2026, 6, d as u32, 3, 0)))
            .to_vec();
        let kept = keep(&backups, Brussels, Retention::BEST_EFFORT);
        assert_eq!(kept, HashSet::from([Uuid::from_u128(3), Uuid::from_u128(10), Uuid::from_u128(11)]));
    }

    #[test]
    fn the_newest_backup_is_always_kept() {
        let backups: Vec<_> = (0..5).map(nightly).collect();
        let nothing = Retention { daily: 0, weekly: 0, monthly: 0 };
        assert_eq!(keep(&backups, Brussels, nothing), HashSet::from([nightly(4).0]));

        // Weekly only: the newest of each of the last two ISO weeks (Sun Jan 11, Tue Jan 13).
        let backups: Vec<_> = (0..13).map(nightly).collect();
        let weekly = Retention { daily: 0, weekly: 2, monthly: 0 };
        let kept = keep(&backups, Brussels, weekly);
        assert_eq!(kept_dates(&backups, &kept), vec![date(2026, 1, 11), date(2026, 1, 13)]);
    }

    #[test]
    fn no_backups_keep_nothing() {
        assert!(keep(&[], Brussels, Retention::PRODUCTION).is_empty());
    }
}

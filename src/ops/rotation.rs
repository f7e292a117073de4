//! Which backups to keep: N daily, M weekly, K monthly (the grandfather-father-son rotation).
//!
//! Backups are taken newest first. The daily rule keeps the newest backup of each of the N most
//! recent days (UTC) that have one; the weekly rule the newest of each of the M most recent ISO
//! weeks; the monthly rule the newest of each of the K most recent months. A backup kept by any
//! rule is kept; the others are pruned. The caller always keeps the backup it has just written.

use chrono::{DateTime, Datelike, Utc};
use std::collections::HashSet;

/// Default `--keep-daily`.
pub const DEFAULT_DAILY: u32 = 7;
/// Default `--keep-weekly`.
pub const DEFAULT_WEEKLY: u32 = 4;
/// Default `--keep-monthly`.
pub const DEFAULT_MONTHLY: u32 = 12;

/// How many periods of each kind keep a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Days.
    pub daily: u32,
    /// ISO weeks.
    pub weekly: u32,
    /// Calendar months.
    pub monthly: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            daily: DEFAULT_DAILY,
            weekly: DEFAULT_WEEKLY,
            monthly: DEFAULT_MONTHLY,
        }
    }
}

/// A day, ISO week or month, as comparable numbers.
type Period = (i32, u32, u32);

/// For each backup time in `times` (any order), whether the policy keeps it.
pub fn kept(times: &[DateTime<Utc>], policy: Policy) -> Vec<bool> {
    let mut newest_first: Vec<usize> = (0..times.len()).collect();
    newest_first.sort_by(|&a, &b| times[b].cmp(&times[a]).then(b.cmp(&a)));
    let mut keep = vec![false; times.len()];
    let mut apply = |limit: u32, period: &dyn Fn(&DateTime<Utc>) -> Period| {
        let mut seen = HashSet::new();
        for &i in &newest_first {
            if seen.len() >= limit as usize {
                break;
            }
            if seen.insert(period(&times[i])) {
                keep[i] = true;
            }
        }
    };
    apply(policy.daily, &|t| (t.year(), t.month(), t.day()));
    apply(policy.weekly, &|t| {
        let week = t.iso_week();
        (week.year(), week.week(), 0)
    });
    apply(policy.monthly, &|t| (t.year(), t.month(), 0));
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn the_newest_of_each_day_week_and_month_is_kept() {
        // Two backups a day (03:00 and 15:00) from 2026-01-01 to 2026-03-31.
        let mut times = Vec::new();
        let mut day = at(2026, 1, 1, 0);
        while day < at(2026, 4, 1, 0) {
            times.push(day + Duration::hours(3));
            times.push(day + Duration::hours(15));
            day += Duration::days(1);
        }
        let policy = Policy {
            daily: 3,
            weekly: 2,
            monthly: 2,
        };
        let keep = kept(&times, policy);
        let mut survivors: Vec<DateTime<Utc>> = times
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(t, _)| *t)
            .collect();
        survivors.sort();
        assert_eq!(
            survivors,
            vec![
                // monthly: February's newest (March's is also the newest daily one)
                at(2026, 2, 28, 15),
                // weekly: Sunday 29 March ends the ISO week before this one (which starts on
                // Monday 30); also a daily one
                at(2026, 3, 29, 15),
                // daily: the last three days, the newest of each
                at(2026, 3, 30, 15),
                at(2026, 3, 31, 15),
            ]
        );
    }

    #[test]
    fn zero_everywhere_keeps_nothing() {
        let times = vec![at(2026, 1, 1, 3)];
        let none = Policy {
            daily: 0,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(kept(&times, none), vec![false]);
        assert_eq!(kept(&times, Policy::default()), vec![true]);
    }
}

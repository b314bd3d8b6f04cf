//! Time in the rule set's zone: campaign windows (local date-times, half
//! open), calendar periods and counting windows.
//!
//! Instants are UTC everywhere inside; a local time is read in the rule
//! set's IANA zone once, when the rule set is loaded.

use std::fmt;

use chrono::{DateTime, Datelike, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// A campaign: the rule applies to events at or after `start` and before
/// `end`, both local date-times in the rule set's time zone (`[start, end)`).
///
/// Serialised as ISO 8601 local date-times without an offset:
/// `{"start": "2026-03-01T00:00:00", "end": "2026-04-01T00:00:00"}`.
///
/// # Local times at a DST change
///
/// A local date-time is turned into an instant the way RFC 5545 and
/// JavaScript's Temporal (`"compatible"`) do:
///
/// - **ambiguous** (the clock falls back, so the local time happens twice):
///   the *earlier* instant, the first time the wall clock shows it;
/// - **nonexistent** (the clock springs forward over it): read with the
///   offset in force *before* the change, which lands as far after the gap
///   as the time was inside it. `01:30` on the day London springs forward
///   (01:00 GMT → 02:00 BST) is `01:30 GMT`, which the clock shows as
///   `02:30 BST`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// First local date-time of the campaign (inclusive).
    pub start: NaiveDateTime,
    /// Local date-time the campaign ends (exclusive).
    pub end: NaiveDateTime,
}

/// Reads a local date-time in `tz` as an instant (see the module docs for
/// ambiguous and nonexistent local times). `None` only if the result falls
/// outside chrono's range.
pub(crate) fn local_to_utc(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.with_timezone(&Utc).min(b.with_timezone(&Utc))),
        LocalResult::None => {
            // In a gap: the offset in force before the change is the one a
            // day earlier (no zone changes its offset twice within a day).
            let before = local.checked_sub_signed(TimeDelta::days(1))?;
            let offset = tz.offset_from_utc_datetime(&before).fix();
            let utc = local
                .checked_sub_signed(TimeDelta::seconds(i64::from(offset.local_minus_utc())))?;
            Some(Utc.from_utc_datetime(&utc))
        }
    }
}

/// A calendar period in the rule set's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CalendarPeriod {
    /// A local day.
    Day,
    /// An ISO week (Monday to Sunday; weeks belong to their ISO year).
    Week,
    /// A calendar month.
    Month,
    /// A calendar quarter (January to March, …).
    Quarter,
    /// A calendar year.
    Year,
}

/// One calendar period: which kind and which one (`2026-03`, `2026-W11`).
///
/// `Display` gives the key used in once-keys: `2026-03-14` (day),
/// `2026-W11` (ISO week), `2026-03` (month), `2026-Q1` (quarter), `2026`
/// (year).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Period {
    /// The kind of period.
    pub kind: CalendarPeriod,
    /// The (ISO, for weeks) year.
    pub year: i32,
    /// Day of the year (1–366), ISO week (1–53), month (1–12), quarter
    /// (1–4), or 1 for a year.
    pub index: u32,
}

impl Period {
    /// The period of `kind` holding the instant `at`, in the zone `tz`.
    ///
    /// # Example: the last second of March in Riyadh is in March
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use referrals::incentive::{CalendarPeriod, Period};
    /// let at = Utc.with_ymd_and_hms(2026, 3, 31, 20, 59, 59).unwrap(); // 23:59:59 +03
    /// let p = Period::containing(CalendarPeriod::Month, chrono_tz::Asia::Riyadh, at);
    /// assert_eq!(p.to_string(), "2026-03");
    /// let next = Period::containing(CalendarPeriod::Month, chrono_tz::Asia::Riyadh, at + chrono::TimeDelta::seconds(1));
    /// assert_eq!(next.to_string(), "2026-04");
    /// ```
    ///
    /// # Example: ISO weeks belong to their ISO year
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use referrals::incentive::{CalendarPeriod, Period};
    /// let at = Utc.with_ymd_and_hms(2027, 1, 1, 12, 0, 0).unwrap(); // a Friday
    /// assert_eq!(Period::containing(CalendarPeriod::Week, chrono_tz::UTC, at).to_string(), "2026-W53");
    /// ```
    pub fn containing(kind: CalendarPeriod, tz: Tz, at: DateTime<Utc>) -> Period {
        let date = at.with_timezone(&tz).date_naive();
        let (year, index) = match kind {
            CalendarPeriod::Day => (date.year(), date.ordinal()),
            CalendarPeriod::Week => {
                let w = date.iso_week();
                (w.year(), w.week())
            }
            CalendarPeriod::Month => (date.year(), date.month()),
            CalendarPeriod::Quarter => (date.year(), (date.month() - 1) / 3 + 1),
            CalendarPeriod::Year => (date.year(), 1),
        };
        Period { kind, year, index }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            CalendarPeriod::Day => match chrono::NaiveDate::from_yo_opt(self.year, self.index) {
                Some(d) => write!(f, "{}", d.format("%Y-%m-%d")),
                None => write!(f, "{}-D{:03}", self.year, self.index),
            },
            CalendarPeriod::Week => write!(f, "{}-W{:02}", self.year, self.index),
            CalendarPeriod::Month => write!(f, "{}-{:02}", self.year, self.index),
            CalendarPeriod::Quarter => write!(f, "{}-Q{}", self.year, self.index),
            CalendarPeriod::Year => write!(f, "{}", self.year),
        }
    }
}

/// Which of the referrer's successful referrals count toward a tier or a
/// milestone, relative to the event being decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Window {
    /// All of them.
    #[default]
    Lifetime,
    /// Those in the same calendar period (in the rule set's zone) as the
    /// event.
    Calendar {
        /// The period.
        period: CalendarPeriod,
    },
    /// Those in the `days` × 24 hours up to the event.
    Rolling {
        /// Length of the window in days (1 or more).
        days: u32,
    },
}

impl Window {
    /// Whether a referral that succeeded at `at` lies in the window of an
    /// event at `now` (`now`'s period precomputed for calendar windows).
    pub(crate) fn holds(
        &self,
        tz: Tz,
        now: DateTime<Utc>,
        now_period: Option<Period>,
        at: DateTime<Utc>,
    ) -> bool {
        if at > now {
            return false;
        }
        match *self {
            Window::Lifetime => true,
            Window::Calendar { period } => {
                now_period.is_some_and(|p| Period::containing(period, tz, at) == p)
            }
            Window::Rolling { days } => now - at < TimeDelta::days(i64::from(days)),
        }
    }

    /// The period key of the window an event at `now` falls in: `lifetime`,
    /// a period (`2026-03`), or `None` for a rolling window.
    pub(crate) fn period(&self, tz: Tz, now: DateTime<Utc>) -> Option<Period> {
        match *self {
            Window::Calendar { period } => Some(Period::containing(period, tz, now)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(s: &str) -> NaiveDateTime {
        s.parse().unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn riyadh_has_no_dst_and_is_three_hours_ahead() {
        let tz: Tz = "Asia/Riyadh".parse().unwrap();
        assert_eq!(
            local_to_utc(tz, local("2026-03-01T00:00:00")),
            Some(utc("2026-02-28T21:00:00Z"))
        );
    }

    #[test]
    fn a_local_time_in_the_spring_gap_reads_with_the_earlier_offset() {
        let tz = chrono_tz::Europe::London;
        // 01:00 GMT -> 02:00 BST on 2026-03-29: 01:30 does not exist.
        assert_eq!(
            local_to_utc(tz, local("2026-03-29T01:30:00")),
            Some(utc("2026-03-29T01:30:00Z"))
        );
        let ny = chrono_tz::America::New_York;
        // 02:00 EST -> 03:00 EDT on 2026-03-08: 02:30 is 02:30 EST = 07:30Z.
        assert_eq!(
            local_to_utc(ny, local("2026-03-08T02:30:00")),
            Some(utc("2026-03-08T07:30:00Z"))
        );
    }

    #[test]
    fn an_ambiguous_local_time_is_its_first_occurrence() {
        let tz = chrono_tz::Europe::London;
        // 02:00 BST -> 01:00 GMT on 2026-10-25: 01:30 happens twice.
        assert_eq!(
            local_to_utc(tz, local("2026-10-25T01:30:00")),
            Some(utc("2026-10-25T00:30:00Z"))
        );
    }

    #[test]
    fn period_keys() {
        let tz = chrono_tz::Asia::Riyadh;
        let at = utc("2026-03-14T10:00:00Z");
        let key = |k| Period::containing(k, tz, at).to_string();
        assert_eq!(key(CalendarPeriod::Day), "2026-03-14");
        assert_eq!(key(CalendarPeriod::Week), "2026-W11");
        assert_eq!(key(CalendarPeriod::Month), "2026-03");
        assert_eq!(key(CalendarPeriod::Quarter), "2026-Q1");
        assert_eq!(key(CalendarPeriod::Year), "2026");
        // 22:00Z on 31 December is already 1 January in Riyadh.
        let late = utc("2026-12-31T22:00:00Z");
        assert_eq!(
            Period::containing(CalendarPeriod::Year, tz, late).to_string(),
            "2027"
        );
    }

    #[test]
    fn windows() {
        let tz = chrono_tz::Asia::Riyadh;
        let now = utc("2026-03-14T10:00:00Z");
        let rolling = Window::Rolling { days: 7 };
        assert!(rolling.holds(tz, now, None, utc("2026-03-07T10:00:01Z")));
        assert!(!rolling.holds(tz, now, None, utc("2026-03-07T10:00:00Z")));
        assert!(!rolling.holds(tz, now, None, utc("2026-03-14T10:00:01Z")));
        let month = Window::Calendar {
            period: CalendarPeriod::Month,
        };
        let p = month.period(tz, now);
        // 21:00Z on 28 February is 00:00 on 1 March in Riyadh.
        assert!(month.holds(tz, now, p, utc("2026-02-28T21:00:00Z")));
        assert!(!month.holds(tz, now, p, utc("2026-02-28T20:59:59Z")));
        assert!(Window::Lifetime.holds(tz, now, None, utc("2001-01-01T00:00:00Z")));
    }
}

//! A program's ledger policy: the hold before a reward can be spent, how
//! long it stays spendable, the budget and caps it counts against, and how
//! far a refund may put a customer in debt. Plain data, validated with the
//! program, and the pure functions that turn a reward into the counter
//! reservations it needs.

use chrono::{DateTime, Datelike, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::CounterKey;
use crate::model::{CustomerId, ProgramId};
use crate::money::{Currency, Money};
use crate::reward::{Label, RewardKind, Role};

/// Longest hold, validity or rolling window accepted: ten years.
const MAX_SECONDS: i64 = 10 * 366 * 24 * 3600;

/// How a program books, limits and releases rewards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LedgerPolicy {
    /// How long a reward stays pending before it can be spent (for
    /// example the shop's refund window), in seconds; `None` or 0: spendable
    /// at once. A refund during the hold cancels the reward instead of
    /// reversing it.
    pub hold_seconds: Option<i64>,
    /// How long a reward stays spendable after it was earned, in seconds;
    /// `None`: until spent.
    pub valid_for_seconds: Option<i64>,
    /// The program's money budget: a hard stop on what it pays.
    pub budget: Option<Budget>,
    /// Budgets of campaigns: each counts only the rewards its rules grant
    /// (a Ramadan campaign's own budget), besides the program's.
    pub campaign_budgets: Vec<CampaignBudget>,
    /// Limits per customer.
    pub caps: Vec<Cap>,
    /// How far a refund after redemption may put a customer's balance
    /// below zero, per unit of money; `None`: no limit (the whole debt is
    /// recorded). Debt beyond the limit is written off, recorded as a
    /// `WrittenOff` entry: never dropped silently.
    pub debt_limit: Option<Money>,
    /// How the fulfilment outbox retries deliveries.
    pub delivery: DeliveryPolicy,
    /// How coupon codes are made and how long they stay valid.
    pub coupons: CouponPolicy,
    /// The IANA time zone calendar caps count in (`Asia/Riyadh`): a
    /// monthly cap resets at local midnight. Default: UTC.
    pub time_zone: Option<String>,
}

/// A campaign's money budget: the rewards granted by `rules` count against
/// it (and against the program's budget).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignBudget {
    /// The campaign's name: its counter's key, so the list can be
    /// reordered without moving what was used.
    pub name: Label,
    /// The incentive rules whose rewards count against it.
    pub rules: Vec<Label>,
    /// What the campaign may pay, and its overdraft.
    pub limit: Money,
    /// How much beyond `limit` it may still pay.
    #[serde(default)]
    pub overdraft: Option<Money>,
}

/// How the engine issues the single-use code of a coupon reward.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CouponPolicy {
    /// The coupon codes' shape (give them a prefix of their own, `CPN`,
    /// so people tell them from referral codes). Default: the default
    /// referral code format.
    pub format: crate::code::CodeFormat,
    /// How long a coupon stays valid after it was earned, in seconds;
    /// `None`: as long as the reward (the policy's `valid_for_seconds`).
    pub valid_for_seconds: Option<i64>,
}

/// How the fulfilment outbox retries a failed delivery: after `backoff`
/// seconds, doubling each time up to a day, at most `max_attempts` claims
/// before the item is dead-lettered for a person to look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryPolicy {
    /// Claims before an item is dead-lettered (1 or more). Default 8.
    pub max_attempts: u32,
    /// The first retry's delay in seconds (1 or more). Default 60.
    pub backoff_seconds: i64,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            max_attempts: 8,
            backoff_seconds: 60,
        }
    }
}

impl DeliveryPolicy {
    /// The delay before the retry that follows failed attempt `attempt`
    /// (1-based): `backoff × 2^(attempt-1)`, at most a day.
    pub fn retry_after(&self, attempt: u32) -> TimeDelta {
        let factor = 1i64 << attempt.saturating_sub(1).min(20);
        TimeDelta::seconds(self.backoff_seconds.saturating_mul(factor).min(86_400))
    }
}

/// A money budget: what the program may pay in total (money rewards and
/// fixed-value coupons, at their value), with an optional overdraft. A
/// shared budget is counted per currency: programs in different currencies
/// naming one allowance never add their minor units together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    /// What the program may pay.
    pub limit: Money,
    /// How much beyond `limit` it may still pay before it refuses: zero
    /// for a hard stop at `limit`.
    #[serde(default)]
    pub overdraft: Option<Money>,
    /// Counted in this shared allowance instead of the program's own
    /// counter (several programs on one store sharing one budget).
    #[serde(default)]
    pub shared: Option<Label>,
}

/// A limit on what one customer (or one pair) earns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cap {
    /// Whose earnings it limits.
    pub on: CapSubject,
    /// Rewards counted, or their money value.
    pub measure: CapMeasure,
    /// The most, in rewards or in minor units of the program's currency.
    pub limit: i64,
    /// Over which period.
    #[serde(default)]
    pub period: CapPeriod,
    /// Counted in this shared allowance, across every program that names
    /// it (a customer's total over several programs on one store).
    #[serde(default)]
    pub shared: Option<Label>,
}

/// Whose earnings a [`Cap`] limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CapSubject {
    /// What a referrer earns as referrer.
    Referrer,
    /// What a referee earns as referee.
    Referee,
    /// What one referrer earns through one referee.
    Pair,
}

/// What a [`Cap`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CapMeasure {
    /// Rewards, one each.
    Count,
    /// Money value in minor units (rewards without one count zero).
    Value,
}

/// The period a [`Cap`] resets over: calendar periods in UTC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "every")]
#[non_exhaustive]
pub enum CapPeriod {
    /// Never resets.
    #[default]
    Lifetime,
    /// Each calendar month.
    Month,
    /// Each year starting on the first of `start_month` (1 to 12: 1 for a
    /// calendar year, 4 for a tax year starting in April).
    Year {
        /// The month the year starts in.
        start_month: u32,
    },
    /// A rolling window of `days` local days: the reward's day and the
    /// `days - 1` days before it. Counted in one counter per day, so a
    /// day's counter is still one conditional write: its limit is the cap
    /// less what the other days of the window used, as read. Concurrent
    /// rewards of one day can never pass the cap; two concurrent events
    /// dated on different days of one window (a late delivery racing a
    /// current one) each see the other's day as read, the one case where a
    /// rolling cap can be passed, by at most one reward.
    Rolling {
        /// The window's length in days (1 to 366).
        days: u32,
    },
}

impl CapPeriod {
    /// The label of the period holding `at` in `tz`: `life`, `2026-03`,
    /// `2026/04` (a year starting in April 2026).
    pub fn label(self, at: DateTime<Utc>, tz: Tz) -> String {
        let at = at.with_timezone(&tz);
        match self {
            CapPeriod::Lifetime => "life".to_owned(),
            CapPeriod::Month => format!("{:04}-{:02}", at.year(), at.month()),
            CapPeriod::Year { start_month } => {
                let year = if at.month() >= start_month {
                    at.year()
                } else {
                    at.year() - 1
                };
                format!("{year:04}/{start_month:02}")
            }
            CapPeriod::Rolling { .. } => day_label(at.date_naive()),
        }
    }

    /// For a rolling window: the labels of the window's other days (the
    /// `days - 1` days before `at`'s local day); empty otherwise.
    pub fn window_before(self, at: DateTime<Utc>, tz: Tz) -> Vec<String> {
        let CapPeriod::Rolling { days } = self else {
            return Vec::new();
        };
        let today = at.with_timezone(&tz).date_naive();
        (1..i64::from(days))
            .filter_map(|back| today.checked_sub_signed(TimeDelta::days(back)))
            .map(day_label)
            .collect()
    }
}

/// A ledger policy was invalid: which field, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct PolicyError {
    /// The field path, e.g. `caps[1].limit`.
    pub field: String,
    /// What was wrong.
    pub problem: String,
}

fn bad(field: impl Into<String>, problem: impl Into<String>) -> PolicyError {
    PolicyError {
        field: field.into(),
        problem: problem.into(),
    }
}

impl LedgerPolicy {
    /// Checks the policy for a program paying in `currency`.
    ///
    /// # Errors
    /// [`PolicyError`] naming the first bad field: a hold or validity out
    /// of 0 to 10 years, a validity not longer than the hold, a budget or
    /// debt limit in another currency or negative, a cap limit below 1, a
    /// year starting in no month.
    pub fn validate(&self, currency: Currency) -> Result<(), PolicyError> {
        for (field, v) in [
            ("hold_seconds", self.hold_seconds),
            ("valid_for_seconds", self.valid_for_seconds),
        ] {
            if let Some(s) = v {
                if !(0..=MAX_SECONDS).contains(&s) {
                    return Err(bad(field, format!("must be 0 to 10 years, is {s} seconds")));
                }
            }
        }
        if let (Some(valid), hold) = (self.valid_for_seconds, self.hold_seconds.unwrap_or(0)) {
            if valid <= hold {
                return Err(bad(
                    "valid_for_seconds",
                    format!("{valid} s must be longer than the hold of {hold} s"),
                ));
            }
        }
        let money = |field: &str, m: Money| {
            if m.currency() != currency {
                Err(bad(
                    field,
                    format!("is in {}, the program pays in {currency}", m.currency()),
                ))
            } else if m.is_negative() {
                Err(bad(field, format!("must not be negative, is {m}")))
            } else {
                Ok(())
            }
        };
        if let Some(b) = &self.budget {
            money("budget.limit", b.limit)?;
            if let Some(o) = b.overdraft {
                money("budget.overdraft", o)?;
            }
        }
        if let Some(d) = self.debt_limit {
            money("debt_limit", d)?;
        }
        if let Some(name) = &self.time_zone {
            if name.parse::<Tz>().is_err() {
                return Err(bad(
                    "time_zone",
                    format!(
                        "{:?} is not an IANA time zone",
                        crate::text::excerpt(name, 40)
                    ),
                ));
            }
        }
        for (i, b) in self.campaign_budgets.iter().enumerate() {
            money(&format!("campaign_budgets[{i}].limit"), b.limit)?;
            if let Some(o) = b.overdraft {
                money(&format!("campaign_budgets[{i}].overdraft"), o)?;
            }
            if b.rules.is_empty() {
                return Err(bad(
                    format!("campaign_budgets[{i}].rules"),
                    "names no rule: the campaign's rewards would never count",
                ));
            }
            if self.campaign_budgets[..i].iter().any(|x| x.name == b.name) {
                return Err(bad(
                    format!("campaign_budgets[{i}].name"),
                    format!("{} is used twice: they would share one counter", b.name),
                ));
            }
        }
        if let Some(s) = self.coupons.valid_for_seconds {
            if !(1..=MAX_SECONDS).contains(&s) {
                return Err(bad(
                    "coupons.valid_for_seconds",
                    format!("must be 1 second to 10 years, is {s}"),
                ));
            }
        }
        if self.delivery.max_attempts == 0 {
            return Err(bad("delivery.max_attempts", "must be at least 1"));
        }
        if !(1..=86_400).contains(&self.delivery.backoff_seconds) {
            return Err(bad(
                "delivery.backoff_seconds",
                format!("must be 1 to 86400, is {}", self.delivery.backoff_seconds),
            ));
        }
        for (i, cap) in self.caps.iter().enumerate() {
            if cap.limit < 1 {
                return Err(bad(
                    format!("caps[{i}].limit"),
                    format!("must be at least 1, is {}", cap.limit),
                ));
            }
            if let CapPeriod::Rolling { days } = cap.period {
                if !(1..=366).contains(&days) {
                    return Err(bad(
                        format!("caps[{i}].period.days"),
                        format!("must be 1 to 366, is {days}"),
                    ));
                }
            }
            if let CapPeriod::Year { start_month } = cap.period {
                if !(1..=12).contains(&start_month) {
                    return Err(bad(
                        format!("caps[{i}].period.start_month"),
                        format!("must be 1 to 12, is {start_month}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The counter the program's budget counts in, if it has a budget.
    pub fn budget_counter(&self, program: &ProgramId) -> Option<CounterKey> {
        self.budget.as_ref().map(|b| budget_key(program, b))
    }

    /// The time zone calendar caps count in (UTC unless set; an invalid
    /// name is refused by [`validate`](Self::validate)).
    pub fn tz(&self) -> Tz {
        self.time_zone
            .as_deref()
            .and_then(|n| n.parse().ok())
            .unwrap_or(Tz::UTC)
    }

    /// The hold period, if any.
    pub fn hold(&self) -> Option<TimeDelta> {
        self.hold_seconds.filter(|s| *s > 0).map(TimeDelta::seconds)
    }

    /// How long a reward stays spendable after it was earned, if limited.
    pub fn valid_for(&self) -> Option<TimeDelta> {
        self.valid_for_seconds.map(TimeDelta::seconds)
    }

    /// The counters a reward reserves against, in a fixed order (budget,
    /// then caps in the order listed): each with how much it adds and the
    /// most the counter may reach. A reward is booked only if every one
    /// fits; the engine reads them first and decides, and the store's
    /// conditional increment keeps them exact under concurrency.
    pub fn reservations(
        &self,
        program: &ProgramId,
        reward: &ReservationInput<'_>,
    ) -> Vec<Reservation> {
        let mut out = Vec::new();
        let value = reward.kind.money_value().map_or(0, |m| m.minor().max(0));
        if let Some(b) = &self.budget {
            if value > 0 {
                let limit = b
                    .limit
                    .minor()
                    .saturating_add(b.overdraft.map_or(0, |o| o.minor()));
                out.push(Reservation {
                    key: budget_key(program, b),
                    delta: value,
                    limit,
                    what: Limit::Budget,
                    window: Vec::new(),
                });
            }
        }
        for b in &self.campaign_budgets {
            let counts = reward.rule.is_some_and(|r| b.rules.contains(r));
            if counts && value > 0 {
                out.push(Reservation {
                    key: CounterKey::program(program, format!("budget/campaign/{}", b.name)),
                    delta: value,
                    limit: b
                        .limit
                        .minor()
                        .saturating_add(b.overdraft.map_or(0, |o| o.minor())),
                    what: Limit::Budget,
                    window: Vec::new(),
                });
            }
        }
        let tz = self.tz();
        for (i, cap) in self.caps.iter().enumerate() {
            let subject = match (cap.on, reward.role) {
                (CapSubject::Referrer, Role::Referrer) => format!("referrer/{}", reward.customer),
                (CapSubject::Referee, Role::Referee) => format!("referee/{}", reward.customer),
                (CapSubject::Pair, Role::Referrer) => match reward.other {
                    Some(referee) => format!("pair/{}/{referee}", reward.customer),
                    None => continue,
                },
                _ => continue,
            };
            // A value counts minor units of one currency: programs in SAR
            // and KWD sharing an allowance keep one counter per currency
            // rather than adding halalas to fils.
            let (measure, delta) = match (cap.measure, reward.kind.money_value()) {
                (CapMeasure::Count, _) => ("count".to_owned(), 1),
                (CapMeasure::Value, Some(m)) => (format!("value/{}", m.currency()), value),
                (CapMeasure::Value, None) => continue,
            };
            if delta == 0 {
                continue;
            }
            let key = |label: String| {
                scoped(
                    program,
                    cap.shared.as_ref(),
                    format!("cap/{subject}/{label}/{measure}"),
                )
            };
            out.push(Reservation {
                key: key(cap.period.label(reward.at, tz)),
                delta,
                limit: cap.limit,
                what: Limit::Cap(i),
                window: cap
                    .period
                    .window_before(reward.at, tz)
                    .into_iter()
                    .map(key)
                    .collect(),
            });
        }
        out
    }
}

/// The counter a budget counts in: the program's own, or the shared
/// allowance's, per currency.
fn budget_key(program: &ProgramId, b: &Budget) -> CounterKey {
    scoped(
        program,
        b.shared.as_ref(),
        format!("budget/{}", b.limit.currency()),
    )
}

/// `2026-03-14`: a local day, in a rolling cap's counter name.
fn day_label(day: chrono::NaiveDate) -> String {
    format!("day/{:04}-{:02}-{:02}", day.year(), day.month(), day.day())
}

fn scoped(program: &ProgramId, shared: Option<&Label>, name: String) -> CounterKey {
    match shared {
        Some(label) => CounterKey {
            scope: super::CounterScope::Shared(label.clone()),
            name,
        },
        None => CounterKey::program(program, name),
    }
}

/// What [`LedgerPolicy::reservations`] needs to know of a reward.
#[derive(Debug, Clone, Copy)]
pub struct ReservationInput<'a> {
    /// Who earns it.
    pub customer: &'a CustomerId,
    /// As referrer or referee.
    pub role: Role,
    /// The other side of the referral (the referee, for a referrer's
    /// reward), for pair caps.
    pub other: Option<&'a CustomerId>,
    /// What is earned.
    pub kind: &'a RewardKind,
    /// When (picks the cap period).
    pub at: DateTime<Utc>,
    /// The incentive rule that granted it, if any (campaign budgets).
    pub rule: Option<&'a Label>,
}

/// Which limit a reservation counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Limit {
    /// The program's budget.
    Budget,
    /// The policy's cap at this index.
    Cap(usize),
}

/// One counter a reward reserves against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    /// The counter.
    pub key: CounterKey,
    /// What the reward adds.
    pub delta: i64,
    /// The most the counter may reach, with `window`'s counters.
    pub limit: i64,
    /// Which limit.
    pub what: Limit,
    /// For a rolling window: the counters of its other days, whose sum the
    /// limit is shared with (empty otherwise).
    #[serde(default)]
    pub window: Vec<CounterKey>,
}

/// What of a reservation a reward still holds when `standing` of its
/// `quantity` stands: `ceil(reserved × standing / quantity)`, so a value
/// reservation follows the standing value exactly and a count stays 1
/// while any of the reward stands.
pub fn still_reserved(reserved: i64, standing: i64, quantity: i64) -> i64 {
    if quantity <= 0 || standing <= 0 {
        return 0;
    }
    if standing >= quantity {
        return reserved;
    }
    let n = i128::from(reserved) * i128::from(standing);
    let q = i128::from(quantity);
    // OK: the result lies between 0 and `reserved`, an i64.
    i64::try_from((n + q - 1) / q).unwrap_or(reserved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn periods_are_labelled_by_calendar() {
        let at = Utc.with_ymd_and_hms(2026, 3, 31, 23, 59, 59).unwrap();
        let utc = Tz::UTC;
        assert_eq!(CapPeriod::Month.label(at, utc), "2026-03");
        assert_eq!(CapPeriod::Year { start_month: 4 }.label(at, utc), "2025/04");
        let april = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
        assert_eq!(
            CapPeriod::Year { start_month: 4 }.label(april, utc),
            "2026/04"
        );
        assert_eq!(CapPeriod::Lifetime.label(at, utc), "life");
        // 23:59:59 UTC on 31 March is already April in Riyadh (UTC+3), and
        // a month starts at local midnight: 21:00 UTC the day before.
        let riyadh: Tz = "Asia/Riyadh".parse().unwrap();
        assert_eq!(CapPeriod::Month.label(at, riyadh), "2026-04");
        let before = Utc.with_ymd_and_hms(2026, 3, 31, 20, 59, 59).unwrap();
        assert_eq!(CapPeriod::Month.label(before, riyadh), "2026-03");
        assert_eq!(
            CapPeriod::Month.label(before + TimeDelta::seconds(1), riyadh),
            "2026-04"
        );
    }

    #[test]
    fn a_bad_policy_names_its_field() {
        let p = LedgerPolicy {
            caps: vec![Cap {
                on: CapSubject::Referrer,
                measure: CapMeasure::Count,
                limit: 0,
                period: CapPeriod::Month,
                shared: None,
            }],
            ..LedgerPolicy::default()
        };
        assert_eq!(
            p.validate(Currency::SAR).unwrap_err().to_string(),
            "caps[0].limit: must be at least 1, is 0"
        );
        let p = LedgerPolicy {
            budget: Some(Budget {
                limit: Money::new(100, Currency::KWD),
                overdraft: None,
                shared: None,
            }),
            ..LedgerPolicy::default()
        };
        assert_eq!(
            p.validate(Currency::SAR).unwrap_err().to_string(),
            "budget.limit: is in KWD, the program pays in SAR"
        );
    }

    proptest! {
        #[test]
        fn what_stays_reserved_is_bounded_and_monotone(
            reserved in 0i64..1_000_000_000,
            quantity in 1i64..1_000_000_000,
            a in 0i64..1_000_000_000,
            b in 0i64..1_000_000_000,
        ) {
            let (lo, hi) = (a.min(b).min(quantity), a.max(b).min(quantity));
            let r_lo = still_reserved(reserved, lo, quantity);
            let r_hi = still_reserved(reserved, hi, quantity);
            prop_assert!(0 <= r_lo && r_lo <= r_hi && r_hi <= reserved);
            prop_assert_eq!(still_reserved(reserved, quantity, quantity), reserved);
            prop_assert_eq!(still_reserved(reserved, 0, quantity), 0);
            // A value reservation equal to the quantity follows it exactly.
            prop_assert_eq!(still_reserved(quantity, lo, quantity), lo);
        }
    }
}

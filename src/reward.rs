//! What a referral can earn: the reward kinds a program grants and the units
//! the ledger counts them in.
//!
//! This is the vocabulary shared by the incentive rules (which decide what
//! is earned) and the reward ledger (which books, limits and delivers it).
//! Plain data: no store, no engine, no clock.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money};

/// Which side of a referral a reward goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The customer who shared the code.
    Referrer,
    /// The friend who came through it.
    Referee,
}

impl Role {
    /// `referrer` or `referee`, as in serialised data.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Referrer => "referrer",
            Role::Referee => "referee",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Longest [`Label`] accepted, in bytes.
pub const MAX_LABEL_LEN: usize = 64;

/// A label was empty, too long, or held a control or invisible character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("label {shown:?}: {problem}")]
pub struct LabelError {
    /// The label, cut to 32 characters for the message.
    pub shown: String,
    /// What was wrong with it.
    pub problem: &'static str,
}

/// A program-chosen name: a points unit (`stars`), a perk (`early-access`),
/// a charity (`food-bank`), a gift-card catalogue item, a contest. 1 to
/// [`MAX_LABEL_LEN`] bytes, no control, bidi or invisible characters (the
/// same rule as identifiers), compared exactly. Immutable and shared:
/// cloning one (every grant and trace repeats rule ids) copies a pointer,
/// not the text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(std::sync::Arc<str>);

impl Label {
    /// Checks and wraps a label.
    ///
    /// # Errors
    /// [`LabelError`] if `text` is empty, longer than [`MAX_LABEL_LEN`]
    /// bytes, or holds a control or invisible character.
    pub fn new(text: impl Into<String>) -> Result<Label, LabelError> {
        let text = text.into();
        let problem = if text.is_empty() {
            Some("must not be empty")
        } else if text.len() > MAX_LABEL_LEN {
            Some("is longer than 64 bytes")
        } else if crate::model::CustomerId::new(text.as_str()).is_err() {
            Some("holds a control or invisible character")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(LabelError {
                shown: text.chars().take(32).collect(),
                problem,
            }),
            None => Ok(Label(text.into())),
        }
    }

    /// The label as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Label {
    type Error = LabelError;
    fn try_from(s: String) -> Result<Label, LabelError> {
        Label::new(s)
    }
}

impl TryFrom<&str> for Label {
    type Error = LabelError;
    fn try_from(s: &str) -> Result<Label, LabelError> {
        Label::new(s)
    }
}

impl From<Label> for String {
    fn from(l: Label) -> String {
        l.0.as_ref().to_owned()
    }
}

/// What a discount coupon takes off an order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Discount {
    /// A fixed amount off.
    Fixed {
        /// The amount.
        amount: Money,
    },
    /// A percentage off, in basis points (1,000 = 10 %), at most `max`.
    Percent {
        /// 1 to 10,000.
        basis_points: u32,
        /// The most it takes off one order, if capped.
        #[serde(default)]
        max: Option<Money>,
    },
}

/// One reward as granted: what the customer receives.
///
/// Quantities are exact: money in minor units, points, days and entries as
/// integers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum RewardKind {
    /// Account credit, spent in the host's shop.
    Credit {
        /// The amount.
        amount: Money,
    },
    /// Cash paid out to the customer (leaves the system through the
    /// fulfilment outbox).
    Cash {
        /// The amount.
        amount: Money,
    },
    /// A single-use discount coupon; the engine issues its code.
    Coupon {
        /// What it takes off.
        discount: Discount,
    },
    /// Loyalty points in a program-named unit.
    Points {
        /// The unit (`stars`, `نقاط`).
        unit: Label,
        /// How many.
        amount: i64,
    },
    /// Free trial or subscription days.
    TrialDays {
        /// How many days.
        days: i64,
    },
    /// Exclusive access to a named perk.
    Perk {
        /// The perk.
        perk: Label,
    },
    /// Money donated to a charity in the customer's name.
    Donation {
        /// The charity, one of the program's list.
        charity: Label,
        /// The amount.
        amount: Money,
    },
    /// A gift card from the host's catalogue.
    GiftCard {
        /// The catalogue item.
        item: Label,
        /// Its value.
        value: Money,
    },
    /// Entries toward a contest's draw or leaderboard.
    ContestEntries {
        /// The contest.
        contest: Label,
        /// How many entries.
        entries: i64,
    },
}

/// What a ledger balance counts: money per currency, points per unit, and
/// so on. Balances of different units never mix.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "unit", content = "of", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Unit {
    /// Minor units of a currency (credit, cash, donations, gift cards).
    Money(Currency),
    /// Points of a named unit.
    Points(Label),
    /// Trial or subscription days.
    Days,
    /// A named perk (0 or 1).
    Perk(Label),
    /// Entries toward a contest.
    Entries(Label),
    /// Coupons issued (counted, not valued: a coupon's worth depends on
    /// the order it is used on).
    Coupons,
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unit::Money(c) => write!(f, "{c}"),
            Unit::Points(l) => write!(f, "points:{l}"),
            Unit::Days => f.write_str("days"),
            Unit::Perk(l) => write!(f, "perk:{l}"),
            Unit::Entries(l) => write!(f, "entries:{l}"),
            Unit::Coupons => f.write_str("coupons"),
        }
    }
}

impl RewardKind {
    /// The unit the ledger counts this reward in.
    pub fn unit(&self) -> Unit {
        match self {
            RewardKind::Credit { amount }
            | RewardKind::Cash { amount }
            | RewardKind::Donation { amount, .. }
            | RewardKind::GiftCard { value: amount, .. } => Unit::Money(amount.currency()),
            RewardKind::Coupon { .. } => Unit::Coupons,
            RewardKind::Points { unit, .. } => Unit::Points(unit.clone()),
            RewardKind::TrialDays { .. } => Unit::Days,
            RewardKind::Perk { perk } => Unit::Perk(perk.clone()),
            RewardKind::ContestEntries { contest, .. } => Unit::Entries(contest.clone()),
        }
    }

    /// The quantity in [`unit`](Self::unit): minor units, points, days,
    /// entries; 1 for a coupon or a perk.
    pub fn quantity(&self) -> i64 {
        match self {
            RewardKind::Credit { amount }
            | RewardKind::Cash { amount }
            | RewardKind::Donation { amount, .. }
            | RewardKind::GiftCard { value: amount, .. } => amount.minor(),
            RewardKind::Coupon { .. } | RewardKind::Perk { .. } => 1,
            RewardKind::Points { amount, .. } => *amount,
            RewardKind::TrialDays { days } => *days,
            RewardKind::ContestEntries { entries, .. } => *entries,
        }
    }

    /// The money value, for kinds that have one (what counts against a
    /// money budget): credit, cash, donations and gift cards, and a coupon
    /// worth a fixed amount.
    pub fn money_value(&self) -> Option<Money> {
        match self {
            RewardKind::Credit { amount }
            | RewardKind::Cash { amount }
            | RewardKind::Donation { amount, .. }
            | RewardKind::GiftCard { value: amount, .. } => Some(*amount),
            RewardKind::Coupon {
                discount: Discount::Fixed { amount },
            } => Some(*amount),
            _ => None,
        }
    }

    /// Whether the reward must leave the system to be delivered (a coupon
    /// to e-mail, cash, a donation, a gift card, points synced into a
    /// loyalty system): such rewards go through the fulfilment outbox when
    /// they become available. Credit, days, perks and entries live in the
    /// ledger and the host reads them there.
    pub fn needs_delivery(&self) -> bool {
        matches!(
            self,
            RewardKind::Cash { .. }
                | RewardKind::Coupon { .. }
                | RewardKind::Donation { .. }
                | RewardKind::GiftCard { .. }
                | RewardKind::Points { .. }
        )
    }

    /// Whether delivering the reward spends it (cash paid out, a donation
    /// made, a gift card sent, points moved to a loyalty system): the
    /// delivery is booked as a redemption. A coupon's delivery only sends
    /// its code; it is spent when redeemed on an order.
    pub fn delivery_spends(&self) -> bool {
        self.needs_delivery() && !matches!(self, RewardKind::Coupon { .. })
    }

    /// The kind's name as in serialised data (`credit`, `coupon`, …).
    pub fn name(&self) -> &'static str {
        match self {
            RewardKind::Credit { .. } => "credit",
            RewardKind::Cash { .. } => "cash",
            RewardKind::Coupon { .. } => "coupon",
            RewardKind::Points { .. } => "points",
            RewardKind::TrialDays { .. } => "trial_days",
            RewardKind::Perk { .. } => "perk",
            RewardKind::Donation { .. } => "donation",
            RewardKind::GiftCard { .. } => "gift_card",
            RewardKind::ContestEntries { .. } => "contest_entries",
        }
    }
}

impl fmt::Display for Discount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Discount::Fixed { amount } => write!(f, "{amount} off"),
            Discount::Percent { basis_points, max } => {
                write!(f, "{}.{:02}% off", basis_points / 100, basis_points % 100)?;
                match max {
                    Some(m) => write!(f, " (at most {m})"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// For people: `credit 15.00 SAR`, `300 points (stars)`, `coupon 10.00% off`.
impl fmt::Display for RewardKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RewardKind::Credit { amount } => write!(f, "credit {amount}"),
            RewardKind::Cash { amount } => write!(f, "cash {amount}"),
            RewardKind::Coupon { discount } => write!(f, "coupon {discount}"),
            RewardKind::Points { unit, amount } => write!(f, "{amount} points ({unit})"),
            RewardKind::TrialDays { days } => write!(f, "{days} free days"),
            RewardKind::Perk { perk } => write!(f, "perk {perk}"),
            RewardKind::Donation { charity, amount } => {
                write!(f, "donation of {amount} to {charity}")
            }
            RewardKind::GiftCard { item, value } => write!(f, "gift card {item} worth {value}"),
            RewardKind::ContestEntries { contest, entries } => {
                write!(f, "{entries} entries in {contest}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_refuse_what_ids_refuse() {
        assert!(Label::new("stars").is_ok());
        assert!(Label::new("نقاط").is_ok());
        assert_eq!(Label::new("").unwrap_err().problem, "must not be empty");
        assert!(Label::new("a\u{202E}b").is_err());
        assert!(Label::new("x".repeat(65)).is_err());
        let l: Result<Label, _> = serde_json::from_str("\"\"");
        assert!(l.is_err());
    }

    #[test]
    fn units_and_quantities() {
        let sar = |m| Money::new(m, Currency::SAR);
        let k = RewardKind::Cash { amount: sar(1500) };
        assert_eq!(k.unit(), Unit::Money(Currency::SAR));
        assert_eq!(k.quantity(), 1500);
        assert!(k.needs_delivery());
        let p = RewardKind::Points {
            unit: Label::new("stars").unwrap(),
            amount: 300,
        };
        assert_eq!(p.quantity(), 300);
        assert_eq!(p.money_value(), None);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"kind":"points","unit":"stars","amount":300}"#);
        assert_eq!(serde_json::from_str::<RewardKind>(&json).unwrap(), p);
    }
}

//! What the engine tells the rules about one event: the facts `evaluate`
//! decides on. Plain data; nothing here reads a store or a clock.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Channel, CustomerId, ProgramId};
use crate::money::Money;
use crate::reward::Label;

use super::rule::TriggerKind;

/// The event being decided.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum EventFacts {
    /// The referee signed up.
    Signup {
        /// When.
        at: DateTime<Utc>,
    },
    /// The referee bought something.
    Purchase {
        /// The order amount.
        amount: Money,
        /// 1 for the referee's first purchase, 2 for the second, …
        purchase_number: u32,
        /// When.
        at: DateTime<Utc>,
    },
    /// The referrer shared their code or link.
    Share {
        /// Where.
        channel: Channel,
        /// When.
        at: DateTime<Utc>,
    },
}

impl EventFacts {
    /// When the event happened.
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            EventFacts::Signup { at }
            | EventFacts::Purchase { at, .. }
            | EventFacts::Share { at, .. } => *at,
        }
    }

    /// Which kind of trigger it can fire.
    pub fn kind(&self) -> TriggerKind {
        match self {
            EventFacts::Signup { .. } => TriggerKind::Signup,
            EventFacts::Purchase { .. } => TriggerKind::Purchase,
            EventFacts::Share { .. } => TriggerKind::Share,
        }
    }

    /// The order amount of a purchase.
    pub fn amount(&self) -> Option<Money> {
        match self {
            EventFacts::Purchase { amount, .. } => Some(*amount),
            _ => None,
        }
    }
}

/// The referral the event belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferralFacts {
    /// Who referred.
    pub referrer: CustomerId,
    /// Who was referred (`None` for a share, which has no referee yet).
    pub referee: Option<CustomerId>,
    /// The channel the referral travelled by (for a share, the share's).
    pub channel: Channel,
    /// When the referee was referred (the qualifying touch).
    pub referred_at: DateTime<Utc>,
    /// Whether the referee is new to the host's business, if the host said.
    pub referee_is_new: Option<bool>,
}

/// A value of a host-supplied customer attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttributeValue {
    /// A whole number (an age, a count).
    Integer(i64),
    /// Text (`"18-24"`, `"SA-RIY"`), compared exactly.
    Text(String),
}

impl fmt::Display for AttributeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeValue::Integer(n) => write!(f, "{n}"),
            AttributeValue::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// What the host knows about one customer: tags, segments and eligibility
/// attributes. An attribute the host did not send is *missing*, and a rule
/// testing it does not apply (it is never an error).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerFacts {
    /// Tags (`vip`, `staff`).
    #[serde(default)]
    pub tags: BTreeSet<Label>,
    /// Segments (`students`, `riyadh`).
    #[serde(default)]
    pub segments: BTreeSet<Label>,
    /// Attributes (`age_band`, `region`).
    #[serde(default)]
    pub attributes: BTreeMap<Label, AttributeValue>,
}

/// One successful referral of the referrer, as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PastReferral {
    /// The referee.
    pub referee: CustomerId,
    /// When the referral succeeded.
    pub at: DateTime<Utc>,
    /// The value of the purchase that made it successful.
    pub value: Money,
    /// When it was reversed (refunded, found fraudulent), if it was.
    pub reversed_at: Option<DateTime<Utc>>,
}

/// The referrer's history, derived by the ledger, **excluding** the event
/// being decided. Tier and milestone state is computed from it on every
/// event; there are no counters to drift.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferrerHistory {
    /// Successful referrals.
    #[serde(default)]
    pub referrals: Vec<PastReferral>,
    /// When the referrer shared before.
    #[serde(default)]
    pub shares: Vec<DateTime<Utc>>,
    /// Once-keys of milestone and contest rewards already granted.
    #[serde(default)]
    pub granted_once_keys: BTreeSet<String>,
}

/// Everything [`evaluate`](super::evaluate) decides on.
#[derive(Debug, Clone, Serialize)]
pub struct Facts<'a> {
    /// The program (hashed into experiment assignments).
    pub program: &'a ProgramId,
    /// The event.
    pub event: EventFacts,
    /// The referral.
    pub referral: ReferralFacts,
    /// The referrer, as the host describes them.
    pub referrer: &'a CustomerFacts,
    /// The referee, as the host describes them (empty for a share).
    pub referee: &'a CustomerFacts,
    /// The referrer's history, without this event.
    pub history: &'a ReferrerHistory,
    /// Whether this purchase makes a new successful referral (it then
    /// counts toward tiers and milestones).
    pub completes_referral: bool,
    /// Experiment id → variant id, as the engine recorded them at first
    /// exposure. Experiments missing here are assigned with
    /// [`assign`](super::assign).
    pub variants: &'a BTreeMap<Label, Label>,
}

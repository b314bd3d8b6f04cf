//! The reward ledger's data and laws: rewards, the append-only entries that
//! move them between states, per-customer balances by state and unit, and
//! the counters that budgets and caps reserve against.
//!
//! Plain data and pure functions (a core module): the engine books entries
//! with them, stores keep them, and an auditor folds them. The store keeps
//! each customer's [`Balance`] per unit, updated in the same commit as the
//! entries by [`EntryKind::deltas`]; [`fold_balances`] recomputes them from
//! the entries, so the kept balances can be proven equal to their fold.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::code::Code;
use crate::model::{
    CustomerId, LedgerEntryId, OperatorId, OrderId, ProgramId, RedemptionId, RefundId, RewardId,
};
use crate::reward::{Label, RewardKind, Role, Unit};

mod policy;
mod state;

pub use policy::{
    Budget, CampaignBudget, Cap, CapMeasure, CapPeriod, CapSubject, CouponPolicy, DeliveryPolicy,
    LedgerPolicy, Limit, PolicyError, Reservation, ReservationInput, still_reserved,
};
pub use state::{Deltas, EntryKind, Progress, RewardState, TransitionError};

/// One line of the reward ledger. Entries are never changed or deleted:
/// every change of a reward is a new entry, so a balance is always the
/// fold of its entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Unique within the program, derived from what caused the entry, so a
    /// retried event can never write it twice.
    pub id: LedgerEntryId,
    /// The program.
    pub program: ProgramId,
    /// Whose balance it changes.
    pub customer: CustomerId,
    /// The reward it moves.
    pub reward: RewardId,
    /// As referrer or referee.
    pub role: Role,
    /// What it does.
    pub kind: EntryKind,
    /// What it counts.
    pub unit: Unit,
    /// How much it moves (positive; [`EntryKind::deltas`] gives the signs).
    pub quantity: i64,
    /// The order behind the reward, if any.
    pub order: Option<OrderId>,
    /// The refund behind a cancellation, reversal or debt.
    pub refund: Option<RefundId>,
    /// The redemption behind a `Redeemed` entry.
    pub redemption: Option<RedemptionId>,
    /// When it was booked (the event's time).
    pub at: DateTime<Utc>,
}

impl LedgerEntry {
    /// The entry's change to its customer's balances of its unit.
    pub fn deltas(&self) -> Deltas {
        self.kind.deltas(self.quantity)
    }

    /// The change to the spendable money balance (available less owed),
    /// as money, for entries counted in a currency.
    pub fn net_money(&self) -> Option<crate::money::Money> {
        match &self.unit {
            Unit::Money(c) => {
                let d = self.deltas();
                Some(crate::money::Money::new(d.available - d.owed, *c))
            }
            _ => None,
        }
    }
}

/// A customer's balances of one unit, by state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Balance {
    /// What is counted.
    pub unit: Unit,
    /// Held (hold period or review).
    pub pending: i64,
    /// Spendable.
    pub available: i64,
    /// Spent.
    pub redeemed: i64,
    /// Owed back (refunds after redemption), not yet repaid.
    pub owed: i64,
}

impl Balance {
    /// An empty balance of `unit`.
    pub fn zero(unit: Unit) -> Balance {
        Balance {
            unit,
            pending: 0,
            available: 0,
            redeemed: 0,
            owed: 0,
        }
    }

    /// Adds an entry's deltas (saturating: balances of real programs stay
    /// far from `i64` limits, and a store must not panic on a bad plan).
    pub fn add(&mut self, d: Deltas) {
        self.pending = self.pending.saturating_add(d.pending);
        self.available = self.available.saturating_add(d.available);
        self.redeemed = self.redeemed.saturating_add(d.redeemed);
        self.owed = self.owed.saturating_add(d.owed);
    }

    /// Spendable less owed: negative while the customer is in debt.
    pub fn net(&self) -> i64 {
        self.available.saturating_sub(self.owed)
    }
}

/// The balances of every (customer, unit) in `entries`, by folding them:
/// what a store's kept balances must equal.
pub fn fold_balances<'a>(
    entries: impl IntoIterator<Item = &'a LedgerEntry>,
) -> BTreeMap<(CustomerId, Unit), Balance> {
    let mut out: BTreeMap<(CustomerId, Unit), Balance> = BTreeMap::new();
    for e in entries {
        out.entry((e.customer.clone(), e.unit.clone()))
            .or_insert_with(|| Balance::zero(e.unit.clone()))
            .add(e.deltas());
    }
    out
}

/// Why a reward is held before it can be spent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HoldReason {
    /// The program's hold period (its refund window): released at
    /// `release_at` unless refunded first.
    HoldPeriod,
    /// Waiting for a person (or a fraud system) to approve or reject it.
    Review {
        /// Why it needs review.
        note: String,
        /// The fraud screening that held it, with its signals and
        /// evidence; `None` for a review asked for another reason.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        screening: Option<Box<crate::fraud::policy::Screening>>,
    },
}

/// A review decision on a held reward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewDecision {
    /// Approved (released) or rejected (cancelled).
    pub approved: bool,
    /// Who decided.
    pub by: OperatorId,
    /// Why.
    pub note: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// What a budget or cap counts, and over which scope. Budgets and caps
/// reserve against counters with one conditional increment each (see
/// `Write::AddToCounter`), so a hot budget never turns into a storm of
/// conflicts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CounterKey {
    /// The program whose store row it is, or a shared allowance's name
    /// (several programs on one store counting a customer's total).
    pub scope: CounterScope,
    /// What it counts, e.g. `budget`, `cap/referrer/amira/2026-03/value`.
    pub name: String,
}

impl CounterKey {
    /// A counter of `program`.
    pub fn program(program: &ProgramId, name: impl Into<String>) -> CounterKey {
        CounterKey {
            scope: CounterScope::Program(program.clone()),
            name: name.into(),
        }
    }

    /// How many referrals `code` made in `program`: a signup through it
    /// adds one, within its `max_uses`.
    pub fn code_uses(program: &ProgramId, code: &Code) -> CounterKey {
        CounterKey::program(program, format!("code-uses/{code}"))
    }
}

/// The scope of a counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CounterScope {
    /// One program's.
    Program(ProgramId),
    /// Shared by every program naming it.
    Shared(Label),
}

/// A reward: what was earned, by whom, why, and where it stands.
///
/// The store keeps it (versioned) beside its entries; its
/// [`progress`](Self::progress) is the fold of its entries, written in the
/// same commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reward {
    /// Derived from what earned it.
    pub id: RewardId,
    /// The program.
    pub program: ProgramId,
    /// Who earned it.
    pub customer: CustomerId,
    /// As referrer or referee.
    pub role: Role,
    /// What was earned.
    pub kind: RewardKind,
    /// The unit of its quantity (`kind.unit()`).
    pub unit: Unit,
    /// The order that earned it, if any.
    pub order: Option<OrderId>,
    /// The rule that granted it (`None` for a program's fixed reward).
    pub rule: Option<Label>,
    /// The rule-set version that granted it.
    pub rule_set_version: Option<u32>,
    /// The terms version in force when it was earned.
    pub terms_version: u32,
    /// The experiment and variant that affected it.
    pub variant: Option<(Label, Label)>,
    /// The once-key of a milestone or contest prize: such a reward is
    /// granted once per key and stands when the order that completed the
    /// milestone is refunded (the incentive rules' documented policy).
    #[serde(default)]
    pub once_key: Option<String>,
    /// When it was earned.
    pub earned_at: DateTime<Utc>,
    /// Why it is (or was) held, if it was.
    pub hold: Option<HoldReason>,
    /// When a hold period ends; `None` for no hold or a review-only hold.
    pub release_at: Option<DateTime<Utc>>,
    /// When the available rest expires, if it does.
    pub expires_at: Option<DateTime<Utc>>,
    /// The coupon code issued for a coupon reward.
    pub coupon: Option<Code>,
    /// A review's decision, once made.
    pub decision: Option<ReviewDecision>,
    /// The budget and cap counters it reserved when earned, and by how
    /// much (never changed afterwards). What it holds now is
    /// `ledger::still_reserved(amount, progress.standing(), progress.quantity)`;
    /// a cancellation, reversal or expiry gives back the difference.
    pub reserved: Vec<(CounterKey, i64)>,
    /// Its quantity split by state: the fold of its entries.
    pub progress: Progress,
}

impl Reward {
    /// The state, derived from its entries.
    pub fn state(&self) -> RewardState {
        self.progress.state()
    }

    /// When the store should next look at it: the end of its hold while
    /// pending on a hold period; its expiry while some is available.
    pub fn hold_due(&self) -> Option<DateTime<Utc>> {
        (self.progress.pending > 0)
            .then_some(self.release_at)
            .flatten()
    }

    /// When it entered the review queue (its earning time), while it is
    /// held for review with some quantity pending.
    pub fn review_due(&self) -> Option<DateTime<Utc>> {
        (self.progress.pending > 0 && matches!(self.hold, Some(HoldReason::Review { .. })))
            .then_some(self.earned_at)
    }

    /// When its available rest expires, while some is available.
    pub fn expiry_due(&self) -> Option<DateTime<Utc>> {
        (self.progress.available > 0)
            .then_some(self.expires_at)
            .flatten()
    }
}

/// Where a delivery through the fulfilment outbox stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
#[non_exhaustive]
pub enum DeliveryState {
    /// Waiting for a worker, from `OutboxItem::next_attempt_at`.
    Ready,
    /// Claimed by a worker until `until`; if the worker dies, the item is
    /// due again then.
    Leased {
        /// Who claimed it.
        worker: String,
        /// When the lease ends.
        until: DateTime<Utc>,
    },
    /// Delivered; the provider's reference kept.
    Delivered {
        /// The provider's reference (a payout id, a gift-card number).
        reference: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// Given up after the program's attempts: waits for a person.
    Dead {
        /// The last failure.
        error: String,
    },
    /// Not to be delivered any more: the reward was reversed or cancelled
    /// before delivery.
    Cancelled,
}

/// A reward that must leave the system (cash, a coupon, a donation, a
/// gift card, points to sync), queued in the same commit that made it
/// available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Derived from the reward; also the delivery key a host passes to its
    /// provider, so that a redelivery is harmless.
    pub id: crate::model::DeliveryId,
    /// The program.
    pub program: ProgramId,
    /// The reward delivered.
    pub reward: RewardId,
    /// Its customer.
    pub customer: CustomerId,
    /// What to deliver.
    pub kind: RewardKind,
    /// How much of it, in its unit.
    pub quantity: i64,
    /// The coupon code of a coupon reward.
    pub coupon: Option<Code>,
    /// When it became due (the reward became available).
    pub due_at: DateTime<Utc>,
    /// When it may next be claimed.
    pub next_attempt_at: DateTime<Utc>,
    /// Claims so far.
    pub attempts: u32,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// Where it stands.
    pub state: DeliveryState,
}

impl OutboxItem {
    /// When a worker may claim it: its next attempt while ready, the end
    /// of its lease while leased; never once delivered, dead or cancelled.
    pub fn claimable_at(&self) -> Option<DateTime<Utc>> {
        match &self.state {
            DeliveryState::Ready => Some(self.next_attempt_at),
            DeliveryState::Leased { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// How long it took from due to delivered, once delivered: the
    /// program's promise of timely rewards as a figure.
    pub fn delivery_time(&self) -> Option<chrono::TimeDelta> {
        match &self.state {
            DeliveryState::Delivered { at, .. } => Some(*at - self.due_at),
            _ => None,
        }
    }
}

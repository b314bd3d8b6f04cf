//! The records a [`Store`](super::Store) keeps, and the commit plan that
//! changes them.
//!
//! These are plain data: a SQL store maps each record type to a table, a
//! key-value store to a key prefix. Every record is serde-serialisable, so a
//! store may also keep them as JSON documents.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::outcome::Reason;
use crate::attribution::{Credit, TouchPoint};
use crate::code::Code;
use crate::fraud::identity::{IdentitySignals, SignalHash};
pub use crate::fraud::policy::Screening;
pub use crate::ledger::{
    Balance, CounterKey, CounterScope, DeliveryState, EntryKind, HoldReason, LedgerEntry,
    OutboxItem, ReviewDecision, Reward,
};
use crate::model::{
    Actor, Channel, Conversion, CustomerId, EventId, OrderId, ProgramId, Refund, RefundId, Signup,
    Touch, VisitorId,
};
use crate::model::{Redemption, RedemptionId, RewardId};
use crate::money::Money;
pub use crate::reward::Role;
use crate::reward::{Label, RewardKind};

/// The version of the persisted schema: the shapes of the records in this
/// module, of the ledger's (`Reward`, `LedgerEntry`, `OutboxItem`,
/// `Balance`) and of the outcomes kept under idempotency keys. It goes up
/// with every change a durable store must migrate (a field added, renamed
/// or given a new meaning); such a store records it, migrates forward from
/// every earlier version, and refuses a database newer than the crate.
///
/// - 1: codes, customers, touches, conversions, money ledger entries.
/// - 2: rewards with states, entries per reward and unit, balances,
///   counters (budgets, caps, code uses), outbox items, experiment
///   assignments; code use counts moved to counters; conversions keep a
///   refund count.
/// - 3: identity records (keyed hashes, never raw identifiers) with an
///   index from each hash to its customers; customers carry a fraud
///   screening and are listed by referrer; rewards held for review are
///   listed for the review queue.
/// - 4: conversions are listed by buyer (their own orders, for a data
///   export).
pub const SCHEMA_VERSION: u32 = 4;

/// A record with the version a store keeps for optimistic concurrency.
///
/// Versions start at 1 when a record is created and go up by one with each
/// write. A [`Write`] names the version it read (0: "must not exist yet").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// The version of `record` in the store.
    pub version: u64,
    /// The record.
    pub record: T,
}

/// How a code came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CodeOrigin {
    /// Drawn from a CSPRNG.
    Random,
    /// Derived from the program secret and the owner's id (HMAC-SHA256).
    Derived,
    /// Chosen by a person (an influencer's `SARA2026`).
    Vanity,
    /// A single-use discount coupon issued for a coupon reward: it refers
    /// nobody (a touch or signup with it finds an unknown code) and is
    /// redeemed with an order.
    Coupon,
}

impl CodeOrigin {
    /// Whether a code of this origin is its owner's primary code. Each owner
    /// has at most one primary code per program; vanity codes are extra.
    pub fn is_primary(self) -> bool {
        matches!(self, CodeOrigin::Random | CodeOrigin::Derived)
    }
}

/// A referral code and its lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The program the code belongs to.
    pub program: ProgramId,
    /// The code, canonical.
    pub code: Code,
    /// The referrer who owns it.
    pub owner: CustomerId,
    /// Random, derived or vanity.
    pub origin: CodeOrigin,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// From this instant on the code no longer refers anyone.
    pub expires_at: Option<DateTime<Utc>>,
    /// How many referrals (signups) it may make; `None` for no limit. The
    /// referrals it made are counted in its use counter
    /// ([`CounterKey::code_uses`]), which a signup increments with one
    /// conditional write, so concurrent signups through one popular code
    /// never conflict.
    pub max_uses: Option<u32>,
    /// The coupon reward a coupon code was issued for.
    #[serde(default)]
    pub reward: Option<RewardId>,
    /// `false` once deactivated.
    pub active: bool,
}

/// Why a code cannot refer anyone at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CodeUnusable {
    /// No such code in the program.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Its maximum number of uses is reached.
    Exhausted,
    /// Deactivated.
    Inactive,
}

/// A touch as stored: the host's touch, the program, and the referrer its
/// code belonged to when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TouchRecord {
    /// The program.
    pub program: ProgramId,
    /// The code's owner at the time of the touch.
    pub referrer: CustomerId,
    /// What the host reported.
    pub touch: Touch,
}

/// The link from a referee to the referrer who brought them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    /// Who referred.
    pub referrer: CustomerId,
    /// Through which code.
    pub code: Code,
    /// Through which channel.
    pub channel: Channel,
    /// When the decisive touch happened (the signup itself for a typed code).
    pub touched_at: DateTime<Utc>,
}

/// A customer who signed up in a program (a potential referee).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerRecord {
    /// The program.
    pub program: ProgramId,
    /// The customer.
    pub customer: CustomerId,
    /// When they signed up.
    pub signed_up_at: DateTime<Utc>,
    /// Their visitor id before signup, if the host knew it.
    pub visitor: Option<VisitorId>,
    /// Who referred them, if anyone.
    pub referral: Option<Referral>,
    /// The touches that could credit a referrer when they signed up (codes
    /// usable then, not their own, within the window), kept so that later
    /// conversions are attributed over the whole journey.
    pub qualifying_touches: Vec<TouchPoint>,
    /// How many of their conversions earned rewards.
    pub rewarded_conversions: u32,
    /// How many purchases they made since signing up (recorded
    /// conversions), for rules on the first or the Nth purchase.
    #[serde(default)]
    pub purchases: u32,
    /// The fraud screening of their referral at signup, if the program
    /// screens: its signals, with their evidence, and what the policy
    /// decided for each side. Applies to every reward of the referral.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screening: Option<Screening>,
}

/// One keyed identity hash of a customer, and when it was first seen with
/// them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeenSignal {
    /// The keyed hash (kind, key id, digest); never the raw value.
    pub hash: SignalHash,
    /// When the host first passed it for this customer.
    pub first_seen: DateTime<Utc>,
}

/// What a program knows of a customer's identity: keyed hashes of the
/// e-mail, phone, device, IP, payment and address the host passed with
/// their events. Kept apart from the customer record so that erasure and
/// retention can drop it alone; a store indexes it by hash
/// ([`Store::identity_matches`](super::Store::identity_matches)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityRecord {
    /// The program.
    pub program: ProgramId,
    /// The customer.
    pub customer: CustomerId,
    /// Their hashes, ascending by hash, each at most once.
    pub signals: Vec<SeenSignal>,
    /// Whether an e-mail they gave is on the program's disposable list.
    #[serde(default)]
    pub disposable_email: bool,
}

impl IdentityRecord {
    /// When the oldest of its signals was first seen; `None` when it has
    /// none. Retention drops signals by this time.
    pub fn oldest_seen(&self) -> Option<DateTime<Utc>> {
        self.signals.iter().map(|s| s.first_seen).min()
    }

    /// The hashes, for comparing with another customer's.
    pub fn identity(&self) -> IdentitySignals {
        IdentitySignals::from_hashes(self.signals.iter().map(|s| s.hash))
    }

    /// Adds the hashes of `signals` first seen at `at` (those it holds
    /// keep their first time); keeps the order and uniqueness. Returns
    /// whether anything was added.
    pub fn merge(&mut self, signals: &IdentitySignals, at: DateTime<Utc>) -> bool {
        let mut added = false;
        for hash in signals.hashes() {
            if let Err(i) = self.signals.binary_search_by(|s| s.hash.cmp(hash)) {
                self.signals.insert(
                    i,
                    SeenSignal {
                        hash: *hash,
                        first_seen: at,
                    },
                );
                added = true;
            }
        }
        if signals.disposable_email() && !self.disposable_email {
            self.disposable_email = true;
            added = true;
        }
        added
    }
}

/// A customer a referrer referred, as [`Store::recent_referees`](super::Store::recent_referees)
/// lists them: who, and when they signed up (what velocity counts; the
/// record is one [`Store::customer`](super::Store::customer) away).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferredCustomer {
    /// The referee.
    pub customer: CustomerId,
    /// When they signed up.
    pub signed_up_at: DateTime<Utc>,
}

impl From<&CustomerRecord> for ReferredCustomer {
    fn from(c: &CustomerRecord) -> ReferredCustomer {
        ReferredCustomer {
            customer: c.customer.clone(),
            signed_up_at: c.signed_up_at,
        }
    }
}

/// A customer whose identity record holds a hash, and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityMatch {
    /// The customer.
    pub customer: CustomerId,
    /// When the hash was first seen with them.
    pub first_seen: DateTime<Utc>,
}

/// One reward a conversion earned, and how much of it refunds took back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    /// The reward in the ledger.
    pub reward: RewardId,
    /// Who received it.
    pub beneficiary: CustomerId,
    /// As referrer or referee.
    pub role: Role,
    /// What was earned.
    pub kind: RewardKind,
    /// Its quantity in its unit (minor units for money).
    pub quantity: i64,
    /// How much of it refunds have taken back (a magnitude, at most
    /// `quantity`): `floor(quantity × refunded / order value)`, cumulative.
    pub clawed_back: i64,
}

/// A reward a conversion would have earned but did not, and why: a budget
/// or cap reached. Recorded, so nothing is lost silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withheld {
    /// Who would have received it.
    pub beneficiary: CustomerId,
    /// As referrer or referee.
    pub role: Role,
    /// What it was.
    pub kind: RewardKind,
    /// Why it was not booked.
    pub reason: Reason,
}

/// A recorded conversion: the order, who was credited, what was paid, and
/// what was refunded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionRecord {
    /// The program.
    pub program: ProgramId,
    /// What the host reported.
    pub conversion: Conversion,
    /// The referrer credited, if any (the largest share).
    pub referrer: Option<CustomerId>,
    /// Every referrer credited, with shares adding up to one.
    pub credits: Vec<Credit>,
    /// The rewards booked (empty when unattributed or not eligible).
    pub payouts: Vec<Payout>,
    /// The rewards withheld by a budget or cap.
    #[serde(default)]
    pub withheld: Vec<Withheld>,
    /// How many refunds were applied so far (their ids are the refunds'
    /// idempotency keys; keeping a count, not a list, keeps a refund's
    /// commit the same size however many came before).
    pub refund_count: u32,
    /// Total refunded so far.
    pub refunded: Money,
    /// When the order was refunded in full, if it was: a referral it made
    /// successful no longer counts toward tiers and milestones from then.
    #[serde(default)]
    pub fully_refunded_at: Option<DateTime<Utc>>,
    /// The fraud screening of the order, if the program screens and it
    /// found anything: its signals and what the policy decided per side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screening: Option<Screening>,
}

/// The variant of an experiment a customer was given at first exposure,
/// kept so that changing the experiment's weights or ramp never moves a
/// customer already exposed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignmentRecord {
    /// The program.
    pub program: ProgramId,
    /// The experiment.
    pub experiment: Label,
    /// The customer assigned.
    pub customer: CustomerId,
    /// Their variant.
    pub variant: Label,
    /// When they were first exposed.
    pub at: DateTime<Utc>,
}

/// What kind of event an idempotency key belongs to: ids of different
/// kinds never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// [`Touch`].
    Touch,
    /// [`Signup`].
    Signup,
    /// [`Conversion`] (keyed by order id).
    Conversion,
    /// [`Refund`].
    Refund,
    /// [`Redemption`].
    Redemption,
}

/// The key under which an event's outcome is remembered.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct IdempotencyKey {
    /// The event kind.
    pub kind: EventKind,
    /// The host's id for the event.
    pub id: String,
}

/// An event as the host reported it, kept to tell a retry (same event)
/// from a reused id (different event).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// A touch.
    Touch(Touch),
    /// A signup.
    Signup(Signup),
    /// A conversion.
    Conversion(Conversion),
    /// A refund.
    Refund(Refund),
    /// A redemption.
    Redemption(Redemption),
}

impl IdempotencyKey {
    /// The key of a touch.
    pub fn touch(id: &EventId) -> IdempotencyKey {
        IdempotencyKey {
            kind: EventKind::Touch,
            id: id.as_str().to_owned(),
        }
    }

    /// The key of a signup.
    pub fn signup(id: &EventId) -> IdempotencyKey {
        IdempotencyKey {
            kind: EventKind::Signup,
            id: id.as_str().to_owned(),
        }
    }

    /// The key of a conversion: its order id.
    pub fn conversion(order: &OrderId) -> IdempotencyKey {
        IdempotencyKey {
            kind: EventKind::Conversion,
            id: order.as_str().to_owned(),
        }
    }

    /// The key of a refund: the order and the refund id, so hosts that
    /// number refunds per order (`1`, `2`, …) never collide across orders.
    /// Joined by U+001F, which no id may contain.
    pub fn refund(order: &OrderId, refund: &RefundId) -> IdempotencyKey {
        IdempotencyKey {
            kind: EventKind::Refund,
            id: format!("{order}\u{1f}{refund}"),
        }
    }
}

impl IdempotencyKey {
    /// The key of a redemption.
    pub fn redemption(id: &RedemptionId) -> IdempotencyKey {
        IdempotencyKey {
            kind: EventKind::Redemption,
            id: id.as_str().to_owned(),
        }
    }
}

impl Request {
    /// The key this request is remembered under.
    pub fn key(&self) -> IdempotencyKey {
        match self {
            Request::Touch(t) => IdempotencyKey::touch(&t.id),
            Request::Signup(s) => IdempotencyKey::signup(&s.id),
            Request::Conversion(c) => IdempotencyKey::conversion(&c.order),
            Request::Refund(r) => IdempotencyKey::refund(&r.order, &r.id),
            Request::Redemption(r) => IdempotencyKey::redemption(&r.id),
        }
    }
}

/// The remembered outcome of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The program.
    pub program: ProgramId,
    /// The key (event kind and id).
    pub key: IdempotencyKey,
    /// The event as first reported.
    pub request: Request,
    /// What the engine answered.
    pub outcome: super::outcome::Outcome,
}

/// One conditional write of a [`CommitPlan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Write {
    /// Create or replace a code. Keyed by `(program, code)`. A primary code
    /// ([`CodeOrigin::is_primary`]) must also be its owner's only primary
    /// code in the program.
    PutCode {
        /// The new state.
        record: CodeRecord,
        /// The version read; 0 if the code must not exist yet.
        expected: u64,
    },
    /// Create or replace a customer. Keyed by `(program, customer)`.
    PutCustomer {
        /// The new state.
        record: CustomerRecord,
        /// The version read; 0 if the customer must not exist yet.
        expected: u64,
    },
    /// Create or replace a conversion. Keyed by `(program, order)`.
    PutConversion {
        /// The new state.
        record: ConversionRecord,
        /// The version read; 0 if the order must not exist yet.
        expected: u64,
    },
    /// Insert a touch. Keyed by `(program, touch id)`; must be new.
    InsertTouch(TouchRecord),
    /// Insert a ledger entry. Keyed by `(program, entry id)`; must be new.
    /// The store adds its [`LedgerEntry::deltas`] to the customer's
    /// [`Balance`] of its unit in the same commit.
    InsertLedgerEntry(LedgerEntry),
    /// Create or replace a fulfilment outbox item. Keyed by `(program,
    /// item id)`.
    PutOutboxItem {
        /// The new state.
        record: Box<OutboxItem>,
        /// The version read; 0 if the item must not exist yet.
        expected: u64,
    },
    /// Insert an experiment assignment. Keyed by `(program, experiment,
    /// customer)`; must be new.
    InsertAssignment(AssignmentRecord),
    /// Create or replace a customer's identity record, and its hashes in
    /// the index [`Store::identity_matches`](super::Store::identity_matches)
    /// reads (hashes the record no longer holds leave the index). Keyed by
    /// `(program, customer)`.
    PutIdentity {
        /// The new state.
        record: IdentityRecord,
        /// The version read; 0 if it must not exist yet.
        expected: u64,
    },
    /// Delete a customer's identity record and every hash of it from the
    /// index (erasure, retention). Keyed by `(program, customer)`.
    DeleteIdentity {
        /// The program.
        program: ProgramId,
        /// The customer.
        customer: CustomerId,
        /// The version read (at least 1: the record must exist).
        expected: u64,
    },
    /// Create or replace a reward. Keyed by `(program, reward id)`.
    PutReward {
        /// The new state (boxed: a reward is several times larger than
        /// the other writes).
        record: Box<Reward>,
        /// The version read; 0 if the reward must not exist yet.
        expected: u64,
    },
    /// Add `delta` to a counter (created at 0), only if the result stays
    /// within `0..=limit` (no upper bound when `limit` is `None`);
    /// otherwise the whole commit fails with a conflict. One conditional
    /// write: in SQL, `UPDATE … SET used = used + $d WHERE used + $d <=
    /// $limit AND used + $d >= 0`. Several writes to one counter in a plan
    /// apply in order.
    AddToCounter {
        /// Which counter.
        key: CounterKey,
        /// What to add (negative to give back).
        delta: i64,
        /// The most it may reach.
        limit: Option<i64>,
    },
}

/// Everything one decision writes, applied all or nothing by
/// [`Store::commit`](super::Store::commit).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitPlan {
    /// The event's outcome, remembered under a key that must not be stored
    /// yet. `None` for operations that are idempotent by their own key
    /// (issuing a code).
    pub idempotency: Option<IdempotencyRecord>,
    /// The conditional writes.
    pub writes: Vec<Write>,
}

impl Actor {
    /// The actor's id as text, for store keys.
    pub fn id_str(&self) -> &str {
        match self {
            Actor::Visitor(v) => v.as_str(),
            Actor::Customer(c) => c.as_str(),
        }
    }
}

impl CommitPlan {
    /// Whether two writes of the plan name one key (a counter excepted:
    /// its writes add up in order). Such a plan is an engine bug, which
    /// every store refuses as final rather than letting the last write win.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn writes_a_key_twice(&self) -> bool {
        let mut keys: Vec<(u8, &str, &str, &str)> = self
            .writes
            .iter()
            .filter_map(|w| match w {
                Write::PutCode { record, .. } => {
                    Some((0, record.program.as_str(), record.code.as_str(), ""))
                }
                Write::PutCustomer { record, .. } => {
                    Some((1, record.program.as_str(), record.customer.as_str(), ""))
                }
                Write::PutConversion { record, .. } => Some((
                    2,
                    record.program.as_str(),
                    record.conversion.order.as_str(),
                    "",
                )),
                Write::InsertTouch(t) => Some((3, t.program.as_str(), t.touch.id.as_str(), "")),
                Write::InsertLedgerEntry(e) => Some((4, e.program.as_str(), e.id.as_str(), "")),
                Write::PutReward { record, .. } => {
                    Some((5, record.program.as_str(), record.id.as_str(), ""))
                }
                Write::PutOutboxItem { record, .. } => {
                    Some((6, record.program.as_str(), record.id.as_str(), ""))
                }
                Write::InsertAssignment(a) => Some((
                    7,
                    a.program.as_str(),
                    a.experiment.as_str(),
                    a.customer.as_str(),
                )),
                Write::PutIdentity { record, .. } => {
                    Some((8, record.program.as_str(), record.customer.as_str(), ""))
                }
                Write::DeleteIdentity {
                    program, customer, ..
                } => Some((8, program.as_str(), customer.as_str(), "")),
                Write::AddToCounter { .. } => None,
            })
            .collect();
        keys.sort_unstable();
        keys.windows(2).any(|w| w[0] == w[1])
    }
}

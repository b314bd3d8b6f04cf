//! The records a [`Store`](super::Store) keeps, and the commit plan that
//! changes them.
//!
//! These are plain data: a SQL store maps each record type to a table, a
//! key-value store to a key prefix. Every record is serde-serialisable, so a
//! store may also keep them as JSON documents.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::attribution::{Credit, TouchPoint};
use crate::code::Code;
use crate::model::{
    Actor, Channel, Conversion, CustomerId, EventId, LedgerEntryId, OrderId, ProgramId, Refund,
    RefundId, Signup, Touch, VisitorId,
};
use crate::money::Money;
pub use crate::reward::Role;

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
    /// How many referrals (signups) it may make; `None` for no limit.
    pub max_uses: Option<u32>,
    /// How many referrals it has made.
    pub uses: u32,
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

impl CodeRecord {
    /// Whether the code can refer someone at `at`, and if not, why.
    ///
    /// # Errors
    /// The first reason that applies: inactive, expired, exhausted.
    pub fn usable_at(&self, at: DateTime<Utc>) -> Result<(), CodeUnusable> {
        if !self.active {
            return Err(CodeUnusable::Inactive);
        }
        if self.expires_at.is_some_and(|e| at >= e) {
            return Err(CodeUnusable::Expired);
        }
        if self.max_uses.is_some_and(|m| self.uses >= m) {
            return Err(CodeUnusable::Exhausted);
        }
        Ok(())
    }
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
}

/// One reward paid for a conversion, and how much of it was clawed back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    /// Who received it.
    pub beneficiary: CustomerId,
    /// As referrer or referee.
    pub role: Role,
    /// The reward.
    pub amount: Money,
    /// How much of it refunds have reversed (zero or negative sign never:
    /// this is a magnitude, at most `amount`).
    pub clawed_back: Money,
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
    /// The rewards paid (empty when unattributed or not eligible).
    pub payouts: Vec<Payout>,
    /// The refunds applied so far, in order.
    pub refunds: Vec<RefundId>,
    /// Total refunded so far.
    pub refunded: Money,
}

/// Whether a ledger entry pays or reverses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntryKind {
    /// A reward earned (positive amount).
    Reward,
    /// A reward reversed by a refund (negative amount).
    Clawback,
}

/// One line of the reward ledger. Entries are never changed or deleted: a
/// reversal is a new, negative entry, so the ledger always balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Unique within the program, derived from what caused the entry, so a
    /// retried event can never write it twice.
    pub id: LedgerEntryId,
    /// The program.
    pub program: ProgramId,
    /// Whose balance it changes.
    pub customer: CustomerId,
    /// As referrer or referee.
    pub role: Role,
    /// Reward or clawback.
    pub kind: EntryKind,
    /// Signed amount: positive for rewards, negative for clawbacks.
    pub amount: Money,
    /// The order behind it.
    pub order: OrderId,
    /// The refund behind a clawback.
    pub refund: Option<RefundId>,
    /// When it was booked (the event's time).
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

impl Request {
    /// The key this request is remembered under.
    pub fn key(&self) -> IdempotencyKey {
        match self {
            Request::Touch(t) => IdempotencyKey::touch(&t.id),
            Request::Signup(s) => IdempotencyKey::signup(&s.id),
            Request::Conversion(c) => IdempotencyKey::conversion(&c.order),
            Request::Refund(r) => IdempotencyKey::refund(&r.order, &r.id),
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
    InsertLedgerEntry(LedgerEntry),
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

//! The storage seam: the [`Store`] trait that host applications implement,
//! and [`MemoryStore`], the embedded default.
//!
//! # Contract
//!
//! The engine reads what a decision needs through the read methods, decides
//! with pure code, and then hands the store ONE [`CommitPlan`] holding every
//! write of that decision. The store applies it atomically and
//! conditionally, or not at all. That single seam is what lets SQL,
//! key-value and distributed databases implement the same contract without
//! touching the decisions.
//!
//! ## What an implementation must guarantee
//!
//! - **Atomic commits.** [`Store::commit`] applies every write of a plan, or
//!   none. A reader never sees half a plan.
//! - **Conditional commits.** A plan is applied only if, at the moment it is
//!   applied: its idempotency key is not stored yet; every versioned write
//!   finds its record at the version it names (0: absent); every insert-only
//!   key (touch id, ledger entry id) is new; no owner ends up with two
//!   primary codes; no experiment assignment is recorded twice; and every counter it adds to stays within its limit
//!   (and at or above zero). Otherwise nothing is written and the commit
//!   fails with [`StoreErrorKind::Conflict`].
//! - **Counters commute.** A counter write is an increment checked against
//!   a limit, not a versioned write: two plans adding to one counter
//!   conflict only when together they would pass its limit.
//! - **Balances follow entries.** Inserting a ledger entry adds its
//!   [`LedgerEntry::deltas`] to its customer's [`Balance`] of its unit in
//!   the same commit.
//! - **Versions.** A created record has version 1; each write adds one.
//! - **Read your writes.** Once `commit` returned `Ok`, every later read on
//!   any handle of the same store sees the plan (linearisable per key is
//!   enough; the engine re-reads on conflict).
//! - **Keys are scoped by program.** Two programs never see each other's
//!   records.
//! - **Keys are exact.** Ids compare as Rust strings do, byte by byte:
//!   `badr` and `Badr` are two customers (a SQL id column needs a binary,
//!   case-sensitive collation).
//! - **Honest errors.** [`StoreErrorKind::Conflict`] only when a condition
//!   failed and nothing was written; [`StoreErrorKind::Unavailable`] when the
//!   outcome is unknown or the store could not be reached (the engine's
//!   caller retries the same event, which idempotency makes safe);
//!   [`StoreErrorKind::Backend`] for everything that retrying cannot fix.
//!
//! ## What a user of the trait can rely on
//!
//! Only the engine calls a `Store` (an architecture invariant): host code
//! reads balances and ledgers through the engine, so it never depends on a
//! particular store's layout.
//!
//! ## Checking an implementation
//!
//! The `testing` feature ships `store::conformance`, one function per clause
//! above, and `conformance::run_all`, which a backend calls once with a
//! factory of fresh stores. It also ships `store::FaultyStore`, a wrapper
//! that fails commits before or after applying them (and reads), from a
//! seed, to test that callers retrying on `Unavailable` never pay twice.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::code::Code;
use crate::model::{Actor, CustomerId, DeliveryId, LedgerEntryId, OrderId, ProgramId, RewardId};
use crate::reward::Label;

mod memory;
mod outcome;
mod records;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod conformance;
#[cfg(any(test, feature = "testing"))]
mod faulty;

use crate::fraud::identity::SignalHash;
#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub use faulty::{Fault, FaultPlan, FaultyStore};
pub use memory::{MemoryState, MemoryStore};
pub use outcome::{
    ConversionOutcome, Outcome, Reason, RedemptionOutcome, RefundOutcome, SignupOutcome,
    TouchOutcome,
};
pub use records::{
    AssignmentRecord, Balance, CodeOrigin, CodeRecord, CodeUnusable, CommitPlan, ConversionRecord,
    CounterKey, CounterScope, CustomerRecord, DeliveryState, EntryKind, EventKind, HoldReason,
    IdempotencyKey, IdempotencyRecord, IdentityMatch, IdentityRecord, LedgerEntry, OutboxItem,
    Payout, Referral, ReferredCustomer, Request, ReviewDecision, Reward, Role, SCHEMA_VERSION,
    Screening, SeenSignal, TouchRecord, Versioned, Withheld, Write,
};
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use sql::postgres::{Isolation, PostgresStore};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sql::sqlite::{SqliteOptions, SqliteStore, Synchronous};

/// Where a page of a customer's ledger starts: after this entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LedgerCursor {
    /// The last entry's time.
    pub at: DateTime<Utc>,
    /// The last entry's id.
    pub id: LedgerEntryId,
}

impl LedgerCursor {
    /// The cursor after `entry`.
    pub fn after(entry: &LedgerEntry) -> LedgerCursor {
        LedgerCursor {
            at: entry.at,
            id: entry.id.clone(),
        }
    }
}

/// Where a page of due rewards starts: after this (due time, reward).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RewardCursor {
    /// The last reward's due time.
    pub at: DateTime<Utc>,
    /// The last reward's id.
    pub id: RewardId,
}

/// Where a page of claimable outbox items starts: after this (time, item).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OutboxCursor {
    /// The last item's claimable time.
    pub at: DateTime<Utc>,
    /// The last item's id.
    pub id: DeliveryId,
}

/// Which due rewards [`Store::due_rewards`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Due {
    /// Pending rewards whose hold period ends ([`Reward::hold_due`]).
    Release,
    /// Rewards whose available rest expires ([`Reward::expiry_due`]).
    Expiry,
    /// Rewards held for review with some quantity pending, by when they
    /// were earned ([`Reward::review_due`]): the review queue.
    Review,
}

/// What kind of failure a store reports; decides whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// A commit condition failed; nothing was written. Re-read and decide
    /// again.
    Conflict,
    /// The store could not be reached or the outcome of a commit is unknown
    /// (a dropped connection after sending). Retry the same event.
    Unavailable,
    /// Anything retrying cannot fix: corrupt data, a broken schema, a
    /// plan the store cannot represent.
    Backend,
}

/// A failure reported by a [`Store`].
#[derive(Debug, thiserror::Error)]
#[error("store {kind_name}: {message}", kind_name = self.kind_name())]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StoreError {
    /// A new error of `kind` with a message saying what failed.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// A commit condition failed.
    pub fn conflict(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Conflict, message)
    }

    /// The store could not be reached, or a commit's outcome is unknown.
    pub fn unavailable(message: impl Into<String>) -> StoreError {
        StoreError::new(StoreErrorKind::Unavailable, message)
    }

    /// Attaches the underlying cause (a driver error, say).
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The kind.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the same call may succeed when tried again.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            StoreErrorKind::Conflict | StoreErrorKind::Unavailable
        )
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            StoreErrorKind::Conflict => "conflict",
            StoreErrorKind::Unavailable => "unavailable",
            StoreErrorKind::Backend => "backend error",
        }
    }
}

/// The result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Where the engine keeps referral state. Host applications implement it
/// over their own database; [`MemoryStore`] is the embedded default.
///
/// The methods are `async` (native `async fn` in traits) with `Send`
/// futures, because hosts are async web servers and durable stores talk to
/// databases. Such traits are not `dyn`-compatible, so the engine is generic
/// (`Engine<S: Store>`); forwarding impls for `&S`, `Box<S>` and `Arc<S>`
/// let one store be shared.
///
/// Read the [module documentation](self) for the contract every method
/// keeps. Implementations should enable
/// `#[deny(clippy::missing_trait_methods)]` on wrappers so that a method
/// added here is never forwarded by accident to a default.
///
/// # Contract
///
/// - Every read returns what the latest successful commit left (or newer).
/// - Lists come back in a stable documented order.
/// - A read fails only with [`StoreErrorKind::Unavailable`] (retry) or
///   [`StoreErrorKind::Backend`] (final); never with `Conflict`.
pub trait Store: Send + Sync + Debug {
    /// The remembered outcome of an event, if its key was committed.
    fn idempotency(
        &self,
        program: &ProgramId,
        key: &IdempotencyKey,
    ) -> impl Future<Output = StoreResult<Option<IdempotencyRecord>>> + Send;

    /// A code of the program.
    fn code(
        &self,
        program: &ProgramId,
        code: &Code,
    ) -> impl Future<Output = StoreResult<Option<Versioned<CodeRecord>>>> + Send;

    /// The owner's primary (random or derived) code in the program.
    ///
    /// # Uniqueness
    /// An owner has at most one primary code per program: a commit that
    /// would create a second one fails with [`StoreErrorKind::Conflict`].
    fn primary_code(
        &self,
        program: &ProgramId,
        owner: &CustomerId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<CodeRecord>>>> + Send;

    /// A signed-up customer of the program.
    fn customer(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<CustomerRecord>>>> + Send;

    /// The touches `actor` made in the program at or after `since`.
    ///
    /// # Ordering
    /// Ascending by touch time, ties by touch id.
    fn touches(
        &self,
        program: &ProgramId,
        actor: &Actor,
        since: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<Vec<TouchRecord>>> + Send;

    /// A recorded conversion, by order id.
    fn conversion(
        &self,
        program: &ProgramId,
        order: &OrderId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<ConversionRecord>>>> + Send;

    /// A page of the customer's ledger entries in the program: at most
    /// `limit` entries after `after` (from the first when `None`).
    ///
    /// # Ordering
    /// Ascending by entry time, ties by entry id.
    fn ledger(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
        after: Option<&LedgerCursor>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<LedgerEntry>>> + Send;

    /// The customer's balances in the program, one per unit they ever had
    /// an entry in: the fold of their entries' [`LedgerEntry::deltas`],
    /// kept by the store as entries are committed (never recomputed from
    /// every entry on read).
    ///
    /// # Ordering
    /// Ascending by unit.
    fn balances(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Vec<Balance>>> + Send;

    /// A reward, by id.
    fn reward(
        &self,
        program: &ProgramId,
        reward: &RewardId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<Reward>>>> + Send;

    /// The conversions credited to `referrer` (as referrer of record), for
    /// deriving their successful referrals (tiers, milestones).
    ///
    /// # Ordering
    /// Ascending by conversion time, ties by order id.
    fn referred_conversions(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Vec<ConversionRecord>>> + Send;

    /// The conversions whose buyer ([`Conversion::customer`]) is
    /// `customer`, referred or not: their own orders, for their data
    /// export.
    ///
    /// # Contract
    /// Each conversion once, as last put; an update that names another
    /// buyer or time moves it. Buyers compare exactly, as every key does.
    ///
    /// # Ordering
    /// Ascending by conversion time, ties by order id.
    ///
    /// [`Conversion::customer`]: crate::model::Conversion::customer
    fn customer_conversions(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Vec<ConversionRecord>>> + Send;

    /// The variant `customer` was given in `experiment`, if recorded.
    fn assignment(
        &self,
        program: &ProgramId,
        experiment: &Label,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Option<AssignmentRecord>>> + Send;

    /// An outbox item, by id.
    fn outbox_item(
        &self,
        program: &ProgramId,
        id: &DeliveryId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<OutboxItem>>>> + Send;

    /// A page of the program's outbox items a worker may claim at `now`
    /// ([`OutboxItem::claimable_at`] at or before `now`): at most `limit`
    /// after `after`.
    ///
    /// # Ordering
    /// Ascending by claimable time, ties by item id.
    fn outbox_due(
        &self,
        program: &ProgramId,
        now: DateTime<Utc>,
        after: Option<&OutboxCursor>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Versioned<OutboxItem>>>> + Send;

    /// A counter's value; 0 if it was never written.
    fn counter(&self, key: &CounterKey) -> impl Future<Output = StoreResult<i64>> + Send;

    /// A customer's identity record (keyed hashes only).
    fn identity(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<IdentityRecord>>>> + Send;

    /// The customers whose identity record holds `hash`: at most `limit`,
    /// the most recently first seen first.
    ///
    /// # Ordering
    /// Descending by [`IdentityMatch::first_seen`], ties by customer
    /// ascending.
    fn identity_matches(
        &self,
        program: &ProgramId,
        hash: &SignalHash,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<IdentityMatch>>> + Send;

    /// Identity records holding a signal first seen before `before`
    /// ([`IdentityRecord::oldest_seen`]), for retention: at most `limit`.
    ///
    /// # Ordering
    /// Ascending by oldest signal, ties by customer.
    fn stale_identities(
        &self,
        program: &ProgramId,
        before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Versioned<IdentityRecord>>>> + Send;

    /// The customers `referrer` referred (their
    /// [`CustomerRecord::referral`] names them), with when they signed up:
    /// the `limit` most recent.
    ///
    /// # Ordering
    /// Descending by signup time, ties by customer ascending.
    fn recent_referees(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<ReferredCustomer>>> + Send;

    /// A page of the program's rewards due at or before `before`: at most
    /// `limit`, after `after` (from the first when `None`). For
    /// [`Due::Release`], rewards with some quantity pending and a
    /// [`Reward::hold_due`]; for [`Due::Expiry`], rewards with some
    /// quantity available and a [`Reward::expiry_due`]; for
    /// [`Due::Review`], rewards held for review with some quantity pending
    /// ([`Reward::review_due`]).
    ///
    /// # Ordering
    /// Ascending by due time, ties by reward id.
    fn due_rewards(
        &self,
        program: &ProgramId,
        due: Due,
        before: DateTime<Utc>,
        after: Option<&RewardCursor>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Versioned<Reward>>>> + Send;

    /// Applies every write of `plan` atomically, if and only if all its
    /// conditions hold.
    ///
    /// # Atomicity
    /// All writes or none; readers never observe a partial plan.
    ///
    /// # Uniqueness
    /// The idempotency key, touch ids, ledger entry ids, codes, customers,
    /// orders, and each owner's primary code are unique per program.
    ///
    /// # Errors
    /// - [`StoreErrorKind::Conflict`]: a condition failed (key already
    ///   stored, version moved, id taken, second primary code); nothing
    ///   was written. The engine re-reads and decides again.
    /// - [`StoreErrorKind::Unavailable`]: the store could not be reached, or
    ///   the plan may or may not have been applied. The caller retries the
    ///   same event; the idempotency key makes that safe.
    /// - [`StoreErrorKind::Backend`]: final; retrying cannot help.
    fn commit(&self, plan: CommitPlan) -> impl Future<Output = StoreResult<()>> + Send;
}

/// One forwarding impl per smart pointer, all from one macro, with the lint
/// that makes a forgotten method a compile error.
macro_rules! forward_store {
    ($($ty:ty),*) => {$(
        #[deny(clippy::missing_trait_methods)]
        impl<S: Store + ?Sized> Store for $ty {
            fn idempotency(&self, program: &ProgramId, key: &IdempotencyKey)
                -> impl Future<Output = StoreResult<Option<IdempotencyRecord>>> + Send {
                (**self).idempotency(program, key)
            }
            fn code(&self, program: &ProgramId, code: &Code)
                -> impl Future<Output = StoreResult<Option<Versioned<CodeRecord>>>> + Send {
                (**self).code(program, code)
            }
            fn primary_code(&self, program: &ProgramId, owner: &CustomerId)
                -> impl Future<Output = StoreResult<Option<Versioned<CodeRecord>>>> + Send {
                (**self).primary_code(program, owner)
            }
            fn customer(&self, program: &ProgramId, customer: &CustomerId)
                -> impl Future<Output = StoreResult<Option<Versioned<CustomerRecord>>>> + Send {
                (**self).customer(program, customer)
            }
            fn touches(&self, program: &ProgramId, actor: &Actor, since: DateTime<Utc>)
                -> impl Future<Output = StoreResult<Vec<TouchRecord>>> + Send {
                (**self).touches(program, actor, since)
            }
            fn conversion(&self, program: &ProgramId, order: &OrderId)
                -> impl Future<Output = StoreResult<Option<Versioned<ConversionRecord>>>> + Send {
                (**self).conversion(program, order)
            }
            fn ledger(&self, program: &ProgramId, customer: &CustomerId,
                after: Option<&LedgerCursor>, limit: usize)
                -> impl Future<Output = StoreResult<Vec<LedgerEntry>>> + Send {
                (**self).ledger(program, customer, after, limit)
            }
            fn balances(&self, program: &ProgramId, customer: &CustomerId)
                -> impl Future<Output = StoreResult<Vec<Balance>>> + Send {
                (**self).balances(program, customer)
            }
            fn reward(&self, program: &ProgramId, reward: &RewardId)
                -> impl Future<Output = StoreResult<Option<Versioned<Reward>>>> + Send {
                (**self).reward(program, reward)
            }
            fn referred_conversions(&self, program: &ProgramId, referrer: &CustomerId)
                -> impl Future<Output = StoreResult<Vec<ConversionRecord>>> + Send {
                (**self).referred_conversions(program, referrer)
            }
            fn customer_conversions(&self, program: &ProgramId, customer: &CustomerId)
                -> impl Future<Output = StoreResult<Vec<ConversionRecord>>> + Send {
                (**self).customer_conversions(program, customer)
            }
            fn assignment(&self, program: &ProgramId, experiment: &Label, customer: &CustomerId)
                -> impl Future<Output = StoreResult<Option<AssignmentRecord>>> + Send {
                (**self).assignment(program, experiment, customer)
            }
            fn outbox_item(&self, program: &ProgramId, id: &DeliveryId)
                -> impl Future<Output = StoreResult<Option<Versioned<OutboxItem>>>> + Send {
                (**self).outbox_item(program, id)
            }
            fn outbox_due(&self, program: &ProgramId, now: DateTime<Utc>,
                after: Option<&OutboxCursor>, limit: usize)
                -> impl Future<Output = StoreResult<Vec<Versioned<OutboxItem>>>> + Send {
                (**self).outbox_due(program, now, after, limit)
            }
            fn counter(&self, key: &CounterKey) -> impl Future<Output = StoreResult<i64>> + Send {
                (**self).counter(key)
            }
            fn identity(&self, program: &ProgramId, customer: &CustomerId)
                -> impl Future<Output = StoreResult<Option<Versioned<IdentityRecord>>>> + Send {
                (**self).identity(program, customer)
            }
            fn identity_matches(&self, program: &ProgramId, hash: &SignalHash, limit: usize)
                -> impl Future<Output = StoreResult<Vec<IdentityMatch>>> + Send {
                (**self).identity_matches(program, hash, limit)
            }
            fn stale_identities(&self, program: &ProgramId, before: DateTime<Utc>, limit: usize)
                -> impl Future<Output = StoreResult<Vec<Versioned<IdentityRecord>>>> + Send {
                (**self).stale_identities(program, before, limit)
            }
            fn recent_referees(&self, program: &ProgramId, referrer: &CustomerId, limit: usize)
                -> impl Future<Output = StoreResult<Vec<ReferredCustomer>>> + Send {
                (**self).recent_referees(program, referrer, limit)
            }
            fn due_rewards(&self, program: &ProgramId, due: Due, before: DateTime<Utc>,
                after: Option<&RewardCursor>, limit: usize)
                -> impl Future<Output = StoreResult<Vec<Versioned<Reward>>>> + Send {
                (**self).due_rewards(program, due, before, after, limit)
            }
            fn commit(&self, plan: CommitPlan) -> impl Future<Output = StoreResult<()>> + Send {
                (**self).commit(plan)
            }
        }
    )*};
}

forward_store!(&S, Box<S>, Arc<S>);

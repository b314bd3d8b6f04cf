//! What the engine answers for each event.
//!
//! These live in the store's schema, not in the engine, because every
//! outcome is persisted under its event's idempotency key (a retried call
//! returns it): the store keeps them and so declares them, and imports
//! nothing from the engine. The engine re-exports them.

use serde::{Deserialize, Serialize};

use super::records::{CodeUnusable, LedgerEntry, Payout, Referral, Withheld};
use crate::attribution::Credit;
use crate::model::CustomerId;
use crate::money::Money;

/// Why an event earned no credit. Every "no" the engine gives carries one,
/// so nothing is ever dropped silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The code is not one of the program's.
    UnknownCode,
    /// The code had expired.
    CodeExpired,
    /// The code had reached its maximum number of uses.
    CodeExhausted,
    /// The code was deactivated.
    CodeInactive,
    /// The customer used their own code, or signed up on the visitor id
    /// (browser or device) the code's owner signed up on.
    SelfReferral,
    /// The code's owner was referred by the customer now signing up: two
    /// people referring each other.
    ReferralRing,
    /// The event fell outside the program's dates.
    ProgramNotActive,
    /// No touch or code led to the customer.
    NoQualifyingTouch,
    /// The customer was referred, but longer ago than the lookback window.
    OutsideLookback,
    /// The buyer had not signed up in this program when the order was
    /// placed (or has not yet), so the order is not a referred purchase.
    NotSignedUp,
    /// The referee's rewarded conversions are used up.
    AlreadyRewarded,
    /// The order was below the program's minimum.
    BelowMinimumOrder,
    /// The program's budget (with its overdraft) could not pay it.
    BudgetExhausted,
    /// A cap on what a customer (or a pair) may earn was reached.
    CapReached,
    /// No incentive rule granted anything for the event (the trace of
    /// `incentive::explain` says why, rule by rule).
    NoRuleMatched,
    /// The program's fraud policy rejected it; the screening kept with the
    /// customer or the conversion lists the signals and their evidence.
    SuspectedFraud,
}

impl From<CodeUnusable> for Reason {
    fn from(u: CodeUnusable) -> Reason {
        match u {
            CodeUnusable::Unknown => Reason::UnknownCode,
            CodeUnusable::Expired => Reason::CodeExpired,
            CodeUnusable::Exhausted => Reason::CodeExhausted,
            CodeUnusable::Inactive => Reason::CodeInactive,
        }
    }
}

/// The answer to `Engine::record_touch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TouchOutcome {
    /// Stored; it may credit `referrer` later.
    Recorded {
        /// The code's owner.
        referrer: CustomerId,
        /// Rewards a referrer's share earned under incentive rules with a
        /// share trigger (empty otherwise).
        #[serde(default)]
        rewards: Vec<Payout>,
    },
    /// Not stored, and why.
    Ignored {
        /// Why.
        reason: Reason,
    },
}

/// The answer to `Engine::record_signup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SignupOutcome {
    /// The new customer is `referral.referrer`'s referee.
    Referred {
        /// Who referred, through which code and channel.
        referral: Referral,
        /// Rewards the signup itself earned under incentive rules with a
        /// signup trigger (empty when a program pays on purchases).
        #[serde(default)]
        rewards: Vec<Payout>,
    },
    /// Signed up without a referrer, and why.
    NotReferred {
        /// Why.
        reason: Reason,
    },
}

/// The answer to `Engine::record_conversion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ConversionOutcome {
    /// Rewards were booked to the ledger.
    Rewarded {
        /// The referrer paid per referral: the largest share, or under
        /// `ReferrerSplit::Primary` the owner of the code the referee typed
        /// at signup (while the signup is inside the lookback).
        referrer: CustomerId,
        /// Every credited referrer and their share.
        credits: Vec<Credit>,
        /// What each side earned.
        payouts: Vec<Payout>,
        /// Rewards withheld by a budget or cap (the rest were booked).
        withheld: Vec<Withheld>,
        /// The ledger entries written.
        entries: Vec<LedgerEntry>,
    },
    /// Recorded, but nothing paid, and why.
    NotRewarded {
        /// The referrer credited, if the order was attributed.
        referrer: Option<CustomerId>,
        /// Why nothing was paid.
        reason: Reason,
    },
}

/// The answer to `Engine::record_refund`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RefundOutcome {
    /// How much this refund took back from the order.
    pub refunded: Money,
    /// What of the order is still not refunded.
    pub remaining: Money,
    /// The clawback entries written (negative amounts), one per side that
    /// had a reward to reverse.
    pub clawbacks: Vec<LedgerEntry>,
}

/// The answer to `Engine::redeem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RedemptionOutcome {
    /// The `Redeemed` entry written.
    pub entry: LedgerEntry,
    /// What of the reward is still available after it.
    pub available: i64,
}

/// Any event's outcome, as remembered under its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// A touch's.
    Touch(TouchOutcome),
    /// A signup's.
    Signup(SignupOutcome),
    /// A conversion's.
    Conversion(ConversionOutcome),
    /// A refund's.
    Refund(RefundOutcome),
    /// A redemption's.
    Redemption(RedemptionOutcome),
}

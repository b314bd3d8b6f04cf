//! One reward's life: the entries that move its quantity between states,
//! and the state derived from them.
//!
//! ```text
//!                 ┌──────── release (hold over) / approve ────────┐
//!                 │                                               ▼
//!   earned ──▶ pending ──── reject / refund during hold ──▶ cancelled
//!     │                                                           
//!     └──────────────────────────────────────────────▶ available ──┬── redeem ──▶ redeemed ── refund ──▶ owed (debt)
//!                                                         │        ├── expire ──▶ expired
//!                                                         │        ├── refund ──▶ reversed
//!                                                         │        └── repay  ──▶ repaid (another reward's debt)
//! ```
//!
//! A reward's quantity is split over these states; every entry moves part
//! of it from one state to another, and [`Progress`] is the fold of its
//! entries. A transition that would take more than a state holds is a
//! [`TransitionError`] naming both states.

use serde::{Deserialize, Serialize};

/// What a ledger entry does. Each kind moves a quantity between the
/// states of one reward and changes the customer's balances by fixed
/// [`Deltas`] (see [`EntryKind::deltas`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EntryKind {
    /// Earned and held: counts as pending until released or approved.
    Held,
    /// Earned and available at once (no hold period).
    Granted,
    /// A held reward released (its hold period passed, or a reviewer
    /// approved it): pending to available.
    Released,
    /// A held reward cancelled (a reviewer rejected it, or its order was
    /// refunded during the hold): leaves pending.
    Cancelled,
    /// An available reward that expired unused: leaves available.
    Expired,
    /// Spent by the customer: available to redeemed.
    Redeemed,
    /// Taken back by a refund after release, before redemption: leaves
    /// available.
    Reversed,
    /// Taken back by a refund after redemption: the customer owes it.
    Owed,
    /// Part of a newly available reward applied to the customer's debt.
    Repaid,
    /// Debt beyond the program's limit, recorded and written off.
    WrittenOff,
}

/// How an entry changes a customer's balances of one unit, by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Deltas {
    /// Change to what is pending.
    pub pending: i64,
    /// Change to what is available.
    pub available: i64,
    /// Change to what was redeemed.
    pub redeemed: i64,
    /// Change to what the customer owes.
    pub owed: i64,
}

impl EntryKind {
    /// The balance changes of an entry of this kind moving `q`.
    ///
    /// The only place these rules are written: the engine books entries
    /// with them, stores apply them to balances, and the auditor folds
    /// them, so the three cannot drift.
    pub fn deltas(self, q: i64) -> Deltas {
        let d = Deltas::default();
        match self {
            EntryKind::Held => Deltas { pending: q, ..d },
            EntryKind::Granted => Deltas { available: q, ..d },
            EntryKind::Released => Deltas {
                pending: -q,
                available: q,
                ..d
            },
            EntryKind::Cancelled => Deltas { pending: -q, ..d },
            EntryKind::Expired | EntryKind::Reversed => Deltas { available: -q, ..d },
            EntryKind::Redeemed => Deltas {
                available: -q,
                redeemed: q,
                ..d
            },
            EntryKind::Owed => Deltas { owed: q, ..d },
            EntryKind::Repaid => Deltas {
                available: -q,
                owed: -q,
                ..d
            },
            EntryKind::WrittenOff => Deltas { owed: -q, ..d },
        }
    }

    /// The kind's name as in serialised data.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Held => "held",
            EntryKind::Granted => "granted",
            EntryKind::Released => "released",
            EntryKind::Cancelled => "cancelled",
            EntryKind::Expired => "expired",
            EntryKind::Redeemed => "redeemed",
            EntryKind::Reversed => "reversed",
            EntryKind::Owed => "owed",
            EntryKind::Repaid => "repaid",
            EntryKind::WrittenOff => "written_off",
        }
    }
}

impl std::fmt::Display for EntryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a reward stands, derived from its [`Progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RewardState {
    /// Some of it is held (hold period or review).
    Pending,
    /// Some of it can be spent.
    Available,
    /// All that is left of it was spent.
    Redeemed,
    /// It expired unused.
    Expired,
    /// It was cancelled while held.
    Cancelled,
    /// A refund took it back.
    Reversed,
}

impl RewardState {
    /// The state's name as in serialised data.
    pub fn as_str(self) -> &'static str {
        match self {
            RewardState::Pending => "pending",
            RewardState::Available => "available",
            RewardState::Redeemed => "redeemed",
            RewardState::Expired => "expired",
            RewardState::Cancelled => "cancelled",
            RewardState::Reversed => "reversed",
        }
    }
}

impl std::fmt::Display for RewardState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry asked more of a reward than the state it moves from holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "reward {reward}: cannot book {kind} of {quantity}: the reward is {state} with {held} in the state it would move from"
)]
pub struct TransitionError {
    /// The reward.
    pub reward: String,
    /// Its state before the entry.
    pub state: RewardState,
    /// The entry's kind.
    pub kind: EntryKind,
    /// The entry's quantity.
    pub quantity: i64,
    /// What the source state held.
    pub held: i64,
}

/// How one reward's quantity is split over its states: the fold of its
/// entries. `quantity == pending + available + redeemed + cancelled +
/// expired + reversed + repaid` always holds, and `owed` never exceeds
/// `redeemed + repaid`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Progress {
    /// Earned in total.
    pub quantity: i64,
    /// Held.
    pub pending: i64,
    /// Spendable.
    pub available: i64,
    /// Spent.
    pub redeemed: i64,
    /// Cancelled while held.
    pub cancelled: i64,
    /// Expired unused.
    pub expired: i64,
    /// Reversed by refunds before redemption.
    pub reversed: i64,
    /// Applied to the customer's debt.
    pub repaid: i64,
    /// Reversed by refunds after redemption: debt it created.
    pub owed: i64,
    /// Of that debt, what was written off beyond the program's limit.
    pub written_off: i64,
}

impl Progress {
    /// The state, derived: pending while any of it is held; available
    /// while any can be spent; then redeemed if any was spent and kept;
    /// otherwise how the rest ended (the largest part; ties in the order
    /// reversed, cancelled, expired).
    pub fn state(&self) -> RewardState {
        if self.pending > 0 {
            RewardState::Pending
        } else if self.available > 0 {
            RewardState::Available
        } else if self.redeemed > self.owed {
            RewardState::Redeemed
        } else if self.reversed + self.owed >= self.cancelled.max(self.expired)
            && self.reversed + self.owed > 0
        {
            RewardState::Reversed
        } else if self.cancelled >= self.expired && self.cancelled > 0 {
            RewardState::Cancelled
        } else if self.expired > 0 {
            RewardState::Expired
        } else if self.redeemed > 0 || self.repaid > 0 {
            RewardState::Redeemed
        } else {
            // A reward of quantity zero is never booked; this is its
            // state if one is folded anyway.
            RewardState::Available
        }
    }

    /// What the state an entry of `kind` moves from holds (for a debt,
    /// what was redeemed and not yet owed back).
    fn source(&self, kind: EntryKind) -> i64 {
        match kind {
            EntryKind::Held | EntryKind::Granted => i64::MAX,
            EntryKind::Released | EntryKind::Cancelled => self.pending,
            EntryKind::Expired | EntryKind::Redeemed | EntryKind::Reversed | EntryKind::Repaid => {
                self.available
            }
            EntryKind::Owed => self.redeemed + self.repaid - self.owed,
            EntryKind::WrittenOff => self.owed - self.written_off,
        }
    }

    /// Books an entry of `kind` moving `quantity` (positive).
    ///
    /// # Errors
    /// [`TransitionError`] if `quantity` is not positive, if the state it
    /// moves from holds less, or if a reward would be earned twice.
    pub fn apply(
        &mut self,
        reward: &str,
        kind: EntryKind,
        quantity: i64,
    ) -> Result<(), TransitionError> {
        let held = self.source(kind);
        let earned_twice =
            matches!(kind, EntryKind::Held | EntryKind::Granted) && self.quantity != 0;
        if quantity <= 0 || quantity > held || earned_twice {
            return Err(TransitionError {
                reward: reward.to_owned(),
                state: self.state(),
                kind,
                quantity,
                held: if earned_twice { self.quantity } else { held },
            });
        }
        let q = quantity;
        match kind {
            EntryKind::Held => {
                self.quantity = q;
                self.pending = q;
            }
            EntryKind::Granted => {
                self.quantity = q;
                self.available = q;
            }
            EntryKind::Released => {
                self.pending -= q;
                self.available += q;
            }
            EntryKind::Cancelled => {
                self.pending -= q;
                self.cancelled += q;
            }
            EntryKind::Expired => {
                self.available -= q;
                self.expired += q;
            }
            EntryKind::Redeemed => {
                self.available -= q;
                self.redeemed += q;
            }
            EntryKind::Reversed => {
                self.available -= q;
                self.reversed += q;
            }
            EntryKind::Repaid => {
                self.available -= q;
                self.repaid += q;
            }
            EntryKind::Owed => self.owed += q,
            EntryKind::WrittenOff => self.written_off += q,
        }
        Ok(())
    }

    /// The sum of `entries` (all of one reward), whatever their order:
    /// entries booked at one instant are listed by id, not by cause, so an
    /// auditor folds by sums rather than replaying transitions. Entries that
    /// earn (held, granted) set the quantity.
    pub fn folded<'a>(entries: impl IntoIterator<Item = &'a super::LedgerEntry>) -> Progress {
        let mut p = Progress::default();
        for e in entries {
            let q = e.quantity;
            match e.kind {
                EntryKind::Held => {
                    p.quantity += q;
                    p.pending += q;
                }
                EntryKind::Granted => {
                    p.quantity += q;
                    p.available += q;
                }
                EntryKind::Released => {
                    p.pending -= q;
                    p.available += q;
                }
                EntryKind::Cancelled => {
                    p.pending -= q;
                    p.cancelled += q;
                }
                EntryKind::Expired => {
                    p.available -= q;
                    p.expired += q;
                }
                EntryKind::Redeemed => {
                    p.available -= q;
                    p.redeemed += q;
                }
                EntryKind::Reversed => {
                    p.available -= q;
                    p.reversed += q;
                }
                EntryKind::Repaid => {
                    p.available -= q;
                    p.repaid += q;
                }
                EntryKind::Owed => p.owed += q,
                EntryKind::WrittenOff => p.written_off += q,
            }
        }
        p
    }

    /// What of the reward still counts as earned: everything not
    /// cancelled, expired, reversed or owed back. What a refund may still
    /// take, and what budgets and caps keep counting.
    pub fn standing(&self) -> i64 {
        self.quantity - self.cancelled - self.expired - self.reversed - self.owed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_reward_moves_through_its_states() {
        let mut p = Progress::default();
        p.apply("r", EntryKind::Held, 100).unwrap();
        assert_eq!(p.state(), RewardState::Pending);
        p.apply("r", EntryKind::Released, 100).unwrap();
        assert_eq!(p.state(), RewardState::Available);
        p.apply("r", EntryKind::Redeemed, 40).unwrap();
        assert_eq!(p.state(), RewardState::Available);
        p.apply("r", EntryKind::Reversed, 60).unwrap();
        assert_eq!(p.state(), RewardState::Redeemed);
        p.apply("r", EntryKind::Owed, 40).unwrap();
        assert_eq!(p.state(), RewardState::Reversed);
        assert_eq!(p.standing(), 0);
    }

    #[test]
    fn an_illegal_transition_names_both_states() {
        let mut p = Progress::default();
        p.apply("r1", EntryKind::Granted, 10).unwrap();
        let e = p.apply("r1", EntryKind::Released, 10).unwrap_err();
        assert_eq!(
            e.to_string(),
            "reward r1: cannot book released of 10: the reward is available with 0 in the state it would move from"
        );
        assert!(
            p.apply("r1", EntryKind::Granted, 10).is_err(),
            "earned twice"
        );
        assert!(p.apply("r1", EntryKind::Redeemed, 0).is_err(), "zero");
        assert!(
            p.apply("r1", EntryKind::Redeemed, 11).is_err(),
            "more than held"
        );
        assert_eq!(p.available, 10, "a refused entry changes nothing");
    }

    fn kind() -> impl Strategy<Value = EntryKind> {
        prop_oneof![
            Just(EntryKind::Released),
            Just(EntryKind::Cancelled),
            Just(EntryKind::Expired),
            Just(EntryKind::Redeemed),
            Just(EntryKind::Reversed),
            Just(EntryKind::Owed),
            Just(EntryKind::Repaid),
            Just(EntryKind::WrittenOff),
        ]
    }

    proptest! {
        /// Whatever entries are tried, the accepted ones keep the split
        /// exact and the balances' deltas sum to the progress.
        #[test]
        fn progress_stays_consistent(
            held in any::<bool>(),
            q in 1i64..1_000_000,
            steps in prop::collection::vec((kind(), 1i64..1_000_000), 0..30),
        ) {
            let mut p = Progress::default();
            let first = if held { EntryKind::Held } else { EntryKind::Granted };
            p.apply("r", first, q).unwrap();
            let mut sum = first.deltas(q);
            for (k, n) in steps {
                let before = p;
                match p.apply("r", k, n) {
                    Ok(()) => {
                        let d = k.deltas(n);
                        sum.pending += d.pending;
                        sum.available += d.available;
                        sum.redeemed += d.redeemed;
                        sum.owed += d.owed;
                    }
                    Err(_) => prop_assert_eq!(p, before),
                }
                prop_assert_eq!(
                    p.quantity,
                    p.pending + p.available + p.redeemed + p.cancelled + p.expired + p.reversed + p.repaid
                );
                prop_assert!(p.pending >= 0 && p.available >= 0);
                prop_assert!(p.owed <= p.redeemed + p.repaid && p.written_off <= p.owed);
                prop_assert_eq!(sum.pending, p.pending);
                prop_assert_eq!(sum.available, p.available);
                prop_assert_eq!(sum.redeemed, p.redeemed);
                prop_assert_eq!(sum.owed, p.owed - p.written_off - p.repaid_owed_share());
            }
        }
    }

    impl Progress {
        /// Repaid entries lower the customer's owed balance, but the debt
        /// they repay belongs to another reward: in a one-reward fold they
        /// show as a negative owed delta.
        fn repaid_owed_share(&self) -> i64 {
            self.repaid
        }
    }
}

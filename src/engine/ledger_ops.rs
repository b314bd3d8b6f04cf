//! The engine's ledger operations: releasing rewards whose hold ended,
//! expiring unused ones, review decisions, and redemptions. Each reads,
//! decides with the pure booking functions ([`super::book`]) and commits
//! one conditional plan per reward.

use chrono::{DateTime, Utc};

use super::book::{self, Moves, Step};
use super::{Decision, Engine};
use crate::error::{Error, ErrorKind};
use crate::incentive::PrizeGrant;
use crate::ledger::{DeliveryState, HoldReason, ReviewDecision, Reward};
use crate::model::{OperatorId, OrderId, Redemption, RedemptionId, RewardId};
use crate::store::{
    CodeOrigin, CommitPlan, Due, IdempotencyKey, IdempotencyRecord, Outcome, RedemptionOutcome,
    Request, Store, Versioned, Write,
};

/// What a batch of [`Engine::release_due`] or [`Engine::expire_due`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct BatchReport {
    /// Rewards moved (released, or expired).
    pub moved: usize,
    /// Rewards found due but skipped because a concurrent writer changed
    /// them first (a refund, a review); the next batch sees them again if
    /// they are still due.
    pub skipped: usize,
    /// Whether the batch was full: more may be due, call again.
    pub more: bool,
}

impl<S: Store> Engine<S> {
    /// Commits one reward's moves at the version read. `Ok(false)` on a
    /// conflict (re-read and decide again).
    async fn commit_moves(
        &self,
        reward: Reward,
        read: &Versioned<Reward>,
        (entries, writes): Moves,
    ) -> Result<bool, Error> {
        let mut all: Vec<Write> = entries.into_iter().map(Write::InsertLedgerEntry).collect();
        all.extend(writes);
        all.push(book::put(reward, read));
        let decision = Decision {
            outcome: (),
            plan: CommitPlan {
                idempotency: None,
                writes: all,
            },
        };
        Ok(self.commit(decision).await?.is_some())
    }

    pub(super) async fn read_reward(&self, id: &RewardId) -> Result<Versioned<Reward>, Error> {
        self.store
            .reward(self.program.id(), id)
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "reward {id} does not exist in program {}",
                        self.program.id()
                    ),
                )
            })
    }

    /// Releases one reward's pending quantity at `at`, if `due` says so
    /// of the reward as read. `Ok(None)`: nothing to do.
    async fn release_one(
        &self,
        id: &RewardId,
        at: impl Fn(&Reward) -> Option<DateTime<Utc>>,
        decision: Option<ReviewDecision>,
    ) -> Result<Option<Reward>, Error> {
        for _ in 0..self.max_attempts {
            let read = self.read_reward(id).await?;
            let Some(when) = at(&read.record) else {
                return Ok(None);
            };
            let (reward, moves) = self
                .decide_with_counters(|counters| {
                    let mut r = read.record.clone();
                    Ok(
                        match book::release(
                            &self.program,
                            &mut r,
                            decision.clone(),
                            when,
                            counters,
                        )? {
                            Step::Read(keys) => Step::Read(keys),
                            Step::Done(m) => Step::Done((r, m)),
                        },
                    )
                })
                .await?;
            let mut moves = moves;
            // An approval after a long review moved the expiry: a coupon's
            // code expires with its reward.
            if let (Some(code), true) =
                (&reward.coupon, reward.expires_at != read.record.expires_at)
            {
                if let Some(v) = self.store.code(self.program.id(), code).await? {
                    let mut record = v.record;
                    record.expires_at = reward.expires_at;
                    moves.1.push(Write::PutCode {
                        record,
                        expected: v.version,
                    });
                }
            }
            if self.commit_moves(reward.clone(), &read, moves).await? {
                return Ok(Some(reward));
            }
        }
        Err(self.exhausted("release"))
    }

    /// Releases rewards whose hold period ended at or before `now`: at
    /// most `limit` of them, oldest hold first, each in its own commit
    /// (booked at the end of its hold, so the result does not depend on
    /// when the job runs). Idempotent and resumable: a reward released
    /// once is no longer due, and a crash mid-batch leaves every reward
    /// either released or still due. Run it from a periodic job until
    /// [`BatchReport::more`] is false.
    ///
    /// Rewards held for review are not released by time: see
    /// [`approve`](Self::approve).
    ///
    /// # Errors
    /// [`ErrorKind::Store`] when the store fails (retrying is safe).
    pub async fn release_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<BatchReport, Error> {
        let due = self
            .store
            .due_rewards(self.program.id(), Due::Release, now, None, limit)
            .await?;
        let mut report = BatchReport {
            more: due.len() == limit && limit > 0,
            ..BatchReport::default()
        };
        for v in due {
            let released = self
                .release_one(&v.record.id, |r| release_time(r, now), None)
                .await;
            match released {
                Ok(Some(_)) => report.moved += 1,
                Ok(None) => report.skipped += 1,
                Err(e) if e.kind() == ErrorKind::Conflict => report.skipped += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }

    /// Expires what is still available of rewards whose validity ended at
    /// or before `now` (at most `limit`, earliest first, each booked at its
    /// expiry), giving back the budget and cap usage they held and
    /// cancelling their delivery if no worker claimed it yet.
    /// Idempotent and resumable like [`release_due`](Self::release_due).
    ///
    /// # Errors
    /// [`ErrorKind::Store`] when the store fails (retrying is safe).
    pub async fn expire_due(&self, now: DateTime<Utc>, limit: usize) -> Result<BatchReport, Error> {
        let due = self
            .store
            .due_rewards(self.program.id(), Due::Expiry, now, None, limit)
            .await?;
        let mut report = BatchReport {
            more: due.len() == limit && limit > 0,
            ..BatchReport::default()
        };
        'rewards: for v in due {
            for _ in 0..self.max_attempts {
                let read = self.read_reward(&v.record.id).await?;
                let Some(at) = read.record.expiry_due().filter(|e| *e <= now) else {
                    report.skipped += 1;
                    continue 'rewards;
                };
                let mut r = read.record.clone();
                let (entries, mut writes) = book::expire(&mut r, at)?;
                // A delivery not claimed yet has nothing left to deliver.
                if r.kind.needs_delivery() {
                    let id = book::delivery_id(&r.id);
                    if let Some(item) = self.store.outbox_item(self.program.id(), &id).await? {
                        if item.record.state == DeliveryState::Ready {
                            let mut next = item.record.clone();
                            next.quantity = 0;
                            next.state = DeliveryState::Cancelled;
                            writes.push(Write::PutOutboxItem {
                                record: Box::new(next),
                                expected: item.version,
                            });
                        }
                    }
                }
                if self.commit_moves(r, &read, (entries, writes)).await? {
                    report.moved += 1;
                    continue 'rewards;
                }
            }
            report.skipped += 1;
        }
        Ok(report)
    }

    /// Approves a held reward (a hold for review, or a hold period cut
    /// short): its pending quantity becomes available now, repaying any
    /// debt of the customer first, and who decided and why is recorded.
    ///
    /// A review never shortens the time the customer has to spend the
    /// reward: approved after its hold period would have ended, a reward
    /// held for review gets that time (its validity less the program's
    /// hold period at the approval) from the approval, and a coupon's code
    /// expires with it.
    ///
    /// Idempotent: approving an approved reward returns it unchanged.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for an unknown reward;
    /// [`ErrorKind::InvalidInput`] for a reward that is not pending (it was
    /// rejected, cancelled or already released).
    pub async fn approve(
        &self,
        reward: &RewardId,
        by: &OperatorId,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<Reward, Error> {
        let decision = ReviewDecision {
            approved: true,
            by: by.clone(),
            note: note.to_owned(),
            at,
        };
        let released = self
            .release_one(
                reward,
                |r| (r.progress.pending > 0).then_some(at),
                Some(decision),
            )
            .await?;
        match released {
            Some(r) => Ok(r),
            None => self.decided(reward, true).await,
        }
    }

    /// Rejects a held reward: its pending quantity is cancelled and the
    /// budget and cap usage it held is given back; who decided and why is
    /// recorded.
    ///
    /// Idempotent: rejecting a rejected reward returns it unchanged.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`]; [`ErrorKind::InvalidInput`] for a reward
    /// that is not pending.
    pub async fn reject(
        &self,
        reward: &RewardId,
        by: &OperatorId,
        note: &str,
        at: DateTime<Utc>,
    ) -> Result<Reward, Error> {
        for _ in 0..self.max_attempts {
            let read = self.read_reward(reward).await?;
            if read.record.progress.pending == 0 {
                return self.decided(reward, false).await;
            }
            let mut r = read.record.clone();
            let decision = ReviewDecision {
                approved: false,
                by: by.clone(),
                note: note.to_owned(),
                at,
            };
            let moves = book::reject(&mut r, decision, at)?;
            if self.commit_moves(r.clone(), &read, moves).await? {
                return Ok(r);
            }
        }
        Err(self.exhausted("reject"))
    }

    /// A reward that is no longer pending: returned if it was decided the
    /// way asked, an error otherwise.
    async fn decided(&self, id: &RewardId, approved: bool) -> Result<Reward, Error> {
        let r = self.read_reward(id).await?.record;
        match &r.decision {
            Some(d) if d.approved == approved => Ok(r),
            _ => Err(Error::invalid(
                "reward",
                format!(
                    "reward {id} is {} and cannot be {}",
                    r.state(),
                    if approved { "approved" } else { "rejected" }
                ),
            )),
        }
    }

    /// Spends part of an available reward. Idempotent by the redemption
    /// id: a retried call returns the first outcome and never spends twice.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for an unknown reward;
    /// [`ErrorKind::InvalidInput`] for a quantity that is not positive or
    /// exceeds what is available (a pending reward cannot be spent), or a
    /// redemption at or after the reward's expiry (even before
    /// [`expire_due`](Self::expire_due) ran);
    /// [`ErrorKind::IdempotencyMismatch`] if the id was used for another
    /// redemption; [`ErrorKind::Store`].
    pub async fn redeem(&self, redemption: &Redemption) -> Result<RedemptionOutcome, Error> {
        let key = IdempotencyKey::redemption(&redemption.id);
        let same = |r: &Request| matches!(r, Request::Redemption(x) if x == redemption);
        for _ in 0..self.max_attempts {
            if let Some(Outcome::Redemption(o)) = self.replay(&key, same).await? {
                return Ok(o);
            }
            let decided = async {
                let read = self.read_reward(&redemption.reward).await?;
                // Expired at its validity's end whether or not
                // `expire_due` ran yet: what is left cannot be spent.
                if let Some(e) = read.record.expires_at.filter(|e| redemption.at >= *e) {
                    return Err(Error::invalid(
                        "redemption.at",
                        format!("reward {} expired at {e}", redemption.reward),
                    ));
                }
                let mut r = read.record.clone();
                let entry =
                    book::redeem(&mut r, redemption.quantity, &redemption.id, redemption.at)?;
                Ok::<_, Error>((read, r, entry))
            }
            .await;
            let (read, reward, entry) = match decided {
                Ok(d) => d,
                Err(e) => match self.refusal_or_replay(&key, same, e).await? {
                    Outcome::Redemption(o) => return Ok(o),
                    _ => return Err(self.wrong_kind("redeem")),
                },
            };
            let outcome = RedemptionOutcome {
                entry: entry.clone(),
                available: reward.progress.available,
            };
            let decision = Decision {
                outcome: outcome.clone(),
                plan: CommitPlan {
                    idempotency: Some(IdempotencyRecord {
                        program: self.program.id().clone(),
                        key: key.clone(),
                        request: Request::Redemption(redemption.clone()),
                        outcome: Outcome::Redemption(outcome),
                    }),
                    writes: vec![Write::InsertLedgerEntry(entry), book::put(reward, &read)],
                },
            };
            if let Some(o) = self.commit(decision).await? {
                return Ok(o);
            }
        }
        Err(self.exhausted("redeem"))
    }
}

impl<S: Store> Engine<S> {
    /// What the program's budget has used (standing rewards: pending,
    /// available and spent; what was cancelled, reversed or expired is
    /// given back), or `None` for a program without a budget. For a shared
    /// allowance, what every program naming it used.
    ///
    /// # Errors
    /// [`ErrorKind::Store`].
    pub async fn budget_used(&self) -> Result<Option<crate::money::Money>, Error> {
        let policy = self.program.ledger_policy();
        let (Some(key), Some(b)) = (policy.budget_counter(self.program.id()), &policy.budget)
        else {
            return Ok(None);
        };
        let used = self.store.counter(&key).await?;
        Ok(Some(crate::money::Money::new(used, b.limit.currency())))
    }

    /// Books the prizes of a closed contest period
    /// ([`incentive::close`](crate::incentive::close)) at `at`: each
    /// exactly once, whatever the retries or concurrent calls (its
    /// once-key holds a counter limited to 1), within the program's budget
    /// and caps like any reward. Returns every prize's reward as it stands,
    /// so a repeated call answers the same.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a prize without a once-key (not from
    /// `close`); [`ErrorKind::Store`].
    pub async fn award_prizes(
        &self,
        prizes: &[PrizeGrant],
        at: DateTime<Utc>,
    ) -> Result<Vec<Reward>, Error> {
        let mut planned = Vec::with_capacity(prizes.len());
        for p in prizes {
            let Some(key) = &p.grant.once_key else {
                return Err(Error::invalid(
                    "prizes",
                    format!(
                        "the prize of {} has no once-key: close the contest with incentive::close",
                        p.customer
                    ),
                ));
            };
            planned.push(book::PlannedReward {
                beneficiary: p.customer.clone(),
                role: p.grant.role,
                other: None,
                kind: p.grant.reward.clone(),
                rule: Some(p.grant.rule.clone()),
                rule_set_version: Some(p.grant.rule_set_version),
                variant: p.grant.variant.clone(),
                once_key: Some(key.clone()),
            });
        }
        for _ in 0..self.max_attempts {
            let booked = self
                .decide_with_counters(|counters| {
                    book::book_rewards(
                        &self.program,
                        book::Source::Prizes,
                        at,
                        &planned,
                        None,
                        counters,
                    )
                })
                .await?;
            let mut writes = booked.writes;
            if !writes.is_empty() {
                let decision = Decision {
                    outcome: (),
                    plan: CommitPlan {
                        idempotency: None,
                        writes: std::mem::take(&mut writes),
                    },
                };
                if self.commit(decision).await?.is_none() {
                    continue;
                }
            }
            let mut out = Vec::with_capacity(planned.len());
            for p in &planned {
                let key = p.once_key.as_deref().unwrap_or_default();
                let id = book::once_reward_id(key, &p.beneficiary);
                if let Some(v) = self.store.reward(self.program.id(), &id).await? {
                    out.push(v.record);
                }
            }
            return Ok(out);
        }
        Err(self.exhausted("award_prizes"))
    }

    /// Redeems a coupon reward's code on an order: the code as the customer
    /// typed it (read with the program's coupon format, typos caught), used
    /// once. Idempotent by code and order: the same order reported again
    /// returns the first outcome.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for text that is not a code, an expired
    /// coupon, one not available yet (its reward is held) or already used
    /// on another order; [`ErrorKind::NotFound`] for a code that is no
    /// coupon of this program; [`ErrorKind::Store`].
    pub async fn redeem_coupon(
        &self,
        typed: &str,
        order: &OrderId,
        at: DateTime<Utc>,
    ) -> Result<RedemptionOutcome, Error> {
        let code = self.program.ledger_policy().coupons.format.parse(typed)?;
        let record = self
            .store
            .code(self.program.id(), &code)
            .await?
            .filter(|v| v.record.origin == CodeOrigin::Coupon)
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("{code} is not a coupon of program {}", self.program.id()),
                )
            })?
            .record;
        let Some(reward) = record.reward else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("coupon {code} names no reward"),
            ));
        };
        let id = book::hashed_id("cp_", &[code.as_str(), order.as_str()]);
        let redemption = Redemption {
            id: RedemptionId::new(id).unwrap_or_else(|_| unreachable!("hex ids are valid")),
            reward,
            quantity: 1,
            at,
        };
        // A retry of this very order returns its first outcome, even after
        // the coupon expired.
        let key = IdempotencyKey::redemption(&redemption.id);
        if let Some(Outcome::Redemption(o)) = self
            .store
            .idempotency(self.program.id(), &key)
            .await?
            .map(|r| r.outcome)
        {
            return Ok(o);
        }
        if record.expires_at.is_some_and(|e| at >= e) {
            return Err(Error::invalid(
                "coupon",
                format!(
                    "coupon {code} expired at {}",
                    record.expires_at.unwrap_or(at)
                ),
            ));
        }
        self.redeem(&redemption).await.map_err(|e| {
            if e.kind() == ErrorKind::InvalidInput {
                Error::invalid(
                    "coupon",
                    format!("coupon {code} cannot be used on order {order}: it was used already, or its reward is not available yet"),
                )
                .with_source(e)
            } else {
                e
            }
        })
    }
}

/// When a reward's hold period ends, if it is pending on one that ended by
/// `now` (rewards held for review are not released by time).
fn release_time(r: &Reward, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if r.decision.is_some() || !matches!(r.hold, Some(HoldReason::HoldPeriod)) {
        return None;
    }
    r.hold_due().filter(|t| *t <= now)
}

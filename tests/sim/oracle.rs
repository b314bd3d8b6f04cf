//! The oracles: what each step's answer must be, predicted from the state
//! before it.

use super::*;

/// The balance of the program's currency a state keeps for `customer`
/// (zero if none).
pub(super) fn balance(state: &MemoryState, program: &Program, customer: &CustomerId) -> Balance {
    balance_of(state, program, customer, &Unit::Money(program.currency()))
}

/// The balance of `unit` a state keeps for `customer` (zero if none).
pub(super) fn balance_of(
    state: &MemoryState,
    program: &Program,
    customer: &CustomerId,
    unit: &Unit,
) -> Balance {
    let unit = unit.clone();
    state
        .balances(program.id(), customer)
        .into_iter()
        .find(|b| b.unit == unit)
        .unwrap_or_else(|| Balance::zero(unit))
}

/// Checks that hold whatever ran beside the call: an event's answer is the
/// outcome the store remembers for it; a replay answers as the first time;
/// a reused id is refused.
pub(super) fn check_remembered(
    program: &Program,
    op: &Op,
    answer: &Answer,
    after: &MemoryState,
) -> Result<(), String> {
    match op {
        Op::Replay { first, .. } => {
            ensure!(
                answer == first,
                "a replay answered {answer:?}, the first call {first:?}"
            );
        }
        Op::Reuse(_) => {
            ensure!(
                matches!(answer, Answer::Failed(ErrorKind::IdempotencyMismatch, _)),
                "an id reused for another event answered {answer:?}"
            );
        }
        _ => {}
    }
    if let (Some(request), Answer::Event(outcome)) = (op.base().request(), answer) {
        if let Some(record) = after.idempotency(program.id(), &request.key()) {
            ensure!(
                record.outcome == *outcome,
                "the answer {outcome:?} is not the remembered outcome {:?}",
                record.outcome
            );
            ensure!(
                record.request == request,
                "remembered for another request: {:?}",
                record.request
            );
        }
    }
    Ok(())
}

/// What one call must have answered, given the state before it (one call
/// at a time only): the oracles.
pub fn check_step(
    program: &Program,
    before: &MemoryState,
    op: &Op,
    answer: &Answer,
    after: &MemoryState,
) -> Result<(), String> {
    check_remembered(program, op, answer, after)?;
    let pid = program.id();
    let policy = program.ledger_policy();
    // Events seen before are replays: nothing more to predict.
    if let Some(request) = op.request() {
        if before.idempotency(pid, &request.key()).is_some() {
            ensure!(before == after, "a replay changed the store");
            return Ok(());
        }
    }
    // Every entry an answer reports is stored as reported.
    let reported: &[LedgerEntry] = match answer {
        Answer::Event(Outcome::Conversion(ConversionOutcome::Rewarded { entries, .. })) => entries,
        Answer::Event(Outcome::Refund(r)) => &r.clawbacks,
        Answer::Event(Outcome::Redemption(r)) => std::slice::from_ref(&r.entry),
        _ => &[],
    };
    if !reported.is_empty() {
        let stored: HashMap<_, _> = after
            .all_ledger_entries()
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        for e in reported {
            ensure!(
                stored.get(&e.id) == Some(e),
                "entry {} was answered but not stored as answered",
                e.id
            );
        }
    }
    // A failure report is not idempotent: when the answer to the first
    // attempt is lost after its commit, the retry finds the item no longer
    // leased and is refused (`check_failed` checks the store instead).
    if matches!(answer, Answer::Failed(..)) && !matches!(op, Op::Failed { .. }) {
        ensure!(before == after, "a refused call changed the store");
    }
    match op {
        Op::Redeem(r) => {
            let read = before.reward(pid, &r.reward);
            let available = read.as_ref().map_or(0, |v| v.record.progress.available);
            // A reward past its expiry cannot be spent, whether or not the
            // expiry job ran.
            let expired = read
                .as_ref()
                .and_then(|v| v.record.expires_at)
                .is_some_and(|e| r.at >= e);
            let fits = read.is_some() && r.quantity > 0 && r.quantity <= available && !expired;
            match answer {
                Answer::Event(Outcome::Redemption(o)) => {
                    ensure!(fits, "redeemed {} of {available} available", r.quantity);
                    ensure!(
                        o.available == available - r.quantity,
                        "left {}",
                        o.available
                    );
                    let now = after.reward(pid, &r.reward).map(|v| v.record.progress);
                    ensure!(
                        now.is_some_and(|p| p.available == o.available),
                        "the reward's available does not match the answer"
                    );
                }
                Answer::Failed(kind, msg) => {
                    ensure!(
                        !fits,
                        "refused a redemption of {} with {available} available: {msg}",
                        r.quantity
                    );
                    ensure!(
                        *kind == ErrorKind::InvalidInput,
                        "refused as {kind:?}: {msg}"
                    );
                }
                other => return Err(format!("a redemption answered {other:?}")),
            }
        }
        Op::Refund(r) => check_refund(program, before, r, answer, after)?,
        Op::Claim {
            worker, now, lease, ..
        } => check_claim(program, before, worker, *now, *lease, answer, after)?,
        Op::Delivered { id, reference, at } => {
            check_delivered(program, before, id, reference, *at, answer, after)?;
        }
        Op::Failed { id, at } => check_failed(program, before, id, *at, answer, after)?,
        Op::Die { .. } => ensure!(before == after, "a dead worker changed the store"),
        Op::RedeemCoupon {
            typed,
            order: _,
            at,
            first,
        } => check_coupon(program, before, typed, *at, first.as_deref(), answer, after)?,
        Op::Conversion(c) => {
            if let Some(v) = after.conversion(pid, &c.order) {
                for w in &v.record.withheld {
                    let other = (w.role == Role::Referrer).then_some(&c.customer);
                    let wanted = policy.reservations(
                        pid,
                        &ReservationInput {
                            customer: &w.beneficiary,
                            role: w.role,
                            other,
                            kind: &w.kind,
                            at: c.at,
                            rule: None,
                        },
                    );
                    // A rolling cap's limit is shared with its window's
                    // other days.
                    let used = |r: &referrals::ledger::Reservation| {
                        after.counter(&r.key)
                            + r.window.iter().map(|k| after.counter(k)).sum::<i64>()
                    };
                    let full = |limit: fn(&Limit) -> bool| {
                        wanted
                            .iter()
                            .any(|r| limit(&r.what) && used(r) + r.delta > r.limit)
                    };
                    let ok = match w.reason {
                        Reason::BudgetExhausted => full(|l| *l == Limit::Budget),
                        Reason::CapReached => full(|l| matches!(l, Limit::Cap(_))),
                        other => return Err(format!("withheld for {other:?}")),
                    };
                    ensure!(
                        ok,
                        "withheld {:?} for {:?} though it fit its counters",
                        w.kind,
                        w.reason
                    );
                }
            }
        }
        Op::Approve { reward, .. } | Op::Reject { reward, .. } => {
            let approve = matches!(op, Op::Approve { .. });
            let read = before.reward(pid, reward).map(|v| v.record);
            let decided = read
                .as_ref()
                .and_then(|r| r.decision.as_ref())
                .is_some_and(|d| d.approved == approve);
            let pending = read.as_ref().is_some_and(|r| r.progress.pending > 0);
            match answer {
                Answer::Reward(r) => {
                    ensure!(pending || decided, "reviewed a reward that was not pending");
                    ensure!(r.progress.pending == 0, "still pending after review");
                    ensure!(
                        r.decision.as_ref().is_some_and(|d| d.approved == approve),
                        "the decision is not recorded: {:?}",
                        r.decision
                    );
                }
                Answer::Failed(kind, msg) => {
                    ensure!(
                        !pending && !decided,
                        "refused to review a pending reward: {msg}"
                    );
                    ensure!(
                        *kind == ErrorKind::InvalidInput,
                        "refused as {kind:?}: {msg}"
                    );
                }
                other => return Err(format!("a review answered {other:?}")),
            }
        }
        Op::ReleaseDue { now, limit } | Op::ExpireDue { now, limit } => {
            let Answer::Batch(b) = answer else {
                return Err(format!("a batch answered {answer:?}"));
            };
            ensure!(b.moved <= *limit, "moved {} of a batch of {limit}", b.moved);
            if !b.more && b.skipped == 0 {
                let release = matches!(op, Op::ReleaseDue { .. });
                for v in after.all_rewards() {
                    let r = v.record;
                    let due = if release {
                        r.hold_due().filter(|_| r.decision.is_none())
                    } else {
                        r.expiry_due()
                    };
                    ensure!(
                        due.is_none_or(|t| t > *now),
                        "reward {} is still due at {due:?} after a complete batch at {now}",
                        r.id
                    );
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A refund's oracle: refused exactly when it must be; a full refund takes
/// back what its rewards hold and leaves every balance it touched where it
/// found it, but for the debt it records.
pub(super) fn check_refund(
    program: &Program,
    before: &MemoryState,
    r: &Refund,
    answer: &Answer,
    after: &MemoryState,
) -> Result<(), String> {
    let pid = program.id();
    let Some(read) = before.conversion(pid, &r.order) else {
        ensure!(
            matches!(answer, Answer::Failed(ErrorKind::NotFound, _)),
            "a refund of an unknown order answered {answer:?}"
        );
        return Ok(());
    };
    let rec = read.record;
    let value = rec.conversion.amount.minor();
    let remaining = value - rec.refunded.minor();
    let refusal = if r.at < rec.conversion.at {
        Some("dated before the order")
    } else {
        match r.amount {
            RefundAmount::Full if remaining == 0 && !(value == 0 && rec.refund_count == 0) => {
                Some("already refunded")
            }
            RefundAmount::Partial(m) if m.minor() <= 0 || m.minor() > remaining => {
                Some("more than is left")
            }
            _ => None,
        }
    };
    let o = match (answer, refusal) {
        (Answer::Failed(ErrorKind::InvalidInput, _), Some(_)) => return Ok(()),
        (Answer::Event(Outcome::Refund(o)), None) => o,
        (other, why) => {
            return Err(format!(
                "a refund (refusal expected: {why:?}) answered {other:?}"
            ));
        }
    };
    let now = after
        .conversion(pid, &r.order)
        .ok_or("the refunded order vanished")?
        .record;
    ensure!(
        o.remaining.minor() == value - now.refunded.minor()
            && o.refunded.minor() == now.refunded.minor() - rec.refunded.minor(),
        "the answer {o:?} does not match the order {now:?}"
    );
    if now.fully_refunded_at.is_none() || rec.fully_refunded_at.is_some() {
        return Ok(());
    }
    // Per customer and unit: a rules program pays money, coupons and points.
    let customers: BTreeSet<(&CustomerId, Unit)> = rec
        .payouts
        .iter()
        .map(|p| (&p.beneficiary, p.kind.unit()))
        .collect();
    for (c, unit) in customers {
        let (b0, b1) = (
            balance_of(before, program, c, &unit),
            balance_of(after, program, c, &unit),
        );
        let (mut pending, mut available) = (0, 0);
        for p in rec
            .payouts
            .iter()
            .filter(|p| p.beneficiary == *c && p.kind.unit() == unit)
        {
            let was = before
                .reward(pid, &p.reward)
                .ok_or("a payout's reward is missing")?
                .record
                .progress;
            pending += was.pending;
            available += was.available;
        }
        let debt: i64 = o
            .clawbacks
            .iter()
            .filter(|e| e.customer == *c && e.unit == unit)
            .map(|e| match e.kind {
                EntryKind::Owed => e.quantity,
                EntryKind::WrittenOff | EntryKind::Repaid => -e.quantity,
                _ => 0,
            })
            .sum();
        ensure!(
            b1.pending == b0.pending - pending
                && b1.available == b0.available - available
                && b1.redeemed == b0.redeemed
                && b1.owed == b0.owed + debt,
            "a full refund of {} left {c} at {b1:?} from {b0:?}: the order's rewards held {pending} pending and {available} available, and it recorded a debt of {debt}",
            r.order
        );
    }
    Ok(())
}

/// The outbox items of a state, by id.
pub(super) fn items(state: &MemoryState) -> BTreeMap<DeliveryId, OutboxItem> {
    state
        .all_outbox_items()
        .into_iter()
        .map(|v| (v.record.id.clone(), v.record))
        .collect()
}

/// What of a reward is left to deliver at `at`: what is available, until
/// its validity ends.
pub(super) fn deliverable(
    state: &MemoryState,
    program: &Program,
    reward: &RewardId,
    at: DateTime<Utc>,
) -> i64 {
    state
        .reward(program.id(), reward)
        .filter(|v| v.record.expires_at.is_none_or(|e| at < e))
        .map_or(0, |v| v.record.progress.available)
}

/// A claim's oracle: it leases only items claimable at its clock whose
/// claims are not used up, and only for rewards with something left to
/// deliver; an item whose claims are used up is dead-lettered; nothing
/// else changes.
pub(super) fn check_claim(
    program: &Program,
    before: &MemoryState,
    worker: &str,
    now: DateTime<Utc>,
    lease: TimeDelta,
    answer: &Answer,
    after: &MemoryState,
) -> Result<(), String> {
    let Answer::Claimed(claimed) = answer else {
        return Err(format!("a claim answered {answer:?}"));
    };
    let max = program.ledger_policy().delivery.max_attempts;
    let (was, now_items) = (items(before), items(after));
    // Nothing is left of a reward past its validity, whether or not the
    // expiry job ran.
    let available = |reward: &RewardId| deliverable(before, program, reward, now);
    let mut ids = HashSet::new();
    for d in claimed {
        ensure!(ids.insert(&d.id), "claimed {} twice in one batch", d.id);
        let old = was.get(&d.id).ok_or("claimed an item that did not exist")?;
        let new = now_items.get(&d.id).ok_or("a claimed item vanished")?;
        ensure!(
            old.claimable_at().is_some_and(|t| t <= now) && old.attempts < max,
            "claimed {} at {now} though it was {:?} after {} of {max} attempts",
            d.id,
            old.state,
            old.attempts
        );
        ensure!(
            new.state
                == DeliveryState::Leased {
                    worker: worker.to_owned(),
                    until: now + lease,
                }
                && new.attempts == old.attempts + 1
                && d.attempt == new.attempts
                && d.quantity == old.quantity.min(available(&d.reward))
                && new.quantity == d.quantity
                && d.reward == old.reward,
            "claim {d:?} left the item at {new:?} from {old:?}"
        );
        let available = available(&d.reward);
        ensure!(
            available > 0 && (!d.kind.delivery_spends() || d.quantity <= available),
            "leased {} of {} to deliver, its reward has {available} available",
            d.quantity,
            d.reward
        );
    }
    for (id, new) in &now_items {
        let old = was.get(id);
        if ids.contains(id) || old == Some(new) {
            continue;
        }
        let old = old.ok_or("a claim created an item")?;
        // Dead-lettered with its claims used up, or cancelled with nothing
        // left to deliver.
        let dead = matches!(new.state, DeliveryState::Dead { .. }) && old.attempts >= max;
        // A ready item's quantity goes; a lease that ran out keeps it, for
        // its worker's late report.
        let kept = if old.state == DeliveryState::Ready {
            0
        } else {
            old.quantity
        };
        let cancelled = new.state == DeliveryState::Cancelled
            && new.quantity == kept
            && old.attempts < max
            && available(&old.reward) <= 0;
        // Leased, but the answer was lost to a fault after the commit and
        // the retry found it leased: as if the worker died holding it.
        let orphan = new.state
            == DeliveryState::Leased {
                worker: worker.to_owned(),
                until: now + lease,
            }
            && new.attempts == old.attempts + 1
            && old.attempts < max
            && new.quantity == old.quantity.min(available(&old.reward));
        ensure!(
            (dead || cancelled || orphan)
                && old.claimable_at().is_some_and(|t| t <= now)
                && (orphan || new.attempts == old.attempts),
            "a claim changed {id} from {old:?} to {new:?} without leasing it"
        );
    }
    Ok(())
}

/// A delivery report's oracle: refused for a cancelled item, the item
/// unchanged for a delivered one; otherwise delivered, and where delivery
/// spends, what was still available of what it carried booked as redeemed
/// under the delivery's id (the rest noted on the item).
pub(super) fn check_delivered(
    program: &Program,
    before: &MemoryState,
    id: &DeliveryId,
    reference: &str,
    at: DateTime<Utc>,
    answer: &Answer,
    after: &MemoryState,
) -> Result<(), String> {
    let Some(old) = items(before).remove(id) else {
        ensure!(
            matches!(answer, Answer::Failed(ErrorKind::NotFound, _)),
            "a report on an unknown item answered {answer:?}"
        );
        return Ok(());
    };
    // Cancelled after a claim, with what it carried: a late report counts.
    let late = old.state == DeliveryState::Cancelled && old.attempts > 0 && old.quantity > 0;
    match (&old.state, answer) {
        (DeliveryState::Cancelled, Answer::Item(_)) if late => {}
        (DeliveryState::Cancelled, Answer::Failed(ErrorKind::InvalidInput, _)) if !late => {
            return Ok(());
        }
        (DeliveryState::Delivered { .. }, Answer::Item(item)) => {
            ensure!(
                **item == old,
                "a second report changed the item to {item:?}"
            );
            ensure!(before == after, "a second report changed the store");
            return Ok(());
        }
        (DeliveryState::Cancelled | DeliveryState::Delivered { .. }, other) => {
            return Err(format!("a report on {:?} answered {other:?}", old.state));
        }
        (_, Answer::Item(_)) => {}
        (_, other) => return Err(format!("a report on {:?} answered {other:?}", old.state)),
    }
    let new = items(after)
        .remove(id)
        .ok_or("the delivered item vanished")?;
    ensure!(
        new.state
            == DeliveryState::Delivered {
                reference: reference.to_owned(),
                at,
            }
            && Some(&new) == answer_item(answer),
        "delivered, the item is {new:?}, answered {answer:?}"
    );
    let pid = program.id();
    let (r0, r1) = (
        before.reward(pid, &old.reward).ok_or("no reward")?.record,
        after.reward(pid, &old.reward).ok_or("no reward")?.record,
    );
    if old.kind.delivery_spends() {
        let q = old.quantity.min(r0.progress.available);
        ensure!(
            r1.progress.available == r0.progress.available - q.max(0)
                && r1.progress.redeemed == r0.progress.redeemed + q.max(0),
            "delivering {} of {} left {:?} from {:?}",
            old.quantity,
            old.reward,
            r1.progress,
            r0.progress
        );
        ensure!(
            (q < old.quantity) == (new.last_error != old.last_error),
            "delivered {q} of {}, noted {:?}",
            old.quantity,
            new.last_error
        );
    } else {
        ensure!(
            r1.progress == r0.progress,
            "delivering a {} moved its reward",
            old.kind.name()
        );
    }
    Ok(())
}

pub(super) fn answer_item(answer: &Answer) -> Option<&OutboxItem> {
    match answer {
        Answer::Item(i) => Some(i),
        _ => None,
    }
}

/// A failure report's oracle: refused unless leased; retried after the
/// backoff, or dead-lettered once the claims are used up.
pub(super) fn check_failed(
    program: &Program,
    before: &MemoryState,
    id: &DeliveryId,
    at: DateTime<Utc>,
    answer: &Answer,
    after: &MemoryState,
) -> Result<(), String> {
    let policy = &program.ledger_policy().delivery;
    let Some(old) = items(before).remove(id) else {
        ensure!(
            matches!(answer, Answer::Failed(ErrorKind::NotFound, _)),
            "a failure of an unknown item answered {answer:?}"
        );
        return Ok(());
    };
    if !matches!(old.state, DeliveryState::Leased { .. }) {
        ensure!(
            matches!(answer, Answer::Failed(ErrorKind::InvalidInput, _)),
            "a failure reported on {:?} answered {answer:?}",
            old.state
        );
        return Ok(());
    }
    let new = items(after).remove(id).ok_or("the failed item vanished")?;
    match answer {
        Answer::Item(item) => ensure!(**item == new, "answered {item:?}, stored {new:?}"),
        // The first attempt's answer was lost after its commit: the store
        // must hold what it did.
        Answer::Failed(ErrorKind::InvalidInput, _) => ensure!(
            new != old && new.last_error.as_deref() == Some("provider timeout"),
            "refused to record a failure of a leased item: {answer:?}"
        ),
        other => return Err(format!("a failure answered {other:?}")),
    }
    let want = if old.attempts >= policy.max_attempts {
        DeliveryState::Dead {
            error: "provider timeout".to_owned(),
        }
    } else {
        ensure!(
            new.next_attempt_at == at + policy.retry_after(old.attempts),
            "retry at {} after attempt {} failed at {at}",
            new.next_attempt_at,
            old.attempts
        );
        // What is left to retry: what the reward still has available.
        let available = deliverable(before, program, &old.reward, at);
        let left = old.quantity.min(available.max(0));
        ensure!(
            new.quantity == left,
            "retrying {} of {}, which has {available} available",
            new.quantity,
            old.quantity
        );
        if left > 0 {
            DeliveryState::Ready
        } else {
            DeliveryState::Cancelled
        }
    };
    ensure!(
        new.state == want && new.attempts == old.attempts,
        "after failed attempt {} of {}: {new:?}",
        old.attempts,
        policy.max_attempts
    );
    Ok(())
}

/// A coupon redemption's oracle: text that is no coupon of the program is
/// refused; the same order again answers as the first time; otherwise it
/// is used exactly when its reward has it available and it has not
/// expired.
pub(super) fn check_coupon(
    program: &Program,
    before: &MemoryState,
    typed: &str,
    at: DateTime<Utc>,
    first: Option<&Answer>,
    answer: &Answer,
    after: &MemoryState,
) -> Result<(), String> {
    let pid = program.id();
    let Ok(code) = program.ledger_policy().coupons.format.parse(typed) else {
        ensure!(
            matches!(answer, Answer::Failed(ErrorKind::InvalidInput, _)),
            "{typed:?} is no code, answered {answer:?}"
        );
        return Ok(());
    };
    let record = before
        .code(pid, &code)
        .map(|v| v.record)
        .filter(|r| r.origin == CodeOrigin::Coupon);
    let Some(reward) = record.as_ref().and_then(|r| r.reward.clone()) else {
        ensure!(
            matches!(answer, Answer::Failed(ErrorKind::NotFound, _)),
            "{code} is no coupon, answered {answer:?}"
        );
        return Ok(());
    };
    if let Some(first) = first {
        ensure!(
            answer == first,
            "the same order again answered {answer:?}, first {first:?}"
        );
        ensure!(before == after, "the same order again changed the store");
        return Ok(());
    }
    let r = before
        .reward(pid, &reward)
        .ok_or("a coupon's reward is missing")?
        .record;
    let fits = r.progress.available >= 1 && r.expires_at.is_none_or(|e| at < e);
    match answer {
        Answer::Event(Outcome::Redemption(o)) => {
            ensure!(fits, "used a coupon whose reward stood at {:?}", r.progress);
            let now = after
                .reward(pid, &reward)
                .ok_or("vanished")?
                .record
                .progress;
            ensure!(
                o.available == 0 && now.available == 0 && now.redeemed == r.progress.redeemed + 1,
                "a used coupon's reward stands at {now:?}"
            );
        }
        Answer::Failed(ErrorKind::InvalidInput, msg) => {
            ensure!(!fits, "refused a usable coupon: {msg}");
        }
        other => return Err(format!("a coupon answered {other:?}")),
    }
    Ok(())
}

//! Booking decisions, sans-IO: how planned rewards become ledger entries
//! (held or available, within budgets and caps, repaying debt), and how
//! refunds, releases, reviews, expiries and redemptions move them. Plain
//! data in (the rewards and counters the engine read), writes out.
//!
//! Every function here either books everything it was asked to or returns
//! an error and books nothing: the engine commits one plan per decision.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::code::Code;
use crate::error::{Error, ErrorKind};
use crate::fraud::policy::{Action, Screening};
use crate::ledger::{
    CounterKey, DeliveryState, EntryKind, HoldReason, LedgerEntry, Limit, OutboxItem, Progress,
    ReservationInput, ReviewDecision, Reward, still_reserved,
};
use crate::model::{
    CustomerId, DeliveryId, EventId, LedgerEntryId, OrderId, RedemptionId, RefundId, RewardId,
};
use crate::program::Program;
use crate::reward::{Label, RewardKind, Role, Unit};
use crate::store::{CodeOrigin, CodeRecord, Payout, Reason, Versioned, Withheld, Write};

/// A reward the incentive decided is earned, before the ledger books it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedReward {
    /// Who earns it.
    pub beneficiary: CustomerId,
    /// As referrer or referee.
    pub role: Role,
    /// The other side of the referral (the referee of a referrer's reward).
    pub other: Option<CustomerId>,
    /// What is earned.
    pub kind: RewardKind,
    /// The rule that granted it; `None` for a program's fixed reward.
    pub rule: Option<Label>,
    /// The rule-set version that granted it.
    pub rule_set_version: Option<u32>,
    /// The experiment and variant that affected it.
    pub variant: Option<(Label, Label)>,
    /// Books at most one reward per key, whatever the event (milestones,
    /// contest prizes).
    pub once_key: Option<String>,
}

/// What a fraud screening decided for an event's rewards, applied to each
/// as it is booked: a side held is booked pending for review (never
/// released by time), a side rejected is withheld with
/// [`Reason::SuspectedFraud`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Screen {
    /// The referrer screened: the referrer side of the verdict is about
    /// them (another referrer sharing a split credit is not judged by it).
    pub referrer: CustomerId,
    /// The verdict and its signals, kept with every reward it holds.
    pub screening: Screening,
}

impl Screen {
    /// What the verdict does to `role`'s rewards.
    pub fn action(&self, role: Role) -> Action {
        match role {
            Role::Referrer => self.screening.verdict.referrer,
            Role::Referee => self.screening.verdict.referee,
        }
    }

    /// What the verdict does to `beneficiary`'s reward as `role`: a
    /// referrer other than the one screened is not judged by it.
    pub fn action_for(&self, role: Role, beneficiary: &CustomerId) -> Action {
        match role {
            Role::Referrer if *beneficiary != self.referrer => Action::Allow,
            _ => self.action(role),
        }
    }

    /// Whether it changes anything.
    pub fn acts(&self) -> bool {
        self.screening.verdict.referrer != Action::Allow
            || self.screening.verdict.referee != Action::Allow
    }

    /// The screening to keep with a record: `None` when it found nothing.
    pub fn kept(&self) -> Option<Screening> {
        (!self.screening.verdict.signals.is_empty()).then(|| self.screening.clone())
    }

    /// The review note: the verdict's reasons.
    fn note(&self) -> String {
        let reasons = &self.screening.verdict.reasons;
        if reasons.is_empty() {
            "held by the fraud policy".to_owned()
        } else {
            reasons.join("; ")
        }
    }
}

/// What a booking needs read first, or its result.
#[derive(Debug)]
pub enum Step<T> {
    /// Read these counters and decide again.
    Read(Vec<CounterKey>),
    /// Decided.
    Done(T),
}

/// A hex id of what caused a record, so the same cause always yields the
/// same id (and a store refuses it twice). Length-prefixed parts keep
/// `("ab","c")` and `("a","bc")` apart; hashing keeps ids short whatever
/// the length of the host's ids.
pub(crate) fn hashed_id(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    let digest = h.finalize();
    let mut id = String::with_capacity(prefix.len() + 32);
    id.push_str(prefix);
    for b in &digest[..16] {
        id.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        id.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    id
}

/// A ledger entry id derived from its cause.
pub(crate) fn entry_id(parts: &[&str]) -> LedgerEntryId {
    // OK because the id is a short prefix and 32 hex characters: never
    // empty, never too long, no control characters.
    LedgerEntryId::new(hashed_id("le_", parts))
        .unwrap_or_else(|_| unreachable!("hex ids are valid"))
}

fn reward_id(parts: &[&str]) -> RewardId {
    // OK: as for `entry_id`.
    RewardId::new(hashed_id("rw_", parts)).unwrap_or_else(|_| unreachable!("hex ids are valid"))
}

/// The id of the reward a once-key grants `customer` (a milestone, a
/// contest prize): the same key always names the same reward.
pub fn once_reward_id(key: &str, customer: &CustomerId) -> RewardId {
    reward_id(&["once", key, customer.as_str()])
}

/// The outbox item id of a reward: derived from it, so a reward is queued
/// at most once, and usable as the delivery key a provider deduplicates on.
pub fn delivery_id(reward: &RewardId) -> DeliveryId {
    // OK: as for `entry_id`.
    DeliveryId::new(hashed_id("dl_", &[reward.as_str()]))
        .unwrap_or_else(|_| unreachable!("hex ids are valid"))
}

/// Queues a reward that must leave the system (cash, a coupon, a
/// donation, a gift card, points) once it has something available, in the
/// same commit that made it available.
fn enqueue(reward: &Reward, at: DateTime<Utc>, writes: &mut Vec<Write>) {
    if !reward.kind.needs_delivery() || reward.progress.available <= 0 {
        return;
    }
    writes.push(Write::PutOutboxItem {
        record: Box::new(OutboxItem {
            id: delivery_id(&reward.id),
            program: reward.program.clone(),
            reward: reward.id.clone(),
            customer: reward.customer.clone(),
            kind: reward.kind.clone(),
            quantity: reward.progress.available,
            coupon: reward.coupon,
            due_at: at,
            next_attempt_at: at,
            attempts: 0,
            last_error: None,
            state: DeliveryState::Ready,
        }),
        expected: 0,
    });
}

/// The key of the counter holding what `customer` owes in `unit`: debt
/// from refunds after redemption, repaid from their next rewards.
pub fn debt_counter(program: &Program, customer: &CustomerId, unit: &Unit) -> CounterKey {
    CounterKey::program(program.id(), format!("debt/{customer}/{unit}"))
}

/// Counter values the engine read, with what this plan already added.
#[derive(Debug, Default)]
pub struct Counters {
    read: HashMap<CounterKey, i64>,
    missing: Vec<CounterKey>,
    /// Fresh random codes for coupon rewards, drawn by the engine (a
    /// decision draws no randomness of its own).
    coupons: Vec<Code>,
    /// How many more coupon codes the decision needs.
    coupons_wanted: usize,
}

impl Counters {
    /// Counters as read from the store.
    pub fn new(read: HashMap<CounterKey, i64>) -> Counters {
        Counters {
            read,
            ..Counters::default()
        }
    }

    /// Counters as read, with fresh coupon codes.
    pub fn with_coupons(read: HashMap<CounterKey, i64>, coupons: Vec<Code>) -> Counters {
        Counters {
            read,
            coupons,
            ..Counters::default()
        }
    }

    /// How many more coupon codes the decision asked for.
    pub fn coupons_wanted(&self) -> usize {
        self.coupons_wanted
    }

    /// A fresh coupon code, or a note that one more is needed.
    fn coupon(&mut self) -> Option<Code> {
        let code = self.coupons.pop();
        if code.is_none() {
            self.coupons_wanted += 1;
        }
        code
    }

    /// The value of `key`, if read; otherwise notes that it must be.
    pub(crate) fn get(&mut self, key: &CounterKey) -> Option<i64> {
        match self.read.get(key) {
            Some(v) => Some(*v),
            None => {
                if !self.missing.contains(key) {
                    self.missing.push(key.clone());
                }
                None
            }
        }
    }

    fn add(&mut self, key: &CounterKey, delta: i64) {
        if let Some(v) = self.read.get_mut(key) {
            *v = v.saturating_add(delta);
        }
    }

    /// The counters still to read, if any.
    pub fn take_missing(&mut self) -> Vec<CounterKey> {
        std::mem::take(&mut self.missing)
    }
}

/// The entries a booking wrote, and every write that goes with them
/// (the entries' own inserts are not among the writes).
pub type Moves = (Vec<LedgerEntry>, Vec<Write>);

/// What earned a batch of rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    /// A referee's order.
    Order(&'a OrderId),
    /// A referee's signup (its event id).
    Signup(&'a EventId),
    /// A referrer's share (the touch's event id).
    Share(&'a EventId),
    /// A contest's prizes (every prize has a once-key of its own).
    Prizes,
}

impl Source<'_> {
    fn parts(&self) -> (&'static str, &str) {
        match self {
            Source::Order(o) => ("order", o.as_str()),
            Source::Signup(e) => ("signup", e.as_str()),
            Source::Share(e) => ("share", e.as_str()),
            Source::Prizes => ("prizes", ""),
        }
    }

    fn order(&self) -> Option<&OrderId> {
        match self {
            Source::Order(o) => Some(o),
            _ => None,
        }
    }
}

/// What booking a batch of rewards wrote.
#[derive(Debug, Default)]
pub struct Booked {
    /// One per booked reward.
    pub payouts: Vec<Payout>,
    /// Rewards withheld by a budget or cap.
    pub withheld: Vec<Withheld>,
    /// Entries written.
    pub entries: Vec<LedgerEntry>,
    /// Every write (rewards, entries, counters).
    pub writes: Vec<Write>,
}

/// A new entry of `kind` moving `q` of `reward`, applied to its progress.
///
/// # Errors
/// [`ErrorKind::InvalidInput`] if the reward's state cannot give `q` (a
/// transition the ledger forbids, named with both states).
fn book(
    reward: &mut Reward,
    kind: EntryKind,
    q: i64,
    cause: &[&str],
    at: DateTime<Utc>,
    refund: Option<&RefundId>,
    redemption: Option<&RedemptionId>,
) -> Result<LedgerEntry, Error> {
    reward
        .progress
        .apply(reward.id.as_str(), kind, q)
        .map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
    let mut parts = vec![reward.id.as_str(), kind.as_str()];
    parts.extend_from_slice(cause);
    Ok(LedgerEntry {
        id: entry_id(&parts),
        program: reward.program.clone(),
        customer: reward.customer.clone(),
        reward: reward.id.clone(),
        role: reward.role,
        kind,
        unit: reward.unit.clone(),
        quantity: q,
        order: reward.order.clone(),
        refund: refund.cloned(),
        redemption: redemption.cloned(),
        at,
    })
}

/// Applies whatever of `reward`'s newly available quantity the customer's
/// debt in its unit takes, as `Repaid` entries, and lowers the debt
/// counter (one conditional write: two rewards repaying one debt at once
/// cannot both take it).
fn repay(
    program: &Program,
    reward: &mut Reward,
    counters: &mut Counters,
    at: DateTime<Utc>,
    out: &mut Vec<LedgerEntry>,
    writes: &mut Vec<Write>,
) -> Result<(), Error> {
    let key = debt_counter(program, &reward.customer, &reward.unit);
    let Some(owed) = counters.get(&key) else {
        return Ok(());
    };
    let q = owed.min(reward.progress.available);
    if q > 0 {
        out.push(book(
            reward,
            EntryKind::Repaid,
            q,
            &[&at.to_rfc3339()],
            at,
            None,
            None,
        )?);
        counters.add(&key, -q);
        writes.push(Write::AddToCounter {
            key,
            delta: -q,
            limit: None,
        });
    }
    Ok(())
}

/// Gives back what a reward's reservations no longer hold after its
/// standing quantity dropped from `standing_before` (a cancellation,
/// reversal or expiry). What a reservation holds is always derived from
/// the amount first reserved and the standing quantity, never from what
/// an earlier give-back left: scaling an already scaled amount again would
/// under-count (the simulation found a budget overrun that way).
fn give_back(reward: &Reward, standing_before: i64, writes: &mut Vec<Write>) {
    let (standing, quantity) = (reward.progress.standing(), reward.progress.quantity);
    for (key, amount) in &reward.reserved {
        let before = still_reserved(*amount, standing_before, quantity);
        let now = still_reserved(*amount, standing, quantity);
        if now < before {
            writes.push(Write::AddToCounter {
                key: key.clone(),
                delta: now - before,
                limit: None,
            });
        }
    }
}

/// Books the rewards an event earned (an order, a signup, a share): each reserves its budget and cap
/// counters (or is withheld with the reason), is held for the program's
/// hold period or made available at once (repaying debt first), and
/// expires after the program's validity.
///
/// Returns [`Step::Read`] with the counters it needs until `counters`
/// holds them all.
///
/// # Errors
/// [`ErrorKind::Overflow`] if a reward's expiry leaves the calendar.
pub fn book_rewards(
    program: &Program,
    source: Source<'_>,
    at: DateTime<Utc>,
    planned: &[PlannedReward],
    screen: Option<&Screen>,
    counters: &mut Counters,
) -> Result<Step<Booked>, Error> {
    let policy = program.ledger_policy();
    let mut booked = Booked::default();
    let mut seen: Vec<RewardId> = Vec::new();
    for p in planned {
        let quantity = p.kind.quantity();
        if quantity <= 0 {
            continue;
        }
        let action = screen.map_or(Action::Allow, |s| s.action_for(p.role, &p.beneficiary));
        if action == Action::Reject {
            booked.withheld.push(Withheld {
                beneficiary: p.beneficiary.clone(),
                role: p.role,
                kind: p.kind.clone(),
                reason: Reason::SuspectedFraud,
            });
            continue;
        }
        let review = match screen {
            Some(s) if action == Action::Hold => Some(HoldReason::Review {
                note: s.note(),
                screening: Some(Box::new(s.screening.clone())),
            }),
            _ => None,
        };
        let reservations = policy.reservations(
            program.id(),
            &ReservationInput {
                customer: &p.beneficiary,
                role: p.role,
                other: p.other.as_ref(),
                kind: &p.kind,
                at,
                rule: p.rule.as_ref(),
            },
        );
        let mut refused = None;
        // What each reservation may bring its counter to: its limit, less
        // what the other days of a rolling window used.
        let mut limits = Vec::with_capacity(reservations.len());
        for r in &reservations {
            let mut others = 0i64;
            for k in &r.window {
                others = others.saturating_add(counters.get(k).unwrap_or(0));
            }
            let limit = r.limit.saturating_sub(others);
            limits.push(limit);
            match counters.get(&r.key) {
                Some(used) if used.saturating_add(r.delta) > limit => {
                    refused.get_or_insert(match r.what {
                        Limit::Budget => Reason::BudgetExhausted,
                        _ => Reason::CapReached,
                    });
                }
                _ => {}
            }
        }
        // A once-keyed reward (a milestone, a contest prize) is booked at
        // most once per key and beneficiary, whatever the event or retry:
        // a counter limited to 1 says whether it was, atomically.
        let once = p
            .once_key
            .as_ref()
            .map(|key| CounterKey::program(program.id(), format!("once/{key}/{}", p.beneficiary)));
        if let Some(key) = &once {
            match counters.get(key) {
                Some(n) if n >= 1 => continue,
                _ => {}
            }
        }
        let unit = p.kind.unit();
        // Read the debt counter of everyone who may be repaid.
        let _ = counters.get(&debt_counter(program, &p.beneficiary, &unit));
        if !counters.missing.is_empty() {
            continue;
        }
        if let Some(reason) = refused {
            booked.withheld.push(Withheld {
                beneficiary: p.beneficiary.clone(),
                role: p.role,
                kind: p.kind.clone(),
                reason,
            });
            continue;
        }
        let id = match &p.once_key {
            Some(key) => once_reward_id(key, &p.beneficiary),
            None => {
                let (kind, id) = source.parts();
                let mut parts = vec![
                    kind,
                    id,
                    p.rule.as_ref().map_or("", Label::as_str),
                    p.role.as_str(),
                    p.beneficiary.as_str(),
                ];
                // A rule may grant one side several rewards (credit and
                // points): the second and later get the occurrence number.
                let base = reward_id(&parts);
                let n = seen.iter().filter(|b| **b == base).count();
                seen.push(base.clone());
                let n = n.to_string();
                if n == "0" {
                    base
                } else {
                    parts.push(&n);
                    reward_id(&parts)
                }
            }
        };
        let hold = policy.hold();
        let coupon = if matches!(p.kind, RewardKind::Coupon { .. }) {
            match counters.coupon() {
                Some(code) => Some(code),
                None => continue,
            }
        } else {
            None
        };
        let valid_for = match coupon {
            Some(_) => policy
                .coupons
                .valid_for_seconds
                .map(chrono::TimeDelta::seconds)
                .or(policy.valid_for()),
            None => policy.valid_for(),
        };
        let expires_at = match valid_for {
            None => None,
            Some(d) => Some(at.checked_add_signed(d).ok_or_else(|| {
                Error::new(ErrorKind::Overflow, "reward expiry is beyond the calendar")
            })?),
        };
        let release_at = match hold {
            None => None,
            Some(d) => Some(at.checked_add_signed(d).ok_or_else(|| {
                Error::new(ErrorKind::Overflow, "reward release is beyond the calendar")
            })?),
        };
        let mut reward = Reward {
            id,
            program: program.id().clone(),
            customer: p.beneficiary.clone(),
            role: p.role,
            kind: p.kind.clone(),
            unit,
            order: source.order().cloned(),
            rule: p.rule.clone(),
            rule_set_version: p.rule_set_version,
            terms_version: program.terms().version,
            variant: p.variant.clone(),
            once_key: p.once_key.clone(),
            earned_at: at,
            // A review waits for a person, whatever the hold period.
            release_at: if review.is_some() { None } else { release_at },
            hold: review.or(hold.map(|_| HoldReason::HoldPeriod)),
            expires_at,
            coupon,
            decision: None,
            reserved: Vec::new(),
            progress: Progress::default(),
        };
        if let Some(code) = coupon {
            booked.writes.push(Write::PutCode {
                record: CodeRecord {
                    program: program.id().clone(),
                    code,
                    owner: p.beneficiary.clone(),
                    origin: CodeOrigin::Coupon,
                    created_at: at,
                    expires_at,
                    max_uses: Some(1),
                    reward: Some(reward.id.clone()),
                    active: true,
                },
                expected: 0,
            });
        }
        if let Some(key) = once {
            counters.add(&key, 1);
            booked.writes.push(Write::AddToCounter {
                key,
                delta: 1,
                limit: Some(1),
            });
        }
        for (r, limit) in reservations.into_iter().zip(limits) {
            counters.add(&r.key, r.delta);
            reward.reserved.push((r.key.clone(), r.delta));
            booked.writes.push(Write::AddToCounter {
                key: r.key,
                delta: r.delta,
                limit: Some(limit),
            });
        }
        let kind = if reward.hold.is_some() {
            EntryKind::Held
        } else {
            EntryKind::Granted
        };
        let mut entries = vec![book(&mut reward, kind, quantity, &[], at, None, None)?];
        if kind == EntryKind::Granted {
            repay(
                program,
                &mut reward,
                counters,
                at,
                &mut entries,
                &mut booked.writes,
            )?;
            enqueue(&reward, at, &mut booked.writes);
        }
        booked.payouts.push(Payout {
            reward: reward.id.clone(),
            beneficiary: p.beneficiary.clone(),
            role: p.role,
            kind: p.kind.clone(),
            quantity,
            clawed_back: 0,
        });
        booked
            .writes
            .extend(entries.iter().cloned().map(Write::InsertLedgerEntry));
        booked.entries.extend(entries);
        booked.writes.push(Write::PutReward {
            record: Box::new(reward),
            expected: 0,
        });
    }
    let missing = counters.take_missing();
    if !missing.is_empty() || counters.coupons_wanted > 0 {
        return Ok(Step::Read(missing));
    }
    Ok(Step::Done(booked))
}

/// Takes `q` of a reward back for a refund: from what is pending
/// (cancelled), then what is available (reversed), then what was spent or
/// repaid (owed: a debt the customer sees, written off beyond the
/// program's debt limit). Gives back the budget and cap usage it no longer
/// holds.
///
/// Returns [`Step::Read`] until the customer's debt counter is read.
pub fn claw_back(
    program: &Program,
    reward: &mut Reward,
    q: i64,
    refund: &RefundId,
    at: DateTime<Utc>,
    counters: &mut Counters,
) -> Result<Step<Moves>, Error> {
    let key = debt_counter(program, &reward.customer, &reward.unit);
    if counters.get(&key).is_none() {
        return Ok(Step::Read(counters.take_missing()));
    }
    let standing_before = reward.progress.standing();
    let mut entries = Vec::new();
    let mut writes = Vec::new();
    // A hold period that ended before the refund: the reward was due for
    // release (whether or not the release job ran yet), so the refund
    // reverses it rather than cancelling it. Booked at the end of the hold,
    // as the job would have.
    if let (Some(HoldReason::HoldPeriod), None, Some(due)) =
        (&reward.hold, &reward.decision, reward.hold_due())
    {
        if due <= at {
            match release(program, reward, None, due, counters)? {
                Step::Read(keys) => return Ok(Step::Read(keys)),
                Step::Done((e, w)) => {
                    entries.extend(e);
                    writes.extend(w);
                }
            }
        }
    }
    let cause = [refund.as_str()];
    let r = Some(refund);
    let mut rest = q;
    let pending = rest.min(reward.progress.pending);
    if pending > 0 {
        entries.push(book(
            reward,
            EntryKind::Cancelled,
            pending,
            &cause,
            at,
            r,
            None,
        )?);
        rest -= pending;
    }
    let available = rest.min(reward.progress.available);
    if available > 0 {
        entries.push(book(
            reward,
            EntryKind::Reversed,
            available,
            &cause,
            at,
            r,
            None,
        )?);
        rest -= available;
    }
    let spent = reward.progress.redeemed + reward.progress.repaid - reward.progress.owed;
    let debt = rest.min(spent);
    if debt > 0 {
        entries.push(book(reward, EntryKind::Owed, debt, &cause, at, r, None)?);
        let limit = match (&reward.unit, program.ledger_policy().debt_limit) {
            (Unit::Money(c), Some(l)) if *c == l.currency() => Some(l.minor()),
            _ => None,
        };
        // Read after any repayment the release above booked.
        let owed_now = counters.get(&key).unwrap_or(0);
        let room = limit.map_or(debt, |l| (l - owed_now).clamp(0, debt));
        if room < debt {
            entries.push(book(
                reward,
                EntryKind::WrittenOff,
                debt - room,
                &cause,
                at,
                r,
                None,
            )?);
        }
        if room > 0 {
            counters.add(&key, room);
            writes.push(Write::AddToCounter {
                key,
                delta: room,
                limit,
            });
        }
    }
    give_back(reward, standing_before, &mut writes);
    // A release above queued the reward with what was available before
    // the refund took its part: queue only what is left, or nothing.
    let available = reward.progress.available;
    writes.retain_mut(|w| match w {
        Write::PutOutboxItem { record, .. } if record.reward == reward.id => {
            record.quantity = available;
            available > 0
        }
        _ => true,
    });
    Ok(Step::Done((entries, writes)))
}

/// Releases what is pending of a reward (its hold period passed, or a
/// reviewer approved it), repaying the customer's debt first.
pub fn release(
    program: &Program,
    reward: &mut Reward,
    decision: Option<ReviewDecision>,
    at: DateTime<Utc>,
    counters: &mut Counters,
) -> Result<Step<Moves>, Error> {
    let key = debt_counter(program, &reward.customer, &reward.unit);
    if counters.get(&key).is_none() {
        return Ok(Step::Read(counters.take_missing()));
    }
    let expiry = decision
        .as_ref()
        .and_then(|_| expiry_after_review(program, reward, at));
    if expiry.is_some() {
        reward.expires_at = expiry;
    }
    let q = reward.progress.pending;
    let mut entries = vec![book(
        reward,
        EntryKind::Released,
        q,
        &["release"],
        at,
        None,
        None,
    )?];
    let mut writes = Vec::new();
    repay(program, reward, counters, at, &mut entries, &mut writes)?;
    enqueue(reward, at, &mut writes);
    if decision.is_some() {
        reward.decision = decision;
    }
    Ok(Step::Done((entries, writes)))
}

/// The expiry a reward held for review takes when a reviewer approves it
/// at `at`, if later than the one it was earned with: a review waits for a
/// person, and it never shortens the time the customer has to spend the
/// reward. That time (its validity less the program's hold period as it
/// is at the approval; none if the validity is the shorter, as a coupon's
/// may be) is counted from the approval instead of from the end of the
/// hold, up to the end of the calendar. `None` for any other reward, one
/// without an expiry, or an approval early enough.
pub fn expiry_after_review(
    program: &Program,
    reward: &Reward,
    at: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if !matches!(reward.hold, Some(HoldReason::Review { .. })) {
        return None;
    }
    let expires = reward.expires_at?;
    let hold = program.ledger_policy().hold().unwrap_or_default();
    let spendable_from = reward
        .earned_at
        .checked_add_signed(hold)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let window = expires
        .signed_duration_since(spendable_from)
        .max(chrono::TimeDelta::zero());
    let moved = at
        .checked_add_signed(window)
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    (moved > expires).then_some(moved)
}

/// Cancels what is pending of a reward (a reviewer rejected it) and gives
/// back its budget and cap usage.
pub fn reject(
    reward: &mut Reward,
    decision: ReviewDecision,
    at: DateTime<Utc>,
) -> Result<Moves, Error> {
    let q = reward.progress.pending;
    let standing_before = reward.progress.standing();
    let entry = book(reward, EntryKind::Cancelled, q, &["reject"], at, None, None)?;
    reward.decision = Some(decision);
    let mut writes = Vec::new();
    give_back(reward, standing_before, &mut writes);
    Ok((vec![entry], writes))
}

/// Expires what is available of a reward and gives back its budget and
/// cap usage (it was never spent).
pub fn expire(reward: &mut Reward, at: DateTime<Utc>) -> Result<Moves, Error> {
    let q = reward.progress.available;
    let standing_before = reward.progress.standing();
    let entry = book(reward, EntryKind::Expired, q, &["expire"], at, None, None)?;
    let mut writes = Vec::new();
    give_back(reward, standing_before, &mut writes);
    Ok((vec![entry], writes))
}

/// Spends `q` of what is available of a reward.
pub fn redeem(
    reward: &mut Reward,
    q: i64,
    redemption: &RedemptionId,
    at: DateTime<Utc>,
) -> Result<LedgerEntry, Error> {
    book(
        reward,
        EntryKind::Redeemed,
        q,
        &[redemption.as_str()],
        at,
        None,
        Some(redemption),
    )
}

/// The writes that store a changed reward at the version read.
pub fn put(reward: Reward, read: &Versioned<Reward>) -> Write {
    Write::PutReward {
        record: Box::new(reward),
        expected: read.version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = entry_id(&["reward", "referrer", "o1"]);
        assert_eq!(a, entry_id(&["reward", "referrer", "o1"]));
        assert_ne!(a, entry_id(&["reward", "referee", "o1"]));
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        assert_ne!(entry_id(&["ab", "c"]), entry_id(&["a", "bc"]));
        assert_eq!(a.as_str().len(), 35);
        assert_eq!(reward_id(&["x"]).as_str().len(), 35);
    }
}

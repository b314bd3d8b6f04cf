//! A seeded, deterministic simulation of the engine, in the spirit of
//! TigerBeetle's VOPR: random histories generated from a `u64` seed go
//! through an engine over a (possibly faulty) store, and an auditor checks
//! the whole state after every step.
//!
//! Shared by `tests/simulation.rs` (over `FaultyStore`, feature `testing`)
//! and `examples/simulate.rs` (default features: its own fault wrapper), so
//! it needs nothing beyond the crate's default features and tokio.
//!
//! Each history draws a program from its seed (a hold period, a validity, a
//! money budget with or without overdraft, a referrer cap, a debt limit,
//! the reward amounts; each present or not), then a few dozen operations:
//! codes issued, touches, signups with typed codes, conversions, refunds
//! (partial and full, before and after release and redemption, and dated
//! before their order: refused), redemptions (partial, and more than is
//! available: refused), approvals and rejections of pending rewards,
//! `release_due` and `expire_due` batches, replays of earlier events (the
//! first outcome again) and ids reused for other events (refused). The
//! clock only moves forward, but for replays and the backdated refunds.
//!
//! Adding an operation: a variant of [`Op`], its call in [`call`], a
//! generator in [`GENERATORS`] and, if the outcome can be predicted from
//! the state before it, an oracle in [`check_step`]. The auditor
//! ([`audit`]) needs nothing new unless the operation adds records.

// Each includer uses a different part of the module.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use referrals::engine::book::debt_counter;
use referrals::engine::{BatchReport, Engine, block_on};
use referrals::ledger::{
    Balance, Budget, Cap, CapMeasure, CapPeriod, CapSubject, EntryKind, LedgerEntry, LedgerPolicy,
    Limit, Progress, ReservationInput, still_reserved,
};
use referrals::model::{
    Actor, Channel, Conversion, CustomerId, EventId, OperatorId, OrderId, Redemption, RedemptionId,
    Refund, RefundAmount, RefundId, RewardId, Signup, Touch, TouchKind, VisitorId,
};
use referrals::program::{Incentive, TwoSidedReward};
use referrals::rand::SeedableRng;
use referrals::rand::rngs::StdRng;
use referrals::reward::{Role, Unit};
use referrals::store::{
    ConversionOutcome, CounterKey, MemoryState, Outcome, Reason, Request, Reward, Store,
};
use referrals::{Code, Currency, ErrorKind, MemoryStore, Money, Program};

/// Attempts per call before the driver gives up on a retryable error (as
/// a host's bounded retry would). With the fault rates below a call
/// succeeds at least about half the time, so 0.5^64 per call.
pub const MAX_ATTEMPTS: u32 = 64;

/// How many recent steps a failure report shows.
const TRACE: usize = 16;

/// Returns `Err(message)` from the enclosing function unless `cond`.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// SplitMix64, as in `FaultyStore`: a stream no dependency update can
/// change, so a printed seed replays the same history forever.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo) as u64 + 1) as i64
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One of `items`, if any.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            return None;
        }
        Some(&items[self.below(items.len() as u64) as usize])
    }
}

/// What a history's program and store look like, drawn from its seed.
#[derive(Debug, Clone)]
pub struct Config {
    /// The ledger policy: hold, validity, budget, cap, debt limit.
    pub policy: LedgerPolicy,
    /// The referrer's reward, in halalas.
    pub referrer: i64,
    /// The referee's reward, in halalas.
    pub referee: i64,
    /// Rewarded conversions per referee.
    pub max_rewarded: Option<u32>,
    /// Commit faults before apply, in basis points.
    pub fail_before_bps: u32,
    /// Commit faults after apply, in basis points.
    pub fail_after_bps: u32,
    /// Read faults, in basis points.
    pub fail_reads_bps: u32,
    /// Operations in the history.
    pub steps: u64,
}

fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

const DAY: i64 = 86_400;

impl Config {
    /// The configuration of history `seed` (drawn from its own stream, so
    /// that changing the generator of operations leaves it alone).
    pub fn draw(seed: u64) -> Config {
        let mut rng = Rng::new(seed ^ 0x5EED_C0FF_EE00_0000);
        let hold = rng.chance(60).then(|| rng.range(1, 10) * DAY);
        let valid = rng
            .chance(50)
            .then(|| hold.unwrap_or(0) + rng.range(1, 30) * DAY + rng.range(0, DAY));
        let budget = rng.chance(60).then(|| Budget {
            limit: sar(rng.range(0, 15) * 1000 + rng.range(0, 999)),
            overdraft: rng.chance(40).then(|| sar(rng.range(0, 3000))),
            shared: None,
        });
        let cap = rng.chance(50).then(|| {
            let count = rng.chance(50);
            Cap {
                on: CapSubject::Referrer,
                measure: if count {
                    CapMeasure::Count
                } else {
                    CapMeasure::Value
                },
                limit: if count {
                    rng.range(1, 4)
                } else {
                    rng.range(1, 8000)
                },
                period: if rng.chance(50) {
                    CapPeriod::Month
                } else {
                    CapPeriod::Lifetime
                },
                shared: None,
            }
        });
        let debt_limit = rng.chance(50).then(|| sar(rng.range(0, 3000)));
        let faults = !rng.chance(15);
        Config {
            policy: LedgerPolicy {
                hold_seconds: hold,
                valid_for_seconds: valid,
                budget,
                caps: cap.into_iter().collect(),
                debt_limit,
                ..LedgerPolicy::default()
            },
            referrer: rng.range(100, 3000),
            referee: rng.range(100, 2000),
            max_rewarded: match rng.below(4) {
                0 => None,
                n => Some(n as u32),
            },
            fail_before_bps: if faults { rng.range(0, 1500) as u32 } else { 0 },
            fail_after_bps: if faults { rng.range(0, 1500) as u32 } else { 0 },
            fail_reads_bps: if faults && rng.chance(50) {
                rng.range(0, 300) as u32
            } else {
                0
            },
            steps: rng.range(15, 40) as u64,
        }
    }

    /// The program this configuration describes.
    pub fn program(&self) -> Program {
        Program::builder("sim", "Simulation")
            .currency(Currency::SAR)
            .lookback_days(30)
            .incentive(Incentive::TwoSided(
                TwoSidedReward::new(sar(self.referrer), sar(self.referee))
                    .with_max_rewarded_conversions(self.max_rewarded),
            ))
            .ledger_policy(self.policy.clone())
            .build()
            .expect("the simulation's programs are valid")
    }
}

/// What the simulation needs of a store besides the trait: the state
/// behind it, and how many faults it injected.
pub trait Inspect {
    /// A copy of everything stored.
    fn state(&self) -> MemoryState;
    /// Faults injected so far.
    fn faults(&self) -> u64 {
        0
    }
}

impl Inspect for MemoryStore {
    fn state(&self) -> MemoryState {
        self.snapshot()
    }
}

/// One call a host (or its jobs, or its staff) makes.
#[derive(Debug, Clone)]
pub enum Op {
    /// A customer asks for their code.
    IssueCode {
        /// Who.
        customer: CustomerId,
        /// When.
        at: DateTime<Utc>,
    },
    /// A click, visit or share.
    Touch(Touch),
    /// A signup, often with a typed code.
    Signup(Signup),
    /// An order.
    Conversion(Conversion),
    /// A refund.
    Refund(Refund),
    /// Spending a reward.
    Redeem(Redemption),
    /// Staff approve a pending reward.
    Approve {
        /// Which.
        reward: RewardId,
        /// When.
        at: DateTime<Utc>,
    },
    /// Staff reject a pending reward.
    Reject {
        /// Which.
        reward: RewardId,
        /// When.
        at: DateTime<Utc>,
    },
    /// The release job.
    ReleaseDue {
        /// Its clock.
        now: DateTime<Utc>,
        /// Its batch size.
        limit: usize,
    },
    /// The expiry job.
    ExpireDue {
        /// Its clock.
        now: DateTime<Utc>,
        /// Its batch size.
        limit: usize,
    },
    /// An earlier event sent again: must answer as the first time.
    Replay {
        /// The event, as first sent.
        op: Box<Op>,
        /// Its first answer.
        first: Answer,
    },
    /// An earlier event's id with other data: `IdempotencyMismatch`.
    Reuse(Box<Op>),
}

impl Op {
    /// The call made (a replay's or reuse's event).
    pub fn base(&self) -> &Op {
        match self {
            Op::Replay { op, .. } | Op::Reuse(op) => op.base(),
            other => other,
        }
    }

    /// The operation's name, for statistics.
    pub fn name(&self) -> &'static str {
        match self {
            Op::IssueCode { .. } => "issue_code",
            Op::Touch(_) => "touch",
            Op::Signup(_) => "signup",
            Op::Conversion(_) => "conversion",
            Op::Refund(_) => "refund",
            Op::Redeem(_) => "redeem",
            Op::Approve { .. } => "approve",
            Op::Reject { .. } => "reject",
            Op::ReleaseDue { .. } => "release_due",
            Op::ExpireDue { .. } => "expire_due",
            Op::Replay { .. } => "replay",
            Op::Reuse(_) => "reuse",
        }
    }

    /// The request an event is remembered by, for events with ids.
    pub fn request(&self) -> Option<Request> {
        Some(match self {
            Op::Touch(t) => Request::Touch(t.clone()),
            Op::Signup(s) => Request::Signup(s.clone()),
            Op::Conversion(c) => Request::Conversion(c.clone()),
            Op::Refund(r) => Request::Refund(r.clone()),
            Op::Redeem(r) => Request::Redemption(r.clone()),
            _ => return None,
        })
    }
}

/// What a call answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The customer's code.
    Code(Code),
    /// An event's outcome.
    Event(Outcome),
    /// A reviewed reward.
    Reward(Box<Reward>),
    /// A job's batch.
    Batch(BatchReport),
    /// A refusal (not retryable), by kind, with its message.
    Failed(ErrorKind, String),
}

fn operator() -> OperatorId {
    OperatorId::new("staff:sim").expect("a valid operator id")
}

/// One call, no retries.
pub async fn call<S: Store>(engine: &Engine<S>, op: &Op) -> Result<Answer, referrals::Error> {
    Ok(match op.base() {
        Op::IssueCode { customer, at } => {
            Answer::Code(engine.issue_code(customer, *at).await?.record.code)
        }
        Op::Touch(t) => Answer::Event(Outcome::Touch(engine.record_touch(t).await?)),
        Op::Signup(s) => Answer::Event(Outcome::Signup(engine.record_signup(s).await?)),
        Op::Conversion(c) => Answer::Event(Outcome::Conversion(engine.record_conversion(c).await?)),
        Op::Refund(r) => Answer::Event(Outcome::Refund(engine.record_refund(r).await?)),
        Op::Redeem(r) => Answer::Event(Outcome::Redemption(engine.redeem(r).await?)),
        Op::Approve { reward, at } => Answer::Reward(Box::new(
            engine
                .approve(reward, &operator(), "looks fine", *at)
                .await?,
        )),
        Op::Reject { reward, at } => Answer::Reward(Box::new(
            engine
                .reject(reward, &operator(), "looks wrong", *at)
                .await?,
        )),
        Op::ReleaseDue { now, limit } => Answer::Batch(engine.release_due(*now, *limit).await?),
        Op::ExpireDue { now, limit } => Answer::Batch(engine.expire_due(*now, *limit).await?),
        Op::Replay { .. } | Op::Reuse(_) => unreachable!("base() unwraps them"),
    })
}

/// One call, retried while its error is retryable, as a host would: the
/// answer and the attempts made. `Err` if still failing after
/// [`MAX_ATTEMPTS`].
pub async fn call_retrying<S: Store>(engine: &Engine<S>, op: &Op) -> Result<(Answer, u32), String> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call(engine, op).await {
            Ok(answer) => return Ok((answer, attempt)),
            Err(err) if err.is_retryable() && attempt < MAX_ATTEMPTS => continue,
            Err(err) if err.is_retryable() => {
                return Err(format!(
                    "{} still failing after {attempt} attempts: {err}",
                    op.name()
                ));
            }
            Err(err) => return Ok((Answer::Failed(err.kind(), err.to_string()), attempt)),
        }
    }
}

/// What the generator knows: what it created and what the engine answered.
#[derive(Debug)]
pub struct World {
    /// The history's configuration.
    pub config: Config,
    /// Its program.
    pub program: Program,
    now: DateTime<Utc>,
    next: u64,
    /// Customers who may ask for a code.
    owners: Vec<CustomerId>,
    codes: Vec<Code>,
    visitors: Vec<VisitorId>,
    /// Customers whose signup was recorded.
    customers: Vec<CustomerId>,
    /// Recorded orders.
    orders: Vec<Conversion>,
    rewards: Vec<RewardId>,
    /// Events whose outcome the store remembers, with their first answer.
    remembered: Vec<(Op, Answer)>,
    /// The state after the last step.
    state: MemoryState,
}

/// Makes one operation from what the world knows; `None` if it cannot yet
/// (no code to touch, no order to refund).
pub type Generator = fn(&mut World, &mut Rng) -> Option<Op>;

/// Every operation the simulation drives, with its weight.
pub const GENERATORS: &[(&str, u64, Generator)] = &[
    ("issue_code", 5, gen_issue_code),
    ("touch", 8, gen_touch),
    ("signup", 14, gen_signup),
    ("conversion", 16, gen_conversion),
    ("refund", 10, gen_refund),
    ("redeem", 10, gen_redeem),
    ("approve", 4, gen_approve),
    ("reject", 3, gen_reject),
    ("release_due", 5, gen_release_due),
    ("expire_due", 4, gen_expire_due),
    ("replay", 7, gen_replay),
    ("reuse", 2, gen_reuse),
];

fn gen_issue_code(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let customer = rng.pick(&w.owners)?.clone();
    Some(Op::IssueCode {
        customer,
        at: w.now,
    })
}

fn gen_touch(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let code = *rng.pick(&w.codes)?;
    let actor = match rng.pick(&w.customers) {
        Some(c) if rng.chance(20) => Actor::Customer(c.clone()),
        _ => Actor::Visitor(rng.pick(&w.visitors)?.clone()),
    };
    let kind = match rng.below(10) {
        0..6 => TouchKind::Click,
        6..9 => TouchKind::Visit,
        _ => TouchKind::Share,
    };
    Some(Op::Touch(Touch {
        id: EventId::new(format!("t{}", w.id())).ok()?,
        actor,
        code,
        channel: if rng.chance(50) {
            Channel::WhatsApp
        } else {
            Channel::Link
        },
        kind,
        at: w.now,
    }))
}

fn gen_signup(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let n = w.id();
    let customer = match rng.pick(&w.customers) {
        // Signed up already, under another event: refused as a duplicate.
        Some(c) if rng.chance(4) => c.clone(),
        _ => CustomerId::new(format!("c{n}")).ok()?,
    };
    let code = if rng.chance(75) {
        rng.pick(&w.codes).copied()
    } else {
        None
    };
    let visitor = if rng.chance(50) {
        rng.pick(&w.visitors).cloned()
    } else {
        None
    };
    Some(Op::Signup(Signup {
        id: EventId::new(format!("s{n}")).ok()?,
        customer,
        visitor,
        code,
        channel: None,
        at: w.now,
    }))
}

fn gen_conversion(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let n = w.id();
    let customer = match rng.pick(&w.customers) {
        Some(c) if rng.chance(92) => c.clone(),
        // Never signed up: not a referred purchase, not remembered.
        _ => CustomerId::new(format!("stranger{n}")).ok()?,
    };
    let minor = if rng.chance(3) {
        0
    } else {
        rng.range(1, 40_000)
    };
    Some(Op::Conversion(Conversion {
        order: OrderId::new(format!("o{n}")).ok()?,
        customer,
        amount: sar(minor),
        at: w.now,
    }))
}

fn gen_refund(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let order = rng.pick(&w.orders)?.clone();
    let n = w.id();
    let roll = rng.below(100);
    let (amount, at) = if roll < 8 {
        // Dated before the order: refused.
        (
            RefundAmount::Full,
            order.at - TimeDelta::seconds(rng.range(1, DAY)),
        )
    } else if roll < 45 {
        (RefundAmount::Full, w.now)
    } else {
        let value = order.amount.minor().max(1);
        // Up to the whole value: more than what is left is refused.
        (RefundAmount::Partial(sar(rng.range(1, value))), w.now)
    };
    Some(Op::Refund(Refund {
        id: RefundId::new(format!("rf{n}")).ok()?,
        order: order.order,
        amount,
        at,
    }))
}

fn gen_redeem(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let reward = rng.pick(&w.rewards)?.clone();
    let p = w.state.reward(w.program.id(), &reward)?.record.progress;
    let available = p.available;
    let roll = rng.below(100);
    let quantity = if roll < 40 && available > 0 {
        rng.range(1, available)
    } else if roll < 55 {
        // All of it; nothing when nothing is available (refused).
        available
    } else if roll < 80 {
        // More than is available: refused.
        available + rng.range(1, 500)
    } else {
        rng.range(1, p.quantity.max(1))
    };
    let n = w.id();
    Some(Op::Redeem(Redemption {
        id: RedemptionId::new(format!("rd{n}")).ok()?,
        reward,
        quantity,
        at: w.now,
    }))
}

/// A reward to review: mostly one still pending.
fn review_target(w: &World, rng: &mut Rng) -> Option<RewardId> {
    let pending: Vec<RewardId> = w
        .rewards
        .iter()
        .filter(|id| {
            w.state
                .reward(w.program.id(), id)
                .is_some_and(|v| v.record.progress.pending > 0)
        })
        .cloned()
        .collect();
    if !pending.is_empty() && rng.chance(80) {
        return rng.pick(&pending).cloned();
    }
    rng.pick(&w.rewards).cloned()
}

fn gen_approve(w: &mut World, rng: &mut Rng) -> Option<Op> {
    Some(Op::Approve {
        reward: review_target(w, rng)?,
        at: w.now,
    })
}

fn gen_reject(w: &mut World, rng: &mut Rng) -> Option<Op> {
    Some(Op::Reject {
        reward: review_target(w, rng)?,
        at: w.now,
    })
}

fn gen_release_due(w: &mut World, rng: &mut Rng) -> Option<Op> {
    Some(Op::ReleaseDue {
        now: w.now,
        limit: rng.range(1, 6) as usize,
    })
}

fn gen_expire_due(w: &mut World, rng: &mut Rng) -> Option<Op> {
    Some(Op::ExpireDue {
        now: w.now,
        limit: rng.range(1, 6) as usize,
    })
}

fn gen_replay(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let (op, first) = rng.pick(&w.remembered)?.clone();
    Some(Op::Replay {
        op: Box::new(op),
        first,
    })
}

fn gen_reuse(w: &mut World, rng: &mut Rng) -> Option<Op> {
    let (op, _) = rng.pick(&w.remembered)?;
    let second = TimeDelta::seconds(1);
    let other = match op.clone() {
        Op::Touch(t) => Op::Touch(Touch {
            at: t.at + second,
            ..t
        }),
        Op::Signup(s) => Op::Signup(Signup {
            at: s.at + second,
            ..s
        }),
        Op::Conversion(c) => Op::Conversion(Conversion {
            amount: sar(c.amount.minor() + 1),
            ..c
        }),
        Op::Refund(r) => Op::Refund(Refund {
            at: r.at + second,
            ..r
        }),
        Op::Redeem(r) => Op::Redeem(Redemption {
            quantity: r.quantity + 1,
            ..r
        }),
        _ => return None,
    };
    Some(Op::Reuse(Box::new(other)))
}

impl World {
    /// A fresh world for `config`.
    pub fn new(config: Config) -> World {
        let program = config.program();
        World {
            program,
            config,
            now: Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap(),
            next: 0,
            owners: (0..4)
                .map(|i| CustomerId::new(format!("ref{i}")).unwrap())
                .collect(),
            codes: Vec::new(),
            visitors: (0..6)
                .map(|i| VisitorId::new(format!("v{i}")).unwrap())
                .collect(),
            customers: Vec::new(),
            orders: Vec::new(),
            rewards: Vec::new(),
            remembered: Vec::new(),
            state: MemoryState::new(),
        }
    }

    fn id(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Moves the clock forward: minutes to hours, sometimes days (past
    /// holds, validities and the lookback).
    pub fn tick(&mut self, rng: &mut Rng) {
        self.now += TimeDelta::seconds(rng.range(1, 6 * 3600));
        if rng.chance(8) {
            self.now += TimeDelta::days(rng.range(1, 12));
        }
    }

    /// The next operation.
    pub fn generate(&mut self, rng: &mut Rng) -> Op {
        let total: u64 = GENERATORS.iter().map(|(_, w, _)| w).sum();
        // The first history steps have no code yet: issue them first.
        if self.codes.len() < 2 && rng.chance(60) {
            if let Some(op) = gen_issue_code(self, rng) {
                return op;
            }
        }
        for _ in 0..16 {
            let mut roll = rng.below(total);
            for (_, weight, generate) in GENERATORS {
                if roll < *weight {
                    if let Some(op) = generate(self, rng) {
                        return op;
                    }
                    break;
                }
                roll -= weight;
            }
        }
        Op::ReleaseDue {
            now: self.now,
            limit: 10,
        }
    }

    /// Learns from an answer what later operations may use.
    pub fn learn(&mut self, op: &Op, answer: &Answer, after: &MemoryState) {
        let pid = self.program.id();
        match (op, answer) {
            (Op::IssueCode { .. }, Answer::Code(code)) if !self.codes.contains(code) => {
                self.codes.push(*code);
            }
            (Op::Signup(s), Answer::Event(_)) if !self.customers.contains(&s.customer) => {
                self.customers.push(s.customer.clone());
                self.owners.push(s.customer.clone());
            }
            (Op::Conversion(c), Answer::Event(Outcome::Conversion(o))) => {
                if after.conversion(pid, &c.order).is_some()
                    && !self.orders.iter().any(|x| x.order == c.order)
                {
                    self.orders.push(c.clone());
                }
                if let ConversionOutcome::Rewarded { payouts, .. } = o {
                    for p in payouts {
                        if !self.rewards.contains(&p.reward) {
                            self.rewards.push(p.reward.clone());
                        }
                    }
                }
            }
            _ => {}
        }
        if let (Some(request), Answer::Event(_)) = (op.request(), answer) {
            let key = request.key();
            if after.idempotency(pid, &key).is_some()
                && !self
                    .remembered
                    .iter()
                    .any(|(o, _)| o.request().is_some_and(|r| r.key() == key))
            {
                self.remembered.push((op.clone(), answer.clone()));
            }
        }
    }
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// Histories run.
    pub histories: u64,
    /// Operations run (steps; a concurrent batch counts each of its ops).
    pub ops: u64,
    /// Calls made, retries included.
    pub attempts: u64,
    /// Faults the stores injected.
    pub faults: u64,
    /// Refusals (non-retryable errors) answered.
    pub refused: u64,
    /// Operations by name.
    pub by_op: BTreeMap<&'static str, u64>,
}

impl Report {
    /// Adds another run's figures.
    pub fn add(&mut self, other: &Report) {
        self.histories += other.histories;
        self.ops += other.ops;
        self.attempts += other.attempts;
        self.faults += other.faults;
        self.refused += other.refused;
        for (k, v) in &other.by_op {
            *self.by_op.entry(k).or_default() += v;
        }
    }

    fn count(&mut self, op: &Op, answer: &Answer, attempts: u32) {
        self.ops += 1;
        self.attempts += u64::from(attempts);
        *self.by_op.entry(op.name()).or_default() += 1;
        if matches!(answer, Answer::Failed(..)) {
            self.refused += 1;
        }
    }
}

/// How a history runs: one call at a time (every outcome checked against
/// the state before it), or with some steps running a few calls at once on
/// a multi-threaded tokio runtime (invariants only for those steps).
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// One call at a time, on the calling thread.
    Sequential,
    /// Some steps (`percent` of them) spawn a few calls at once.
    Concurrent {
        /// The runtime to spawn on (multi-threaded).
        runtime: &'a tokio::runtime::Runtime,
        /// The share of concurrent steps.
        percent: u64,
    },
}

/// Runs history `seed` over the store `make` returns for its
/// configuration. `Err` names the seed, the step, what broke, the
/// configuration and the last steps.
pub fn run_history<S, F>(
    seed: u64,
    make: F,
    mode: Mode<'_>,
    strictness: Strictness,
) -> Result<Report, String>
where
    S: Store + Inspect + 'static,
    F: FnOnce(&Config) -> S,
{
    let config = Config::draw(seed);
    let store = make(&config);
    let mut world = World::new(config);
    let engine =
        Arc::new(Engine::new(store, world.program.clone()).with_rng(StdRng::seed_from_u64(seed)));
    let mut rng = Rng::new(seed);
    let mut report = Report {
        histories: 1,
        ..Report::default()
    };
    let mut trace: VecDeque<(Op, Answer)> = VecDeque::with_capacity(TRACE + 1);
    let fail = |step: u64, msg: String, world: &World, trace: &VecDeque<(Op, Answer)>| {
        let mut out = format!(
            "simulation failed: seed {seed} (replay: SIM_SEED={seed}), step {step}: {msg}\nconfig: {:?}\nlast steps, oldest first:\n",
            world.config
        );
        for (op, answer) in trace {
            out.push_str(&format!("  {op:?}\n    -> {answer:?}\n"));
        }
        out
    };
    for step in 0..world.config.steps {
        world.tick(&mut rng);
        let concurrent = match mode {
            Mode::Concurrent { runtime, percent } if rng.chance(percent) => Some(runtime),
            _ => None,
        };
        let result = match concurrent {
            None => {
                let op = world.generate(&mut rng);
                let before = std::mem::take(&mut world.state);
                let done = block_on(call_retrying(&engine, &op));
                let after = engine.store().state();
                let checked = done.and_then(|(answer, attempts)| {
                    report.count(&op, &answer, attempts);
                    trace.push_back((op.clone(), answer.clone()));
                    check_step(&world.program, &before, &op, &answer, &after)?;
                    world.learn(&op, &answer, &after);
                    Ok(())
                });
                world.state = after;
                checked
            }
            Some(runtime) => {
                let n = rng.range(2, 5);
                let mut ops: Vec<Op> = (0..n).map(|_| world.generate(&mut rng)).collect();
                if rng.chance(40) {
                    // A duplicate delivery, at the same time as the first.
                    let dup = rng.pick(&ops).cloned().expect("ops is not empty");
                    ops.push(dup);
                }
                let done = runtime.block_on(run_concurrently(&engine, &ops));
                let after = engine.store().state();
                let checked = done.and_then(|answers| {
                    for (op, (answer, attempts)) in ops.iter().zip(answers) {
                        report.count(op, &answer, attempts);
                        trace.push_back((op.clone(), answer.clone()));
                        check_remembered(&world.program, op, &answer, &after)?;
                        world.learn(op, &answer, &after);
                    }
                    Ok(())
                });
                world.state = after;
                checked
            }
        };
        while trace.len() > TRACE {
            trace.pop_front();
        }
        if let Err(msg) =
            result.and_then(|()| audit(&world.program, &world.orders, &world.state, strictness))
        {
            return Err(fail(step, msg, &world, &trace));
        }
    }
    report.faults = engine.store().faults();
    Ok(report)
}

/// Runs `ops` at once, each in its own task, each retried as a host would.
async fn run_concurrently<S: Store + 'static>(
    engine: &Arc<Engine<S>>,
    ops: &[Op],
) -> Result<Vec<(Answer, u32)>, String> {
    let tasks: Vec<_> = ops
        .iter()
        .cloned()
        .map(|op| {
            let engine = Arc::clone(engine);
            tokio::spawn(async move { call_retrying(&engine, &op).await })
        })
        .collect();
    let mut out = Vec::with_capacity(tasks.len());
    for task in tasks {
        out.push(task.await.map_err(|e| format!("a task failed: {e}"))??);
    }
    Ok(out)
}

/// The balance of `unit` a state keeps for `customer` (zero if none).
fn balance(state: &MemoryState, program: &Program, customer: &CustomerId) -> Balance {
    let unit = Unit::Money(program.currency());
    state
        .balances(program.id(), customer)
        .into_iter()
        .find(|b| b.unit == unit)
        .unwrap_or_else(|| Balance::zero(unit))
}

/// Checks that hold whatever ran beside the call: an event's answer is the
/// outcome the store remembers for it; a replay answers as the first time;
/// a reused id is refused.
fn check_remembered(
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
    if matches!(answer, Answer::Failed(..)) {
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
                    let full = |limit: fn(&Limit) -> bool| {
                        wanted
                            .iter()
                            .any(|r| limit(&r.what) && after.counter(&r.key) + r.delta > r.limit)
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
fn check_refund(
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
    let customers: BTreeSet<&CustomerId> = rec.payouts.iter().map(|p| &p.beneficiary).collect();
    for c in customers {
        let (b0, b1) = (balance(before, program, c), balance(after, program, c));
        let (mut pending, mut available) = (0, 0);
        for p in rec.payouts.iter().filter(|p| p.beneficiary == *c) {
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
            .filter(|e| e.customer == *c)
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

/// How strictly the auditor holds the engine to laws it is known to break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strictness {
    /// Every law, exactly.
    Strict,
    /// Known bugs would be checked in a weaker form here, so that long
    /// runs keep looking for new ones. None at present: the one the
    /// simulation found (a second drop in a reward's standing gave back
    /// too much budget) is fixed, and its seeds run strictly in the suite.
    KnownBugs,
}

/// The auditor: the laws of the whole state, checked after every step.
///
/// - every kept balance equals the fold of the entries, and none is
///   negative; a customer's debt counter equals what they owe, within the
///   debt limit;
/// - every reward's progress equals the fold of its entries and splits its
///   quantity exactly; it was earned once, its hold resolved at most once
///   (one release; released and cancelled never beyond what was held);
/// - every reward was earned by a recorded conversion that lists it, and
///   stands no higher than what refunds left of it;
/// - what each reward reserves is recomputed from the policy and its
///   standing (see [`Strictness`]); every budget and cap counter equals
///   the sum of what the standing rewards reserve, within its limit (a
///   budget's overdraft included); no counter is negative;
/// - every recorded order's clawbacks follow `floor(reward × refunded /
///   value)`, and a fully refunded order's rewards stand at zero;
/// - no ledger entry id twice.
pub fn audit(
    program: &Program,
    orders: &[Conversion],
    state: &MemoryState,
    strictness: Strictness,
) -> Result<(), String> {
    let pid = program.id();
    let policy = program.ledger_policy();
    let entries = state.all_ledger_entries();
    let mut ids = HashSet::new();
    let mut by_reward: HashMap<&RewardId, Vec<&LedgerEntry>> = HashMap::new();
    for e in &entries {
        ensure!(ids.insert(&e.id), "ledger entry {} is stored twice", e.id);
        ensure!(e.quantity > 0, "entry {} moves {}", e.id, e.quantity);
        by_reward.entry(&e.reward).or_default().push(e);
    }

    let folded = referrals::ledger::fold_balances(&entries);
    let kept = state.all_balances();
    ensure!(
        kept.len() == folded.len(),
        "{} kept balances, {} folded",
        kept.len(),
        folded.len()
    );
    for (_, customer, b) in &kept {
        let f = folded.get(&(customer.clone(), b.unit.clone()));
        ensure!(
            f == Some(b),
            "{customer}'s kept balance {b:?} is not the fold {f:?}"
        );
        ensure!(
            b.pending >= 0 && b.available >= 0 && b.redeemed >= 0 && b.owed >= 0,
            "{customer}'s balance {b:?} is negative"
        );
        let debt = state.counter(&debt_counter(program, customer, &b.unit));
        ensure!(
            debt == b.owed,
            "{customer}'s debt counter is {debt}, they owe {}",
            b.owed
        );
        if let Some(limit) = policy.debt_limit {
            ensure!(
                b.owed <= limit.minor(),
                "{customer} owes {} beyond the debt limit {limit}",
                b.owed
            );
        }
    }

    // Counter -> (what the standing rewards reserve, its limit).
    let mut reserved: BTreeMap<CounterKey, (i64, i64)> = BTreeMap::new();
    for v in state.all_rewards() {
        let r = v.record;
        let id = &r.id;
        let mine: &[&LedgerEntry] = by_reward.get(id).map_or(&[], Vec::as_slice);
        let p = r.progress;
        let f = Progress::folded(mine.iter().copied());
        ensure!(f == p, "reward {id}: progress {p:?} is not its fold {f:?}");
        ensure!(
            p.quantity
                == p.pending
                    + p.available
                    + p.redeemed
                    + p.cancelled
                    + p.expired
                    + p.reversed
                    + p.repaid,
            "reward {id}: {p:?} does not split its quantity"
        );
        ensure!(
            [
                p.pending,
                p.available,
                p.redeemed,
                p.cancelled,
                p.expired,
                p.reversed,
                p.repaid,
                p.written_off
            ]
            .iter()
            .all(|x| *x >= 0)
                && p.owed <= p.redeemed + p.repaid
                && p.written_off <= p.owed,
            "reward {id}: {p:?} is out of bounds"
        );
        let count = |k: EntryKind| mine.iter().filter(|e| e.kind == k).count();
        let sum = |k: EntryKind| -> i64 {
            mine.iter()
                .filter(|e| e.kind == k)
                .map(|e| e.quantity)
                .sum()
        };
        ensure!(
            count(EntryKind::Held) + count(EntryKind::Granted) == 1,
            "reward {id} was earned {} times",
            count(EntryKind::Held) + count(EntryKind::Granted)
        );
        ensure!(
            count(EntryKind::Released) <= 1,
            "reward {id} was released {} times",
            count(EntryKind::Released)
        );
        ensure!(
            sum(EntryKind::Released) + sum(EntryKind::Cancelled) <= sum(EntryKind::Held),
            "reward {id}: released {} and cancelled {} of {} held",
            sum(EntryKind::Released),
            sum(EntryKind::Cancelled),
            sum(EntryKind::Held)
        );

        let order = r
            .order
            .as_ref()
            .ok_or_else(|| format!("reward {id} has no order"))?;
        let conv = state
            .conversion(pid, order)
            .ok_or_else(|| format!("reward {id}'s order {order} is not recorded"))?
            .record;
        let payout = conv
            .payouts
            .iter()
            .find(|x| x.reward == *id)
            .ok_or_else(|| format!("order {order} does not list reward {id}"))?;
        ensure!(
            payout.beneficiary == r.customer
                && payout.role == r.role
                && payout.quantity == p.quantity,
            "reward {id} is not the payout {payout:?}"
        );
        ensure!(
            p.standing() <= (p.quantity - payout.clawed_back).max(0),
            "reward {id} stands at {} though refunds took {} of {}",
            p.standing(),
            payout.clawed_back,
            p.quantity
        );

        let other = (r.role == Role::Referrer).then_some(&conv.conversion.customer);
        let wanted = policy.reservations(
            pid,
            &ReservationInput {
                customer: &r.customer,
                role: r.role,
                other,
                kind: &r.kind,
                at: r.earned_at,
                rule: r.rule.as_ref(),
            },
        );
        ensure!(
            wanted.len() == r.reserved.len()
                && wanted
                    .iter()
                    .zip(&r.reserved)
                    .all(|(w, (k, _))| w.key == *k),
            "reward {id} reserved {:?}, the policy asks {wanted:?}",
            r.reserved
        );
        for (w, (key, amount)) in wanted.iter().zip(&r.reserved) {
            // The reward keeps what it reserved when earned; what it holds
            // now is derived from that and its standing quantity.
            let held = still_reserved(*amount, p.standing(), p.quantity);
            let expect = still_reserved(w.delta, p.standing(), p.quantity);
            let ok = match strictness {
                Strictness::Strict => *amount == w.delta && held == expect,
                // Never more than it should, and some while it stands.
                Strictness::KnownBugs => held <= expect && (held > 0) == (expect > 0),
            };
            ensure!(
                ok,
                "reward {id} holds {held} of {:?}: standing {} of {} should hold {expect} of the {} it reserved",
                key.name,
                p.standing(),
                p.quantity,
                w.delta
            );
            reserved.entry(key.clone()).or_insert((0, w.limit)).0 += held;
        }
    }
    for (key, (sum, limit)) in &reserved {
        let v = state.counter(key);
        ensure!(
            v == *sum,
            "counter {:?} is {v}; the standing rewards reserve {sum}",
            key.name
        );
        ensure!(v <= *limit, "counter {:?} is {v}, past {limit}", key.name);
    }
    for (key, v) in state.all_counters() {
        ensure!(v >= 0, "counter {:?} is {v}", key.name);
        if key.name.starts_with("budget") || key.name.starts_with("cap/") {
            ensure!(
                v == 0 || reserved.contains_key(&key),
                "counter {:?} is {v}, reserved by no reward",
                key.name
            );
        }
    }

    for c in orders {
        let rec = state
            .conversion(pid, &c.order)
            .ok_or_else(|| format!("order {} is not recorded", c.order))?
            .record;
        let value = rec.conversion.amount.minor();
        let refunded = rec.refunded.minor();
        ensure!(
            (0..=value).contains(&refunded),
            "order {} refunded {refunded} of {value}",
            c.order
        );
        let fully = rec.fully_refunded_at.is_some();
        ensure!(
            fully == (rec.refund_count > 0 && refunded == value),
            "order {}: refunded {refunded} of {value} in {} refunds, fully: {fully}",
            c.order,
            rec.refund_count
        );
        for p in &rec.payouts {
            let target = if fully {
                p.quantity
            } else if value == 0 {
                0
            } else {
                (i128::from(p.quantity) * i128::from(refunded) / i128::from(value)) as i64
            };
            ensure!(
                p.clawed_back == target,
                "order {}: {:?} clawed back {}, expected {target}",
                c.order,
                p.reward,
                p.clawed_back
            );
            let r = state
                .reward(pid, &p.reward)
                .ok_or_else(|| format!("order {} pays a missing reward {}", c.order, p.reward))?
                .record;
            if fully {
                ensure!(
                    r.progress.standing() == 0,
                    "order {} is fully refunded, its reward {} still stands at {}",
                    c.order,
                    p.reward,
                    r.progress.standing()
                );
            }
        }
    }
    Ok(())
}

/// A rough digest of a report, for progress lines.
pub fn summary(report: &Report) -> String {
    let ops: Vec<String> = report
        .by_op
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    format!(
        "{} histories, {} operations ({} calls with retries, {} refused), {} faults injected; {}",
        report.histories,
        report.ops,
        report.attempts,
        report.refused,
        report.faults,
        ops.join(", ")
    )
}

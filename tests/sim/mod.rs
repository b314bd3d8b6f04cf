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
//! About a third of the histories ([`RULES_PERCENT`]) pay through
//! incentive rules instead: cash (and sometimes points) to the referrer, a
//! coupon (and sometimes credit) to the referee, on the first purchase or
//! each of the first few, under the same drawn policy (a hold sometimes),
//! and drive the fulfilment outbox: workers claim deliveries with leases,
//! report them delivered (sometimes twice), failed (retried with backoff,
//! then dead-lettered), or die holding them (the lease runs out and
//! another worker claims the item); coupons are redeemed by code and order
//! (the same order again: its first outcome; a second order: refused), and
//! refunds and expiries land while deliveries are leased. Caps may count
//! over rolling windows of local days (`CapPeriod::Rolling`), in UTC or
//! Riyadh time. [`audit_outbox`] holds the outbox's laws after every step.
//!
//! Adding an operation: a variant of [`Op`], its call in [`call`], a
//! generator in [`GENERATORS`] and, if the outcome can be predicted from
//! the state before it, an oracle in [`check_step`]. The auditor
//! ([`audit`]) needs nothing new unless the operation adds records. Here
//! are the operations, the driver and the runs; `world.rs` holds the
//! generators, `oracle.rs` the oracles and `audit.rs` the auditor.

// Each includer uses a different part of the module.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use referrals::engine::book::{debt_counter, delivery_id};
use referrals::engine::{BatchReport, Delivery, Engine, block_on};
use referrals::incentive::RuleSet;
use referrals::ledger::{
    Balance, Budget, Cap, CapMeasure, CapPeriod, CapSubject, DeliveryPolicy, DeliveryState,
    EntryKind, LedgerEntry, LedgerPolicy, Limit, OutboxItem, Progress, ReservationInput,
    still_reserved,
};
use referrals::model::{
    Actor, Channel, Conversion, CustomerId, DeliveryId, EventId, OperatorId, OrderId, Redemption,
    RedemptionId, Refund, RefundAmount, RefundId, RewardId, Signup, Touch, TouchKind, VisitorId,
};
use referrals::program::{Incentive, TwoSidedReward};
use referrals::rand::SeedableRng;
use referrals::rand::rngs::StdRng;
use referrals::reward::{Role, Unit};
use referrals::store::{
    CodeOrigin, ConversionOutcome, CounterKey, MemoryState, Outcome, Reason, Request, Reward, Store,
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
    /// Paid through incentive rules (cash, coupons, points) delivered
    /// through the outbox, instead of the two-sided credit.
    pub rules: Option<Rules>,
    /// How long a worker's claim on a delivery lasts, in seconds.
    pub lease_seconds: i64,
}

/// A rules program's rewards: cash to the referrer, a coupon to the
/// referee, sometimes points to the referrer and credit to the referee.
#[derive(Debug, Clone)]
pub struct Rules {
    /// `None`: on the first purchase; `Some(n)`: on each of the first n.
    pub up_to: Option<u32>,
    /// The referrer's cash, in halalas.
    pub cash: i64,
    /// The referee's coupon: a fixed discount in halalas, or `None` for
    /// 15 % off (no money value: it counts against no budget).
    pub coupon_fixed: Option<i64>,
    /// The referrer's points, if any.
    pub points: Option<i64>,
    /// The referee's credit, if any (spent with `redeem`, not delivered).
    pub credit: Option<i64>,
}

impl Rules {
    /// The rule set, as JSON.
    pub fn json(&self) -> String {
        let money = |m: i64| format!(r#"{{"minor": {m}, "currency": "SAR"}}"#);
        let trigger = match self.up_to {
            None => r#"{"on": "first_purchase"}"#.to_owned(),
            Some(n) => format!(r#"{{"on": "purchase", "up_to": {n}}}"#),
        };
        let coupon = match self.coupon_fixed {
            Some(m) => format!(r#"{{"fixed": {{"amount": {}}}}}"#, money(m)),
            None => r#"{"percent": {"basis_points": 1500}}"#.to_owned(),
        };
        let mut effects = vec![
            format!(
                r#"{{"to": "referrer", "fixed": {{"kind": "cash", "amount": {}}}}}"#,
                money(self.cash)
            ),
            format!(r#"{{"to": "referee", "fixed": {{"kind": "coupon", "discount": {coupon}}}}}"#),
        ];
        if let Some(p) = self.points {
            effects.push(format!(
                r#"{{"to": "referrer", "fixed": {{"kind": "points", "unit": "stars", "amount": {p}}}}}"#
            ));
        }
        if let Some(c) = self.credit {
            effects.push(format!(
                r#"{{"to": "referee", "fixed": {{"kind": "credit", "amount": {}}}}}"#,
                money(c)
            ));
        }
        format!(
            r#"{{"version": 1, "terms_version": 1, "time_zone": "Asia/Riyadh", "currency": "SAR",
                "rules": [{{"id": "sim", "trigger": {trigger}, "effects": [{}]}}]}}"#,
            effects.join(", ")
        )
    }
}

fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

const DAY: i64 = 86_400;

/// The share of histories (in percent) whose program pays through
/// incentive rules and the fulfilment outbox.
pub const RULES_PERCENT: u64 = 35;

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
        let mut config = Config {
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
            rules: None,
            lease_seconds: 600,
        };
        // Drawn after the rest, so that the older part of a seed's
        // configuration stays what it was.
        if let Some(cap) = config.policy.caps.first_mut() {
            if rng.chance(35) {
                cap.period = CapPeriod::Rolling {
                    days: rng.range(1, 10) as u32,
                };
            }
        }
        if rng.chance(30) {
            config.policy.time_zone = Some("Asia/Riyadh".to_owned());
        }
        if rng.chance(RULES_PERCENT) {
            config.rules = Some(Rules {
                up_to: rng.chance(50).then(|| rng.range(1, 3) as u32),
                cash: rng.range(100, 3000),
                coupon_fixed: rng.chance(60).then(|| rng.range(100, 2000)),
                points: rng.chance(40).then(|| rng.range(10, 500)),
                credit: rng.chance(30).then(|| rng.range(100, 1000)),
            });
            config.policy.delivery = DeliveryPolicy {
                max_attempts: rng.range(1, 4) as u32,
                backoff_seconds: rng.range(1, 3600),
            };
            config.policy.coupons.valid_for_seconds =
                rng.chance(40).then(|| rng.range(1, 20) * DAY);
            config.lease_seconds = rng.range(60, 4 * 3600);
            config.steps = rng.range(20, 50) as u64;
        }
        config
    }

    /// The program this configuration describes.
    pub fn program(&self) -> Program {
        let incentive = match &self.rules {
            Some(rules) => Incentive::Rules(
                serde_json::from_str::<RuleSet>(&rules.json())
                    .expect("the simulation's rule sets parse"),
            ),
            None => Incentive::TwoSided(
                TwoSidedReward::new(sar(self.referrer), sar(self.referee))
                    .with_max_rewarded_conversions(self.max_rewarded),
            ),
        };
        Program::builder("sim", "Simulation")
            .currency(Currency::SAR)
            .lookback_days(30)
            .incentive(incentive)
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
    /// A fulfilment worker claims due deliveries with a lease.
    Claim {
        /// Which worker.
        worker: String,
        /// Its clock.
        now: DateTime<Utc>,
        /// How long its claims last.
        lease: TimeDelta,
        /// Its batch size.
        limit: usize,
    },
    /// A worker reports a delivery done (sometimes a second time).
    Delivered {
        /// The item.
        id: DeliveryId,
        /// The provider's reference.
        reference: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A worker reports a delivery attempt failed.
    Failed {
        /// The item.
        id: DeliveryId,
        /// When.
        at: DateTime<Utc>,
    },
    /// A worker dies holding a lease: no call, no report; the lease runs
    /// out and another worker claims the item.
    Die {
        /// The item it held.
        id: DeliveryId,
    },
    /// A coupon's code typed at checkout on an order.
    RedeemCoupon {
        /// As typed.
        typed: String,
        /// The order.
        order: OrderId,
        /// When.
        at: DateTime<Utc>,
        /// The first answer, when this code was used on this order before.
        first: Option<Box<Answer>>,
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
            Op::Claim { .. } => "claim",
            Op::Delivered { .. } => "delivered",
            Op::Failed { .. } => "failed",
            Op::Die { .. } => "die",
            Op::RedeemCoupon { .. } => "redeem_coupon",
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
    /// The deliveries a worker claimed.
    Claimed(Vec<Delivery>),
    /// An outbox item as a report left it.
    Item(Box<OutboxItem>),
    /// No call was made (a worker died).
    Nothing,
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
        Op::Claim {
            worker,
            now,
            lease,
            limit,
        } => Answer::Claimed(
            engine
                .claim_deliveries(worker, *now, *lease, *limit)
                .await?,
        ),
        Op::Delivered { id, reference, at } => {
            Answer::Item(Box::new(engine.mark_delivered(id, reference, *at).await?))
        }
        Op::Failed { id, at } => Answer::Item(Box::new(
            engine.mark_failed(id, "provider timeout", *at).await?,
        )),
        Op::Die { .. } => Answer::Nothing,
        Op::RedeemCoupon {
            typed, order, at, ..
        } => Answer::Event(Outcome::Redemption(
            engine.redeem_coupon(typed, order, *at).await?,
        )),
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

mod audit;
mod oracle;
mod world;

// Each includer uses a different part of the module, and each part sees
// the others' helpers through `use super::*`.
#[allow(unused_imports)]
use {audit::*, oracle::*, world::*};
#[allow(unused_imports)]
pub use {
    audit::{Strictness, audit, audit_outbox},
    oracle::check_step,
    world::{GENERATORS, Generator, World},
};

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
    /// Deliveries claimed (a claim's answer may hold several).
    pub claimed: u64,
    /// Outbox items at the end of their history, by state.
    pub outbox: BTreeMap<&'static str, u64>,
    /// Histories paid through incentive rules and the outbox.
    pub rules: u64,
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
        self.claimed += other.claimed;
        self.rules += other.rules;
        for (k, v) in &other.outbox {
            *self.outbox.entry(k).or_default() += v;
        }
    }

    fn count(&mut self, op: &Op, answer: &Answer, attempts: u32) {
        self.ops += 1;
        self.attempts += u64::from(attempts);
        *self.by_op.entry(op.name()).or_default() += 1;
        if matches!(answer, Answer::Failed(..)) {
            self.refused += 1;
        }
        if let Answer::Claimed(d) = answer {
            self.claimed += d.len() as u64;
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
                // On the history's runtime when it has one: a store over a
                // database needs its reactor.
                let done = match mode {
                    Mode::Concurrent { runtime, .. } => {
                        runtime.block_on(call_retrying(&engine, &op))
                    }
                    Mode::Sequential => block_on(call_retrying(&engine, &op)),
                };
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
        if let Err(msg) = result
            .and_then(|()| audit(&world.program, &world.orders, &world.state, strictness))
            .and_then(|()| {
                audit_outbox(
                    &world.program,
                    &world.state,
                    &world.had_available,
                    TimeDelta::seconds(world.config.lease_seconds),
                )
            })
        {
            return Err(fail(step, msg, &world, &trace));
        }
    }
    report.faults = engine.store().faults();
    report.rules = u64::from(world.config.rules.is_some());
    for v in world.state.all_outbox_items() {
        let state = match v.record.state {
            DeliveryState::Ready => "ready",
            DeliveryState::Leased { .. } => "leased",
            DeliveryState::Delivered { .. } => "delivered",
            DeliveryState::Dead { .. } => "dead",
            DeliveryState::Cancelled => "cancelled",
            _ => "other",
        };
        *report.outbox.entry(state).or_default() += 1;
    }
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

/// A rough digest of a report, for progress lines.
pub fn summary(report: &Report) -> String {
    let ops: Vec<String> = report
        .by_op
        .iter()
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    let outbox: Vec<String> = report
        .outbox
        .iter()
        .map(|(state, n)| format!("{state} {n}"))
        .collect();
    format!(
        "{} histories ({} through incentive rules and the outbox), {} operations ({} calls with retries, {} refused), {} faults injected; {}; {} deliveries claimed; outbox items at the end: {}",
        report.histories,
        report.rules,
        report.ops,
        report.attempts,
        report.refused,
        report.faults,
        ops.join(", "),
        report.claimed,
        outbox.join(", ")
    )
}

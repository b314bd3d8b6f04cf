//! The deterministic simulation of `tests/simulation.rs`, for long runs:
//! random histories generated from seeds go through an engine over a store
//! that fails commits (before and after applying them) and reads, and the
//! whole state is audited after every step (`tests/sim/mod.rs` holds the
//! generator and the auditor, shared with the test). About a third of the
//! histories pay through incentive rules (cash, coupons, points) and drive
//! the fulfilment outbox: leases, reports, failures, dead workers, coupons
//! by code and order.
//!
//! Runs with the default features, so it cannot use the crate's
//! `FaultyStore` (feature `testing`): faults come from [`Flaky`] below, a
//! small wrapper drawing them from each history's seed in the same way.
//!
//! ```text
//! cargo run --release --example simulate -- --histories 1000000 [--seed S]
//!     [--threads T] [--every N] [--concurrent PERCENT] [--no-faults] [--strict]
//! ```
//!
//! Histories use seeds `S, S+1, …` (S = 0 by default). `--concurrent`
//! runs that share of steps as a few calls at once on a multi-threaded
//! tokio runtime (then only invariants are checked, and a seed's history
//! depends on the scheduler). Every law is checked exactly; `--lenient`
//! would check known bugs weakly (see `Strictness`; none are known). With no arguments (as CI runs
//! examples) it runs 200 histories. On a failure it prints the seed, the
//! configuration and the last steps, and exits with status 1; replay one
//! seed with `--seed S --histories 1`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use chrono::{DateTime, Utc};
use referrals::fraud::identity::SignalHash;
use referrals::model::{Actor, CustomerId, DeliveryId, OrderId, ProgramId, RewardId};
use referrals::reward::Label;
use referrals::store::{
    AssignmentRecord, Balance, CodeRecord, CommitPlan, ConversionRecord, CounterKey,
    CustomerRecord, Due, IdempotencyKey, IdempotencyRecord, IdentityMatch, IdentityRecord,
    LedgerCursor, LedgerEntry, MemoryState, OutboxCursor, OutboxItem, ReferredCustomer, Reward,
    RewardCursor, StoreError, StoreErrorKind, StoreResult, TouchRecord, Versioned,
};
use referrals::{Code, MemoryStore, Store};

#[path = "../tests/sim/mod.rs"]
mod sim;

use sim::{Inspect, Mode, Report, Strictness};

/// Basis points in a whole.
const WHOLE: u64 = 10_000;

/// A store failing commits before or after applying them, and reads, at
/// the rates of a history's configuration, from generators seeded by the
/// history's seed (one number drawn per call, as `FaultyStore` does).
#[derive(Debug)]
struct Flaky {
    inner: MemoryStore,
    before_bps: u64,
    after_bps: u64,
    reads_bps: u64,
    /// The commit stream and the read stream.
    rngs: Mutex<(sim::Rng, sim::Rng)>,
    faults: AtomicU64,
}

impl Flaky {
    fn new(seed: u64, config: &sim::Config, faults: bool) -> Flaky {
        let rate = |bps: u32| if faults { u64::from(bps) } else { 0 };
        Flaky {
            inner: MemoryStore::new(),
            before_bps: rate(config.fail_before_bps),
            after_bps: rate(config.fail_after_bps),
            reads_bps: rate(config.fail_reads_bps),
            rngs: Mutex::new((
                sim::Rng::new(seed),
                sim::Rng::new(seed ^ 0x9E37_79B9_7F4A_7C15),
            )),
            faults: AtomicU64::new(0),
        }
    }

    fn rngs(&self) -> MutexGuard<'_, (sim::Rng, sim::Rng)> {
        self.rngs.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn fault(&self, what: &str) -> StoreError {
        self.faults.fetch_add(1, Ordering::Relaxed);
        StoreError::unavailable(format!("injected fault: {what}"))
    }

    /// Fails the next read, sometimes.
    fn gate(&self) -> StoreResult<()> {
        let roll = self.rngs().1.below(WHOLE);
        if roll < self.reads_bps {
            return Err(self.fault("read"));
        }
        Ok(())
    }
}

impl Inspect for Flaky {
    fn state(&self) -> MemoryState {
        self.inner.snapshot()
    }

    fn faults(&self) -> u64 {
        self.faults.load(Ordering::Relaxed)
    }
}

impl Store for Flaky {
    async fn idempotency(
        &self,
        program: &ProgramId,
        key: &IdempotencyKey,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        self.gate()?;
        self.inner.idempotency(program, key).await
    }

    async fn code(
        &self,
        program: &ProgramId,
        code: &Code,
    ) -> StoreResult<Option<Versioned<CodeRecord>>> {
        self.gate()?;
        self.inner.code(program, code).await
    }

    async fn primary_code(
        &self,
        program: &ProgramId,
        owner: &CustomerId,
    ) -> StoreResult<Option<Versioned<CodeRecord>>> {
        self.gate()?;
        self.inner.primary_code(program, owner).await
    }

    async fn customer(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Option<Versioned<CustomerRecord>>> {
        self.gate()?;
        self.inner.customer(program, customer).await
    }

    async fn touches(
        &self,
        program: &ProgramId,
        actor: &Actor,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<TouchRecord>> {
        self.gate()?;
        self.inner.touches(program, actor, since).await
    }

    async fn conversion(
        &self,
        program: &ProgramId,
        order: &OrderId,
    ) -> StoreResult<Option<Versioned<ConversionRecord>>> {
        self.gate()?;
        self.inner.conversion(program, order).await
    }

    async fn ledger(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
        after: Option<&LedgerCursor>,
        limit: usize,
    ) -> StoreResult<Vec<LedgerEntry>> {
        self.gate()?;
        self.inner.ledger(program, customer, after, limit).await
    }

    async fn balances(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Vec<Balance>> {
        self.gate()?;
        self.inner.balances(program, customer).await
    }

    async fn reward(
        &self,
        program: &ProgramId,
        reward: &RewardId,
    ) -> StoreResult<Option<Versioned<Reward>>> {
        self.gate()?;
        self.inner.reward(program, reward).await
    }

    async fn referred_conversions(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
    ) -> StoreResult<Vec<ConversionRecord>> {
        self.gate()?;
        self.inner.referred_conversions(program, referrer).await
    }

    async fn customer_conversions(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Vec<ConversionRecord>> {
        self.gate()?;
        self.inner.customer_conversions(program, customer).await
    }

    async fn assignment(
        &self,
        program: &ProgramId,
        experiment: &Label,
        customer: &CustomerId,
    ) -> StoreResult<Option<AssignmentRecord>> {
        self.gate()?;
        self.inner.assignment(program, experiment, customer).await
    }

    async fn counter(&self, key: &CounterKey) -> StoreResult<i64> {
        self.gate()?;
        self.inner.counter(key).await
    }

    async fn outbox_item(
        &self,
        program: &ProgramId,
        id: &DeliveryId,
    ) -> StoreResult<Option<Versioned<OutboxItem>>> {
        self.gate()?;
        self.inner.outbox_item(program, id).await
    }

    async fn outbox_due(
        &self,
        program: &ProgramId,
        now: DateTime<Utc>,
        after: Option<&OutboxCursor>,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<OutboxItem>>> {
        self.gate()?;
        self.inner.outbox_due(program, now, after, limit).await
    }

    async fn identity(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Option<Versioned<IdentityRecord>>> {
        self.gate()?;
        self.inner.identity(program, customer).await
    }

    async fn identity_matches(
        &self,
        program: &ProgramId,
        hash: &SignalHash,
        limit: usize,
    ) -> StoreResult<Vec<IdentityMatch>> {
        self.gate()?;
        self.inner.identity_matches(program, hash, limit).await
    }

    async fn stale_identities(
        &self,
        program: &ProgramId,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<IdentityRecord>>> {
        self.gate()?;
        self.inner.stale_identities(program, before, limit).await
    }

    async fn recent_referees(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
        limit: usize,
    ) -> StoreResult<Vec<ReferredCustomer>> {
        self.gate()?;
        self.inner.recent_referees(program, referrer, limit).await
    }

    async fn due_rewards(
        &self,
        program: &ProgramId,
        due: Due,
        before: DateTime<Utc>,
        after: Option<&RewardCursor>,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<Reward>>> {
        self.gate()?;
        self.inner
            .due_rewards(program, due, before, after, limit)
            .await
    }

    async fn commit(&self, plan: CommitPlan) -> StoreResult<()> {
        let roll = self.rngs().0.below(WHOLE);
        if roll < self.before_bps {
            return Err(self.fault("commit not applied"));
        }
        let applied = self.inner.commit(plan).await;
        if roll < self.before_bps + self.after_bps {
            // The answer is lost whether the store applied the plan or
            // refused it; a backend error is final and passed on.
            return match applied {
                Err(e) if e.kind() == StoreErrorKind::Backend => Err(e),
                _ => Err(self.fault("commit applied, answer lost")),
            };
        }
        applied
    }
}

/// The command line.
#[derive(Debug)]
struct Args {
    histories: u64,
    seed: u64,
    threads: u64,
    every: u64,
    concurrent: u64,
    faults: bool,
    strictness: Strictness,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        histories: 200,
        seed: 0,
        threads: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        every: 0,
        concurrent: 0,
        faults: true,
        strictness: Strictness::Strict,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            v.replace('_', "")
                .parse()
                .map_err(|_| format!("{name}: not a number: {v:?}"))
        };
        match flag.as_str() {
            "--histories" => args.histories = number("--histories")?,
            "--seed" => args.seed = number("--seed")?,
            "--threads" => args.threads = number("--threads")?.max(1),
            "--every" => args.every = number("--every")?,
            "--concurrent" => args.concurrent = number("--concurrent")?.min(100),
            "--no-faults" => args.faults = false,
            "--strict" => args.strictness = Strictness::Strict,
            "--lenient" => args.strictness = Strictness::KnownBugs,
            "-h" | "--help" => {
                return Err("usage: simulate [--histories N] [--seed S] [--threads T] [--every N] [--concurrent PERCENT] [--no-faults] [--strict]".into());
            }
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if args.every == 0 {
        args.every = (args.histories / 10).max(1);
    }
    Ok(args)
}

/// Runs one history; a panic is a failure of its seed.
fn one(
    seed: u64,
    args: &Args,
    runtime: Option<&tokio::runtime::Runtime>,
) -> Result<Report, String> {
    let mode = match runtime {
        Some(runtime) => Mode::Concurrent {
            runtime,
            percent: args.concurrent,
        },
        None => Mode::Sequential,
    };
    catch_unwind(AssertUnwindSafe(|| {
        sim::run_history(
            seed,
            |config: &sim::Config| Flaky::new(seed, config, args.faults),
            mode,
            args.strictness,
        )
    }))
    .unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        Err(format!(
            "simulation panicked: seed {seed} (replay: --seed {seed} --histories 1): {msg}"
        ))
    })
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = (args.concurrent > 0).then(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .expect("a tokio runtime")
    });
    let end = args.seed.saturating_add(args.histories);
    println!(
        "simulating seeds {}..{end} on {} threads{}{}{}",
        args.seed,
        args.threads,
        if args.faults { "" } else { ", without faults" },
        if args.concurrent > 0 {
            format!(", {}% of steps concurrent", args.concurrent)
        } else {
            String::new()
        },
        if args.strictness == Strictness::Strict {
            ", strict"
        } else {
            ""
        },
    );
    let started = Instant::now();
    let next = AtomicU64::new(args.seed);
    let stop = AtomicBool::new(false);
    let total = Mutex::new(Report::default());
    let failure = Mutex::new(None::<String>);
    std::thread::scope(|s| {
        for _ in 0..args.threads {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        break;
                    }
                    // A history takes milliseconds: one lock each is nothing.
                    let t = match one(seed, &args, runtime.as_ref()) {
                        Ok(r) => {
                            let mut t = total.lock().unwrap_or_else(|e| e.into_inner());
                            t.add(&r);
                            t
                        }
                        Err(msg) => {
                            stop.store(true, Ordering::Relaxed);
                            failure
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .get_or_insert(msg);
                            break;
                        }
                    };
                    if t.histories % args.every == 0 {
                        let secs = started.elapsed().as_secs_f64();
                        println!(
                            "{} histories, {} operations, {} faults injected, {secs:.1} s, {:.0} ops/s",
                            t.histories,
                            t.ops,
                            t.faults,
                            t.ops as f64 / secs
                        );
                    }
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let total = total.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(msg) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        eprintln!("{msg}");
        return ExitCode::FAILURE;
    }
    println!("{}", sim::summary(&total));
    println!(
        "done: {} histories, {} operations ({} calls with retries), {} faults injected, {:.2} s, {:.0} ops/s",
        total.histories,
        total.ops,
        total.attempts,
        total.faults,
        elapsed.as_secs_f64(),
        total.ops as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    ExitCode::SUCCESS
}

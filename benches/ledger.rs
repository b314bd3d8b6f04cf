//! The reward ledger at scale, through the engine on the in-memory store,
//! one thread.
//!
//! Run: `cargo bench --bench ledger`.
//!
//! - `ledger_release_due`: one `release_due` batch of 1,000 from a store
//!   holding 1,000,000 pending rewards (500,000 referrals under a 14-day
//!   hold, two rewards each), all due. The store is built once, outside
//!   the timing (its build time is printed); each batch releases rewards
//!   not released before, and the store is forked afresh from the built
//!   one (outside the timing) before half of them are gone, so every
//!   batch is taken from between 500,000 and 1,000,000 pending. After the
//!   group, one timed pass releases all of a fresh fork's rewards in
//!   batches of 1,000 and prints the rate. Set
//!   `REFERRALS_BENCH_PENDING` to build fewer (say 100000) for a quick run.
//! - `hostile_touches/newest_first/N`: N touches of one visitor arriving
//!   newest first (each older than every touch stored), into a fresh
//!   store: the per-visitor list must take each in O(log N), so time per
//!   touch (1 / throughput) must not grow with N (1,000 to 100,000).
//!   `hostile_touches/oldest_first/100000`, the same touches in time
//!   order, shows what the store's growth alone costs.
//! - `hostile_partial_refunds/N`: N partial refunds of one order (1.00 SAR
//!   each, every one clawing back part of both rewards): the order's
//!   record keeps a count, not a list, so time per refund stays flat.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use referrals::engine::{ConversionOutcome, block_on};
use referrals::ledger::LedgerPolicy;
use referrals::model::{
    Actor, Conversion, CustomerId, EventId, OrderId, Refund, RefundAmount, RefundId, Signup, Touch,
    TouchKind, VisitorId,
};
use referrals::{Channel, Code, Currency, Engine, MemoryStore, Money, Program};

/// Rewards released per `release_due` call.
const BATCH: usize = 1_000;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

fn program(referrer: i64, referee: i64, hold_days: Option<i64>) -> Program {
    Program::builder("bench", "Bench")
        .currency(Currency::SAR)
        .lookback_days(30)
        .two_sided_reward(sar(referrer), sar(referee))
        .ledger_policy(LedgerPolicy {
            hold_seconds: hold_days.map(|d| d * 86_400),
            ..LedgerPolicy::default()
        })
        .build()
        .unwrap()
}

/// Referral `i`: a code for `referrer-i`, `referee-i` signs up with it
/// and orders `minor` an hour later (`i` seconds after `t0`).
async fn referral(engine: &Engine<MemoryStore>, i: usize, minor: i64) {
    let at = t0() + TimeDelta::seconds(i as i64);
    let referrer = CustomerId::new(format!("referrer-{i}")).unwrap();
    let referee = CustomerId::new(format!("referee-{i}")).unwrap();
    let code = engine.issue_code(&referrer, at).await.unwrap().record.code;
    engine
        .record_signup(&Signup {
            id: EventId::new(format!("signup-{i}")).unwrap(),
            customer: referee.clone(),
            visitor: None,
            code: Some(code),
            channel: None,
            at,
        })
        .await
        .unwrap();
    let outcome = engine
        .record_conversion(&Conversion {
            order: OrderId::new(format!("order-{i}")).unwrap(),
            customer: referee,
            amount: sar(minor),
            at: at + TimeDelta::hours(1),
        })
        .await
        .unwrap();
    assert!(
        matches!(outcome, ConversionOutcome::Rewarded { .. }),
        "{outcome:?}"
    );
}

fn pending_target() -> usize {
    std::env::var("REFERRALS_BENCH_PENDING")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

fn release(c: &mut Criterion) {
    let pending = pending_target().max(2 * BATCH) / 2 * 2;
    let program = program(1500, 1000, Some(14));
    let base = MemoryStore::new();
    let builder = Engine::new(base.clone(), program.clone()).with_rng(StdRng::seed_from_u64(1));
    let start = Instant::now();
    block_on(async {
        for i in 0..pending / 2 {
            referral(&builder, i, 12_000).await;
        }
    });
    eprintln!(
        "ledger_release_due: built {pending} pending rewards ({} referrals) in {:.1?}",
        pending / 2,
        start.elapsed()
    );
    drop(builder);
    // Every hold has ended by then.
    let now = t0() + TimeDelta::days(60);

    let mut g = c.benchmark_group("ledger_release_due");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut work: Option<Engine<MemoryStore>> = None;
    let mut left = 0;
    let mut forks = 0;
    g.bench_function(
        BenchmarkId::new("batch_of_1000", format!("{pending}_pending")),
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    if left < pending / 2 {
                        // A fresh copy of the built store, outside the timing.
                        work = None;
                        work = Some(Engine::new(base.fork(), program.clone()));
                        left = pending;
                        forks += 1;
                    }
                    let engine = work.as_ref().unwrap();
                    let start = Instant::now();
                    let report = block_on(engine.release_due(now, BATCH)).unwrap();
                    total += start.elapsed();
                    assert_eq!(report.moved, BATCH);
                    left -= BATCH;
                }
                total
            })
        },
    );
    g.finish();
    drop(work);
    eprintln!("ledger_release_due: {forks} forks of the built store");

    // Once, all of them: a fresh fork drained in batches of 1,000.
    let engine = Engine::new(base.fork(), program);
    let start = Instant::now();
    let mut released = 0;
    block_on(async {
        loop {
            let report = engine.release_due(now, BATCH).await.unwrap();
            released += report.moved;
            if !report.more {
                break;
            }
        }
    });
    let took = start.elapsed();
    assert_eq!(released, pending);
    eprintln!(
        "ledger_release_due: released all {released} in {took:.2?} ({:.0} rewards/s, {:.2} µs each)",
        released as f64 / took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / released as f64
    );
}

/// An engine whose one code (`amira`'s, from a seeded generator) is the
/// same every time.
fn engine_with_code(program: &Program) -> (Engine<MemoryStore>, Code) {
    let engine =
        Engine::new(MemoryStore::new(), program.clone()).with_rng(StdRng::seed_from_u64(1));
    let code = block_on(engine.issue_code(&CustomerId::new("amira").unwrap(), t0()))
        .unwrap()
        .record
        .code;
    (engine, code)
}

fn touches(c: &mut Criterion) {
    let program = program(1500, 1000, None);
    let (_, code) = engine_with_code(&program);
    let visitor = VisitorId::new("cookie-7f3a").unwrap();
    let mut g = c.benchmark_group("hostile_touches");
    g.sample_size(10);
    // Newest first (touch i is i seconds older than the first) at each
    // size, and oldest first at the largest for reference: what the store's
    // growth costs whatever the order.
    let shapes = [
        ("newest_first", 1_000usize, -1i64),
        ("newest_first", 10_000, -1),
        ("newest_first", 100_000, -1),
        ("oldest_first", 100_000, 1),
    ];
    for (shape, n, step) in shapes {
        let list: Vec<Touch> = (0..n)
            .map(|i| Touch {
                id: EventId::new(format!("touch-{i}")).unwrap(),
                actor: Actor::Visitor(visitor.clone()),
                code,
                channel: Channel::WhatsApp,
                kind: TouchKind::Click,
                at: t0() + TimeDelta::seconds(step * i as i64),
            })
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new(shape, n), &list, |b, list| {
            b.iter_batched(
                || {
                    let (engine, again) = engine_with_code(&program);
                    assert_eq!(again, code);
                    engine
                },
                |engine| {
                    block_on(async {
                        for t in list {
                            engine.record_touch(t).await.unwrap();
                        }
                    });
                    engine
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn refunds(c: &mut Criterion) {
    // 10,000 SAR to each side of an order of 20,000 SAR: every 1.00 SAR
    // refund claws back 0.50 SAR of each reward.
    let program = program(1_000_000, 1_000_000, None);
    let mut g = c.benchmark_group("hostile_partial_refunds");
    g.sample_size(10);
    for n in [1_000usize, 10_000] {
        let list: Vec<Refund> = (0..n)
            .map(|i| Refund {
                id: RefundId::new(format!("refund-{i}")).unwrap(),
                order: OrderId::new("order-0").unwrap(),
                amount: RefundAmount::Partial(sar(100)),
                at: t0() + TimeDelta::days(1) + TimeDelta::seconds(i as i64),
            })
            .collect();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &list, |b, list| {
            b.iter_batched(
                || {
                    let engine = Engine::new(MemoryStore::new(), program.clone())
                        .with_rng(StdRng::seed_from_u64(1));
                    block_on(referral(&engine, 0, 2_000_000));
                    engine
                },
                |engine| {
                    block_on(async {
                        for r in list {
                            let out = engine.record_refund(r).await.unwrap();
                            debug_assert_eq!(out.clawbacks.len(), 2);
                        }
                    });
                    engine
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, touches, refunds, release);
criterion_main!(benches);

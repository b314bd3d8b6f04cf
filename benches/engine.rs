//! Whole referrals through the engine on the in-memory store, one thread.
//!
//! Run: `cargo bench --bench engine`. Throughput counts engine operations:
//! each referral is four (issue a code, record a touch, a signup and a
//! conversion).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use referrals::engine::block_on;
use referrals::model::{
    Actor, Conversion, CustomerId, EventId, OrderId, Signup, Touch, TouchKind, VisitorId,
};
use referrals::{Channel, Currency, Engine, MemoryStore, Money, Program};

const REFERRALS: usize = 1_000;

struct Ids {
    referrer: CustomerId,
    referee: CustomerId,
    visitor: VisitorId,
    touch: EventId,
    signup: EventId,
    order: OrderId,
}

fn ids(n: usize) -> Vec<Ids> {
    ids_from(0, n)
}

/// `n` referrals' ids, numbered from `start` so batches never collide.
fn ids_from(start: usize, n: usize) -> Vec<Ids> {
    (start..start + n)
        .map(|i| Ids {
            referrer: CustomerId::new(format!("referrer-{i}")).unwrap(),
            referee: CustomerId::new(format!("referee-{i}")).unwrap(),
            visitor: VisitorId::new(format!("visitor-{i}")).unwrap(),
            touch: EventId::new(format!("touch-{i}")).unwrap(),
            signup: EventId::new(format!("signup-{i}")).unwrap(),
            order: OrderId::new(format!("order-{i}")).unwrap(),
        })
        .collect()
}

fn program() -> Program {
    Program::builder("bench", "Bench")
        .currency(Currency::SAR)
        .two_sided_reward(
            Money::new(1500, Currency::SAR),
            Money::new(1000, Currency::SAR),
        )
        .build()
        .unwrap()
}

fn run(engine: &Engine<MemoryStore>, ids: &[Ids], t0: DateTime<Utc>) {
    block_on(async {
        for id in ids {
            let code = engine
                .issue_code(&id.referrer, t0)
                .await
                .unwrap()
                .record
                .code;
            engine
                .record_touch(&Touch {
                    id: id.touch.clone(),
                    actor: Actor::Visitor(id.visitor.clone()),
                    code,
                    channel: Channel::WhatsApp,
                    kind: TouchKind::Click,
                    at: t0 + TimeDelta::minutes(1),
                })
                .await
                .unwrap();
            engine
                .record_signup(&Signup {
                    id: id.signup.clone(),
                    customer: id.referee.clone(),
                    visitor: Some(id.visitor.clone()),
                    code: None,
                    channel: None,
                    at: t0 + TimeDelta::minutes(2),
                })
                .await
                .unwrap();
            engine
                .record_conversion(&Conversion {
                    order: id.order.clone(),
                    customer: id.referee.clone(),
                    amount: Money::new(12_000, Currency::SAR),
                    at: t0 + TimeDelta::hours(1),
                })
                .await
                .unwrap();
        }
    });
}

fn bench(c: &mut Criterion) {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    let ids = ids(REFERRALS);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Elements(4 * REFERRALS as u64));
    g.bench_function("whole_referrals_memory_store", |b| {
        b.iter_batched(
            || Engine::new(MemoryStore::new(), program()).with_rng(StdRng::seed_from_u64(1)),
            // Hand the engine back so criterion drops it outside the timing.
            |engine| {
                run(&engine, &ids, t0);
                engine
            },
            BatchSize::LargeInput,
        )
    });
    // A store that already holds 100 000 referrals, as a running program's
    // does: new referrals land in tables that rarely need to grow.
    let busy = Engine::new(MemoryStore::new(), program()).with_rng(StdRng::seed_from_u64(2));
    run(&busy, &ids_from(1_000_000, 100_000), t0);
    let mut next = 2_000_000;
    g.bench_function("whole_referrals_warm_store", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            for _ in 0..iters {
                // Fresh ids are made outside the timing.
                let batch = ids_from(next, REFERRALS);
                next += REFERRALS;
                let start = std::time::Instant::now();
                run(&busy, &batch, t0);
                total += start.elapsed();
            }
            total
        })
    });
    // The same events again: every call is answered from its idempotency
    // record (what a retry storm costs).
    let warm = Engine::new(MemoryStore::new(), program()).with_rng(StdRng::seed_from_u64(1));
    run(&warm, &ids, t0);
    g.bench_function("replayed_referrals_memory_store", |b| {
        b.iter(|| run(&warm, &ids, t0))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

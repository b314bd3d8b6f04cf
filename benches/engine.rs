//! Whole referrals through the engine on the in-memory store, one thread.
//!
//! Run: `cargo bench --bench engine`. In the `engine` group throughput
//! counts engine operations: each referral is four (issue a code, record a
//! touch, a signup and a conversion). The `engine_rules` and
//! `engine_ledger_policy` groups count whole referrals (referrals/s): issue
//! a code, a signup with the typed code, the first purchase.
//!
//! - `engine_rules`: the fixed two-sided reward (15 SAR and 10 SAR) beside
//!   the same reward written as one tiered rule, and beside the whole rule
//!   set of `examples/incentives.rs` (read from that file, so the two never
//!   drift) during its Ramadan campaign, which books five rewards per
//!   referral (friend, referrer, Ramadan bonus to both, points on a large
//!   order, queued in the outbox) where the fixed reward books two; and the
//!   same set before
//!   Ramadan on a small order, where it books two like the fixed reward.
//!   The goal: rules at least half the fixed reward's throughput.
//! - `engine_ledger_policy`: the fixed reward with no ledger policy beside
//!   the same with a 14-day hold, a budget and a referrer cap (never
//!   reached, so every reward is booked and every counter is read and
//!   written).

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use referrals::engine::{ConversionOutcome, HostFacts, block_on};
use referrals::incentive::RuleSet;
use referrals::ledger::{Budget, Cap, CapMeasure, CapPeriod, CapSubject, LedgerPolicy};
use referrals::model::{
    Actor, Conversion, CustomerId, EventId, OrderId, Signup, Touch, TouchKind, VisitorId,
};
use referrals::program::Incentive;
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

/// The rule set of `examples/incentives.rs`, cut out of its source.
fn example_rules() -> RuleSet {
    let source = include_str!("../examples/incentives.rs");
    let start = source
        .find("const RULES: &str = r#\"")
        .expect("examples/incentives.rs defines RULES")
        + "const RULES: &str = r#\"".len();
    let len = source[start..].find("\"#;").expect("RULES ends");
    serde_json::from_str(&source[start..start + len]).unwrap()
}

/// The fixed two-sided reward as one tiered rule (what the fixed reward
/// pays until a referrer's 3rd referral).
fn two_sided_rule() -> RuleSet {
    let credit = |minor| {
        format!(r#"{{"kind": "credit", "amount": {{"minor": {minor}, "currency": "SAR"}}}}"#)
    };
    serde_json::from_str(&format!(
        r#"{{"version": 1, "terms_version": 1, "time_zone": "Asia/Riyadh", "currency": "SAR",
            "rules": [{{"id": "friends", "trigger": {{"on": "first_purchase"}},
              "effects": [{{"to": "referrer", "fixed": {r15}}}, {{"to": "referee", "fixed": {r10}}}],
              "tiers": {{"levels": [{{"at": 3, "effects": [
                {{"to": "referrer", "fixed": {r25}}}, {{"to": "referee", "fixed": {r10}}}]}}]}}}}]}}"#,
        r15 = credit(1500),
        r10 = credit(1000),
        r25 = credit(2500),
    ))
    .unwrap()
}

fn program_with(incentive: Option<Incentive>, policy: LedgerPolicy) -> Program {
    let sar = |minor| Money::new(minor, Currency::SAR);
    let builder = Program::builder("bench", "Bench")
        .currency(Currency::SAR)
        .lookback_days(30)
        .ledger_policy(policy);
    match incentive {
        Some(Incentive::Rules(rules)) => builder
            .terms(rules.terms_version(), "As the rules say.")
            .incentive(Incentive::Rules(rules)),
        Some(i) => builder.incentive(i),
        None => builder.two_sided_reward(sar(1500), sar(1000)),
    }
    .build()
    .unwrap()
}

/// A hold, a budget and a referrer cap that never bind.
fn busy_policy() -> LedgerPolicy {
    LedgerPolicy {
        hold_seconds: Some(14 * 86_400),
        budget: Some(Budget {
            limit: Money::new(100_000_000_000, Currency::SAR),
            overdraft: None,
            shared: None,
        }),
        caps: vec![Cap {
            on: CapSubject::Referrer,
            measure: CapMeasure::Value,
            limit: 100_000_000,
            period: CapPeriod::Month,
            shared: None,
        }],
        ..LedgerPolicy::default()
    }
}

/// Friends per referrer in the `engine_rules` and `engine_ledger_policy`
/// groups: the 3rd reaches the tier, and the rules read a history.
const FRIENDS: usize = 4;

/// Whole referrals: issue the referrer's code (issued once, then returned),
/// a signup with the typed code, a first purchase of `minor` with the
/// host's facts (the friend is new). Every referral must pay.
fn run_typed(engine: &Engine<MemoryStore>, ids: &[Ids], t0: DateTime<Utc>, minor: i64) {
    let facts = HostFacts {
        referee_is_new: Some(true),
        ..HostFacts::default()
    };
    block_on(async {
        for (i, id) in ids.iter().enumerate() {
            let at = t0 + TimeDelta::seconds(i as i64);
            let code = engine
                .issue_code(&id.referrer, at)
                .await
                .unwrap()
                .record
                .code;
            engine
                .record_signup(&Signup {
                    id: id.signup.clone(),
                    customer: id.referee.clone(),
                    visitor: None,
                    code: Some(code),
                    channel: Some(Channel::WhatsApp),
                    at,
                })
                .await
                .unwrap();
            let outcome = engine
                .record_conversion_with(
                    &Conversion {
                        order: id.order.clone(),
                        customer: id.referee.clone(),
                        amount: Money::new(minor, Currency::SAR),
                        at: at + TimeDelta::hours(1),
                    },
                    &facts,
                )
                .await
                .unwrap();
            assert!(
                matches!(outcome, ConversionOutcome::Rewarded { .. }),
                "{outcome:?}"
            );
        }
    });
}

/// `n` referrals, `FRIENDS` per referrer.
fn shared_ids(n: usize) -> Vec<Ids> {
    let mut ids = ids(n);
    for (i, id) in ids.iter_mut().enumerate() {
        id.referrer = CustomerId::new(format!("referrer-{}", i / FRIENDS)).unwrap();
    }
    ids
}

fn bench_whole(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    program: &Program,
    ids: &[Ids],
    (t0, minor): (DateTime<Utc>, i64),
) {
    g.bench_function(name, |b| {
        b.iter_batched(
            || Engine::new(MemoryStore::new(), program.clone()).with_rng(StdRng::seed_from_u64(1)),
            |engine| {
                run_typed(&engine, ids, t0, minor);
                engine
            },
            BatchSize::LargeInput,
        )
    });
}

fn bench_rules(c: &mut Criterion) {
    // Mid-Ramadan 2027 in Riyadh and orders of 300 SAR: every rule of the
    // example's set that can pays (5 rewards a referral).
    let t0 = (Utc.with_ymd_and_hms(2027, 2, 15, 9, 0, 0).unwrap(), 30_000);
    // Before Ramadan, orders of 120 SAR: the example's set pays the friend
    // and the referrer only, as the fixed reward does.
    let before = (Utc.with_ymd_and_hms(2027, 1, 27, 9, 0, 0).unwrap(), 12_000);
    let ids = shared_ids(REFERRALS);
    let none = LedgerPolicy::default();
    let mut g = c.benchmark_group("engine_rules");
    g.throughput(Throughput::Elements(REFERRALS as u64));
    bench_whole(
        &mut g,
        "fixed_two_sided",
        &program_with(None, none.clone()),
        &ids,
        t0,
    );
    bench_whole(
        &mut g,
        "rules_two_sided",
        &program_with(Some(Incentive::Rules(two_sided_rule())), none.clone()),
        &ids,
        t0,
    );
    bench_whole(
        &mut g,
        "rules_example_set",
        &program_with(Some(Incentive::Rules(example_rules())), none.clone()),
        &ids,
        t0,
    );
    bench_whole(
        &mut g,
        "rules_example_set_two_rewards",
        &program_with(Some(Incentive::Rules(example_rules())), none),
        &ids,
        before,
    );
    g.finish();

    let mut g = c.benchmark_group("engine_ledger_policy");
    g.throughput(Throughput::Elements(REFERRALS as u64));
    bench_whole(
        &mut g,
        "fixed_no_policy",
        &program_with(None, LedgerPolicy::default()),
        &ids,
        t0,
    );
    bench_whole(
        &mut g,
        "fixed_hold_budget_cap",
        &program_with(None, busy_policy()),
        &ids,
        t0,
    );
    g.finish();
}

criterion_group!(benches, bench, bench_rules);
criterion_main!(benches);

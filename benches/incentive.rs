//! `incentive::evaluate` per conversion, with 1, 10 and 100 rules.
//!
//! Run: `cargo bench --bench incentive`. The rules are a realistic mix:
//! two-sided first-purchase rewards under a condition tree, percentages
//! with a minimum and maximum, tiered rules counting the referrer's
//! history (ten past referrals), milestones, and signup rules that the
//! purchase does not trigger. Goals: under 1 µs at 10 rules, under 10 µs at
//! 100.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use referrals::incentive::{
    AmountTest, Beneficiary, CompareOp, Condition, CustomerFacts, Downgrade, Effect, EventFacts,
    Facts, PastReferral, PayAs, Percent, ReferralFacts, ReferrerHistory, Rule, RuleSet,
    RuleSetSpec, TierLevel, Tiers, Trigger, Window, evaluate,
};
use referrals::model::{CustomerId, ProgramId};
use referrals::reward::{Label, RewardKind};
use referrals::{Channel, Currency, Money};

fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

fn credit(to: Beneficiary, minor: i64) -> Effect {
    Effect {
        to,
        fixed: Some(RewardKind::Credit { amount: sar(minor) }),
        percent: None,
    }
}

fn rule(i: usize) -> Rule {
    let (trigger, when, effects, tiers) = match i % 5 {
        0 => (
            Trigger::FirstPurchase,
            Some(Condition::All(vec![
                Condition::RefereeIsNew(true),
                Condition::DaysSinceReferralAtMost(30),
                Condition::ChannelIn(vec![Channel::WhatsApp, Channel::Sms]),
            ])),
            vec![
                credit(Beneficiary::Referrer, 1500),
                credit(Beneficiary::Referee, 1000),
            ],
            None,
        ),
        1 => (
            Trigger::Purchase { up_to: Some(3) },
            Some(Condition::OrderAmount(AmountTest {
                op: CompareOp::Ge,
                amount: sar(5_000),
            })),
            vec![Effect {
                to: Beneficiary::Referee,
                fixed: None,
                percent: Some(Percent {
                    basis_points: 1000,
                    min: sar(500),
                    max: sar(3000),
                    pay_as: PayAs::Credit,
                }),
            }],
            None,
        ),
        2 => (
            Trigger::FirstPurchase,
            None,
            vec![credit(Beneficiary::Referrer, 1000)],
            Some(Tiers {
                window: Window::Lifetime,
                downgrade: Downgrade::Derived,
                levels: vec![
                    TierLevel {
                        at: 3,
                        effects: vec![credit(Beneficiary::Referrer, 1500)],
                    },
                    TierLevel {
                        at: 10,
                        effects: vec![credit(Beneficiary::Referrer, 2500)],
                    },
                ],
            }),
        ),
        3 => (
            Trigger::Milestone {
                referrals: 5 + i as u32,
                window: Window::Lifetime,
                downgrade: Downgrade::Derived,
            },
            None,
            vec![credit(Beneficiary::Referrer, 5000)],
            None,
        ),
        _ => (
            Trigger::Signup,
            None,
            vec![credit(Beneficiary::Both, 100)],
            None,
        ),
    };
    Rule {
        id: Label::new(format!("rule-{i:03}")).unwrap(),
        trigger,
        when,
        effects,
        tiers,
        group: None,
        priority: (i % 7) as i32,
        exclusive: false,
        campaign: None,
        value: None,
    }
}

fn rules(n: usize) -> RuleSet {
    RuleSet::from_spec(RuleSetSpec {
        version: 1,
        terms_version: 1,
        time_zone: "Asia/Riyadh".into(),
        currency: Currency::SAR,
        charities: vec![],
        groups: vec![],
        experiments: vec![],
        contests: vec![],
        rules: (0..n).map(rule).collect(),
    })
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let now: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap();
    let program = ProgramId::new("bakery").unwrap();
    let history = ReferrerHistory {
        referrals: (0..10)
            .map(|i| PastReferral {
                referee: CustomerId::new(format!("friend-{i}")).unwrap(),
                at: now - TimeDelta::days(3 + i),
                value: sar(10_000),
                reversed_at: None,
            })
            .collect(),
        ..ReferrerHistory::default()
    };
    let referrer = CustomerFacts::default();
    let referee = CustomerFacts::default();
    let variants = BTreeMap::new();
    let facts = Facts {
        program: &program,
        event: EventFacts::Purchase {
            amount: sar(12_000),
            purchase_number: 1,
            at: now,
        },
        referral: ReferralFacts {
            referrer: CustomerId::new("amira").unwrap(),
            referee: Some(CustomerId::new("badr").unwrap()),
            channel: Channel::WhatsApp,
            referred_at: now - TimeDelta::days(2),
            referee_is_new: Some(true),
        },
        referrer: &referrer,
        referee: &referee,
        history: &history,
        completes_referral: true,
        variants: &variants,
    };
    let mut group = c.benchmark_group("incentive_evaluate");
    for n in [1usize, 10, 100] {
        let set = rules(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &set, |b, set| {
            b.iter(|| evaluate(std::hint::black_box(set), std::hint::black_box(&facts)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The fraud battery per signup: the referee's identity normalised and
//! keyed-hashed (e-mail, phone, device, IP and its network, payment,
//! address: seven HMACs), compared with the referrer's, the self-referral,
//! duplicate, velocity and timing checks, a ring search over a referral
//! graph of 1,000,000 customers, and the default policy's verdict.
//!
//! Run: `cargo bench --bench fraud --features testing`. The goal
//! is under 20 µs per signup on `MemoryStore` holding 1,000,000 customers:
//!
//! - `fraud_battery_per_signup_1m_customers`: the pure battery alone;
//! - `engine_signup_screened_1m_customers`: a whole referred signup
//!   through the engine with the identity above, the store's reads (the
//!   referrer's identity, the device's and network's holders, the
//!   referrer's recent referees, the referral chain) and the commit;
//! - `engine_signup_unscreened_1m_customers`: the same signup in a program
//!   without fraud settings, for the screening's share.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use referrals::engine::{HostFacts, block_on};
use referrals::fraud::FraudSettings;
use referrals::fraud::checks::{self, Limits, Rate, RefereeHistory};
use referrals::fraud::identity::{IdentityInput, IdentityKey, KeyId, Keyring, NormaliseOptions};
use referrals::fraud::policy::FraudPolicy;
use referrals::model::{Channel, CustomerId, EventId, Signup};
use referrals::store::{
    CodeOrigin, CodeRecord, CommitPlan, CustomerRecord, IdentityRecord, Referral, Store, Write,
};
use referrals::{Code, Currency, Engine, MemoryStore, Money, Program};

const CUSTOMERS: u64 = 1_000_000;

fn cid(i: u64) -> CustomerId {
    CustomerId::new(format!("customer-{i}")).unwrap()
}

/// A splitmix64 step: a deterministic graph without a dependency.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + TimeDelta::seconds(seconds)
}

fn battery(c: &mut Criterion) {
    // Each customer referred 0 to 3 others at random: 1.5 M referrals.
    let mut referees: HashMap<CustomerId, Vec<CustomerId>> =
        HashMap::with_capacity(CUSTOMERS as usize);
    for i in 0..CUSTOMERS {
        let n = mix(i) % 4;
        let list = (0..n)
            .map(|k| cid(mix(i * 4 + k + 1) % CUSTOMERS))
            .collect();
        referees.insert(cid(i), list);
    }
    let keys =
        Keyring::new(IdentityKey::new(KeyId::new(1), b"a program secret of 32 bytes....").unwrap());
    let options = NormaliseOptions::default()
        .with_default_region(966)
        .unwrap();
    let referrer_signals = keys.signals(
        &IdentityInput {
            email: Some("amira.saleh@gmail.com".into()),
            phone: Some("+966 50 123 4567".into()),
            device: Some("ios-7f3a".into()),
            ip: Some("203.0.113.7".into()),
            payment: Some("card-fp-1".into()),
            address: Some("12 King Fahd Rd, Riyadh".into()),
        },
        &options,
    );
    let policy = FraudPolicy::default();
    let limits = Limits::default();
    let recent: Vec<DateTime<Utc>> = (0..30).map(|i| t(i * 1_800)).collect();
    let mut n = 0u64;
    c.bench_function("fraud_battery_per_signup_1m_customers", |b| {
        b.iter(|| {
            n += 1;
            let referee_input = IdentityInput {
                email: Some(format!("friend.{n}+promo@googlemail.com")),
                phone: Some(format!("05{:08}", n % 100_000_000)),
                device: Some(format!("android-{n}")),
                ip: Some(format!("198.51.100.{}", n % 250)),
                payment: Some(format!("card-fp-{n}")),
                address: Some(format!("{} Olaya St, Apt {}, Riyadh", n % 900, n % 40)),
            };
            let signals = keys.signals(&referee_input, &options);
            let shared = signals.shared_with(&referrer_signals);
            let referrer = cid(mix(n) % CUSTOMERS);
            let referee = cid(mix(n + 7) % CUSTOMERS);
            let now = t(15 * 3_600);
            let mut found: Vec<checks::Signal> = Vec::new();
            found.extend(checks::self_referral(&referrer, &shared));
            found.extend(checks::duplicate_referee(&RefereeHistory::default()));
            for rate in [Rate::ReferralsPerHour, Rate::ReferralsPerDay] {
                found.extend(checks::velocity(
                    rate,
                    checks::count_in_window(rate, &recent, now),
                    &limits,
                ));
            }
            found.extend(checks::timing(now - TimeDelta::minutes(5), now, &limits));
            found.extend(checks::ring(
                &referrer,
                &referee,
                |c| referees.get(c).cloned().unwrap_or_default(),
                &limits,
            ));
            policy.decide(found)
        })
    });
}

/// A store holding `CUSTOMERS` signed-up customers, each referred by an
/// earlier one and holding an identity record (e-mail, device, IP and its
/// network; devices and networks shared by a few), and the codes of the
/// first 1,000 customers.
fn populated(program: &Program, keys: &Keyring) -> (MemoryStore, Vec<Code>) {
    // A smaller store for a quick run or a profile:
    // REFERRALS_BENCH_CUSTOMERS=100000 cargo bench --bench fraud ...
    let customers: u64 = std::env::var("REFERRALS_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CUSTOMERS);
    let store = MemoryStore::new();
    let pid = program.id().clone();
    let options = NormaliseOptions::default();
    let mut codes = Vec::new();
    for i in 0..customers {
        let customer = cid(i);
        let referral = (i > 0).then(|| Referral {
            referrer: cid(mix(i) % i),
            code: Code::from_canonical("AAAAAAAA").unwrap(),
            channel: Channel::Link,
            touched_at: t(0),
        });
        let signals = keys.signals(
            &IdentityInput {
                email: Some(format!("customer{i}@example.com")),
                device: Some(format!("device-{}", i % 900_000)),
                ip: Some(format!("10.{}.{}.{}", i % 200, (i / 200) % 250, i % 7)),
                ..IdentityInput::default()
            },
            &options,
        );
        let mut identity = IdentityRecord {
            program: pid.clone(),
            customer: customer.clone(),
            signals: Vec::new(),
            disposable_email: false,
        };
        identity.merge(&signals, t(0));
        let mut writes = vec![
            Write::PutCustomer {
                record: CustomerRecord {
                    program: pid.clone(),
                    customer: customer.clone(),
                    signed_up_at: t(0),
                    visitor: None,
                    referral,
                    qualifying_touches: Vec::new(),
                    rewarded_conversions: 0,
                    purchases: 0,
                    screening: None,
                },
                expected: 0,
            },
            Write::PutIdentity {
                record: identity,
                expected: 0,
            },
        ];
        if i < 1_000 {
            let code = Code::from_canonical(&format!("REF{i:05}")).unwrap();
            codes.push(code);
            writes.push(Write::PutCode {
                record: CodeRecord {
                    program: pid.clone(),
                    code,
                    owner: customer,
                    origin: CodeOrigin::Random,
                    created_at: t(0),
                    expires_at: None,
                    max_uses: None,
                    reward: None,
                    active: true,
                },
                expected: 0,
            });
        }
        block_on(store.commit(CommitPlan {
            idempotency: None,
            writes,
        }))
        .unwrap();
    }
    (store, codes)
}

fn engine_signups(c: &mut Criterion) {
    let keys =
        Keyring::new(IdentityKey::new(KeyId::new(1), b"a program secret of 32 bytes....").unwrap());
    let builder = || {
        Program::builder("bench", "Bench")
            .currency(Currency::SAR)
            .two_sided_reward(
                Money::new(1_500, Currency::SAR),
                Money::new(1_000, Currency::SAR),
            )
    };
    let screened = builder().fraud(FraudSettings::default()).build().unwrap();
    let unscreened = builder().build().unwrap();
    let (store, codes) = populated(&screened, &keys);
    for (name, program) in [
        ("engine_signup_screened_1m_customers", screened),
        ("engine_signup_unscreened_1m_customers", unscreened),
    ] {
        let screens = program.fraud().is_some();
        let engine = Engine::new(store.clone(), program).with_identity_keyring(keys.clone());
        let mut n = 0u64;
        c.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                let customer = format!("{name}-{n}");
                let signup = Signup {
                    id: EventId::new(customer.as_str()).unwrap(),
                    customer: CustomerId::new(customer.as_str()).unwrap(),
                    visitor: None,
                    code: Some(codes[(mix(n) % codes.len() as u64) as usize]),
                    channel: None,
                    at: t(3_600 + n as i64),
                };
                let identity = if screens {
                    IdentityInput {
                        email: Some(format!("friend.{n}+promo@googlemail.com")),
                        device: Some(format!("device-{}", mix(n) % 1_800_000)),
                        ip: Some(format!("10.{}.{}.9", n % 200, n % 250)),
                        ..IdentityInput::default()
                    }
                } else {
                    IdentityInput::default()
                };
                block_on(engine.record_signup_screened(&signup, &HostFacts::default(), &identity))
                    .unwrap()
            })
        });
    }
}

criterion_group!(benches, battery, engine_signups);
criterion_main!(benches);

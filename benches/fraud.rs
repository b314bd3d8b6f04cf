//! The fraud battery per signup: the referee's identity normalised and
//! keyed-hashed (e-mail, phone, device, IP and its network, payment,
//! address: seven HMACs), compared with the referrer's, the self-referral,
//! duplicate, velocity and timing checks, a ring search over a referral
//! graph of 1,000,000 customers, and the default policy's verdict.
//!
//! Run: `cargo bench --bench fraud`. The goal is under 20 µs per
//! signup; this measures the pure battery (the engine does not call it
//! yet, so a store's reads are not included).

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use referrals::fraud::checks::{self, Limits, Rate, RefereeHistory};
use referrals::fraud::identity::{IdentityInput, IdentityKey, KeyId, Keyring, NormaliseOptions};
use referrals::fraud::policy::FraudPolicy;
use referrals::model::CustomerId;

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

criterion_group!(benches, battery);
criterion_main!(benches);

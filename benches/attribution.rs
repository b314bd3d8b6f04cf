//! Per-conversion attribution: journeys of 1, 5 and 50 touches under each
//! model.
//!
//! Run: `cargo bench --bench attribution`. Throughput counts conversions
//! attributed.

use chrono::{TimeDelta, TimeZone, Utc};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use referrals::attribution::{AttributionPolicy, Model, TouchPoint, attribute};
use referrals::model::{CustomerId, TouchKind};
use referrals::{Channel, Currency, Money};

fn journey(touches: usize) -> Vec<TouchPoint> {
    let t0 = Utc.with_ymd_and_hms(2026, 5, 1, 0, 0, 0).unwrap();
    let referrers: Vec<CustomerId> = (0..7)
        .map(|i| CustomerId::new(format!("referrer-{i}")).unwrap())
        .collect();
    let channels = [Channel::WhatsApp, Channel::Email, Channel::Sms, Channel::Qr];
    (0..touches)
        .map(|i| TouchPoint {
            id: format!("touch-{i:03}"),
            referrer: referrers[(i * 5 + 3) % referrers.len()].clone(),
            channel: channels[i % channels.len()].clone(),
            kind: TouchKind::Click,
            // Spread over 20 days, in no particular order.
            at: t0 + TimeDelta::minutes(((i * 7919) % 28_800) as i64),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let at = Utc.with_ymd_and_hms(2026, 5, 21, 0, 0, 0).unwrap();
    let models = [
        ("last_touch", Model::LastTouch),
        ("first_touch", Model::FirstTouch),
        ("linear", Model::Linear),
        ("time_decay", Model::time_decay()),
        ("position_based", Model::position_based()),
        (
            "custom_weights",
            Model::CustomWeights {
                weights: vec![3, 1, 1, 2],
                from_last: false,
            },
        ),
    ];
    let reward = Money::new(2_500, Currency::SAR);
    let mut g = c.benchmark_group("attribute");
    g.throughput(Throughput::Elements(1));
    for touches in [1, 5, 50] {
        let journey = journey(touches);
        for (name, model) in &models {
            let policy = AttributionPolicy::with_model(model.clone());
            g.bench_with_input(BenchmarkId::new(*name, touches), &journey, |b, j| {
                b.iter(|| {
                    let a = attribute(&policy, j, at);
                    a.split(reward).map(|p| p.len()).unwrap_or(0)
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

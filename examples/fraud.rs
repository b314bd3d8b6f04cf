//! Fraud checks on a handful of stories, honest and not: identities
//! keyed-hashed on entry, the checks' signals, and the default policy's
//! verdict for each side, with its reasons.
//!
//! Run: `cargo run --example fraud`
//!
//! The checks are pure functions over what a host counted or found; the
//! engine does not call them yet (see the CHANGELOG).

use referrals::fraud::checks::{self, Limits, Rate, RefundCounts, Signal};
use referrals::fraud::identity::{IdentityInput, IdentityKey, KeyId, Keyring, NormaliseOptions};
use referrals::fraud::policy::FraudPolicy;
use referrals::model::CustomerId;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The program's secret: in production from a secret store, rotated
    // with `Keyring::rotate` (old hashes stay comparable).
    let keys = Keyring::new(IdentityKey::new(
        KeyId::new(1),
        b"riyadh-bakery: 32 bytes or more.",
    )?);
    let options = NormaliseOptions::default().with_default_region(966)?;
    let policy = FraudPolicy::default();
    let limits = Limits::default();
    let amira = CustomerId::new("amira")?;

    // What Amira gave when she signed up.
    let referrer = keys.signals(
        &IdentityInput {
            email: Some("amira.saleh@gmail.com".into()),
            phone: Some("+966 50 123 4567".into()),
            device: Some("ios-7f3a".into()),
            ip: Some("203.0.113.7".into()),
            ..IdentityInput::default()
        },
        &options,
    );
    let shared_with_amira = |input: IdentityInput| {
        let referee = keys.signals(&input, &options);
        checks::self_referral(&amira, &referee.shared_with(&referrer))
            .into_iter()
            .collect::<Vec<Signal>>()
    };

    let stories: Vec<(&str, Vec<Signal>)> = vec![
        (
            "Badr, her brother, signs up at home on his own phone",
            shared_with_amira(IdentityInput {
                email: Some("badr@example.com".into()),
                phone: Some("٠٥٠٧٦٥٤٣٢١".into()),
                ip: Some("203.0.113.9".into()),
                ..IdentityInput::default()
            }),
        ),
        (
            "A second account: her e-mail with dots moved and a +tag",
            shared_with_amira(IdentityInput {
                email: Some("AmiraSaleh+promo@googlemail.com".into()),
                ..IdentityInput::default()
            }),
        ),
        (
            "A new account on her phone (same device)",
            shared_with_amira(IdentityInput {
                email: Some("someone.new@example.com".into()),
                device: Some("ios-7f3a".into()),
                ..IdentityInput::default()
            }),
        ),
        (
            "Five accounts referring each other in a ring",
            checks::ring(
                &CustomerId::new("e")?,
                &CustomerId::new("a")?,
                checks::referees_in(
                    &[("a", "b"), ("b", "c"), ("c", "d"), ("d", "e")]
                        .map(|(x, y)| (CustomerId::new(x).unwrap(), CustomerId::new(y).unwrap())),
                ),
                &limits,
            )
            .into_iter()
            .collect(),
        ),
        (
            "A farm: 30 signups from one device in a day",
            checks::velocity(Rate::SignupsPerDevicePerDay, 30, &limits)
                .into_iter()
                .collect(),
        ),
        (
            "Her code posted on a coupon site: 40 strangers from one site",
            checks::code_leakage("coupons.example", 40, &limits)
                .into_iter()
                .collect(),
        ),
        (
            "400 invalid codes from one network in an hour",
            checks::code_guessing("198.51.100.0/24", 400, &limits)
                .into_iter()
                .collect(),
        ),
        (
            "Her referees refund 8 of 10 orders (the program: 4 %)",
            checks::refund_abuse(
                &amira,
                RefundCounts {
                    refunds: 8,
                    conversions: 10,
                },
                RefundCounts {
                    refunds: 40,
                    conversions: 1_000,
                },
                &limits,
            )
            .into_iter()
            .collect(),
        ),
        (
            "A genuinely busy week: 9 referrals a day, 3 an hour",
            checks::velocity(Rate::ReferralsPerDay, 9, &limits)
                .into_iter()
                .chain(checks::velocity(Rate::ReferralsPerHour, 3, &limits))
                .collect(),
        ),
    ];

    for (story, signals) in stories {
        let verdict = policy.decide(signals);
        println!("{story}");
        println!(
            "  referrer: {:?}, referee: {:?}",
            verdict.referrer, verdict.referee
        );
        for reason in &verdict.reasons {
            println!("  - {reason}");
        }
        if verdict.reasons.is_empty() {
            println!("  - nothing found");
        }
    }
    Ok(())
}

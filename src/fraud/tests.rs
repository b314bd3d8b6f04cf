//! Attack and honest stories through the three parts together: identity
//! signals keyed-hashed on entry, the checks, the default policy.

use super::checks::{self, Check, Limits, Rate};
use super::identity::{IdentityInput, IdentityKey, KeyId, Keyring, NormaliseOptions};
use super::policy::{Action, FraudPolicy};
use crate::model::CustomerId;

fn cid(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

fn keyring() -> Keyring {
    Keyring::new(IdentityKey::new(KeyId::new(1), b"a program secret of 32 bytes....").unwrap())
}

fn options() -> NormaliseOptions {
    NormaliseOptions::default()
        .with_default_region(966)
        .unwrap()
}

/// The verdict on a referee who signed up with `referee` against a
/// referrer who signed up with `referrer`.
fn verdict(referrer: IdentityInput, referee: IdentityInput) -> (Action, Action, Vec<String>) {
    let keys = keyring();
    let theirs = keys.signals(&referrer, &options());
    let mine = keys.signals(&referee, &options());
    let shared = mine.shared_with(&theirs);
    let v = FraudPolicy::default().decide(
        checks::self_referral(&cid("amira"), &shared)
            .into_iter()
            .collect(),
    );
    (v.referrer, v.referee, v.reasons)
}

#[test]
fn a_second_email_with_gmail_dots_is_rejected() {
    let (referrer, referee, reasons) = verdict(
        IdentityInput {
            email: Some("amira.saleh@gmail.com".into()),
            ..IdentityInput::default()
        },
        IdentityInput {
            email: Some("AmiraSaleh+promo@googlemail.com".into()),
            ..IdentityInput::default()
        },
    );
    assert_eq!(
        (referrer, referee),
        (Action::Reject, Action::Reject),
        "{reasons:?}"
    );
    assert!(reasons[0].contains("shares email"), "{reasons:?}");
}

#[test]
fn the_same_device_with_a_new_account_is_held() {
    let (referrer, referee, _) = verdict(
        IdentityInput {
            email: Some("amira@example.com".into()),
            device: Some("dev-7f3a".into()),
            ..IdentityInput::default()
        },
        IdentityInput {
            email: Some("new-me@example.com".into()),
            device: Some("dev-7f3a".into()),
            ..IdentityInput::default()
        },
    );
    assert_eq!((referrer, referee), (Action::Hold, Action::Hold));
}

#[test]
fn siblings_on_one_home_network_are_never_rejected() {
    let (referrer, referee, reasons) = verdict(
        IdentityInput {
            email: Some("amira@example.com".into()),
            phone: Some("+966 50 123 4567".into()),
            ip: Some("203.0.113.7".into()),
            ..IdentityInput::default()
        },
        IdentityInput {
            email: Some("badr@example.com".into()),
            phone: Some("٠٥٠٧٦٥٤٣٢١".into()),
            ip: Some("203.0.113.9".into()),
            ..IdentityInput::default()
        },
    );
    assert_eq!(
        (referrer, referee),
        (Action::Hold, Action::Allow),
        "{reasons:?}"
    );
}

#[test]
fn a_phone_typed_two_ways_is_one_phone() {
    let (referrer, _, reasons) = verdict(
        IdentityInput {
            phone: Some("+966 50 123 4567".into()),
            ..IdentityInput::default()
        },
        IdentityInput {
            phone: Some("٠٥٠١٢٣٤٥٦٧".into()),
            ..IdentityInput::default()
        },
    );
    assert_eq!(referrer, Action::Reject, "{reasons:?}");
}

#[test]
fn a_ring_a_farm_a_coupon_site_a_brute_force_and_refund_abuse_are_caught() {
    let limits = Limits::default();
    let policy = FraudPolicy::default();
    let edges = [("b", "c"), ("c", "d"), ("d", "e"), ("a", "b")].map(|(x, y)| (cid(x), cid(y)));
    let ring = checks::ring(&cid("e"), &cid("a"), checks::referees_in(&edges), &limits).unwrap();
    let farm = checks::velocity(Rate::SignupsPerDevicePerDay, 30, &limits).unwrap();
    let site = checks::code_leakage("coupons.example", 40, &limits).unwrap();
    let guess = checks::code_guessing("198.51.100.0/24", 400, &limits).unwrap();
    let refunds = checks::refund_abuse(
        &cid("amira"),
        checks::RefundCounts {
            refunds: 8,
            conversions: 10,
        },
        checks::RefundCounts {
            refunds: 40,
            conversions: 1_000,
        },
        &limits,
    )
    .unwrap();
    for (signal, check, referrer, referee) in [
        (ring, Check::Ring, Action::Reject, Action::Reject),
        (farm, Check::Velocity, Action::Hold, Action::Hold),
        (site, Check::CodeLeakage, Action::Hold, Action::Allow),
        (guess, Check::CodeGuessing, Action::Allow, Action::Reject),
        (refunds, Check::RefundAbuse, Action::Hold, Action::Allow),
    ] {
        assert_eq!(signal.check, check);
        let v = policy.decide(vec![signal]);
        assert_eq!(
            (v.referrer, v.referee),
            (referrer, referee),
            "{check}: {v:?}"
        );
    }
}

#[test]
fn a_genuinely_busy_week_and_a_customer_who_moved_pass() {
    let limits = Limits::default();
    // Eight referrals a day for a week, never more than three in an hour.
    for day in 0..7 {
        assert!(checks::velocity(Rate::ReferralsPerDay, 8 + day % 2, &limits).is_none());
        assert!(checks::velocity(Rate::ReferralsPerHour, 3, &limits).is_none());
    }
    // A referee who moved into the referrer's old flat shares only an
    // address: held for a look, not rejected.
    let (referrer, referee, _) = verdict(
        IdentityInput {
            address: Some("12 King Fahd Rd, Apt 4, Riyadh".into()),
            ..IdentityInput::default()
        },
        IdentityInput {
            address: Some("12 king fahd road apartment 4 riyadh".into()),
            ..IdentityInput::default()
        },
    );
    assert!(referrer <= Action::Hold && referee <= Action::Hold);
}

//! Fraud screening through the engine on the in-memory store: attack
//! stories caught with the right reason, honest ones passing, the review
//! queue, declining a fraudster's pending rewards, erasure, export and
//! retention. The same engine paths run over every durable store in
//! `engine::conformance::fraud_screening_over_store`.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use referrals::engine::{ConversionOutcome, HostFacts, Reason, SignupOutcome, block_on};
use referrals::fraud::FraudSettings;
use referrals::fraud::checks::Check;
use referrals::fraud::identity::{IdentityInput, IdentityKey, KeyId, Keyring, NormaliseOptions};
use referrals::fraud::policy::Action;
use referrals::ledger::HoldReason;
use referrals::model::{
    Conversion, CustomerId, EventId, OperatorId, OrderId, Refund, RefundAmount, RefundId, Signup,
};
use referrals::store::{EntryKind, Role};
use referrals::{Code, Currency, Engine, ErrorKind, MemoryStore, Money, Program};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

fn cid(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

fn keyring() -> Keyring {
    Keyring::new(IdentityKey::new(KeyId::new(1), b"bakery identity secret, 32 bytes+").unwrap())
}

fn settings() -> FraudSettings {
    FraudSettings::default().with_identity(
        NormaliseOptions::default()
            .with_default_region(966)
            .unwrap(),
    )
}

fn program(settings: FraudSettings) -> Program {
    Program::builder("bakery", "Bakery friends")
        .currency(Currency::SAR)
        .lookback_days(30)
        .two_sided_reward(sar(1500), sar(1000))
        .fraud(settings)
        .build()
        .unwrap()
}

fn engine() -> Engine<MemoryStore> {
    engine_with(settings())
}

fn engine_with(settings: FraudSettings) -> Engine<MemoryStore> {
    Engine::new(MemoryStore::new(), program(settings))
        .with_rng(StdRng::seed_from_u64(11))
        .with_identity_keyring(keyring())
}

fn email(e: &str) -> IdentityInput {
    IdentityInput {
        email: Some(e.into()),
        ..IdentityInput::default()
    }
}

fn signup(id: &str, customer: &str, code: Option<Code>, at: DateTime<Utc>) -> Signup {
    Signup {
        id: EventId::new(id).unwrap(),
        customer: cid(customer),
        visitor: None,
        code,
        channel: None,
        at,
    }
}

fn order(id: &str, customer: &str, minor: i64, at: DateTime<Utc>) -> Conversion {
    Conversion {
        order: OrderId::new(id).unwrap(),
        customer: cid(customer),
        amount: sar(minor),
        at,
    }
}

/// Signs `referrer` up unreferred with `identity` and issues their code.
fn referrer(e: &Engine<MemoryStore>, name: &str, identity: IdentityInput) -> Code {
    block_on(e.record_signup_screened(
        &signup(&format!("s-{name}"), name, None, t0()),
        &HostFacts::default(),
        &identity,
    ))
    .unwrap();
    block_on(e.issue_code(&cid(name), t0()))
        .unwrap()
        .record
        .code
}

fn refer(
    e: &Engine<MemoryStore>,
    name: &str,
    code: Code,
    identity: IdentityInput,
    at: DateTime<Utc>,
) -> SignupOutcome {
    block_on(e.record_signup_screened(
        &signup(&format!("s-{name}"), name, Some(code), at),
        &HostFacts::default(),
        &identity,
    ))
    .unwrap()
}

fn checks_of(e: &Engine<MemoryStore>, customer: &str) -> Vec<Check> {
    block_on(e.customer(&cid(customer)))
        .unwrap()
        .unwrap()
        .screening
        .map(|s| s.verdict.signals.iter().map(|s| s.check).collect())
        .unwrap_or_default()
}

#[test]
fn a_second_account_with_gmail_dots_is_refused_with_its_reason() {
    let e = engine();
    let code = referrer(&e, "amira", email("amirasaleh@gmail.com"));
    let out = refer(
        &e,
        "amira2",
        code,
        email("Amira.Saleh+promo@googlemail.com"),
        t0() + TimeDelta::hours(1),
    );
    assert_eq!(
        out,
        SignupOutcome::NotReferred {
            reason: Reason::SuspectedFraud
        }
    );
    let record = block_on(e.customer(&cid("amira2"))).unwrap().unwrap();
    let screening = record.screening.expect("the screening is kept");
    assert_eq!(screening.verdict.referrer, Action::Reject);
    assert!(
        screening.verdict.reasons[0].contains("email"),
        "{screening:?}"
    );
    assert_eq!(record.referral, None);
    // The code was not used up by the refused referral.
    let check = block_on(e.check_code(code.as_str(), t0())).unwrap();
    assert_eq!(check.uses, 0);
    // A purchase pays nobody.
    let out =
        block_on(e.record_conversion(&order("o1", "amira2", 20_000, t0() + TimeDelta::days(1))))
            .unwrap();
    assert!(
        matches!(out, ConversionOutcome::NotRewarded { .. }),
        "{out:?}"
    );
}

#[test]
fn the_same_device_is_held_for_review_and_the_reviewer_decides() {
    let e = engine();
    let device = |email: &str| IdentityInput {
        email: Some(email.into()),
        device: Some("ios-7f3a-11".into()),
        ..IdentityInput::default()
    };
    let code = referrer(&e, "amira", device("amira@example.com"));
    let out = refer(
        &e,
        "hind",
        code,
        device("hind@example.com"),
        t0() + TimeDelta::hours(2),
    );
    assert!(matches!(out, SignupOutcome::Referred { .. }), "{out:?}");
    assert_eq!(checks_of(&e, "hind"), [Check::SelfReferral]);

    let out =
        block_on(e.record_conversion(&order("o1", "hind", 20_000, t0() + TimeDelta::days(1))))
            .unwrap();
    let ConversionOutcome::Rewarded {
        payouts, entries, ..
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(payouts.len(), 2);
    assert!(entries.iter().all(|e| e.kind == EntryKind::Held));
    let queue = block_on(e.review_queue(None, 10)).unwrap();
    assert_eq!(queue.len(), 2);
    for r in &queue {
        let Some(HoldReason::Review { note, screening }) = &r.hold else {
            panic!("{r:?}")
        };
        assert!(note.contains("device"), "{note}");
        assert_eq!(
            screening.as_ref().unwrap().verdict.signals[0].check,
            Check::SelfReferral
        );
        assert_eq!(r.release_at, None, "a review is not released by time");
    }
    // Time does not release a review.
    let report = block_on(e.release_due(t0() + TimeDelta::days(400), 10)).unwrap();
    assert_eq!(report.moved, 0);

    let reviewer = OperatorId::new("noura").unwrap();
    let referee_reward = queue.iter().find(|r| r.role == Role::Referee).unwrap();
    let referrer_reward = queue.iter().find(|r| r.role == Role::Referrer).unwrap();
    let at = t0() + TimeDelta::days(2);
    let approved =
        block_on(e.approve(&referee_reward.id, &reviewer, "sisters, one phone", at)).unwrap();
    assert_eq!(approved.progress.available, 1000);
    let rejected = block_on(e.reject(&referrer_reward.id, &reviewer, "same device", at)).unwrap();
    assert_eq!(rejected.progress.pending, 0);
    assert_eq!(rejected.decision.as_ref().unwrap().by, reviewer);
    assert!(block_on(e.review_queue(None, 10)).unwrap().is_empty());
    assert_eq!(block_on(e.balance(&cid("hind"))).unwrap(), sar(1000));
    assert_eq!(block_on(e.balance(&cid("amira"))).unwrap(), sar(0));
}

/// Amira refers Hind on Amira's own device, and Hind buys a day later, in
/// `program` (which screens): the order's rewards are held for review.
/// Returns the engine and when the rewards were earned.
fn held_for_review(program: Program) -> (Engine<MemoryStore>, DateTime<Utc>) {
    let e = Engine::new(MemoryStore::new(), program)
        .with_rng(StdRng::seed_from_u64(11))
        .with_identity_keyring(keyring());
    let device = |email: &str| IdentityInput {
        email: Some(email.into()),
        device: Some("ios-7f3a-11".into()),
        ..IdentityInput::default()
    };
    let code = referrer(&e, "amira", device("amira@example.com"));
    refer(
        &e,
        "hind",
        code,
        device("hind@example.com"),
        t0() + TimeDelta::hours(2),
    );
    let earned = t0() + TimeDelta::days(1);
    block_on(e.record_conversion(&order("o1", "hind", 20_000, earned))).unwrap();
    (e, earned)
}

/// The same device again, in a program whose rewards are held 14 days and
/// valid 30: 16 days to spend. A review that takes 45 days must not hand
/// the friend a reward that is already expired: the 16 days count from the
/// approval. An approval within the hold keeps the expiry it was earned
/// with.
#[test]
fn an_approval_after_a_long_review_keeps_the_time_to_spend_the_reward() {
    let program = Program::builder("bakery", "Bakery friends")
        .currency(Currency::SAR)
        .lookback_days(30)
        .two_sided_reward(sar(1500), sar(1000))
        .ledger_policy(referrals::ledger::LedgerPolicy {
            hold_seconds: Some(14 * 86_400),
            valid_for_seconds: Some(30 * 86_400),
            ..Default::default()
        })
        .fraud(settings())
        .build()
        .unwrap();
    let (e, earned) = held_for_review(program);
    let queue = block_on(e.review_queue(None, 10)).unwrap();
    let referee = queue.iter().find(|r| r.role == Role::Referee).unwrap();
    let referrer_reward = queue.iter().find(|r| r.role == Role::Referrer).unwrap();
    assert_eq!(referee.expires_at, Some(earned + TimeDelta::days(30)));

    let reviewer = OperatorId::new("noura").unwrap();
    let early_at = earned + TimeDelta::days(3);
    let early = block_on(e.approve(&referrer_reward.id, &reviewer, "checked", early_at)).unwrap();
    assert_eq!(early.expires_at, Some(earned + TimeDelta::days(30)));

    let approved_at = earned + TimeDelta::days(45);
    let late = block_on(e.approve(&referee.id, &reviewer, "sisters", approved_at)).unwrap();
    let new_expiry = approved_at + TimeDelta::days(16);
    assert_eq!(late.expires_at, Some(new_expiry));
    assert_eq!(late.progress.available, 1000);
    // Spendable after the approval; the referrer's reward, approved early,
    // expired on its own date.
    let spent = block_on(e.redeem(&referrals::model::Redemption {
        id: referrals::model::RedemptionId::new("treat").unwrap(),
        reward: referee.id.clone(),
        quantity: 400,
        at: approved_at + TimeDelta::days(1),
    }))
    .unwrap();
    assert_eq!(spent.available, 600);
    let report = block_on(e.expire_due(approved_at + TimeDelta::days(1), 10)).unwrap();
    assert_eq!(report.moved, 1, "only the referrer's reward: {report:?}");
    let before = new_expiry - TimeDelta::seconds(1);
    assert_eq!(block_on(e.expire_due(before, 10)).unwrap().moved, 0);
    assert_eq!(block_on(e.expire_due(new_expiry, 10)).unwrap().moved, 1);
    assert_eq!(block_on(e.balance(&cid("hind"))).unwrap(), sar(0));
}

/// A screening program whose referee gets a 10 SAR coupon valid
/// `valid_days`, rewards held `hold_days`.
fn coupon_program(hold_days: Option<i64>, valid_days: i64) -> Program {
    let rules: referrals::incentive::RuleSet = serde_json::from_str(
        r#"{"version": 1, "terms_version": 1, "time_zone": "Asia/Riyadh", "currency": "SAR",
            "rules": [{"id": "coupon", "trigger": {"on": "first_purchase"},
              "effects": [{"to": "referee", "fixed": {"kind": "coupon", "discount": {"fixed": {"amount": {"minor": 1000, "currency": "SAR"}}}}}]}]}"#,
    )
    .unwrap();
    Program::builder("bakery", "Bakery friends")
        .currency(Currency::SAR)
        .lookback_days(30)
        .incentive(referrals::program::Incentive::Rules(rules))
        .ledger_policy(referrals::ledger::LedgerPolicy {
            hold_seconds: hold_days.map(|d| d * 86_400),
            coupons: referrals::ledger::CouponPolicy {
                valid_for_seconds: Some(valid_days * 86_400),
                ..Default::default()
            },
            ..Default::default()
        })
        .fraud(settings())
        .build()
        .unwrap()
}

/// A coupon held for review: its code expires with its reward, so a late
/// approval leaves the code usable for the coupon's whole validity.
#[test]
fn a_coupon_approved_after_a_long_review_can_still_be_used() {
    let program = coupon_program(None, 7);
    let (e, earned) = held_for_review(program);
    let queue = block_on(e.review_queue(None, 10)).unwrap();
    assert_eq!(queue.len(), 1);
    let coupon = queue[0].coupon.unwrap();

    let approved_at = earned + TimeDelta::days(20);
    let reviewer = OperatorId::new("noura").unwrap();
    let approved = block_on(e.approve(&queue[0].id, &reviewer, "sisters", approved_at)).unwrap();
    assert_eq!(approved.expires_at, Some(approved_at + TimeDelta::days(7)));
    let record = block_on(referrals::Store::code(e.store(), e.program().id(), &coupon))
        .unwrap()
        .unwrap()
        .record;
    assert_eq!(
        record.expires_at,
        Some(approved_at + TimeDelta::days(7)),
        "the code moves with its reward"
    );
    let used = block_on(e.redeem_coupon(
        coupon.as_str(),
        &OrderId::new("o2").unwrap(),
        approved_at + TimeDelta::days(6),
    ))
    .unwrap();
    assert_eq!(used.available, 0);
}

/// A coupon valid a day under a 30-day hold has no time to spend left
/// after its hold (the program allows it: a coupon's validity may be the
/// shorter). Approved on day 40 it expires at the approval, not at a time
/// before it, and never before the day it was earned to expire.
#[test]
fn a_coupon_shorter_than_the_hold_expires_at_its_approval() {
    let (e, earned) = held_for_review(coupon_program(Some(30), 1));
    let queue = block_on(e.review_queue(None, 10)).unwrap();
    assert_eq!(queue[0].expires_at, Some(earned + TimeDelta::days(1)));
    let approved_at = earned + TimeDelta::days(40);
    let reviewer = OperatorId::new("noura").unwrap();
    let approved = block_on(e.approve(&queue[0].id, &reviewer, "ok", approved_at)).unwrap();
    assert_eq!(approved.expires_at, Some(approved_at));
    assert_eq!(block_on(e.expire_due(approved_at, 10)).unwrap().moved, 1);
    let entries = block_on(e.ledger(&cid("hind"))).unwrap();
    let expired = entries
        .iter()
        .find(|x| x.kind == EntryKind::Expired)
        .unwrap();
    assert_eq!(
        expired.at, approved_at,
        "booked at the approval, not before"
    );
}

#[test]
fn a_ring_of_five_is_refused() {
    let e = engine();
    // Amira has a code but signs up last, through the end of the chain.
    let mut code = block_on(e.issue_code(&cid("a"), t0())).unwrap().record.code;
    for (i, name) in ["b", "c", "d", "e"].iter().enumerate() {
        let at = t0() + TimeDelta::hours(i as i64 + 1);
        let out = refer(&e, name, code, IdentityInput::default(), at);
        assert!(
            matches!(out, SignupOutcome::Referred { .. }),
            "{name}: {out:?}"
        );
        code = block_on(e.issue_code(&cid(name), at)).unwrap().record.code;
    }
    let out = refer(
        &e,
        "a",
        code,
        IdentityInput::default(),
        t0() + TimeDelta::hours(9),
    );
    assert_eq!(
        out,
        SignupOutcome::NotReferred {
            reason: Reason::SuspectedFraud
        }
    );
    let record = block_on(e.customer(&cid("a"))).unwrap().unwrap();
    let verdict = record.screening.unwrap().verdict;
    assert_eq!(verdict.signals[0].check, Check::Ring);
    assert!(
        verdict.reasons[0].contains("e → a → b → c → d → e")
            || verdict.reasons[0].contains("loop of 5"),
        "{:?}",
        verdict.reasons
    );
}

#[test]
fn a_device_farm_on_one_network_is_held_and_its_referrer_slowed() {
    let e = engine();
    let code = referrer(&e, "farmer", email("farmer@example.com"));
    let mut held = 0;
    for i in 0..14 {
        let name = format!("fake{i}");
        let identity = IdentityInput {
            email: Some(format!("fake{i}@example.net")),
            device: Some(format!("android-{}", i % 2)),
            ip: Some(format!("198.51.100.{}", 10 + i)),
            ..IdentityInput::default()
        };
        let at = t0() + TimeDelta::minutes(3 * i);
        let out = refer(&e, &name, code, identity, at);
        assert!(
            matches!(out, SignupOutcome::Referred { .. }),
            "{name}: {out:?}"
        );
        let checks = checks_of(&e, &name);
        // Each of the two devices passes 3 signups a day at its 4th.
        assert_eq!(!checks.is_empty(), i >= 6, "{name}: {checks:?}");
        if !checks.is_empty() {
            held += 1;
            // The farm's referees also cluster on their shared devices.
            assert!(checks.contains(&Check::Velocity), "{name}: {checks:?}");
            assert!(checks.contains(&Check::Cluster), "{name}: {checks:?}");
        }
    }
    assert_eq!(held, 8);
    let last = block_on(e.customer(&cid("fake13"))).unwrap().unwrap();
    let verdict = last.screening.unwrap().verdict;
    assert_eq!(verdict.referrer, Action::Hold);
    assert!(
        verdict
            .reasons
            .iter()
            .any(|r| r.contains("referrals by the referrer")),
        "{:?}",
        verdict.reasons
    );
    assert!(
        verdict
            .reasons
            .iter()
            .any(|r| r.contains("signups from the device")),
        "{:?}",
        verdict.reasons
    );
}

#[test]
fn refund_abuse_holds_the_referrers_next_rewards() {
    let e = engine();
    let code = referrer(&e, "amira", IdentityInput::default());
    for i in 0..6 {
        let name = format!("friend{i}");
        let at = t0() + TimeDelta::days(i);
        refer(&e, &name, code, IdentityInput::default(), at);
        let o = order(&format!("o{i}"), &name, 20_000, at + TimeDelta::hours(1));
        block_on(e.record_conversion(&o)).unwrap();
        if i < 4 {
            block_on(e.record_refund(&Refund {
                id: RefundId::new("r").unwrap(),
                order: o.order.clone(),
                amount: RefundAmount::Full,
                at: at + TimeDelta::hours(2),
            }))
            .unwrap();
        }
    }
    refer(
        &e,
        "friend9",
        code,
        IdentityInput::default(),
        t0() + TimeDelta::days(10),
    );
    let out =
        block_on(e.record_conversion(&order("o9", "friend9", 20_000, t0() + TimeDelta::days(11))))
            .unwrap();
    let ConversionOutcome::Rewarded { payouts, .. } = out else {
        panic!("{out:?}")
    };
    let record = block_on(e.conversion(&OrderId::new("o9").unwrap()))
        .unwrap()
        .unwrap();
    let verdict = record.screening.expect("kept with the order").verdict;
    assert_eq!(verdict.signals[0].check, Check::RefundAbuse);
    assert_eq!(
        (verdict.referrer, verdict.referee),
        (Action::Hold, Action::Allow)
    );
    for p in payouts {
        let r = block_on(e.reward(&p.reward)).unwrap().unwrap();
        let held = matches!(r.hold, Some(HoldReason::Review { .. }));
        assert_eq!(held, p.role == Role::Referrer, "{r:?}");
    }
}

#[test]
fn a_purchase_seconds_after_the_signup_is_held() {
    let e = engine();
    let code = referrer(&e, "amira", IdentityInput::default());
    refer(
        &e,
        "quick",
        code,
        IdentityInput::default(),
        t0() + TimeDelta::hours(1),
    );
    block_on(e.record_conversion(&order(
        "o1",
        "quick",
        20_000,
        t0() + TimeDelta::hours(1) + TimeDelta::seconds(4),
    )))
    .unwrap();
    let record = block_on(e.conversion(&OrderId::new("o1").unwrap()))
        .unwrap()
        .unwrap();
    let verdict = record.screening.unwrap().verdict;
    assert_eq!(verdict.signals[0].check, Check::Timing);
    assert_eq!(verdict.referrer, Action::Hold);
}

#[test]
fn a_payment_card_shared_with_the_referrer_at_checkout_is_refused() {
    let e = engine();
    let card = |e: &str| IdentityInput {
        email: Some(e.into()),
        payment: Some("pm_fp_4242".into()),
        ..IdentityInput::default()
    };
    let code = referrer(&e, "amira", card("amira@example.com"));
    refer(
        &e,
        "second",
        code,
        email("someone.else@example.com"),
        t0() + TimeDelta::hours(1),
    );
    let out = block_on(e.record_conversion_screened(
        &order("o1", "second", 20_000, t0() + TimeDelta::days(1)),
        &HostFacts::default(),
        &IdentityInput {
            payment: Some("pm_fp_4242".into()),
            ..IdentityInput::default()
        },
    ))
    .unwrap();
    assert_eq!(
        out,
        ConversionOutcome::NotRewarded {
            referrer: Some(cid("amira")),
            reason: Reason::SuspectedFraud
        }
    );
    let record = block_on(e.conversion(&OrderId::new("o1").unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(record.withheld.len(), 2);
    assert!(
        record
            .withheld
            .iter()
            .all(|w| w.reason == Reason::SuspectedFraud)
    );
}

#[test]
fn siblings_on_one_home_network_are_never_rejected() {
    let e = engine();
    let home = |email: &str, device: &str, ip: &str| IdentityInput {
        email: Some(email.into()),
        device: Some(device.into()),
        ip: Some(ip.into()),
        ..IdentityInput::default()
    };
    let code = referrer(
        &e,
        "amira",
        home("amira@example.com", "ios-1", "203.0.113.7"),
    );
    let out = refer(
        &e,
        "badr",
        code,
        home("badr@example.com", "android-2", "203.0.113.7"),
        t0() + TimeDelta::hours(1),
    );
    assert!(matches!(out, SignupOutcome::Referred { .. }), "{out:?}");
    let verdict = block_on(e.customer(&cid("badr")))
        .unwrap()
        .unwrap()
        .screening
        .unwrap()
        .verdict;
    assert_eq!(verdict.referee, Action::Allow, "{verdict:?}");
    assert_ne!(verdict.referrer, Action::Reject, "{verdict:?}");
    let out =
        block_on(e.record_conversion(&order("o1", "badr", 20_000, t0() + TimeDelta::days(1))))
            .unwrap();
    let ConversionOutcome::Rewarded { payouts, .. } = out else {
        panic!("{out:?}")
    };
    let referee = payouts.iter().find(|p| p.role == Role::Referee).unwrap();
    let r = block_on(e.reward(&referee.reward)).unwrap().unwrap();
    assert_eq!(
        r.progress.available, 1000,
        "the friend's reward is paid: {r:?}"
    );
}

#[test]
fn a_busy_honest_week_passes_clean() {
    let e = engine();
    let code = referrer(&e, "amira", email("amira@example.com"));
    for i in 0..30i64 {
        let name = format!("friend{i}");
        let at = t0() + TimeDelta::hours(5 * i);
        let identity = IdentityInput {
            email: Some(format!("friend{i}@example.org")),
            device: Some(format!("device-{i}")),
            ip: Some(format!("192.0.2.{i}")),
            ..IdentityInput::default()
        };
        let out = refer(&e, &name, code, identity, at);
        assert!(matches!(out, SignupOutcome::Referred { .. }), "{out:?}");
        assert_eq!(checks_of(&e, &name), [], "{name}");
        let out = block_on(e.record_conversion(&order(
            &format!("o{i}"),
            &name,
            15_000 + i * 100,
            at + TimeDelta::hours(3),
        )))
        .unwrap();
        let ConversionOutcome::Rewarded { entries, .. } = out else {
            panic!("{out:?}")
        };
        assert!(
            entries.iter().all(|e| e.kind == EntryKind::Granted),
            "{name}"
        );
    }
}

#[test]
fn declining_a_fraudsters_pending_rewards_at_once() {
    let mut s = settings();
    s.policy.rules.clear();
    let e = Engine::new(
        MemoryStore::new(),
        Program::builder("bakery", "Bakery friends")
            .currency(Currency::SAR)
            .two_sided_reward(sar(1500), sar(1000))
            .ledger_policy(referrals::ledger::LedgerPolicy {
                hold_seconds: Some(14 * 86_400),
                ..Default::default()
            })
            .fraud(s)
            .build()
            .unwrap(),
    )
    .with_identity_keyring(keyring());
    let code = referrer(&e, "amira", IdentityInput::default());
    for i in 0..3 {
        let name = format!("f{i}");
        refer(
            &e,
            &name,
            code,
            IdentityInput::default(),
            t0() + TimeDelta::hours(i),
        );
        block_on(e.record_conversion(&order(
            &format!("o{i}"),
            &name,
            20_000,
            t0() + TimeDelta::days(1),
        )))
        .unwrap();
    }
    let before = block_on(e.balances(&cid("amira"))).unwrap();
    assert_eq!(before[0].pending, 4500);
    let by = OperatorId::new("risk-team").unwrap();
    let declined =
        block_on(e.decline_pending(&cid("amira"), &by, "fraud ring", t0() + TimeDelta::days(2)))
            .unwrap();
    assert_eq!(declined.len(), 3);
    let after = block_on(e.balances(&cid("amira"))).unwrap();
    assert_eq!((after[0].pending, after[0].available), (0, 0));
    // Again: nothing left to decline.
    assert!(
        block_on(e.decline_pending(&cid("amira"), &by, "again", t0() + TimeDelta::days(3)))
            .unwrap()
            .is_empty()
    );
    // The friends' rewards are untouched.
    assert_eq!(block_on(e.balances(&cid("f0"))).unwrap()[0].pending, 1000);
}

#[test]
fn erasure_removes_every_identifier_and_keeps_the_totals() {
    let e = engine();
    let full = |n: &str| IdentityInput {
        email: Some(format!("{n}@example.com")),
        phone: Some("+966 50 123 4567".into()),
        device: Some(format!("dev-{n}")),
        ip: Some("203.0.113.7".into()),
        payment: Some(format!("pm-{n}")),
        address: Some("12 King Fahd Road, Riyadh".into()),
    };
    let code = referrer(&e, "amira", full("amira"));
    refer(&e, "hind", code, full("hind"), t0() + TimeDelta::hours(1));
    block_on(e.record_conversion(&order("o1", "hind", 20_000, t0() + TimeDelta::days(1)))).unwrap();
    let before = e.store().snapshot();
    let export = block_on(e.export_customer(&cid("hind"))).unwrap();
    let json = serde_json::to_string(&export).unwrap();
    assert!(json.contains("\"customer\":\"hind\""));
    let digests: Vec<String> = export
        .identity
        .as_ref()
        .unwrap()
        .signals
        .iter()
        .map(|s| s.hash.digest_hex())
        .collect();
    assert_eq!(digests.len(), 7, "{json}");
    assert!(
        !json.contains("example.com"),
        "no raw identifier is stored: {json}"
    );

    let erased = block_on(e.erase_customer(&cid("hind"))).unwrap();
    assert_eq!(erased.identity_hashes, 7);
    let after = e.store().snapshot();
    assert_eq!(after.all_balances(), before.all_balances());
    assert_eq!(after.all_ledger_entries(), before.all_ledger_entries());
    assert_eq!(after.all_rewards(), before.all_rewards());
    assert_eq!(after.all_counters(), before.all_counters());
    let dump = format!("{after:?}");
    for d in &digests {
        // Hind's network is Amira's too: its hashes stay with Amira.
        let amira_has = block_on(e.export_customer(&cid("amira")))
            .unwrap()
            .identity
            .unwrap()
            .signals
            .iter()
            .any(|s| s.hash.digest_hex() == *d);
        assert_eq!(dump.contains(&d[..16]), amira_has, "digest {d}");
    }
    assert!(
        block_on(e.export_customer(&cid("hind")))
            .unwrap()
            .identity
            .is_none()
    );
    // Idempotent.
    assert_eq!(
        block_on(e.erase_customer(&cid("hind")))
            .unwrap()
            .identity_hashes,
        0
    );
}

/// The orders in an export as the customer reads them (JSON): order ids,
/// with what was refunded of each.
fn exported_orders(e: &Engine<MemoryStore>, customer: &str) -> Vec<(String, i64)> {
    let export = block_on(e.export_customer(&cid(customer))).unwrap();
    let json = serde_json::to_value(&export).unwrap();
    let orders = json["orders"]
        .as_array()
        .unwrap_or_else(|| panic!("no orders in {customer}'s export: {json}"));
    orders
        .iter()
        .map(|o| {
            let id = o["conversion"]["order"].as_str().unwrap().to_owned();
            (id, o["refunded"]["minor"].as_i64().unwrap())
        })
        .collect()
}

#[test]
fn an_export_holds_the_customers_own_orders_and_no_one_elses() {
    let e = engine();
    let code = referrer(&e, "amira", email("amira@example.com"));
    refer(
        &e,
        "hind",
        code,
        email("hind@example.com"),
        t0() + TimeDelta::hours(1),
    );
    // Hind buys twice (the first referred and rewarded, then refunded in
    // part); Amira, who referred her, buys once herself.
    let days = |d: i64| t0() + TimeDelta::days(d);
    block_on(e.record_conversion(&order("o-hind-1", "hind", 20_000, days(1)))).unwrap();
    block_on(e.record_conversion(&order("o-amira", "amira", 9_000, days(2)))).unwrap();
    block_on(e.record_conversion(&order("o-hind-2", "hind", 7_000, days(3)))).unwrap();
    block_on(e.record_refund(&Refund {
        id: RefundId::new("r-1").unwrap(),
        order: OrderId::new("o-hind-1").unwrap(),
        amount: RefundAmount::Partial(sar(5_000)),
        at: days(4),
    }))
    .unwrap();

    assert_eq!(
        exported_orders(&e, "hind"),
        [("o-hind-1".to_owned(), 5_000), ("o-hind-2".to_owned(), 0)],
        "both of Hind's orders, oldest first, as last recorded"
    );
    // The order Amira referred is Hind's, not hers.
    assert_eq!(exported_orders(&e, "amira"), [("o-amira".to_owned(), 0)]);
    assert_eq!(exported_orders(&e, "nobody"), []);
}

#[test]
fn retention_drops_old_identity_hashes() {
    let e = engine_with(settings().with_retention_days(30));
    referrer(&e, "amira", email("amira@example.com"));
    block_on(e.record_identity(
        &cid("amira"),
        &IdentityInput {
            phone: Some("0501234567".into()),
            ..IdentityInput::default()
        },
        t0() + TimeDelta::days(20),
    ))
    .unwrap();
    let report = block_on(e.purge_expired(t0() + TimeDelta::days(40), 10)).unwrap();
    assert_eq!((report.moved, report.more), (1, false));
    let left = block_on(e.export_customer(&cid("amira")))
        .unwrap()
        .identity
        .unwrap();
    assert_eq!(left.signals.len(), 1, "the phone, seen on day 20, stays");
    let report = block_on(e.purge_expired(t0() + TimeDelta::days(60), 10)).unwrap();
    assert_eq!(report.moved, 1);
    assert!(
        block_on(e.export_customer(&cid("amira")))
            .unwrap()
            .identity
            .is_none()
    );
}

#[test]
fn identity_is_refused_where_it_would_be_dropped_or_is_malformed() {
    let e = engine();
    let err = block_on(e.record_signup_screened(
        &signup("s1", "x", None, t0()),
        &HostFacts::default(),
        &IdentityInput {
            phone: Some("not a phone".into()),
            ..IdentityInput::default()
        },
    ))
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("identity.phone"), "{err}");

    let no_keys = Engine::new(MemoryStore::new(), program(settings()));
    let err =
        block_on(no_keys.record_identity(&cid("x"), &email("x@example.com"), t0())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);

    let unscreened = Engine::new(
        MemoryStore::new(),
        Program::builder("p", "P")
            .currency(Currency::SAR)
            .two_sided_reward(sar(1), sar(1))
            .build()
            .unwrap(),
    )
    .with_identity_keyring(keyring());
    let err =
        block_on(unscreened.record_identity(&cid("x"), &email("x@example.com"), t0())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    // Nothing passed, nothing needed.
    block_on(unscreened.record_identity(&cid("x"), &IdentityInput::default(), t0())).unwrap();
}

#[test]
fn a_rotated_key_still_matches_hashes_stored_under_the_old_one() {
    let e = engine();
    let code = referrer(&e, "amira", email("amira@example.com"));
    let mut rotated = keyring();
    rotated
        .rotate(IdentityKey::new(KeyId::new(2), b"the next secret, also 32 bytes long").unwrap())
        .unwrap();
    let store = e.store().clone();
    let e2 = Engine::new(store, program(settings())).with_identity_keyring(rotated);
    let out = block_on(e2.record_signup_screened(
        &signup(
            "s-dup",
            "amira-again",
            Some(code),
            t0() + TimeDelta::hours(1),
        ),
        &HostFacts::default(),
        &email("AMIRA@example.com"),
    ))
    .unwrap();
    assert_eq!(
        out,
        SignupOutcome::NotReferred {
            reason: Reason::SuspectedFraud
        }
    );
}

#[test]
fn a_retried_signup_returns_its_first_outcome_and_screens_once() {
    let e = engine();
    let code = referrer(&e, "amira", email("amira@example.com"));
    let s = signup("s-hind", "hind", Some(code), t0() + TimeDelta::hours(1));
    let id = email("hind@example.com");
    let first = block_on(e.record_signup_screened(&s, &HostFacts::default(), &id)).unwrap();
    let snap = e.store().snapshot();
    let again = block_on(e.record_signup_screened(&s, &HostFacts::default(), &id)).unwrap();
    assert_eq!(first, again);
    assert_eq!(e.store().snapshot(), snap);
}

#[test]
fn a_retry_is_answered_from_the_first_call_whatever_identity_it_carries() {
    let e = engine();
    let code = referrer(&e, "amira", email("amira@example.com"));
    let s = signup("s-hind", "hind", Some(code), t0() + TimeDelta::hours(1));
    let o = order("o1", "hind", 20_000, t0() + TimeDelta::days(2));
    let card = IdentityInput {
        payment: Some("pm_fp_hind".into()),
        ..IdentityInput::default()
    };
    let facts = HostFacts::default();
    let first_signup =
        block_on(e.record_signup_screened(&s, &facts, &email("hind@example.com"))).unwrap();
    let first_order = block_on(e.record_conversion_screened(&o, &facts, &card)).unwrap();
    let snap = e.store().snapshot();

    // The retries carry an e-mail the normaliser refuses: they are answered
    // from the first calls, and their identity is not read.
    let malformed = email("no at sign");
    let again = block_on(e.record_signup_screened(&s, &facts, &malformed)).unwrap();
    assert_eq!(again, first_signup);
    let again = block_on(e.record_conversion_screened(&o, &facts, &malformed)).unwrap();
    assert_eq!(again, first_order);
    // Likewise on an engine over the same store that has no keyring.
    let no_keys = Engine::new(e.store().clone(), program(settings()));
    let again =
        block_on(no_keys.record_signup_screened(&s, &facts, &email("hind@example.com"))).unwrap();
    assert_eq!(again, first_signup);
    let again = block_on(no_keys.record_conversion_screened(&o, &facts, &card)).unwrap();
    assert_eq!(again, first_order);
    assert_eq!(e.store().snapshot(), snap);

    // A new event's identity is still read, and refused.
    let err = block_on(e.record_signup_screened(
        &signup("s-new", "new", None, t0() + TimeDelta::hours(2)),
        &facts,
        &malformed,
    ))
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("identity.email"), "{err}");
    let err = block_on(e.record_conversion_screened(
        &order("o2", "hind", 20_000, t0() + TimeDelta::days(3)),
        &facts,
        &malformed,
    ))
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert_eq!(e.store().snapshot(), snap);
}

#[test]
fn a_code_spread_on_a_coupon_site_is_held_past_the_limit() {
    let e = engine();
    let code = referrer(&e, "amira", IdentityInput::default());
    for i in 0..17i64 {
        let name = format!("visitor{i}");
        let facts = HostFacts {
            referring_site: Some(if i % 2 == 0 {
                "https://www.Coupons.example/deals?x=1".into()
            } else {
                "coupons.example".into()
            }),
            ..HostFacts::default()
        };
        let at = t0() + TimeDelta::hours(3 * i);
        block_on(e.record_signup_screened(
            &signup(&name, &name, Some(code), at),
            &facts,
            &IdentityInput::default(),
        ))
        .unwrap();
        let checks = checks_of(&e, &name);
        // The 16th referee from one site passes the limit of 15.
        assert_eq!(
            checks.contains(&Check::CodeLeakage),
            i >= 15,
            "{name}: {checks:?}"
        );
    }
    let verdict = block_on(e.customer(&cid("visitor16")))
        .unwrap()
        .unwrap()
        .screening
        .unwrap()
        .verdict;
    assert!(
        verdict.reasons[0].contains("coupons.example"),
        "{:?}",
        verdict.reasons
    );
    assert_eq!(
        (verdict.referrer, verdict.referee),
        (Action::Hold, Action::Allow)
    );
    // A Referer that is not a site is ignored, like any fact: the signup
    // is recorded and nothing is counted.
    let out = block_on(e.record_signup_screened(
        &signup("bad-site", "bad-site", Some(code), t0()),
        &HostFacts {
            referring_site: Some("about:blank".into()),
            ..HostFacts::default()
        },
        &IdentityInput::default(),
    ))
    .unwrap();
    assert!(matches!(out, SignupOutcome::Referred { .. }), "{out:?}");
}

#[test]
fn a_brute_forced_code_is_throttled_and_the_guessers_signup_refused() {
    let e = engine();
    let code = referrer(&e, "amira", IdentityInput::default());
    let bot = IdentityInput {
        ip: Some("198.51.100.66".into()),
        ..IdentityInput::default()
    };
    let at = t0() + TimeDelta::minutes(10);
    let mut refused = 0;
    for i in 0..130 {
        match block_on(e.check_code_screened(&format!("ZZZ{i:04}"), at, &bot)) {
            Ok(c) => assert!(c.unusable.is_some()),
            Err(err) if err.kind() == ErrorKind::LimitReached => refused += 1,
            Err(err) => assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}"),
        }
    }
    // 21 checked (past 20 the address is refused), the rest refused.
    assert_eq!(refused, 130 - 21);
    // A real code from the same address is refused too, for now...
    let err = block_on(e.check_code_screened(code.as_str(), at, &bot)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitReached);
    // ...and from another address it works.
    let other = IdentityInput {
        ip: Some("192.0.2.1".into()),
        ..IdentityInput::default()
    };
    assert_eq!(
        block_on(e.check_code_screened(code.as_str(), at, &other))
            .unwrap()
            .unusable,
        None
    );
    // Two hours on, the address may try again.
    let later = at + TimeDelta::hours(2);
    assert_eq!(
        block_on(e.check_code_screened(code.as_str(), later, &bot))
            .unwrap()
            .unusable,
        None
    );
    // The guesser's signup in the same hour: the referee side is refused.
    let out = refer(&e, "guesser", code, bot.clone(), at + TimeDelta::minutes(5));
    let verdict = block_on(e.customer(&cid("guesser")))
        .unwrap()
        .unwrap()
        .screening
        .unwrap()
        .verdict;
    assert!(matches!(out, SignupOutcome::Referred { .. }), "{out:?}");
    assert_eq!(verdict.signals[0].check, Check::CodeGuessing);
    assert_eq!(
        (verdict.referrer, verdict.referee),
        (Action::Allow, Action::Reject)
    );
    assert!(
        !verdict.reasons[0].contains("198.51"),
        "no raw address: {:?}",
        verdict.reasons
    );
}

#[test]
fn the_engine_fraud_clause_holds_on_the_memory_store() {
    block_on(referrals::engine::conformance::fraud_screening_over_store(
        &MemoryStore::new(),
    ));
}

#[test]
fn settings_that_would_overflow_a_check_are_refused() {
    let mut s = settings();
    s.policy.limits.least_seconds_to_convert = 9_999_999_999_999_999;
    let err = Program::builder("p", "P")
        .currency(Currency::SAR)
        .two_sided_reward(sar(1), sar(1))
        .fraud(s)
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("least_seconds_to_convert"),
        "{err}"
    );
}

#[test]
fn a_signups_signals_are_not_carried_to_an_order_credited_to_someone_else() {
    let e = engine();
    let a = referrer(&e, "amira", email("amira@example.com"));
    let device = IdentityInput {
        email: Some("hind@example.com".into()),
        device: Some("shared-tablet".into()),
        ..IdentityInput::default()
    };
    let tablet = IdentityInput {
        device: Some("shared-tablet".into()),
        ..IdentityInput::default()
    };
    block_on(e.record_identity(&cid("amira"), &tablet, t0())).unwrap();
    refer(&e, "hind", a, device, t0() + TimeDelta::hours(1));
    assert_eq!(checks_of(&e, "hind"), [Check::SelfReferral]);
    // Forty days on (past the 30-day lookback of her typed code), Hind
    // clicks Badr's link and buys: Badr is the referrer paid.
    let b = referrer(&e, "badr", email("badr@example.com"));
    block_on(e.record_touch(&referrals::model::Touch {
        id: EventId::new("click-badr").unwrap(),
        actor: referrals::model::Actor::Customer(cid("hind")),
        code: b,
        channel: referrals::Channel::WhatsApp,
        kind: referrals::model::TouchKind::Click,
        at: t0() + TimeDelta::days(39),
    }))
    .unwrap();
    let out =
        block_on(e.record_conversion(&order("o1", "hind", 20_000, t0() + TimeDelta::days(40))))
            .unwrap();
    let record = block_on(e.conversion(&OrderId::new("o1").unwrap()))
        .unwrap()
        .unwrap();
    assert_eq!(record.referrer, Some(cid("badr")), "{out:?}");
    assert!(record.screening.is_none(), "{:?}", record.screening);
    assert!(matches!(out, ConversionOutcome::Rewarded { .. }), "{out:?}");
}

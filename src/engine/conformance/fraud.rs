//! The engine's fraud screening over a host's store: identity records and
//! their hash index, referees per referrer, the review queue, erasure and
//! retention, driven through the engine as a program would.

use super::ok;
use crate::engine::{ConversionOutcome, Engine, HostFacts, Reason, SignupOutcome};
use crate::fraud::FraudSettings;
use crate::fraud::checks::Check;
use crate::fraud::identity::{IdentityInput, IdentityKey, IdentityKind, KeyId, Keyring};
use crate::fraud::policy::Action;
use crate::ledger::{HoldReason, LedgerPolicy};
use crate::model::Signup;
use crate::program::Program;
use crate::store::conformance::fixtures::*;
use crate::store::{RewardCursor, Role};

fn identity(email: &str, device: &str, ip: &str) -> IdentityInput {
    IdentityInput {
        email: Some(email.to_owned()),
        device: Some(device.to_owned()),
        ip: Some(ip.to_owned()),
        ..IdentityInput::default()
    }
}

/// Fraud screening through the engine over this store, end to end:
///
/// - a referee on the referrer's device is held for review on both sides,
///   with the signal kept on the customer and on both rewards; the review
///   queue lists them in order, page by page; approving one leaves the
///   other;
/// - a second account on the referrer's e-mail (Gmail dots) is refused;
/// - the fourth signup from one device in a day is a velocity signal (the
///   store's hash index), and the referrer's referees sharing it a
///   cluster (referees per referrer);
/// - a loop of three referrals is refused (the referral chain);
/// - declining the referrer's pending rewards empties the queue;
/// - erasing a referee removes their identity and its index entries and
///   leaves every balance as it was;
/// - retention drops identity records older than the program keeps them.
pub async fn fraud_screening_over_store<S: Store>(store: &S) {
    let clause = "fraud_screening_over_store";
    let keyring = Keyring::new(
        IdentityKey::new(KeyId::new(7), b"conformance secret: 32 bytes long")
            .unwrap_or_else(|e| panic!("{clause}: the fixture key: {e}")),
    );
    let program = Program::builder("conformance-fraud", "Conformance")
        .currency(Currency::SAR)
        .lookback_days(30)
        .two_sided_reward(sar(1_500), sar(1_000))
        // Valid a day: the approval below comes later, and must not leave
        // the reward expired.
        .ledger_policy(LedgerPolicy {
            valid_for_seconds: Some(86_400),
            ..LedgerPolicy::default()
        })
        .fraud(FraudSettings::default().with_retention_days(30))
        .build()
        .unwrap_or_else(|err| panic!("{clause}: the fixture program is invalid: {err}"));
    let prog = program.id().clone();
    let engine = Engine::new(store, program).with_identity_keyring(keyring.clone());
    let facts = HostFacts::default();
    let signup = |customer: &str, code: Option<Code>, secs: i64| Signup {
        id: eid(&format!("signup-{customer}")),
        customer: cid(customer),
        visitor: None,
        code,
        channel: None,
        at: at(secs),
    };

    let amira = identity("amira.saleh@gmail.com", "ios-amira", "203.0.113.7");
    ok(
        clause,
        "the referrer's signup",
        engine
            .record_signup_screened(&signup("amira", None, 0), &facts, &amira)
            .await,
    );
    let code = ok(
        clause,
        "issue_code",
        engine.issue_code(&cid("amira"), at(1)).await,
    )
    .record
    .code;

    // The referrer's device, another e-mail: held on both sides.
    let hind = identity("hind@example.com", "ios-amira", "198.51.100.4");
    let out = ok(
        clause,
        "a signup on the referrer's device",
        engine
            .record_signup_screened(&signup("hind", Some(code), 100), &facts, &hind)
            .await,
    );
    assert!(
        matches!(out, SignupOutcome::Referred { .. }),
        "{clause}: a shared device alone is held, not refused: {out:?}"
    );
    let screening = ok(clause, "customer", engine.customer(&cid("hind")).await)
        .and_then(|c| c.screening)
        .unwrap_or_else(|| panic!("{clause}: the screening was not kept with the customer"));
    assert_eq!(
        (screening.verdict.referrer, screening.verdict.referee),
        (Action::Hold, Action::Hold),
        "{clause}: {screening:?}"
    );
    let order = crate::model::Conversion {
        order: oid("order-hind"),
        customer: cid("hind"),
        amount: sar(20_000),
        at: at(86_400),
    };
    let out = ok(
        clause,
        "the held referee's order",
        engine.record_conversion(&order).await,
    );
    let ConversionOutcome::Rewarded { payouts, .. } = out else {
        panic!("{clause}: the order earned nothing: {out:?}")
    };
    assert_eq!(payouts.len(), 2, "{clause}: both sides earn");
    let page = ok(clause, "review_queue", engine.review_queue(None, 1).await);
    assert_eq!(page.len(), 1, "{clause}: a page of one");
    let cursor = RewardCursor {
        at: page[0].earned_at,
        id: page[0].id.clone(),
    };
    let rest = ok(
        clause,
        "review_queue page 2",
        engine.review_queue(Some(&cursor), 10).await,
    );
    assert_eq!(rest.len(), 1, "{clause}: the second page");
    let mut queue = page;
    queue.extend(rest);
    for r in &queue {
        match &r.hold {
            Some(HoldReason::Review {
                screening: Some(s), ..
            }) if s.verdict.signals[0].check == Check::SelfReferral => {}
            other => panic!("{clause}: reward {} is held by {other:?}", r.id),
        }
    }
    let by = opid("reviewer");
    let referee_reward = queue
        .iter()
        .find(|r| r.role == Role::Referee)
        .unwrap_or_else(|| panic!("{clause}: no referee reward in the queue"));
    let approved = ok(
        clause,
        "approve",
        engine
            .approve(&referee_reward.id, &by, "sisters", at(90_000))
            .await,
    );
    assert_eq!(
        approved.expires_at,
        Some(at(90_000 + 86_400)),
        "{clause}: a late approval gives the reward its day from the approval"
    );
    let expired = ok(
        clause,
        "expire_due before the new expiry",
        engine.expire_due(at(90_000 + 86_399), 10).await,
    );
    assert_eq!(
        expired.moved, 0,
        "{clause}: the store's expiry index follows the approval"
    );
    let queue = ok(clause, "review_queue", engine.review_queue(None, 10).await);
    assert_eq!(queue.len(), 1, "{clause}: approved rewards leave the queue");

    // A second account on the referrer's e-mail, spelled another way.
    let out = ok(
        clause,
        "a second account",
        engine
            .record_signup_screened(
                &signup("amira-2", Some(code), 200),
                &facts,
                &identity("AmiraSaleh+x@googlemail.com", "android-x", "192.0.2.50"),
            )
            .await,
    );
    assert_eq!(
        out,
        SignupOutcome::NotReferred {
            reason: Reason::SuspectedFraud
        },
        "{clause}: the same Gmail box is the referrer"
    );

    // A device farm: the 4th signup from one device in a day.
    for i in 0..4 {
        let name = format!("farm-{i}");
        let out = ok(
            clause,
            "a farm signup",
            engine
                .record_signup_screened(
                    &signup(&name, Some(code), 300 + i),
                    &facts,
                    &identity(&format!("farm{i}@example.net"), "farm-device", "192.0.2.9"),
                )
                .await,
        );
        let checks: Vec<Check> = ok(clause, "customer", engine.customer(&cid(&name)).await)
            .and_then(|c| c.screening)
            .map(|s| s.verdict.signals.iter().map(|s| s.check).collect())
            .unwrap_or_default();
        assert!(
            matches!(out, SignupOutcome::Referred { .. }),
            "{clause}: {name}: {out:?}"
        );
        assert_eq!(
            checks.contains(&Check::Velocity),
            i == 3,
            "{clause}: {name}: signups per device: {checks:?}"
        );
        assert_eq!(
            checks.contains(&Check::Cluster),
            i == 3,
            "{clause}: {name}: referees sharing a device: {checks:?}"
        );
    }

    // A loop of three: x has a code, y signs up through it, z through y's,
    // and x through z's.
    let x_code = ok(
        clause,
        "issue_code",
        engine.issue_code(&cid("x"), at(400)).await,
    )
    .record
    .code;
    ok(
        clause,
        "y",
        engine
            .record_signup_screened(
                &signup("y", Some(x_code), 401),
                &facts,
                &IdentityInput::default(),
            )
            .await,
    );
    let y_code = ok(
        clause,
        "issue_code",
        engine.issue_code(&cid("y"), at(402)).await,
    )
    .record
    .code;
    ok(
        clause,
        "z",
        engine
            .record_signup_screened(
                &signup("z", Some(y_code), 403),
                &facts,
                &IdentityInput::default(),
            )
            .await,
    );
    let z_code = ok(
        clause,
        "issue_code",
        engine.issue_code(&cid("z"), at(404)).await,
    )
    .record
    .code;
    let out = ok(
        clause,
        "x closing the loop",
        engine
            .record_signup_screened(
                &signup("x", Some(z_code), 405),
                &facts,
                &IdentityInput::default(),
            )
            .await,
    );
    assert_eq!(
        out,
        SignupOutcome::NotReferred {
            reason: Reason::SuspectedFraud
        },
        "{clause}: a loop of three referrals"
    );

    // The referrer is found out: every pending reward declined.
    let declined = ok(
        clause,
        "decline_pending",
        engine
            .decline_pending(&cid("amira"), &by, "fraud", at(100_000))
            .await,
    );
    assert_eq!(declined.len(), 1, "{clause}: the held referrer reward");
    assert!(
        ok(clause, "review_queue", engine.review_queue(None, 10).await).is_empty(),
        "{clause}: nothing left to review"
    );

    // Erasure: the identity and its index entries go, the totals stay.
    let balances_before = ok(clause, "balances", engine.balances(&cid("hind")).await);
    let erased = ok(clause, "erase", engine.erase_customer(&cid("hind")).await);
    assert_eq!(
        erased.identity_hashes, 4,
        "{clause}: e-mail, device, IP, network"
    );
    assert_eq!(
        ok(clause, "balances", engine.balances(&cid("hind")).await),
        balances_before,
        "{clause}: erasure keeps the balances"
    );
    let found = store
        .identity(&prog, &cid("hind"))
        .await
        .unwrap_or_else(|e| panic!("{clause}: identity: {e}"));
    assert!(found.is_none(), "{clause}: the identity record is gone");
    let device = keyring
        .signals(&hind, &FraudSettings::default().identity)
        .hashes()
        .find(|h| h.kind == IdentityKind::Device)
        .copied()
        .unwrap_or_else(|| panic!("{clause}: no device hash"));
    let holders: Vec<String> = store
        .identity_matches(&prog, &device, 10)
        .await
        .unwrap_or_else(|e| panic!("{clause}: identity_matches: {e}"))
        .into_iter()
        .map(|m| m.customer.to_string())
        .collect();
    assert_eq!(holders, ["amira"], "{clause}: hind left the device's index");

    // Retention: 30 days on, every hash first seen at the start is old.
    let report = ok(
        clause,
        "purge_expired",
        engine.purge_expired(at(40 * 86_400), 100).await,
    );
    assert!(report.moved >= 6, "{clause}: purged {report:?}");
    for who in ["amira", "farm-0", "farm-3"] {
        let left = store
            .identity(&prog, &cid(who))
            .await
            .unwrap_or_else(|e| panic!("{clause}: identity: {e}"));
        assert!(left.is_none(), "{clause}: {who}'s old identity was kept");
    }
}

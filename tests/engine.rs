//! The engine end to end on the in-memory store.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use rand::SeedableRng;
use rand::rngs::StdRng;
use referrals::code::CodeSecret;
use referrals::engine::{
    ConversionOutcome, Reason, SignupOutcome, TouchOutcome, VanityOptions, block_on,
};
use referrals::model::{
    Actor, Conversion, CustomerId, EventId, OrderId, Refund, RefundAmount, RefundId, Signup, Touch,
    TouchKind, VisitorId,
};
use referrals::program::CodeGeneration;
use referrals::store::{CodeUnusable, EntryKind, Role};
use referrals::{Channel, Code, Currency, Engine, ErrorKind, MemoryStore, Money, Program};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

fn cid(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

fn program() -> referrals::program::ProgramBuilder {
    Program::builder("bakery", "Bakery friends")
        .currency(Currency::SAR)
        .terms(3, "15 SAR each after the first order")
        .lookback_days(30)
        .two_sided_reward(sar(1500), sar(1000))
}

fn engine_with(p: Program) -> Engine<MemoryStore> {
    Engine::new(MemoryStore::new(), p).with_rng(StdRng::seed_from_u64(7))
}

fn engine() -> Engine<MemoryStore> {
    engine_with(program().build().unwrap())
}

fn touch(id: &str, visitor: &str, code: Code, channel: Channel, at: DateTime<Utc>) -> Touch {
    Touch {
        id: EventId::new(id).unwrap(),
        actor: Actor::Visitor(VisitorId::new(visitor).unwrap()),
        code,
        channel,
        kind: TouchKind::Click,
        at,
    }
}

fn signup(
    id: &str,
    customer: &str,
    visitor: Option<&str>,
    code: Option<Code>,
    at: DateTime<Utc>,
) -> Signup {
    Signup {
        id: EventId::new(id).unwrap(),
        customer: cid(customer),
        visitor: visitor.map(|v| VisitorId::new(v).unwrap()),
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

fn refund(id: &str, order: &str, amount: RefundAmount, at: DateTime<Utc>) -> Refund {
    Refund {
        id: RefundId::new(id).unwrap(),
        order: OrderId::new(order).unwrap(),
        amount,
        at,
    }
}

#[test]
fn a_whole_referral_pays_both_sides_and_a_refund_claws_back() {
    let e = engine();
    block_on(async {
        let issued = e.issue_code(&cid("amira"), t0()).await.unwrap();
        assert!(issued.created);
        let code = issued.record.code;
        let clicked = e
            .record_touch(&touch(
                "t1",
                "v-1",
                code,
                Channel::WhatsApp,
                t0() + TimeDelta::hours(1),
            ))
            .await
            .unwrap();
        assert_eq!(
            clicked,
            TouchOutcome::Recorded {
                referrer: cid("amira"),
                rewards: Vec::new(),
            }
        );
        let joined = e
            .record_signup(&signup(
                "s1",
                "badr",
                Some("v-1"),
                None,
                t0() + TimeDelta::hours(2),
            ))
            .await
            .unwrap();
        let SignupOutcome::Referred { referral, .. } = joined else {
            panic!("not referred: {joined:?}")
        };
        assert_eq!(referral.referrer, cid("amira"));
        assert_eq!(referral.channel, Channel::WhatsApp);
        let bought = e
            .record_conversion(&order("o1", "badr", 12_000, t0() + TimeDelta::days(3)))
            .await
            .unwrap();
        let ConversionOutcome::Rewarded {
            referrer,
            payouts,
            entries,
            ..
        } = bought
        else {
            panic!("not rewarded: {bought:?}")
        };
        assert_eq!(referrer, cid("amira"));
        assert_eq!(payouts.len(), 2);
        assert_eq!(entries.len(), 2);
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(1500));
        assert_eq!(e.balance(&cid("badr")).await.unwrap(), sar(1000));

        // A third of the order comes back: a third of each reward, rounded
        // down, is clawed back.
        let r1 = e
            .record_refund(&refund(
                "r1",
                "o1",
                RefundAmount::Partial(sar(4_000)),
                t0() + TimeDelta::days(4),
            ))
            .await
            .unwrap();
        assert_eq!(r1.refunded, sar(4_000));
        assert_eq!(r1.remaining, sar(8_000));
        let claws: Vec<i64> = r1
            .clawbacks
            .iter()
            .map(|c| c.net_money().unwrap().minor())
            .collect();
        assert_eq!(claws, [-500, -333]);
        // The rest: the whole rewards are reversed, to the minor unit.
        let r2 = e
            .record_refund(&refund(
                "r2",
                "o1",
                RefundAmount::Full,
                t0() + TimeDelta::days(5),
            ))
            .await
            .unwrap();
        assert_eq!(r2.refunded, sar(8_000));
        assert!(r2.remaining.is_zero());
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(0));
        assert_eq!(e.balance(&cid("badr")).await.unwrap(), sar(0));
        let ledger = e.ledger(&cid("amira")).await.unwrap();
        assert_eq!(ledger.len(), 3);
        assert_eq!(ledger[0].kind, EntryKind::Granted);
        assert_eq!(ledger[0].role, Role::Referrer);
        assert!(ledger[1..].iter().all(|l| l.kind == EntryKind::Reversed));

        // The host can read back who referred whom, codes and orders.
        let badr = e.customer(&cid("badr")).await.unwrap().unwrap();
        assert_eq!(badr.referral.unwrap().referrer, cid("amira"));
        assert_eq!(badr.qualifying_touches.len(), 1);
        assert_eq!(
            e.primary_code(&cid("amira")).await.unwrap().unwrap().code,
            code
        );
        assert_eq!(e.primary_code(&cid("badr")).await.unwrap(), None);
        let o1 = e
            .conversion(&OrderId::new("o1").unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o1.refunded, sar(12_000));
        assert_eq!(o1.refund_count, 2);
        assert_eq!(e.customer(&cid("nobody")).await.unwrap(), None);

        let again = e
            .record_refund(&refund(
                "r3",
                "o1",
                RefundAmount::Full,
                t0() + TimeDelta::days(6),
            ))
            .await
            .unwrap_err();
        assert_eq!(again.kind(), ErrorKind::InvalidInput, "{again}");
    });
}

#[test]
fn the_last_of_three_friends_links_wins_then_a_later_click_takes_over() {
    let e = engine();
    block_on(async {
        let mut codes = Vec::new();
        for friend in ["amira", "badr", "chadi"] {
            codes.push(e.issue_code(&cid(friend), t0()).await.unwrap().record.code);
        }
        let channels = [Channel::Email, Channel::WhatsApp, Channel::Sms];
        for (i, (code, channel)) in codes.iter().zip(channels).enumerate() {
            let at = t0() + TimeDelta::hours(i as i64 + 1);
            e.record_touch(&touch(&format!("t{i}"), "v-9", *code, channel, at))
                .await
                .unwrap();
        }
        let joined = e
            .record_signup(&signup(
                "s",
                "dana",
                Some("v-9"),
                None,
                t0() + TimeDelta::hours(5),
            ))
            .await
            .unwrap();
        let SignupOutcome::Referred { referral, .. } = joined else {
            panic!("{joined:?}")
        };
        assert_eq!(referral.referrer, cid("chadi"));
        assert_eq!(referral.channel, Channel::Sms);

        // Signed in, Dana follows Amira's e-mail link again before buying:
        // the last touch within the window now credits Amira.
        let mut t = touch(
            "t9",
            "unused",
            codes[0],
            Channel::Email,
            t0() + TimeDelta::days(1),
        );
        t.actor = Actor::Customer(cid("dana"));
        e.record_touch(&t).await.unwrap();
        let bought = e
            .record_conversion(&order("o", "dana", 5_000, t0() + TimeDelta::days(2)))
            .await
            .unwrap();
        let ConversionOutcome::Rewarded { referrer, .. } = bought else {
            panic!("{bought:?}")
        };
        assert_eq!(referrer, cid("amira"));
        assert_eq!(e.balance(&cid("chadi")).await.unwrap(), sar(0));
    });
}

#[test]
fn nobody_refers_themselves() {
    let e = engine();
    block_on(async {
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let mut own = touch("t1", "x", code, Channel::Link, t0());
        own.actor = Actor::Customer(cid("amira"));
        assert_eq!(
            e.record_touch(&own).await.unwrap(),
            TouchOutcome::Ignored {
                reason: Reason::SelfReferral
            }
        );
        let joined = e
            .record_signup(&signup("s1", "amira", None, Some(code), t0()))
            .await
            .unwrap();
        assert_eq!(
            joined,
            SignupOutcome::NotReferred {
                reason: Reason::SelfReferral
            }
        );
    });
}

#[test]
fn touches_and_referrals_outside_the_lookback_window_do_not_count() {
    let e = engine();
    block_on(async {
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        e.record_touch(&touch("t1", "v", code, Channel::Qr, t0()))
            .await
            .unwrap();
        let late = e
            .record_signup(&signup(
                "s1",
                "badr",
                Some("v"),
                None,
                t0() + TimeDelta::days(31),
            ))
            .await
            .unwrap();
        assert_eq!(
            late,
            SignupOutcome::NotReferred {
                reason: Reason::NoQualifyingTouch
            }
        );

        let typed = e
            .record_signup(&signup("s2", "chadi", None, Some(code), t0()))
            .await
            .unwrap();
        assert!(matches!(typed, SignupOutcome::Referred { .. }));
        let bought = e
            .record_conversion(&order(
                "o1",
                "chadi",
                100,
                t0() + TimeDelta::days(30) + TimeDelta::seconds(1),
            ))
            .await
            .unwrap();
        assert_eq!(
            bought,
            ConversionOutcome::NotRewarded {
                referrer: Some(cid("amira")),
                reason: Reason::OutsideLookback
            }
        );
        // Exactly at the edge of the window still counts.
        let edge = e
            .record_signup(&signup("s3", "dana", None, Some(code), t0()))
            .await
            .unwrap();
        assert!(matches!(edge, SignupOutcome::Referred { .. }));
        let bought = e
            .record_conversion(&order("o2", "dana", 100, t0() + TimeDelta::days(30)))
            .await
            .unwrap();
        assert!(
            matches!(bought, ConversionOutcome::Rewarded { .. }),
            "{bought:?}"
        );
    });
}

#[test]
fn code_limits_expiry_and_deactivation_are_enforced_with_reasons() {
    let p = program()
        .code_max_uses(1)
        .code_valid_for(TimeDelta::days(10))
        .build()
        .unwrap();
    let e = engine_with(p);
    block_on(async {
        let issued = e.issue_code(&cid("amira"), t0()).await.unwrap();
        assert_eq!(issued.record.expires_at, Some(t0() + TimeDelta::days(10)));
        let code = issued.record.code;
        let first = e
            .record_signup(&signup("s1", "b", None, Some(code), t0()))
            .await
            .unwrap();
        assert!(matches!(first, SignupOutcome::Referred { .. }));
        let second = e
            .record_signup(&signup("s2", "c", None, Some(code), t0()))
            .await
            .unwrap();
        assert_eq!(
            second,
            SignupOutcome::NotReferred {
                reason: Reason::CodeExhausted
            }
        );

        let other = e.issue_code(&cid("zaid"), t0()).await.unwrap().record.code;
        let expired = e
            .record_touch(&touch(
                "t1",
                "v",
                other,
                Channel::Sms,
                t0() + TimeDelta::days(10),
            ))
            .await
            .unwrap();
        assert_eq!(
            expired,
            TouchOutcome::Ignored {
                reason: Reason::CodeExpired
            }
        );

        e.set_code_active(&other, false).await.unwrap();
        let off = e
            .record_signup(&signup("s3", "d", None, Some(other), t0()))
            .await
            .unwrap();
        assert_eq!(
            off,
            SignupOutcome::NotReferred {
                reason: Reason::CodeInactive
            }
        );
        let check = e
            .check_code(&other.to_string().to_lowercase(), t0())
            .await
            .unwrap();
        assert_eq!(check.owner, Some(cid("zaid")));
        assert_eq!(check.unusable, Some(CodeUnusable::Inactive));
    });
}

#[test]
fn issuing_is_idempotent_per_customer_and_derived_codes_are_stable() {
    let p = program()
        .code_generation(CodeGeneration::Derived)
        .build()
        .unwrap();
    let secret = || CodeSecret::new(b"a program secret of 32 bytes....").unwrap();
    let a = Engine::new(MemoryStore::new(), p.clone()).with_code_secret(secret());
    let b = Engine::new(MemoryStore::new(), p.clone()).with_code_secret(secret());
    block_on(async {
        let first = a.issue_code(&cid("amira"), t0()).await.unwrap();
        let again = a
            .issue_code(&cid("amira"), t0() + TimeDelta::days(1))
            .await
            .unwrap();
        assert!(first.created && !again.created);
        assert_eq!(first.record, again.record);
        let elsewhere = b.issue_code(&cid("amira"), t0()).await.unwrap();
        assert_eq!(elsewhere.record.code, first.record.code);
        let other = a.issue_code(&cid("badr"), t0()).await.unwrap();
        assert_ne!(other.record.code, first.record.code);

        let no_secret = Engine::new(MemoryStore::new(), p);
        let err = no_secret.issue_code(&cid("amira"), t0()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_issues_for_one_customer_agree_on_one_code() {
    let e = Arc::new(engine());
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let e = Arc::clone(&e);
        tasks.push(tokio::spawn(async move {
            e.issue_code(&cid("amira"), t0()).await
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap().unwrap().record.code);
    }
    codes.dedup();
    assert_eq!(codes.len(), 1, "{codes:?}");
}

#[test]
fn replays_return_the_first_outcome_and_reused_ids_are_refused() {
    let e = engine();
    block_on(async {
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        e.record_signup(&signup("s1", "badr", None, Some(code), t0()))
            .await
            .unwrap();
        let o = order("o1", "badr", 5_000, t0() + TimeDelta::days(1));
        let first = e.record_conversion(&o).await.unwrap();
        let before = e.store().snapshot();
        assert_eq!(e.record_conversion(&o).await.unwrap(), first);
        assert_eq!(e.store().snapshot(), before, "a replay wrote something");
        let mut changed = o.clone();
        changed.amount = sar(6_000);
        let err = e.record_conversion(&changed).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IdempotencyMismatch, "{err}");

        let dup = e
            .record_signup(&signup("s2", "badr", None, None, t0()))
            .await
            .unwrap_err();
        assert_eq!(dup.kind(), ErrorKind::Duplicate, "{dup}");
        // Only the first conversion is rewarded by default.
        let second = e
            .record_conversion(&order("o2", "badr", 5_000, t0() + TimeDelta::days(2)))
            .await
            .unwrap();
        assert_eq!(
            second,
            ConversionOutcome::NotRewarded {
                referrer: Some(cid("amira")),
                reason: Reason::AlreadyRewarded
            }
        );
    });
}

#[test]
fn bad_input_is_refused_with_the_field_named() {
    let e = engine();
    block_on(async {
        let mut o = order("o1", "badr", 5_000, t0());
        o.amount = Money::new(5_000, Currency::KWD);
        let err = e.record_conversion(&o).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CurrencyMismatch);
        assert!(err.to_string().starts_with("conversion.amount: "), "{err}");

        let err = e
            .record_refund(&refund("r", "nope", RefundAmount::Full, t0()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");

        // A walk-in who never signed up is nobody's referee: the order is
        // answered but not recorded, so a retry after a late signup is
        // decided afresh, and its refunds find nothing.
        let walk_in = e
            .record_conversion(&order("o2", "walk-in", 1_000, t0()))
            .await
            .unwrap();
        assert_eq!(
            walk_in,
            ConversionOutcome::NotRewarded {
                referrer: None,
                reason: Reason::NotSignedUp
            }
        );
        let err = e
            .record_refund(&refund("r0", "o2", RefundAmount::Full, t0()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        e.record_signup(&signup("s-walk-in", "walk-in", None, None, t0()))
            .await
            .unwrap();
        let now_known = e
            .record_conversion(&order("o2", "walk-in", 1_000, t0()))
            .await
            .unwrap();
        assert_eq!(
            now_known,
            ConversionOutcome::NotRewarded {
                referrer: None,
                reason: Reason::NoQualifyingTouch
            }
        );
        let err = e
            .record_refund(&refund("r1", "o2", RefundAmount::Partial(sar(1_001)), t0()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("exceeds"), "{err}");
        let err = e
            .record_refund(&refund(
                "r2",
                "o2",
                RefundAmount::Partial(Money::new(1, Currency::AED)),
                t0(),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::CurrencyMismatch, "{err}");
        let err = e.check_code("AB$CD", t0()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn vanity_codes_are_unique_per_program() {
    let e = engine();
    block_on(async {
        let sara = e
            .create_vanity_code(&cid("sara"), "sara2026", VanityOptions::default(), t0())
            .await
            .unwrap();
        assert_eq!(sara.code.as_str(), "SARA2026");
        let again = e
            .create_vanity_code(&cid("sara"), "SARA-2026", VanityOptions::default(), t0())
            .await
            .unwrap();
        assert_eq!(again, sara);
        let taken = e
            .create_vanity_code(&cid("other"), "SARA2026", VanityOptions::default(), t0())
            .await
            .unwrap_err();
        assert_eq!(taken.kind(), ErrorKind::Duplicate, "{taken}");
        // The vanity code refers like any other.
        let joined = e
            .record_signup(&signup("s", "fan", None, Some(sara.code), t0()))
            .await
            .unwrap();
        assert!(matches!(joined, SignupOutcome::Referred { .. }));
    });
}

#[test]
fn events_outside_the_program_dates_earn_nothing() {
    let p = program()
        .starts_at(t0())
        .ends_at(t0() + TimeDelta::days(60))
        .build()
        .unwrap();
    let e = engine_with(p);
    block_on(async {
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let early = e
            .record_touch(&touch(
                "t",
                "v",
                code,
                Channel::Email,
                t0() - TimeDelta::seconds(1),
            ))
            .await
            .unwrap();
        assert_eq!(
            early,
            TouchOutcome::Ignored {
                reason: Reason::ProgramNotActive
            }
        );
        e.record_signup(&signup(
            "s",
            "b",
            None,
            Some(code),
            t0() + TimeDelta::days(59),
        ))
        .await
        .unwrap();
        let late = e
            .record_conversion(&order("o", "b", 100, t0() + TimeDelta::days(60)))
            .await
            .unwrap();
        assert_eq!(
            late,
            ConversionOutcome::NotRewarded {
                referrer: None,
                reason: Reason::ProgramNotActive
            }
        );
    });
}

#[test]
fn three_decimal_currencies_split_and_claw_back_exactly() {
    let kwd = |m| Money::new(m, Currency::KWD);
    let p = Program::builder("kw", "Kuwait")
        .currency(Currency::KWD)
        .two_sided_reward(kwd(2_500), kwd(1_000))
        .build()
        .unwrap();
    let e = engine_with(p);
    block_on(async {
        let code = e.issue_code(&cid("a"), t0()).await.unwrap().record.code;
        e.record_signup(&signup("s", "b", None, Some(code), t0()))
            .await
            .unwrap();
        let mut o = order("o", "b", 0, t0());
        o.amount = kwd(7_000);
        e.record_conversion(&o).await.unwrap();
        let r = e
            .record_refund(&refund("r1", "o", RefundAmount::Partial(kwd(1_000)), t0()))
            .await
            .unwrap();
        // 2.500 × 1/7 = 0.357142… → 0.357 KWD
        assert_eq!(r.clawbacks[0].net_money(), Some(kwd(-357)));
        e.record_refund(&refund("r2", "o", RefundAmount::Full, t0()))
            .await
            .unwrap();
        assert!(e.balance(&cid("a")).await.unwrap().is_zero());
    });
}

#[test]
fn events_and_outcomes_round_trip_through_json() {
    let code = Code::from_canonical("SARA2026").unwrap();
    let t = touch(
        "t1",
        "v",
        code,
        Channel::custom("podcast").expect("a valid custom channel"),
        t0(),
    );
    let json = serde_json::to_string(&t).unwrap();
    assert_eq!(serde_json::from_str::<Touch>(&json).unwrap(), t);
    let s = signup("s", "عميل", Some("v"), Some(code), t0());
    assert_eq!(
        serde_json::from_str::<Signup>(&serde_json::to_string(&s).unwrap()).unwrap(),
        s
    );
    let c = order("o", "c", 1, t0());
    assert_eq!(
        serde_json::from_str::<Conversion>(&serde_json::to_string(&c).unwrap()).unwrap(),
        c
    );
    for amount in [RefundAmount::Full, RefundAmount::Partial(sar(5))] {
        let r = refund("r", "o", amount, t0());
        assert_eq!(
            serde_json::from_str::<Refund>(&serde_json::to_string(&r).unwrap()).unwrap(),
            r
        );
    }
    let outcome = SignupOutcome::NotReferred {
        reason: Reason::CodeExhausted,
    };
    let json = serde_json::to_string(&outcome).unwrap();
    assert_eq!(json, r#"{"not_referred":{"reason":"code_exhausted"}}"#);
    assert_eq!(
        serde_json::from_str::<SignupOutcome>(&json).unwrap(),
        outcome
    );
}

/// A referee clicks three friends' links on three channels, signs up and
/// buys: each attribution model credits them as its formula says, and a
/// split reward adds up to the whole, to the halala, and claws back whole.
#[test]
fn three_friends_links_under_every_model() {
    use referrals::attribution::{AttributionPolicy, Model};
    use referrals::program::{Incentive, ReferrerSplit, TwoSidedReward};

    let cases: Vec<(Model, Vec<(&str, i64)>)> = vec![
        (Model::LastTouch, vec![("chadi", 1000)]),
        (Model::FirstTouch, vec![("amira", 1000)]),
        (
            Model::Linear,
            vec![("chadi", 334), ("badr", 333), ("amira", 333)],
        ),
        // Clicks 14, 7 and 0 days before the last: weights ¼, ½, 1.
        (
            Model::time_decay(),
            vec![("chadi", 571), ("badr", 286), ("amira", 143)],
        ),
        (
            Model::position_based(),
            vec![("chadi", 400), ("amira", 400), ("badr", 200)],
        ),
    ];
    for (model, expected) in cases {
        let policy = AttributionPolicy {
            model: model.clone(),
            lookback_seconds: 30 * 24 * 3600,
            ..AttributionPolicy::default()
        };
        let p = program()
            .attribution(policy)
            .incentive(Incentive::TwoSided(
                TwoSidedReward::new(sar(1000), sar(500)).with_referrer_split(ReferrerSplit::Shares),
            ))
            .build()
            .unwrap();
        let e = engine_with(p);
        block_on(async {
            let mut codes = Vec::new();
            for friend in ["amira", "badr", "chadi"] {
                codes.push(e.issue_code(&cid(friend), t0()).await.unwrap().record.code);
            }
            let channels = [Channel::Email, Channel::WhatsApp, Channel::Sms];
            for (i, (code, channel)) in codes.iter().zip(channels).enumerate() {
                let at = t0() + TimeDelta::days(7 * i as i64);
                e.record_touch(&touch(&format!("t{i}"), "v", *code, channel, at))
                    .await
                    .unwrap();
            }
            let joined = e
                .record_signup(&signup(
                    "s",
                    "dana",
                    Some("v"),
                    None,
                    t0() + TimeDelta::days(14),
                ))
                .await
                .unwrap();
            let SignupOutcome::Referred { referral, .. } = joined else {
                panic!("{model:?}: {joined:?}")
            };
            assert_eq!(referral.referrer, cid(expected[0].0), "{model:?}");
            let bought = e
                .record_conversion(&order("o", "dana", 9_000, t0() + TimeDelta::days(14)))
                .await
                .unwrap();
            let ConversionOutcome::Rewarded {
                credits, payouts, ..
            } = &bought
            else {
                panic!("{model:?}: {bought:?}")
            };
            assert_eq!(
                credits
                    .iter()
                    .map(|c| u64::from(c.share.ppb()))
                    .sum::<u64>(),
                1_000_000_000
            );
            let paid: Vec<(&str, i64)> = payouts
                .iter()
                .filter(|p| p.role == Role::Referrer)
                .map(|p| (p.beneficiary.as_str(), p.quantity))
                .collect();
            assert_eq!(paid, expected, "{model:?}");
            assert_eq!(paid.iter().map(|(_, m)| m).sum::<i64>(), 1000);
            // Each credit names the channel of that friend's latest click.
            for c in credits {
                let expected = match c.referrer.as_str() {
                    "amira" => Channel::Email,
                    "badr" => Channel::WhatsApp,
                    _ => Channel::Sms,
                };
                assert_eq!(c.channel, expected, "{model:?}");
            }

            e.record_refund(&refund(
                "r",
                "o",
                RefundAmount::Full,
                t0() + TimeDelta::days(15),
            ))
            .await
            .unwrap();
            for friend in ["amira", "badr", "chadi", "dana"] {
                assert!(
                    e.balance(&cid(friend)).await.unwrap().is_zero(),
                    "{model:?} {friend}"
                );
            }
        });
    }
}

#[test]
fn an_unreferred_customer_does_not_become_a_referee_by_clicking_later() {
    let e = engine();
    block_on(async {
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        // A customer touch reported before the signup does not count either.
        let mut early = touch("t0", "unused", code, Channel::Email, t0());
        early.actor = Actor::Customer(cid("xena"));
        e.record_touch(&early).await.unwrap();
        let joined = e
            .record_signup(&signup("s", "xena", None, None, t0() + TimeDelta::hours(1)))
            .await
            .unwrap();
        assert_eq!(
            joined,
            SignupOutcome::NotReferred {
                reason: Reason::NoQualifyingTouch
            }
        );
        let mut later = touch(
            "t1",
            "unused",
            code,
            Channel::Email,
            t0() + TimeDelta::hours(2),
        );
        later.actor = Actor::Customer(cid("xena"));
        e.record_touch(&later).await.unwrap();
        let bought = e
            .record_conversion(&order("o", "xena", 5_000, t0() + TimeDelta::hours(3)))
            .await
            .unwrap();
        assert_eq!(
            bought,
            ConversionOutcome::NotRewarded {
                referrer: None,
                reason: Reason::NoQualifyingTouch
            }
        );
        assert!(e.balance(&cid("amira")).await.unwrap().is_zero());
    });
}

#[test]
fn an_order_delivered_before_its_signup_is_paid_once_the_signup_lands() {
    let e = engine();
    block_on(async {
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let o = order("o", "badr", 5_000, t0() + TimeDelta::hours(2));
        let early = e.record_conversion(&o).await.unwrap();
        assert_eq!(
            early,
            ConversionOutcome::NotRewarded {
                referrer: None,
                reason: Reason::NotSignedUp
            }
        );
        e.record_signup(&signup(
            "s",
            "badr",
            None,
            Some(code),
            t0() + TimeDelta::hours(1),
        ))
        .await
        .unwrap();
        let retried = e.record_conversion(&o).await.unwrap();
        assert!(
            matches!(retried, ConversionOutcome::Rewarded { .. }),
            "{retried:?}"
        );
        // An order placed before the signup is not a referred purchase.
        let before = e
            .record_conversion(&order("o0", "badr", 5_000, t0()))
            .await
            .unwrap();
        assert_eq!(
            before,
            ConversionOutcome::NotRewarded {
                referrer: None,
                reason: Reason::NotSignedUp
            }
        );
    });
}

#[test]
fn a_typed_code_wins_over_earlier_clicks_whatever_the_model() {
    use referrals::attribution::{AttributionPolicy, Model};
    let p = program()
        .attribution(AttributionPolicy::with_model(Model::FirstTouch))
        .build()
        .unwrap();
    let e = engine_with(p);
    block_on(async {
        let a = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let b = e.issue_code(&cid("badr"), t0()).await.unwrap().record.code;
        e.record_touch(&touch("t", "v", b, Channel::Sms, t0()))
            .await
            .unwrap();
        let joined = e
            .record_signup(&signup(
                "s",
                "dana",
                Some("v"),
                Some(a),
                t0() + TimeDelta::hours(1),
            ))
            .await
            .unwrap();
        let SignupOutcome::Referred { referral, .. } = joined else {
            panic!("{joined:?}")
        };
        assert_eq!(referral.referrer, cid("amira"));
        assert_eq!(referral.code, a);
        // Both stay qualifying touches for the conversion's attribution.
        let dana = e.customer(&cid("dana")).await.unwrap().unwrap();
        assert_eq!(dana.qualifying_touches.len(), 2);
    });
}

#[test]
fn a_fully_refunded_first_order_lets_the_next_one_earn() {
    let e = engine();
    block_on(async {
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        e.record_signup(&signup("s", "badr", None, Some(code), t0()))
            .await
            .unwrap();
        e.record_conversion(&order("o1", "badr", 5_000, t0() + TimeDelta::hours(1)))
            .await
            .unwrap();
        e.record_refund(&refund(
            "1",
            "o1",
            RefundAmount::Full,
            t0() + TimeDelta::hours(2),
        ))
        .await
        .unwrap();
        let next = e
            .record_conversion(&order("o2", "badr", 5_000, t0() + TimeDelta::hours(3)))
            .await
            .unwrap();
        assert!(
            matches!(next, ConversionOutcome::Rewarded { .. }),
            "{next:?}"
        );
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(1500));
        // Refund ids numbered per order ("1") do not collide across orders.
        let r = e
            .record_refund(&refund(
                "1",
                "o2",
                RefundAmount::Partial(sar(2_500)),
                t0() + TimeDelta::hours(4),
            ))
            .await
            .unwrap();
        assert_eq!(r.clawbacks.len(), 2);
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(750));
    });
}

#[test]
fn a_referrer_sharing_their_own_code_is_recorded_but_their_click_is_not() {
    let e = engine();
    block_on(async {
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let mut share = touch("t1", "x", code, Channel::WhatsApp, t0());
        share.actor = Actor::Customer(cid("amira"));
        share.kind = TouchKind::Share;
        assert_eq!(
            e.record_touch(&share).await.unwrap(),
            TouchOutcome::Recorded {
                referrer: cid("amira"),
                rewards: Vec::new(),
            }
        );
        let mut click = share.clone();
        click.id = EventId::new("t2").unwrap();
        click.kind = TouchKind::Click;
        assert_eq!(
            e.record_touch(&click).await.unwrap(),
            TouchOutcome::Ignored {
                reason: Reason::SelfReferral
            }
        );
    });
}

#[test]
fn a_touch_exactly_at_the_window_edge_before_signup_counts() {
    let e = engine();
    block_on(async {
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        e.record_touch(&touch("t", "v", code, Channel::Qr, t0()))
            .await
            .unwrap();
        let joined = e
            .record_signup(&signup(
                "s",
                "badr",
                Some("v"),
                None,
                t0() + TimeDelta::days(30),
            ))
            .await
            .unwrap();
        assert!(
            matches!(joined, SignupOutcome::Referred { .. }),
            "{joined:?}"
        );
    });
}

#[test]
fn a_split_reward_in_a_three_decimal_currency_claws_back_exactly() {
    use referrals::program::{Incentive, ReferrerSplit, TwoSidedReward};
    let kwd = |m| Money::new(m, Currency::KWD);
    let p = Program::builder("kw2", "Kuwait split")
        .currency(Currency::KWD)
        .attribution(referrals::attribution::AttributionPolicy::with_model(
            referrals::attribution::Model::Linear,
        ))
        .incentive(Incentive::TwoSided(
            TwoSidedReward::new(kwd(1_000), kwd(500)).with_referrer_split(ReferrerSplit::Shares),
        ))
        .build()
        .unwrap();
    let e = engine_with(p);
    block_on(async {
        let mut codes = Vec::new();
        for f in ["a", "b", "c"] {
            codes.push(e.issue_code(&cid(f), t0()).await.unwrap().record.code);
        }
        for (i, c) in codes.iter().enumerate() {
            e.record_touch(&touch(
                &format!("t{i}"),
                "v",
                *c,
                Channel::Email,
                t0() + TimeDelta::hours(i as i64),
            ))
            .await
            .unwrap();
        }
        e.record_signup(&signup(
            "s",
            "d",
            Some("v"),
            None,
            t0() + TimeDelta::hours(5),
        ))
        .await
        .unwrap();
        e.record_conversion(
            &order("o", "d", 0, t0() + TimeDelta::hours(6)).with_amount(kwd(7_000)),
        )
        .await
        .unwrap();
        assert_eq!(balances(&e).await, [333, 333, 334, 500]);
        let r = e
            .record_refund(&refund(
                "r1",
                "o",
                RefundAmount::Partial(kwd(3_500)),
                t0() + TimeDelta::hours(7),
            ))
            .await
            .unwrap();
        let back: i64 = r
            .clawbacks
            .iter()
            .map(|c| c.net_money().unwrap().minor())
            .sum();
        assert_eq!(back, -(167 + 166 + 166 + 250));
        e.record_refund(&refund(
            "r2",
            "o",
            RefundAmount::Full,
            t0() + TimeDelta::hours(8),
        ))
        .await
        .unwrap();
        assert_eq!(balances(&e).await, [0, 0, 0, 0]);
    });
}

trait WithAmount {
    fn with_amount(self, amount: Money) -> Self;
}

impl WithAmount for Conversion {
    fn with_amount(mut self, amount: Money) -> Conversion {
        self.amount = amount;
        self
    }
}

async fn balances(e: &Engine<MemoryStore>) -> Vec<i64> {
    let mut v = Vec::new();
    for f in ["a", "b", "c", "d"] {
        v.push(e.balance(&cid(f)).await.unwrap().minor());
    }
    v
}

#[test]
fn vanity_options_are_checked() {
    let e = engine();
    block_on(async {
        let zero = VanityOptions {
            max_uses: Some(0),
            ..VanityOptions::default()
        };
        let err = e
            .create_vanity_code(&cid("sara"), "SARA2026", zero, t0())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().starts_with("options.max_uses"), "{err}");
        let past = VanityOptions {
            expires_at: Some(t0()),
            ..VanityOptions::default()
        };
        let err = e
            .create_vanity_code(&cid("sara"), "SARA2026", past, t0())
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("options.expires_at"), "{err}");
    });
}

/// A code typed at signup is the referee's own choice: it makes the
/// referral and is paid at the first order under any policy, even one that
/// counts no clicks (it was once stored as a click and then dropped).
#[test]
fn a_typed_code_pays_whatever_kinds_the_policy_counts() {
    use referrals::attribution::AttributionPolicy;
    for counted in [vec![TouchKind::Visit], vec![TouchKind::Share], vec![]] {
        let policy = AttributionPolicy {
            counted_kinds: counted.clone(),
            ..AttributionPolicy::default()
        };
        let Ok(p) = program().attribution(policy).build() else {
            // A policy the program refuses (say, counting nothing) is fine.
            continue;
        };
        let e = engine_with(p);
        block_on(async {
            let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
            let joined = e
                .record_signup(&signup(
                    "s1",
                    "badr",
                    None,
                    Some(code),
                    t0() + TimeDelta::hours(1),
                ))
                .await
                .unwrap();
            assert!(
                matches!(joined, SignupOutcome::Referred { .. }),
                "{counted:?}: {joined:?}"
            );
            let bought = e
                .record_conversion(&order("o1", "badr", 10_000, t0() + TimeDelta::hours(2)))
                .await
                .unwrap();
            let ConversionOutcome::Rewarded { referrer, .. } = &bought else {
                panic!("{counted:?}: {bought:?}")
            };
            assert_eq!(*referrer, cid("amira"));
        });
    }
}

/// Every engine call can run under `tokio::spawn` (its future is `Send`),
/// as in a web server's handlers; `record_signup` and `record_conversion`
/// once were not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_engine_call_runs_in_a_spawned_task() {
    let e = Arc::new(engine());
    let issued = {
        let e = Arc::clone(&e);
        tokio::spawn(async move { e.issue_code(&cid("amira"), t0()).await.map(|_| ()) })
    };
    issued.await.unwrap().unwrap();
    let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
    let t = touch("t1", "v-1", code, Channel::Sms, t0() + TimeDelta::hours(1));
    let s = signup("s1", "badr", Some("v-1"), None, t0() + TimeDelta::hours(2));
    let o = order("o1", "badr", 10_000, t0() + TimeDelta::hours(3));
    let r = refund("r1", "o1", RefundAmount::Full, t0() + TimeDelta::hours(4));
    let e2 = Arc::clone(&e);
    tokio::spawn(async move {
        e2.record_touch(&t).await.unwrap();
        e2.record_signup(&s).await.unwrap();
        e2.record_conversion(&o).await.unwrap();
        e2.record_refund(&r).await.unwrap();
        e2.balance(&cid("amira")).await.unwrap();
        e2.ledger(&cid("amira")).await.unwrap();
    })
    .await
    .unwrap();
    assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(0));
}

/// A code prefix that the program's blocklist refuses is a build error:
/// every generated code would be refused, and `issue_code` could never
/// succeed.
#[test]
fn a_prefix_the_blocklist_refuses_is_a_build_error() {
    let format = referrals::CodeFormat::default()
        .with_prefix("FREE")
        .unwrap();
    let err = program().code_format(format).build().unwrap_err();
    assert_eq!(err.field, "code_format", "{err}");
    assert!(err.to_string().contains("FREE"), "{err}");
    let fine = referrals::CodeFormat::default()
        .with_prefix("BAKE")
        .unwrap();
    assert!(program().code_format(fine).build().is_ok());
}

/// A second account on the referrer's own visitor id (the browser or
/// device she signed up on) is the referrer referring herself: refused as
/// self-referral, whether she clicked her link there or typed her code.
#[test]
fn a_second_account_on_the_referrers_own_visitor_id_is_self_referral() {
    for typed in [false, true] {
        let e = engine();
        block_on(async {
            e.record_signup(&signup("s-amira", "amira", Some("v-amira"), None, t0()))
                .await
                .unwrap();
            let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
            e.record_touch(&touch(
                "t1",
                "v-amira",
                code,
                Channel::Sms,
                t0() + TimeDelta::minutes(1),
            ))
            .await
            .unwrap();
            let joined = e
                .record_signup(&signup(
                    "s-alt",
                    "amira-alt",
                    Some("v-amira"),
                    typed.then_some(code),
                    t0() + TimeDelta::minutes(2),
                ))
                .await
                .unwrap();
            assert!(
                matches!(
                    joined,
                    SignupOutcome::NotReferred {
                        reason: Reason::SelfReferral,
                        ..
                    }
                ),
                "typed {typed}: {joined:?}"
            );
            e.record_conversion(&order("o1", "amira-alt", 5_000, t0() + TimeDelta::hours(1)))
                .await
                .unwrap();
            assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(0));
            assert_eq!(e.balance(&cid("amira-alt")).await.unwrap(), sar(0));
            // A friend on another device is still referred.
            e.record_touch(&touch(
                "t2",
                "v-friend",
                code,
                Channel::Sms,
                t0() + TimeDelta::minutes(3),
            ))
            .await
            .unwrap();
            let friend = e
                .record_signup(&signup(
                    "s-f",
                    "farah",
                    Some("v-friend"),
                    None,
                    t0() + TimeDelta::minutes(4),
                ))
                .await
                .unwrap();
            assert!(
                matches!(friend, SignupOutcome::Referred { .. }),
                "{friend:?}"
            );
        });
    }
}

/// The referee typed Amira's code after clicking Badr's link: Amira is the
/// referrer of record and the one paid per referral under every model
/// (the typed code is the referee's explicit choice), while it counts.
#[test]
fn the_typed_codes_owner_is_paid_per_referral_under_every_model() {
    use referrals::attribution::{AttributionPolicy, Model};
    for model in [
        Model::FirstTouch,
        Model::LastTouch,
        Model::Linear,
        Model::position_based(),
    ] {
        let p = program()
            .attribution(AttributionPolicy::with_model(model.clone()))
            .build()
            .unwrap();
        let e = engine_with(p);
        block_on(async {
            let a = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
            let b = e.issue_code(&cid("badr"), t0()).await.unwrap().record.code;
            e.record_touch(&touch("t", "v", b, Channel::Sms, t0()))
                .await
                .unwrap();
            let joined = e
                .record_signup(&signup(
                    "s",
                    "dana",
                    Some("v"),
                    Some(a),
                    t0() + TimeDelta::hours(1),
                ))
                .await
                .unwrap();
            let SignupOutcome::Referred { referral, .. } = &joined else {
                panic!("{model:?}: {joined:?}")
            };
            assert_eq!(referral.referrer, cid("amira"), "{model:?}");
            let paid = e
                .record_conversion(&order("o", "dana", 5_000, t0() + TimeDelta::hours(2)))
                .await
                .unwrap();
            let ConversionOutcome::Rewarded { referrer, .. } = &paid else {
                panic!("{model:?}: {paid:?}")
            };
            assert_eq!(*referrer, cid("amira"), "{model:?}");
            assert_eq!(
                e.balance(&cid("amira")).await.unwrap(),
                sar(1500),
                "{model:?}"
            );
            assert_eq!(e.balance(&cid("badr")).await.unwrap(), sar(0), "{model:?}");
        });
    }
}

/// Amira refers Badr; Badr's code cannot then refer Amira (two people
/// referring each other), whether she types it or clicks his link.
#[test]
fn two_people_cannot_refer_each_other() {
    for typed in [false, true] {
        let e = engine();
        block_on(async {
            let a = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
            let joined = e
                .record_signup(&signup(
                    "s-b",
                    "badr",
                    None,
                    Some(a),
                    t0() + TimeDelta::hours(1),
                ))
                .await
                .unwrap();
            assert!(
                matches!(joined, SignupOutcome::Referred { .. }),
                "{joined:?}"
            );
            let b = e.issue_code(&cid("badr"), t0()).await.unwrap().record.code;
            e.record_touch(&touch(
                "t",
                "v-a",
                b,
                Channel::Sms,
                t0() + TimeDelta::hours(2),
            ))
            .await
            .unwrap();
            let back = e
                .record_signup(&signup(
                    "s-a",
                    "amira",
                    Some("v-a"),
                    typed.then_some(b),
                    t0() + TimeDelta::hours(3),
                ))
                .await
                .unwrap();
            assert_eq!(
                back,
                SignupOutcome::NotReferred {
                    reason: Reason::ReferralRing
                },
                "typed {typed}"
            );
        });
    }
}

/// A touch the host recorded as typed counts at signup like any counted
/// touch, but only the code typed into the signup itself overrides the
/// model's referrer, and only for rewards per referral.
#[test]
fn only_the_code_typed_at_signup_overrides_the_payee() {
    use referrals::attribution::{AttributionPolicy, Model};
    use referrals::program::{Incentive, ReferrerSplit, TwoSidedReward};
    // A recorded typed touch is a qualifying touch at signup.
    let e = engine();
    block_on(async {
        let a = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let mut typed = touch("t-a", "v", a, Channel::Sms, t0());
        typed.kind = TouchKind::Typed;
        e.record_touch(&typed).await.unwrap();
        let joined = e
            .record_signup(&signup(
                "s",
                "dana",
                Some("v"),
                None,
                t0() + TimeDelta::hours(1),
            ))
            .await
            .unwrap();
        assert!(
            matches!(joined, SignupOutcome::Referred { .. }),
            "{joined:?}"
        );
    });
    // ... but it does not take the payout from the referral's referrer.
    let policy = AttributionPolicy {
        counted_kinds: vec![TouchKind::Click, TouchKind::Visit, TouchKind::Typed],
        ..AttributionPolicy::default()
    };
    let e = engine_with(program().attribution(policy).build().unwrap());
    block_on(async {
        let a = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let b = e.issue_code(&cid("badr"), t0()).await.unwrap().record.code;
        let mut typed = touch("t-a", "v", a, Channel::Sms, t0());
        typed.kind = TouchKind::Typed;
        e.record_touch(&typed).await.unwrap();
        e.record_touch(&touch(
            "t-b",
            "v",
            b,
            Channel::Sms,
            t0() + TimeDelta::minutes(1),
        ))
        .await
        .unwrap();
        e.record_signup(&signup(
            "s",
            "dana",
            Some("v"),
            None,
            t0() + TimeDelta::hours(1),
        ))
        .await
        .unwrap();
        let paid = e
            .record_conversion(&order("o", "dana", 5_000, t0() + TimeDelta::hours(2)))
            .await
            .unwrap();
        let ConversionOutcome::Rewarded { referrer, .. } = &paid else {
            panic!("{paid:?}")
        };
        assert_eq!(*referrer, cid("badr"));
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(0));
    });
    // Under a split by shares the model decides, and names the largest.
    let p = program()
        .attribution(AttributionPolicy::with_model(Model::FirstTouch))
        .incentive(Incentive::TwoSided(
            TwoSidedReward::new(sar(1000), sar(500)).with_referrer_split(ReferrerSplit::Shares),
        ))
        .build()
        .unwrap();
    let e = engine_with(p);
    block_on(async {
        let a = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let b = e.issue_code(&cid("badr"), t0()).await.unwrap().record.code;
        e.record_touch(&touch("t", "v", b, Channel::Sms, t0()))
            .await
            .unwrap();
        e.record_signup(&signup(
            "s",
            "dana",
            Some("v"),
            Some(a),
            t0() + TimeDelta::hours(1),
        ))
        .await
        .unwrap();
        let paid = e
            .record_conversion(&order("o", "dana", 5_000, t0() + TimeDelta::hours(2)))
            .await
            .unwrap();
        let ConversionOutcome::Rewarded { referrer, .. } = &paid else {
            panic!("{paid:?}")
        };
        assert_eq!(*referrer, cid("badr"));
        assert_eq!(e.balance(&cid("badr")).await.unwrap(), sar(1000));
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(0));
    });
}

/// The lookback set on the builder and the policy's model can be given in
/// either order.
#[test]
fn lookback_and_policy_can_be_set_in_either_order() {
    use referrals::attribution::{AttributionPolicy, Model};
    let policy = AttributionPolicy::with_model(Model::Linear);
    let a = program()
        .lookback_days(7)
        .attribution(policy.clone())
        .build()
        .unwrap();
    let b = program()
        .attribution(policy.clone())
        .lookback_days(7)
        .build()
        .unwrap();
    assert_eq!(a.lookback(), TimeDelta::days(7));
    assert_eq!(b.lookback(), TimeDelta::days(7));
    assert_eq!(a.attribution().model, Model::Linear);
    // A policy with a window of its own sets it.
    let own = AttributionPolicy {
        lookback_seconds: 3 * 86_400,
        ..policy
    };
    let c = program().lookback_days(7).attribution(own).build().unwrap();
    assert_eq!(c.lookback(), TimeDelta::days(3));
}

/// A typo in a typed code comes back with its corrections, through the
/// error's source, as `check_code`'s docs say.
#[test]
fn a_typed_typo_offers_its_corrections() {
    use referrals::code::CodeParseError;
    use std::error::Error as _;
    let e = engine();
    block_on(async {
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let text = code.as_str();
        // Swap two adjacent symbols after the first: a typo the check catches.
        let mut typo: Vec<char> = text.chars().collect();
        let i = (1..typo.len() - 1)
            .find(|&i| typo[i] != typo[i + 1])
            .unwrap();
        typo.swap(i, i + 1);
        let typo: String = typo.into_iter().collect();
        let err = e.check_code(&typo, t0()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let parse = err
            .source()
            .and_then(|s| s.downcast_ref::<CodeParseError>())
            .expect("the source is the parse error");
        assert!(
            parse.suggestions().contains(&code),
            "{typo}: {:?}",
            parse.suggestions()
        );
    });
}

/// Events racing through one engine: the store's counters and
/// idempotency keys, not caller retries, keep them right.
mod concurrent_events {
    use std::sync::Arc;

    use chrono::TimeDelta;
    use referrals::engine::{Reason, RefundOutcome, SignupOutcome};
    use referrals::model::RefundAmount;
    use referrals::store::{CounterKey, IdempotencyKey};
    use referrals::{Code, Engine, MemoryStore, Store};
    use tokio::sync::Barrier;

    use super::{cid, engine_with, order, program, refund, signup, t0};

    const SIGNUPS: usize = 64;

    /// `SIGNUPS` different customers sign up at once with `code`, each
    /// delivered once (no caller retry): the outcomes in customer order.
    async fn racing_signups(e: &Arc<Engine<MemoryStore>>, code: Code) -> Vec<SignupOutcome> {
        let barrier = Arc::new(Barrier::new(SIGNUPS));
        let tasks: Vec<_> = (0..SIGNUPS)
            .map(|i| {
                let e = Arc::clone(e);
                let barrier = Arc::clone(&barrier);
                let s = signup(
                    &format!("s-{i:02}"),
                    &format!("friend-{i:02}"),
                    None,
                    Some(code),
                    t0() + TimeDelta::hours(1),
                );
                tokio::spawn(async move {
                    barrier.wait().await;
                    e.record_signup(&s).await
                })
            })
            .collect();
        let mut outcomes = Vec::with_capacity(SIGNUPS);
        for (i, task) in tasks.into_iter().enumerate() {
            match task.await.expect("a signup task panicked") {
                Ok(o) => outcomes.push(o),
                Err(err) => panic!("signup {i} failed ({:?}): {err}", err.kind()),
            }
        }
        outcomes
    }

    async fn code_uses(e: &Engine<MemoryStore>, code: Code) -> i64 {
        let key = CounterKey::code_uses(e.program().id(), &code);
        e.store().counter(&key).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn signups_racing_through_one_unlimited_code_are_all_referred() {
        let e = Arc::new(engine_with(program().build().unwrap()));
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let outcomes = racing_signups(&e, code).await;
        for (i, o) in outcomes.iter().enumerate() {
            assert!(
                matches!(o, SignupOutcome::Referred { referral, .. } if referral.referrer == cid("amira")),
                "signup {i}: {o:?}"
            );
        }
        assert_eq!(code_uses(&e, code).await, SIGNUPS as i64);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn signups_racing_through_a_code_with_three_uses_refer_exactly_three() {
        let e = Arc::new(engine_with(program().code_max_uses(3).build().unwrap()));
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let outcomes = racing_signups(&e, code).await;
        let referred = outcomes
            .iter()
            .filter(|o| matches!(o, SignupOutcome::Referred { .. }))
            .count();
        assert_eq!(referred, 3, "{outcomes:?}");
        for (i, o) in outcomes.iter().enumerate() {
            assert!(
                matches!(o, SignupOutcome::Referred { .. })
                    || *o
                        == SignupOutcome::NotReferred {
                            reason: Reason::CodeExhausted
                        },
                "signup {i}: {o:?}"
            );
        }
        assert_eq!(code_uses(&e, code).await, 3);
        // Every customer signed up, referred or not.
        for i in 0..SIGNUPS {
            let customer = e.customer(&cid(&format!("friend-{i:02}"))).await.unwrap();
            assert!(customer.is_some(), "friend-{i:02} was not recorded");
        }
    }

    const COPIES: usize = 8;
    const ROUNDS: usize = 300;

    /// Runs `COPIES` copies of one call at once and returns their results.
    async fn at_once<T, F, Fut>(call: F) -> Vec<Result<T, referrals::Error>>
    where
        T: Send + 'static,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, referrals::Error>> + Send + 'static,
    {
        let barrier = Arc::new(Barrier::new(COPIES));
        let tasks: Vec<_> = (0..COPIES)
            .map(|_| {
                let barrier = Arc::clone(&barrier);
                let fut = call();
                tokio::spawn(async move {
                    barrier.wait().await;
                    fut.await
                })
            })
            .collect();
        let mut results = Vec::with_capacity(COPIES);
        for task in tasks {
            results.push(task.await.expect("a task panicked"));
        }
        results
    }

    /// The same signup and the same full refund, each delivered by
    /// several tasks at once (a queue redelivering while the first
    /// delivery is still running): every delivery gets the first outcome,
    /// never a `Duplicate` nor "already fully refunded".
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn an_event_delivered_several_times_at_once_answers_the_first_outcome_to_all() {
        let e = Arc::new(engine_with(program().build().unwrap()));
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        for round in 0..ROUNDS {
            let friend = format!("friend-{round}");
            let s = signup(
                &format!("s-{round}"),
                &friend,
                None,
                Some(code),
                t0() + TimeDelta::hours(1),
            );
            let results = at_once(|| {
                let e = Arc::clone(&e);
                let s = s.clone();
                async move { e.record_signup(&s).await }
            })
            .await;
            let outcomes: Vec<SignupOutcome> = results
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    r.unwrap_or_else(|err| {
                        panic!(
                            "round {round}: signup delivery {i} failed ({:?}): {err}",
                            err.kind()
                        )
                    })
                })
                .collect();
            assert!(
                matches!(&outcomes[0], SignupOutcome::Referred { .. }),
                "round {round}: {:?}",
                outcomes[0]
            );
            assert!(
                outcomes.iter().all(|o| *o == outcomes[0]),
                "round {round}: deliveries of one signup answered differently: {outcomes:?}"
            );
            let stored = e
                .store()
                .idempotency(e.program().id(), &IdempotencyKey::signup(&s.id))
                .await
                .unwrap()
                .expect("the signup's outcome is remembered");
            assert_eq!(
                stored.outcome,
                referrals::store::Outcome::Signup(outcomes[0].clone()),
                "round {round}: the remembered outcome"
            );

            let o = order(
                &format!("o-{round}"),
                &friend,
                10_000,
                t0() + TimeDelta::hours(2),
            );
            e.record_conversion(&o).await.unwrap();
            let r = refund(
                &format!("r-{round}"),
                &format!("o-{round}"),
                RefundAmount::Full,
                t0() + TimeDelta::hours(3),
            );
            let results = at_once(|| {
                let e = Arc::clone(&e);
                let r = r.clone();
                async move { e.record_refund(&r).await }
            })
            .await;
            let outcomes: Vec<RefundOutcome> = results
                .into_iter()
                .enumerate()
                .map(|(i, res)| {
                    res.unwrap_or_else(|err| {
                        panic!(
                            "round {round}: refund delivery {i} failed ({:?}): {err}",
                            err.kind()
                        )
                    })
                })
                .collect();
            assert_eq!(
                outcomes[0].refunded,
                super::sar(10_000),
                "round {round}: the full refund"
            );
            assert!(
                outcomes.iter().all(|o| *o == outcomes[0]),
                "round {round}: deliveries of one refund answered differently: {outcomes:?}"
            );
        }
        // Every order fully refunded once: the referrer's balance is back to zero.
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), super::sar(0));
    }
}

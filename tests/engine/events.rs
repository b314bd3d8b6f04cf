//! Events as input: replays, refused input, program dates, exact money in
//! three-decimal currencies, JSON, the runtime.

use super::*;

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

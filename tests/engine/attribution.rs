//! Who is paid: touches, typed codes, lookback windows, every model,
//! self-referral and loops.

use super::*;

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

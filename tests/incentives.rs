//! Incentive rules through the engine on `MemoryStore`: tiers derived from
//! the referrer's history (and dropping when a referral is refunded),
//! milestones granted once whatever the retries, percentages, points,
//! campaigns at local-time boundaries, eligibility facts from the host,
//! experiments whose assignment is recorded at first exposure, and an
//! event log replayed twice paying once.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use referrals::engine::{ConversionOutcome, HostFacts, Reason, block_on};
use referrals::incentive::{AttributeValue, CustomerFacts, RuleSet};
use referrals::model::{
    Conversion, CustomerId, EventId, OrderId, Refund, RefundAmount, RefundId, Signup,
};
use referrals::reward::{Label, RewardKind, Role, Unit};
use referrals::store::Payout;
use referrals::{Code, Currency, Engine, MemoryStore, Money, Program};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

fn cid(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

/// A rule set in SAR, Asia/Riyadh, terms version 1, from a JSON list of
/// rules (`$N` stands for N minor units of SAR) and extra top-level keys.
fn rules(list: &str, extra: &str) -> RuleSet {
    let list = regex_free_money(list);
    serde_json::from_str(&format!(
        r#"{{"version": 7, "terms_version": 1, "time_zone": "Asia/Riyadh", "currency": "SAR",
            "rules": {list} {extra}}}"#
    ))
    .unwrap()
}

/// Replaces `$N` with a SAR money object.
fn regex_free_money(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            let mut n = String::new();
            while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                n.push(d);
                chars.next();
            }
            out.push_str(&format!(r#"{{"minor": {n}, "currency": "SAR"}}"#));
        } else {
            out.push(c);
        }
    }
    out
}

fn engine_over(store: MemoryStore, rules: RuleSet) -> Engine<MemoryStore> {
    let program = Program::builder("bakery", "Bakery friends")
        .currency(Currency::SAR)
        .terms(1, "Rewards as the rules say.")
        .lookback_days(60)
        .incentive(referrals::program::Incentive::Rules(rules))
        .build()
        .unwrap();
    Engine::new(store, program)
}

fn engine(rules: RuleSet) -> Engine<MemoryStore> {
    engine_over(MemoryStore::new(), rules)
}

async fn sign_up(e: &Engine<MemoryStore>, referrer: &str, referee: &str, at: DateTime<Utc>) {
    let code: Code = e.issue_code(&cid(referrer), at).await.unwrap().record.code;
    e.record_signup(&Signup {
        id: EventId::new(format!("signup-{referee}")).unwrap(),
        customer: cid(referee),
        visitor: None,
        code: Some(code),
        channel: None,
        at,
    })
    .await
    .unwrap();
}

fn order(id: &str, customer: &str, minor: i64, at: DateTime<Utc>) -> Conversion {
    Conversion {
        order: OrderId::new(id).unwrap(),
        customer: cid(customer),
        amount: sar(minor),
        at,
    }
}

fn paid(o: &ConversionOutcome) -> Vec<(Role, RewardKind)> {
    match o {
        ConversionOutcome::Rewarded { payouts, .. } => payouts
            .iter()
            .map(|p: &Payout| (p.role, p.kind.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

fn credit(minor: i64) -> RewardKind {
    RewardKind::Credit { amount: sar(minor) }
}

const TIERED: &str = r#"[{"id": "friends", "trigger": {"on": "first_purchase"},
    "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1500}},
                {"to": "referee", "fixed": {"kind": "credit", "amount": $1000}}],
    "tiers": {"window": {"kind": "lifetime"}, "downgrade": "derived", "levels": [{"at": 3, "effects": [
        {"to": "referrer", "fixed": {"kind": "credit", "amount": $2500}},
        {"to": "referee", "fixed": {"kind": "credit", "amount": $1000}}]}]}}]"#;

#[test]
fn the_third_referral_earns_the_higher_tier_and_a_refund_drops_it_back() {
    let e = engine(rules(TIERED, ""));
    block_on(async {
        let mut outcomes = Vec::new();
        for (i, friend) in ["badr", "dana", "eman"].iter().enumerate() {
            let at = t0() + TimeDelta::days(i as i64);
            sign_up(&e, "amira", friend, at).await;
            let o = e
                .record_conversion(&order(
                    &format!("o-{friend}"),
                    friend,
                    10_000,
                    at + TimeDelta::hours(1),
                ))
                .await
                .unwrap();
            outcomes.push(paid(&o));
        }
        assert_eq!(
            outcomes[0],
            [
                (Role::Referrer, credit(1500)),
                (Role::Referee, credit(1000))
            ]
        );
        assert_eq!(outcomes[1][0], (Role::Referrer, credit(1500)));
        assert_eq!(
            outcomes[2][0],
            (Role::Referrer, credit(2500)),
            "the 3rd referral"
        );

        // A referral refunded in full no longer counts: the 4th friend
        // finds amira at 2 successful referrals again (3 with theirs).
        e.record_refund(&Refund {
            id: RefundId::new("r").unwrap(),
            order: OrderId::new("o-badr").unwrap(),
            amount: RefundAmount::Full,
            at: t0() + TimeDelta::days(5),
        })
        .await
        .unwrap();
        e.record_refund(&Refund {
            id: RefundId::new("r").unwrap(),
            order: OrderId::new("o-dana").unwrap(),
            amount: RefundAmount::Full,
            at: t0() + TimeDelta::days(5),
        })
        .await
        .unwrap();
        let at = t0() + TimeDelta::days(6);
        sign_up(&e, "amira", "farah", at).await;
        let o = e
            .record_conversion(&order("o-farah", "farah", 10_000, at))
            .await
            .unwrap();
        assert_eq!(
            paid(&o)[0],
            (Role::Referrer, credit(1500)),
            "2 left standing + this one"
        );
        // Every reward records the rule and the rule-set and terms versions.
        let ConversionOutcome::Rewarded { payouts, .. } = &o else {
            unreachable!()
        };
        let r = e.reward(&payouts[0].reward).await.unwrap().unwrap();
        assert_eq!(r.rule, Some(Label::new("friends").unwrap()));
        assert_eq!((r.rule_set_version, r.terms_version), (Some(7), 1));
    });
}

#[test]
fn a_milestone_is_granted_once_whatever_the_retries() {
    let e = engine(rules(
        r#"[{"id": "base", "trigger": {"on": "first_purchase"},
             "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1000}}]},
            {"id": "fifth", "trigger": {"on": "milestone", "referrals": 2},
             "effects": [{"to": "referrer", "fixed": {"kind": "points", "unit": "stars", "amount": 500}}]}]"#,
        "",
    ));
    block_on(async {
        let mut log = Vec::new();
        for (i, friend) in ["badr", "dana", "eman"].iter().enumerate() {
            let at = t0() + TimeDelta::days(i as i64);
            sign_up(&e, "amira", friend, at).await;
            let c = order(
                &format!("o-{friend}"),
                friend,
                10_000,
                at + TimeDelta::hours(1),
            );
            e.record_conversion(&c).await.unwrap();
            log.push(c);
        }
        // Replaying the whole log (a retried batch) pays nothing again.
        let before = e.store().snapshot();
        for c in &log {
            e.record_conversion(c).await.unwrap();
        }
        assert_eq!(e.store().snapshot(), before, "a replay changes nothing");
        let stars = Unit::Points(Label::new("stars").unwrap());
        let balances = e.balances(&cid("amira")).await.unwrap();
        let stars = balances.iter().find(|b| b.unit == stars).unwrap();
        assert_eq!(
            stars.available, 500,
            "the milestone once, not again at the 3rd"
        );
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(3000));
    });
}

#[test]
fn a_percentage_reward_stays_within_its_bounds() {
    let e = engine(rules(
        r#"[{"id": "pct", "trigger": {"on": "purchase"},
             "effects": [{"to": "referee", "percent": {"basis_points": 1000, "min": $500, "max": $3000}}]}]"#,
        "",
    ));
    block_on(async {
        sign_up(&e, "amira", "badr", t0()).await;
        let mut got = Vec::new();
        for (i, amount) in [2_000, 12_345, 100_000].iter().enumerate() {
            let o = e
                .record_conversion(&order(
                    &format!("o{i}"),
                    "badr",
                    *amount,
                    t0() + TimeDelta::hours(i as i64 + 1),
                ))
                .await
                .unwrap();
            got.push(paid(&o)[0].1.clone());
        }
        // 10 % of 20.00 is 2.00, raised to 5.00; of 123.45, 12.35 (half
        // away from zero); of 1,000.00, 100.00, cut to 30.00.
        assert_eq!(got, [credit(500), credit(1235), credit(3000)]);
    });
}

#[test]
fn eligibility_facts_from_the_host_decide_and_a_missing_fact_never_pays() {
    let e = engine(rules(
        r#"[{"id": "adults", "trigger": {"on": "first_purchase"},
             "when": {"attribute": {"side": "referee", "name": "age_band", "test": {"not_in": ["under-18"]}}},
             "effects": [{"to": "both", "fixed": {"kind": "credit", "amount": $1000}}]}]"#,
        "",
    ));
    block_on(async {
        let facts = |band: Option<&str>| HostFacts {
            referee: CustomerFacts {
                attributes: band
                    .map(|b| {
                        (
                            Label::new("age_band").unwrap(),
                            AttributeValue::Text(b.into()),
                        )
                    })
                    .into_iter()
                    .collect(),
                ..CustomerFacts::default()
            },
            ..HostFacts::default()
        };
        for (friend, band, expect) in [
            ("badr", Some("25-34"), 2),
            ("dana", Some("under-18"), 0),
            ("eman", None, 0),
        ] {
            sign_up(&e, "amira", friend, t0()).await;
            let o = e
                .record_conversion_with(
                    &order(
                        &format!("o-{friend}"),
                        friend,
                        10_000,
                        t0() + TimeDelta::hours(1),
                    ),
                    &facts(band),
                )
                .await
                .unwrap();
            assert_eq!(paid(&o).len(), expect, "{friend}: {o:?}");
            if expect == 0 {
                assert!(
                    matches!(
                        o,
                        ConversionOutcome::NotRewarded {
                            reason: Reason::NoRuleMatched,
                            ..
                        }
                    ),
                    "{o:?}"
                );
            }
        }
    });
}

#[test]
fn a_ramadan_campaign_counts_in_riyadh_time_to_the_second() {
    // 1 Ramadan 1448 is about 2027-02-08; the campaign runs from local
    // midnight, 2027-02-08T00:00 in Asia/Riyadh (UTC+3), for 30 days.
    let e = engine(rules(
        r#"[{"id": "ramadan", "trigger": {"on": "purchase"},
             "campaign": {"start": "2027-02-08T00:00:00", "end": "2027-03-10T00:00:00"},
             "effects": [{"to": "referrer", "fixed": {"kind": "donation", "charity": "food-bank", "amount": $500}}]}]"#,
        r#", "charities": ["food-bank"]"#,
    ));
    block_on(async {
        let start_utc = Utc.with_ymd_and_hms(2027, 2, 7, 21, 0, 0).unwrap();
        sign_up(&e, "amira", "badr", start_utc - TimeDelta::days(1)).await;
        let before = e
            .record_conversion(&order(
                "o1",
                "badr",
                10_000,
                start_utc - TimeDelta::seconds(1),
            ))
            .await
            .unwrap();
        let at_start = e
            .record_conversion(&order("o2", "badr", 10_000, start_utc))
            .await
            .unwrap();
        assert!(paid(&before).is_empty(), "23:59:59 local, the day before");
        assert_eq!(paid(&at_start).len(), 1, "00:00:00 local");
        let end_utc = Utc.with_ymd_and_hms(2027, 3, 9, 21, 0, 0).unwrap();
        let last = e
            .record_conversion(&order(
                "o3",
                "badr",
                10_000,
                end_utc - TimeDelta::seconds(1),
            ))
            .await
            .unwrap();
        let after = e
            .record_conversion(&order("o4", "badr", 10_000, end_utc))
            .await
            .unwrap();
        assert_eq!(paid(&last).len(), 1);
        assert!(paid(&after).is_empty(), "the end is excluded");
    });
}

const EXPERIMENT: &str = r#"[
    {"id": "cash", "trigger": {"on": "first_purchase"},
     "when": {"variant": {"experiment": "points-test", "is": ["control"]}},
     "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1500}}]},
    {"id": "points", "trigger": {"on": "first_purchase"},
     "when": {"variant": {"experiment": "points-test", "is": ["points"]}},
     "effects": [{"to": "referrer", "fixed": {"kind": "points", "unit": "stars", "amount": 300}}]}]"#;

fn experiment(ramp_bps: u32, points_weight: u32) -> String {
    format!(
        r#", "experiments": [{{"id": "points-test", "control": "control", "ramp_bps": {ramp_bps},
            "variants": [{{"id": "control", "weight": 1}}, {{"id": "points", "weight": {points_weight}}}]}}]"#
    )
}

#[test]
fn an_exposed_referrer_keeps_their_variant_when_the_experiment_changes() {
    let store = MemoryStore::new();
    let e = engine_over(store.clone(), rules(EXPERIMENT, &experiment(10_000, 1)));
    let mut first = Vec::new();
    block_on(async {
        for i in 0..40 {
            let (referrer, friend) = (format!("ref{i}"), format!("friend{i}"));
            sign_up(&e, &referrer, &friend, t0()).await;
            let o = e
                .record_conversion(&order(
                    &format!("o{i}"),
                    &friend,
                    10_000,
                    t0() + TimeDelta::hours(1),
                ))
                .await
                .unwrap();
            let ConversionOutcome::Rewarded { payouts, .. } = &o else {
                panic!("{o:?}")
            };
            let r = e.reward(&payouts[0].reward).await.unwrap().unwrap();
            let variant = r
                .variant
                .clone()
                .expect("the variant is recorded on the reward")
                .1;
            first.push(variant);
        }
        assert!(first.iter().any(|v| v.as_str() == "points"));
        assert!(first.iter().any(|v| v.as_str() == "control"));
    });
    // The experiment now gives points to nobody new (weight 0 would be
    // refused; the ramp drops to 0): exposed referrers keep their variant.
    let changed = engine_over(store, rules(EXPERIMENT, &experiment(0, 1)));
    block_on(async {
        for (i, was) in first.iter().enumerate() {
            let (referrer, friend) = (format!("ref{i}"), format!("second{i}"));
            sign_up(&changed, &referrer, &friend, t0() + TimeDelta::days(1)).await;
            let o = changed
                .record_conversion(&order(
                    &format!("p{i}"),
                    &friend,
                    10_000,
                    t0() + TimeDelta::days(1),
                ))
                .await
                .unwrap();
            let ConversionOutcome::Rewarded { payouts, .. } = &o else {
                panic!("{o:?}")
            };
            let r = changed.reward(&payouts[0].reward).await.unwrap().unwrap();
            assert_eq!(&r.variant.unwrap().1, was, "ref{i} moved");
        }
    });
}

#[test]
fn an_export_lists_the_customers_experiment_assignments() {
    let e = engine(rules(EXPERIMENT, &experiment(10_000, 1)));
    block_on(async {
        sign_up(&e, "ref0", "friend0", t0()).await;
        let o = e
            .record_conversion(&order("o0", "friend0", 10_000, t0() + TimeDelta::hours(1)))
            .await
            .unwrap();
        let ConversionOutcome::Rewarded { payouts, .. } = &o else {
            panic!("{o:?}")
        };
        let r = e.reward(&payouts[0].reward).await.unwrap().unwrap();
        let variant = r.variant.expect("the variant is recorded on the reward").1;
        let export = e.export_customer(&cid("ref0")).await.unwrap();
        let assigned: Vec<(&str, &str)> = export
            .assignments
            .iter()
            .map(|a| (a.experiment.as_str(), a.variant.as_str()))
            .collect();
        assert_eq!(assigned, [("points-test", variant.as_str())]);
        // The experiment's unit is the referrer: the friend has none, and
        // the order is the friend's.
        let friend = e.export_customer(&cid("friend0")).await.unwrap();
        assert!(friend.assignments.is_empty(), "{friend:?}");
        assert_eq!(friend.orders.len(), 1);
        assert!(export.orders.is_empty(), "{export:?}");
    });
}

#[test]
fn a_signup_rule_pays_at_signup_once() {
    let e = engine(rules(
        r#"[{"id": "welcome", "trigger": {"on": "signup"},
             "effects": [{"to": "referee", "fixed": {"kind": "points", "unit": "stars", "amount": 500}},
                         {"to": "referrer", "fixed": {"kind": "credit", "amount": $500}}]}]"#,
        "",
    ));
    block_on(async {
        let code: Code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let signup = Signup {
            id: EventId::new("signup-badr").unwrap(),
            customer: cid("badr"),
            visitor: None,
            code: Some(code),
            channel: None,
            at: t0(),
        };
        let first = e.record_signup(&signup).await.unwrap();
        let referrals::engine::SignupOutcome::Referred { rewards, .. } = &first else {
            panic!("{first:?}");
        };
        let kinds: Vec<(Role, RewardKind)> =
            rewards.iter().map(|p| (p.role, p.kind.clone())).collect();
        assert_eq!(
            kinds,
            [
                (
                    Role::Referee,
                    RewardKind::Points {
                        unit: Label::new("stars").unwrap(),
                        amount: 500
                    }
                ),
                (Role::Referrer, credit(500))
            ]
        );
        assert_eq!(
            e.record_signup(&signup).await.unwrap(),
            first,
            "a retry pays nothing more"
        );
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(500));
        // A purchase earns nothing under a signup-only rule set.
        let o = e
            .record_conversion(&order("o1", "badr", 10_000, t0() + TimeDelta::hours(1)))
            .await
            .unwrap();
        assert!(
            matches!(
                o,
                ConversionOutcome::NotRewarded {
                    reason: Reason::NoRuleMatched,
                    ..
                }
            ),
            "{o:?}"
        );
    });
}

#[test]
fn sharing_earns_within_the_rules_rate_limit() {
    let e = engine(rules(
        r#"[{"id": "sharer", "trigger": {"on": "share", "limit": {"max": 2, "days": 7}},
             "effects": [{"to": "referrer", "fixed": {"kind": "points", "unit": "stars", "amount": 10}}]}]"#,
        "",
    ));
    block_on(async {
        let code: Code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let mut rewarded = Vec::new();
        for (i, day) in [0, 1, 2, 8].iter().enumerate() {
            let share = referrals::model::Touch {
                id: EventId::new(format!("share-{i}")).unwrap(),
                actor: referrals::model::Actor::Customer(cid("amira")),
                code,
                channel: referrals::Channel::WhatsApp,
                kind: referrals::model::TouchKind::Share,
                at: t0() + TimeDelta::days(*day),
            };
            let o = e.record_touch(&share).await.unwrap();
            let referrals::engine::TouchOutcome::Recorded { rewards, .. } = &o else {
                panic!("{o:?}");
            };
            rewarded.push(rewards.len());
            assert_eq!(e.record_touch(&share).await.unwrap(), o, "a retried share");
        }
        assert_eq!(rewarded, [1, 1, 0, 1], "two per 7 days");
        let stars = Unit::Points(Label::new("stars").unwrap());
        let b = e.balances(&cid("amira")).await.unwrap();
        assert_eq!(b.iter().find(|b| b.unit == stars).unwrap().available, 30);
    });
}

/// `Trigger::Milestone` says: if the count later drops below the
/// threshold (a referral is reversed) the reward stands. The referral that
/// reached the threshold is reversed by refunding its order in full: the
/// milestone reward must stand (and its once-key keeps it from being
/// granted twice).
#[test]
fn a_milestone_stands_when_the_referral_that_reached_it_is_refunded() {
    let e = engine(rules(
        r#"[{"id": "base", "trigger": {"on": "first_purchase"},
             "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1000}}]},
            {"id": "second", "trigger": {"on": "milestone", "referrals": 2},
             "effects": [{"to": "referrer", "fixed": {"kind": "points", "unit": "stars", "amount": 500}}]}]"#,
        "",
    ));
    block_on(async {
        for (i, friend) in ["badr", "dana"].iter().enumerate() {
            let at = t0() + TimeDelta::days(i as i64);
            sign_up(&e, "amira", friend, at).await;
            let c = order(
                &format!("o-{friend}"),
                friend,
                10_000,
                at + TimeDelta::hours(1),
            );
            e.record_conversion(&c).await.unwrap();
        }
        e.record_refund(&Refund {
            id: RefundId::new("r").unwrap(),
            order: OrderId::new("o-dana").unwrap(),
            amount: RefundAmount::Full,
            at: t0() + TimeDelta::days(3),
        })
        .await
        .unwrap();
        let stars = Unit::Points(Label::new("stars").unwrap());
        let balances = e.balances(&cid("amira")).await.unwrap();
        let stars = balances.iter().find(|b| b.unit == stars).unwrap();
        assert_eq!(stars.available, 500, "the milestone reward stands");
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(1000));
    });
}

/// One rule granting the referrer two things (credit and points) books
/// both: each is a reward of its own.
#[test]
fn a_rule_with_two_effects_for_one_side_books_both() {
    let e = engine(rules(
        r#"[{"id": "welcome", "trigger": {"on": "first_purchase"},
             "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1000}},
                         {"to": "referrer", "fixed": {"kind": "points", "unit": "stars", "amount": 50}},
                         {"to": "both", "fixed": {"kind": "trial_days", "days": 7}}]}]"#,
        "",
    ));
    block_on(async {
        sign_up(&e, "amira", "badr", t0()).await;
        let o = e
            .record_conversion(&order("o-badr", "badr", 10_000, t0() + TimeDelta::hours(1)))
            .await
            .unwrap();
        assert_eq!(paid(&o).len(), 4, "{o:?}");
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(1000));
        let stars = Unit::Points(Label::new("stars").unwrap());
        let balances = e.balances(&cid("amira")).await.unwrap();
        assert_eq!(
            balances.iter().find(|b| b.unit == stars).unwrap().available,
            50
        );
    });
}

#[test]
fn a_contest_period_is_closed_into_prizes_granted_exactly_once() {
    use referrals::incentive::{CalendarPeriod, ContestInput, ContestReferral, Period, close};
    let rules: RuleSet = serde_json::from_str(
        r#"{"version": 1, "terms_version": 1, "time_zone": "Asia/Riyadh", "currency": "SAR",
            "contests": [{"id": "top", "period": "month", "format": {"leaderboard": {"by": "referrals"}},
               "prizes": [{"kind": "cash", "amount": {"minor": 50000, "currency": "SAR"}},
                          {"kind": "perk", "perk": "baking-class"}]}],
            "rules": []}"#,
    )
    .unwrap();
    let e = engine(rules.clone());
    let referral = |who: &str, day: u32| ContestReferral {
        referrer: cid(who),
        at: Utc.with_ymd_and_hms(2026, 3, day, 10, 0, 0).unwrap(),
        value: sar(10_000),
        reversed_at: None,
    };
    let referrals = [
        referral("amira", 2),
        referral("amira", 3),
        referral("badr", 4),
    ];
    let march = Period::containing(
        CalendarPeriod::Month,
        chrono_tz::Asia::Riyadh,
        Utc.with_ymd_and_hms(2026, 3, 15, 0, 0, 0).unwrap(),
    );
    let closed_at = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
    let prizes = close(
        &rules,
        &Label::new("top").unwrap(),
        march,
        ContestInput::Leaderboard {
            referrals: &referrals,
            as_of: closed_at,
        },
    )
    .unwrap();
    block_on(async {
        let first = e.award_prizes(&prizes, closed_at).await.unwrap();
        let winners: Vec<(&str, String)> = first
            .iter()
            .map(|r| (r.customer.as_str(), r.kind.to_string()))
            .collect();
        assert_eq!(
            winners,
            [
                ("amira", "cash 500.00 SAR".to_owned()),
                ("badr", "perk baking-class".to_owned())
            ]
        );
        let again = e
            .award_prizes(&prizes, closed_at + TimeDelta::days(1))
            .await
            .unwrap();
        assert_eq!(again, first, "closing the period again grants nothing more");
        assert_eq!(e.balance(&cid("amira")).await.unwrap(), sar(50_000));
    });
}

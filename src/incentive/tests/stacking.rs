//! Stacking, percentages, load errors with their exact messages, JSON and
//! TOML round trips, and the property tests.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::tests::{
    EXPERIMENT, World, g, granted, label, load_err, purchase, sar, set, set_with, spec, why,
};
use crate::incentive::*;
use crate::model::Channel;
use crate::reward::{Label, RewardKind, Role};

// ---------------------------------------------------------------- stacking

fn stacked(stacking: &str) -> RuleSet {
    set_with(
        &format!(r#""groups": [{{"id": "g", "stacking": "{stacking}"}}],"#),
        r#"[
        {"id": "low", "group": "g", "priority": 1, "trigger": {"on": "purchase"},
         "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $3000}}]},
        {"id": "high", "group": "g", "priority": 5, "trigger": {"on": "purchase"},
         "effects": [{"to": "referrer", "percent": {"basis_points": 1000, "min": $0, "max": $10000}}]},
        {"id": "loose", "trigger": {"on": "purchase"},
         "effects": [{"to": "referee", "fixed": {"kind": "credit", "amount": $100}}]}]"#,
    )
}

#[test]
fn stacking_all_first_and_best() {
    let w = World::new();
    let e = evaluate(&stacked("all"), &w.facts(purchase(20_000, 1)));
    assert_eq!(
        granted(&e),
        [
            g("high", Role::Referrer, 2000),
            g("low", Role::Referrer, 3000),
            g("loose", Role::Referee, 100)
        ]
    );
    let e = evaluate(&stacked("first"), &w.facts(purchase(20_000, 1)));
    assert_eq!(
        granted(&e),
        [
            g("high", Role::Referrer, 2000),
            g("loose", Role::Referee, 100)
        ]
    );
    assert_eq!(
        why(&e, "low"),
        "rule low: matched, outranked: outranked by rule high (first by priority in the group)"
    );
    // Best: 10 % of 200 SAR = 20 SAR < 30 SAR; of 400 SAR = 40 SAR > 30.
    let best = stacked("best");
    let e = evaluate(&best, &w.facts(purchase(20_000, 1)));
    assert_eq!(
        granted(&e),
        [
            g("low", Role::Referrer, 3000),
            g("loose", Role::Referee, 100)
        ]
    );
    let e = evaluate(&best, &w.facts(purchase(40_000, 1)));
    assert_eq!(
        granted(&e),
        [
            g("high", Role::Referrer, 4000),
            g("loose", Role::Referee, 100)
        ]
    );
    // A tie goes to priority: 10 % of 300 SAR = 30 SAR.
    let e = evaluate(&best, &w.facts(purchase(30_000, 1)));
    assert_eq!(granted(&e)[0], g("high", Role::Referrer, 3000));
}

#[test]
fn an_exclusive_rule_wins_alone() {
    let rules = set(r#"[
        {"id": "a", "priority": 1, "trigger": {"on": "purchase"},
         "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $100}}]},
        {"id": "launch", "priority": 9, "exclusive": true, "trigger": {"on": "first_purchase"},
         "effects": [{"to": "both", "fixed": {"kind": "credit", "amount": $5000}}]},
        {"id": "b", "priority": 3, "exclusive": true, "trigger": {"on": "purchase"},
         "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $200}}]}]"#);
    let w = World::new();
    let e = evaluate(&rules, &w.facts(purchase(100, 1)));
    assert_eq!(
        granted(&e),
        [
            g("launch", Role::Referrer, 5000),
            g("launch", Role::Referee, 5000)
        ]
    );
    assert_eq!(
        why(&e, "a"),
        "rule a: matched, outranked: outranked by rule launch (exclusive)"
    );
    let e = evaluate(&rules, &w.facts(purchase(100, 2)));
    assert_eq!(granted(&e), [g("b", Role::Referrer, 200)]);
}

#[test]
fn best_needs_a_value_for_kinds_without_money() {
    let rules = r#"[{"id": "days", "group": "g", "trigger": {"on": "signup"},
        "effects": [{"to": "referee", "fixed": {"kind": "trial_days", "days": 30}}]}]"#;
    assert_eq!(
        load_err(r#""groups": [{"id": "g", "stacking": "best"}],"#, rules),
        r#"rules[0].effects[0] (rule "days"): a trial_days reward has no money value to compare in a `best` group: declare the rule's `value`"#
    );
    let valued = rules.replace(r#""group": "g","#, r#""group": "g", "value": $2000,"#);
    let set = set_with(r#""groups": [{"id": "g", "stacking": "best"}],"#, &valued);
    assert_eq!(set.rules()[0].value, Some(sar(2000)));
}

// ------------------------------------------------------------- percentages

#[test]
fn percentages_round_half_away_from_zero_then_clamp() {
    let rules = set_with(
        r#""charities": ["food-bank"],"#,
        r#"[{"id": "p", "trigger": {"on": "purchase"},
        "effects": [{"to": "referee", "percent": {"basis_points": 1000, "min": $500, "max": $3000,
                     "pay_as": {"kind": "donation", "charity": "food-bank"}}}]}]"#,
    );
    let w = World::new();
    let amount = |order| {
        let e = evaluate(&rules, &w.facts(purchase(order, 1)));
        match &e.grants[0].reward {
            RewardKind::Donation { charity, amount } => {
                assert_eq!(charity.as_str(), "food-bank");
                amount.minor()
            }
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(amount(12_345), 1235); // 12.345 -> 12.35
    assert_eq!(amount(12_344), 1234);
    assert_eq!(amount(1_000), 500); // 1 SAR, raised to the minimum
    assert_eq!(amount(1_000_000), 3000); // 1,000 SAR, cut to the maximum
}

// -------------------------------------------------------------- load errors

#[test]
fn load_errors_name_the_field_and_the_rule() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "",
            r#"[{"id": "ok", "trigger": {"on": "signup"}, "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1}}]},
               {"id": "ok", "trigger": {"on": "signup"}, "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1}}]}]"#,
            r#"rules[1].id (rule "ok"): already the id of rules[0]"#,
        ),
        (
            "",
            r#"[{"id": "x", "trigger": {"on": "purchase"}, "effects": [{"to": "referrer", "percent": {"basis_points": 15000, "min": $0, "max": $1}}]}]"#,
            r#"rules[0].effects[0].percent.basis_points (rule "x"): 150% is above 100%"#,
        ),
        (
            "",
            r#"[{"id": "x", "trigger": {"on": "purchase"}, "effects": [{"to": "referrer", "percent": {"basis_points": 500, "min": $900, "max": $100}}]}]"#,
            r#"rules[0].effects[0].percent.min (rule "x"): 9.00 SAR is above max 1.00 SAR"#,
        ),
        (
            "",
            r#"[{"id": "x", "trigger": {"on": "signup"}, "effects": [{"to": "referrer", "percent": {"basis_points": 500, "min": $0, "max": $100}}]}]"#,
            r#"rules[0].effects[0].percent (rule "x"): a signup has no purchase amount to take a percentage of"#,
        ),
        (
            "",
            r#"[{"id": "x", "trigger": {"on": "signup"}, "effects": [{"to": "referrer", "fixed": {"kind": "cash", "amount": {"minor": 100, "currency": "USD"}}}]}]"#,
            r#"rules[0].effects[0].fixed.amount (rule "x"): 1.00 USD is not in the rule set's currency SAR"#,
        ),
        (
            r#""charities": ["food-bank"],"#,
            r#"[{"id": "x", "trigger": {"on": "signup"}, "effects": [{"to": "referrer", "fixed": {"kind": "donation", "charity": "zoo", "amount": $100}}]}]"#,
            r#"rules[0].effects[0].fixed.charity (rule "x"): "zoo" is not one of the rule set's charities"#,
        ),
        (
            "",
            r#"[{"id": "x", "trigger": {"on": "signup"}, "effects": [{"to": "referrer"}]}]"#,
            r#"rules[0].effects[0] (rule "x"): give exactly one of `fixed` and `percent`"#,
        ),
        (
            "",
            r#"[{"id": "x", "trigger": {"on": "share"}, "effects": [{"to": "both", "fixed": {"kind": "credit", "amount": $1}}]}]"#,
            r#"rules[0].effects[0].to (rule "x"): a share has no referee to reward"#,
        ),
        (
            "",
            r#"[{"id": "x", "group": "nope", "trigger": {"on": "signup"}, "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1}}]}]"#,
            r#"rules[0].group (rule "x"): no group "nope" in the rule set"#,
        ),
        (
            "",
            r#"[{"id": "x", "trigger": {"on": "milestone", "referrals": 3, "window": {"kind": "rolling", "days": 30}}, "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1}}]}]"#,
            r#"rules[0].trigger.window (rule "x"): a milestone's window is lifetime or a calendar period: a rolling window has no period to grant it once in"#,
        ),
        (
            "",
            r#"[{"id": "x", "trigger": {"on": "signup"}, "campaign": {"start": "2026-03-05T00:00:00", "end": "2026-03-01T00:00:00"}, "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1}}]}]"#,
            r#"rules[0].campaign.end (rule "x"): 2026-03-01 00:00:00 is not after start 2026-03-05 00:00:00"#,
        ),
        (
            "",
            r#"[{"id": "x", "trigger": {"on": "signup"}, "when": {"all": [{"referee_is_new": true}, {"order_amount": {"op": ">=", "amount": $100}}]}, "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1}}]}]"#,
            r#"rules[0].when.all[1].order_amount (rule "x"): a signup has no order amount"#,
        ),
        (
            "",
            r#"[{"id": "x", "trigger": {"on": "signup"}, "when": {"variant": {"experiment": "nope", "is": ["a"]}}, "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1}}]}]"#,
            r#"rules[0].when.variant.experiment (rule "x"): no experiment "nope" in the rule set"#,
        ),
        (
            "",
            r#"[{"id": "a", "exclusive": true, "priority": 2, "trigger": {"on": "first_purchase"}, "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1}}]},
               {"id": "b", "exclusive": true, "priority": 2, "trigger": {"on": "purchase_at_least", "amount": $100}, "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1}}]}]"#,
            r#"rules[1].exclusive (rule "b"): rule "a" is also exclusive on purchase events with priority 2; give them different priorities"#,
        ),
        (
            "",
            r#"[{"id": "x", "trigger": {"on": "first_purchase"}, "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1}}],
                "tiers": {"levels": [{"at": 5, "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $2}}]},
                                     {"at": 3, "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $3}}]}]}}]"#,
            r#"rules[0].tiers.levels[1].at (rule "x"): 3 must be above 5 (levels ascend from 1)"#,
        ),
        (
            r#""experiments": [{"id": "e", "control": "z", "ramp_bps": 500, "variants": [{"id": "a", "weight": 1}]}],"#,
            "[]",
            r#"experiments[0].control: "z" is not one of the variants"#,
        ),
        (
            r#""experiments": [{"id": "e", "control": "a", "ramp_bps": 12500, "variants": [{"id": "a", "weight": 1}]}],"#,
            "[]",
            "experiments[0].ramp_bps: 125% is above 100%",
        ),
    ];
    let mut failures = Vec::new();
    for (i, (extra, rules, want)) in cases.iter().enumerate() {
        let got = load_err(extra, rules);
        if got != *want {
            failures.push(format!("case {i}:\n  want {want}\n  got  {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_unknown_time_zone_is_a_load_error_naming_the_field() {
    let s = RuleSetSpec {
        time_zone: "Asia/Riyad".into(),
        ..spec("", "[]")
    };
    assert_eq!(
        RuleSet::from_spec(s).unwrap_err().to_string(),
        r#"time_zone: unknown IANA time zone "Asia/Riyad""#
    );
    // Through serde, the message comes out of the deserialiser.
    let err = serde_json::from_str::<RuleSet>(
        r#"{"version": 1, "terms_version": 1, "time_zone": "Mars/Olympus", "currency": "SAR", "rules": []}"#,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(r#"time_zone: unknown IANA time zone "Mars/Olympus""#),
        "{err}"
    );
    let err = serde_json::from_str::<RuleSet>(
        r#"{"version": 1, "terms_version": 1, "time_zone": "UTC", "currency": "SAR", "rules": [], "colour": 1}"#,
    )
    .unwrap_err();
    assert!(err.to_string().contains("unknown field `colour`"), "{err}");
}

// ------------------------------------------------------------ round trips

/// A rule set using most of what the format can say.
fn rich() -> RuleSet {
    set_with(
        &format!(
            r#""charities": ["food-bank"], "groups": [{{"id": "welcome", "stacking": "best"}}], {}
            "contests": [{{"id": "march", "period": "month", "format": {{"leaderboard": {{"by": "revenue"}}}},
                           "prizes": [{{"kind": "cash", "amount": $50000}}, {{"kind": "perk", "perk": "baking-class"}}]}}],"#,
            EXPERIMENT
        ),
        r#"[
        {"id": "welcome", "group": "welcome", "priority": 10, "trigger": {"on": "first_purchase"},
         "when": {"all": [{"referee_is_new": true}, {"days_since_referral_at_most": 30},
                          {"not": {"attribute": {"side": "referee", "name": "age_band", "test": {"in": ["under-18"]}}}},
                          {"any": [{"channel_in": ["whatsapp", "sms"]}, {"tag": {"side": "referrer", "is": "vip"}}]},
                          {"variant": {"experiment": "bigger", "is": ["fifteen"]}}]},
         "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1500}},
                     {"to": "referee", "percent": {"basis_points": 1250, "min": $500, "max": $3000}}],
         "tiers": {"window": {"kind": "calendar", "period": "quarter"}, "downgrade": "never", "levels": [
            {"at": 3, "effects": [{"to": "both", "fixed": {"kind": "credit", "amount": $2500}}]}]},
         "campaign": {"start": "2026-03-01T00:00:00", "end": "2026-04-01T00:00:00"}},
        {"id": "coupon", "group": "welcome", "value": $2000, "trigger": {"on": "signup"},
         "effects": [{"to": "referee", "fixed": {"kind": "coupon", "discount": {"percent": {"basis_points": 2000, "max": $5000}}}}]},
        {"id": "share", "trigger": {"on": "share", "limit": {"max": 3, "days": 7}},
         "effects": [{"to": "referrer", "fixed": {"kind": "points", "unit": "stars", "amount": 10}}]},
        {"id": "tenth", "exclusive": true, "priority": 50, "trigger": {"on": "milestone", "referrals": 10},
         "effects": [{"to": "referrer", "fixed": {"kind": "donation", "charity": "food-bank", "amount": $10000}},
                     {"to": "referrer", "fixed": {"kind": "gift_card", "item": "bakery-box", "value": $7500}}]},
        {"id": "big", "trigger": {"on": "purchase_at_least", "amount": $50000},
         "when": {"order_amount": {"op": "<", "amount": $100000}},
         "effects": [{"to": "referrer", "fixed": {"kind": "trial_days", "days": 30}},
                     {"to": "referee", "fixed": {"kind": "perk", "perk": "early-access"}}]},
        {"id": "repeat", "trigger": {"on": "purchase", "up_to": 3},
         "when": {"segment": {"side": "referee", "is": "students"}},
         "effects": [{"to": "referee", "percent": {"basis_points": 500, "min": $0, "max": $2000, "pay_as": {"kind": "cash"}}}]}
    ]"#,
    )
}

#[test]
fn a_rule_set_round_trips_through_json_unchanged() {
    let rules = rich();
    let json = serde_json::to_string_pretty(&rules).unwrap();
    let back: RuleSet = serde_json::from_str(&json).unwrap();
    assert_eq!(back, rules);
    assert_eq!(serde_json::to_string_pretty(&back).unwrap(), json);
}

#[test]
fn a_rule_set_round_trips_through_toml_unchanged() {
    let rules = rich();
    let text = toml::to_string(&rules).unwrap();
    let back: RuleSet = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back, rules);
    assert_eq!(toml::to_string(&back).unwrap(), text);
}

#[test]
fn a_hand_written_toml_rule_set_loads() {
    let text = r#"
version = 2
terms_version = 1
time_zone = "Asia/Riyadh"
currency = "SAR"

[[rules]]
id = "welcome"
trigger = { on = "first_purchase" }
when = { all = [ { referee_is_new = true }, { channel_in = ["whatsapp"] } ] }
effects = [
  { to = "referrer", fixed = { kind = "credit", amount = { minor = 1500, currency = "SAR" } } },
  { to = "referee", percent = { basis_points = 1000, min = { minor = 500, currency = "SAR" }, max = { minor = 3000, currency = "SAR" } } },
]
campaign = { start = "2026-03-01T00:00:00", end = "2026-04-01T00:00:00" }

[rules.tiers]
levels = [ { at = 3, effects = [ { to = "referrer", fixed = { kind = "credit", amount = { minor = 2500, currency = "SAR" } } } ] } ]
"#;
    let rules: RuleSet = toml::from_str(text).unwrap();
    let json = serde_json::to_value(&rules).unwrap();
    let same: RuleSet = serde_json::from_value(json).unwrap();
    assert_eq!(same, rules);
    assert_eq!(rules.version(), 2);
    assert_eq!(rules.time_zone(), chrono_tz::Asia::Riyadh);
    let w = World::new();
    let e = evaluate(&rules, &w.facts(purchase(12_000, 1)));
    assert_eq!(
        granted(&e),
        [
            g("welcome", Role::Referrer, 1500),
            g("welcome", Role::Referee, 1200)
        ]
    );
    // A TOML error names the rule and the field too.
    let bad = text.replace("basis_points = 1000", "basis_points = 15000");
    let err = toml::from_str::<RuleSet>(&bad).unwrap_err();
    assert!(
        err.to_string().contains(
            r#"rules[0].effects[1].percent.basis_points (rule "welcome"): 150% is above 100%"#
        ),
        "{err}"
    );
}

// ------------------------------------------------------------- properties

/// Rules over a small space of triggers, groups, priorities and effects,
/// so that many of them meet on one event.
fn arb_rule(i: usize) -> impl Strategy<Value = Rule> {
    (
        0..4u8,
        prop::option::of(0..3u8),
        -2..3i32,
        any::<bool>(),
        1..5000i64,
        prop::option::of(1..=10_000u32),
        prop::option::of(0..3u8),
    )
        .prop_map(
            move |(trig, group, priority, exclusive, minor, bps, cond)| {
                let trigger = match trig {
                    0 => Trigger::FirstPurchase,
                    1 => Trigger::Purchase { up_to: Some(3) },
                    2 => Trigger::PurchaseAtLeast { amount: sar(minor) },
                    _ => Trigger::Milestone {
                        referrals: 2,
                        window: Window::Lifetime,
                        downgrade: Downgrade::Derived,
                    },
                };
                let effect = match bps {
                    None => Effect {
                        to: Beneficiary::Both,
                        fixed: Some(RewardKind::Credit { amount: sar(minor) }),
                        percent: None,
                    },
                    Some(b) => Effect {
                        to: Beneficiary::Referrer,
                        fixed: None,
                        percent: Some(Percent {
                            basis_points: b,
                            min: sar(minor / 2),
                            max: sar(minor),
                            pay_as: PayAs::Credit,
                        }),
                    },
                };
                let when = cond.map(|c| match c {
                    0 => Condition::RefereeIsNew(true),
                    1 => Condition::OrderAmount(AmountTest {
                        op: CompareOp::Ge,
                        amount: sar(minor),
                    }),
                    _ => Condition::Not(Box::new(Condition::ChannelIn(vec![Channel::Sms]))),
                });
                Rule {
                    id: label(&format!("r{i:02}")),
                    trigger,
                    when,
                    effects: vec![effect],
                    tiers: None,
                    group: group.map(|g| label(&format!("g{g}"))),
                    priority,
                    exclusive,
                    campaign: None,
                    value: None,
                }
            },
        )
}

fn arb_rule_set() -> impl Strategy<Value = RuleSet> {
    (1..12usize)
        .prop_flat_map(|n| (0..n).map(arb_rule).collect::<Vec<_>>())
        .prop_filter_map("valid rule sets", |rules| {
            let mut s = spec(
                r#""groups": [{"id": "g0", "stacking": "all"}, {"id": "g1", "stacking": "first"},
                    {"id": "g2", "stacking": "best"}],"#,
                "[]",
            );
            s.rules = rules;
            RuleSet::from_spec(s).ok()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn evaluation_is_deterministic_and_independent_of_listing_order(
        rules in arb_rule_set(), order in 1..1000i64, seed in any::<u64>(),
        referrals in 0..4usize, number in 1..5u32)
    {
        let w = World::new().with_referrals(referrals);
        let facts = w.facts(purchase(order * 100, number));
        let first = evaluate(&rules, &facts);
        prop_assert_eq!(&evaluate(&rules, &facts), &first);
        // Shuffle the listing (a fixed permutation from the seed).
        let mut spec = rules.spec().clone();
        let n = spec.rules.len();
        let mut x = seed;
        for i in (1..n).rev() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            spec.rules.swap(i, (x >> 33) as usize % (i + 1));
        }
        let shuffled = RuleSet::from_spec(spec).unwrap();
        prop_assert_eq!(evaluate(&shuffled, &facts), first);
    }

    #[test]
    fn stacking_never_grants_two_exclusive_rewards(
        rules in arb_rule_set(), order in 1..1000i64, referrals in 0..4usize, number in 1..5u32)
    {
        let w = World::new().with_referrals(referrals);
        let e = evaluate(&rules, &w.facts(purchase(order * 100, number)));
        let granting: BTreeSet<&Label> = e.grants.iter().map(|g| &g.rule).collect();
        let exclusive = rules.rules().iter().filter(|r| r.exclusive && granting.contains(&r.id)).count();
        prop_assert!(exclusive <= 1);
        if exclusive == 1 {
            prop_assert_eq!(granting.len(), 1);
        }
        // Every matched rule is granted or outranked, and only granted
        // rules have grants.
        for t in &e.trace {
            prop_assert_eq!(t.outcome == Outcome::Granted, granting.contains(&t.rule));
        }
    }

    #[test]
    fn a_percentage_reward_is_within_its_min_and_max(
        order in -1_000_000_000i64..1_000_000_000_000, bps in 1..=10_000u32,
        min in 0..100_000i64, span in 0..100_000i64)
    {
        let p = Percent { basis_points: bps, min: sar(min), max: sar(min + span), pay_as: PayAs::Credit };
        let got = p.amount_for(sar(order)).minor();
        prop_assert!(min <= got && got <= min + span, "{} not in [{}, {}]", got, min, min + span);
        // Through evaluate too.
        let mut s = spec("", "[]");
        s.rules.push(Rule {
            id: label("p"), trigger: Trigger::Purchase { up_to: None }, when: None,
            effects: vec![Effect { to: Beneficiary::Referee, fixed: None, percent: Some(p) }],
            tiers: None, group: None, priority: 0, exclusive: false, campaign: None, value: None,
        });
        let rules = RuleSet::from_spec(s).unwrap();
        let w = World::new();
        let e = evaluate(&rules, &w.facts(purchase(order, 1)));
        prop_assert_eq!(e.grants[0].reward.quantity(), got);
    }

    #[test]
    fn rule_sets_survive_json_and_toml_round_trips(rules in arb_rule_set()) {
        let json = serde_json::to_string(&rules).unwrap();
        prop_assert_eq!(&serde_json::from_str::<RuleSet>(&json).unwrap(), &rules);
        let text = toml::to_string(&rules).unwrap();
        prop_assert_eq!(&toml::from_str::<RuleSet>(&text).unwrap(), &rules);
    }
}

//! Worked tests per trigger, condition, tier, campaign boundary and
//! stacking policy; load errors with their exact messages; JSON and TOML
//! round trips; and the property tests.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::incentive::*;
use crate::model::{Channel, CustomerId, ProgramId};
use crate::money::{Currency, Money};
use crate::reward::{Label, Role};

/// `$1500` in test JSON is 15.00 SAR: `{"minor":1500,"currency":"SAR"}`.
pub(super) fn expand(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' {
            let mut digits = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit() || **d == '-') {
                digits.push(*d);
                chars.next();
            }
            out.push_str(&format!(r#"{{"minor":{digits},"currency":"SAR"}}"#));
        } else {
            out.push(c);
        }
    }
    out
}

pub(super) fn spec(extra: &str, rules: &str) -> RuleSetSpec {
    let text = expand(&format!(
        r#"{{"version": 7, "terms_version": 3, "time_zone": "Asia/Riyadh", "currency": "SAR", {extra} "rules": {rules}}}"#
    ));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

pub(super) fn set_with(extra: &str, rules: &str) -> RuleSet {
    RuleSet::from_spec(spec(extra, rules)).unwrap_or_else(|e| panic!("{e}"))
}

pub(super) fn set(rules: &str) -> RuleSet {
    set_with("", rules)
}

pub(super) fn load_err(extra: &str, rules: &str) -> String {
    RuleSet::from_spec(spec(extra, rules))
        .unwrap_err()
        .to_string()
}

pub(super) fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

pub(super) fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

pub(super) fn label(s: &str) -> Label {
    Label::new(s).unwrap()
}

pub(super) const NOW: &str = "2026-03-10T12:00:00Z";

/// The data a `Facts` borrows, with sensible defaults.
pub(super) struct World {
    pub(super) program: ProgramId,
    pub(super) referral: ReferralFacts,
    pub(super) referrer: CustomerFacts,
    pub(super) referee: CustomerFacts,
    pub(super) history: ReferrerHistory,
    pub(super) variants: BTreeMap<Label, Label>,
    pub(super) completes: bool,
}

impl World {
    pub(super) fn new() -> World {
        World {
            program: ProgramId::new("bakery").unwrap(),
            referral: ReferralFacts {
                referrer: CustomerId::new("amira").unwrap(),
                referee: Some(CustomerId::new("badr").unwrap()),
                channel: Channel::WhatsApp,
                referred_at: t(NOW) - TimeDelta::days(2),
                referee_is_new: Some(true),
            },
            referrer: CustomerFacts::default(),
            referee: CustomerFacts::default(),
            history: ReferrerHistory::default(),
            variants: BTreeMap::new(),
            completes: true,
        }
    }

    pub(super) fn facts(&self, event: EventFacts) -> Facts<'_> {
        Facts {
            program: &self.program,
            event,
            referral: self.referral.clone(),
            referrer: &self.referrer,
            referee: &self.referee,
            history: &self.history,
            completes_referral: self.completes,
            variants: &self.variants,
        }
    }

    /// Adds `n` successful referrals, a day apart, ending a day before NOW.
    pub(super) fn with_referrals(mut self, n: usize) -> World {
        for i in 0..n {
            self.history.referrals.push(PastReferral {
                referee: CustomerId::new(format!("friend-{i}")).unwrap(),
                at: t(NOW) - TimeDelta::days(1 + i as i64),
                value: sar(10_000),
                reversed_at: None,
            });
        }
        self
    }
}

pub(super) fn purchase(minor: i64, number: u32) -> EventFacts {
    purchase_at(minor, number, t(NOW))
}

pub(super) fn purchase_at(minor: i64, number: u32, at: DateTime<Utc>) -> EventFacts {
    EventFacts::Purchase {
        amount: sar(minor),
        purchase_number: number,
        at,
    }
}

pub(super) fn signup() -> EventFacts {
    EventFacts::Signup { at: t(NOW) }
}

/// (rule, role, money value or quantity) of each grant.
pub(super) fn granted(e: &Evaluation) -> Vec<(String, Role, i64)> {
    e.grants
        .iter()
        .map(|g| (g.rule.to_string(), g.role, g.reward.quantity()))
        .collect()
}

pub(super) fn why(e: &Evaluation, rule: &str) -> String {
    e.trace
        .iter()
        .find(|r| r.rule.as_str() == rule)
        .map(|r| r.to_string())
        .unwrap_or_else(|| panic!("no trace for {rule}"))
}

pub(super) fn g(rule: &str, role: Role, q: i64) -> (String, Role, i64) {
    (rule.to_owned(), role, q)
}

const TWO_SIDED: &str = r#"[{"id": "welcome", "trigger": {"on": "first_purchase"}, "effects": [
    {"to": "referrer", "fixed": {"kind": "credit", "amount": $1500}},
    {"to": "referee", "fixed": {"kind": "credit", "amount": $1000}}]}]"#;

// ---------------------------------------------------------------- triggers

#[test]
fn first_purchase_fires_on_the_first_only() {
    let rules = set(TWO_SIDED);
    let w = World::new();
    let e = evaluate(&rules, &w.facts(purchase(12_000, 1)));
    assert_eq!(
        granted(&e),
        [
            g("welcome", Role::Referrer, 1500),
            g("welcome", Role::Referee, 1000)
        ]
    );
    assert_eq!(e.grants[0].rule_set_version, 7);
    assert_eq!(e.grants[0].terms_version, 3);
    assert_eq!(e.grants[0].once_key, None);
    let e = evaluate(&rules, &w.facts(purchase(12_000, 2)));
    assert!(e.grants.is_empty());
    assert_eq!(
        why(&e, "welcome"),
        "rule welcome: not matched: purchase #2 is not the first"
    );
    let e = evaluate(&rules, &w.facts(signup()));
    assert_eq!(
        why(&e, "welcome"),
        "rule welcome: not matched: listens to first_purchase, the event is a signup"
    );
}

#[test]
fn signup_trigger() {
    let rules = set(
        r#"[{"id": "hello", "trigger": {"on": "signup"}, "effects": [
        {"to": "both", "fixed": {"kind": "points", "unit": "stars", "amount": 50}}]}]"#,
    );
    let w = World::new();
    let e = evaluate(&rules, &w.facts(signup()));
    assert_eq!(
        granted(&e),
        [
            g("hello", Role::Referrer, 50),
            g("hello", Role::Referee, 50)
        ]
    );
    assert!(rules.listens_to(TriggerKind::Signup));
    assert!(!rules.listens_to(TriggerKind::Purchase));
    assert!(
        evaluate(&rules, &w.facts(purchase(100, 1)))
            .grants
            .is_empty()
    );
}

#[test]
fn each_purchase_up_to_n() {
    let rules = set(
        r#"[{"id": "three", "trigger": {"on": "purchase", "up_to": 3}, "effects": [
        {"to": "referrer", "fixed": {"kind": "credit", "amount": $200}}]}]"#,
    );
    let w = World::new();
    for n in 1..=3 {
        assert_eq!(evaluate(&rules, &w.facts(purchase(100, n))).grants.len(), 1);
    }
    let e = evaluate(&rules, &w.facts(purchase(100, 4)));
    assert_eq!(why(&e, "three"), "rule three: not matched: purchase #4 > 3");
}

#[test]
fn purchase_at_or_above_an_amount() {
    let rules = set(
        r#"[{"id": "big", "trigger": {"on": "purchase_at_least", "amount": $5000}, "effects": [
        {"to": "referee", "fixed": {"kind": "trial_days", "days": 30}}]}]"#,
    );
    let w = World::new();
    let e = evaluate(&rules, &w.facts(purchase(4_999, 1)));
    assert_eq!(
        why(&e, "big"),
        "rule big: not matched: order amount 49.99 SAR < 50.00 SAR"
    );
    let e = evaluate(&rules, &w.facts(purchase(5_000, 2)));
    assert_eq!(granted(&e), [g("big", Role::Referee, 30)]);
    // An order in another currency cannot be compared: not applicable.
    let usd = EventFacts::Purchase {
        amount: Money::new(9_000, Currency::USD),
        purchase_number: 1,
        at: t(NOW),
    };
    let e = evaluate(&rules, &w.facts(usd));
    assert_eq!(e.trace[0].outcome, Outcome::NotApplicable);
    assert_eq!(
        why(&e, "big"),
        "rule big: not applicable: trigger.amount: order amount 90.00 USD is not in SAR"
    );
}

#[test]
fn shares_are_rate_limited_over_a_rolling_window() {
    let contests = r#""contests": [{"id": "march", "period": "month", "format": "sweepstakes",
        "prizes": [{"kind": "perk", "perk": "baking-class"}]}],"#;
    let rules = set_with(
        contests,
        r#"[{"id": "share", "trigger": {"on": "share", "limit": {"max": 2, "days": 7}}, "effects": [
        {"to": "referrer", "fixed": {"kind": "contest_entries", "contest": "march", "entries": 1}}]}]"#,
    );
    let share = |at: &str| EventFacts::Share {
        channel: Channel::X,
        at: t(at),
    };
    let mut w = World::new();
    w.referral.referee = None;
    assert_eq!(
        evaluate(&rules, &w.facts(share("2026-03-10T00:00:00Z")))
            .grants
            .len(),
        1
    );
    w.history.shares = vec![t("2026-03-04T00:00:00Z"), t("2026-03-05T00:00:00Z")];
    let e = evaluate(&rules, &w.facts(share("2026-03-10T00:00:00Z")));
    assert_eq!(
        why(&e, "share"),
        "rule share: not matched: 2 rewarded shares in the last 7 days, at most 2"
    );
    // Seven days after the first, it has left the window.
    let e = evaluate(&rules, &w.facts(share("2026-03-11T00:00:00Z")));
    assert_eq!(e.grants.len(), 1);
    // Shares beyond the limit were not rewarded and do not count: the
    // 6th's share is unrewarded, so on the 12th only the 5th remains.
    w.history.shares.push(t("2026-03-06T00:00:00Z"));
    let e = evaluate(&rules, &w.facts(share("2026-03-12T00:00:00Z")));
    assert_eq!(e.grants.len(), 1, "{}", why(&e, "share"));
}

#[test]
fn a_milestone_fires_once_on_the_referral_that_reaches_it() {
    let rules = set(
        r#"[{"id": "third", "trigger": {"on": "milestone", "referrals": 3}, "effects": [
        {"to": "referrer", "fixed": {"kind": "cash", "amount": $5000}}]}]"#,
    );
    let w = World::new().with_referrals(1);
    let e = evaluate(&rules, &w.facts(purchase(100, 1)));
    assert_eq!(
        why(&e, "third"),
        "rule third: not matched: 2 successful referrals < 3"
    );
    let mut w = World::new().with_referrals(2);
    let e = evaluate(&rules, &w.facts(purchase(100, 1)));
    assert_eq!(granted(&e), [g("third", Role::Referrer, 5000)]);
    let key = "milestone:third:3:lifetime";
    assert_eq!(e.grants[0].once_key.as_deref(), Some(key));
    // A retry after it was booked: already granted.
    w.history.granted_once_keys.insert(key.to_owned());
    let e = evaluate(&rules, &w.facts(purchase(100, 1)));
    assert_eq!(
        why(&e, "third"),
        format!("rule third: not matched: {key} was already granted")
    );
    // A purchase that completes no referral does not fire it.
    let mut w = World::new().with_referrals(2);
    w.completes = false;
    let e = evaluate(&rules, &w.facts(purchase(100, 2)));
    assert_eq!(
        why(&e, "third"),
        "rule third: not matched: the event completes no referral"
    );
}

#[test]
fn a_monthly_milestone_has_a_key_per_month_and_counts_only_that_month() {
    let rules = set(
        r#"[{"id": "m", "trigger": {"on": "milestone", "referrals": 2,
            "window": {"kind": "calendar", "period": "month"}}, "effects": [
        {"to": "referrer", "fixed": {"kind": "credit", "amount": $1000}}]}]"#,
    );
    let mut w = World::new();
    // 28 Feb 20:59:59Z is 23:59:59 in Riyadh: February, does not count.
    for at in ["2026-02-28T20:59:59Z", "2026-02-28T21:00:00Z"] {
        w.history.referrals.push(PastReferral {
            referee: CustomerId::new(at).unwrap(),
            at: t(at),
            value: sar(100),
            reversed_at: None,
        });
    }
    let e = evaluate(&rules, &w.facts(purchase(100, 1)));
    assert_eq!(
        e.grants[0].once_key.as_deref(),
        Some("milestone:m:2:2026-03")
    );
    w.history.referrals.remove(1);
    let e = evaluate(&rules, &w.facts(purchase(100, 1)));
    assert!(e.grants.is_empty());
}

// -------------------------------------------------------------- conditions

fn with_when(when: &str) -> RuleSet {
    set(&format!(
        r#"[{{"id": "r", "trigger": {{"on": "purchase"}}, "when": {when}, "effects": [
        {{"to": "referrer", "fixed": {{"kind": "credit", "amount": $100}}}}]}}]"#
    ))
}

fn verdict(rules: &RuleSet, w: &World, event: EventFacts) -> String {
    explain(rules, &w.facts(event))[0].to_string()
}

#[test]
fn referee_is_new() {
    let rules = with_when(r#"{"referee_is_new": true}"#);
    let mut w = World::new();
    assert_eq!(verdict(&rules, &w, purchase(100, 1)), "rule r: granted");
    w.referral.referee_is_new = Some(false);
    assert_eq!(
        verdict(&rules, &w, purchase(100, 1)),
        "rule r: not matched: when.referee_is_new: the referee is not new"
    );
    w.referral.referee_is_new = None;
    assert_eq!(
        verdict(&rules, &w, purchase(100, 1)),
        "rule r: not applicable: when.referee_is_new: the host did not say whether the referee is new"
    );
}

#[test]
fn days_since_the_referral() {
    let rules = with_when(r#"{"days_since_referral_at_most": 30}"#);
    let mut w = World::new();
    w.referral.referred_at = t(NOW) - TimeDelta::days(30);
    assert_eq!(verdict(&rules, &w, purchase(100, 1)), "rule r: granted");
    w.referral.referred_at -= TimeDelta::seconds(1);
    assert_eq!(
        verdict(&rules, &w, purchase(100, 1)),
        "rule r: not matched: when.days_since_referral_at_most: 30 days 00:00:01 since the referral > 30 days"
    );
}

#[test]
fn channels_tags_and_segments() {
    let rules = with_when(
        r#"{"all": [{"channel_in": ["whatsapp", "sms"]},
        {"tag": {"side": "referrer", "is": "vip"}},
        {"segment": {"side": "referee", "is": "students"}}]}"#,
    );
    let mut w = World::new();
    w.referrer.tags.insert(label("vip"));
    w.referee.segments.insert(label("students"));
    assert_eq!(verdict(&rules, &w, purchase(100, 1)), "rule r: granted");
    w.referral.channel = Channel::Email;
    assert_eq!(
        verdict(&rules, &w, purchase(100, 1)),
        "rule r: not matched: when.all[0].channel_in: channel email not in [whatsapp, sms]"
    );
    w.referral.channel = Channel::Sms;
    w.referrer.tags.clear();
    assert_eq!(
        verdict(&rules, &w, purchase(100, 1)),
        r#"rule r: not matched: when.all[1].tag: the referrer has no tag "vip""#
    );
    w.referrer.tags.insert(label("vip"));
    w.referee.segments.clear();
    assert_eq!(
        verdict(&rules, &w, purchase(100, 1)),
        r#"rule r: not matched: when.all[2].segment: the referee is not in segment "students""#
    );
}

#[test]
fn order_amount_comparisons_show_the_values() {
    let rules = with_when(r#"{"order_amount": {"op": ">=", "amount": $5000}}"#);
    let w = World::new();
    assert_eq!(
        verdict(&rules, &w, purchase(4_000, 1)),
        "rule r: not matched: when.order_amount: order amount 40.00 SAR < 50.00 SAR"
    );
    assert_eq!(verdict(&rules, &w, purchase(5_000, 1)), "rule r: granted");
    let rules = with_when(r#"{"order_amount": {"op": "<", "amount": $5000}}"#);
    assert_eq!(
        verdict(&rules, &w, purchase(5_000, 1)),
        "rule r: not matched: when.order_amount: order amount 50.00 SAR >= 50.00 SAR"
    );
}

#[test]
fn eligibility_attributes_and_missing_ones() {
    let rules = with_when(
        r#"{"all": [
        {"attribute": {"side": "referee", "name": "age_band", "test": {"not_in": ["under-18"]}}},
        {"attribute": {"side": "referee", "name": "age", "test": {"compare": {"op": ">=", "value": 18}}}},
        {"attribute": {"side": "referrer", "name": "region", "test": {"in": ["SA-RIY", "SA-JED"]}}}]}"#,
    );
    let mut w = World::new();
    let attrs = |pairs: &[(&str, AttributeValue)]| -> BTreeMap<Label, AttributeValue> {
        pairs.iter().map(|(k, v)| (label(k), v.clone())).collect()
    };
    w.referee.attributes = attrs(&[
        ("age_band", AttributeValue::Text("18-24".into())),
        ("age", AttributeValue::Integer(19)),
    ]);
    w.referrer.attributes = attrs(&[("region", AttributeValue::Text("SA-RIY".into()))]);
    assert_eq!(verdict(&rules, &w, purchase(100, 1)), "rule r: granted");
    w.referee.attributes = attrs(&[
        ("age_band", AttributeValue::Text("under-18".into())),
        ("age", AttributeValue::Integer(16)),
    ]);
    assert_eq!(
        verdict(&rules, &w, purchase(100, 1)),
        r#"rule r: not matched: when.all[0].attribute: referee age_band "under-18" in ["under-18"]"#
    );
    w.referee.attributes = attrs(&[
        ("age_band", AttributeValue::Text("18-24".into())),
        ("age", AttributeValue::Integer(16)),
    ]);
    assert_eq!(
        verdict(&rules, &w, purchase(100, 1)),
        "rule r: not matched: when.all[1].attribute: referee age 16 < 18"
    );
    // The host sent no region: not applicable, never an error.
    w.referee.attributes = attrs(&[
        ("age_band", AttributeValue::Text("18-24".into())),
        ("age", AttributeValue::Integer(19)),
    ]);
    w.referrer.attributes.clear();
    let e = evaluate(&rules, &w.facts(purchase(100, 1)));
    assert!(e.grants.is_empty());
    assert_eq!(e.trace[0].outcome, Outcome::NotApplicable);
    assert_eq!(
        e.trace[0].to_string(),
        r#"rule r: not applicable: when.all[2].attribute: the host sent no referrer attribute "region""#
    );
}

#[test]
fn a_missing_attribute_under_any_or_not_still_makes_the_rule_not_applicable() {
    let rules = with_when(
        r#"{"any": [{"tag": {"side": "referrer", "is": "vip"}},
        {"not": {"attribute": {"side": "referee", "name": "age_band", "test": {"in": ["under-18"]}}}}]}"#,
    );
    let mut w = World::new();
    w.referrer.tags.insert(label("vip"));
    assert_eq!(
        verdict(&rules, &w, purchase(100, 1)),
        r#"rule r: not applicable: when.any[1].not.attribute: the host sent no referee attribute "age_band""#
    );
    w.referee
        .attributes
        .insert(label("age_band"), AttributeValue::Text("25-34".into()));
    assert_eq!(verdict(&rules, &w, purchase(100, 1)), "rule r: granted");
    w.referrer.tags.clear();
    w.referee
        .attributes
        .insert(label("age_band"), AttributeValue::Text("under-18".into()));
    assert_eq!(
        verdict(&rules, &w, purchase(100, 1)),
        "rule r: not matched: when.any: none of 2 branches held"
    );
}

#[test]
fn a_number_test_over_text_is_not_applicable() {
    let rules = with_when(
        r#"{"attribute": {"side": "referee", "name": "age", "test": {"compare": {"op": ">=", "value": 18}}}}"#,
    );
    let mut w = World::new();
    w.referee
        .attributes
        .insert(label("age"), AttributeValue::Text("adult".into()));
    assert_eq!(
        verdict(&rules, &w, purchase(100, 1)),
        r#"rule r: not applicable: when.attribute: referee attribute "age" is "adult", not a number"#
    );
}

// ------------------------------------------------------------- experiments

pub(super) const EXPERIMENT: &str = r#""experiments": [{"id": "bigger", "control": "ten", "ramp_bps": 10000,
    "variants": [{"id": "ten", "weight": 1}, {"id": "fifteen", "weight": 1}]}],"#;

const VARIANT_RULES: &str = r#"[
    {"id": "ten", "trigger": {"on": "first_purchase"}, "when": {"variant": {"experiment": "bigger", "is": ["ten"]}},
     "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1000}}]},
    {"id": "fifteen", "trigger": {"on": "first_purchase"}, "when": {"variant": {"experiment": "bigger", "is": ["fifteen"]}},
     "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1500}}]}]"#;

#[test]
fn the_recorded_variant_wins_and_is_on_the_grant() {
    let rules = set_with(EXPERIMENT, VARIANT_RULES);
    let mut w = World::new();
    for v in ["ten", "fifteen"] {
        w.variants.insert(label("bigger"), label(v));
        let e = evaluate(&rules, &w.facts(purchase(100, 1)));
        assert_eq!(e.grants.len(), 1);
        assert_eq!(e.grants[0].rule.as_str(), v);
        assert_eq!(e.grants[0].variant, Some((label("bigger"), label(v))));
    }
    // Without a recorded variant, `assign` decides, the same way.
    w.variants.clear();
    let e = evaluate(&rules, &w.facts(purchase(100, 1)));
    let a = assign(&w.program, &rules.experiments()[0], &w.referral.referrer);
    assert_eq!(e.grants[0].rule, a.variant);
    assert_eq!(e.grants[0].variant, Some((label("bigger"), a.variant)));
    let other = e.trace.iter().find(|r| !r.matched()).unwrap();
    assert!(
        other
            .to_string()
            .contains("when.variant: experiment bigger: variant"),
        "{other}"
    );
}

// ------------------------------------------------------------------- tiers

const TIERED: &str = r#"[{"id": "tiered", "trigger": {"on": "first_purchase"},
    "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1000}}],
    "tiers": {"window": {"kind": "lifetime"}, "downgrade": "derived", "levels": [
        {"at": 3, "effects": [{"to": "referrer", "fixed": {"kind": "credit", "amount": $1500}}]},
        {"at": 5, "effects": [{"to": "referrer", "percent": {"basis_points": 2000, "min": $1500, "max": $5000}}]}]}}]"#;

#[test]
fn tiers_follow_the_count_of_successful_referrals() {
    let rules = set(TIERED);
    let pay = |w: &World| {
        let e = evaluate(&rules, &w.facts(purchase(20_000, 1)));
        (e.grants[0].reward.quantity(), e.trace[0].tier)
    };
    assert_eq!(pay(&World::new().with_referrals(1)), (1000, None));
    // The 3rd referral itself earns the "from 3" tier.
    assert_eq!(pay(&World::new().with_referrals(2)), (1500, Some(3)));
    assert_eq!(pay(&World::new().with_referrals(3)), (1500, Some(3)));
    // From 5: 20 % of 200 SAR = 40 SAR, within [15, 50].
    assert_eq!(pay(&World::new().with_referrals(4)), (4000, Some(5)));
    // Not completing a referral: the count is the history's.
    let mut w = World::new().with_referrals(4);
    w.completes = false;
    assert_eq!(pay(&w), (1500, Some(3)));
}

#[test]
fn derived_tiers_drop_with_reversals_and_never_tiers_do_not() {
    let mut w = World::new().with_referrals(2);
    w.history.referrals[0].reversed_at = Some(t(NOW) - TimeDelta::hours(1));
    let pay = |rules: &RuleSet, w: &World| {
        evaluate(rules, &w.facts(purchase(20_000, 1))).grants[0]
            .reward
            .quantity()
    };
    let derived = set(TIERED);
    assert_eq!(pay(&derived, &w), 1000);
    let never = set(&TIERED.replace("\"derived\"", "\"never\""));
    assert_eq!(pay(&never, &w), 1500);
    // A reversal after the event does not count against it: the decision
    // is as of the event's time, so a retry decides the same.
    w.history.referrals[0].reversed_at = Some(t(NOW) + TimeDelta::hours(1));
    assert_eq!(pay(&derived, &w), 1500);
}

#[test]
fn a_rolling_tier_window_counts_only_recent_referrals() {
    let rules = set(&TIERED.replace(
        r#"{"kind": "lifetime"}"#,
        r#"{"kind": "rolling", "days": 2}"#,
    ));
    // Referrals 1 and 2 days before: the one 2 days before is out.
    let w = World::new().with_referrals(2);
    let e = evaluate(&rules, &w.facts(purchase(20_000, 1)));
    assert_eq!(e.grants[0].reward.quantity(), 1000);
}

// --------------------------------------------------------------- campaigns

fn campaign_rules(tz: &str, start: &str, end: &str) -> RuleSet {
    let s = spec(
        "",
        &format!(
            r#"[{{"id": "c", "trigger": {{"on": "purchase"}}, "campaign": {{"start": "{start}", "end": "{end}"}},
            "effects": [{{"to": "referrer", "fixed": {{"kind": "credit", "amount": $100}}}}]}}]"#
        ),
    );
    RuleSet::from_spec(RuleSetSpec {
        time_zone: tz.into(),
        ..s
    })
    .unwrap()
}

fn active(rules: &RuleSet, at: &str) -> bool {
    let w = World::new();
    !evaluate(rules, &w.facts(purchase_at(100, 1, t(at))))
        .grants
        .is_empty()
}

#[test]
fn campaign_boundaries_in_riyadh_one_second_either_side() {
    let rules = campaign_rules("Asia/Riyadh", "2026-03-01T00:00:00", "2026-04-01T00:00:00");
    // Local 2026-02-28 23:59:59 and 2026-03-01 00:00:00 (UTC+3).
    assert!(!active(&rules, "2026-02-28T20:59:59Z"));
    assert!(active(&rules, "2026-02-28T21:00:00Z"));
    // Local 2026-03-31 23:59:59 and 2026-04-01 00:00:00: end is exclusive.
    assert!(active(&rules, "2026-03-31T20:59:59Z"));
    assert!(!active(&rules, "2026-03-31T21:00:00Z"));
    let w = World::new();
    let e = evaluate(
        &rules,
        &w.facts(purchase_at(100, 1, t("2026-03-31T21:00:00Z"))),
    );
    assert_eq!(
        why(&e, "c"),
        "rule c: not matched: 2026-03-31 21:00:00 UTC is outside the campaign [2026-02-28 21:00:00 UTC, 2026-03-31 21:00:00 UTC)"
    );
}

#[test]
fn campaign_across_a_dst_change_in_london() {
    // BST starts 2026-03-29 01:00 GMT; ends 2026-10-25 01:00 GMT.
    let rules = campaign_rules(
        "Europe/London",
        "2026-03-29T00:30:00",
        "2026-10-25T01:30:00",
    );
    // Start 00:30 GMT (before the change).
    assert!(!active(&rules, "2026-03-29T00:29:59Z"));
    assert!(active(&rules, "2026-03-29T00:30:00Z"));
    // Across the spring change: 00:59:59 GMT and 02:00:00 BST both inside.
    assert!(active(&rules, "2026-03-29T00:59:59Z"));
    assert!(active(&rules, "2026-03-29T01:00:00Z"));
    // End: local 01:30 on 25 October happens twice; the first (BST,
    // 00:30Z) is the end.
    assert!(active(&rules, "2026-10-25T00:29:59Z"));
    assert!(!active(&rules, "2026-10-25T00:30:00Z"));
    assert!(!active(&rules, "2026-10-25T01:30:00Z"));
}

#[test]
fn a_campaign_starting_in_the_spring_gap_starts_as_far_after_it() {
    // 02:30 on 2026-03-08 does not exist in New York (02:00 EST -> 03:00
    // EDT): read as 02:30 EST = 07:30Z = 03:30 EDT.
    let rules = campaign_rules(
        "America/New_York",
        "2026-03-08T02:30:00",
        "2026-03-09T00:00:00",
    );
    assert!(!active(&rules, "2026-03-08T07:29:59Z"));
    assert!(active(&rules, "2026-03-08T07:30:00Z"));
    // The end, local midnight EDT, is 04:00Z.
    assert!(active(&rules, "2026-03-09T03:59:59Z"));
    assert!(!active(&rules, "2026-03-09T04:00:00Z"));
}

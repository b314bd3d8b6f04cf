//! Incentive rules: what a referral earns.
//!
//! A [`RuleSet`] is declarative data (JSON, TOML, any serde format),
//! validated on load. For each event the engine gathers [`Facts`] (the
//! event, the referral, what the host knows of both customers, the
//! referrer's history as the ledger derives it, recorded experiment
//! variants) and calls [`evaluate`], which returns the [`Grant`]s and a
//! [`RuleTrace`] per rule. [`explain`] is the same dry run for support
//! tools. Pure: no store, no engine, no clock, no floating point.
//!
//! # Example: two-sided, tiered, with an eligibility rule
//!
//! A bakery in Riyadh pays the referrer 15 SAR and the friend 10 % of
//! their first order (5 to 30 SAR); from a referrer's 3rd successful
//! referral the referrer gets 25 SAR instead. Friends must be new, not
//! minors, and order within 30 days of the referral.
//!
//! ```
//! use std::collections::{BTreeMap, BTreeSet};
//! use chrono::{TimeZone, Utc};
//! use referrals::incentive::*;
//! use referrals::model::{CustomerId, ProgramId};
//! use referrals::reward::{Label, RewardKind, Role};
//! use referrals::{Channel, Currency, Money};
//!
//! let rules: RuleSet = serde_json::from_str(r#"{
//!   "version": 4, "terms_version": 2, "time_zone": "Asia/Riyadh", "currency": "SAR",
//!   "rules": [{
//!     "id": "first-order",
//!     "trigger": {"on": "first_purchase"},
//!     "when": {"all": [
//!       {"referee_is_new": true},
//!       {"days_since_referral_at_most": 30},
//!       {"attribute": {"side": "referee", "name": "age_band", "test": {"not_in": ["under-18"]}}}
//!     ]},
//!     "effects": [
//!       {"to": "referrer", "fixed": {"kind": "credit", "amount": {"minor": 1500, "currency": "SAR"}}},
//!       {"to": "referee", "percent": {"basis_points": 1000,
//!         "min": {"minor": 500, "currency": "SAR"}, "max": {"minor": 3000, "currency": "SAR"}}}
//!     ],
//!     "tiers": {"window": {"kind": "lifetime"}, "downgrade": "derived", "levels": [{"at": 3, "effects": [
//!       {"to": "referrer", "fixed": {"kind": "credit", "amount": {"minor": 2500, "currency": "SAR"}}},
//!       {"to": "referee", "percent": {"basis_points": 1000,
//!         "min": {"minor": 500, "currency": "SAR"}, "max": {"minor": 3000, "currency": "SAR"}}}
//!     ]}]}
//!   }]
//! }"#)?;
//!
//! let sar = |minor| Money::new(minor, Currency::SAR);
//! let at = Utc.with_ymd_and_hms(2026, 3, 10, 12, 0, 0).unwrap();
//! let referee = CustomerFacts {
//!     attributes: BTreeMap::from([(Label::new("age_band")?, AttributeValue::Text("25-34".into()))]),
//!     ..CustomerFacts::default()
//! };
//! let facts = Facts {
//!     program: &ProgramId::new("bakery")?,
//!     event: EventFacts::Purchase { amount: sar(12_000), purchase_number: 1, at },
//!     referral: ReferralFacts {
//!         referrer: CustomerId::new("amira")?,
//!         referee: Some(CustomerId::new("badr")?),
//!         channel: Channel::WhatsApp,
//!         referred_at: at - chrono::TimeDelta::days(2),
//!         referee_is_new: Some(true),
//!     },
//!     referrer: &CustomerFacts::default(),
//!     referee: &referee,
//!     history: &ReferrerHistory::default(),
//!     completes_referral: true,
//!     variants: &BTreeMap::new(),
//! };
//! let out = evaluate(&rules, &facts);
//! let given: Vec<(Role, Option<Money>)> =
//!     out.grants.iter().map(|g| (g.role, g.reward.money_value())).collect();
//! assert_eq!(given, [(Role::Referrer, Some(sar(1500))), (Role::Referee, Some(sar(1200)))]);
//! assert_eq!(out.grants[0].rule_set_version, 4);
//!
//! // A minor: the rule does not match, and the trace says why.
//! let minor = CustomerFacts {
//!     attributes: BTreeMap::from([(Label::new("age_band")?, AttributeValue::Text("under-18".into()))]),
//!     ..CustomerFacts::default()
//! };
//! let trace = explain(&rules, &Facts { referee: &minor, ..facts.clone() });
//! assert_eq!(trace[0].to_string(),
//!     r#"rule first-order: not matched: when.all[2].attribute: referee age_band "under-18" in ["under-18"]"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What the rules can say
//!
//! - **Triggers** ([`Trigger`]): signup; first purchase; each purchase up
//!   to N; a purchase at or above an amount; a share (rate limited); a
//!   milestone (the Nth successful referral, once per period).
//! - **Conditions** ([`Condition`]): `all`, `any`, `not` over typed
//!   predicates. A predicate over a fact the host did not send makes the
//!   rule not applicable ([`Outcome::NotApplicable`]), never an error.
//! - **Effects** ([`Effect`]): any [`RewardKind`](crate::reward::RewardKind)
//!   fixed, or a [`Percent`] of the purchase clamped to `[min, max]`, to
//!   the referrer, the referee or both.
//! - **Tiers** ([`Tiers`]) and milestones, derived from the referrer's
//!   history on every event, with a [`Downgrade`] policy.
//! - **Campaigns** ([`Campaign`]): local date-times in the rule set's IANA
//!   zone, half open, with a documented DST rule.
//! - **Stacking** ([`Stacking`]) per group, and `exclusive` rules.
//! - **Experiments** ([`Experiment`], [`assign`]).
//! - **Contests** ([`Contest`], [`leaderboard`], [`draw`], [`close`]).

mod campaign;
mod condition;
mod contest;
mod evaluate;
mod experiment;
mod facts;
mod rule;
mod validate;

pub use campaign::{CalendarPeriod, Campaign, Period, Window};
pub use condition::{
    AmountTest, AttributeCheck, AttributeTest, CompareOp, Condition, Failure, Missing, SideLabel,
    VariantTest,
};
pub use contest::{
    Contest, ContestError, ContestFormat, ContestInput, ContestReferral, PrizeGrant, Ranking,
    Standing, SweepstakesEntry, close, draw, leaderboard,
};
pub use evaluate::{Evaluation, Grant, Outcome, Precedence, Reason, RuleTrace, evaluate, explain};
pub use experiment::{Assignment, Experiment, Variant, assign};
pub use facts::{
    AttributeValue, CustomerFacts, EventFacts, Facts, PastReferral, ReferralFacts, ReferrerHistory,
};
pub use rule::{
    Beneficiary, Downgrade, Effect, Group, PayAs, Percent, Rule, RuleSet, RuleSetError,
    RuleSetSpec, ShareLimit, Stacking, TierLevel, Tiers, Trigger, TriggerKind,
};

//! Rule and rule-set types, their serialised shape, and validation on load.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money};
use crate::reward::{Label, RewardKind};

use super::campaign::{Campaign, Window};
use super::condition::Condition;
use super::contest::Contest;
use super::experiment::Experiment;
use super::validate::{Ctx, validate_experiment, validate_rule};

/// The kinds of event rules listen to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TriggerKind {
    /// A referee's signup.
    Signup,
    /// A referee's purchase.
    Purchase,
    /// A referrer's share.
    Share,
}

impl TriggerKind {
    /// `signup`, `purchase` or `share`.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Signup => "signup",
            TriggerKind::Purchase => "purchase",
            TriggerKind::Share => "share",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            TriggerKind::Signup => 0,
            TriggerKind::Purchase => 1,
            TriggerKind::Share => 2,
        }
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How reversed referrals count toward a tier or milestone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Downgrade {
    /// Follow the current count: a referral reversed at or before the
    /// event no longer counts, so a tier can drop back.
    #[default]
    Derived,
    /// Reversed referrals count too: within its window a tier, once
    /// reached, is never lost.
    Never,
}

/// At most `max` rewarded shares in any `days` × 24 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareLimit {
    /// Shares rewarded per window (1 or more).
    pub max: u32,
    /// Window length in days (1 or more).
    pub days: u32,
}

/// What makes a rule fire. Serialised with an `on` tag:
/// `{"on": "first_purchase"}`, `{"on": "purchase", "up_to": 3}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Trigger {
    /// The referee signs up.
    Signup,
    /// The referee's first purchase (`purchase_number` 1).
    FirstPurchase,
    /// Each purchase of the referee, up to the `up_to`-th (all if absent).
    Purchase {
        /// The last purchase number rewarded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        up_to: Option<u32>,
    },
    /// A purchase at or above an amount.
    PurchaseAtLeast {
        /// The least amount, in the rule set's currency.
        amount: Money,
    },
    /// The referrer shares, at most `limit` rewarded per rolling window.
    ///
    /// The limit is derived from the referrer's earlier share times alone:
    /// they are replayed in order, each rewarded if fewer than `max`
    /// rewarded shares lie in the `days` before it, and this share is
    /// rewarded on the same test. (History does not say which shares were
    /// rewarded; conditions and campaigns are not replayed, so the limit
    /// can only err toward rewarding less.)
    Share {
        /// The rate limit, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<ShareLimit>,
    },
    /// The referrer's `referrals`-th successful referral in the window,
    /// fired on the purchase that completes it
    /// ([`Facts::completes_referral`](super::Facts::completes_referral)).
    ///
    /// It fires when the count including this referral is `referrals` or
    /// more and its once-key `milestone:<rule>:<referrals>:<period>`
    /// (`period` is `lifetime` or the calendar period, `2026-03`) is not in
    /// the history's granted keys, so it is granted once per period,
    /// whatever the retries. A referrer already past the threshold when
    /// the rule is added gets it on their next successful referral.
    ///
    /// **If the count later drops below the threshold** (a referral is
    /// reversed) **the reward stands**: it was earned when granted, and
    /// the once-key keeps it from being granted again when the count
    /// climbs back. A rolling window is refused: it has no period to grant
    /// once in.
    Milestone {
        /// The threshold (1 or more).
        referrals: u32,
        /// Lifetime (default) or a calendar period.
        #[serde(default)]
        window: Window,
        /// Whether reversed referrals count.
        #[serde(default)]
        downgrade: Downgrade,
    },
}

impl Trigger {
    /// The event kind the trigger listens to.
    pub fn kind(&self) -> TriggerKind {
        match self {
            Trigger::Signup => TriggerKind::Signup,
            Trigger::Share { .. } => TriggerKind::Share,
            _ => TriggerKind::Purchase,
        }
    }

    /// The trigger's name as serialised (`first_purchase`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Trigger::Signup => "signup",
            Trigger::FirstPurchase => "first_purchase",
            Trigger::Purchase { .. } => "purchase",
            Trigger::PurchaseAtLeast { .. } => "purchase_at_least",
            Trigger::Share { .. } => "share",
            Trigger::Milestone { .. } => "milestone",
        }
    }
}

/// Who an effect rewards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Beneficiary {
    /// The referrer.
    Referrer,
    /// The referee.
    Referee,
    /// Both: one grant each, of the same reward.
    Both,
}

/// The money kind a percentage reward is paid as.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum PayAs {
    /// Account credit.
    #[default]
    Credit,
    /// Cash.
    Cash,
    /// A donation to a charity of the rule set's list.
    Donation {
        /// The charity.
        charity: Label,
    },
    /// A gift card.
    GiftCard {
        /// The catalogue item.
        item: Label,
    },
}

impl PayAs {
    /// The reward of `amount` in this kind.
    pub(crate) fn reward(&self, amount: Money) -> RewardKind {
        match self {
            PayAs::Credit => RewardKind::Credit { amount },
            PayAs::Cash => RewardKind::Cash { amount },
            PayAs::Donation { charity } => RewardKind::Donation {
                charity: charity.clone(),
                amount,
            },
            PayAs::GiftCard { item } => RewardKind::GiftCard {
                item: item.clone(),
                value: amount,
            },
        }
    }
}

/// A percentage of the purchase amount.
///
/// **Rounding:** `amount × basis_points / 10 000` rounded half away from
/// zero to the minor unit ([`Money::checked_mul_bps`]), then clamped to
/// `[min, max]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Percent {
    /// 1 to 10,000 (0.01 % to 100 %).
    pub basis_points: u32,
    /// The least granted.
    pub min: Money,
    /// The most granted.
    pub max: Money,
    /// The kind paid (credit unless said).
    #[serde(default)]
    pub pay_as: PayAs,
}

impl Percent {
    /// The reward amount for a purchase of `amount` (same currency; checked
    /// by the caller). Never outside `[min, max]`.
    pub fn amount_for(&self, amount: Money) -> Money {
        // |amount × bps / 10 000| ≤ |amount| for bps ≤ 10 000, so the
        // multiplication cannot overflow; if it ever did, `max` is the
        // bound that keeps the promise.
        let raw = amount
            .checked_mul_bps(self.basis_points)
            .unwrap_or(self.max);
        if raw.minor() < self.min.minor() {
            self.min
        } else if raw.minor() > self.max.minor() {
            self.max
        } else {
            raw
        }
    }
}

/// One effect of a rule: a fixed reward or a percentage, to one side or
/// both. Exactly one of `fixed` and `percent` is given:
/// `{"to": "both", "fixed": {"kind": "credit", "amount": …}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Effect {
    /// Who receives it.
    pub to: Beneficiary,
    /// A fixed reward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<RewardKind>,
    /// A percentage of the purchase (purchase triggers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<Percent>,
}

/// One tier: from the `at`-th counted referral on, these effects replace
/// the rule's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierLevel {
    /// The count from which the tier applies (1 or more, ascending).
    pub at: u32,
    /// The effects at this tier.
    pub effects: Vec<Effect>,
}

/// Tiers: the referrer's count of successful referrals in `window` picks
/// the highest level reached, whose effects replace the rule's.
///
/// The count is derived on every event from
/// [`ReferrerHistory`](super::ReferrerHistory) (never a stored counter):
/// referrals that succeeded at or before the event and lie in the window,
/// without those reversed at or before the event unless `downgrade` is
/// `never`, plus one if the event itself
/// [completes a referral](super::Facts::completes_referral) (so the third
/// referral already earns the tier "from 3").
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tiers {
    /// Which referrals count (lifetime unless said).
    #[serde(default)]
    pub window: Window,
    /// Whether reversed referrals count.
    #[serde(default)]
    pub downgrade: Downgrade,
    /// The levels, ascending by `at`.
    pub levels: Vec<TierLevel>,
}

/// How a group's matched rules combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stacking {
    /// Every matched rule grants.
    #[default]
    All,
    /// Only the first matched rule by priority (then id).
    First,
    /// Only the matched rule worth most to the customers: the sum of its
    /// grants' money values ([`RewardKind::money_value`]), or its declared
    /// `value`; ties go to priority, then id.
    Best,
}

/// A stacking group.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The group's id, named by rules' `group`.
    pub id: Label,
    /// How its rules combine.
    pub stacking: Stacking,
}

/// One declarative rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique within the rule set; recorded on grants.
    pub id: Label,
    /// What makes it fire.
    pub trigger: Trigger,
    /// Conditions that must hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    /// What it grants (replaced by a tier's effects once one is reached).
    #[serde(default)]
    pub effects: Vec<Effect>,
    /// Tiers by the referrer's successful referrals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Tiers>,
    /// The stacking group (an implicit group that stacks all, if absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Label>,
    /// Higher first; ties broken by id.
    #[serde(default)]
    pub priority: i32,
    /// Wins alone over every other rule matched on the same event.
    #[serde(default)]
    pub exclusive: bool,
    /// Local date-times the rule is valid between.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<Campaign>,
    /// The value compared by `best` stacking, for rules whose rewards have
    /// no money value (points, days, perks, entries, percentage coupons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Money>,
}

/// A rule set as written: what [`RuleSet`] is loaded from and serialised
/// back to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSetSpec {
    /// The rule-set version, recorded on every grant.
    pub version: u32,
    /// The version of the terms customers agreed to, recorded on every
    /// grant.
    pub terms_version: u32,
    /// IANA time zone name (`Asia/Riyadh`) for campaigns and periods.
    pub time_zone: String,
    /// The program's currency: every money amount must be in it.
    pub currency: Currency,
    /// Charities donations may go to.
    #[serde(default)]
    pub charities: Vec<Label>,
    /// Stacking groups.
    #[serde(default)]
    pub groups: Vec<Group>,
    /// Experiments rules may depend on.
    #[serde(default)]
    pub experiments: Vec<Experiment>,
    /// Contests.
    #[serde(default)]
    pub contests: Vec<Contest>,
    /// The rules, in any order (evaluation orders them by priority, then
    /// id).
    pub rules: Vec<Rule>,
}

/// A rule set that failed validation: which field of which rule, and what
/// was wrong.
///
/// Displays as `rules[3].effects[0].percent.basis_points (rule "summer"):
/// 150% is above 100%`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}{}: {problem}", rule_suffix(.rule))]
pub struct RuleSetError {
    /// The field path (`rules[3].effects[0].percent.basis_points`).
    pub path: String,
    /// The id of the rule it is in, if any.
    pub rule: Option<Label>,
    /// What was wrong.
    pub problem: String,
}

fn rule_suffix(rule: &Option<Label>) -> String {
    match rule {
        Some(r) => format!(" (rule {:?})", r.as_str()),
        None => String::new(),
    }
}

pub(crate) fn top(path: impl Into<String>, problem: impl Into<String>) -> RuleSetError {
    RuleSetError {
        path: path.into(),
        rule: None,
        problem: problem.into(),
    }
}

/// Basis points as a percentage: `150%`, `12.5%`, `0.01%`.
pub(crate) fn percent(bps: u32) -> String {
    let (whole, frac) = (bps / 100, bps % 100);
    if frac == 0 {
        format!("{whole}%")
    } else if frac % 10 == 0 {
        format!("{whole}.{}%", frac / 10)
    } else {
        format!("{whole}.{frac:02}%")
    }
}

/// Per-rule data computed at load.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    pub(crate) kind: TriggerKind,
    /// Index into `RuleSet::stacking` (0: the implicit group).
    pub(crate) group: usize,
    pub(crate) campaign: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Index into the experiments.
    pub(crate) experiment: Option<usize>,
}

/// A validated rule set. Loads from the [`RuleSetSpec`] shape (JSON, TOML,
/// any serde format) and serialises back to it unchanged.
///
/// # Example: a two-sided first-purchase reward from JSON
/// ```
/// use referrals::incentive::{RuleSet, TriggerKind};
/// let rules: RuleSet = serde_json::from_str(r#"{
///   "version": 1, "terms_version": 1, "time_zone": "Asia/Riyadh", "currency": "SAR",
///   "rules": [{
///     "id": "welcome",
///     "trigger": {"on": "first_purchase"},
///     "effects": [
///       {"to": "referrer", "fixed": {"kind": "credit", "amount": {"minor": 1500, "currency": "SAR"}}},
///       {"to": "referee", "fixed": {"kind": "credit", "amount": {"minor": 1000, "currency": "SAR"}}}
///     ]
///   }]
/// }"#)?;
/// assert!(rules.listens_to(TriggerKind::Purchase));
/// assert!(!rules.listens_to(TriggerKind::Share));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Example: an error names the field and the rule
/// ```
/// use referrals::incentive::{RuleSet, RuleSetSpec};
/// let spec: RuleSetSpec = serde_json::from_str(r#"{
///   "version": 1, "terms_version": 1, "time_zone": "Asia/Riyadh", "currency": "SAR",
///   "rules": [{
///     "id": "generous", "trigger": {"on": "purchase"},
///     "effects": [{"to": "referrer", "percent": {"basis_points": 15000,
///       "min": {"minor": 0, "currency": "SAR"}, "max": {"minor": 5000, "currency": "SAR"}}}]
///   }]
/// }"#)?;
/// let err = RuleSet::from_spec(spec).unwrap_err();
/// assert_eq!(err.to_string(),
///     r#"rules[0].effects[0].percent.basis_points (rule "generous"): 150% is above 100%"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub(crate) spec: RuleSetSpec,
    pub(crate) tz: Tz,
    /// Rule indices by priority (descending), then id.
    pub(crate) order: Vec<usize>,
    pub(crate) compiled: Vec<Compiled>,
    /// Stacking per group: 0 is the implicit group, `i + 1` is `groups[i]`.
    pub(crate) stacking: Vec<Stacking>,
    listens: [bool; 3],
}

impl PartialEq for RuleSet {
    fn eq(&self, other: &RuleSet) -> bool {
        self.spec == other.spec
    }
}

impl Eq for RuleSet {}

impl Serialize for RuleSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.spec.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RuleSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RuleSet, D::Error> {
        let spec = RuleSetSpec::deserialize(d)?;
        RuleSet::from_spec(spec).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<RuleSetSpec> for RuleSet {
    type Error = RuleSetError;
    fn try_from(spec: RuleSetSpec) -> Result<RuleSet, RuleSetError> {
        RuleSet::from_spec(spec)
    }
}

impl RuleSet {
    /// Validates a rule set.
    ///
    /// # Errors
    /// [`RuleSetError`] naming the field path and rule id: an unknown time
    /// zone, an amount in another currency, a percentage above 100 %, a
    /// charity not in `charities`, duplicate ids, an unknown group or
    /// experiment, a campaign that ends before it starts, a rule in a
    /// `best` group whose rewards cannot be compared, two exclusive rules
    /// on the same trigger with the same priority, …
    pub fn from_spec(spec: RuleSetSpec) -> Result<RuleSet, RuleSetError> {
        let tz: Tz = spec.time_zone.parse().map_err(|_| {
            top(
                "time_zone",
                format!("unknown IANA time zone {:?}", spec.time_zone),
            )
        })?;
        let currency = spec.currency;
        for (i, c) in spec.charities.iter().enumerate() {
            if spec.charities[..i].contains(c) {
                return Err(top(
                    format!("charities[{i}]"),
                    format!("{:?} is listed twice", c.as_str()),
                ));
            }
        }
        let mut stacking = vec![Stacking::All];
        for (i, g) in spec.groups.iter().enumerate() {
            if spec.groups[..i].iter().any(|o| o.id == g.id) {
                return Err(top(
                    format!("groups[{i}].id"),
                    format!("{:?} is declared twice", g.id.as_str()),
                ));
            }
            stacking.push(g.stacking);
        }
        for (i, e) in spec.experiments.iter().enumerate() {
            validate_experiment(i, e, &spec.experiments[..i])?;
        }
        for (i, c) in spec.contests.iter().enumerate() {
            if spec.contests[..i].iter().any(|o| o.id == c.id) {
                return Err(top(
                    format!("contests[{i}].id"),
                    format!("{:?} is declared twice", c.id.as_str()),
                ));
            }
            if c.prizes.is_empty() {
                return Err(top(format!("contests[{i}].prizes"), "no prizes"));
            }
            for (j, p) in c.prizes.iter().enumerate() {
                let cx = Ctx {
                    spec: &spec,
                    rule: None,
                    kind: TriggerKind::Purchase,
                };
                cx.reward(&format!("contests[{i}].prizes[{j}]"), p)?;
            }
        }

        let mut compiled = Vec::with_capacity(spec.rules.len());
        for (i, rule) in spec.rules.iter().enumerate() {
            let path = format!("rules[{i}]");
            if let Some(j) = spec.rules[..i].iter().position(|r| r.id == rule.id) {
                return Err(RuleSetError {
                    path: format!("{path}.id"),
                    rule: Some(rule.id.clone()),
                    problem: format!("already the id of rules[{j}]"),
                });
            }
            compiled.push(validate_rule(&spec, tz, currency, &path, rule)?);
        }

        // Two exclusive rules that can meet on one event with equal
        // priority would need the id to decide: refused.
        for (i, a) in spec.rules.iter().enumerate() {
            if !a.exclusive {
                continue;
            }
            for (j, b) in spec.rules[..i].iter().enumerate() {
                if b.exclusive && b.priority == a.priority && compiled[j].kind == compiled[i].kind {
                    return Err(RuleSetError {
                        path: format!("rules[{i}].exclusive"),
                        rule: Some(a.id.clone()),
                        problem: format!(
                            "rule {:?} is also exclusive on {} events with priority {}; give them different priorities",
                            b.id.as_str(),
                            compiled[i].kind,
                            a.priority
                        ),
                    });
                }
            }
        }

        let mut order: Vec<usize> = (0..spec.rules.len()).collect();
        order.sort_by(|&a, &b| {
            let (ra, rb) = (&spec.rules[a], &spec.rules[b]);
            rb.priority
                .cmp(&ra.priority)
                .then_with(|| ra.id.cmp(&rb.id))
        });
        let mut listens = [false; 3];
        for c in &compiled {
            listens[c.kind.index()] = true;
        }
        Ok(RuleSet {
            spec,
            tz,
            order,
            compiled,
            stacking,
            listens,
        })
    }

    /// The rule-set version, recorded on every grant.
    pub fn version(&self) -> u32 {
        self.spec.version
    }

    /// The terms version, recorded on every grant.
    pub fn terms_version(&self) -> u32 {
        self.spec.terms_version
    }

    /// The time zone campaigns and calendar periods are read in.
    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The currency of every money amount in the set.
    pub fn currency(&self) -> Currency {
        self.spec.currency
    }

    /// The rules, as listed.
    pub fn rules(&self) -> &[Rule] {
        &self.spec.rules
    }

    /// The experiments.
    pub fn experiments(&self) -> &[Experiment] {
        &self.spec.experiments
    }

    /// The charities donations may go to.
    pub fn charities(&self) -> &[Label] {
        &self.spec.charities
    }

    /// The stacking groups.
    pub fn groups(&self) -> &[Group] {
        &self.spec.groups
    }

    /// The contests.
    pub fn contests(&self) -> &[Contest] {
        &self.spec.contests
    }

    /// The rule set as written.
    pub fn spec(&self) -> &RuleSetSpec {
        &self.spec
    }

    /// Whether any rule listens to `trigger` (if none does, the engine can
    /// skip evaluating such events).
    pub fn listens_to(&self, trigger: TriggerKind) -> bool {
        self.listens[trigger.index()]
    }

    /// The UTC bounds `[start, end)` of a rule's campaign, as loaded.
    pub fn campaign_bounds(&self, rule: &Label) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let i = self.spec.rules.iter().position(|r| &r.id == rule)?;
        self.compiled[i].campaign
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_print_sensibly() {
        assert_eq!(percent(15_000), "150%");
        assert_eq!(percent(1_250), "12.5%");
        assert_eq!(percent(1), "0.01%");
        assert_eq!(percent(10_000), "100%");
        assert_eq!(percent(1_005), "10.05%");
    }
}

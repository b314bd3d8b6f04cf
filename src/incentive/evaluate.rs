//! Evaluation: which rules match an event, what they grant, how matched
//! rules stack, and the trace that says why.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::reward::{Label, RewardKind, Role};

use super::campaign::{Period, Window};
use super::condition::{Env, Failure, Missing, Verdict};
use super::experiment::assign;
use super::facts::{EventFacts, Facts};
use super::rule::{Beneficiary, Downgrade, Effect, Rule, RuleSet, Stacking, Trigger, TriggerKind};

/// One reward a rule grants to one side.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// The rule (or contest) that granted it.
    pub rule: Label,
    /// Who receives it.
    pub role: Role,
    /// What.
    pub reward: RewardKind,
    /// The rule set's version.
    pub rule_set_version: u32,
    /// The terms' version.
    pub terms_version: u32,
    /// The (experiment, variant) the rule depended on.
    pub variant: Option<(Label, Label)>,
    /// For milestone and contest grants: the ledger books at most one
    /// reward per key, whatever the event or retry
    /// (`milestone:<rule>:<n>:<period>`, `contest:<contest>:<period>:<place>`).
    pub once_key: Option<String>,
}

/// What happened to a rule on an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// It matched and granted.
    Granted,
    /// It matched but another rule won (stacking or exclusivity).
    Outranked,
    /// It did not match.
    NotMatched,
    /// A fact it needs was missing: it does not apply.
    NotApplicable,
}

/// The stacking rule that let another rule win.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Precedence {
    /// The winner is exclusive.
    Exclusive,
    /// The group grants its first rule by priority.
    First,
    /// The group grants the rule worth most.
    Best,
}

/// Why a rule did or did not grant, with the values compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// Every check passed.
    Granted,
    /// The rule listens to another kind of event.
    WrongEvent {
        /// The rule's trigger (`first_purchase`, …).
        trigger: Cow<'static, str>,
        /// The event's kind.
        event: TriggerKind,
    },
    /// Not the referee's first purchase.
    NotFirstPurchase {
        /// Which purchase it is.
        purchase_number: u32,
    },
    /// A purchase beyond the rule's limit.
    BeyondPurchaseLimit {
        /// Which purchase it is.
        purchase_number: u32,
        /// The last one rewarded.
        up_to: u32,
    },
    /// The purchase is below the rule's amount.
    BelowAmount {
        /// The order amount.
        amount: Money,
        /// The least amount.
        least: Money,
    },
    /// A milestone fires only on a purchase that completes a referral.
    NoNewReferral,
    /// The milestone is not reached.
    MilestoneNotReached {
        /// The count with this referral.
        count: u32,
        /// The threshold.
        needed: u32,
    },
    /// A tiered rule with no base effects, below its first tier.
    BelowFirstTier {
        /// The count.
        count: u32,
        /// The first tier's threshold.
        first: u32,
    },
    /// The share rate limit is reached.
    ShareLimit {
        /// Rewarded shares in the window before this one.
        recent: u32,
        /// The limit.
        max: u32,
        /// The window in days.
        days: u32,
    },
    /// The event is outside the rule's campaign.
    OutsideCampaign {
        /// The event's time.
        at: DateTime<Utc>,
        /// The campaign's start (inclusive).
        start: DateTime<Utc>,
        /// Its end (exclusive).
        end: DateTime<Utc>,
    },
    /// The once-key was granted before.
    AlreadyGranted {
        /// The key.
        once_key: String,
    },
    /// A predicate did not hold.
    Condition {
        /// Where in the condition tree (`when.all[1].order_amount`).
        path: String,
        /// Why, with the values.
        failure: Failure,
    },
    /// A fact a predicate or effect needs is missing.
    Missing {
        /// Where (`when.attribute`, `effects[0]`).
        path: String,
        /// What.
        missing: Missing,
    },
    /// Another matched rule won.
    Outranked {
        /// The winner.
        by: Label,
        /// Why it won.
        precedence: Precedence,
    },
    /// A reward or a value does not fit in `i64`.
    Overflow,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Granted => f.write_str("granted"),
            Reason::WrongEvent { trigger, event } => {
                write!(f, "listens to {trigger}, the event is a {event}")
            }
            Reason::NotFirstPurchase { purchase_number } => {
                write!(f, "purchase #{purchase_number} is not the first")
            }
            Reason::BeyondPurchaseLimit {
                purchase_number,
                up_to,
            } => write!(f, "purchase #{purchase_number} > {up_to}"),
            Reason::BelowAmount { amount, least } => write!(f, "order amount {amount} < {least}"),
            Reason::NoNewReferral => f.write_str("the event completes no referral"),
            Reason::MilestoneNotReached { count, needed } => {
                write!(f, "{count} successful referrals < {needed}")
            }
            Reason::BelowFirstTier { count, first } => {
                write!(f, "{count} successful referrals < first tier {first}")
            }
            Reason::ShareLimit { recent, max, days } => write!(
                f,
                "{recent} rewarded shares in the last {days} days, at most {max}"
            ),
            Reason::OutsideCampaign { at, start, end } => {
                write!(f, "{at} is outside the campaign [{start}, {end})")
            }
            Reason::AlreadyGranted { once_key } => write!(f, "{once_key} was already granted"),
            Reason::Condition { path, failure } => write!(f, "{path}: {failure}"),
            Reason::Missing { path, missing } => write!(f, "{path}: {missing}"),
            Reason::Outranked { by, precedence } => {
                let why = match precedence {
                    Precedence::Exclusive => "exclusive",
                    Precedence::First => "first by priority in the group",
                    Precedence::Best => "worth more in the group",
                };
                write!(f, "outranked by rule {by} ({why})")
            }
            Reason::Overflow => f.write_str("a reward or its value does not fit"),
        }
    }
}

/// One rule's fate on one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleTrace {
    /// The rule.
    pub rule: Label,
    /// What happened.
    pub outcome: Outcome,
    /// Why.
    pub reason: Reason,
    /// The tier threshold reached, for a tiered rule that matched.
    pub tier: Option<u32>,
    /// The (experiment, variant) the rule depended on, if resolved.
    pub variant: Option<(Label, Label)>,
}

impl RuleTrace {
    /// Whether the rule matched (granted or outranked).
    pub fn matched(&self) -> bool {
        matches!(self.outcome, Outcome::Granted | Outcome::Outranked)
    }
}

impl fmt::Display for RuleTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let outcome = match self.outcome {
            Outcome::Granted => "granted",
            Outcome::Outranked => "matched, outranked",
            Outcome::NotMatched => "not matched",
            Outcome::NotApplicable => "not applicable",
        };
        write!(f, "rule {}: {outcome}", self.rule)?;
        if !matches!(self.reason, Reason::Granted) {
            write!(f, ": {}", self.reason)?;
        }
        if let Some(t) = self.tier {
            write!(f, " (tier from {t})")?;
        }
        Ok(())
    }
}

/// The grants of an event and the trace of every rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evaluation {
    /// What to book, in rule order (priority, then id).
    pub grants: Vec<Grant>,
    /// One entry per rule, in the same order.
    pub trace: Vec<RuleTrace>,
}

struct Candidate {
    trace: usize,
    group: usize,
    exclusive: bool,
    /// Minor units, for `best` stacking.
    value: i64,
    /// Its grants in the shared vector.
    grants: std::ops::Range<usize>,
    /// Still granted after stacking.
    keep: bool,
}

struct Miss {
    outcome: Outcome,
    reason: Reason,
    variant: Option<(Label, Label)>,
}

fn not_matched(reason: Reason) -> Miss {
    Miss {
        outcome: Outcome::NotMatched,
        reason,
        variant: None,
    }
}

/// Decides what an event earns: every rule is checked (trigger, campaign,
/// once-key, conditions, tiers), matched rules are stacked per group, and
/// the grants come back with a trace of every rule.
///
/// Rules are visited by priority (higher first), then id, so the result
/// does not depend on the order they are listed in. Cost: linear in the
/// rules, plus, for tiered, milestone and rate-limited share rules, linear
/// in the referrer's history.
///
/// # Stacking
///
/// If any matched rule is `exclusive`, the first of them by priority (then
/// id) is granted alone. Otherwise each group applies its policy
/// ([`Stacking`]); rules without a group all stack.
///
/// # Example: see the [module docs](super) for a worked example.
pub fn evaluate(rules: &RuleSet, facts: &Facts<'_>) -> Evaluation {
    let mut trace = Vec::with_capacity(rules.order.len());
    // All candidates' grants in one vector (each candidate owns a range),
    // so a matched rule costs no allocation of its own.
    let mut grants: Vec<Grant> = Vec::new();
    let mut cands: Vec<Candidate> = Vec::new();
    let mut variants: Vec<Option<Option<Label>>> = vec![None; rules.experiments().len()];
    for &i in &rules.order {
        let rule = &rules.spec.rules[i];
        let compiled = &rules.compiled[i];
        let start = grants.len();
        match check(rules, i, facts, &mut variants, &mut grants) {
            Ok((tier, variant)) => {
                let value = if rules.stacking[compiled.group] == Stacking::Best {
                    match rule.value {
                        Some(v) => v.minor(),
                        None => grants[start..]
                            .iter()
                            .try_fold(0i64, |t, g| {
                                t.checked_add(g.reward.money_value().map_or(0, |m| m.minor()))
                            })
                            .unwrap_or(i64::MAX),
                    }
                } else {
                    0
                };
                cands.push(Candidate {
                    trace: trace.len(),
                    group: compiled.group,
                    exclusive: rule.exclusive,
                    value,
                    grants: start..grants.len(),
                    keep: true,
                });
                trace.push(RuleTrace {
                    rule: rule.id.clone(),
                    outcome: Outcome::Granted,
                    reason: Reason::Granted,
                    tier,
                    variant,
                });
            }
            Err(m) => {
                grants.truncate(start);
                trace.push(RuleTrace {
                    rule: rule.id.clone(),
                    outcome: m.outcome,
                    reason: m.reason,
                    tier: None,
                    variant: m.variant,
                });
            }
        }
    }
    stack(rules, &mut cands, &mut trace);
    if cands.iter().any(|c| !c.keep) {
        let (mut i, mut c) = (0, 0);
        grants.retain(|_| {
            while cands[c].grants.end <= i {
                c += 1;
            }
            i += 1;
            cands[c].keep
        });
    }
    Evaluation { grants, trace }
}

/// Applies exclusivity and the groups' stacking policies to the matched
/// rules (in priority order), marking the losers in the trace.
fn stack(rules: &RuleSet, cands: &mut [Candidate], trace: &mut [RuleTrace]) {
    let mut outrank = |cands: &mut [Candidate], loser: usize, winner: usize, p: Precedence| {
        cands[loser].keep = false;
        let by = trace[cands[winner].trace].rule.clone();
        let t = &mut trace[cands[loser].trace];
        t.outcome = Outcome::Outranked;
        t.reason = Reason::Outranked { by, precedence: p };
    };
    if let Some(w) = cands.iter().position(|c| c.exclusive) {
        for l in 0..cands.len() {
            if l != w {
                outrank(cands, l, w, Precedence::Exclusive);
            }
        }
        return;
    }
    for (g, policy) in rules.stacking.iter().enumerate() {
        let mut members = (0..cands.len()).filter(|&c| cands[c].group == g);
        let (winner, p) = match policy {
            Stacking::First => (members.next(), Precedence::First),
            // Candidates are in priority order: a later one wins only if
            // worth strictly more.
            Stacking::Best => (
                members.reduce(|a, b| {
                    if cands[b].value > cands[a].value {
                        b
                    } else {
                        a
                    }
                }),
                Precedence::Best,
            ),
            _ => (None, Precedence::First),
        };
        if let Some(w) = winner {
            for l in 0..cands.len() {
                if l != w && cands[l].group == g {
                    outrank(cands, l, w, p);
                }
            }
        }
    }
}

/// Dry run: what [`evaluate`] would say about every rule and why, without
/// the grants. For support tools ("why did I not get my reward?").
///
/// # Example: see the [module docs](super).
pub fn explain(rules: &RuleSet, facts: &Facts<'_>) -> Vec<RuleTrace> {
    evaluate(rules, facts).trace
}

type Matched = (Option<u32>, Option<(Label, Label)>);

/// Checks one rule: if it matches, pushes its grants and returns its tier
/// and variant (on a miss, grants pushed may be left for the caller to
/// truncate).
// A miss is the common outcome (most rules miss most events): returned by
// value, since boxing it would allocate once per rule.
#[allow(clippy::result_large_err)]
fn check(
    rules: &RuleSet,
    i: usize,
    facts: &Facts<'_>,
    variants: &mut [Option<Option<Label>>],
    grants: &mut Vec<Grant>,
) -> Result<Matched, Miss> {
    let rule = &rules.spec.rules[i];
    let compiled = &rules.compiled[i];
    let event = &facts.event;
    let at = event.at();
    if compiled.kind != event.kind() {
        return Err(not_matched(Reason::WrongEvent {
            trigger: Cow::Borrowed(rule.trigger.name()),
            event: event.kind(),
        }));
    }
    if let Some((start, end)) = compiled.campaign {
        if at < start || at >= end {
            return Err(not_matched(Reason::OutsideCampaign { at, start, end }));
        }
    }
    let once_key = trigger(rules, rule, facts)?;

    // The rule's experiment, resolved once per evaluation.
    let mut variant: Option<(Label, Label)> = None;
    let mut resolved: Option<&Label> = None;
    if let Some(ei) = compiled.experiment {
        let exp = &rules.experiments()[ei];
        if variants[ei].is_none() {
            let customer = match exp.unit {
                Role::Referrer => Some(&facts.referral.referrer),
                Role::Referee => facts.referral.referee.as_ref(),
            };
            variants[ei] = Some(match facts.variants.get(&exp.id) {
                Some(v) => Some(v.clone()),
                None => customer.map(|c| assign(facts.program, exp, c).variant),
            });
        }
        if let Some(Some(v)) = &variants[ei] {
            variant = Some((exp.id.clone(), v.clone()));
            resolved = Some(v);
        }
    }
    if let Some(cond) = &rule.when {
        let env = Env {
            facts,
            currency: rules.currency(),
            variant: resolved,
        };
        match cond.verdict(&env) {
            Verdict::Holds => {}
            Verdict::Fails { path, failure } => {
                return Err(Miss {
                    outcome: Outcome::NotMatched,
                    reason: Reason::Condition { path, failure },
                    variant,
                });
            }
            Verdict::Unknown { path, missing } => {
                return Err(Miss {
                    outcome: Outcome::NotApplicable,
                    reason: Reason::Missing { path, missing },
                    variant,
                });
            }
        }
    }

    // Tiers pick the effects.
    let (effects, tier, level): (&[Effect], Option<u32>, Option<usize>) = match &rule.tiers {
        None => (&rule.effects, None, None),
        Some(t) => {
            let count = count(rules, facts, t.window, t.downgrade)
                .saturating_add(u32::from(facts.completes_referral));
            match t
                .levels
                .iter()
                .enumerate()
                .rev()
                .find(|(_, l)| l.at <= count)
            {
                Some((k, level)) => (&level.effects, Some(level.at), Some(k)),
                None if rule.effects.is_empty() => {
                    return Err(Miss {
                        outcome: Outcome::NotMatched,
                        reason: Reason::BelowFirstTier {
                            count,
                            first: t.levels.first().map_or(0, |l| l.at),
                        },
                        variant,
                    });
                }
                None => (&rule.effects, None, None),
            }
        }
    };
    for (j, e) in effects.iter().enumerate() {
        let reward = match (&e.fixed, &e.percent) {
            (Some(r), _) => r.clone(),
            (None, Some(p)) => {
                let amount = event.amount().filter(|a| a.currency() == rules.currency());
                let Some(amount) = amount else {
                    return Err(Miss {
                        outcome: Outcome::NotApplicable,
                        reason: Reason::Missing {
                            path: effect_path(level, j, "percent"),
                            missing: match event.amount() {
                                Some(a) => Missing::Currency {
                                    amount: a,
                                    expected: rules.currency(),
                                },
                                None => Missing::OrderAmount,
                            },
                        },
                        variant,
                    });
                };
                p.pay_as.reward(p.amount_for(amount))
            }
            // Refused at load.
            (None, None) => continue,
        };
        let roles: &[Role] = match e.to {
            Beneficiary::Referrer => &[Role::Referrer],
            Beneficiary::Referee => &[Role::Referee],
            _ => &[Role::Referrer, Role::Referee],
        };
        for &role in roles {
            if role == Role::Referee && facts.referral.referee.is_none() {
                return Err(Miss {
                    outcome: Outcome::NotApplicable,
                    reason: Reason::Missing {
                        path: effect_path(level, j, "to"),
                        missing: Missing::Referee,
                    },
                    variant,
                });
            }
            grants.push(Grant {
                rule: rule.id.clone(),
                role,
                reward: reward.clone(),
                rule_set_version: rules.version(),
                terms_version: rules.terms_version(),
                variant: variant.clone(),
                once_key: once_key.clone(),
            });
        }
    }
    Ok((tier, variant))
}

/// `effects[j].field`, or `tiers.levels[k].effects[j].field`.
fn effect_path(level: Option<usize>, j: usize, field: &str) -> String {
    match level {
        None => format!("effects[{j}].{field}"),
        Some(k) => format!("tiers.levels[{k}].effects[{j}].{field}"),
    }
}

/// The trigger-specific test. `Ok(once_key)` if it fires.
#[allow(clippy::result_large_err)] // As for `check`.
fn trigger(rules: &RuleSet, rule: &Rule, facts: &Facts<'_>) -> Result<Option<String>, Miss> {
    let event = &facts.event;
    match (&rule.trigger, event) {
        (
            Trigger::FirstPurchase,
            EventFacts::Purchase {
                purchase_number, ..
            },
        ) if *purchase_number != 1 => Err(not_matched(Reason::NotFirstPurchase {
            purchase_number: *purchase_number,
        })),
        (
            Trigger::Purchase { up_to: Some(n) },
            EventFacts::Purchase {
                purchase_number, ..
            },
        ) if purchase_number > n => Err(not_matched(Reason::BeyondPurchaseLimit {
            purchase_number: *purchase_number,
            up_to: *n,
        })),
        (Trigger::PurchaseAtLeast { amount: least }, EventFacts::Purchase { amount, .. }) => {
            match amount.compare(least) {
                Err(_) => Err(Miss {
                    outcome: Outcome::NotApplicable,
                    reason: Reason::Missing {
                        path: "trigger.amount".into(),
                        missing: Missing::Currency {
                            amount: *amount,
                            expected: rules.currency(),
                        },
                    },
                    variant: None,
                }),
                Ok(std::cmp::Ordering::Less) => Err(not_matched(Reason::BelowAmount {
                    amount: *amount,
                    least: *least,
                })),
                Ok(_) => Ok(None),
            }
        }
        (Trigger::Share { limit: Some(l) }, EventFacts::Share { at, .. }) => {
            let recent = rewarded_shares(&facts.history.shares, *at, l.max, l.days);
            if recent >= l.max {
                Err(not_matched(Reason::ShareLimit {
                    recent,
                    max: l.max,
                    days: l.days,
                }))
            } else {
                Ok(None)
            }
        }
        (
            Trigger::Milestone {
                referrals,
                window,
                downgrade,
            },
            _,
        ) => {
            if !facts.completes_referral {
                return Err(not_matched(Reason::NoNewReferral));
            }
            let count = count(rules, facts, *window, *downgrade).saturating_add(1);
            if count < *referrals {
                return Err(not_matched(Reason::MilestoneNotReached {
                    count,
                    needed: *referrals,
                }));
            }
            let period = window.period(rules.time_zone(), event.at());
            let key = match period {
                Some(p) => format!("milestone:{}:{referrals}:{p}", rule.id),
                None => format!("milestone:{}:{referrals}:lifetime", rule.id),
            };
            if facts.history.granted_once_keys.contains(&key) {
                return Err(not_matched(Reason::AlreadyGranted { once_key: key }));
            }
            Ok(Some(key))
        }
        _ => Ok(None),
    }
}

/// The referrer's successful referrals in `window` as of the event (see
/// [`Tiers`](super::Tiers) for what counts).
fn count(rules: &RuleSet, facts: &Facts<'_>, window: Window, downgrade: Downgrade) -> u32 {
    let tz = rules.time_zone();
    let now = facts.event.at();
    let period: Option<Period> = window.period(tz, now);
    let n = facts
        .history
        .referrals
        .iter()
        .filter(|r| {
            window.holds(tz, now, period, r.at)
                && (downgrade == Downgrade::Never || r.reversed_at.is_none_or(|t| t > now))
        })
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Replays earlier shares: each is rewarded if fewer than `max` rewarded
/// shares lie in the `days` before it. Returns how many rewarded shares
/// lie in the `days` before `now`.
fn rewarded_shares(shares: &[DateTime<Utc>], now: DateTime<Utc>, max: u32, days: u32) -> u32 {
    let window = TimeDelta::days(i64::from(days));
    let mut sorted;
    let shares = if shares.is_sorted() {
        shares
    } else {
        sorted = shares.to_vec();
        sorted.sort();
        &sorted[..]
    };
    let mut rewarded: VecDeque<DateTime<Utc>> = VecDeque::new();
    for &s in shares.iter().take_while(|&&s| s < now) {
        while rewarded.front().is_some_and(|&r| s - r >= window) {
            rewarded.pop_front();
        }
        if rewarded.len() < max as usize {
            rewarded.push_back(s);
        }
    }
    while rewarded.front().is_some_and(|&r| now - r >= window) {
        rewarded.pop_front();
    }
    u32::try_from(rewarded.len()).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "tests/evaluate.rs"]
mod tests;

#[cfg(test)]
#[path = "tests/stacking.rs"]
mod stacking_tests;

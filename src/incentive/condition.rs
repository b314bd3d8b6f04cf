//! Conditions: a tree of `all`, `any` and `not` over typed predicates, and
//! its evaluation with the reason it failed.

use std::fmt;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::model::Channel;
use crate::money::{Currency, Money};
use crate::reward::{Label, Role};

use super::experiment::Experiment;
use super::facts::{AttributeValue, Facts};
use super::rule::{RuleSetError, TriggerKind};

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum CompareOp {
    /// Equal.
    #[serde(rename = "==")]
    Eq,
    /// Not equal.
    #[serde(rename = "!=")]
    Ne,
    /// Less than.
    #[serde(rename = "<")]
    Lt,
    /// Less than or equal.
    #[serde(rename = "<=")]
    Le,
    /// Greater than.
    #[serde(rename = ">")]
    Gt,
    /// Greater than or equal.
    #[serde(rename = ">=")]
    Ge,
}

impl CompareOp {
    /// Whether `ordering` (left compared with right) satisfies the operator.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        matches!(
            (self, ordering),
            (CompareOp::Eq, Equal)
                | (CompareOp::Ne, Less | Greater)
                | (CompareOp::Lt, Less)
                | (CompareOp::Le, Less | Equal)
                | (CompareOp::Gt, Greater)
                | (CompareOp::Ge, Greater | Equal)
        )
    }

    /// The operator that holds exactly when this one does not.
    pub fn negated(self) -> CompareOp {
        match self {
            CompareOp::Eq => CompareOp::Ne,
            CompareOp::Ne => CompareOp::Eq,
            CompareOp::Lt => CompareOp::Ge,
            CompareOp::Le => CompareOp::Gt,
            CompareOp::Gt => CompareOp::Le,
            CompareOp::Ge => CompareOp::Lt,
        }
    }

    /// `>=`, `<`, …
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
        }
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A tag or segment of one side: `{"side": "referrer", "is": "vip"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SideLabel {
    /// Whose.
    pub side: Role,
    /// Which tag or segment.
    pub is: Label,
}

/// An order amount comparison: `{"op": ">=", "amount": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmountTest {
    /// The order amount `op` this amount.
    pub op: CompareOp,
    /// In the rule set's currency.
    pub amount: Money,
}

/// The customer's variant of an experiment is one of `is`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantTest {
    /// The experiment (one of the rule set's).
    pub experiment: Label,
    /// Variants for which the predicate holds.
    pub is: Vec<Label>,
}

/// How an attribute value is tested.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum AttributeCheck {
    /// The value is one of these.
    In(Vec<AttributeValue>),
    /// The value is none of these.
    NotIn(Vec<AttributeValue>),
    /// The value is an integer and `value op n` holds.
    Compare {
        /// The operator.
        op: CompareOp,
        /// The right-hand side.
        value: i64,
    },
}

/// An eligibility attribute test:
/// `{"side": "referee", "name": "age_band", "test": {"not_in": ["under-18"]}}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributeTest {
    /// Whose attribute.
    pub side: Role,
    /// Its name.
    pub name: Label,
    /// The test.
    pub test: AttributeCheck,
}

/// A condition tree. Serialised externally tagged:
/// `{"all": [{"referee_is_new": true}, {"channel_in": ["whatsapp"]}]}`.
///
/// # Missing facts
///
/// A predicate over something the host did not send (an attribute, whether
/// the referee is new) cannot be decided. Such a rule is **not applicable**:
/// it grants nothing, and its trace names the missing fact. This holds
/// wherever the predicate sits in the tree, under `any` and `not` too:
/// eligibility rules (exclude minors) must not let a customer in because
/// the host forgot to say. The whole tree is evaluated (no short cut), so
/// the answer does not depend on the order of branches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Condition {
    /// Every branch holds (an empty `all` holds).
    All(Vec<Condition>),
    /// At least one branch holds (an empty `any` is refused at load).
    Any(Vec<Condition>),
    /// The branch does not hold.
    Not(Box<Condition>),
    /// Whether the referee is new to the business equals this.
    RefereeIsNew(bool),
    /// At most this many days (× 24 hours, exactly) since the referral.
    DaysSinceReferralAtMost(u32),
    /// The referral's channel (a share's channel for a share) is one of these.
    ChannelIn(Vec<Channel>),
    /// The side has this tag.
    Tag(SideLabel),
    /// The side is in this segment.
    Segment(SideLabel),
    /// The order amount compares so (purchase triggers only).
    OrderAmount(AmountTest),
    /// The customer's variant of an experiment.
    Variant(VariantTest),
    /// An eligibility attribute.
    Attribute(AttributeTest),
}

/// Why a predicate did not hold, with the values compared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "predicate", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Failure {
    /// `referee_is_new` wanted `expected`.
    RefereeIsNew {
        /// What the rule wanted.
        expected: bool,
    },
    /// Too long since the referral.
    DaysSinceReferral {
        /// Seconds since the referral.
        elapsed_seconds: i64,
        /// The rule's limit in days.
        max_days: u32,
    },
    /// The channel is not one of the allowed.
    Channel {
        /// The channel.
        channel: Channel,
        /// What the rule allows.
        allowed: Vec<Channel>,
    },
    /// The side lacks the tag.
    Tag {
        /// Whose.
        side: Role,
        /// The tag.
        tag: Label,
    },
    /// The side is not in the segment.
    Segment {
        /// Whose.
        side: Role,
        /// The segment.
        segment: Label,
    },
    /// The order amount comparison failed.
    OrderAmount {
        /// The order amount.
        amount: Money,
        /// The rule's operator.
        op: CompareOp,
        /// The rule's amount.
        threshold: Money,
    },
    /// The variant is not one of the wanted.
    Variant {
        /// The experiment.
        experiment: Label,
        /// The customer's variant.
        variant: Label,
        /// What the rule wants.
        wanted: Vec<Label>,
    },
    /// The attribute test failed.
    Attribute {
        /// Whose.
        side: Role,
        /// The attribute.
        name: Label,
        /// Its value.
        value: AttributeValue,
        /// The test.
        test: AttributeCheck,
    },
    /// The condition under `not` held.
    NotHeld,
    /// No branch of an `any` held.
    NoBranch {
        /// How many branches there were.
        branches: usize,
    },
}

fn list<T: fmt::Display>(items: &[T]) -> String {
    let parts: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::RefereeIsNew { expected: true } => f.write_str("the referee is not new"),
            Failure::RefereeIsNew { expected: false } => f.write_str("the referee is new"),
            Failure::DaysSinceReferral {
                elapsed_seconds,
                max_days,
            } => {
                let (d, rest) = (elapsed_seconds / 86_400, elapsed_seconds % 86_400);
                write!(
                    f,
                    "{d} days {:02}:{:02}:{:02} since the referral > {max_days} days",
                    rest / 3600,
                    rest % 3600 / 60,
                    rest % 60
                )
            }
            Failure::Channel { channel, allowed } => {
                write!(f, "channel {channel} not in {}", list(allowed))
            }
            Failure::Tag { side, tag } => write!(f, "the {side} has no tag {:?}", tag.as_str()),
            Failure::Segment { side, segment } => {
                write!(f, "the {side} is not in segment {:?}", segment.as_str())
            }
            Failure::OrderAmount {
                amount,
                op,
                threshold,
            } => write!(f, "order amount {amount} {} {threshold}", op.negated()),
            Failure::Variant {
                experiment,
                variant,
                wanted,
            } => write!(
                f,
                "experiment {experiment}: variant {variant} not in {}",
                list(wanted)
            ),
            Failure::Attribute {
                side,
                name,
                value,
                test,
            } => match test {
                AttributeCheck::In(values) => {
                    write!(f, "{side} {name} {value} not in {}", list(values))
                }
                AttributeCheck::NotIn(values) => {
                    write!(f, "{side} {name} {value} in {}", list(values))
                }
                AttributeCheck::Compare { op, value: rhs } => {
                    write!(f, "{side} {name} {value} {} {rhs}", op.negated())
                }
            },
            Failure::NotHeld => f.write_str("the condition under `not` held"),
            Failure::NoBranch { branches } => write!(f, "none of {branches} branches held"),
        }
    }
}

/// A fact a predicate needed and the host did not send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "missing", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Missing {
    /// An attribute.
    Attribute {
        /// Whose.
        side: Role,
        /// Which.
        name: Label,
    },
    /// An attribute compared as a number holds text.
    NotANumber {
        /// Whose.
        side: Role,
        /// Which.
        name: Label,
        /// The text.
        value: String,
    },
    /// Whether the referee is new.
    RefereeIsNew,
    /// The event has no order amount.
    OrderAmount,
    /// The order amount is in another currency than the rule set's.
    Currency {
        /// The order amount.
        amount: Money,
        /// The rule set's currency.
        expected: Currency,
    },
    /// The event has no referee (a share).
    Referee,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Attribute { side, name } => {
                write!(f, "the host sent no {side} attribute {:?}", name.as_str())
            }
            Missing::NotANumber { side, name, value } => {
                write!(
                    f,
                    "{side} attribute {:?} is {value:?}, not a number",
                    name.as_str()
                )
            }
            Missing::RefereeIsNew => f.write_str("the host did not say whether the referee is new"),
            Missing::OrderAmount => f.write_str("the event has no order amount"),
            Missing::Currency { amount, expected } => {
                write!(f, "order amount {amount} is not in {expected}")
            }
            Missing::Referee => f.write_str("the event has no referee"),
        }
    }
}

/// One step of a path into a condition tree.
#[derive(Debug, Clone, Copy)]
enum Seg {
    All(usize),
    Any(usize),
    Not,
    Leaf(&'static str),
}

/// Renders a path built leaf first: `when.all[1].order_amount`.
fn render(path: &[Seg]) -> String {
    let mut s = String::from("when");
    for seg in path.iter().rev() {
        match seg {
            Seg::All(i) => s.push_str(&format!(".all[{i}]")),
            Seg::Any(i) => s.push_str(&format!(".any[{i}]")),
            Seg::Not => s.push_str(".not"),
            Seg::Leaf(name) => {
                s.push('.');
                s.push_str(name);
            }
        }
    }
    s
}

/// The outcome of a condition: holds, fails (why, where), or cannot be
/// decided (what is missing, where).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Holds,
    Fails { path: String, failure: Failure },
    Unknown { path: String, missing: Missing },
}

enum Out {
    True,
    False(Vec<Seg>, Failure),
    Unknown(Vec<Seg>, Missing),
}

/// What a condition is evaluated against.
pub(crate) struct Env<'f, 'a> {
    pub(crate) facts: &'f Facts<'a>,
    pub(crate) currency: Currency,
    /// The variant of the rule's experiment, resolved once per rule.
    pub(crate) variant: Option<&'f Label>,
}

impl Condition {
    fn leaf_name(&self) -> &'static str {
        match self {
            Condition::All(_) => "all",
            Condition::Any(_) => "any",
            Condition::Not(_) => "not",
            Condition::RefereeIsNew(_) => "referee_is_new",
            Condition::DaysSinceReferralAtMost(_) => "days_since_referral_at_most",
            Condition::ChannelIn(_) => "channel_in",
            Condition::Tag(_) => "tag",
            Condition::Segment(_) => "segment",
            Condition::OrderAmount(_) => "order_amount",
            Condition::Variant(_) => "variant",
            Condition::Attribute(_) => "attribute",
        }
    }

    /// Evaluates the tree against `env`.
    pub(crate) fn verdict(&self, env: &Env<'_, '_>) -> Verdict {
        match self.eval(env) {
            Out::True => Verdict::Holds,
            Out::False(path, failure) => Verdict::Fails {
                path: render(&path),
                failure,
            },
            Out::Unknown(path, missing) => Verdict::Unknown {
                path: render(&path),
                missing,
            },
        }
    }

    fn eval(&self, env: &Env<'_, '_>) -> Out {
        let facts = env.facts;
        let leaf = |r: Result<bool, Failure>| match r {
            Ok(true) => Out::True,
            Ok(false) => Out::False(vec![Seg::Leaf(self.leaf_name())], Failure::NotHeld),
            Err(f) => Out::False(vec![Seg::Leaf(self.leaf_name())], f),
        };
        let unknown = |m: Missing| Out::Unknown(vec![Seg::Leaf(self.leaf_name())], m);
        match self {
            Condition::All(items) => {
                let mut first_false = None;
                for (i, c) in items.iter().enumerate() {
                    match c.eval(env) {
                        Out::True => {}
                        Out::Unknown(mut p, m) => {
                            p.push(Seg::All(i));
                            return Out::Unknown(p, m);
                        }
                        Out::False(mut p, f) => {
                            if first_false.is_none() {
                                p.push(Seg::All(i));
                                first_false = Some((p, f));
                            }
                        }
                    }
                }
                match first_false {
                    None => Out::True,
                    Some((p, f)) => Out::False(p, f),
                }
            }
            Condition::Any(items) => {
                let mut any_true = false;
                for (i, c) in items.iter().enumerate() {
                    match c.eval(env) {
                        Out::True => any_true = true,
                        Out::Unknown(mut p, m) => {
                            p.push(Seg::Any(i));
                            return Out::Unknown(p, m);
                        }
                        Out::False(..) => {}
                    }
                }
                if any_true {
                    Out::True
                } else {
                    Out::False(
                        vec![Seg::Leaf("any")],
                        Failure::NoBranch {
                            branches: items.len(),
                        },
                    )
                }
            }
            Condition::Not(inner) => match inner.eval(env) {
                Out::True => Out::False(vec![Seg::Not], Failure::NotHeld),
                Out::False(..) => Out::True,
                Out::Unknown(mut p, m) => {
                    p.push(Seg::Not);
                    Out::Unknown(p, m)
                }
            },
            Condition::RefereeIsNew(expected) => match facts.referral.referee_is_new {
                None => unknown(Missing::RefereeIsNew),
                Some(actual) => leaf(if actual == *expected {
                    Ok(true)
                } else {
                    Err(Failure::RefereeIsNew {
                        expected: *expected,
                    })
                }),
            },
            Condition::DaysSinceReferralAtMost(days) => {
                let elapsed = facts.event.at() - facts.referral.referred_at;
                leaf(if elapsed <= TimeDelta::days(i64::from(*days)) {
                    Ok(true)
                } else {
                    Err(Failure::DaysSinceReferral {
                        elapsed_seconds: elapsed.num_seconds(),
                        max_days: *days,
                    })
                })
            }
            Condition::ChannelIn(allowed) => {
                let channel = match &facts.event {
                    super::facts::EventFacts::Share { channel, .. } => channel,
                    _ => &facts.referral.channel,
                };
                leaf(if allowed.contains(channel) {
                    Ok(true)
                } else {
                    Err(Failure::Channel {
                        channel: channel.clone(),
                        allowed: allowed.clone(),
                    })
                })
            }
            Condition::Tag(t) => {
                let who = side(facts, t.side);
                if t.side == Role::Referee && facts.referral.referee.is_none() {
                    return unknown(Missing::Referee);
                }
                leaf(if who.tags.contains(&t.is) {
                    Ok(true)
                } else {
                    Err(Failure::Tag {
                        side: t.side,
                        tag: t.is.clone(),
                    })
                })
            }
            Condition::Segment(t) => {
                let who = side(facts, t.side);
                if t.side == Role::Referee && facts.referral.referee.is_none() {
                    return unknown(Missing::Referee);
                }
                leaf(if who.segments.contains(&t.is) {
                    Ok(true)
                } else {
                    Err(Failure::Segment {
                        side: t.side,
                        segment: t.is.clone(),
                    })
                })
            }
            Condition::OrderAmount(t) => {
                let Some(amount) = facts.event.amount() else {
                    return unknown(Missing::OrderAmount);
                };
                match amount.compare(&t.amount) {
                    Err(_) => unknown(Missing::Currency {
                        amount,
                        expected: env.currency,
                    }),
                    Ok(o) => leaf(if t.op.holds(o) {
                        Ok(true)
                    } else {
                        Err(Failure::OrderAmount {
                            amount,
                            op: t.op,
                            threshold: t.amount,
                        })
                    }),
                }
            }
            Condition::Variant(t) => match env.variant {
                // The rule's experiment could not be assigned (its unit
                // is the referee and there is none).
                None => unknown(Missing::Referee),
                Some(v) => leaf(if t.is.contains(v) {
                    Ok(true)
                } else {
                    Err(Failure::Variant {
                        experiment: t.experiment.clone(),
                        variant: v.clone(),
                        wanted: t.is.clone(),
                    })
                }),
            },
            Condition::Attribute(t) => {
                let Some(value) = side(facts, t.side).attributes.get(&t.name) else {
                    return unknown(Missing::Attribute {
                        side: t.side,
                        name: t.name.clone(),
                    });
                };
                let holds = match &t.test {
                    AttributeCheck::In(values) => values.contains(value),
                    AttributeCheck::NotIn(values) => !values.contains(value),
                    AttributeCheck::Compare { op, value: rhs } => match value {
                        AttributeValue::Integer(n) => op.holds(n.cmp(rhs)),
                        AttributeValue::Text(text) => {
                            return unknown(Missing::NotANumber {
                                side: t.side,
                                name: t.name.clone(),
                                value: text.clone(),
                            });
                        }
                    },
                };
                leaf(if holds {
                    Ok(true)
                } else {
                    Err(Failure::Attribute {
                        side: t.side,
                        name: t.name.clone(),
                        value: value.clone(),
                        test: t.test.clone(),
                    })
                })
            }
        }
    }

    /// Checks the tree at load: currencies, experiments and variants exist,
    /// an order amount only on purchase triggers, one experiment per rule.
    pub(crate) fn validate(&self, path: &str, cx: &mut Check<'_>) -> Result<(), RuleSetError> {
        let here = format!("{path}.{}", self.leaf_name());
        match self {
            Condition::All(items) => {
                for (i, c) in items.iter().enumerate() {
                    c.validate(&format!("{path}.all[{i}]"), cx)?;
                }
            }
            Condition::Any(items) => {
                if items.is_empty() {
                    return Err(cx.err(here, "an empty `any` never holds".into()));
                }
                for (i, c) in items.iter().enumerate() {
                    c.validate(&format!("{path}.any[{i}]"), cx)?;
                }
            }
            Condition::Not(inner) => inner.validate(&here, cx)?,
            Condition::RefereeIsNew(_) | Condition::DaysSinceReferralAtMost(_) => {}
            Condition::ChannelIn(c) => {
                if c.is_empty() {
                    return Err(cx.err(here, "an empty channel list never holds".into()));
                }
            }
            Condition::Tag(t) | Condition::Segment(t) => {
                if t.side == Role::Referee && cx.trigger == TriggerKind::Share {
                    return Err(cx.err(format!("{here}.side"), "a share has no referee".into()));
                }
            }
            Condition::OrderAmount(t) => {
                if cx.trigger != TriggerKind::Purchase {
                    return Err(cx.err(
                        here,
                        format!("a {} has no order amount", cx.trigger.as_str()),
                    ));
                }
                if t.amount.currency() != cx.currency {
                    return Err(cx.err(
                        format!("{here}.amount"),
                        format!(
                            "{} is not in the rule set's currency {}",
                            t.amount, cx.currency
                        ),
                    ));
                }
            }
            Condition::Variant(t) => {
                let Some(e) = cx.experiments.iter().find(|e| e.id == t.experiment) else {
                    return Err(cx.err(
                        format!("{here}.experiment"),
                        format!("no experiment {:?} in the rule set", t.experiment.as_str()),
                    ));
                };
                for (i, v) in t.is.iter().enumerate() {
                    if !e.variants.iter().any(|x| &x.id == v) {
                        return Err(cx.err(
                            format!("{here}.is[{i}]"),
                            format!(
                                "experiment {:?} has no variant {:?}",
                                e.id.as_str(),
                                v.as_str()
                            ),
                        ));
                    }
                }
                match &cx.experiment {
                    Some(other) if *other != t.experiment => {
                        return Err(cx.err(
                            format!("{here}.experiment"),
                            format!(
                                "a rule depends on one experiment; this one already uses {:?}",
                                other.as_str()
                            ),
                        ));
                    }
                    _ => cx.experiment = Some(t.experiment.clone()),
                }
                if e.unit == Role::Referee && cx.trigger == TriggerKind::Share {
                    return Err(cx.err(
                        format!("{here}.experiment"),
                        "assigns referees, and a share has no referee".into(),
                    ));
                }
            }
            Condition::Attribute(t) => {
                if t.side == Role::Referee && cx.trigger == TriggerKind::Share {
                    return Err(cx.err(format!("{here}.side"), "a share has no referee".into()));
                }
            }
        }
        Ok(())
    }
}

fn side<'a>(facts: &Facts<'a>, role: Role) -> &'a super::facts::CustomerFacts {
    match role {
        Role::Referrer => facts.referrer,
        Role::Referee => facts.referee,
    }
}

/// Load-time context for validating one rule's conditions.
pub(crate) struct Check<'a> {
    pub(crate) rule: &'a Label,
    pub(crate) currency: Currency,
    pub(crate) experiments: &'a [Experiment],
    pub(crate) trigger: TriggerKind,
    /// The experiment the rule's conditions use, once seen.
    pub(crate) experiment: Option<Label>,
}

impl Check<'_> {
    pub(crate) fn err(&self, path: String, problem: String) -> RuleSetError {
        RuleSetError {
            path,
            rule: Some(self.rule.clone()),
            problem,
        }
    }
}

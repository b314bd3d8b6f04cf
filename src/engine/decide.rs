//! The decisions, sans-IO: plain data in (the event and what the engine
//! read), an outcome and a [`CommitPlan`] out. Nothing here awaits, locks
//! or reads the clock, so every rule is testable with plain values.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::book::{
    self, Booked, Counters, PlannedReward, Screen, Source, Step, book_rewards, claw_back,
};
use crate::fraud::policy::Action;
use std::collections::BTreeMap;

use crate::attribution::{Attribution, Credit, TouchPoint, attribute};
use crate::code::Code;
use crate::error::{Error, ErrorKind};
use crate::incentive::{
    CustomerFacts, EventFacts, Facts, PastReferral, ReferralFacts, ReferrerHistory, RuleSet,
    evaluate,
};
use crate::ledger::{DeliveryState, OutboxItem, Reward};
use crate::model::{
    Actor, Channel, Conversion, CustomerId, DeliveryId, Refund, RefundAmount, RewardId, Signup,
    Touch, TouchKind,
};
use crate::money::Money;
use crate::program::{Incentive, Program, ReferrerSplit, TwoSidedReward};
use crate::reward::Label;
use crate::reward::RewardKind;
use crate::store::{
    AssignmentRecord, CodeOrigin, CodeRecord, CodeUnusable, CommitPlan, ConversionOutcome,
    ConversionRecord, CustomerRecord, IdempotencyRecord, Outcome, Reason, Referral, RefundOutcome,
    Request, Role, SignupOutcome, TouchOutcome, TouchRecord, Versioned, Write,
};

/// How many referrals each code with a use limit has made, as read from
/// its use counter (codes without a limit need no entry).
pub type CodeUses = HashMap<Code, i64>;

/// Whether a code can refer someone at `at`, given how many referrals it
/// made (`uses`, from its use counter).
///
/// # Errors
/// The first reason that applies: inactive, expired, exhausted.
pub fn code_usable(record: &CodeRecord, uses: i64, at: DateTime<Utc>) -> Result<(), CodeUnusable> {
    // A coupon is not a referral code: it refers nobody.
    if record.origin == CodeOrigin::Coupon {
        return Err(CodeUnusable::Unknown);
    }
    if !record.active {
        return Err(CodeUnusable::Inactive);
    }
    if record.expires_at.is_some_and(|e| at >= e) {
        return Err(CodeUnusable::Expired);
    }
    if record.max_uses.is_some_and(|m| uses >= i64::from(m)) {
        return Err(CodeUnusable::Exhausted);
    }
    Ok(())
}

fn uses_of(uses: &CodeUses, code: &Code) -> i64 {
    uses.get(code).copied().unwrap_or(0)
}

/// An outcome and the writes that make it true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision<O> {
    /// What the engine will answer once the plan is committed.
    pub outcome: O,
    /// Everything to write, in one atomic commit.
    pub plan: CommitPlan,
}

fn remember(program: &Program, request: Request, outcome: Outcome) -> Option<IdempotencyRecord> {
    Some(IdempotencyRecord {
        program: program.id().clone(),
        key: request.key(),
        request,
        outcome,
    })
}

/// Decides a touch: stored if its code can refer someone at the touch's
/// time and the toucher is not the owner; otherwise ignored with a reason.
pub fn touch(
    program: &Program,
    touch: &Touch,
    code: Option<&Versioned<CodeRecord>>,
    uses: &CodeUses,
    inputs: &RuleInputs,
    counters: &mut Counters,
) -> Result<Step<Decision<TouchOutcome>>, Error> {
    let verdict = if !program.is_active_at(touch.at) {
        Err(Reason::ProgramNotActive)
    } else {
        match code {
            None => Err(Reason::UnknownCode),
            Some(c) => match code_usable(&c.record, uses_of(uses, &touch.code), touch.at) {
                Err(u) => Err(u.into()),
                // A referrer sharing their own code is recorded (for
                // measurement); their own click or visit is self-referral.
                Ok(())
                    if touch.kind != TouchKind::Share
                        && matches!(&touch.actor, Actor::Customer(id) if *id == c.record.owner) =>
                {
                    Err(Reason::SelfReferral)
                }
                Ok(()) => Ok(c.record.owner.clone()),
            },
        }
    };
    let (outcome, writes) = match verdict {
        Ok(referrer) => {
            // A referrer sharing their own code may earn under share rules.
            let booked = if is_own_share(touch, &referrer) {
                let event = EventFacts::Share {
                    channel: touch.channel.clone(),
                    at: touch.at,
                };
                let referral = ReferralFacts {
                    referrer: referrer.clone(),
                    referee: None,
                    channel: touch.channel.clone(),
                    referred_at: touch.at,
                    referee_is_new: None,
                };
                let source = Source::Share(&touch.id);
                match event_rewards(program, source, event, referral, inputs, counters)? {
                    Step::Read(keys) => return Ok(Step::Read(keys)),
                    Step::Done(b) => b,
                }
            } else {
                Booked::default()
            };
            let mut writes = booked.writes;
            writes.push(Write::InsertTouch(TouchRecord {
                program: program.id().clone(),
                referrer: referrer.clone(),
                touch: touch.clone(),
            }));
            (
                TouchOutcome::Recorded {
                    referrer,
                    rewards: booked.payouts,
                },
                writes,
            )
        }

        Err(reason) => (TouchOutcome::Ignored { reason }, Vec::new()),
    };
    Ok(Step::Done(Decision {
        plan: CommitPlan {
            idempotency: remember(
                program,
                Request::Touch(touch.clone()),
                Outcome::Touch(outcome.clone()),
            ),
            writes,
        },
        outcome,
    }))
}

/// Whether a touch is a referrer sharing their own code (what share rules
/// reward).
pub fn is_own_share(touch: &Touch, owner: &CustomerId) -> bool {
    touch.kind == TouchKind::Share && matches!(&touch.actor, Actor::Customer(id) if id == owner)
}

/// One way a new customer may have been referred: a code typed at signup
/// or a touch made as a visitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Orders candidates at the same instant (the touch or signup id).
    pub id: String,
    /// Typed into the signup form (rather than a visitor's touch).
    pub typed: bool,
    /// The code.
    pub code: Code,
    /// The channel it came through.
    pub channel: Channel,
    /// Click, visit or share; [`TouchKind::Typed`] for a typed code.
    pub kind: TouchKind,
    /// When.
    pub at: DateTime<Utc>,
}

/// The candidates for a signup's referral: the code typed at signup (at
/// the signup's time) and the visitor's touches up to the signup.
pub fn signup_candidates(signup: &Signup, visitor_touches: &[TouchRecord]) -> Vec<Candidate> {
    let mut out = Vec::with_capacity(visitor_touches.len() + 1);
    if let Some(code) = signup.code {
        out.push(Candidate {
            id: signup.id.as_str().to_owned(),
            typed: true,
            code,
            channel: signup.channel.clone().unwrap_or(Channel::Link),
            // The referee's own deliberate act: it counts under any policy.
            kind: TouchKind::Typed,
            at: signup.at,
        });
    }
    for t in visitor_touches {
        let tt = &t.touch;
        if tt.at <= signup.at {
            out.push(Candidate {
                id: tt.id.as_str().to_owned(),
                typed: false,
                code: tt.code,
                channel: tt.channel.clone(),
                kind: tt.kind,
                at: tt.at,
            });
        }
    }
    out
}

/// What the engine read for a signup.
#[derive(Debug, Clone, Copy)]
pub struct SignupReads<'a> {
    /// The customer, if they signed up before.
    pub existing: Option<&'a Versioned<CustomerRecord>>,
    /// The ways they may have been referred ([`signup_candidates`]).
    pub candidates: &'a [Candidate],
    /// The candidates' codes.
    pub codes: &'a HashMap<Code, Versioned<CodeRecord>>,
    /// How many referrals the codes with a use limit made.
    pub uses: &'a CodeUses,
    /// The customer records of the codes' owners who signed up.
    pub owners: &'a [CustomerRecord],
}

/// Decides a signup. Candidates whose code cannot refer the customer at
/// signup time (unknown, expired, exhausted, inactive, or their own) are
/// set aside with their reason. `owners` are the customer records of the
/// codes' owners who signed up; a code is also set aside when its owner
/// signed up on this signup's own visitor id (a second account on the
/// referrer's own browser or device: [`Reason::SelfReferral`]) or was
/// referred by the customer now signing up (a two-person ring:
/// [`Reason::ReferralRing`]). A usable code typed into the signup form
/// makes the referral whatever the model (it is the referee's explicit
/// choice); otherwise the program's attribution policy names the referrer
/// among the usable touches, and that referrer's latest code is used once.
/// All usable candidates are kept as the customer's qualifying touches.
///
/// # Errors
/// [`ErrorKind::Duplicate`] if the customer already signed up.
pub fn signup(
    program: &Program,
    signup: &Signup,
    reads: &SignupReads<'_>,
    inputs: &RuleInputs,
    counters: &mut Counters,
) -> Result<Step<Decision<SignupOutcome>>, Error> {
    let SignupReads {
        existing,
        candidates,
        codes,
        uses,
        owners,
    } = *reads;
    if let Some(e) = existing {
        return Err(Error::new(
            ErrorKind::Duplicate,
            format!(
                "signup.customer: {} already signed up in program {} at {}",
                signup.customer,
                program.id(),
                e.record.signed_up_at
            ),
        ));
    }
    let policy = program.attribution();
    let from = window_start(signup.at, policy.lookback());
    let mut writes = Vec::with_capacity(2);
    let mut first_reason = None;
    let mut usable: Vec<(&Candidate, &Versioned<CodeRecord>)> = Vec::new();
    if !program.is_active_at(signup.at) {
        first_reason = Some(Reason::ProgramNotActive);
    } else {
        // Latest first, so the reason reported is the most recent one's.
        let mut ordered: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| {
                c.typed
                    || (c.at >= from
                        && (c.kind == TouchKind::Typed || policy.counted_kinds.contains(&c.kind)))
            })
            .collect();
        ordered.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
        for c in ordered {
            let verdict = match codes.get(&c.code) {
                None => Err(Reason::UnknownCode),
                Some(v) if v.record.owner == signup.customer => Err(Reason::SelfReferral),
                Some(v) => match owners.iter().find(|o| o.customer == v.record.owner) {
                    Some(o) if signup.visitor.is_some() && o.visitor == signup.visitor => {
                        Err(Reason::SelfReferral)
                    }
                    Some(o)
                        if o.referral
                            .as_ref()
                            .is_some_and(|r| r.referrer == signup.customer) =>
                    {
                        Err(Reason::ReferralRing)
                    }
                    _ => code_usable(&v.record, uses_of(uses, &c.code), signup.at)
                        .map_err(Reason::from)
                        .map(|()| v),
                },
            };
            match verdict {
                Ok(v) => usable.push((c, v)),
                Err(reason) => {
                    first_reason.get_or_insert(reason);
                }
            }
        }
    }
    let points: Vec<TouchPoint> = usable
        .iter()
        .map(|(c, v)| TouchPoint {
            id: c.id.clone(),
            referrer: v.record.owner.clone(),
            channel: c.channel.clone(),
            kind: c.kind,
            at: c.at,
        })
        .collect();
    let credited = attribute(policy, &points, signup.at);
    let typed = usable.iter().find(|(c, _)| c.typed);
    let chosen = match typed {
        Some((_, v)) => Some(&v.record.owner),
        None => credited.primary().map(|p| &p.referrer),
    };
    // A screening that rejects both sides refuses the referral itself:
    // the customer signs up unreferred and the code is not used up.
    let refused = inputs.screen.as_ref().is_some_and(|s| {
        s.action(Role::Referrer) == Action::Reject && s.action(Role::Referee) == Action::Reject
    });
    let chosen = if refused {
        first_reason = Some(Reason::SuspectedFraud);
        None
    } else {
        chosen
    };
    let referral = chosen.and_then(|referrer| {
        // The typed code, or the referrer's latest usable candidate (usable
        // is latest first), is the code that is used.
        let (c, v) = typed.or_else(|| usable.iter().find(|(_, v)| v.record.owner == *referrer))?;
        // One conditional increment, not a versioned write of the code:
        // concurrent signups through one popular code do not conflict, and
        // a limit still admits exactly `max_uses`.
        writes.push(Write::AddToCounter {
            key: crate::ledger::CounterKey::code_uses(program.id(), &c.code),
            delta: 1,
            limit: v.record.max_uses.map(i64::from),
        });
        Some(Referral {
            referrer: referrer.clone(),
            code: c.code,
            channel: c.channel.clone(),
            touched_at: c.at,
        })
    });
    writes.push(Write::PutCustomer {
        record: CustomerRecord {
            program: program.id().clone(),
            customer: signup.customer.clone(),
            signed_up_at: signup.at,
            visitor: signup.visitor.clone(),
            referral: referral.clone(),
            // A refused referral leaves no touch to credit later either.
            qualifying_touches: if refused { Vec::new() } else { points },
            rewarded_conversions: 0,
            purchases: 0,
            screening: inputs.screen.as_ref().and_then(Screen::kept),
        },
        expected: 0,
    });
    let outcome = match referral {
        Some(referral) => {
            let event = EventFacts::Signup { at: signup.at };
            let facts = ReferralFacts {
                referrer: referral.referrer.clone(),
                referee: Some(signup.customer.clone()),
                channel: referral.channel.clone(),
                referred_at: referral.touched_at,
                referee_is_new: inputs.host.referee_is_new,
            };
            let source = Source::Signup(&signup.id);
            let booked = match event_rewards(program, source, event, facts, inputs, counters)? {
                Step::Read(keys) => return Ok(Step::Read(keys)),
                Step::Done(b) => b,
            };
            writes.extend(booked.writes);
            SignupOutcome::Referred {
                referral,
                rewards: booked.payouts,
            }
        }

        None => SignupOutcome::NotReferred {
            reason: first_reason.unwrap_or(Reason::NoQualifyingTouch),
        },
    };
    Ok(Step::Done(Decision {
        plan: CommitPlan {
            idempotency: remember(
                program,
                Request::Signup(signup.clone()),
                Outcome::Signup(outcome.clone()),
            ),
            writes,
        },
        outcome,
    }))
}

/// The touches that may credit a referrer for a conversion: those that
/// qualified when the customer signed up and, for a customer who was
/// referred, the touches they made since signing up whose code is still
/// active and unexpired at the order's time and not their own.
///
/// The signup's touches count whatever their codes' later state, because
/// the referral was made when they were valid. A customer who signed up
/// without a referrer stays unreferred: clicking a friend's link later does
/// not make them anyone's referee.
pub fn conversion_touches(
    customer: &CustomerRecord,
    touches: &[TouchRecord],
    codes: &HashMap<Code, Versioned<CodeRecord>>,
    converted_at: DateTime<Utc>,
) -> Vec<TouchPoint> {
    let mut points = customer.qualifying_touches.clone();
    if customer.referral.is_none() {
        return points;
    }
    for t in touches {
        let tt = &t.touch;
        if t.referrer == customer.customer || tt.at < customer.signed_up_at {
            continue;
        }
        let usable = codes.get(&tt.code).is_some_and(|c| {
            c.record.active && c.record.expires_at.is_none_or(|e| converted_at < e)
        });
        if usable {
            points.push(TouchPoint {
                id: tt.id.as_str().to_owned(),
                referrer: t.referrer.clone(),
                channel: tt.channel.clone(),
                kind: tt.kind,
                at: tt.at,
            });
        }
    }
    points
}

/// Where a lookback window that ends at `at` starts; the earliest
/// representable instant if it would reach before it (never a panic on
/// extreme times).
pub(crate) fn window_start(at: DateTime<Utc>, lookback: chrono::TimeDelta) -> DateTime<Utc> {
    at.checked_sub_signed(lookback)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Who a conversion credits, and in what shares: `Ok(referrer)` (the one
/// paid per referral) or why nobody. `Err` carries the referrer when one
/// was credited but the order earns nothing.
type Verdict = Result<CustomerId, (Option<CustomerId>, Reason)>;

fn credit(
    program: &Program,
    conversion: &Conversion,
    c: &Versioned<CustomerRecord>,
    touches: &[TouchRecord],
    codes: &HashMap<Code, Versioned<CodeRecord>>,
) -> (Verdict, Vec<Credit>) {
    // Bought before signing up: not a referred purchase.
    if conversion.at < c.record.signed_up_at {
        return (Err((None, Reason::NotSignedUp)), Vec::new());
    }
    if !program.is_active_at(conversion.at) {
        return (Err((None, Reason::ProgramNotActive)), Vec::new());
    }
    let points = conversion_touches(&c.record, touches, codes, conversion.at);
    let credited = attribute(program.attribution(), &points, conversion.at);
    let credits = credited.credits().to_vec();
    // A code the referee typed at signup made the referral whatever the
    // model (their explicit choice): while the signup is inside the
    // lookback, its owner is the one paid per referral, as at signup, even
    // where the model gives it no weight (first touch). Shares follow the
    // model. Rules always pay per referral.
    let per_referral = match program.incentive() {
        Incentive::TwoSided(reward) => reward.referrer_split == ReferrerSplit::Primary,
        _ => true,
    };
    let from = window_start(conversion.at, program.lookback());
    let typed = c.record.referral.as_ref().and_then(|referral| {
        c.record.qualifying_touches.iter().find(|t| {
            per_referral
                && t.kind == TouchKind::Typed
                && t.at == c.record.signed_up_at
                && t.at == referral.touched_at
                && t.referrer == referral.referrer
                && t.at >= from
                && t.at <= conversion.at
                && credited.primary().is_some()
        })
    });
    let verdict = match typed
        .map(|t| &t.referrer)
        .or(credited.primary().map(|p| &p.referrer))
    {
        Some(primary) => Ok(primary.clone()),
        None if c.record.referral.is_some() || !c.record.qualifying_touches.is_empty() => {
            // The referrer of record is known: say who, so the host can tell
            // the referee whose window ran out.
            Err((
                c.record.referral.as_ref().map(|r| r.referrer.clone()),
                Reason::OutsideLookback,
            ))
        }
        None => Err((None, Reason::NoQualifyingTouch)),
    };
    (verdict, credits)
}

/// The referrer a conversion would pay per referral, if any: what the
/// engine needs to know to read that referrer's history before deciding
/// under incentive rules.
pub fn conversion_referrer(
    program: &Program,
    conversion: &Conversion,
    customer: Option<&Versioned<CustomerRecord>>,
    touches: &[TouchRecord],
    codes: &HashMap<Code, Versioned<CodeRecord>>,
) -> Option<CustomerId> {
    customer.and_then(|c| credit(program, conversion, c, touches, codes).0.ok())
}

/// What the host says about the two customers of a referral, for
/// incentive rules (tags, segments, eligibility attributes such as an age
/// band or a region). Facts the host does not send make the rules that
/// test them not applicable; they are never an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct HostFacts {
    /// The referrer.
    pub referrer: CustomerFacts,
    /// The referee (the buyer).
    pub referee: CustomerFacts,
    /// Whether the referee is new to the host's business.
    pub referee_is_new: Option<bool>,
    /// The site the referee came from at signup (the `Referer` of the
    /// click that brought them: a URL or a host name), for the fraud
    /// screening's code-leakage check (one code spread on a coupon site).
    /// A value that is neither is ignored, like any fact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referring_site: Option<String>,
}

/// What incentive rules decide on beyond the event, as the engine read it.
#[derive(Debug, Clone, Default)]
pub struct RuleInputs {
    /// Whether these were read for the event (signup and share rules are
    /// evaluated only on read inputs: a first pass that only names the
    /// referrer grants nothing).
    pub loaded: bool,
    /// From the host.
    pub host: HostFacts,
    /// The referrer's successful referrals and shares (excluding this
    /// event), derived from the store.
    pub history: ReferrerHistory,
    /// Experiment variants recorded at first exposure.
    pub variants: BTreeMap<Label, Label>,
    /// Who each experiment assigns (its unit: the referrer or the referee).
    pub subjects: BTreeMap<Label, CustomerId>,
    /// The fraud screening of the event, once it ran (programs with
    /// fraud settings): applied to every reward booked.
    pub screen: Option<Screen>,
}

/// The referrer's successful referrals, derived from their referred
/// conversions: per referee, the first conversion that paid this referrer
/// a reward, and when that order was refunded in full (if it was).
pub fn referrer_history(
    referrer: &CustomerId,
    conversions: &[ConversionRecord],
    shares: Vec<DateTime<Utc>>,
) -> ReferrerHistory {
    let mut referrals: Vec<PastReferral> = Vec::new();
    for c in conversions {
        let paid = c
            .payouts
            .iter()
            .any(|p| p.role == Role::Referrer && p.beneficiary == *referrer);
        let seen = referrals
            .iter()
            .any(|r| r.referee == c.conversion.customer && r.reversed_at.is_none());
        if paid && !seen {
            referrals.push(PastReferral {
                referee: c.conversion.customer.clone(),
                at: c.conversion.at,
                value: c.conversion.amount,
                reversed_at: c.fully_refunded_at,
            });
        }
    }
    ReferrerHistory {
        referrals,
        shares,
        granted_once_keys: Default::default(),
    }
}

/// Decides a conversion: who is credited under the program's attribution
/// policy, and what each side earns (the program's fixed two-sided reward,
/// or what its incentive rules grant, given `inputs`), booked within its
/// budget and caps.
///
/// # Errors
/// [`ErrorKind::CurrencyMismatch`] if the order is not in the program's
/// currency; [`ErrorKind::InvalidInput`] for a negative amount.
pub fn conversion(
    program: &Program,
    conversion: &Conversion,
    customer: Option<&Versioned<CustomerRecord>>,
    touches: &[TouchRecord],
    codes: &HashMap<Code, Versioned<CodeRecord>>,
    inputs: &RuleInputs,
    counters: &mut Counters,
) -> Result<Step<Decision<ConversionOutcome>>, Error> {
    let amount = conversion.amount;
    if amount.currency() != program.currency() {
        return Err(Error::new(
            ErrorKind::CurrencyMismatch,
            format!(
                "conversion.amount: order {} is in {}, program {} is in {}",
                conversion.order,
                amount.currency(),
                program.id(),
                program.currency()
            ),
        ));
    }
    if amount.is_negative() {
        return Err(Error::invalid(
            "conversion.amount",
            format!("order {} has a negative amount {amount}", conversion.order),
        ));
    }
    let Some(c) = customer else {
        // Not (yet) anyone's referee: nothing to remember. A retry after the
        // customer signs up (events can arrive out of order) is decided
        // afresh; refunds of such orders find no conversion.
        return Ok(Step::Done(Decision {
            outcome: ConversionOutcome::NotRewarded {
                referrer: None,
                reason: Reason::NotSignedUp,
            },
            plan: CommitPlan::default(),
        }));
    };
    let (verdict, credits) = credit(program, conversion, c, touches, codes);
    let after_signup = conversion.at >= c.record.signed_up_at;
    let mut booked = Booked::default();
    let mut exposures = Vec::new();
    let verdict = match verdict {
        Ok(referrer) => {
            let planned = match program.incentive() {
                Incentive::TwoSided(reward) => {
                    two_sided(program, conversion, c, reward, &referrer, &credits)?
                }
                Incentive::Rules(rules) => {
                    let (planned, exposed) =
                        by_rules(program, rules, conversion, c, &referrer, inputs);
                    exposures = exposed;
                    planned
                }
            };
            match planned {
                Err(reason) => Err((Some(referrer), reason)),
                Ok(planned) => {
                    booked = match book_rewards(
                        program,
                        Source::Order(&conversion.order),
                        conversion.at,
                        &planned,
                        inputs.screen.as_ref(),
                        counters,
                    )? {
                        Step::Read(keys) => return Ok(Step::Read(keys)),
                        Step::Done(b) => b,
                    };
                    match booked.withheld.first() {
                        _ if !booked.payouts.is_empty() => Ok(referrer),
                        Some(w) => Err((Some(referrer), w.reason)),
                        None => Err((Some(referrer), Reason::AlreadyRewarded)),
                    }
                }
            }
        }
        Err(e) => Err(e),
    };
    if after_signup {
        let mut updated = c.record.clone();
        updated.purchases = updated.purchases.saturating_add(1);
        if verdict.is_ok() {
            updated.rewarded_conversions = updated.rewarded_conversions.saturating_add(1);
        }
        booked.writes.push(Write::PutCustomer {
            record: updated,
            expected: c.version,
        });
    }
    assignments(
        program,
        inputs,
        exposures,
        conversion.at,
        &mut booked.writes,
    );
    let referrer = match &verdict {
        Ok(r) => Some(r.clone()),
        Err((r, _)) => r.clone(),
    };
    let Booked {
        payouts,
        withheld,
        entries,
        mut writes,
    } = booked;
    writes.push(Write::PutConversion {
        record: ConversionRecord {
            program: program.id().clone(),
            conversion: conversion.clone(),
            referrer,
            credits: credits.clone(),
            payouts: payouts.clone(),
            withheld: withheld.clone(),
            refund_count: 0,
            refunded: Money::zero(amount.currency()),
            fully_refunded_at: None,
            screening: inputs.screen.as_ref().and_then(Screen::kept),
        },
        expected: 0,
    });
    let outcome = match verdict {
        Ok(referrer) => ConversionOutcome::Rewarded {
            referrer,
            credits,
            payouts,
            withheld,
            entries,
        },
        Err((referrer, reason)) => ConversionOutcome::NotRewarded { referrer, reason },
    };
    Ok(Step::Done(Decision {
        plan: CommitPlan {
            idempotency: remember(
                program,
                Request::Conversion(conversion.clone()),
                Outcome::Conversion(outcome.clone()),
            ),
            writes,
        },
        outcome,
    }))
}

/// The program's fixed two-sided reward for a conversion, or why it earns
/// none.
fn two_sided(
    program: &Program,
    conversion: &Conversion,
    c: &Versioned<CustomerRecord>,
    reward: &TwoSidedReward,
    referrer: &CustomerId,
    credits: &[Credit],
) -> Result<Planned, Error> {
    let _ = program;
    let below_min = match reward.min_order {
        Some(min) => conversion
            .amount
            .compare(&min)
            .map_err(|e| Error::money("conversion.amount", e))?
            .is_lt(),
        None => false,
    };
    if reward
        .max_rewarded_conversions
        .is_some_and(|max| c.record.rewarded_conversions >= max)
    {
        return Ok(Err(Reason::AlreadyRewarded));
    }
    if below_min {
        return Ok(Err(Reason::BelowMinimumOrder));
    }
    let referrer_parts: Vec<(CustomerId, Money)> = match reward.referrer_split {
        ReferrerSplit::Shares => Attribution::Credited {
            credits: credits.to_vec(),
        }
        .split(reward.referrer)
        .map_err(|e| Error::money("incentive", e))?,
        _ => vec![(referrer.clone(), reward.referrer)],
    };
    Ok(Ok(referrer_parts
        .into_iter()
        .map(|(who, m)| (Role::Referrer, who, m))
        .chain([(Role::Referee, conversion.customer.clone(), reward.referee)])
        .filter(|(_, _, m)| m.minor() > 0)
        .map(|(role, who, amount)| PlannedReward {
            other: (role == Role::Referrer).then(|| conversion.customer.clone()),
            beneficiary: who,
            role,
            kind: RewardKind::Credit { amount },
            rule: None,
            rule_set_version: None,
            variant: None,
            once_key: None,
        })
        .collect()))
}

/// The rewards an incentive decided are earned, or why none.
type Planned = Result<Vec<PlannedReward>, Reason>;

/// What the program's incentive rules grant for a conversion (or why
/// nothing), and the experiment variants first exposed by it.
fn by_rules(
    program: &Program,
    rules: &RuleSet,
    conversion: &Conversion,
    c: &Versioned<CustomerRecord>,
    referrer: &CustomerId,
    inputs: &RuleInputs,
) -> (Planned, Vec<(Label, Label)>) {
    let referral = c.record.referral.as_ref();
    let completes_referral = !inputs
        .history
        .referrals
        .iter()
        .any(|r| r.referee == conversion.customer && r.reversed_at.is_none());
    let event = EventFacts::Purchase {
        amount: conversion.amount,
        purchase_number: c.record.purchases.saturating_add(1),
        at: conversion.at,
    };
    let referral = ReferralFacts {
        referrer: referrer.clone(),
        referee: Some(conversion.customer.clone()),
        channel: referral.map_or(Channel::Link, |r| r.channel.clone()),
        referred_at: referral.map_or(c.record.signed_up_at, |r| r.touched_at),
        referee_is_new: inputs.host.referee_is_new,
    };
    let (planned, exposed) =
        rule_grants(program, rules, event, referral, completes_referral, inputs);
    if planned.is_empty() {
        (Err(Reason::NoRuleMatched), exposed)
    } else {
        (Ok(planned), exposed)
    }
}

/// Evaluates the rules for one event and turns their grants into planned
/// rewards (referee grants need a referee), with the experiment variants
/// the event exposed for the first time.
fn rule_grants(
    program: &Program,
    rules: &RuleSet,
    event: EventFacts,
    referral: ReferralFacts,
    completes_referral: bool,
    inputs: &RuleInputs,
) -> (Vec<PlannedReward>, Vec<(Label, Label)>) {
    let referrer = referral.referrer.clone();
    let referee = referral.referee.clone();
    let facts = Facts {
        program: program.id(),
        event,
        referral,
        referrer: &inputs.host.referrer,
        referee: &inputs.host.referee,
        history: &inputs.history,
        completes_referral,
        variants: &inputs.variants,
    };
    let evaluation = evaluate(rules, &facts);
    let mut exposed: Vec<(Label, Label)> = Vec::new();
    for t in &evaluation.trace {
        if let Some((experiment, variant)) = &t.variant {
            let known = inputs.variants.contains_key(experiment)
                || exposed.iter().any(|(e, _)| e == experiment);
            if !known {
                exposed.push((experiment.clone(), variant.clone()));
            }
        }
    }
    let planned = evaluation
        .grants
        .into_iter()
        .filter_map(|g| {
            let (beneficiary, other) = match g.role {
                Role::Referrer => (referrer.clone(), referee.clone()),
                Role::Referee => (referee.clone()?, None),
            };
            Some(PlannedReward {
                beneficiary,
                role: g.role,
                other,
                kind: g.reward,
                rule: Some(g.rule),
                rule_set_version: Some(g.rule_set_version),
                variant: g.variant,
                once_key: g.once_key,
            })
        })
        .collect();
    (planned, exposed)
}

/// The writes recording first exposures to experiments.
fn assignments(
    program: &Program,
    inputs: &RuleInputs,
    exposed: Vec<(Label, Label)>,
    at: DateTime<Utc>,
    writes: &mut Vec<Write>,
) {
    for (experiment, variant) in exposed {
        if let Some(customer) = inputs.subjects.get(&experiment) {
            writes.push(Write::InsertAssignment(AssignmentRecord {
                program: program.id().clone(),
                experiment,
                customer: customer.clone(),
                variant,
                at,
            }));
        }
    }
}

/// Books what the rules grant for a signup or a share (nothing for a
/// program with a fixed reward or no rule on the trigger).
fn event_rewards(
    program: &Program,
    source: Source<'_>,
    event: EventFacts,
    referral: ReferralFacts,
    inputs: &RuleInputs,
    counters: &mut Counters,
) -> Result<Step<Booked>, Error> {
    let Incentive::Rules(rules) = program.incentive() else {
        return Ok(Step::Done(Booked::default()));
    };
    if !inputs.loaded || !rules.listens_to(event.kind()) {
        return Ok(Step::Done(Booked::default()));
    }
    let at = event.at();
    let (planned, exposed) = rule_grants(program, rules, event, referral, false, inputs);
    let mut booked = match book_rewards(
        program,
        source,
        at,
        &planned,
        inputs.screen.as_ref(),
        counters,
    )? {
        Step::Read(keys) => return Ok(Step::Read(keys)),
        Step::Done(b) => b,
    };
    assignments(program, inputs, exposed, at, &mut booked.writes);
    Ok(Step::Done(booked))
}

/// Decides a refund: how much of each reward to take back.
///
/// After refunds totalling `r` of an order of value `v`, each reward of
/// quantity `p` has been taken back by `floor(p × r / v)`, and by all of
/// `p` once `r = v`. Each refund takes the difference, so a sequence of
/// partial refunds never takes more than was paid, and a full refund
/// always takes the whole reward. What is taken comes from the reward's
/// pending part first (cancelled), then its available part (reversed),
/// then what was spent (owed: a debt the customer sees). `rewards` are the
/// order's rewards as read.
///
/// # Errors
/// [`ErrorKind::NotFound`] if the order was never recorded;
/// [`ErrorKind::CurrencyMismatch`]; [`ErrorKind::InvalidInput`] for a
/// refund dated before its order, a partial amount that is not positive or
/// exceeds what is not yet refunded, or a full refund of an order already
/// fully refunded.
pub fn refund(
    program: &Program,
    refund: &Refund,
    record: Option<&Versioned<ConversionRecord>>,
    customer: Option<&Versioned<CustomerRecord>>,
    rewards: &HashMap<RewardId, Versioned<Reward>>,
    outbox: &HashMap<DeliveryId, Versioned<OutboxItem>>,
    counters: &mut Counters,
) -> Result<Step<Decision<RefundOutcome>>, Error> {
    let Some(v) = record else {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "refund.order: order {} has no recorded conversion in program {}",
                refund.order,
                program.id()
            ),
        ));
    };
    let rec = &v.record;
    if refund.at < rec.conversion.at {
        return Err(Error::invalid(
            "refund.at",
            format!(
                "refund {} of order {} is dated {}, before the order's conversion at {}",
                refund.id, refund.order, refund.at, rec.conversion.at
            ),
        ));
    }
    let value = rec.conversion.amount;
    let money = |e| Error::money("refund.amount", e);
    let remaining = value.checked_sub(rec.refunded).map_err(money)?;
    let this = match refund.amount {
        RefundAmount::Full => {
            let zero_value_first_refund = value.is_zero() && rec.refund_count == 0;
            if remaining.is_zero() && !zero_value_first_refund {
                return Err(Error::invalid(
                    "refund.amount",
                    format!("order {} is already fully refunded", refund.order),
                ));
            }
            remaining
        }
        RefundAmount::Partial(m) => {
            if m.currency() != value.currency() {
                return Err(Error::new(
                    ErrorKind::CurrencyMismatch,
                    format!(
                        "refund.amount: {m} is not in the order's currency {}",
                        value.currency()
                    ),
                ));
            }
            if m.minor() <= 0 {
                return Err(Error::invalid(
                    "refund.amount",
                    format!("a partial refund must be positive, is {m}"),
                ));
            }
            if m.compare(&remaining).map_err(money)?.is_gt() {
                return Err(Error::invalid(
                    "refund.amount",
                    format!(
                        "refund of {m} exceeds the {remaining} of order {} not yet refunded",
                        refund.order
                    ),
                ));
            }
            m
        }
    };
    let refunded = rec.refunded.checked_add(this).map_err(money)?;
    let fully = refunded == value;
    let mut updated = rec.clone();
    updated.refunded = refunded;
    updated.refund_count = updated.refund_count.saturating_add(1);
    if fully {
        updated.fully_refunded_at = Some(refund.at);
    }
    let mut clawbacks = Vec::new();
    let mut writes = Vec::new();
    for payout in &mut updated.payouts {
        let target = if fully {
            payout.quantity
        } else {
            // value > 0 here: a zero-value order is always refunded fully.
            let q = i128::from(payout.quantity) * i128::from(refunded.minor());
            i64::try_from(q / i128::from(value.minor())).unwrap_or(payout.quantity)
        };
        let delta = target - payout.clawed_back;
        if delta <= 0 {
            continue;
        }
        let Some(read) = rewards.get(&payout.reward) else {
            return Err(Error::new(
                ErrorKind::Store,
                format!(
                    "reward {} of order {} is missing from the store",
                    payout.reward, refund.order
                ),
            ));
        };
        // A milestone reward was earned by reaching the count, not by this
        // order: it stands (`Trigger::Milestone`), and its once-key keeps
        // it from being granted again.
        if read.record.once_key.is_some() {
            continue;
        }
        payout.clawed_back = target;
        let mut reward = read.record.clone();
        match claw_back(program, &mut reward, delta, &refund.id, refund.at, counters)? {
            Step::Read(keys) => return Ok(Step::Read(keys)),
            Step::Done((entries, more)) => {
                writes.extend(entries.iter().cloned().map(Write::InsertLedgerEntry));
                writes.extend(more);
                clawbacks.extend(entries);
            }
        }
        // A delivery not claimed yet delivers only what is still available
        // (nothing: cancelled). One a worker holds is left to it: what it
        // delivers beyond what is available is recorded when it reports.
        if let Some(item) = outbox.get(&book::delivery_id(&reward.id)) {
            if item.record.state == DeliveryState::Ready
                && item.record.quantity != reward.progress.available
            {
                let mut next = item.record.clone();
                next.quantity = reward.progress.available;
                if next.quantity <= 0 {
                    next.state = DeliveryState::Cancelled;
                }
                writes.push(Write::PutOutboxItem {
                    record: Box::new(next),
                    expected: item.version,
                });
            }
        }
        writes.push(book::put(reward, read));
    }
    let missing = counters.take_missing();
    if !missing.is_empty() {
        return Ok(Step::Read(missing));
    }
    let outcome = RefundOutcome {
        refunded: this,
        remaining: value.checked_sub(refunded).map_err(money)?,
        clawbacks,
    };
    // A fully refunded rewarded order no longer counts against the
    // referee's rewarded conversions: their next order can earn again.
    if fully && !rec.payouts.is_empty() {
        if let Some(c) = customer.filter(|c| c.record.rewarded_conversions > 0) {
            let mut record = c.record.clone();
            record.rewarded_conversions -= 1;
            writes.push(Write::PutCustomer {
                record,
                expected: c.version,
            });
        }
    }
    writes.push(Write::PutConversion {
        record: updated,
        expected: v.version,
    });
    Ok(Step::Done(Decision {
        plan: CommitPlan {
            idempotency: remember(
                program,
                Request::Refund(refund.clone()),
                Outcome::Refund(outcome.clone()),
            ),
            writes,
        },
        outcome,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OrderId, RefundId};
    use crate::money::Currency;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn program(currency: Currency, referrer: i64, referee: i64) -> Program {
        Program::builder("p", "P")
            .currency(currency)
            .two_sided_reward(
                Money::new(referrer, currency),
                Money::new(referee, currency),
            )
            .build()
            .unwrap()
    }

    struct Fixture {
        rec: Versioned<ConversionRecord>,
        rewards: HashMap<RewardId, Versioned<Reward>>,
    }

    fn rewarded(program: &Program, value: i64, rewards: &[i64]) -> Fixture {
        let c = program.currency();
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let order = OrderId::new("o").unwrap();
        let planned: Vec<PlannedReward> = rewards
            .iter()
            .enumerate()
            .map(|(i, &r)| PlannedReward {
                beneficiary: CustomerId::new(format!("c{i}")).unwrap(),
                role: if i == 0 {
                    Role::Referrer
                } else {
                    Role::Referee
                },
                other: None,
                kind: RewardKind::Credit {
                    amount: Money::new(r, c),
                },
                rule: None,
                rule_set_version: None,
                variant: None,
                once_key: None,
            })
            .collect();
        let mut read = HashMap::new();
        let mut counters = Counters::default();
        let booked = loop {
            match book_rewards(
                program,
                Source::Order(&order),
                at,
                &planned,
                None,
                &mut counters,
            )
            .unwrap()
            {
                Step::Read(keys) => {
                    read.extend(keys.into_iter().map(|k| (k, 0)));
                    counters = Counters::new(read.clone());
                }
                Step::Done(b) => break b,
            }
        };
        let mut stored = HashMap::new();
        for w in booked.writes {
            if let Write::PutReward { record, .. } = w {
                stored.insert(
                    record.id.clone(),
                    Versioned {
                        version: 1,
                        record: *record,
                    },
                );
            }
        }
        Fixture {
            rec: Versioned {
                version: 1,
                record: ConversionRecord {
                    program: program.id().clone(),
                    conversion: Conversion {
                        order,
                        customer: CustomerId::new("buyer").unwrap(),
                        amount: Money::new(value, c),
                        at,
                    },
                    referrer: Some(CustomerId::new("c0").unwrap()),
                    credits: Vec::new(),
                    payouts: booked.payouts,
                    withheld: Vec::new(),
                    refund_count: 0,
                    refunded: Money::zero(c),
                    fully_refunded_at: None,
                    screening: None,
                },
            },
            rewards: stored,
        }
    }

    fn apply_refund(
        program: &Program,
        f: &mut Fixture,
        n: usize,
        amount: RefundAmount,
    ) -> Result<RefundOutcome, Error> {
        let r = Refund {
            id: RefundId::new(format!("r{n}")).unwrap(),
            order: OrderId::new("o").unwrap(),
            amount,
            at: Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
        };
        let mut read = HashMap::new();
        let mut counters = Counters::default();
        let d = loop {
            match refund(
                program,
                &r,
                Some(&f.rec),
                None,
                &f.rewards,
                &HashMap::new(),
                &mut counters,
            )? {
                Step::Read(keys) => {
                    read.extend(keys.into_iter().map(|k| (k, 0)));
                    counters = Counters::new(read.clone());
                }
                Step::Done(d) => break d,
            }
        };
        for w in d.plan.writes {
            match w {
                Write::PutConversion { record, expected } => {
                    f.rec = Versioned {
                        version: expected + 1,
                        record,
                    };
                }
                Write::PutReward { record, expected } => {
                    f.rewards.insert(
                        record.id.clone(),
                        Versioned {
                            version: expected + 1,
                            record: *record,
                        },
                    );
                }
                _ => {}
            }
        }
        Ok(d.outcome)
    }

    proptest! {
        #[test]
        fn refund_never_claws_back_more_than_paid(
            value in 1i64..10_000_000,
            rewards in prop::collection::vec(1i64..1_000_000, 1..3),
            cuts in prop::collection::vec(1u64..=1000, 0..6),
            finish in any::<bool>(),
            three_decimals in any::<bool>(),
        ) {
            let currency = if three_decimals { Currency::KWD } else { Currency::SAR };
            let p = program(currency, 1, 1);
            let mut f = rewarded(&p, value, &rewards);
            let mut clawed = vec![0i64; rewards.len()];
            let index = |f: &Fixture, who: &CustomerId| {
                f.rec.record.payouts.iter().position(|x| x.beneficiary == *who).unwrap()
            };
            for (n, cut) in cuts.iter().enumerate() {
                let left = value - f.rec.record.refunded.minor();
                let amount = ((left as u64 * cut) / 1000) as i64;
                if amount <= 0 { continue; }
                let o = apply_refund(&p, &mut f, n, RefundAmount::Partial(Money::new(amount, currency))).unwrap();
                for c in &o.clawbacks {
                    prop_assert_eq!(c.kind, crate::ledger::EntryKind::Reversed);
                    prop_assert!(c.quantity > 0);
                    clawed[index(&f, &c.customer)] += c.quantity;
                }
                for (i, r) in rewards.iter().enumerate() {
                    prop_assert!(clawed[i] <= *r, "clawed {} of {}", clawed[i], r);
                    prop_assert_eq!(clawed[i], f.rec.record.payouts[i].clawed_back);
                    let reward = &f.rewards[&f.rec.record.payouts[i].reward].record;
                    prop_assert_eq!(reward.progress.reversed, clawed[i]);
                    prop_assert_eq!(reward.progress.available, r - clawed[i]);
                }
            }
            if f.rec.record.refunded.minor() == value {
                // Partial refunds reached the whole: every reward is reversed
                // exactly, and a further full refund is refused.
                prop_assert_eq!(&clawed, &rewards, "partial refunds of the whole reverse every reward");
                prop_assert!(apply_refund(&p, &mut f, 99, RefundAmount::Full).is_err());
            } else if finish {
                let o = apply_refund(&p, &mut f, 99, RefundAmount::Full).unwrap();
                for c in &o.clawbacks {
                    clawed[index(&f, &c.customer)] += c.quantity;
                }
                prop_assert_eq!(&clawed, &rewards, "a full refund reverses every reward exactly");
                prop_assert!(o.remaining.is_zero());
            }
        }
    }

    #[test]
    fn a_zero_value_order_can_be_refunded_once() {
        let p = program(Currency::SAR, 100, 0);
        let mut f = rewarded(&p, 0, &[100]);
        let o = apply_refund(&p, &mut f, 1, RefundAmount::Full).unwrap();
        assert_eq!(o.clawbacks[0].quantity, 100);
        assert!(apply_refund(&p, &mut f, 2, RefundAmount::Full).is_err());
    }
}

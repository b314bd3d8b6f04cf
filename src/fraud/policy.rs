//! A program's answer to the checks' signals: allow, hold for review, or
//! reject, for each side of the referral, by rules (this check at this
//! severity does that) or a weighted score, or both.
//!
//! One rule holds whatever the configuration says: a
//! [`Severity::Weak`] signal (siblings on one home network, a busy office
//! network) never rejects a reward on its own, at most holds it for a
//! person to look at.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::checks::{Check, Limits, Severity, Signal};

/// What happens to one side's rewards.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Paid as the program says (subject to its hold period).
    #[default]
    Allow,
    /// Kept pending for review, with the signals to look at.
    Hold,
    /// Not paid; the reasons are recorded.
    Reject,
}

/// "A signal of `check` at `at_least` this severity does this to each
/// side."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Which check.
    pub check: Check,
    /// The least severity the rule applies to.
    pub at_least: Severity,
    /// The referrer's rewards.
    pub referrer: Action,
    /// The referee's rewards.
    pub referee: Action,
}

/// A weighted score over the signals: each signal adds its check's weight
/// times its severity's factor (weak 1, suspicious 2, strong 4); past
/// `hold_at` the referrer's rewards are held, past `reject_at` rejected
/// (and the referee's too when `referee_too`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scoring {
    /// Points per check (checks not listed weigh nothing).
    pub weights: BTreeMap<Check, u32>,
    /// The score at which rewards are held.
    pub hold_at: u32,
    /// The score at which rewards are rejected, if ever.
    pub reject_at: Option<u32>,
    /// Whether the score acts on the referee's rewards too.
    #[serde(default)]
    pub referee_too: bool,
}

/// A program's fraud policy: the checks' limits, rules, and an optional
/// score. Serde-configurable; [`FraudPolicy::default`] holds what is
/// unusual and rejects what is abuse (see [`FraudPolicy::default_rules`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FraudPolicy {
    /// The limits the checks compare with.
    pub limits: Limits,
    /// Rules, all applied; the strictest action per side wins.
    pub rules: Vec<Rule>,
    /// A weighted score, applied beside the rules.
    pub scoring: Option<Scoring>,
}

impl Default for FraudPolicy {
    fn default() -> FraudPolicy {
        FraudPolicy {
            limits: Limits::default(),
            rules: FraudPolicy::default_rules(),
            scoring: None,
        }
    }
}

impl FraudPolicy {
    /// The default rules:
    ///
    /// | check | severity | referrer | referee |
    /// |---|---|---|---|
    /// | self-referral | weak (network only) | hold | allow |
    /// | self-referral | suspicious (device, address) | hold | hold |
    /// | self-referral | strong (e-mail, phone, payment) | reject | reject |
    /// | duplicate referee | strong | reject | hold |
    /// | velocity | weak (a network's signups) | hold | allow |
    /// | velocity | suspicious | hold | allow |
    /// | velocity | strong | hold | hold |
    /// | ring | strong | reject | reject |
    /// | cluster, order value, refund abuse | suspicious | hold | allow |
    /// | timing, code leakage | suspicious | hold | allow |
    /// | code guessing | suspicious | allow | hold |
    /// | code guessing | strong | allow | reject |
    ///
    /// The friend keeps a welcome reward while the referrer's is reviewed
    /// wherever only the referrer's conduct is in question.
    pub fn default_rules() -> Vec<Rule> {
        use Action::{Allow, Hold, Reject};
        use Severity::{Strong, Suspicious, Weak};
        let r = |check, at_least, referrer, referee| Rule {
            check,
            at_least,
            referrer,
            referee,
        };
        vec![
            r(Check::SelfReferral, Weak, Hold, Allow),
            r(Check::SelfReferral, Suspicious, Hold, Hold),
            r(Check::SelfReferral, Strong, Reject, Reject),
            r(Check::DuplicateReferee, Strong, Reject, Hold),
            r(Check::Velocity, Weak, Hold, Allow),
            r(Check::Velocity, Suspicious, Hold, Allow),
            r(Check::Velocity, Strong, Hold, Hold),
            r(Check::Ring, Strong, Reject, Reject),
            r(Check::Cluster, Suspicious, Hold, Allow),
            r(Check::OrderValue, Suspicious, Hold, Allow),
            r(Check::RefundAbuse, Suspicious, Hold, Allow),
            r(Check::Timing, Suspicious, Hold, Allow),
            r(Check::CodeLeakage, Suspicious, Hold, Allow),
            r(Check::CodeGuessing, Suspicious, Allow, Hold),
            r(Check::CodeGuessing, Strong, Allow, Reject),
        ]
    }

    /// The verdict on `signals`: per side, the strictest action of every
    /// rule that applies and of the score; a weak signal alone never
    /// rejects. Deterministic whatever the order of `signals`.
    pub fn decide(&self, mut signals: Vec<Signal>) -> Verdict {
        // Evidence breaks the last ties, so the verdict's list of signals
        // is the same whatever order they came in.
        signals.sort_by_cached_key(|s| {
            (
                s.check,
                s.severity,
                s.reason.clone(),
                format!("{:?}", s.evidence),
            )
        });
        let mut referrer = Action::Allow;
        let mut referee = Action::Allow;
        let mut reasons = Vec::new();
        for s in &signals {
            for rule in &self.rules {
                if rule.check == s.check && s.severity >= rule.at_least {
                    referrer = referrer.max(capped(rule.referrer, s.severity));
                    referee = referee.max(capped(rule.referee, s.severity));
                }
            }
            reasons.push(format!("{}: {}", s.check, s.reason));
        }
        let mut score = 0u32;
        if let Some(scoring) = &self.scoring {
            for s in &signals {
                score = score.saturating_add(points(scoring, s));
            }
            // Only points from signals stronger than weak count toward a
            // rejection: a weak signal never rejects, whatever it weighs.
            let strong_points = signals
                .iter()
                .filter(|s| s.severity != Severity::Weak)
                .map(|s| points(scoring, s))
                .fold(0u32, u32::saturating_add);
            let by_score = if scoring
                .reject_at
                .is_some_and(|r| r > 0 && strong_points >= r)
            {
                Action::Reject
            } else if score >= scoring.hold_at && score > 0 {
                Action::Hold
            } else {
                Action::Allow
            };
            if by_score != Action::Allow {
                reasons.push(format!(
                    "score {score}: {by_score:?} (hold at {}, reject at {:?})",
                    scoring.hold_at, scoring.reject_at
                ));
            }
            referrer = referrer.max(by_score);
            if scoring.referee_too {
                referee = referee.max(by_score);
            }
        }
        Verdict {
            referrer,
            referee,
            score,
            reasons,
            signals,
        }
    }
}

/// A signal's points: its check's weight times its severity's factor.
fn points(scoring: &Scoring, s: &Signal) -> u32 {
    let factor = match s.severity {
        Severity::Weak => 1,
        Severity::Suspicious => 2,
        Severity::Strong => 4,
    };
    let weight = scoring.weights.get(&s.check).copied().unwrap_or(0);
    weight.saturating_mul(factor)
}

/// A weak signal holds at most.
fn capped(action: Action, severity: Severity) -> Action {
    if severity == Severity::Weak {
        action.min(Action::Hold)
    } else {
        action
    }
}

/// What a fraud screening found and decided, kept with the customer (at
/// signup), with the conversion, and with the rewards it held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Screening {
    /// When it ran.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The policy's verdict: the action per side, the score, the reasons
    /// and every signal with its evidence.
    pub verdict: Verdict,
}

/// What the policy decided, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// The referrer's rewards.
    pub referrer: Action,
    /// The referee's rewards.
    pub referee: Action,
    /// The weighted score (0 without scoring).
    pub score: u32,
    /// One line per signal (and the score's, if it acted), for reviewers.
    pub reasons: Vec<String>,
    /// The signals, in a stable order.
    pub signals: Vec<Signal>,
}

impl Verdict {
    /// Whether nothing is held or rejected.
    pub fn is_clean(&self) -> bool {
        self.referrer == Action::Allow && self.referee == Action::Allow
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fraud::checks::{self, Rate};
    use crate::model::CustomerId;

    fn cid(s: &str) -> CustomerId {
        CustomerId::new(s).unwrap()
    }

    fn kinds(k: &[&str]) -> Vec<crate::fraud::identity::IdentityKind> {
        use crate::fraud::identity::IdentityKind;
        k.iter()
            .map(|s| {
                *IdentityKind::ALL
                    .iter()
                    .find(|kind| kind.as_str() == *s)
                    .unwrap_or_else(|| panic!("no kind {s}"))
            })
            .collect()
    }

    #[test]
    fn default_policy_on_honest_and_abusive_stories() {
        let policy = FraudPolicy::default();
        let amira = cid("amira");
        // Siblings on one home network: the referrer's reward is held at
        // most, the friend's welcome reward paid.
        let v = policy.decide(
            checks::self_referral(&amira, &kinds(&["ip", "ip_prefix"]))
                .into_iter()
                .collect(),
        );
        assert_eq!((v.referrer, v.referee), (Action::Hold, Action::Allow));
        // A second e-mail on the referrer's own card.
        let v = policy.decide(
            checks::self_referral(&amira, &kinds(&["payment"]))
                .into_iter()
                .collect(),
        );
        assert_eq!((v.referrer, v.referee), (Action::Reject, Action::Reject));
        assert!(
            v.reasons[0].starts_with("self_referral: the referee shares payment"),
            "{:?}",
            v.reasons
        );
        // Nothing found: clean.
        assert!(policy.decide(Vec::new()).is_clean());
        // A busy referrer past the hourly limit: held for review.
        let limits = &policy.limits;
        let v = policy.decide(
            checks::velocity(Rate::ReferralsPerHour, 12, limits)
                .into_iter()
                .collect(),
        );
        assert_eq!((v.referrer, v.referee), (Action::Hold, Action::Allow));
    }

    #[test]
    fn a_weak_signal_never_rejects_whatever_the_rules_and_score_say() {
        let mut policy = FraudPolicy {
            rules: vec![Rule {
                check: Check::SelfReferral,
                at_least: Severity::Weak,
                referrer: Action::Reject,
                referee: Action::Reject,
            }],
            scoring: Some(Scoring {
                weights: BTreeMap::from([(Check::SelfReferral, 100), (Check::Velocity, 100)]),
                hold_at: 1,
                reject_at: Some(1),
                referee_too: true,
            }),
            ..FraudPolicy::default()
        };
        let home = checks::self_referral(&cid("amira"), &kinds(&["ip"])).unwrap();
        let network =
            checks::velocity(Rate::SignupsPerIpPrefixPerDay, 1_000, &policy.limits).unwrap();
        let v = policy.decide(vec![home.clone(), network]);
        assert_eq!(
            (v.referrer, v.referee),
            (Action::Hold, Action::Hold),
            "{v:?}"
        );
        // With a strong signal beside it, the score may reject.
        let card = checks::self_referral(&cid("amira"), &kinds(&["payment"])).unwrap();
        policy.rules.clear();
        let v = policy.decide(vec![home, card]);
        assert_eq!(v.referrer, Action::Reject);
        assert_eq!(v.score, 100 + 400);
    }

    #[test]
    fn weak_points_never_reach_a_rejection_and_a_zero_threshold_rejects_nothing() {
        let limits = Limits::default();
        let home = checks::self_referral(&cid("amira"), &kinds(&["ip"])).unwrap();
        let quick = checks::timing(
            chrono::DateTime::from_timestamp(0, 0).unwrap(),
            chrono::DateTime::from_timestamp(5, 0).unwrap(),
            &limits,
        )
        .unwrap();
        let policy = FraudPolicy {
            rules: Vec::new(),
            scoring: Some(Scoring {
                weights: BTreeMap::from([(Check::SelfReferral, 100)]),
                hold_at: 50,
                reject_at: Some(100),
                referee_too: false,
            }),
            ..FraudPolicy::default()
        };
        // The weak signal's 100 points and a suspicious signal weighing 0.
        let v = policy.decide(vec![home.clone(), quick.clone()]);
        assert_eq!(v.referrer, Action::Hold, "{v:?}");
        let zero = FraudPolicy {
            scoring: Some(Scoring {
                weights: BTreeMap::new(),
                hold_at: 0,
                reject_at: Some(0),
                referee_too: true,
            }),
            ..policy
        };
        let v = zero.decide(vec![quick]);
        assert_eq!(
            (v.referrer, v.referee),
            (Action::Allow, Action::Allow),
            "{v:?}"
        );
    }

    #[test]
    fn the_verdict_does_not_depend_on_the_order_of_signals() {
        let policy = FraudPolicy::default();
        let a = checks::self_referral(&cid("amira"), &kinds(&["device"])).unwrap();
        let b = checks::code_guessing("x", 500, &policy.limits).unwrap();
        let c = checks::velocity(Rate::ReferralsPerDay, 100, &policy.limits).unwrap();
        let one = policy.decide(vec![a.clone(), b.clone(), c.clone()]);
        let two = policy.decide(vec![c, a, b]);
        assert_eq!(one, two);
        assert_eq!((one.referrer, one.referee), (Action::Hold, Action::Reject));
    }

    #[test]
    fn a_policy_round_trips_through_json_and_defaults_fill_gaps() {
        let policy = FraudPolicy::default();
        let json = serde_json::to_string(&policy).unwrap();
        assert_eq!(serde_json::from_str::<FraudPolicy>(&json).unwrap(), policy);
        let partial: FraudPolicy =
            serde_json::from_str(r#"{"limits": {"referrals_per_hour": 3}}"#).unwrap();
        assert_eq!(partial.limits.referrals_per_hour, 3);
        assert_eq!(partial.limits.referrals_per_day, 40);
        assert_eq!(partial.rules, FraudPolicy::default_rules());
    }
}

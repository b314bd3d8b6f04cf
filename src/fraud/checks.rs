//! The battery of checks. Each is a pure function over what the caller
//! counted or found, and answers with a [`Signal`] (or none): which check,
//! how strong, a reason a reviewer can read, and the evidence behind it.
//! None of them decides anything: a program's
//! [`FraudPolicy`](super::policy::FraudPolicy) turns signals into allow,
//! hold or reject.
//!
//! Tuning: every limit lives in [`Limits`], with defaults chosen so that an
//! honest but busy referrer (a popular baker's week after Eid) passes; each
//! field's docs say what it guards against and what raising it costs.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::identity::IdentityKind;
use crate::model::CustomerId;
use crate::money::Money;

/// Which check raised a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Check {
    /// The referee shares an identifier (e-mail, phone, device, payment,
    /// address; or only a network) with the referrer.
    SelfReferral,
    /// The referee was a customer before the referral, or was referred
    /// by someone else already.
    DuplicateReferee,
    /// Too many referrals, conversions or signups in an hour or a day.
    Velocity,
    /// The referral closes a loop in the referral graph (A refers B
    /// refers C refers A).
    Ring,
    /// Many of one referrer's referees share identifiers with each other.
    Cluster,
    /// The referee converted seconds after the share or click.
    Timing,
    /// The order is a large multiple of the referrer's referees' norm.
    OrderValue,
    /// One code used by many unrelated referees from one referring site
    /// (a coupon site).
    CodeLeakage,
    /// Many invalid code attempts from one source.
    CodeGuessing,
    /// A referrer whose referees refund far more than the program's norm.
    RefundAbuse,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Check::SelfReferral => "self_referral",
            Check::DuplicateReferee => "duplicate_referee",
            Check::Velocity => "velocity",
            Check::Ring => "ring",
            Check::Cluster => "cluster",
            Check::Timing => "timing",
            Check::OrderValue => "order_value",
            Check::CodeLeakage => "code_leakage",
            Check::CodeGuessing => "code_guessing",
            Check::RefundAbuse => "refund_abuse",
        };
        f.write_str(name)
    }
}

/// How strongly a signal points at abuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Severity {
    /// Common among honest customers too (a shared home network): worth a
    /// look, never enough to reject on its own.
    Weak,
    /// Unusual; honest customers do it rarely.
    Suspicious,
    /// What abuse looks like (the same payment card, a loop of referrals).
    Strong,
}

/// A count measured over a window, the limit it passed, and what was
/// counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    /// What was counted, e.g. `referrals by amira`.
    pub what: String,
    /// How many.
    pub count: u64,
    /// The most the program allows.
    pub limit: u64,
    /// Over how long, in seconds (0: no window).
    pub window_seconds: i64,
}

/// What a signal rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "evidence")]
#[non_exhaustive]
pub enum Evidence {
    /// The subject shares identifiers of these kinds with `with`. Kinds
    /// are named (`email`, `device`, …); the identifiers themselves are
    /// keyed hashes and are not repeated here.
    SharedIdentifiers {
        /// The other customer.
        with: CustomerId,
        /// The kinds of identifier they share.
        kinds: Vec<IdentityKind>,
    },
    /// A count past its limit.
    Count(Counted),
    /// The customers of a loop in the referral graph, in referral order,
    /// the first repeated at the end.
    Loop {
        /// The loop.
        customers: Vec<CustomerId>,
    },
    /// Seconds between two moments.
    Seconds {
        /// What was measured.
        what: String,
        /// How long it took.
        seconds: i64,
        /// The least the program expects.
        at_least: i64,
    },
    /// An amount against a norm.
    Amount {
        /// The amount.
        amount: Money,
        /// The norm it was compared with.
        norm: Money,
        /// The multiple of the norm (basis points) past which it counts.
        multiple_bps: u32,
    },
    /// A rate against the program's.
    Rate {
        /// What was counted, e.g. `refunds of amira's referees`.
        what: String,
        /// Events counted (refunds).
        events: u64,
        /// Out of (conversions).
        out_of: u64,
        /// The program's events.
        program_events: u64,
        /// Out of the program's.
        program_out_of: u64,
    },
    /// A fact the host reported.
    Fact {
        /// The fact, in words.
        fact: String,
    },
}

/// One check's finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    /// Which check.
    pub check: Check,
    /// How strong.
    pub severity: Severity,
    /// For a reviewer, in one sentence.
    pub reason: String,
    /// What it rests on.
    pub evidence: Vec<Evidence>,
}

/// The limits the checks compare with. Serde-configurable per program;
/// [`Limits::default`] is tuned to pass honest busy referrers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Limits {
    /// Referrals (signups through one referrer) per hour. Guards against
    /// scripted signups; an honest referrer sharing in a group chat sees
    /// a burst of a few. Default 10.
    pub referrals_per_hour: u64,
    /// Referrals per day. Default 40: a busy week is spread over days.
    pub referrals_per_day: u64,
    /// Conversions credited to one referrer per hour. Default 10.
    pub conversions_per_hour: u64,
    /// Conversions credited to one referrer per day. Default 40.
    pub conversions_per_day: u64,
    /// Signups per device per day. Default 3 (a family tablet).
    pub signups_per_device_per_day: u64,
    /// Signups per IP prefix (/24, /64) per day. Default 20: offices,
    /// campuses and mobile carriers put many honest people behind one.
    pub signups_per_ip_prefix_per_day: u64,
    /// Referees of one referrer sharing an identifier with another of his
    /// referees, before it is a cluster. Default 3.
    pub shared_referees: u64,
    /// The fewest seconds from a share or click to a conversion that look
    /// human. Default 20.
    pub least_seconds_to_convert: i64,
    /// An order this many times (basis points) the referrer's referees'
    /// norm is unusual. Default 50,000 (5×).
    pub order_value_multiple_bps: u32,
    /// Unrelated referees using one code from one referring site before it
    /// looks posted on a coupon site. Default 15.
    pub referees_per_site: u64,
    /// Invalid code attempts from one source per hour. Default 20.
    pub invalid_codes_per_hour: u64,
    /// A referrer's referees' refund rate this many times (basis points)
    /// the program's is abuse. Default 30,000 (3×).
    pub refund_rate_multiple_bps: u32,
    /// The fewest conversions before a refund rate means anything.
    /// Default 5.
    pub least_conversions_for_refund_rate: u64,
    /// The fewest refunds before any refund rate is abuse (a program with
    /// no refunds yet has a norm of zero). Default 3.
    pub least_refunds: u64,
    /// The longest loop of referrals looked for. Default 6.
    pub longest_ring: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            referrals_per_hour: 10,
            referrals_per_day: 40,
            conversions_per_hour: 10,
            conversions_per_day: 40,
            signups_per_device_per_day: 3,
            signups_per_ip_prefix_per_day: 20,
            shared_referees: 3,
            least_seconds_to_convert: 20,
            order_value_multiple_bps: 50_000,
            referees_per_site: 15,
            invalid_codes_per_hour: 20,
            refund_rate_multiple_bps: 30_000,
            least_conversions_for_refund_rate: 5,
            least_refunds: 3,
            longest_ring: 6,
        }
    }
}

/// Identifier kinds shared only through the network: common among honest
/// people (a family, an office, a mobile carrier's NAT).
fn network_only(kinds: &[IdentityKind]) -> bool {
    kinds
        .iter()
        .all(|k| matches!(k, IdentityKind::Ip | IdentityKind::IpPrefix))
}

/// Self-referral by a shared identifier: `shared` lists the kinds of
/// identifier the referee shares with the referrer, as
/// [`IdentitySignals::shared_with`](super::identity::IdentitySignals::shared_with)
/// reports them from the keyed hashes. Sharing only a network is
/// [`Severity::Weak`] (siblings on one home network); a payment
/// instrument, a phone or an e-mail is [`Severity::Strong`]; a device or
/// an address alone is [`Severity::Suspicious`] (a household).
pub fn self_referral(referrer: &CustomerId, shared: &[IdentityKind]) -> Option<Signal> {
    if shared.is_empty() {
        return None;
    }
    let mut kinds = shared.to_vec();
    kinds.sort();
    kinds.dedup();
    let strong = kinds.iter().any(|k| {
        matches!(
            k,
            IdentityKind::Payment | IdentityKind::Phone | IdentityKind::Email
        )
    });
    let severity = if network_only(&kinds) {
        Severity::Weak
    } else if strong {
        Severity::Strong
    } else {
        Severity::Suspicious
    };
    Some(Signal {
        check: Check::SelfReferral,
        severity,
        reason: format!(
            "the referee shares {} with the referrer {referrer}",
            kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        evidence: vec![Evidence::SharedIdentifiers {
            with: referrer.clone(),
            kinds,
        }],
    })
}

/// What the host knows of the referee before this referral.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefereeHistory {
    /// The host's own flag: a customer before the referral.
    pub existing_customer: bool,
    /// Already referred by someone else (in this program).
    pub referred_by: Option<CustomerId>,
}

/// A referee who is not new: a customer before the referral (the host
/// says so), or already someone else's referee.
pub fn duplicate_referee(history: &RefereeHistory) -> Option<Signal> {
    let mut evidence = Vec::new();
    let mut reasons = Vec::new();
    if history.existing_customer {
        reasons.push("was a customer before the referral".to_owned());
        evidence.push(Evidence::Fact {
            fact: "the host reports an existing customer".to_owned(),
        });
    }
    if let Some(other) = &history.referred_by {
        reasons.push(format!("was already referred by {other}"));
        evidence.push(Evidence::Fact {
            fact: format!("referred by {other}"),
        });
    }
    (!reasons.is_empty()).then(|| Signal {
        check: Check::DuplicateReferee,
        severity: Severity::Strong,
        reason: format!("the referee {}", reasons.join(" and ")),
        evidence,
    })
}

/// What is counted for velocity, and over which window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Rate {
    /// Referrals of one referrer in the last hour.
    ReferralsPerHour,
    /// Referrals of one referrer in the last day.
    ReferralsPerDay,
    /// Conversions credited to one referrer in the last hour.
    ConversionsPerHour,
    /// Conversions credited to one referrer in the last day.
    ConversionsPerDay,
    /// Signups from one device in the last day.
    SignupsPerDevicePerDay,
    /// Signups from one IP prefix in the last day.
    SignupsPerIpPrefixPerDay,
}

impl Rate {
    /// The limit this rate is held to.
    pub fn limit(self, limits: &Limits) -> u64 {
        match self {
            Rate::ReferralsPerHour => limits.referrals_per_hour,
            Rate::ReferralsPerDay => limits.referrals_per_day,
            Rate::ConversionsPerHour => limits.conversions_per_hour,
            Rate::ConversionsPerDay => limits.conversions_per_day,
            Rate::SignupsPerDevicePerDay => limits.signups_per_device_per_day,
            Rate::SignupsPerIpPrefixPerDay => limits.signups_per_ip_prefix_per_day,
        }
    }

    fn window(self) -> TimeDelta {
        match self {
            Rate::ReferralsPerHour | Rate::ConversionsPerHour => TimeDelta::hours(1),
            _ => TimeDelta::days(1),
        }
    }

    fn what(self) -> &'static str {
        match self {
            Rate::ReferralsPerHour | Rate::ReferralsPerDay => "referrals by the referrer",
            Rate::ConversionsPerHour | Rate::ConversionsPerDay => "conversions of the referrer",
            Rate::SignupsPerDevicePerDay => "signups from the device",
            Rate::SignupsPerIpPrefixPerDay => "signups from the network",
        }
    }
}

/// The events of one rate that fall in its window ending at `now`
/// (inclusive), counted from their times (any order; the current event
/// included by the caller).
pub fn count_in_window(rate: Rate, times: &[DateTime<Utc>], now: DateTime<Utc>) -> u64 {
    let since = now
        .checked_sub_signed(rate.window())
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    times.iter().filter(|t| **t > since && **t <= now).count() as u64
}

/// Velocity: a count past its limit is [`Severity::Suspicious`]; past
/// twice the limit, [`Severity::Strong`]. A network's signups are at most
/// [`Severity::Weak`]: many honest people share one.
pub fn velocity(rate: Rate, count: u64, limits: &Limits) -> Option<Signal> {
    let limit = rate.limit(limits);
    if count <= limit {
        return None;
    }
    let severity = if rate == Rate::SignupsPerIpPrefixPerDay {
        Severity::Weak
    } else if count > limit.saturating_mul(2) {
        Severity::Strong
    } else {
        Severity::Suspicious
    };
    let window = rate.window();
    Some(Signal {
        check: Check::Velocity,
        severity,
        reason: format!(
            "{count} {} in {}, the limit is {limit}",
            rate.what(),
            if window == TimeDelta::hours(1) {
                "an hour"
            } else {
                "a day"
            }
        ),
        evidence: vec![Evidence::Count(Counted {
            what: rate.what().to_owned(),
            count,
            limit,
            window_seconds: window.num_seconds(),
        })],
    })
}

/// A loop closed by the referral `referrer → referee`: a path of earlier
/// referrals from the referee back to the referrer, at most
/// `limits.longest_ring` referrals long. `referees_of` answers whom a
/// customer referred (the store's list, asked only for the customers the
/// search reaches, so the cost does not grow with the program). The
/// shortest such loop is the evidence. Two people referring each other
/// are refused by the engine already; this finds the longer loops.
pub fn ring(
    referrer: &CustomerId,
    referee: &CustomerId,
    mut referees_of: impl FnMut(&CustomerId) -> Vec<CustomerId>,
    limits: &Limits,
) -> Option<Signal> {
    // Breadth first from the referee: the first time the referrer is
    // reached is the shortest loop.
    let mut came_from: HashMap<CustomerId, CustomerId> = HashMap::new();
    let mut seen: HashSet<CustomerId> = HashSet::from([referee.clone()]);
    let mut queue: VecDeque<(CustomerId, usize)> = VecDeque::from([(referee.clone(), 0)]);
    while let Some((at, depth)) = queue.pop_front() {
        if &at == referrer {
            // Back from the referrer to the referee, then reversed.
            let mut path = vec![at.clone()];
            let mut cur = &at;
            while let Some(prev) = came_from.get(cur) {
                path.push(prev.clone());
                cur = prev;
            }
            path.reverse();
            let mut customers = vec![referrer.clone()];
            customers.extend(path);
            return Some(Signal {
                check: Check::Ring,
                severity: Severity::Strong,
                reason: format!(
                    "the referral closes a loop of {} customers: {}",
                    customers.len() - 1,
                    customers
                        .iter()
                        .map(|c| c.as_str())
                        .collect::<Vec<_>>()
                        .join(" → ")
                ),
                evidence: vec![Evidence::Loop { customers }],
            });
        }
        // A loop of n customers is n referrals: the new one and n - 1
        // earlier ones.
        if depth + 1 >= limits.longest_ring {
            continue;
        }
        for to in referees_of(&at) {
            if seen.len() >= MOST_RING_VISITS {
                // A referrer with thousands of referees would make this
                // search cost what the program is: stop, say nothing.
                return None;
            }
            if seen.insert(to.clone()) {
                came_from.insert(to.clone(), at.clone());
                queue.push_back((to, depth + 1));
            }
        }
    }
    None
}

/// The most customers one ring search visits: past it the search stops
/// without a signal, so its cost stays bounded whatever the graph.
pub const MOST_RING_VISITS: usize = 10_000;

/// The referees of each referrer in `edges` (referrer → referee), for
/// [`ring`] over a list held in memory.
pub fn referees_in(
    edges: &[(CustomerId, CustomerId)],
) -> impl FnMut(&CustomerId) -> Vec<CustomerId> + '_ {
    let mut by_referrer: HashMap<&CustomerId, Vec<CustomerId>> = HashMap::new();
    for (from, to) in edges {
        by_referrer.entry(from).or_default().push(to.clone());
    }
    move |c| by_referrer.get(c).cloned().unwrap_or_default()
}

/// A cluster: `sharing` of the referrer's referees share an identifier
/// with another of his referees (the caller counts them from the keyed
/// hashes).
pub fn cluster(referrer: &CustomerId, sharing: u64, limits: &Limits) -> Option<Signal> {
    (sharing > limits.shared_referees).then(|| Signal {
        check: Check::Cluster,
        severity: Severity::Suspicious,
        reason: format!(
            "{sharing} of {referrer}'s referees share identifiers with each other (limit {})",
            limits.shared_referees
        ),
        evidence: vec![Evidence::Count(Counted {
            what: format!("referees of {referrer} sharing identifiers"),
            count: sharing,
            limit: limits.shared_referees,
            window_seconds: 0,
        })],
    })
}

/// A conversion sooner after the share or click than a person could
/// manage (`least_seconds_to_convert`).
pub fn timing(
    touched_at: DateTime<Utc>,
    converted_at: DateTime<Utc>,
    limits: &Limits,
) -> Option<Signal> {
    let elapsed = converted_at - touched_at;
    let seconds = elapsed.num_seconds();
    (converted_at >= touched_at && elapsed < TimeDelta::seconds(limits.least_seconds_to_convert))
        .then(|| Signal {
            check: Check::Timing,
            severity: Severity::Suspicious,
            reason: format!(
                "the referee bought {seconds} s after the click, the least expected is {} s",
                limits.least_seconds_to_convert
            ),
            evidence: vec![Evidence::Seconds {
                what: "from the click to the order".to_owned(),
                seconds,
                at_least: limits.least_seconds_to_convert,
            }],
        })
}

/// An order at or past `order_value_multiple_bps` of `norm` (the
/// referrer's referees' usual order, e.g. their median). Amounts in
/// different currencies, or a norm of zero, say nothing.
pub fn order_value(amount: Money, norm: Money, limits: &Limits) -> Option<Signal> {
    // A multiple of 0 would flag every order: read it as the check off.
    if amount.currency() != norm.currency()
        || norm.minor() <= 0
        || limits.order_value_multiple_bps == 0
    {
        return None;
    }
    let scaled = i128::from(amount.minor()) * 10_000;
    let bar = i128::from(norm.minor()) * i128::from(limits.order_value_multiple_bps);
    (scaled >= bar).then(|| Signal {
        check: Check::OrderValue,
        severity: Severity::Suspicious,
        reason: format!(
            "the order of {amount} is at least {}.{:02}× the referees' usual {norm}",
            limits.order_value_multiple_bps / 10_000,
            limits.order_value_multiple_bps % 10_000 / 100
        ),
        evidence: vec![Evidence::Amount {
            amount,
            norm,
            multiple_bps: limits.order_value_multiple_bps,
        }],
    })
}

/// Code leakage: `referees` unrelated referees used one code arriving
/// from `site` (the referring host of their touches).
pub fn code_leakage(site: &str, referees: u64, limits: &Limits) -> Option<Signal> {
    (referees > limits.referees_per_site).then(|| Signal {
        check: Check::CodeLeakage,
        severity: Severity::Suspicious,
        reason: format!(
            "{referees} unrelated referees used the code from {site} (limit {})",
            limits.referees_per_site
        ),
        evidence: vec![Evidence::Count(Counted {
            what: format!("referees arriving from {site}"),
            count: referees,
            limit: limits.referees_per_site,
            window_seconds: 0,
        })],
    })
}

/// Code guessing: `attempts` invalid codes typed from one source in the
/// last hour.
pub fn code_guessing(source: &str, attempts: u64, limits: &Limits) -> Option<Signal> {
    (attempts > limits.invalid_codes_per_hour).then(|| Signal {
        check: Check::CodeGuessing,
        severity: if attempts > limits.invalid_codes_per_hour.saturating_mul(5) {
            Severity::Strong
        } else {
            Severity::Suspicious
        },
        reason: format!(
            "{attempts} invalid codes from {source} in an hour (limit {})",
            limits.invalid_codes_per_hour
        ),
        evidence: vec![Evidence::Count(Counted {
            what: format!("invalid codes from {source}"),
            count: attempts,
            limit: limits.invalid_codes_per_hour,
            window_seconds: 3_600,
        })],
    })
}

/// Refunds and conversions, of one referrer's referees or of a program.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundCounts {
    /// Conversions refunded in full.
    pub refunds: u64,
    /// Conversions.
    pub conversions: u64,
}

/// Refund abuse: the referrer's referees refund at or past
/// `refund_rate_multiple_bps` times the program's rate, over at least
/// `least_conversions_for_refund_rate` conversions and `least_refunds`
/// refunds. Exact: rates are compared by cross-multiplying integers.
pub fn refund_abuse(
    referrer: &CustomerId,
    theirs: RefundCounts,
    program: RefundCounts,
    limits: &Limits,
) -> Option<Signal> {
    // More refunds than conversions is bad data (a refund counted twice):
    // read it as every order refunded rather than let it hide the rate.
    let theirs = RefundCounts {
        refunds: theirs.refunds.min(theirs.conversions),
        ..theirs
    };
    if theirs.conversions < limits.least_conversions_for_refund_rate
        || theirs.refunds < limits.least_refunds
    {
        return None;
    }
    // theirs.refunds / theirs.conversions >= multiple × program.refunds /
    // program.conversions, cross-multiplied. Counts are taken at most
    // 2^40 (a trillion conversions) so the products fit in 128 bits.
    let c = |n: u64| u128::from(n.min(1 << 40));
    let lhs = c(theirs.refunds) * c(program.conversions.max(1)) * 10_000;
    let rhs =
        u128::from(limits.refund_rate_multiple_bps) * c(program.refunds) * c(theirs.conversions);
    (lhs >= rhs).then(|| Signal {
        check: Check::RefundAbuse,
        severity: Severity::Suspicious,
        reason: format!(
            "{referrer}'s referees refunded {} of {} orders; the program, {} of {}",
            theirs.refunds, theirs.conversions, program.refunds, program.conversions
        ),
        evidence: vec![Evidence::Rate {
            what: format!("refunds of {referrer}'s referees"),
            events: theirs.refunds,
            out_of: theirs.conversions,
            program_events: program.refunds,
            program_out_of: program.conversions,
        }],
    })
}

#[cfg(test)]
mod tests;

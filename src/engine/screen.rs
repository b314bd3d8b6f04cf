//! Fraud screening through the engine: what it reads for the checks of
//! [`fraud::checks`](crate::fraud::checks), and the verdict it hands to the
//! pure decisions ([`RuleInputs::screen`](super::decide::RuleInputs)).
//!
//! Reads are bounded by the policy's limits, never by the program's size:
//! velocity reads at most twice a limit of recent referees or matches, a
//! ring walks up at most `longest_ring` referrers, a cluster looks at most
//! at [`CLUSTER_MATCHES`] customers per identifier.

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};

use super::Engine;
use super::book::Screen;
use crate::code::Code;
use crate::error::{Error, ErrorKind};
use crate::fraud::FraudSettings;
use crate::fraud::checks::{self, Limits, Rate, RefereeHistory, RefundCounts, Signal};
use crate::fraud::identity::{IdentityInput, IdentityKind, IdentitySignals, SignalHash};
use crate::fraud::policy::Screening;
use crate::ledger::CounterKey;
use crate::model::{Conversion, CustomerId, ProgramId, Signup};
use crate::money::Money;
use crate::store::{
    ConversionRecord, CustomerRecord, IdentityRecord, Referral, Store, TouchRecord, Write,
};

use super::HostFacts;

/// How many customers holding one identifier a cluster check looks at.
pub const CLUSTER_MATCHES: usize = 64;

/// How many earlier referred orders the order-value norm needs.
pub const LEAST_ORDERS_FOR_NORM: usize = 3;

/// A customer's identity input, hashed under every key of the ring (to
/// meet hashes stored under older keys); the current key's hashes are the
/// ones stored.
#[derive(Debug, Clone)]
pub(super) struct Hashed {
    pub matching: IdentitySignals,
    pub current: Vec<SignalHash>,
    pub disposable: bool,
}

/// The customers holding one kind of the referee's identifiers, with when
/// each was first seen with it.
type Held = (IdentityKind, Vec<(CustomerId, DateTime<Utc>)>);

/// The most matches a velocity read needs to tell a strong signal (past
/// twice the limit) from a suspicious one.
fn velocity_read(limit: u64) -> usize {
    usize::try_from(limit.saturating_mul(2).saturating_add(2))
        .unwrap_or(usize::MAX)
        .min(10_000)
}

impl<S: Store> Engine<S> {
    /// The program's fraud settings, when it screens.
    pub(super) fn fraud_settings(&self) -> Option<&FraudSettings> {
        self.program.fraud()
    }

    /// Hashes what the host passed; `None` when it passed nothing.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] for identity passed to a program that
    /// does not screen, or to an engine without a keyring (it would be
    /// dropped); [`ErrorKind::InvalidInput`] naming the first field a
    /// normaliser refused.
    pub(super) fn hash_identity(&self, identity: &IdentityInput) -> Result<Option<Hashed>, Error> {
        if identity.fields().next().is_none() {
            return Ok(None);
        }
        let Some(settings) = self.fraud_settings() else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "program {} does not screen for fraud (ProgramBuilder::fraud), so the identity passed would be dropped",
                    self.program.id()
                ),
            ));
        };
        let Some(keyring) = &self.keyring else {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "this engine has no identity keyring (Engine::with_identity_keyring): identity cannot be hashed",
            ));
        };
        let matching = keyring.signals_for_matching(identity, &settings.identity);
        if let Some(e) = matching.errors().first() {
            return Err(Error::invalid(
                &format!("identity.{}", field_name(e.kind)),
                &e.error,
            ));
        }
        let current_key = keyring.current_id();
        let current = matching
            .hashes()
            .filter(|h| h.key == current_key)
            .copied()
            .collect();
        Ok(Some(Hashed {
            disposable: matching.disposable_email(),
            matching,
            current,
        }))
    }

    /// The write adding `hashed` to `customer`'s identity record first seen
    /// at `at`; `None` when the record holds them all already.
    pub(super) async fn identity_write(
        &self,
        customer: &CustomerId,
        hashed: &Hashed,
        at: DateTime<Utc>,
    ) -> Result<Option<Write>, Error> {
        let read = self.store.identity(self.program.id(), customer).await?;
        let (mut record, expected) = match read {
            Some(v) => (v.record, v.version),
            None => (
                IdentityRecord {
                    program: self.program.id().clone(),
                    customer: customer.clone(),
                    signals: Vec::new(),
                    disposable_email: false,
                },
                0,
            ),
        };
        let mut added = record.merge(&IdentitySignals::from_hashes(hashed.current.clone()), at);
        if hashed.disposable && !record.disposable_email {
            record.disposable_email = true;
            added = true;
        }
        Ok(added.then_some(Write::PutIdentity { record, expected }))
    }

    /// The customers other than `customer` whose identity holds one of
    /// `hashes` of `kind`, with when it was first seen with them, at most
    /// `limit` per hash.
    async fn holders(
        &self,
        hashes: &IdentitySignals,
        kind: IdentityKind,
        customer: &CustomerId,
        limit: usize,
    ) -> Result<Vec<(CustomerId, DateTime<Utc>)>, Error> {
        let mut out: Vec<(CustomerId, DateTime<Utc>)> = Vec::new();
        for hash in hashes.hashes().filter(|h| h.kind == kind) {
            for m in self
                .store
                .identity_matches(self.program.id(), hash, limit)
                .await?
            {
                if m.customer != *customer {
                    out.push((m.customer, m.first_seen));
                }
            }
        }
        // A customer holds a kind's hash under several keys once rotated:
        // count them once, at the earliest sighting.
        out.sort_unstable();
        out.dedup_by(|b, a| a.0 == b.0);
        Ok(out)
    }

    /// The signals of a referred signup: self-referral by shared
    /// identifiers, a referee who is not new, the referrer's velocity,
    /// signups per device and network, a ring closed through earlier
    /// referrals, and a cluster of the referrer's referees sharing
    /// identifiers.
    pub(super) async fn screen_signup(
        &self,
        settings: &FraudSettings,
        signup: &Signup,
        referral: &Referral,
        hashed: Option<&Hashed>,
        facts: &HostFacts,
    ) -> Result<Screen, Error> {
        let program = self.program.id();
        let limits = &settings.policy.limits;
        let referrer = &referral.referrer;
        let referee = &signup.customer;
        let mut signals: Vec<Signal> = Vec::new();

        if let Some(h) = hashed {
            if let Some(r) = self.store.identity(program, referrer).await? {
                signals.extend(checks::self_referral(
                    referrer,
                    &h.matching.shared_with(&r.record.identity()),
                ));
            }
            // Each kind's holders read once, for velocity and the cluster.
            let mut held: Vec<Held> = Vec::new();
            for kind in h.matching.kinds() {
                let read = match kind {
                    IdentityKind::Ip => continue,
                    IdentityKind::IpPrefix => {
                        velocity_read(Rate::SignupsPerIpPrefixPerDay.limit(limits))
                    }
                    IdentityKind::Device => {
                        velocity_read(Rate::SignupsPerDevicePerDay.limit(limits))
                            .max(CLUSTER_MATCHES)
                    }
                    _ => CLUSTER_MATCHES,
                };
                held.push((kind, self.holders(&h.matching, kind, referee, read).await?));
            }
            for (kind, rate) in [
                (IdentityKind::Device, Rate::SignupsPerDevicePerDay),
                (IdentityKind::IpPrefix, Rate::SignupsPerIpPrefixPerDay),
            ] {
                let holders: &[(CustomerId, DateTime<Utc>)] = held
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map_or(&[], |(_, list)| list);
                let mut times: Vec<DateTime<Utc>> = holders.iter().map(|(_, t)| *t).collect();
                times.push(signup.at);
                signals.extend(checks::velocity(
                    rate,
                    checks::count_in_window(rate, &times, signup.at),
                    limits,
                ));
            }
            signals.extend(self.cluster(&held, referrer, limits).await?);
        }

        signals.extend(checks::duplicate_referee(&RefereeHistory {
            existing_customer: facts.referee_is_new == Some(false),
            referred_by: None,
        }));

        let read = velocity_read(limits.referrals_per_hour.max(limits.referrals_per_day));
        let recent = self.store.recent_referees(program, referrer, read).await?;
        let mut times: Vec<DateTime<Utc>> = recent
            .iter()
            .filter(|c| c.customer != *referee)
            .map(|c| c.signed_up_at)
            .collect();
        times.push(signup.at);
        for rate in [Rate::ReferralsPerHour, Rate::ReferralsPerDay] {
            signals.extend(checks::velocity(
                rate,
                checks::count_in_window(rate, &times, signup.at),
                limits,
            ));
        }

        signals.extend(self.ring(referrer, referee, limits).await?);

        if let Some(site) = facts
            .referring_site
            .as_deref()
            .and_then(|s| site_host(s).ok())
        {
            let key = site_counter(self.program.id(), &referral.code, &site);
            let before = self.store.counter(&key).await?;
            let count = u64::try_from(before).unwrap_or(0).saturating_add(1);
            signals.extend(checks::code_leakage(&site, count, limits));
        }
        if let Some(h) = hashed {
            let attempts = self.guesses(h, signup.at).await?;
            if let Some(source) = attempts.source {
                signals.extend(checks::code_guessing(&source, attempts.count, limits));
            }
        }
        Ok(self.verdict(settings, referrer, signals, signup.at))
    }

    /// Invalid codes typed from the referee's IP in this clock hour and the
    /// one before it (a sliding hour, over-counted rather than missed).
    pub(super) async fn guesses(
        &self,
        hashed: &Hashed,
        at: DateTime<Utc>,
    ) -> Result<Guesses, Error> {
        let Some(ip) = hashed.current.iter().find(|h| h.kind == IdentityKind::Ip) else {
            return Ok(Guesses::default());
        };
        let [this_hour, hour_before] = guess_counters(self.program.id(), ip, at);
        let mut count = 0u64;
        for key in [&this_hour, &hour_before] {
            let n = self.store.counter(key).await?;
            count = count.saturating_add(u64::try_from(n).unwrap_or(0));
        }
        Ok(Guesses {
            // Not the hash: a signal is kept with records that erasure
            // keeps, and must not link back to the address.
            source: Some("the referee's IP address".to_owned()),
            count,
            key: Some(this_hour),
        })
    }

    /// A loop closed by `referrer → referee`: walks up from the referrer
    /// through who referred whom (each customer has one referrer), at most
    /// `longest_ring` steps, looking for the referee.
    async fn ring(
        &self,
        referrer: &CustomerId,
        referee: &CustomerId,
        limits: &Limits,
    ) -> Result<Option<Signal>, Error> {
        let mut edges: Vec<(CustomerId, CustomerId)> = Vec::new();
        let mut at = referrer.clone();
        for _ in 0..limits.longest_ring {
            if at == *referee {
                break;
            }
            let Some(c) = self.store.customer(self.program.id(), &at).await? else {
                break;
            };
            let Some(r) = c.record.referral else {
                break;
            };
            if edges.iter().any(|(from, _)| *from == r.referrer) {
                break;
            }
            edges.push((r.referrer.clone(), at.clone()));
            at = r.referrer;
        }
        Ok(checks::ring(
            referrer,
            referee,
            checks::referees_in(&edges),
            limits,
        ))
    }

    /// Referees of `referrer` holding a personal identifier (not a
    /// network: a family shares one) that the new referee holds too.
    async fn cluster(
        &self,
        held: &[Held],
        referrer: &CustomerId,
        limits: &Limits,
    ) -> Result<Option<Signal>, Error> {
        let mut others: BTreeSet<&CustomerId> = BTreeSet::new();
        for (kind, holders) in held {
            if matches!(kind, IdentityKind::Ip | IdentityKind::IpPrefix) {
                continue;
            }
            for (c, _) in holders.iter().take(CLUSTER_MATCHES) {
                if c != referrer {
                    others.insert(c);
                }
            }
        }
        let mut sharing = 0u64;
        for c in &others {
            if let Some(v) = self.store.customer(self.program.id(), c).await? {
                if v.record.referral.is_some_and(|r| r.referrer == *referrer) {
                    sharing += 1;
                }
            }
        }
        // The new referee is one of the group.
        Ok(checks::cluster(
            referrer,
            if sharing > 0 { sharing + 1 } else { 0 },
            limits,
        ))
    }

    /// The signals of an attributed conversion, with those its referral's
    /// signup screening found: self-referral by what the order adds (a
    /// payment instrument, a delivery address), timing, order value,
    /// the referrer's conversion velocity and their referees' refunds.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn screen_conversion(
        &self,
        settings: &FraudSettings,
        conversion: &Conversion,
        customer: &CustomerRecord,
        referrer: &CustomerId,
        touches: &[TouchRecord],
        hashed: Option<&Hashed>,
    ) -> Result<Screen, Error> {
        let program = self.program.id();
        let limits = &settings.policy.limits;
        // The signup's signals are about its referrer: carried only into
        // orders credited to them.
        let same_referrer = customer
            .referral
            .as_ref()
            .is_some_and(|r| r.referrer == *referrer);
        let mut signals: Vec<Signal> = customer
            .screening
            .as_ref()
            .filter(|_| same_referrer)
            .map(|s| s.verdict.signals.clone())
            .unwrap_or_default();

        if let Some(h) = hashed {
            if let Some(r) = self.store.identity(program, referrer).await? {
                let mut mine = h.matching.clone();
                if let Some(stored) = self.store.identity(program, &customer.customer).await? {
                    mine = IdentitySignals::from_hashes(
                        mine.hashes()
                            .chain(stored.record.identity().hashes())
                            .copied(),
                    );
                }
                let shared = mine.shared_with(&r.record.identity());
                if let Some(s) = checks::self_referral(referrer, &shared) {
                    // The recomputed signal replaces the signup's.
                    signals.retain(|old| old.check != s.check);
                    signals.push(s);
                }
            }
        }

        // From the referee's latest touch of the referrer's codes (or the
        // referral's decisive touch) to the order.
        let touched_at = touches
            .iter()
            .filter(|t| t.referrer == *referrer && t.touch.at <= conversion.at)
            .map(|t| t.touch.at)
            .max()
            .or_else(|| {
                customer
                    .referral
                    .as_ref()
                    .filter(|r| r.referrer == *referrer)
                    .map(|r| r.touched_at)
            });
        if let Some(at) = touched_at {
            signals.extend(checks::timing(at, conversion.at, limits));
        }

        let earlier: Vec<ConversionRecord> = self
            .store
            .referred_conversions(program, referrer)
            .await?
            .into_iter()
            .filter(|c| c.conversion.order != conversion.order && c.conversion.at <= conversion.at)
            .collect();
        if let Some(norm) = median_order(&earlier) {
            signals.extend(checks::order_value(conversion.amount, norm, limits));
        }
        let mut times: Vec<DateTime<Utc>> = earlier.iter().map(|c| c.conversion.at).collect();
        times.push(conversion.at);
        for rate in [Rate::ConversionsPerHour, Rate::ConversionsPerDay] {
            signals.extend(checks::velocity(
                rate,
                checks::count_in_window(rate, &times, conversion.at),
                limits,
            ));
        }
        let theirs = RefundCounts {
            refunds: earlier
                .iter()
                .filter(|c| c.fully_refunded_at.is_some_and(|t| t <= conversion.at))
                .count() as u64,
            conversions: earlier.len() as u64,
        };
        let norm = RefundCounts {
            refunds: u64::from(settings.normal_refund_rate_bps),
            conversions: 10_000,
        };
        signals.extend(checks::refund_abuse(referrer, theirs, norm, limits));
        Ok(self.verdict(settings, referrer, signals, conversion.at))
    }

    fn verdict(
        &self,
        settings: &FraudSettings,
        referrer: &CustomerId,
        signals: Vec<Signal>,
        at: DateTime<Utc>,
    ) -> Screen {
        Screen {
            referrer: referrer.clone(),
            screening: Screening {
                at,
                verdict: settings.policy.decide(signals),
            },
        }
    }
}

/// How many invalid codes one source typed lately, and the counter this
/// hour's attempts go to.
#[derive(Debug, Clone, Default)]
pub(super) struct Guesses {
    pub source: Option<String>,
    pub count: u64,
    pub key: Option<CounterKey>,
}

/// The counters of invalid codes from `ip` for the clock hour of `at` and
/// the hour before, named by the keyed hash (never the address).
fn guess_counters(program: &ProgramId, ip: &SignalHash, at: DateTime<Utc>) -> [CounterKey; 2] {
    // Formatted by hand: chrono's strftime parses its pattern every call.
    let hour = |t: DateTime<Utc>| {
        use chrono::{Datelike, Timelike};
        format!(
            "{:04}-{:02}-{:02}T{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour()
        )
    };
    let before = at.checked_sub_signed(TimeDelta::hours(1)).unwrap_or(at);
    let digest = ip.digest_hex();
    [
        CounterKey::program(
            program,
            format!("fraud/guesses/{}/{digest}/{}", ip.key, hour(at)),
        ),
        CounterKey::program(
            program,
            format!("fraud/guesses/{}/{digest}/{}", ip.key, hour(before)),
        ),
    ]
}

/// The counter of referrals through `code` arriving from `site`.
pub(super) fn site_counter(program: &ProgramId, code: &Code, site: &str) -> CounterKey {
    CounterKey::program(program, format!("fraud/site/{code}/{site}"))
}

/// The host of a referring site given as a URL or a host name, lower case
/// and without `www.`.
///
/// # Errors
/// [`ErrorKind::InvalidInput`] naming `facts.referring_site` for text that
/// is neither.
pub(super) fn site_host(site: &str) -> Result<String, Error> {
    let bad = |why: &str| {
        let shown: String = site.chars().take(40).collect();
        Error::invalid("facts.referring_site", format!("{shown:?} {why}"))
    };
    let trimmed = site.trim();
    let host = if trimmed.contains("://") {
        url::Url::parse(trimmed)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .ok_or_else(|| bad("is not a URL with a host"))?
    } else {
        let candidate = format!("https://{trimmed}");
        url::Url::parse(&candidate)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .ok_or_else(|| bad("is not a host name"))?
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host = host.strip_prefix("www.").unwrap_or(&host).to_owned();
    if host.is_empty() || host.len() > 253 {
        return Err(bad("is not a host name"));
    }
    Ok(host)
}

/// The median order value of `orders` (the lower middle for an even
/// count), once there are [`LEAST_ORDERS_FOR_NORM`] of them.
fn median_order(orders: &[ConversionRecord]) -> Option<Money> {
    if orders.len() < LEAST_ORDERS_FOR_NORM {
        return None;
    }
    let mut amounts: Vec<Money> = orders.iter().map(|c| c.conversion.amount).collect();
    amounts.sort_by_key(|m| m.minor());
    amounts.get((amounts.len() - 1) / 2).copied()
}

/// The [`IdentityInput`] field of a kind, for error messages.
fn field_name(kind: IdentityKind) -> &'static str {
    match kind {
        IdentityKind::IpPrefix => "ip",
        other => other.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_referring_site_is_its_host_in_lower_case_without_www() {
        for (given, host) in [
            ("https://www.Coupons.example/deals?x=1", "coupons.example"),
            ("coupons.example", "coupons.example"),
            ("  COUPONS.example.  ", "coupons.example"),
            ("http://user:pw@deals.example:8080/a", "deals.example"),
            ("https://موقع.example/", "xn--4gbrim.example"),
        ] {
            assert_eq!(site_host(given).unwrap(), host, "{given}");
        }
        // (`https:///path` is host `path` to a WHATWG parser, as to browsers.)
        for bad in ["", "http://", "a b", "http://[::1"] {
            let err = site_host(bad).unwrap_err();
            assert!(
                err.to_string().starts_with("facts.referring_site"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn an_error_quotes_at_most_forty_characters_of_the_site() {
        let long = format!("http://{}", "x".repeat(10_000));
        let err = site_host(&format!("{long} y")).unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    }

    proptest! {
        // Outside input: never a panic, and a host read back is itself.
        #[test]
        fn site_host_never_panics_and_is_idempotent(text in "\\PC{0,80}") {
            if let Ok(host) = site_host(&text) {
                prop_assert_eq!(site_host(&host).unwrap(), host);
            }
        }
    }

    #[test]
    fn the_median_needs_three_orders_and_takes_the_lower_middle() {
        use crate::model::{Conversion, OrderId, ProgramId};
        use crate::money::Currency;
        let order = |i: usize, minor: i64| ConversionRecord {
            program: ProgramId::new("p").unwrap(),
            conversion: Conversion {
                order: OrderId::new(format!("o{i}")).unwrap(),
                customer: CustomerId::new("c").unwrap(),
                amount: Money::new(minor, Currency::SAR),
                at: DateTime::<Utc>::UNIX_EPOCH,
            },
            referrer: None,
            credits: Vec::new(),
            payouts: Vec::new(),
            withheld: Vec::new(),
            refund_count: 0,
            refunded: Money::zero(Currency::SAR),
            fully_refunded_at: None,
            screening: None,
        };
        let orders: Vec<ConversionRecord> = [500, 100, 300, 200]
            .iter()
            .enumerate()
            .map(|(i, m)| order(i, *m))
            .collect();
        assert_eq!(median_order(&orders[..2]), None);
        assert_eq!(median_order(&orders[..3]).unwrap().minor(), 300);
        assert_eq!(median_order(&orders).unwrap().minor(), 200);
    }
}

//! The engine: reads from a [`Store`], decides with pure code
//! ([`decide`]), and applies each decision's writes in one atomic,
//! conditional commit.
//!
//! Every recorded event is idempotent by its id: a retried call returns the
//! first call's outcome and never pays twice. When another writer wins a
//! race (the commit fails with a conflict), the engine re-reads and decides
//! again, up to [`Engine::with_max_attempts`] times.
//!
//! # Retrying
//!
//! An error with [`Error::is_retryable`] (a store that could not be
//! reached, an outcome unknown, conflicts that outlasted the attempts) may
//! be retried with the same arguments; `examples/retry.rs` shows a bounded
//! loop. Whether a retry is harmless, operation by operation:
//!
//! - **Safe, returns the first outcome:** `record_touch`, `record_signup`,
//!   `record_conversion` (by order id; for both, also their `_with` and
//!   `_screened` forms: a retry's facts and identity are not read),
//!   `record_refund` (by order and refund id), `redeem` (by redemption
//!   id), `redeem_coupon` (by code and order), `issue_code` (one primary
//!   code per customer), `create_vanity_code`, `set_code_active`,
//!   `approve`, `reject`, `award_prizes`, `mark_delivered`.
//! - **Safe, does the rest:** `release_due`, `expire_due` (a batch resumes
//!   where a crash left it).
//! - **Safe, may do more:** `claim_deliveries` leases further due items;
//!   the ones the lost call leased come back when their lease ends.
//!   `mark_failed` after a lost success answers `InvalidInput` (the item is
//!   no longer leased); nothing is counted twice.
//!
//! # Lookback
//!
//! A conversion credits the touches inside the program's lookback window,
//! measured from each touch to the order, both ends included (a touch
//! exactly `lookback` before the order counts). A code typed at signup is a
//! touch at the signup's time, and counts under any attribution policy. So
//! a referee's first order more than `lookback` after their typed-code
//! signup earns nothing: `NotRewarded { referrer: Some(..), reason:
//! OutsideLookback }` names the referrer whose window ran out.

use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

pub mod book;
mod codes;
#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod conformance;
pub mod decide;
mod ledger_ops;
mod outbox;
mod privacy;
mod reads;
mod screen;
pub use codes::{CodeCheck, IssuedCode, VanityOptions};
pub use ledger_ops::BatchReport;
pub use outbox::Delivery;
pub use privacy::{CustomerExport, Erasure, IdentityExport};
pub use screen::{CLUSTER_MATCHES, LEAST_ORDERS_FOR_NORM};

pub use crate::store::{
    ConversionOutcome, Outcome, Reason, RedemptionOutcome, RefundOutcome, SignupOutcome,
    TouchOutcome,
};

use crate::code::{Code, CodeSecret};
use crate::error::{Error, ErrorKind};
use crate::fraud::identity::{IdentityInput, Keyring};
use crate::incentive::{Trigger, TriggerKind};
use crate::ledger::{Balance, CounterKey, Reward};
use crate::model::TouchKind;
use crate::model::{Actor, Conversion, CustomerId, OrderId, Refund, RewardId, Signup, Touch};
use crate::money::Money;
use crate::program::{CodeGeneration, Incentive, Program};
use crate::reward::Role;
use crate::reward::Unit;
use crate::store::{
    CodeOrigin, CodeRecord, CodeUnusable, CommitPlan, ConversionRecord, CustomerRecord,
    IdempotencyKey, LedgerCursor, LedgerEntry, Request, Store, StoreErrorKind, TouchRecord,
    Versioned, Write,
};
use book::{Counters, Step};
pub use decide::HostFacts;
use decide::{Decision, RuleInputs};

/// How many times an operation re-reads and decides again after losing a
/// race, by default.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 16;

/// How many fresh codes the engine tries before giving up on finding a
/// free one. With 40 bits per code a second try is already rare.
const CODE_ATTEMPTS: u32 = 16;

/// A referral program running over a store.
///
/// Generic over the store because `Store` uses native `async fn` and so is
/// not `dyn`-compatible; share one store between engines with `Arc<S>` or
/// `&S`. Every method takes `&self`: an engine can be shared between tasks.
pub struct Engine<S> {
    store: S,
    program: Program,
    secret: Option<CodeSecret>,
    keyring: Option<Keyring>,
    rng: Mutex<Box<dyn RngCore + Send>>,
    max_attempts: u32,
}

impl<S: std::fmt::Debug> std::fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store)
            .field("program", &self.program.id())
            .field("secret", &self.secret.as_ref().map(|_| ".."))
            .field("keyring", &self.keyring.as_ref().map(|k| k.key_ids()))
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl<S: Store> Engine<S> {
    /// An engine for `program` over `store`, drawing random codes from the
    /// operating system's CSPRNG.
    pub fn new(store: S, program: Program) -> Engine<S> {
        Engine {
            store,
            program,
            secret: None,
            keyring: None,
            rng: Mutex::new(Box::new(StdRng::from_os_rng())),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Uses `rng` for random codes. Pass a CSPRNG in production; a seeded
    /// one makes tests replayable.
    pub fn with_rng(mut self, rng: impl RngCore + Send + 'static) -> Engine<S> {
        self.rng = Mutex::new(Box::new(rng));
        self
    }

    /// The secret for [`CodeGeneration::Derived`] programs.
    pub fn with_code_secret(mut self, secret: CodeSecret) -> Engine<S> {
        self.secret = Some(secret);
        self
    }

    /// The keys identity inputs are hashed with (HMAC-SHA256), for
    /// programs that screen for fraud. Keep the secrets outside the store;
    /// rotate by adding a new current key and keeping the old ones until
    /// [`purge_expired`](Self::purge_expired) has dropped what they hashed.
    pub fn with_identity_keyring(mut self, keyring: Keyring) -> Engine<S> {
        self.keyring = Some(keyring);
        self
    }

    /// How many times to re-read and decide again after a conflict (at
    /// least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Engine<S> {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The program.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The store, for reading it in tests and tools. Writing to it behind
    /// the engine's back voids the engine's guarantees: commit only through
    /// the engine.
    pub fn store(&self) -> &S {
        &self.store
    }

    fn exhausted(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::Conflict,
            format!(
                "{what}: still conflicting after {} attempts; retrying later is safe",
                self.max_attempts
            ),
        )
    }

    /// Returns the remembered outcome if `key` was committed before; an
    /// error if it was committed for another event. `same` compares the
    /// stored request with the call's event without cloning the event.
    async fn replay(
        &self,
        key: &IdempotencyKey,
        same: impl Fn(&Request) -> bool,
    ) -> Result<Option<Outcome>, Error> {
        match self.store.idempotency(self.program.id(), key).await? {
            None => Ok(None),
            Some(record) if same(&record.request) => Ok(Some(record.outcome)),
            Some(_) => Err(Error::new(
                ErrorKind::IdempotencyMismatch,
                format!(
                    "{:?} id {:?} was already used for a different event in program {}",
                    key.kind,
                    key.id,
                    self.program.id()
                ),
            )),
        }
    }

    /// Commits a decision. `Ok(None)` means a conflict: re-read and retry.
    async fn commit<O>(&self, decision: Decision<O>) -> Result<Option<O>, Error> {
        if decision.plan.idempotency.is_none() && decision.plan.writes.is_empty() {
            // Nothing to write (an answer that is not remembered).
            return Ok(Some(decision.outcome));
        }
        match self.store.commit(decision.plan).await {
            Ok(()) => Ok(Some(decision.outcome)),
            Err(e) if e.kind() == StoreErrorKind::Conflict => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The customer records of the owners of `codes` who signed up (for
    /// the signup's fraud checks: a shared visitor id, a referral ring).
    async fn owners(
        &self,
        codes: &HashMap<Code, Versioned<CodeRecord>>,
    ) -> Result<Vec<CustomerRecord>, Error> {
        let mut owners: Vec<&CustomerId> = codes.values().map(|v| &v.record.owner).collect();
        owners.sort();
        owners.dedup();
        let mut out = Vec::with_capacity(owners.len());
        for owner in owners {
            if let Some(c) = self.store.customer(self.program.id(), owner).await? {
                out.push(c.record);
            }
        }
        Ok(out)
    }

    // A slice, not an iterator: a borrowing closure held across `.await`
    // makes the caller's future not `Send` (a rustc limitation with
    // higher-ranked lifetimes), and engines run under `tokio::spawn`.
    async fn read_codes(
        &self,
        codes: &[Code],
    ) -> Result<HashMap<Code, Versioned<CodeRecord>>, Error> {
        let mut out = HashMap::new();
        for &code in codes {
            if out.contains_key(&code) {
                continue;
            }
            if let Some(v) = self.store.code(self.program.id(), &code).await? {
                out.insert(code, v);
            }
        }
        Ok(out)
    }

    /// Reads counters until a decision has all it needs, then returns it.
    async fn decide_with_counters<T>(
        &self,
        mut decide: impl FnMut(&mut Counters) -> Result<Step<T>, Error>,
    ) -> Result<T, Error> {
        let mut read = HashMap::new();
        let mut coupons = Vec::new();
        loop {
            let mut counters = Counters::with_coupons(read.clone(), coupons.clone());
            match decide(&mut counters)? {
                Step::Done(d) => return Ok(d),
                Step::Read(keys) => {
                    let wanted = counters.coupons_wanted();
                    if wanted > 0 {
                        let format = &self.program.ledger_policy().coupons.format;
                        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
                        let target = coupons.len() + wanted;
                        for _ in 0..wanted.saturating_mul(CODE_ATTEMPTS as usize) {
                            if coupons.len() == target {
                                break;
                            }
                            let code = format.random(&mut **rng);
                            if self.program.blocklist().contains_in(&code).is_none() {
                                coupons.push(code);
                            }
                        }
                        drop(rng);
                        if coupons.len() < target {
                            return Err(Error::new(
                                ErrorKind::LimitReached,
                                "no coupon code outside the blocklist found: check the coupon format's prefix",
                            ));
                        }
                        if keys.is_empty() {
                            continue;
                        }
                    }
                    if keys.iter().all(|k| read.contains_key(k)) {
                        // A decision asking again for what it was given is
                        // an engine bug; never loop on it.
                        return Err(Error::new(
                            ErrorKind::Unsupported,
                            "a decision asked for counters it already had",
                        ));
                    }
                    for key in keys {
                        let v = self.store.counter(&key).await?;
                        read.insert(key, v);
                    }
                }
            }
        }
    }

    /// What the program's incentive rules need for a conversion: the
    /// referrer's history and shares, and recorded experiment variants.
    /// Nothing is read for a program with a fixed reward.
    async fn rule_inputs(
        &self,
        conversion: &Conversion,
        customer: Option<&Versioned<CustomerRecord>>,
        touches: &[TouchRecord],
        codes: &HashMap<Code, Versioned<CodeRecord>>,
        facts: &HostFacts,
    ) -> Result<RuleInputs, Error> {
        let program = &self.program;
        if !matches!(program.incentive(), Incentive::Rules(_)) {
            return Ok(RuleInputs::default());
        }
        let Some(referrer) =
            decide::conversion_referrer(program, conversion, customer, touches, codes)
        else {
            return Ok(RuleInputs::default());
        };
        let before = Before {
            at: conversion.at,
            order: Some(&conversion.order),
            touch: None,
        };
        self.rule_inputs_for(&referrer, Some(&conversion.customer), before, facts)
            .await
    }

    /// What the rules need about `referrer` (and the referee, for
    /// experiments assigned per referee) for an event at `before.at`: the
    /// referrer's successful referrals and shares before it (never the
    /// event itself), and recorded experiment variants.
    async fn rule_inputs_for(
        &self,
        referrer: &CustomerId,
        referee: Option<&CustomerId>,
        before: Before<'_>,
        facts: &HostFacts,
    ) -> Result<RuleInputs, Error> {
        let program = &self.program;
        let Incentive::Rules(rules) = program.incentive() else {
            return Ok(RuleInputs::default());
        };
        // Read only what some rule can use: the referrer's referrals for
        // tiers and milestones, their shares for share rate limits.
        let needs_referrals = rules
            .rules()
            .iter()
            .any(|r| r.tiers.is_some() || matches!(r.trigger, Trigger::Milestone { .. }));
        let needs_shares = rules
            .rules()
            .iter()
            .any(|r| matches!(r.trigger, Trigger::Share { limit: Some(_) }));
        let referred: Vec<ConversionRecord> = if needs_referrals {
            self.store
                .referred_conversions(program.id(), referrer)
                .await?
                .into_iter()
                .filter(|c| {
                    Some(&c.conversion.order) != before.order && c.conversion.at <= before.at
                })
                .collect()
        } else {
            Vec::new()
        };
        let shares = if needs_shares {
            self.store
                .touches(
                    program.id(),
                    &Actor::Customer(referrer.clone()),
                    DateTime::<Utc>::MIN_UTC,
                )
                .await?
                .into_iter()
                .filter(|t| {
                    t.touch.kind == TouchKind::Share
                        && t.touch.at <= before.at
                        && Some(&t.touch.id) != before.touch
                })
                .map(|t| t.touch.at)
                .collect()
        } else {
            Vec::new()
        };
        let mut inputs = RuleInputs {
            loaded: true,
            host: facts.clone(),
            history: decide::referrer_history(referrer, &referred, shares),
            ..RuleInputs::default()
        };
        for experiment in rules.experiments() {
            let subject = match (experiment.unit, referee) {
                (Role::Referrer, _) => referrer.clone(),
                (Role::Referee, Some(r)) => r.clone(),
                (Role::Referee, None) => continue,
            };
            if let Some(a) = self
                .store
                .assignment(program.id(), &experiment.id, &subject)
                .await?
            {
                inputs.variants.insert(experiment.id.clone(), a.variant);
            }
            inputs.subjects.insert(experiment.id.clone(), subject);
        }
        Ok(inputs)
    }

    /// Whether the program's rules listen to `trigger`.
    fn rules_listen_to(&self, trigger: TriggerKind) -> bool {
        matches!(self.program.incentive(), Incentive::Rules(r) if r.listens_to(trigger))
    }

    /// On a state-dependent refusal (a duplicate signup, an order already
    /// refunded), the same event may have been committed by a concurrent
    /// delivery since this attempt read its key: answer with its outcome,
    /// as a retry would get, rather than the refusal.
    async fn refusal_or_replay(
        &self,
        key: &IdempotencyKey,
        same: impl Fn(&Request) -> bool,
        err: Error,
    ) -> Result<Outcome, Error> {
        if matches!(
            err.kind(),
            ErrorKind::Duplicate | ErrorKind::InvalidInput | ErrorKind::NotFound
        ) {
            if let Some(o) = self.replay(key, same).await? {
                return Ok(o);
            }
        }
        Err(err)
    }

    /// Records a touch: a click, visit or share of a code.
    ///
    /// # Errors
    /// [`ErrorKind::IdempotencyMismatch`] if the touch id was used for a
    /// different touch; [`ErrorKind::Store`] when the store fails.
    pub async fn record_touch(&self, touch: &Touch) -> Result<TouchOutcome, Error> {
        let key = IdempotencyKey::touch(&touch.id);
        let same = |r: &Request| matches!(r, Request::Touch(x) if x == touch);
        for _ in 0..self.max_attempts {
            if let Some(Outcome::Touch(o)) = self.replay(&key, same).await? {
                return Ok(o);
            }
            let code = self.store.code(self.program.id(), &touch.code).await?;
            let uses = match &code {
                Some(v) => {
                    self.code_uses(&[touch.code], &HashMap::from([(touch.code, v.clone())]))
                        .await?
                }
                None => decide::CodeUses::new(),
            };
            let owner = code.as_ref().map(|v| v.record.owner.clone());
            let inputs = match owner {
                Some(owner)
                    if decide::is_own_share(touch, &owner)
                        && self.rules_listen_to(TriggerKind::Share) =>
                {
                    let before = Before {
                        at: touch.at,
                        order: None,
                        touch: Some(&touch.id),
                    };
                    self.rule_inputs_for(&owner, None, before, &HostFacts::default())
                        .await?
                }
                _ => RuleInputs::default(),
            };
            let decision = self
                .decide_with_counters(|counters| {
                    decide::touch(
                        &self.program,
                        touch,
                        code.as_ref(),
                        &uses,
                        &inputs,
                        counters,
                    )
                })
                .await?;
            if let Some(o) = self.commit(decision).await? {
                return Ok(o);
            }
        }
        Err(self.exhausted("record_touch"))
    }

    /// Registers a new customer, linking them to a referrer through the
    /// code they typed or their earlier touches as a visitor.
    ///
    /// # Errors
    /// [`ErrorKind::Duplicate`] if the customer already signed up under
    /// another event id; [`ErrorKind::IdempotencyMismatch`];
    /// [`ErrorKind::Store`].
    pub async fn record_signup(&self, signup: &Signup) -> Result<SignupOutcome, Error> {
        self.record_signup_with(signup, &HostFacts::default()).await
    }

    /// Registers a new customer like [`record_signup`](Self::record_signup),
    /// with what the host knows of both customers for incentive rules with
    /// a signup trigger. Facts are not part of the event's identity: a
    /// retried signup returns its first outcome.
    ///
    /// # Errors
    /// As [`record_signup`](Self::record_signup).
    pub async fn record_signup_with(
        &self,
        signup: &Signup,
        facts: &HostFacts,
    ) -> Result<SignupOutcome, Error> {
        self.record_signup_screened(signup, facts, &IdentityInput::default())
            .await
    }

    /// Registers a new customer like
    /// [`record_signup_with`](Self::record_signup_with), with the identity
    /// the host saw (e-mail, phone, device, IP, payment, address) for the
    /// program's fraud screening. The identity is normalised and hashed
    /// with the engine's keyring when the signup is new, and only the keyed
    /// hashes are stored, in the customer's identity record; the raw values
    /// are never kept. Like facts, identity is not part of the event's
    /// identity: a retry is answered from the first call; its identity is
    /// not read again (neither checked nor hashed, so a retry with other or
    /// malformed identity, or sent to an engine without a keyring, still
    /// gets the first outcome).
    ///
    /// In a program with [`FraudSettings`](crate::fraud::FraudSettings),
    /// every referred signup is screened (with or without identity: the
    /// referrer's velocity and rings need none); the verdict is kept with
    /// the customer ([`CustomerRecord::screening`]) and applies to every
    /// reward of the referral. A verdict rejecting both sides refuses the
    /// referral: `NotReferred { reason: SuspectedFraud }`.
    ///
    /// # Errors
    /// As [`record_signup`](Self::record_signup); also, for a signup not
    /// recorded before, [`ErrorKind::InvalidInput`] naming an identity
    /// field a normaliser refused (`identity.phone: …`), and
    /// [`ErrorKind::Unsupported`] for identity passed to a program that
    /// does not screen or an engine without a keyring.
    pub async fn record_signup_screened(
        &self,
        signup: &Signup,
        facts: &HostFacts,
        identity: &IdentityInput,
    ) -> Result<SignupOutcome, Error> {
        let program = &self.program;
        let site = match (&facts.referring_site, self.fraud_settings()) {
            // Like any fact, a `Referer` that is not a URL or host (empty,
            // `about:blank`) is no error: it is not counted.
            (Some(site), Some(_)) => screen::site_host(site).ok(),
            _ => None,
        };
        let key = IdempotencyKey::signup(&signup.id);
        let same = |r: &Request| matches!(r, Request::Signup(x) if x == signup);
        // Read once the event is known to be new: a retry is answered from
        // the first call, whatever identity it carries.
        let mut hashed = None;
        for _ in 0..self.max_attempts {
            if let Some(Outcome::Signup(o)) = self.replay(&key, same).await? {
                return Ok(o);
            }
            if hashed.is_none() {
                hashed = Some(self.hash_identity(identity)?);
            }
            let hashed = hashed.as_ref().and_then(Option::as_ref);
            let existing = self.store.customer(program.id(), &signup.customer).await?;
            let touches = match &signup.visitor {
                Some(v) => {
                    self.store
                        .touches(
                            program.id(),
                            &Actor::Visitor(v.clone()),
                            decide::window_start(signup.at, program.lookback()),
                        )
                        .await?
                }
                None => Vec::new(),
            };
            let candidates = decide::signup_candidates(signup, &touches);
            let wanted: Vec<Code> = candidates.iter().map(|c| c.code).collect();
            let codes = self.read_codes(&wanted).await?;
            let uses = self.code_uses(&wanted, &codes).await?;
            let owners = self.owners(&codes).await?;
            let reads = decide::SignupReads {
                existing: existing.as_ref(),
                candidates: &candidates,
                codes: &codes,
                uses: &uses,
                owners: &owners,
            };
            // The referral first; then, under signup rules, what its
            // referrer's history says, and under fraud settings, what the
            // screening says (pure decisions again, with more read).
            let mut inputs = RuleInputs::default();
            let mut screened = false;
            let decided = loop {
                let decided = self
                    .decide_with_counters(|counters| {
                        decide::signup(program, signup, &reads, &inputs, counters)
                    })
                    .await;
                if let Ok(Decision {
                    outcome: SignupOutcome::Referred { referral, .. },
                    ..
                }) = &decided
                {
                    let mut again = false;
                    if !inputs.loaded && self.rules_listen_to(TriggerKind::Signup) {
                        let before = Before {
                            at: signup.at,
                            order: None,
                            touch: None,
                        };
                        inputs = self
                            .rule_inputs_for(
                                &referral.referrer,
                                Some(&signup.customer),
                                before,
                                facts,
                            )
                            .await?;
                        again = true;
                    }
                    if let (false, Some(settings)) = (screened, self.fraud_settings()) {
                        let screen = self
                            .screen_signup(settings, signup, referral, hashed, facts)
                            .await?;
                        inputs.screen = Some(screen);
                        screened = true;
                        again = true;
                    }
                    if again {
                        continue;
                    }
                }
                break decided;
            };
            let mut decision = match decided {
                Ok(d) => d,
                Err(e) => match self.refusal_or_replay(&key, same, e).await? {
                    Outcome::Signup(o) => return Ok(o),
                    _ => return Err(self.wrong_kind("record_signup")),
                },
            };
            if let Some(h) = hashed {
                if let Some(w) = self.identity_write(&signup.customer, h, signup.at).await? {
                    decision.plan.writes.push(w);
                }
            }
            if let (Some(site), SignupOutcome::Referred { referral, .. }) =
                (&site, &decision.outcome)
            {
                // Counted as it is screened: the next referee from the site
                // sees this one.
                decision.plan.writes.push(Write::AddToCounter {
                    key: screen::site_counter(program.id(), &referral.code, site),
                    delta: 1,
                    limit: None,
                });
            }
            if let Some(o) = self.commit(decision).await? {
                return Ok(o);
            }
        }
        Err(self.exhausted("record_signup"))
    }

    /// Records what the host knows of a customer's identity outside a
    /// signup or an order (a referrer who joined before the program, a
    /// changed phone number), for the fraud screening of later referrals.
    /// Only keyed hashes are stored. Idempotent: identity already recorded
    /// writes nothing.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] naming a refused field;
    /// [`ErrorKind::Unsupported`] for a program that does not screen or an
    /// engine without a keyring; [`ErrorKind::Store`].
    pub async fn record_identity(
        &self,
        customer: &CustomerId,
        identity: &IdentityInput,
        at: DateTime<Utc>,
    ) -> Result<(), Error> {
        let Some(hashed) = self.hash_identity(identity)? else {
            return Ok(());
        };
        for _ in 0..self.max_attempts {
            let Some(write) = self.identity_write(customer, &hashed, at).await? else {
                return Ok(());
            };
            let decision = Decision {
                outcome: (),
                plan: CommitPlan {
                    idempotency: None,
                    writes: vec![write],
                },
            };
            if self.commit(decision).await?.is_some() {
                return Ok(());
            }
        }
        Err(self.exhausted("record_identity"))
    }

    /// Records an order and books the rewards it earns.
    ///
    /// # Errors
    /// [`ErrorKind::CurrencyMismatch`] if the order is not in the program's
    /// currency; [`ErrorKind::InvalidInput`] for a negative amount;
    /// [`ErrorKind::IdempotencyMismatch`] if the order id was recorded with
    /// different data; [`ErrorKind::Store`].
    pub async fn record_conversion(
        &self,
        conversion: &Conversion,
    ) -> Result<ConversionOutcome, Error> {
        self.record_conversion_with(conversion, &HostFacts::default())
            .await
    }

    /// Records an order like [`record_conversion`](Self::record_conversion),
    /// with what the host knows of both customers for the program's
    /// incentive rules (tags, segments, eligibility attributes, whether the
    /// referee is new). The referrer is the one
    /// [`customer`](Self::customer)`(buyer)` names as referrer; look them
    /// up first to describe them. Facts are not part of the event's
    /// identity: a retried order returns its first outcome whatever facts
    /// come with the retry.
    ///
    /// # Errors
    /// As [`record_conversion`](Self::record_conversion).
    pub async fn record_conversion_with(
        &self,
        conversion: &Conversion,
        facts: &HostFacts,
    ) -> Result<ConversionOutcome, Error> {
        self.record_conversion_screened(conversion, facts, &IdentityInput::default())
            .await
    }

    /// Records an order like
    /// [`record_conversion_with`](Self::record_conversion_with), with the
    /// identity the host saw with it (a payment instrument's fingerprint, a
    /// delivery address, the IP) for the program's fraud screening; only
    /// keyed hashes are stored, added to the buyer's identity record. As
    /// with facts, a retry is answered from the first call; its identity is
    /// not read again (neither checked nor hashed).
    ///
    /// In a program with [`FraudSettings`](crate::fraud::FraudSettings),
    /// every attributed order is screened, with or without identity: its
    /// signals (timing, order value, the referrer's velocity and refunds,
    /// identifiers shared with the referrer) and those of the referral's
    /// signup decide per side whether its rewards are paid, held for
    /// review ([`Engine::review_queue`]) or withheld with
    /// [`Reason::SuspectedFraud`]. The screening is kept with the
    /// conversion ([`ConversionRecord::screening`]) when it found anything.
    ///
    /// # Errors
    /// As [`record_conversion`](Self::record_conversion), and as
    /// [`record_signup_screened`](Self::record_signup_screened) for the
    /// identity of an order not recorded before.
    pub async fn record_conversion_screened(
        &self,
        conversion: &Conversion,
        facts: &HostFacts,
        identity: &IdentityInput,
    ) -> Result<ConversionOutcome, Error> {
        let program = &self.program;
        let key = IdempotencyKey::conversion(&conversion.order);
        let same = |r: &Request| matches!(r, Request::Conversion(x) if x == conversion);
        // As in `record_signup_screened`: read once the order is new.
        let mut hashed = None;
        for _ in 0..self.max_attempts {
            if let Some(Outcome::Conversion(o)) = self.replay(&key, same).await? {
                return Ok(o);
            }
            if hashed.is_none() {
                hashed = Some(self.hash_identity(identity)?);
            }
            let hashed = hashed.as_ref().and_then(Option::as_ref);
            let customer = self
                .store
                .customer(program.id(), &conversion.customer)
                .await?;
            let touches = self
                .store
                .touches(
                    program.id(),
                    &Actor::Customer(conversion.customer.clone()),
                    decide::window_start(conversion.at, program.lookback()),
                )
                .await?;
            let wanted: Vec<Code> = touches.iter().map(|t| t.touch.code).collect();
            let codes = self.read_codes(&wanted).await?;
            let mut inputs = self
                .rule_inputs(conversion, customer.as_ref(), &touches, &codes, facts)
                .await?;
            if let (Some(settings), Some(c)) = (self.fraud_settings(), &customer) {
                let referrer =
                    decide::conversion_referrer(program, conversion, Some(c), &touches, &codes);
                if let Some(referrer) = referrer {
                    let screen = self
                        .screen_conversion(
                            settings, conversion, &c.record, &referrer, &touches, hashed,
                        )
                        .await?;
                    inputs.screen = Some(screen);
                }
            }
            let mut decision = self
                .decide_with_counters(|counters| {
                    decide::conversion(
                        program,
                        conversion,
                        customer.as_ref(),
                        &touches,
                        &codes,
                        &inputs,
                        counters,
                    )
                })
                .await?;
            if let (Some(h), Some(_)) = (hashed, &customer) {
                if let Some(w) = self
                    .identity_write(&conversion.customer, h, conversion.at)
                    .await?
                {
                    decision.plan.writes.push(w);
                }
            }
            if let Some(o) = self.commit(decision).await? {
                return Ok(o);
            }
        }
        Err(self.exhausted("record_conversion"))
    }

    /// Records a refund and claws back the rewards it reverses.
    ///
    /// Deliver a refund after its order's conversion: the engine claws back
    /// what that conversion booked, and keeps nothing for an order it has
    /// not recorded (orders of customers who had not signed up yet are not
    /// recorded). A host that may see a refund before its order (or its
    /// order before the signup) records the refund again after it records
    /// the conversion; idempotency makes that safe.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for an order not recorded (yet);
    /// [`ErrorKind::InvalidInput`] for an amount that is not positive or
    /// exceeds what is left; [`ErrorKind::CurrencyMismatch`];
    /// [`ErrorKind::IdempotencyMismatch`]; [`ErrorKind::Store`].
    pub async fn record_refund(&self, refund: &Refund) -> Result<RefundOutcome, Error> {
        let key = IdempotencyKey::refund(&refund.order, &refund.id);
        let same = |r: &Request| matches!(r, Request::Refund(x) if x == refund);
        for _ in 0..self.max_attempts {
            if let Some(Outcome::Refund(o)) = self.replay(&key, same).await? {
                return Ok(o);
            }
            let record = self
                .store
                .conversion(self.program.id(), &refund.order)
                .await?;
            let customer = match &record {
                Some(r) => {
                    self.store
                        .customer(self.program.id(), &r.record.conversion.customer)
                        .await?
                }
                None => None,
            };
            let mut rewards = HashMap::new();
            let mut outbox = HashMap::new();
            if let Some(r) = &record {
                for p in &r.record.payouts {
                    if let Some(v) = self.store.reward(self.program.id(), &p.reward).await? {
                        rewards.insert(p.reward.clone(), v);
                    }
                    if p.kind.needs_delivery() {
                        let id = book::delivery_id(&p.reward);
                        if let Some(v) = self.store.outbox_item(self.program.id(), &id).await? {
                            outbox.insert(id, v);
                        }
                    }
                }
            }
            let decided = self
                .decide_with_counters(|counters| {
                    decide::refund(
                        &self.program,
                        refund,
                        record.as_ref(),
                        customer.as_ref(),
                        &rewards,
                        &outbox,
                        counters,
                    )
                })
                .await;
            let decision = match decided {
                Ok(d) => d,
                Err(e) => match self.refusal_or_replay(&key, same, e).await? {
                    Outcome::Refund(o) => return Ok(o),
                    _ => return Err(self.wrong_kind("record_refund")),
                },
            };
            if let Some(o) = self.commit(decision).await? {
                return Ok(o);
            }
        }
        Err(self.exhausted("record_refund"))
    }

    fn wrong_kind(&self, what: &str) -> Error {
        Error::new(
            ErrorKind::IdempotencyMismatch,
            format!("{what}: the stored outcome is of another kind of event"),
        )
    }
}

/// The event a rule history is read for: only what came before it counts.
#[derive(Debug, Clone, Copy)]
struct Before<'a> {
    at: DateTime<Utc>,
    order: Option<&'a OrderId>,
    touch: Option<&'a crate::model::EventId>,
}

/// How many ledger entries [`Engine::ledger`] reads per page.
pub(crate) const LEDGER_PAGE: usize = 500;

/// When a code issued at `at` and valid for `d` expires; the last
/// representable instant if that is beyond it (never a panic on extreme
/// times).
fn expiry(at: DateTime<Utc>, d: chrono::TimeDelta) -> DateTime<Utc> {
    at.checked_add_signed(d).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Runs a future to completion on the current thread, for synchronous
/// callers.
///
/// Enough for [`MemoryStore`](crate::MemoryStore), whose futures are ready
/// at once, and for any store whose futures need no runtime of their own.
/// A store built on tokio (a PostgreSQL pool, say) needs to be driven from
/// a tokio runtime instead (`Runtime::block_on`).
///
/// # Example: a synchronous caller
/// ```
/// use referrals::engine::block_on;
/// assert_eq!(block_on(async { 40 + 2 }), 42);
/// ```
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            // Spurious wake-ups just poll again.
            Poll::Pending => std::thread::park(),
        }
    }
}

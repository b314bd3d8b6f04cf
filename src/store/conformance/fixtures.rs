//! Fixtures shared by the clauses. Every helper panics with a message
//! naming what was wrong: this is test support, and a typo in a fixture
//! must not read as a store bug.

pub(crate) use std::fmt::Debug;
use std::future::Future;

pub(crate) use chrono::{DateTime, Utc};
use tokio::runtime::{Handle, RuntimeFlavor};

pub(crate) use super::super::{
    AssignmentRecord, Balance, CodeOrigin, CodeRecord, CommitPlan, ConversionRecord, CounterKey,
    CounterScope, CustomerRecord, DeliveryState, Due, EntryKind, EventKind, HoldReason,
    IdempotencyKey, IdempotencyRecord, IdentityMatch, IdentityRecord, LedgerCursor, LedgerEntry,
    OutboxCursor, OutboxItem, Payout, Referral, Request, ReviewDecision, Reward, RewardCursor,
    Role, SeenSignal, Store, StoreErrorKind, StoreResult, TouchRecord, Versioned, Withheld, Write,
};
pub(crate) use super::super::{
    ConversionOutcome, Outcome, Reason, RefundOutcome, SignupOutcome, TouchOutcome,
};
pub(crate) use crate::attribution::{Credit, Share, TouchPoint};
pub(crate) use crate::code::Code;
pub(crate) use crate::fraud::identity::{IdentityKind, KeyId, SignalHash};
pub(crate) use crate::ledger::{Progress, fold_balances};
pub(crate) use crate::model::{
    Actor, Channel, Conversion, CustomerId, DeliveryId, EventId, IdError, LedgerEntryId,
    OperatorId, OrderId, ProgramId, RedemptionId, Refund, RefundAmount, RefundId, RewardId, Signup,
    Touch, TouchKind, VisitorId,
};
pub(crate) use crate::money::{Currency, Money};
pub(crate) use crate::reward::{Discount, Label, RewardKind, Unit};
pub(crate) use crate::store::ReferredCustomer;

// ---------------------------------------------------------------------------
// Fixtures. Every helper panics with a message naming what was wrong: this
// module is test support, and a typo in a fixture must not read as a store
// bug.

/// The program most clauses write to.
pub(crate) const PROGRAM: &str = "conformance";

/// 2026-01-01T00:00:00Z: fixture times are offsets from here.
pub(crate) const BASE_SECS: i64 = 1_767_225_600;

pub(crate) fn id<T>(kind: &str, text: &str) -> T
where
    T: for<'a> TryFrom<&'a str, Error = IdError>,
{
    T::try_from(text).unwrap_or_else(|err| panic!("conformance fixture: {kind} {text:?}: {err}"))
}

pub(crate) fn pid(text: &str) -> ProgramId {
    id("program id", text)
}
pub(crate) fn cid(text: &str) -> CustomerId {
    id("customer id", text)
}
pub(crate) fn vid(text: &str) -> VisitorId {
    id("visitor id", text)
}
pub(crate) fn eid(text: &str) -> EventId {
    id("event id", text)
}
pub(crate) fn oid(text: &str) -> OrderId {
    id("order id", text)
}
pub(crate) fn rid(text: &str) -> RefundId {
    id("refund id", text)
}
pub(crate) fn rwid(text: &str) -> RewardId {
    id("reward id", text)
}
pub(crate) fn lid(text: &str) -> LedgerEntryId {
    id("ledger entry id", text)
}
pub(crate) fn opid(text: &str) -> OperatorId {
    id("operator id", text)
}
pub(crate) fn rdid(text: &str) -> RedemptionId {
    id("redemption id", text)
}
pub(crate) fn did(text: &str) -> DeliveryId {
    id("delivery id", text)
}

pub(crate) fn label(text: &str) -> Label {
    Label::new(text).unwrap_or_else(|err| panic!("conformance fixture: label {text:?}: {err}"))
}

pub(crate) fn code(text: &str) -> Code {
    Code::from_canonical(text)
        .unwrap_or_else(|err| panic!("conformance fixture: code {text:?}: {err}"))
}

/// `secs` seconds and `nanos` nanoseconds after [`BASE_SECS`]. Fixtures use
/// nanoseconds on purpose: see [`records_round_trip_exactly`].
pub(crate) fn at_ns(secs: i64, nanos: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(BASE_SECS + secs, nanos)
        .unwrap_or_else(|| panic!("conformance fixture: time {secs}s {nanos}ns is out of range"))
}

pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    at_ns(secs, 0)
}

/// "Since the beginning" for touch reads: the Unix epoch rather than
/// `DateTime::MIN_UTC`, which many databases cannot represent.
pub(crate) fn since_ever() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

pub(crate) fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

pub(crate) fn kwd(minor: i64) -> Money {
    Money::new(minor, Currency::KWD)
}

pub(crate) fn code_record(
    program: &ProgramId,
    text: &str,
    owner: &str,
    origin: CodeOrigin,
) -> CodeRecord {
    CodeRecord {
        program: program.clone(),
        code: code(text),
        owner: cid(owner),
        origin,
        created_at: at(0),
        expires_at: None,
        max_uses: None,
        active: true,
        reward: None,
    }
}

pub(crate) fn customer_record(program: &ProgramId, customer: &str) -> CustomerRecord {
    CustomerRecord {
        program: program.clone(),
        customer: cid(customer),
        signed_up_at: at(10),
        visitor: None,
        referral: None,
        qualifying_touches: Vec::new(),
        rewarded_conversions: 0,
        purchases: 0,
        screening: None,
    }
}

pub(crate) fn conversion_record(
    program: &ProgramId,
    order: &str,
    customer: &str,
) -> ConversionRecord {
    ConversionRecord {
        program: program.clone(),
        conversion: Conversion {
            order: oid(order),
            customer: cid(customer),
            amount: sar(10_000),
            at: at(20),
        },
        referrer: None,
        credits: Vec::new(),
        payouts: Vec::new(),
        withheld: Vec::new(),
        refund_count: 0,
        refunded: sar(0),
        fully_refunded_at: None,
        screening: None,
    }
}

pub(crate) fn touch_record(
    program: &ProgramId,
    touch: &str,
    actor: Actor,
    at: DateTime<Utc>,
) -> TouchRecord {
    TouchRecord {
        program: program.clone(),
        referrer: cid("referrer"),
        touch: Touch {
            id: eid(touch),
            actor,
            code: code("SARA2026"),
            channel: Channel::Link,
            kind: TouchKind::Click,
            at,
        },
    }
}

pub(crate) fn ledger_entry(
    program: &ProgramId,
    entry: &str,
    customer: &str,
    at: DateTime<Utc>,
    minor: i64,
) -> LedgerEntry {
    LedgerEntry {
        id: lid(entry),
        program: program.clone(),
        customer: cid(customer),
        role: Role::Referrer,
        reward: rwid("reward-1"),
        kind: if minor < 0 {
            EntryKind::Reversed
        } else {
            EntryKind::Granted
        },
        unit: Unit::Money(Currency::SAR),
        quantity: minor.abs(),
        order: Some(oid("order")),
        refund: (minor < 0).then(|| rid("refund")),
        redemption: None,
        at,
    }
}

/// The remembered outcome of an ignored touch `touch` by `visitor`: the
/// smallest record the engine writes.
pub(crate) fn touch_idempotency(
    program: &ProgramId,
    touch: &str,
    visitor: &str,
) -> IdempotencyRecord {
    let request =
        Request::Touch(touch_record(program, touch, Actor::Visitor(vid(visitor)), at(30)).touch);
    IdempotencyRecord {
        program: program.clone(),
        key: request.key(),
        request,
        outcome: Outcome::Touch(TouchOutcome::Ignored {
            reason: Reason::UnknownCode,
        }),
    }
}

pub(crate) fn key(kind: EventKind, id: &str) -> IdempotencyKey {
    IdempotencyKey {
        kind,
        id: id.to_owned(),
    }
}

pub(crate) fn plan(writes: Vec<Write>) -> CommitPlan {
    CommitPlan {
        idempotency: None,
        writes,
    }
}

pub(crate) fn put_code(record: CodeRecord, expected: u64) -> Write {
    Write::PutCode { record, expected }
}
pub(crate) fn put_customer(record: CustomerRecord, expected: u64) -> Write {
    Write::PutCustomer { record, expected }
}
pub(crate) fn put_conversion(record: ConversionRecord, expected: u64) -> Write {
    Write::PutConversion { record, expected }
}
pub(crate) fn put_reward(record: Reward, expected: u64) -> Write {
    Write::PutReward {
        record: Box::new(record),
        expected,
    }
}
pub(crate) fn put_outbox(record: OutboxItem, expected: u64) -> Write {
    Write::PutOutboxItem {
        record: Box::new(record),
        expected,
    }
}
pub(crate) fn add(key: &CounterKey, delta: i64, limit: Option<i64>) -> Write {
    Write::AddToCounter {
        key: key.clone(),
        delta,
        limit,
    }
}

/// A counter of `program` named `name`.
pub(crate) fn program_counter(program: &ProgramId, name: &str) -> CounterKey {
    CounterKey::program(program, name)
}

/// A counter shared by every program naming `scope`.
pub(crate) fn shared_counter(scope: &str, name: &str) -> CounterKey {
    CounterKey {
        scope: CounterScope::Shared(label(scope)),
        name: name.to_owned(),
    }
}

/// A ledger entry of any kind and unit (the store checks no transition:
/// it keeps what the engine books).
#[allow(clippy::too_many_arguments)]
pub(crate) fn entry_of(
    program: &ProgramId,
    entry: &str,
    customer: &str,
    reward: &str,
    kind: EntryKind,
    unit: Unit,
    quantity: i64,
    at: DateTime<Utc>,
) -> LedgerEntry {
    LedgerEntry {
        id: lid(entry),
        program: program.clone(),
        customer: cid(customer),
        reward: rwid(reward),
        role: Role::Referrer,
        kind,
        unit,
        quantity,
        order: Some(oid("order")),
        refund: None,
        redemption: None,
        at,
    }
}

/// A credit reward of `customer` in SAR whose [`Progress`] is the fold of
/// `steps` (the first earns it: `Held` or `Granted`), held until
/// `release_at` and expiring at `expires_at`.
pub(crate) fn reward_record(
    program: &ProgramId,
    reward: &str,
    customer: &str,
    release_at: Option<DateTime<Utc>>,
    expires_at: Option<DateTime<Utc>>,
    steps: &[(EntryKind, i64)],
) -> Reward {
    let mut progress = Progress::default();
    for &(kind, quantity) in steps {
        progress
            .apply(reward, kind, quantity)
            .unwrap_or_else(|err| panic!("conformance fixture: reward {reward:?}: {err}"));
    }
    Reward {
        id: rwid(reward),
        program: program.clone(),
        customer: cid(customer),
        role: Role::Referrer,
        kind: RewardKind::Credit {
            amount: sar(progress.quantity),
        },
        unit: Unit::Money(Currency::SAR),
        order: Some(oid("order")),
        rule: None,
        rule_set_version: None,
        terms_version: 1,
        variant: None,
        once_key: None,
        earned_at: at(0),
        hold: release_at.map(|_| HoldReason::HoldPeriod),
        release_at,
        expires_at,
        coupon: None,
        decision: None,
        reserved: Vec::new(),
        progress,
    }
}

/// A cash outbox item of `customer` for reward `reward-{item}`, due at
/// 0 s, in `state`, next tried at `next_attempt_at`.
pub(crate) fn outbox_item(
    program: &ProgramId,
    item: &str,
    customer: &str,
    state: DeliveryState,
    next_attempt_at: DateTime<Utc>,
) -> OutboxItem {
    OutboxItem {
        id: did(item),
        program: program.clone(),
        reward: rwid(&format!("reward-{item}")),
        customer: cid(customer),
        kind: RewardKind::Cash { amount: sar(2_500) },
        quantity: 2_500,
        coupon: None,
        due_at: at(0),
        next_attempt_at,
        attempts: 0,
        last_error: None,
        state,
    }
}

/// A lease of `worker` until `until`.
pub(crate) fn leased(worker: &str, until: DateTime<Utc>) -> DeliveryState {
    DeliveryState::Leased {
        worker: worker.to_owned(),
        until,
    }
}

/// `customer`'s assignment to `variant` of `experiment`, at 40 s and some
/// nanoseconds.
pub(crate) fn assignment_record(
    program: &ProgramId,
    experiment: &str,
    customer: &str,
    variant: &str,
) -> AssignmentRecord {
    AssignmentRecord {
        program: program.clone(),
        experiment: label(experiment),
        customer: cid(customer),
        variant: label(variant),
        at: at_ns(40, 123_456_789),
    }
}

/// A keyed hash of `kind` under key `key`, its digest the 32 bytes
/// `byte, byte + 1, …` (wrapping): hashes built from one `byte` share
/// their digest whatever their kind or key, which is what a store must
/// not confuse.
pub(crate) fn signal_hash(kind: IdentityKind, key: u32, byte: u8) -> SignalHash {
    let mut digest = [0u8; 32];
    for (i, d) in (0u8..).zip(digest.iter_mut()) {
        *d = byte.wrapping_add(i);
    }
    SignalHash {
        kind,
        key: KeyId::new(key),
        digest,
    }
}

/// `customer`'s identity record holding `signals` (each hash with when it
/// was first seen), kept ascending by hash as records keep them.
pub(crate) fn identity_record(
    program: &ProgramId,
    customer: &str,
    signals: &[(SignalHash, DateTime<Utc>)],
) -> IdentityRecord {
    let mut signals: Vec<SeenSignal> = signals
        .iter()
        .map(|&(hash, first_seen)| SeenSignal { hash, first_seen })
        .collect();
    signals.sort();
    if signals.windows(2).any(|w| w[0].hash == w[1].hash) {
        panic!("conformance fixture: identity of {customer:?} holds a hash twice");
    }
    IdentityRecord {
        program: program.clone(),
        customer: cid(customer),
        signals,
        disposable_email: false,
    }
}

/// An identity record with every field used: a hash of each of the seven
/// kinds under key 1, the e-mail and phone hashes again under key
/// `u32::MAX` (a rotation), first seen at distinct nanoseconds, and a
/// disposable e-mail.
pub(crate) fn full_identity(program: &ProgramId, customer: &str) -> IdentityRecord {
    let mut signals: Vec<(SignalHash, DateTime<Utc>)> = (0u8..)
        .zip(IdentityKind::ALL)
        .map(|(i, kind)| {
            let first_seen = at_ns(i64::from(i), 999_999_999 - u32::from(i));
            (signal_hash(kind, 1, 0xF0 + i), first_seen)
        })
        .collect();
    signals.push((
        signal_hash(IdentityKind::Email, u32::MAX, 0xF0),
        at_ns(90, 1),
    ));
    signals.push((
        signal_hash(IdentityKind::Phone, u32::MAX, 0x00),
        at_ns(-1, 7),
    ));
    IdentityRecord {
        disposable_email: true,
        ..identity_record(program, customer, &signals)
    }
}

/// `customer`, signed up at `signed_up_at`, referred by `referrer` (with a
/// code, a channel and a touch time of its own) or by nobody.
pub(crate) fn referee_record(
    program: &ProgramId,
    customer: &str,
    referrer: Option<&str>,
    signed_up_at: DateTime<Utc>,
) -> CustomerRecord {
    CustomerRecord {
        signed_up_at,
        referral: referrer.map(|r| Referral {
            referrer: cid(r),
            code: code("SARA2026"),
            channel: Channel::Link,
            touched_at: at(1),
        }),
        ..customer_record(program, customer)
    }
}

pub(crate) fn put_identity(record: IdentityRecord, expected: u64) -> Write {
    Write::PutIdentity { record, expected }
}

pub(crate) fn delete_identity(program: &ProgramId, customer: &str, expected: u64) -> Write {
    Write::DeleteIdentity {
        program: program.clone(),
        customer: cid(customer),
        expected,
    }
}

/// One plan creating one record of every kind, with its idempotency record.
pub(crate) fn one_of_each(
    code: CodeRecord,
    customer: CustomerRecord,
    conversion: ConversionRecord,
    touch: TouchRecord,
    entry: LedgerEntry,
    idem: IdempotencyRecord,
) -> CommitPlan {
    CommitPlan {
        idempotency: Some(idem),
        writes: vec![
            put_code(code, 0),
            put_customer(customer, 0),
            put_conversion(conversion, 0),
            Write::InsertTouch(touch),
            Write::InsertLedgerEntry(entry),
        ],
    }
}

pub(crate) fn v1<T>(record: T) -> Option<Versioned<T>> {
    Some(Versioned { version: 1, record })
}

pub(crate) fn assert_multi_thread(clause: &str) {
    match Handle::try_current() {
        Err(err) => panic!(
            "{clause}: must run inside a multi-threaded tokio runtime \
             (#[tokio::test(flavor = \"multi_thread\")]): {err}"
        ),
        Ok(handle) if handle.runtime_flavor() != RuntimeFlavor::MultiThread => panic!(
            "{clause}: runs on a {:?} tokio runtime; the concurrency clauses need \
             #[tokio::test(flavor = \"multi_thread\")] so that commits really race",
            handle.runtime_flavor()
        ),
        Ok(_) => {}
    }
}

/// A store and the clause using it: every call panics with the clause's
/// name, what was done and the store's error.
pub(crate) struct Probe<'s, S> {
    pub(crate) store: &'s S,
    pub(crate) clause: &'static str,
}

impl<'s, S: Store> Probe<'s, S> {
    pub(crate) fn new(store: &'s S, clause: &'static str) -> Self {
        Probe { store, clause }
    }

    pub(crate) async fn commit_ok(&self, what: &str, plan: CommitPlan) {
        if let Err(err) = self.store.commit(plan).await {
            panic!(
                "{}: {what}: commit failed ({:?}): {err}",
                self.clause,
                err.kind()
            );
        }
    }

    pub(crate) async fn commit_conflict(&self, what: &str, plan: CommitPlan) {
        match self.store.commit(plan).await {
            Ok(()) => panic!(
                "{}: {what}: the commit succeeded; the contract requires StoreErrorKind::Conflict \
                 and no write",
                self.clause
            ),
            Err(err) if err.kind() == StoreErrorKind::Conflict => {}
            Err(err) => panic!(
                "{}: {what}: expected StoreErrorKind::Conflict, got {:?}: {err}",
                self.clause,
                err.kind()
            ),
        }
    }

    pub(crate) async fn read<T>(
        &self,
        what: &str,
        result: impl Future<Output = StoreResult<T>>,
    ) -> T {
        match result.await {
            Ok(value) => value,
            Err(err) => panic!(
                "{}: reading {what} failed ({:?}): {err}",
                self.clause,
                err.kind()
            ),
        }
    }

    pub(crate) async fn idempotency(
        &self,
        p: &ProgramId,
        k: &IdempotencyKey,
    ) -> Option<IdempotencyRecord> {
        let what = format!("idempotency {:?} {:?} in {p}", k.kind, k.id);
        self.read(&what, self.store.idempotency(p, k)).await
    }

    pub(crate) async fn code(&self, p: &ProgramId, c: &Code) -> Option<Versioned<CodeRecord>> {
        let what = format!("code {c} in {p}");
        self.read(&what, self.store.code(p, c)).await
    }

    pub(crate) async fn primary_code(
        &self,
        p: &ProgramId,
        owner: &str,
    ) -> Option<Versioned<CodeRecord>> {
        let what = format!("primary code of {owner} in {p}");
        self.read(&what, self.store.primary_code(p, &cid(owner)))
            .await
    }

    pub(crate) async fn customer(
        &self,
        p: &ProgramId,
        c: &str,
    ) -> Option<Versioned<CustomerRecord>> {
        let what = format!("customer {c} in {p}");
        self.read(&what, self.store.customer(p, &cid(c))).await
    }

    pub(crate) async fn touches(
        &self,
        p: &ProgramId,
        actor: &Actor,
        since: DateTime<Utc>,
    ) -> Vec<TouchRecord> {
        let what = format!("touches of {actor:?} since {since} in {p}");
        self.read(&what, self.store.touches(p, actor, since)).await
    }

    pub(crate) async fn conversion(
        &self,
        p: &ProgramId,
        o: &str,
    ) -> Option<Versioned<ConversionRecord>> {
        let what = format!("conversion {o} in {p}");
        self.read(&what, self.store.conversion(p, &oid(o))).await
    }

    pub(crate) async fn ledger(&self, p: &ProgramId, c: &str) -> Vec<LedgerEntry> {
        let what = format!("ledger of {c} in {p}");
        self.read(&what, self.store.ledger(p, &cid(c), None, usize::MAX))
            .await
    }

    pub(crate) async fn ledger_page(
        &self,
        p: &ProgramId,
        c: &str,
        after: Option<&LedgerCursor>,
        limit: usize,
    ) -> Vec<LedgerEntry> {
        let what = format!("a ledger page of {c} in {p} after {after:?}, limit {limit}");
        self.read(&what, self.store.ledger(p, &cid(c), after, limit))
            .await
    }

    pub(crate) async fn balances(&self, p: &ProgramId, c: &str) -> Vec<Balance> {
        let what = format!("balances of {c} in {p}");
        self.read(&what, self.store.balances(p, &cid(c))).await
    }

    pub(crate) async fn reward(&self, p: &ProgramId, r: &str) -> Option<Versioned<Reward>> {
        let what = format!("reward {r} in {p}");
        self.read(&what, self.store.reward(p, &rwid(r))).await
    }

    pub(crate) async fn referred_conversions(
        &self,
        p: &ProgramId,
        referrer: &str,
    ) -> Vec<ConversionRecord> {
        let what = format!("conversions referred by {referrer} in {p}");
        self.read(&what, self.store.referred_conversions(p, &cid(referrer)))
            .await
    }

    pub(crate) async fn customer_conversions(
        &self,
        p: &ProgramId,
        customer: &str,
    ) -> Vec<ConversionRecord> {
        let what = format!("conversions bought by {customer} in {p}");
        self.read(&what, self.store.customer_conversions(p, &cid(customer)))
            .await
    }

    pub(crate) async fn assignment(
        &self,
        p: &ProgramId,
        experiment: &str,
        customer: &str,
    ) -> Option<AssignmentRecord> {
        let what = format!("the assignment of {customer} in experiment {experiment} in {p}");
        self.read(
            &what,
            self.store.assignment(p, &label(experiment), &cid(customer)),
        )
        .await
    }

    pub(crate) async fn outbox_item(
        &self,
        p: &ProgramId,
        i: &str,
    ) -> Option<Versioned<OutboxItem>> {
        let what = format!("outbox item {i} in {p}");
        self.read(&what, self.store.outbox_item(p, &did(i))).await
    }

    pub(crate) async fn outbox_due(
        &self,
        p: &ProgramId,
        now: DateTime<Utc>,
        after: Option<&OutboxCursor>,
        limit: usize,
    ) -> Vec<Versioned<OutboxItem>> {
        let what = format!("outbox items of {p} claimable at {now} after {after:?}, limit {limit}");
        self.read(&what, self.store.outbox_due(p, now, after, limit))
            .await
    }

    pub(crate) async fn counter(&self, k: &CounterKey) -> i64 {
        let what = format!("counter {:?} {:?}", k.scope, k.name);
        self.read(&what, self.store.counter(k)).await
    }

    pub(crate) async fn due_rewards(
        &self,
        p: &ProgramId,
        due: Due,
        before: DateTime<Utc>,
        after: Option<&RewardCursor>,
        limit: usize,
    ) -> Vec<Versioned<Reward>> {
        let what =
            format!("{due:?} due rewards in {p} before {before} after {after:?}, limit {limit}");
        self.read(&what, self.store.due_rewards(p, due, before, after, limit))
            .await
    }

    pub(crate) async fn identity(
        &self,
        p: &ProgramId,
        c: &str,
    ) -> Option<Versioned<IdentityRecord>> {
        let what = format!("the identity of {c} in {p}");
        self.read(&what, self.store.identity(p, &cid(c))).await
    }

    pub(crate) async fn identity_matches(
        &self,
        p: &ProgramId,
        hash: &SignalHash,
        limit: usize,
    ) -> Vec<IdentityMatch> {
        let what = format!("the identity matches of {hash:?} in {p}, limit {limit}");
        self.read(&what, self.store.identity_matches(p, hash, limit))
            .await
    }

    pub(crate) async fn stale_identities(
        &self,
        p: &ProgramId,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Vec<Versioned<IdentityRecord>> {
        let what = format!("the identities of {p} seen before {before}, limit {limit}");
        self.read(&what, self.store.stale_identities(p, before, limit))
            .await
    }

    pub(crate) async fn recent_referees(
        &self,
        p: &ProgramId,
        referrer: &str,
        limit: usize,
    ) -> Vec<ReferredCustomer> {
        let what = format!("the recent referees of {referrer} in {p}, limit {limit}");
        self.read(&what, self.store.recent_referees(p, &cid(referrer), limit))
            .await
    }
}

pub(crate) fn ids_of_touches(list: &[TouchRecord]) -> Vec<&str> {
    list.iter().map(|t| t.touch.id.as_str()).collect()
}

pub(crate) fn ids_of_entries(list: &[LedgerEntry]) -> Vec<&str> {
    list.iter().map(|e| e.id.as_str()).collect()
}

pub(crate) fn ids_of_outbox(list: &[Versioned<OutboxItem>]) -> Vec<&str> {
    list.iter().map(|i| i.record.id.as_str()).collect()
}

pub(crate) fn orders_of(list: &[ConversionRecord]) -> Vec<&str> {
    list.iter().map(|c| c.conversion.order.as_str()).collect()
}

pub(crate) fn customers_of_matches(list: &[IdentityMatch]) -> Vec<&str> {
    list.iter().map(|m| m.customer.as_str()).collect()
}

pub(crate) fn customers_of_identities(list: &[Versioned<IdentityRecord>]) -> Vec<&str> {
    list.iter().map(|r| r.record.customer.as_str()).collect()
}

pub(crate) fn customers_of(list: &[CustomerRecord]) -> Vec<&str> {
    list.iter().map(|c| c.customer.as_str()).collect()
}

pub(crate) fn customers_of_referees(list: &[ReferredCustomer]) -> Vec<&str> {
    list.iter().map(|c| c.customer.as_str()).collect()
}

pub(crate) fn ids_of_rewards(list: &[Versioned<Reward>]) -> Vec<&str> {
    list.iter().map(|r| r.record.id.as_str()).collect()
}

/// The customer's balances as the fold of `entries` says they must be:
/// the entries of `program` and `customer`, one balance per unit they ever
/// had an entry in, ascending by unit.
pub(crate) fn folded_balances(
    entries: &[LedgerEntry],
    program: &ProgramId,
    customer: &str,
) -> Vec<Balance> {
    let customer = cid(customer);
    fold_balances(
        entries
            .iter()
            .filter(|e| e.program == *program && e.customer == customer),
    )
    .into_values()
    .collect()
}

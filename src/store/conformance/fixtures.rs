//! Fixtures shared by the clauses. Every helper panics with a message
//! naming what was wrong: this is test support, and a typo in a fixture
//! must not read as a store bug.

pub(crate) use std::fmt::Debug;
use std::future::Future;

pub(crate) use chrono::{DateTime, Utc};
use tokio::runtime::{Handle, RuntimeFlavor};

pub(crate) use super::super::{
    CodeOrigin, CodeRecord, CommitPlan, ConversionRecord, CustomerRecord, EntryKind, EventKind,
    IdempotencyKey, IdempotencyRecord, LedgerEntry, Payout, Referral, Request, Role, Store,
    StoreErrorKind, StoreResult, TouchRecord, Versioned, Write,
};
pub(crate) use super::super::{
    ConversionOutcome, Outcome, Reason, RefundOutcome, SignupOutcome, TouchOutcome,
};
pub(crate) use crate::attribution::{Credit, Share, TouchPoint};
pub(crate) use crate::code::Code;
pub(crate) use crate::model::{
    Actor, Channel, Conversion, CustomerId, EventId, IdError, LedgerEntryId, OrderId, ProgramId,
    Refund, RefundAmount, RefundId, RewardId, Signup, Touch, TouchKind, VisitorId,
};
pub(crate) use crate::money::{Currency, Money};
pub(crate) use crate::reward::{RewardKind, Unit};

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
}

pub(crate) fn ids_of_touches(list: &[TouchRecord]) -> Vec<&str> {
    list.iter().map(|t| t.touch.id.as_str()).collect()
}

pub(crate) fn ids_of_entries(list: &[LedgerEntry]) -> Vec<&str> {
    list.iter().map(|e| e.id.as_str()).collect()
}

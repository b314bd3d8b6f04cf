//! The [`Store`] conformance suite: one public function per clause of the
//! [store contract](super), and [`run_all`], which runs every clause.
//!
//! **For tests only** (the `testing` feature), and outside semver: clauses
//! are added as the contract is made more precise, and a new clause may fail
//! a store that passed before. That is the point.
//!
//! # Using it
//!
//! A backend calls [`run_all`] once, from a test running on a
//! **multi-threaded** tokio runtime (the concurrency clauses race real
//! threads, and say so with a clear panic on any other runtime), with a
//! factory of **fresh, empty** stores: every clause gets a store of its own
//! and assumes nothing is in it. Because `run_all` calls every clause, a
//! backend cannot forget one; the clause functions are public so that a
//! failing clause can be run (and debugged) on its own.
//!
//! Clauses panic on the first violation, with a message that names the
//! clause, what was checked and the store's error, if any. None of them
//! skips: a store that cannot do what a clause asks fails it.
//!
//! ```
//! use referrals::MemoryStore;
//! use referrals::store::conformance;
//!
//! // In the backend's tests:
//! #[tokio::test(flavor = "multi_thread")]
//! async fn memory_store_keeps_the_store_contract() {
//!     conformance::run_all(|| async { MemoryStore::new() }).await;
//! }
//! # fn main() {
//! #     tokio::runtime::Builder::new_multi_thread()
//! #         .build()
//! #         .unwrap()
//! #         .block_on(conformance::run_all(|| async { MemoryStore::new() }));
//! # }
//! ```
//!
//! A store over a real database would create an empty schema (or a fresh
//! key prefix) in the factory instead.
//!
//! Clauses take the store by reference and are generic (`S: Store`):
//! [`Store`] uses native `async fn`, so it is not `dyn`-compatible. The
//! concurrency clauses take an `Arc<S>` because they share the store with
//! spawned tasks.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::Barrier;

use super::{
    CodeOrigin, CodeRecord, CommitPlan, ConversionRecord, CustomerRecord, EntryKind, EventKind,
    IdempotencyKey, IdempotencyRecord, LedgerEntry, Payout, Referral, Request, Role, Store,
    StoreErrorKind, StoreResult, TouchRecord, Versioned, Write,
};
use crate::attribution::{Credit, Share, TouchPoint};
use crate::code::Code;
use crate::engine::{
    ConversionOutcome, Engine, Outcome, Reason, RefundOutcome, SignupOutcome, TouchOutcome,
    VanityOptions,
};
use crate::error::{Error, ErrorKind};
use crate::model::{
    Actor, Channel, Conversion, CustomerId, EventId, IdError, LedgerEntryId, OrderId, ProgramId,
    Refund, RefundAmount, RefundId, Signup, Touch, TouchKind, VisitorId,
};
use crate::money::{Currency, Money};
use crate::program::Program;

/// Runs every clause of the suite, each on a fresh store from `fresh`.
///
/// Must run inside a multi-threaded tokio runtime
/// (`#[tokio::test(flavor = "multi_thread")]`); panics with the failing
/// clause's name and message on the first violation.
pub async fn run_all<S, F, Fut>(mut fresh: F)
where
    S: Store + 'static,
    F: FnMut() -> Fut,
    Fut: Future<Output = S>,
{
    assert_multi_thread("run_all");
    reads_on_empty_store_find_nothing(&fresh().await).await;
    commit_creates_at_version_one(&fresh().await).await;
    commit_is_atomic(&fresh().await).await;
    commit_rejects_seen_idempotency_key(&fresh().await).await;
    commit_rejects_stale_version(&fresh().await).await;
    commit_rejects_duplicate_touch_id(&fresh().await).await;
    commit_rejects_duplicate_ledger_entry_id(&fresh().await).await;
    primary_code_is_unique_per_owner(&fresh().await).await;
    versions_increase_by_one(&fresh().await).await;
    touches_are_ordered_and_filtered_by_since(&fresh().await).await;
    ledger_is_ordered_by_time_then_id(&fresh().await).await;
    programs_are_isolated(&fresh().await).await;
    ids_differing_only_in_case_are_different_keys(&fresh().await).await;
    idempotency_record_round_trips(&fresh().await).await;
    records_round_trip_exactly(&fresh().await).await;
    concurrent_commits_one_winner(Arc::new(fresh().await)).await;
    concurrent_disjoint_commits_all_succeed(Arc::new(fresh().await)).await;
    engine_end_to_end_over_store(&fresh().await).await;
}

// ---------------------------------------------------------------------------
// Fixtures. Every helper panics with a message naming what was wrong: this
// module is test support, and a typo in a fixture must not read as a store
// bug.

/// The program most clauses write to.
const PROGRAM: &str = "conformance";

/// 2026-01-01T00:00:00Z: fixture times are offsets from here.
const BASE_SECS: i64 = 1_767_225_600;

fn id<T>(kind: &str, text: &str) -> T
where
    T: for<'a> TryFrom<&'a str, Error = IdError>,
{
    T::try_from(text).unwrap_or_else(|err| panic!("conformance fixture: {kind} {text:?}: {err}"))
}

fn pid(text: &str) -> ProgramId {
    id("program id", text)
}
fn cid(text: &str) -> CustomerId {
    id("customer id", text)
}
fn vid(text: &str) -> VisitorId {
    id("visitor id", text)
}
fn eid(text: &str) -> EventId {
    id("event id", text)
}
fn oid(text: &str) -> OrderId {
    id("order id", text)
}
fn rid(text: &str) -> RefundId {
    id("refund id", text)
}
fn lid(text: &str) -> LedgerEntryId {
    id("ledger entry id", text)
}

fn code(text: &str) -> Code {
    Code::from_canonical(text)
        .unwrap_or_else(|err| panic!("conformance fixture: code {text:?}: {err}"))
}

/// `secs` seconds and `nanos` nanoseconds after [`BASE_SECS`]. Fixtures use
/// nanoseconds on purpose: see [`records_round_trip_exactly`].
fn at_ns(secs: i64, nanos: u32) -> DateTime<Utc> {
    DateTime::from_timestamp(BASE_SECS + secs, nanos)
        .unwrap_or_else(|| panic!("conformance fixture: time {secs}s {nanos}ns is out of range"))
}

fn at(secs: i64) -> DateTime<Utc> {
    at_ns(secs, 0)
}

/// "Since the beginning" for touch reads: the Unix epoch rather than
/// `DateTime::MIN_UTC`, which many databases cannot represent.
fn since_ever() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

fn kwd(minor: i64) -> Money {
    Money::new(minor, Currency::KWD)
}

fn code_record(program: &ProgramId, text: &str, owner: &str, origin: CodeOrigin) -> CodeRecord {
    CodeRecord {
        program: program.clone(),
        code: code(text),
        owner: cid(owner),
        origin,
        created_at: at(0),
        expires_at: None,
        max_uses: None,
        uses: 0,
        active: true,
    }
}

fn customer_record(program: &ProgramId, customer: &str) -> CustomerRecord {
    CustomerRecord {
        program: program.clone(),
        customer: cid(customer),
        signed_up_at: at(10),
        visitor: None,
        referral: None,
        qualifying_touches: Vec::new(),
        rewarded_conversions: 0,
    }
}

fn conversion_record(program: &ProgramId, order: &str, customer: &str) -> ConversionRecord {
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
        refunds: Vec::new(),
        refunded: sar(0),
    }
}

fn touch_record(program: &ProgramId, touch: &str, actor: Actor, at: DateTime<Utc>) -> TouchRecord {
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

fn ledger_entry(
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
        kind: if minor < 0 {
            EntryKind::Clawback
        } else {
            EntryKind::Reward
        },
        amount: sar(minor),
        order: oid("order"),
        refund: (minor < 0).then(|| rid("refund")),
        at,
    }
}

/// The remembered outcome of an ignored touch `touch` by `visitor`: the
/// smallest record the engine writes.
fn touch_idempotency(program: &ProgramId, touch: &str, visitor: &str) -> IdempotencyRecord {
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

fn key(kind: EventKind, id: &str) -> IdempotencyKey {
    IdempotencyKey {
        kind,
        id: id.to_owned(),
    }
}

fn plan(writes: Vec<Write>) -> CommitPlan {
    CommitPlan {
        idempotency: None,
        writes,
    }
}

fn put_code(record: CodeRecord, expected: u64) -> Write {
    Write::PutCode { record, expected }
}
fn put_customer(record: CustomerRecord, expected: u64) -> Write {
    Write::PutCustomer { record, expected }
}
fn put_conversion(record: ConversionRecord, expected: u64) -> Write {
    Write::PutConversion { record, expected }
}

/// One plan creating one record of every kind, with its idempotency record.
fn one_of_each(
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

fn v1<T>(record: T) -> Option<Versioned<T>> {
    Some(Versioned { version: 1, record })
}

fn assert_multi_thread(clause: &str) {
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
struct Probe<'s, S> {
    store: &'s S,
    clause: &'static str,
}

impl<'s, S: Store> Probe<'s, S> {
    fn new(store: &'s S, clause: &'static str) -> Self {
        Probe { store, clause }
    }

    async fn commit_ok(&self, what: &str, plan: CommitPlan) {
        if let Err(err) = self.store.commit(plan).await {
            panic!(
                "{}: {what}: commit failed ({:?}): {err}",
                self.clause,
                err.kind()
            );
        }
    }

    async fn commit_conflict(&self, what: &str, plan: CommitPlan) {
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

    async fn read<T>(&self, what: &str, result: impl Future<Output = StoreResult<T>>) -> T {
        match result.await {
            Ok(value) => value,
            Err(err) => panic!(
                "{}: reading {what} failed ({:?}): {err}",
                self.clause,
                err.kind()
            ),
        }
    }

    async fn idempotency(&self, p: &ProgramId, k: &IdempotencyKey) -> Option<IdempotencyRecord> {
        let what = format!("idempotency {:?} {:?} in {p}", k.kind, k.id);
        self.read(&what, self.store.idempotency(p, k)).await
    }

    async fn code(&self, p: &ProgramId, c: &Code) -> Option<Versioned<CodeRecord>> {
        let what = format!("code {c} in {p}");
        self.read(&what, self.store.code(p, c)).await
    }

    async fn primary_code(&self, p: &ProgramId, owner: &str) -> Option<Versioned<CodeRecord>> {
        let what = format!("primary code of {owner} in {p}");
        self.read(&what, self.store.primary_code(p, &cid(owner)))
            .await
    }

    async fn customer(&self, p: &ProgramId, c: &str) -> Option<Versioned<CustomerRecord>> {
        let what = format!("customer {c} in {p}");
        self.read(&what, self.store.customer(p, &cid(c))).await
    }

    async fn touches(
        &self,
        p: &ProgramId,
        actor: &Actor,
        since: DateTime<Utc>,
    ) -> Vec<TouchRecord> {
        let what = format!("touches of {actor:?} since {since} in {p}");
        self.read(&what, self.store.touches(p, actor, since)).await
    }

    async fn conversion(&self, p: &ProgramId, o: &str) -> Option<Versioned<ConversionRecord>> {
        let what = format!("conversion {o} in {p}");
        self.read(&what, self.store.conversion(p, &oid(o))).await
    }

    async fn ledger(&self, p: &ProgramId, c: &str) -> Vec<LedgerEntry> {
        let what = format!("ledger of {c} in {p}");
        self.read(&what, self.store.ledger(p, &cid(c))).await
    }
}

fn ids_of_touches(list: &[TouchRecord]) -> Vec<&str> {
    list.iter().map(|t| t.touch.id.as_str()).collect()
}

fn ids_of_entries(list: &[LedgerEntry]) -> Vec<&str> {
    list.iter().map(|e| e.id.as_str()).collect()
}

// ---------------------------------------------------------------------------
// Clauses.

/// Every read of an empty store succeeds and finds nothing.
pub async fn reads_on_empty_store_find_nothing<S: Store>(store: &S) {
    let p = Probe::new(store, "reads_on_empty_store_find_nothing");
    let prog = pid(PROGRAM);
    let clause = p.clause;
    for kind in [
        EventKind::Touch,
        EventKind::Signup,
        EventKind::Conversion,
        EventKind::Refund,
    ] {
        let found = p.idempotency(&prog, &key(kind, "event-1")).await;
        assert_eq!(
            found, None,
            "{clause}: idempotency {kind:?} on an empty store"
        );
    }
    let found = p.code(&prog, &code("SARA2026")).await;
    assert_eq!(found, None, "{clause}: code on an empty store");
    let found = p.primary_code(&prog, "sara").await;
    assert_eq!(found, None, "{clause}: primary code on an empty store");
    let found = p.customer(&prog, "sara").await;
    assert_eq!(found, None, "{clause}: customer on an empty store");
    for actor in [Actor::Visitor(vid("sara")), Actor::Customer(cid("sara"))] {
        let found = p.touches(&prog, &actor, since_ever()).await;
        assert_eq!(
            found,
            [],
            "{clause}: touches of {actor:?} on an empty store"
        );
    }
    let found = p.conversion(&prog, "order-1").await;
    assert_eq!(found, None, "{clause}: conversion on an empty store");
    let found = p.ledger(&prog, "sara").await;
    assert_eq!(found, [], "{clause}: ledger on an empty store");
}

/// A committed plan creates each record at version 1, exactly as written,
/// and stores its idempotency record.
pub async fn commit_creates_at_version_one<S: Store>(store: &S) {
    let p = Probe::new(store, "commit_creates_at_version_one");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let vanity = code_record(&prog, "SARA2026", "sara", CodeOrigin::Vanity);
    let customer = customer_record(&prog, "nada");
    let conversion = conversion_record(&prog, "order-1", "nada");
    let touch = touch_record(&prog, "touch-1", Actor::Visitor(vid("visitor-1")), at(5));
    let entry = ledger_entry(&prog, "entry-1", "sara", at(20), 1_500);
    let idem = touch_idempotency(&prog, "touch-1", "visitor-1");
    let mut first = plan(vec![
        put_code(vanity.clone(), 0),
        put_customer(customer.clone(), 0),
        put_conversion(conversion.clone(), 0),
        Write::InsertTouch(touch.clone()),
        Write::InsertLedgerEntry(entry.clone()),
    ]);
    first.idempotency = Some(idem.clone());
    p.commit_ok("a plan creating one record of each kind", first)
        .await;

    let found = p.code(&prog, &vanity.code).await;
    assert_eq!(found, v1(vanity), "{clause}: the created code");
    let found = p.customer(&prog, "nada").await;
    assert_eq!(found, v1(customer), "{clause}: the created customer");
    let found = p.conversion(&prog, "order-1").await;
    assert_eq!(found, v1(conversion), "{clause}: the created conversion");
    let found = p
        .touches(&prog, &Actor::Visitor(vid("visitor-1")), since_ever())
        .await;
    assert_eq!(found, [touch], "{clause}: the inserted touch");
    let found = p.ledger(&prog, "sara").await;
    assert_eq!(found, [entry], "{clause}: the inserted ledger entry");
    let found = p.idempotency(&prog, &idem.key).await;
    assert_eq!(found, Some(idem), "{clause}: the idempotency record");

    let random = code_record(&prog, "7K3MQ9XDP", "sara", CodeOrigin::Random);
    p.commit_ok(
        "a plan creating a primary code",
        plan(vec![put_code(random.clone(), 0)]),
    )
    .await;
    let found = p.code(&prog, &random.code).await;
    assert_eq!(
        found,
        v1(random.clone()),
        "{clause}: the created primary code"
    );
    let found = p.primary_code(&prog, "sara").await;
    assert_eq!(
        found,
        v1(random),
        "{clause}: primary_code after creating it"
    );
}

/// A plan whose LAST write fails its condition leaves no trace of its
/// earlier writes nor of its idempotency record; the same plan without the
/// failing write then commits (nothing was reserved).
pub async fn commit_is_atomic<S: Store>(store: &S) {
    let p = Probe::new(store, "commit_is_atomic");
    let clause = p.clause;
    let prog = pid(PROGRAM);

    // Records the failing writes collide with.
    let kept_code = code_record(&prog, "KEEP22", "keeper", CodeOrigin::Vanity);
    let kept_primary = code_record(&prog, "PRMY22", "keeper", CodeOrigin::Random);
    let kept_customer = customer_record(&prog, "kept-customer");
    let kept_conversion = conversion_record(&prog, "kept-order", "kept-customer");
    let kept_touch = touch_record(&prog, "kept-touch", Actor::Visitor(vid("keeper")), at(1));
    let kept_entry = ledger_entry(&prog, "kept-entry", "keeper", at(1), 100);
    p.commit_ok(
        "setting up the records to collide with",
        plan(vec![
            put_code(kept_code.clone(), 0),
            put_code(kept_primary.clone(), 0),
            put_customer(kept_customer.clone(), 0),
            put_conversion(kept_conversion.clone(), 0),
            Write::InsertTouch(kept_touch.clone()),
            Write::InsertLedgerEntry(kept_entry.clone()),
        ]),
    )
    .await;

    let mut changed_code = kept_code.clone();
    changed_code.uses = 9;
    let mut changed_customer = kept_customer.clone();
    changed_customer.rewarded_conversions = 9;
    let mut changed_conversion = kept_conversion.clone();
    changed_conversion.refunded = sar(1);
    let mut other_touch = kept_touch.clone();
    other_touch.touch.actor = Actor::Visitor(vid("intruder"));
    let mut other_entry = kept_entry.clone();
    other_entry.customer = cid("intruder");
    let second_primary = code_record(&prog, "PRMY33", "keeper", CodeOrigin::Derived);
    let failing: [(&str, Write); 6] = [
        ("a code at a stale version", put_code(changed_code, 0)),
        (
            "a customer at a stale version",
            put_customer(changed_customer, 0),
        ),
        (
            "a conversion at a stale version",
            put_conversion(changed_conversion, 0),
        ),
        (
            "a touch id that is already stored",
            Write::InsertTouch(other_touch),
        ),
        (
            "a ledger entry id that is already stored",
            Write::InsertLedgerEntry(other_entry),
        ),
        ("a second primary code", put_code(second_primary, 0)),
    ];

    for (i, (why, bad_write)) in failing.into_iter().enumerate() {
        let new_code = code_record(&prog, &format!("ATM{i}X"), "atomic", CodeOrigin::Vanity);
        let customer = format!("atomic-customer-{i}");
        let order = format!("atomic-order-{i}");
        let visitor = format!("atomic-visitor-{i}");
        let earner = format!("atomic-earner-{i}");
        let idem = touch_idempotency(&prog, &format!("atomic-event-{i}"), &visitor);
        let good_writes = vec![
            put_code(new_code.clone(), 0),
            put_customer(customer_record(&prog, &customer), 0),
            put_conversion(conversion_record(&prog, &order, &customer), 0),
            Write::InsertTouch(touch_record(
                &prog,
                &format!("atomic-touch-{i}"),
                Actor::Visitor(vid(&visitor)),
                at(2),
            )),
            Write::InsertLedgerEntry(ledger_entry(
                &prog,
                &format!("atomic-entry-{i}"),
                &earner,
                at(2),
                700,
            )),
        ];
        let mut doomed = plan(good_writes.clone());
        doomed.writes.push(bad_write);
        doomed.idempotency = Some(idem.clone());
        p.commit_conflict(&format!("a plan ending with {why}"), doomed)
            .await;

        let after = format!("after a plan ending with {why} failed");
        let found = p.idempotency(&prog, &idem.key).await;
        assert_eq!(
            found, None,
            "{clause}: {after}, its idempotency record was stored"
        );
        let found = p.code(&prog, &new_code.code).await;
        assert_eq!(found, None, "{clause}: {after}, its new code was stored");
        let found = p.customer(&prog, &customer).await;
        assert_eq!(
            found, None,
            "{clause}: {after}, its new customer was stored"
        );
        let found = p.conversion(&prog, &order).await;
        assert_eq!(
            found, None,
            "{clause}: {after}, its new conversion was stored"
        );
        let found = p
            .touches(&prog, &Actor::Visitor(vid(&visitor)), since_ever())
            .await;
        assert_eq!(found, [], "{clause}: {after}, its touch was stored");
        let found = p.ledger(&prog, &earner).await;
        assert_eq!(found, [], "{clause}: {after}, its ledger entry was stored");

        let found = p.code(&prog, &kept_code.code).await;
        assert_eq!(
            found,
            v1(kept_code.clone()),
            "{clause}: {after}, the existing code changed"
        );
        let found = p.primary_code(&prog, "keeper").await;
        assert_eq!(
            found,
            v1(kept_primary.clone()),
            "{clause}: {after}, the primary code changed"
        );
        let found = p.customer(&prog, "kept-customer").await;
        assert_eq!(
            found,
            v1(kept_customer.clone()),
            "{clause}: {after}, the customer changed"
        );
        let found = p.conversion(&prog, "kept-order").await;
        assert_eq!(
            found,
            v1(kept_conversion.clone()),
            "{clause}: {after}, the conversion changed"
        );
        let found = p
            .touches(&prog, &Actor::Visitor(vid("keeper")), since_ever())
            .await;
        assert_eq!(
            found,
            std::slice::from_ref(&kept_touch),
            "{clause}: {after}, the stored touch changed"
        );
        let found = p
            .touches(&prog, &Actor::Visitor(vid("intruder")), since_ever())
            .await;
        assert_eq!(
            found,
            [],
            "{clause}: {after}, the duplicate touch was stored"
        );
        let found = p.ledger(&prog, "keeper").await;
        assert_eq!(
            found,
            std::slice::from_ref(&kept_entry),
            "{clause}: {after}, the stored entry changed"
        );
        let found = p.ledger(&prog, "intruder").await;
        assert_eq!(
            found,
            [],
            "{clause}: {after}, the duplicate entry was stored"
        );

        let mut retry = plan(good_writes);
        retry.idempotency = Some(idem.clone());
        p.commit_ok(
            &format!("the plan without {why}, after the whole plan failed"),
            retry,
        )
        .await;
        let found = p.idempotency(&prog, &idem.key).await;
        assert_eq!(
            found,
            Some(idem),
            "{clause}: the retried plan's idempotency record"
        );
        let found = p.customer(&prog, &customer).await;
        assert!(
            found.is_some(),
            "{clause}: the retried plan's customer is missing"
        );
    }
}

/// A plan whose idempotency key is already stored fails with a conflict
/// and writes nothing, even when it is the very same plan again. Keys of
/// different event kinds never collide.
pub async fn commit_rejects_seen_idempotency_key<S: Store>(store: &S) {
    let p = Probe::new(store, "commit_rejects_seen_idempotency_key");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let first_idem = touch_idempotency(&prog, "event-1", "first-visitor");
    let mut first = plan(vec![put_customer(customer_record(&prog, "first"), 0)]);
    first.idempotency = Some(first_idem.clone());
    p.commit_ok("the first plan with key (touch, event-1)", first.clone())
        .await;

    p.commit_conflict("the same plan again (a retried event)", first)
        .await;
    let other_idem = touch_idempotency(&prog, "event-1", "second-visitor");
    let mut other = plan(vec![put_customer(customer_record(&prog, "second"), 0)]);
    other.idempotency = Some(other_idem);
    p.commit_conflict("another event under the stored key", other)
        .await;
    let found = p.customer(&prog, "second").await;
    assert_eq!(
        found, None,
        "{clause}: a plan with a stored key wrote its customer"
    );
    let found = p.idempotency(&prog, &first_idem.key).await;
    assert_eq!(
        found,
        Some(first_idem),
        "{clause}: the stored outcome changed"
    );

    // The same id as a signup: another key.
    let signup = Signup {
        id: eid("event-1"),
        customer: cid("third"),
        visitor: None,
        code: None,
        channel: None,
        at: at(40),
    };
    let request = Request::Signup(signup);
    let signup_idem = IdempotencyRecord {
        program: prog.clone(),
        key: request.key(),
        request,
        outcome: Outcome::Signup(SignupOutcome::NotReferred {
            reason: Reason::NoQualifyingTouch,
        }),
    };
    let mut third = plan(vec![put_customer(customer_record(&prog, "third"), 0)]);
    third.idempotency = Some(signup_idem.clone());
    p.commit_ok("key (signup, event-1) after (touch, event-1)", third)
        .await;
    let found = p.idempotency(&prog, &signup_idem.key).await;
    assert_eq!(
        found,
        Some(signup_idem),
        "{clause}: the signup key's record"
    );
}

/// Checks the version conditions of one record kind: a write naming any
/// version but the stored one (0 when absent) fails with a conflict and
/// leaves the record as it was.
async fn check_version_conditions<S, T>(
    p: &Probe<'_, S>,
    what: &str,
    record: impl Fn(u32) -> T,
    write: impl Fn(T, u64) -> Write,
    read: impl AsyncFn() -> Option<Versioned<T>>,
) where
    S: Store,
    T: Clone + PartialEq + Debug,
{
    let clause = p.clause;
    let at_version = |version: u64, tag: u32| {
        Some(Versioned {
            version,
            record: record(tag),
        })
    };
    p.commit_conflict(
        &format!("{what}: expected version 1 on an absent record"),
        plan(vec![write(record(1), 1)]),
    )
    .await;
    assert_eq!(
        read().await,
        None,
        "{clause}: {what}: a failed write created it"
    );
    p.commit_ok(&format!("{what}: create"), plan(vec![write(record(1), 0)]))
        .await;
    p.commit_conflict(
        &format!("{what}: expected 0 (absent) on a record at version 1"),
        plan(vec![write(record(2), 0)]),
    )
    .await;
    assert_eq!(
        read().await,
        at_version(1, 1),
        "{clause}: {what}: a failed create changed it"
    );
    p.commit_ok(
        &format!("{what}: update 1 -> 2"),
        plan(vec![write(record(2), 1)]),
    )
    .await;
    p.commit_conflict(
        &format!("{what}: expected 1 on a record at version 2 (a lost update)"),
        plan(vec![write(record(3), 1)]),
    )
    .await;
    p.commit_conflict(
        &format!("{what}: expected 3 on a record at version 2 (from the future)"),
        plan(vec![write(record(3), 3)]),
    )
    .await;
    assert_eq!(
        read().await,
        at_version(2, 2),
        "{clause}: {what}: a stale write changed it"
    );
    p.commit_ok(
        &format!("{what}: update 2 -> 3"),
        plan(vec![write(record(3), 2)]),
    )
    .await;
    assert_eq!(
        read().await,
        at_version(3, 3),
        "{clause}: {what}: after the last update"
    );
}

/// A write naming a version other than the stored one fails with a
/// conflict, for codes, customers and conversions alike, and changes
/// nothing.
pub async fn commit_rejects_stale_version<S: Store>(store: &S) {
    let p = Probe::new(store, "commit_rejects_stale_version");
    let prog = pid(PROGRAM);
    let c = code("SARA2026");
    check_version_conditions(
        &p,
        "code",
        |tag| CodeRecord {
            uses: tag,
            ..code_record(&prog, "SARA2026", "sara", CodeOrigin::Vanity)
        },
        put_code,
        async || p.code(&prog, &c).await,
    )
    .await;
    check_version_conditions(
        &p,
        "customer",
        |tag| CustomerRecord {
            rewarded_conversions: tag,
            ..customer_record(&prog, "nada")
        },
        put_customer,
        async || p.customer(&prog, "nada").await,
    )
    .await;
    check_version_conditions(
        &p,
        "conversion",
        |tag| ConversionRecord {
            refunded: sar(i64::from(tag)),
            ..conversion_record(&prog, "order-1", "nada")
        },
        put_conversion,
        async || p.conversion(&prog, "order-1").await,
    )
    .await;
}

/// A touch id is inserted once per program: a second touch with the same
/// id fails with a conflict, whatever its content.
pub async fn commit_rejects_duplicate_touch_id<S: Store>(store: &S) {
    let p = Probe::new(store, "commit_rejects_duplicate_touch_id");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let first = touch_record(&prog, "touch-1", Actor::Visitor(vid("first")), at(1));
    p.commit_ok(
        "the first touch",
        plan(vec![Write::InsertTouch(first.clone())]),
    )
    .await;
    p.commit_conflict(
        "the same touch again",
        plan(vec![Write::InsertTouch(first.clone())]),
    )
    .await;
    let mut other = touch_record(&prog, "touch-1", Actor::Visitor(vid("second")), at(2));
    other.touch.kind = TouchKind::Visit;
    p.commit_conflict(
        "another touch under a stored id",
        plan(vec![Write::InsertTouch(other)]),
    )
    .await;
    let found = p
        .touches(&prog, &Actor::Visitor(vid("first")), since_ever())
        .await;
    assert_eq!(
        found,
        [first],
        "{clause}: the stored touch after duplicates"
    );
    let found = p
        .touches(&prog, &Actor::Visitor(vid("second")), since_ever())
        .await;
    assert_eq!(
        found,
        [],
        "{clause}: a duplicate touch id was stored for another actor"
    );
}

/// A ledger entry id is inserted once per program: a second entry with the
/// same id fails with a conflict, whatever its content.
pub async fn commit_rejects_duplicate_ledger_entry_id<S: Store>(store: &S) {
    let p = Probe::new(store, "commit_rejects_duplicate_ledger_entry_id");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let first = ledger_entry(&prog, "entry-1", "sara", at(1), 1_500);
    p.commit_ok(
        "the first entry",
        plan(vec![Write::InsertLedgerEntry(first.clone())]),
    )
    .await;
    p.commit_conflict(
        "the same entry again",
        plan(vec![Write::InsertLedgerEntry(first.clone())]),
    )
    .await;
    let other = ledger_entry(&prog, "entry-1", "nada", at(2), -300);
    p.commit_conflict(
        "another entry under a stored id",
        plan(vec![Write::InsertLedgerEntry(other)]),
    )
    .await;
    let found = p.ledger(&prog, "sara").await;
    assert_eq!(
        found,
        [first],
        "{clause}: the stored entry after duplicates"
    );
    let found = p.ledger(&prog, "nada").await;
    assert_eq!(
        found,
        [],
        "{clause}: a duplicate entry id was stored for another customer"
    );
}

/// An owner has at most one primary (random or derived) code per program;
/// vanity codes come on top; `primary_code` returns the primary one.
pub async fn primary_code_is_unique_per_owner<S: Store>(store: &S) {
    let p = Probe::new(store, "primary_code_is_unique_per_owner");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let primary = code_record(&prog, "7K3MQ9XDP", "sara", CodeOrigin::Random);
    p.commit_ok(
        "sara's primary code",
        plan(vec![put_code(primary.clone(), 0)]),
    )
    .await;
    for (text, origin) in [
        ("8M4NR2YEQ", CodeOrigin::Random),
        ("9N5PS3ZFR", CodeOrigin::Derived),
    ] {
        let second = code_record(&prog, text, "sara", origin);
        p.commit_conflict(
            &format!("a second primary code ({origin:?}) for sara"),
            plan(vec![put_code(second.clone(), 0)]),
        )
        .await;
        let found = p.code(&prog, &second.code).await;
        assert_eq!(
            found, None,
            "{clause}: a refused second primary code was stored"
        );
    }
    let vanity = code_record(&prog, "SARA2026", "sara", CodeOrigin::Vanity);
    p.commit_ok(
        "a vanity code for an owner with a primary code",
        plan(vec![put_code(vanity.clone(), 0)]),
    )
    .await;
    let found = p.primary_code(&prog, "sara").await;
    assert_eq!(
        found,
        v1(primary.clone()),
        "{clause}: primary_code after adding a vanity code"
    );

    let mut used = primary.clone();
    used.uses = 1;
    p.commit_ok(
        "an update of the primary code itself",
        plan(vec![put_code(used.clone(), 1)]),
    )
    .await;
    let found = p.primary_code(&prog, "sara").await;
    assert_eq!(
        found,
        Some(Versioned {
            version: 2,
            record: used
        }),
        "{clause}: primary_code after updating it"
    );

    let both = plan(vec![
        put_code(
            code_record(&prog, "A1B2C3D4E", "nada", CodeOrigin::Random),
            0,
        ),
        put_code(
            code_record(&prog, "F5G6H7J8K", "nada", CodeOrigin::Random),
            0,
        ),
    ]);
    p.commit_conflict("one plan with two primary codes for nada", both)
        .await;
    let found = p.primary_code(&prog, "nada").await;
    assert_eq!(
        found, None,
        "{clause}: a refused plan with two primary codes left one"
    );
    let found = p.code(&prog, &code("A1B2C3D4E")).await;
    assert_eq!(
        found, None,
        "{clause}: a refused plan with two primary codes left its first"
    );

    let nada = code_record(&prog, "F5G6H7J8K", "nada", CodeOrigin::Derived);
    p.commit_ok(
        "another owner's primary code",
        plan(vec![put_code(nada.clone(), 0)]),
    )
    .await;
    let found = p.primary_code(&prog, "nada").await;
    assert_eq!(found, v1(nada), "{clause}: another owner's primary code");

    let only_vanity = code_record(&prog, "MAHA77", "maha", CodeOrigin::Vanity);
    p.commit_ok("a vanity code alone", plan(vec![put_code(only_vanity, 0)]))
        .await;
    let found = p.primary_code(&prog, "maha").await;
    assert_eq!(found, None, "{clause}: a vanity code is not a primary code");
}

/// Each write of a record adds exactly one to its version, also when one
/// plan writes several records.
pub async fn versions_increase_by_one<S: Store>(store: &S) {
    let p = Probe::new(store, "versions_increase_by_one");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let c = code("SARA2026");
    let code_at = |n: u32| CodeRecord {
        uses: n,
        ..code_record(&prog, "SARA2026", "sara", CodeOrigin::Vanity)
    };
    let customer_at = |n: u32| CustomerRecord {
        rewarded_conversions: n,
        ..customer_record(&prog, "nada")
    };
    let conversion_at = |n: u32| ConversionRecord {
        refunded: sar(i64::from(n)),
        ..conversion_record(&prog, "order-1", "nada")
    };
    for n in 0..6u32 {
        let expected = u64::from(n);
        p.commit_ok(
            &format!("write {} of each record, one plan each", n + 1),
            plan(vec![put_code(code_at(n), expected)]),
        )
        .await;
        p.commit_ok(
            &format!("write {} of the customer", n + 1),
            plan(vec![put_customer(customer_at(n), expected)]),
        )
        .await;
        p.commit_ok(
            &format!("write {} of the conversion", n + 1),
            plan(vec![put_conversion(conversion_at(n), expected)]),
        )
        .await;
        let version = expected + 1;
        let found = p.code(&prog, &c).await;
        let want = Some(Versioned {
            version,
            record: code_at(n),
        });
        assert_eq!(found, want, "{clause}: the code after {version} writes");
        let found = p.customer(&prog, "nada").await;
        let want = Some(Versioned {
            version,
            record: customer_at(n),
        });
        assert_eq!(found, want, "{clause}: the customer after {version} writes");
        let found = p.conversion(&prog, "order-1").await;
        let want = Some(Versioned {
            version,
            record: conversion_at(n),
        });
        assert_eq!(
            found, want,
            "{clause}: the conversion after {version} writes"
        );
    }
    p.commit_ok(
        "one plan writing all three at version 6",
        plan(vec![
            put_code(code_at(6), 6),
            put_customer(customer_at(6), 6),
            put_conversion(conversion_at(6), 6),
        ]),
    )
    .await;
    let versions = (
        p.code(&prog, &c).await.map(|v| v.version),
        p.customer(&prog, "nada").await.map(|v| v.version),
        p.conversion(&prog, "order-1").await.map(|v| v.version),
    );
    assert_eq!(
        versions,
        (Some(7), Some(7), Some(7)),
        "{clause}: versions after one plan wrote all three"
    );
}

/// `touches` lists one actor's touches in the program, at or after
/// `since`, ascending by time, ties by id, whatever the insertion order.
///
/// Ids compare as Rust strings do, byte by byte: `"t-B" < "t-a"`. A SQL
/// store needs a binary collation on the id column (`COLLATE "C"`) to keep
/// this order, which decides attribution between simultaneous touches.
pub async fn touches_are_ordered_and_filtered_by_since<S: Store>(store: &S) {
    let p = Probe::new(store, "touches_are_ordered_and_filtered_by_since");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other_prog = pid("conformance-other");
    let visitor = Actor::Visitor(vid("shared-id"));
    // Same id text, another kind of actor: must not see the visitor's touches.
    let customer = Actor::Customer(cid("shared-id"));
    let t = |id: &str, at: DateTime<Utc>| touch_record(&prog, id, visitor.clone(), at);
    let inserts: Vec<Vec<TouchRecord>> = vec![
        vec![t("t-05", at(500))],
        vec![t("t-01", at(100))],
        vec![t("t-03", at(300))],
        // Several in one plan, out of order.
        vec![t("t-b", at(300)), t("t-a", at(300)), t("t-B", at(300))],
        // Later by a nanosecond: after every tie at 300 s despite its id.
        vec![t("t-0", at_ns(300, 1))],
        vec![t("t-02", at(200))],
        vec![touch_record(&prog, "t-c", customer.clone(), at(300))],
        vec![touch_record(&other_prog, "t-x", visitor.clone(), at(300))],
    ];
    for touches in inserts {
        let what = format!("inserting {:?}", ids_of_touches(&touches));
        p.commit_ok(
            &what,
            plan(touches.into_iter().map(Write::InsertTouch).collect()),
        )
        .await;
    }
    let cases: [(DateTime<Utc>, &[&str]); 6] = [
        (
            since_ever(),
            &["t-01", "t-02", "t-03", "t-B", "t-a", "t-b", "t-0", "t-05"],
        ),
        (
            at(200),
            &["t-02", "t-03", "t-B", "t-a", "t-b", "t-0", "t-05"],
        ),
        (at(300), &["t-03", "t-B", "t-a", "t-b", "t-0", "t-05"]),
        (at_ns(300, 1), &["t-0", "t-05"]),
        (at_ns(300, 2), &["t-05"]),
        (at_ns(500, 1), &[]),
    ];
    for (since, want) in cases {
        let found = p.touches(&prog, &visitor, since).await;
        assert_eq!(
            ids_of_touches(&found),
            want,
            "{clause}: touches since {since} (inclusive), ascending by time then id \
             (ids compare bytewise, \"t-B\" < \"t-a\": check the id column's collation)"
        );
        for touch in &found {
            assert_eq!(
                touch.touch.actor, visitor,
                "{clause}: touches of {visitor:?} returned another actor's touch"
            );
            assert_eq!(
                touch.program, prog,
                "{clause}: touches returned another program's touch"
            );
        }
    }
    let all = p.touches(&prog, &visitor, since_ever()).await;
    let rebuilt: Vec<TouchRecord> = ["t-01", "t-02", "t-03", "t-B", "t-a", "t-b", "t-0", "t-05"]
        .iter()
        .filter_map(|id| all.iter().find(|x| x.touch.id.as_str() == *id).cloned())
        .collect();
    assert_eq!(all, rebuilt, "{clause}: touch records came back changed");
    let found = p.touches(&prog, &customer, since_ever()).await;
    assert_eq!(
        ids_of_touches(&found),
        ["t-c"],
        "{clause}: a customer and a visitor with the same id text are different actors"
    );
    let found = p.touches(&other_prog, &visitor, since_ever()).await;
    assert_eq!(
        ids_of_touches(&found),
        ["t-x"],
        "{clause}: touches of the other program"
    );
}

/// `ledger` lists one customer's entries in the program, ascending by time,
/// ties by id (bytewise, as for touches), whatever the insertion order.
pub async fn ledger_is_ordered_by_time_then_id<S: Store>(store: &S) {
    let p = Probe::new(store, "ledger_is_ordered_by_time_then_id");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let e = |id: &str, at: DateTime<Utc>, minor: i64| ledger_entry(&prog, id, "sara", at, minor);
    let inserts: Vec<Vec<LedgerEntry>> = vec![
        vec![e("le-9", at(900), -500)],
        vec![e("le-1", at(100), 1_500)],
        vec![
            e("le-b", at(500), -100),
            e("le-B", at(500), 200),
            e("le-a", at(500), -300),
        ],
        vec![e("le-0", at_ns(500, 1), 400)],
        vec![e("le-2", at(200), 1_000)],
        vec![ledger_entry(&prog, "le-n", "nada", at(500), 1_000)],
    ];
    let mut written = Vec::new();
    for entries in inserts {
        let what = format!("inserting {:?}", ids_of_entries(&entries));
        written.extend(
            entries
                .iter()
                .filter(|x| x.customer.as_str() == "sara")
                .cloned(),
        );
        p.commit_ok(
            &what,
            plan(entries.into_iter().map(Write::InsertLedgerEntry).collect()),
        )
        .await;
    }
    let order = ["le-1", "le-2", "le-B", "le-a", "le-b", "le-0", "le-9"];
    let found = p.ledger(&prog, "sara").await;
    assert_eq!(
        ids_of_entries(&found),
        order,
        "{clause}: ledger ascending by time then id (ids compare bytewise, \"le-B\" < \"le-a\")"
    );
    let want: Vec<LedgerEntry> = order
        .iter()
        .filter_map(|id| written.iter().find(|x| x.id.as_str() == *id).cloned())
        .collect();
    assert_eq!(found, want, "{clause}: ledger entries came back changed");
    let found = p.ledger(&prog, "nada").await;
    assert_eq!(
        ids_of_entries(&found),
        ["le-n"],
        "{clause}: another customer's ledger"
    );
}

/// The same keys in two programs are different records: neither commit
/// conflicts with the other, and no read in one program sees the other's.
pub async fn programs_are_isolated<S: Store>(store: &S) {
    let p = Probe::new(store, "programs_are_isolated");
    let clause = p.clause;
    let alpha = pid("alpha");
    let beta = pid("برنامج-بيتا");
    let empty = pid("gamma");
    let visitor = Actor::Visitor(vid("visitor"));
    // Per program: records under the same keys, with contents telling the
    // programs apart (and the program field itself).
    let records = |prog: &ProgramId, n: u32| {
        let mut customer = customer_record(prog, "customer");
        customer.rewarded_conversions = n;
        let mut conversion = conversion_record(prog, "order", "customer");
        conversion.conversion.amount = sar(i64::from(n));
        let mut touch = touch_record(prog, "touch", visitor.clone(), at(i64::from(n)));
        touch.referrer = cid(&format!("referrer-{n}"));
        let entry = ledger_entry(prog, "entry", "customer", at(1), i64::from(n));
        let idem = touch_idempotency(prog, "event", &format!("visitor-{n}"));
        (
            code_record(prog, "7K3MQ9XDP", "owner", CodeOrigin::Random),
            customer,
            conversion,
            touch,
            entry,
            idem,
        )
    };
    for (prog, n) in [(&alpha, 1), (&beta, 2)] {
        let (code, customer, conversion, touch, entry, idem) = records(prog, n);
        let all = one_of_each(code, customer, conversion, touch, entry, idem);
        p.commit_ok(&format!("records under shared keys in program {prog}"), all)
            .await;
    }
    // An update in one program leaves the other at version 1.
    let (code_a, ..) = records(&alpha, 1);
    let mut updated = code_a.clone();
    updated.uses = 5;
    p.commit_ok(
        "an update in alpha",
        plan(vec![put_code(updated.clone(), 1)]),
    )
    .await;

    for (prog, n) in [(&alpha, 1), (&beta, 2)] {
        let (code, customer, conversion, touch, entry, idem) = records(prog, n);
        let in_prog = format!("in program {prog}");
        let code = if n == 1 {
            Some(Versioned {
                version: 2,
                record: updated.clone(),
            })
        } else {
            v1(code)
        };
        let found = p.code(prog, &code_a.code).await;
        assert_eq!(found, code, "{clause}: the code {in_prog}");
        let found = p.primary_code(prog, "owner").await;
        assert_eq!(found, code, "{clause}: the primary code {in_prog}");
        let found = p.customer(prog, "customer").await;
        assert_eq!(found, v1(customer), "{clause}: the customer {in_prog}");
        let found = p.conversion(prog, "order").await;
        assert_eq!(found, v1(conversion), "{clause}: the conversion {in_prog}");
        let found = p.touches(prog, &visitor, since_ever()).await;
        assert_eq!(found, [touch], "{clause}: the touches {in_prog}");
        let found = p.ledger(prog, "customer").await;
        assert_eq!(found, [entry], "{clause}: the ledger {in_prog}");
        let found = p.idempotency(prog, &idem.key).await;
        assert_eq!(
            found,
            Some(idem),
            "{clause}: the idempotency record {in_prog}"
        );
    }

    let nothing = "a program nobody wrote to";
    let k = key(EventKind::Touch, "event");
    assert_eq!(
        p.idempotency(&empty, &k).await,
        None,
        "{clause}: idempotency in {nothing}"
    );
    assert_eq!(
        p.code(&empty, &code_a.code).await,
        None,
        "{clause}: code in {nothing}"
    );
    assert_eq!(
        p.primary_code(&empty, "owner").await,
        None,
        "{clause}: primary in {nothing}"
    );
    assert_eq!(
        p.customer(&empty, "customer").await,
        None,
        "{clause}: customer in {nothing}"
    );
    assert_eq!(
        p.conversion(&empty, "order").await,
        None,
        "{clause}: conversion in {nothing}"
    );
    let found = p.touches(&empty, &visitor, since_ever()).await;
    assert_eq!(found, [], "{clause}: touches in {nothing}");
    assert_eq!(
        p.ledger(&empty, "customer").await,
        [],
        "{clause}: ledger in {nothing}"
    );
}

/// Ids are compared exactly: `badr` and `Badr`, `order` and `Order`,
/// visitors `v` and `V`, events `event` and `Event` are different keys, for
/// every read. A SQL store whose id columns use a case-insensitive
/// collation (MySQL's default `_ci` ones, say) fails here, and would show
/// one customer another's rewards.
pub async fn ids_differing_only_in_case_are_different_keys<S: Store>(store: &S) {
    let p = Probe::new(store, "ids_differing_only_in_case_are_different_keys");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let side = |lower: bool, n: u32| {
        let name = move |s: &str| {
            if lower {
                s.to_owned()
            } else {
                let mut c = s.chars();
                c.next().map_or_else(String::new, |f| {
                    f.to_ascii_uppercase().to_string() + c.as_str()
                })
            }
        };
        let mut customer = customer_record(&prog, &name("badr"));
        customer.rewarded_conversions = n;
        let mut conversion = conversion_record(&prog, &name("order"), &name("badr"));
        conversion.conversion.amount = sar(i64::from(n));
        let actor = Actor::Visitor(vid(&name("v")));
        let touch = touch_record(
            &prog,
            &format!("touch-{n}"),
            actor.clone(),
            at(i64::from(n)),
        );
        let entry = ledger_entry(
            &prog,
            &format!("entry-{n}"),
            &name("badr"),
            at(1),
            i64::from(n),
        );
        let idem = touch_idempotency(&prog, &name("event"), &format!("visitor-{n}"));
        let code = code_record(
            &prog,
            if lower { "KEEP22" } else { "PRMY22" },
            &name("owner"),
            CodeOrigin::Random,
        );
        (name, customer, conversion, actor, touch, entry, idem, code)
    };
    for (lower, n) in [(true, 1), (false, 2)] {
        let (_, customer, conversion, _, touch, entry, idem, code) = side(lower, n);
        let all = one_of_each(code, customer, conversion, touch, entry, idem);
        let what = if lower {
            "lower-case ids"
        } else {
            "the same ids capitalised"
        };
        p.commit_ok(&format!("records under {what}"), all).await;
    }
    for (lower, n) in [(true, 1), (false, 2)] {
        let (name, customer, conversion, actor, touch, entry, idem, code) = side(lower, n);
        let under = |what: &str| format!("{clause}: the {what} under {:?}", name(what));
        assert_eq!(
            p.customer(&prog, &name("badr")).await,
            v1(customer),
            "{}",
            under("customer")
        );
        assert_eq!(
            p.conversion(&prog, &name("order")).await,
            v1(conversion),
            "{}",
            under("order")
        );
        assert_eq!(
            p.touches(&prog, &actor, since_ever()).await,
            [touch],
            "{}",
            under("visitor")
        );
        assert_eq!(
            p.ledger(&prog, &name("badr")).await,
            [entry],
            "{}",
            under("ledger")
        );
        assert_eq!(
            p.idempotency(&prog, &idem.key).await,
            Some(idem),
            "{}",
            under("event")
        );
        assert_eq!(
            p.primary_code(&prog, &name("owner")).await,
            v1(code),
            "{}",
            under("owner")
        );
    }
}

/// The idempotency record of every kind of event and outcome comes back
/// exactly as committed (the engine compares the stored request with a
/// retried one, and answers the stored outcome).
pub async fn idempotency_record_round_trips<S: Store>(store: &S) {
    let p = Probe::new(store, "idempotency_record_round_trips");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let sara = cid("سارة");
    let referral = Referral {
        referrer: sara.clone(),
        code: code("SARA2026"),
        channel: Channel::custom("podcast").expect("a valid custom channel"),
        touched_at: at_ns(1, 123_456_789),
    };
    let payouts = vec![
        Payout {
            beneficiary: sara.clone(),
            role: Role::Referrer,
            amount: kwd(1_500),
            clawed_back: kwd(0),
        },
        Payout {
            beneficiary: cid("nada"),
            role: Role::Referee,
            amount: kwd(750),
            clawed_back: kwd(0),
        },
    ];
    let reward = LedgerEntry {
        id: lid("le_reward"),
        program: prog.clone(),
        customer: sara.clone(),
        role: Role::Referrer,
        kind: EntryKind::Reward,
        amount: kwd(1_500),
        order: oid("طلب-١"),
        refund: None,
        at: at_ns(3, 1),
    };
    let clawback = LedgerEntry {
        id: lid("le_clawback"),
        kind: EntryKind::Clawback,
        amount: kwd(-375),
        refund: Some(rid("refund-1")),
        at: at_ns(4, 999_999_999),
        ..reward.clone()
    };
    let touch = |id: &str, actor: Actor| Touch {
        id: eid(id),
        actor,
        code: code("SARA2026"),
        channel: Channel::WhatsApp,
        kind: TouchKind::Visit,
        at: at_ns(1, 123_456_789),
    };
    let signup = |id: &str, code: Option<Code>| Signup {
        id: eid(id),
        customer: cid("nada"),
        visitor: Some(vid("زائر-١")),
        code,
        channel: code.map(|_| Channel::Instagram),
        at: at_ns(2, 5),
    };
    let conversion = |order: &str| Conversion {
        order: oid(order),
        customer: cid("nada"),
        amount: kwd(12_345),
        at: at_ns(3, 1),
    };
    let pairs: Vec<(Request, Outcome)> = vec![
        (
            Request::Touch(touch("event-1", Actor::Visitor(vid("زائر-١")))),
            Outcome::Touch(TouchOutcome::Recorded {
                referrer: sara.clone(),
            }),
        ),
        (
            Request::Touch(touch("event-2", Actor::Customer(sara.clone()))),
            Outcome::Touch(TouchOutcome::Ignored {
                reason: Reason::SelfReferral,
            }),
        ),
        (
            Request::Signup(signup("event-1", Some(code("SARA2026")))),
            Outcome::Signup(SignupOutcome::Referred {
                referral: referral.clone(),
            }),
        ),
        (
            Request::Signup(signup("event-2", None)),
            Outcome::Signup(SignupOutcome::NotReferred {
                reason: Reason::OutsideLookback,
            }),
        ),
        (
            Request::Conversion(conversion("event-1")),
            Outcome::Conversion(ConversionOutcome::Rewarded {
                referrer: sara.clone(),
                credits: Vec::new(),
                payouts,
                entries: vec![reward],
            }),
        ),
        (
            Request::Conversion(conversion("event-2")),
            Outcome::Conversion(ConversionOutcome::NotRewarded {
                referrer: Some(sara.clone()),
                reason: Reason::BelowMinimumOrder,
            }),
        ),
        (
            Request::Conversion(conversion("event-3")),
            Outcome::Conversion(ConversionOutcome::NotRewarded {
                referrer: None,
                reason: Reason::NotSignedUp,
            }),
        ),
        (
            Request::Refund(Refund {
                id: rid("event-1"),
                order: oid("طلب-١"),
                amount: RefundAmount::Partial(kwd(3_086)),
                at: at_ns(4, 999_999_999),
            }),
            Outcome::Refund(RefundOutcome {
                refunded: kwd(3_086),
                remaining: kwd(9_259),
                clawbacks: vec![clawback],
            }),
        ),
        (
            Request::Refund(Refund {
                id: rid("event-2"),
                order: oid("طلب-١"),
                amount: RefundAmount::Full,
                at: at(5),
            }),
            Outcome::Refund(RefundOutcome {
                refunded: kwd(9_259),
                remaining: kwd(0),
                clawbacks: Vec::new(),
            }),
        ),
    ];
    let mut records = Vec::new();
    for (request, outcome) in pairs {
        let record = IdempotencyRecord {
            program: prog.clone(),
            key: request.key(),
            request,
            outcome,
        };
        let what = format!("an outcome-only plan for {:?}", record.key);
        p.commit_ok(
            &what,
            CommitPlan {
                idempotency: Some(record.clone()),
                writes: Vec::new(),
            },
        )
        .await;
        records.push(record);
    }
    for record in records {
        let found = p.idempotency(&prog, &record.key).await;
        assert_eq!(
            found.as_ref(),
            Some(&record),
            "{clause}: idempotency record for {:?} came back changed",
            record.key
        );
    }
}

/// Every field of every record kind comes back exactly as written:
/// non-Latin and maximum-length ids, 1- and 32-symbol codes, 0- and
/// 3-decimal money, `None` and `Some` options, and timestamps to the
/// nanosecond.
///
/// Nanoseconds matter: the engine tells a retried event from a different one
/// by comparing it with the stored request, so a store that truncates times
/// to microseconds turns every retry into an `IdempotencyMismatch`.
pub async fn records_round_trip_exactly<S: Store>(store: &S) {
    let p = Probe::new(store, "records_round_trip_exactly");
    let clause = p.clause;
    let prog = pid("برنامج-الإحالة");
    // 128 bytes (MAX_ID_LEN) of two-byte letters.
    let long_owner = "م".repeat(64);
    let y2k = DateTime::from_timestamp(946_684_799, 999_999_999)
        .unwrap_or_else(|| panic!("{clause}: fixture time out of range"));

    let codes = vec![
        CodeRecord {
            expires_at: Some(at_ns(86_400, 999_999_999)),
            max_uses: Some(3),
            uses: 2,
            active: false,
            created_at: y2k,
            ..code_record(
                &prog,
                "ABCDEFGHJKMNPQRSTVWXYZ0123456789",
                "مسوّقة-سارة",
                CodeOrigin::Vanity,
            )
        },
        code_record(&prog, "7", &long_owner, CodeOrigin::Random),
        CodeRecord {
            max_uses: Some(u32::MAX),
            uses: u32::MAX - 1,
            ..code_record(&prog, "9N5PS3ZFR", "nada", CodeOrigin::Derived)
        },
    ];
    let customers = vec![
        CustomerRecord {
            signed_up_at: at_ns(60, 1),
            visitor: Some(vid("زائر-١")),
            qualifying_touches: vec![TouchPoint {
                id: "لمسة-١".into(),
                referrer: cid("مسوّقة-سارة"),
                channel: Channel::WhatsApp,
                kind: TouchKind::Visit,
                at: at_ns(59, 999_999_999),
            }],
            referral: Some(Referral {
                referrer: cid("مسوّقة-سارة"),
                code: code("ABCDEFGHJKMNPQRSTVWXYZ0123456789"),
                channel: Channel::custom("podcast").expect("a valid custom channel"),
                touched_at: at_ns(59, 999_999_999),
            }),
            rewarded_conversions: 7,
            ..customer_record(&prog, "عميل-٧")
        },
        customer_record(&prog, &long_owner),
    ];
    let conversions = vec![
        ConversionRecord {
            program: prog.clone(),
            conversion: Conversion {
                order: oid("طلب-٤٢"),
                customer: cid("عميل-٧"),
                amount: kwd(12_345),
                at: at_ns(120, 500),
            },
            referrer: Some(cid("مسوّقة-سارة")),
            credits: vec![
                Credit {
                    referrer: cid("مسوّقة-سارة"),
                    share: Share::from_ppb(666_666_667).expect("below one"),
                    touches: 2,
                    channel: Channel::custom("podcast").expect("a valid custom channel"),
                    last_touch_at: at_ns(119, 7),
                },
                Credit {
                    referrer: cid("nada"),
                    share: Share::from_ppb(333_333_333).expect("below one"),
                    touches: 1,
                    channel: Channel::Qr,
                    last_touch_at: at_ns(100, 0),
                },
            ],
            payouts: vec![
                Payout {
                    beneficiary: cid("مسوّقة-سارة"),
                    role: Role::Referrer,
                    amount: kwd(1_500),
                    clawed_back: kwd(375),
                },
                Payout {
                    beneficiary: cid("عميل-٧"),
                    role: Role::Referee,
                    amount: kwd(750),
                    clawed_back: kwd(0),
                },
            ],
            refunds: vec![rid("استرداد-١"), rid("refund-2")],
            refunded: kwd(3_086),
        },
        ConversionRecord {
            conversion: Conversion {
                order: oid("order-jpy"),
                customer: cid(&long_owner),
                amount: Money::new(9_000, Currency::JPY),
                at: y2k,
            },
            refunded: Money::new(0, Currency::JPY),
            ..conversion_record(&prog, "order-jpy", &long_owner)
        },
    ];
    let visitor = Actor::Visitor(vid("زائر-١"));
    let customer = Actor::Customer(cid("عميل-٧"));
    let touches = [
        TouchRecord {
            program: prog.clone(),
            referrer: cid("مسوّقة-سارة"),
            touch: Touch {
                id: eid("لمسة-١"),
                actor: visitor.clone(),
                code: code("ABCDEFGHJKMNPQRSTVWXYZ0123456789"),
                channel: Channel::WhatsApp,
                kind: TouchKind::Click,
                at: at_ns(30, 1),
            },
        },
        TouchRecord {
            program: prog.clone(),
            referrer: cid("nada"),
            touch: Touch {
                id: eid("لمسة-٢"),
                actor: visitor.clone(),
                code: code("9N5PS3ZFR"),
                channel: Channel::custom("souq-flyer").expect("a valid custom channel"),
                kind: TouchKind::Visit,
                at: at_ns(30, 2),
            },
        },
        TouchRecord {
            program: prog.clone(),
            referrer: cid(&long_owner),
            touch: Touch {
                id: eid("touch-share"),
                actor: customer.clone(),
                code: code("7"),
                channel: Channel::InStore,
                kind: TouchKind::Share,
                at: y2k,
            },
        },
    ];
    let entries = vec![
        LedgerEntry {
            id: lid("قيد-١"),
            program: prog.clone(),
            customer: cid("مسوّقة-سارة"),
            role: Role::Referrer,
            kind: EntryKind::Reward,
            amount: kwd(1_500),
            order: oid("طلب-٤٢"),
            refund: None,
            at: at_ns(120, 500),
        },
        LedgerEntry {
            id: lid("قيد-٢"),
            program: prog.clone(),
            customer: cid("مسوّقة-سارة"),
            role: Role::Referee,
            kind: EntryKind::Clawback,
            amount: kwd(-375),
            order: oid("طلب-٤٢"),
            refund: Some(rid("استرداد-١")),
            at: at_ns(180, 999_999_999),
        },
    ];

    let mut writes: Vec<Write> = Vec::new();
    writes.extend(codes.iter().cloned().map(|r| put_code(r, 0)));
    writes.extend(customers.iter().cloned().map(|r| put_customer(r, 0)));
    writes.extend(conversions.iter().cloned().map(|r| put_conversion(r, 0)));
    writes.extend(touches.iter().cloned().map(Write::InsertTouch));
    writes.extend(entries.iter().cloned().map(Write::InsertLedgerEntry));
    p.commit_ok("one plan writing every kind of record", plan(writes))
        .await;

    let nanos = "(timestamps must keep nanoseconds: see this clause's docs)";
    for record in codes {
        let found = p.code(&prog, &record.code).await;
        assert_eq!(
            found,
            v1(record),
            "{clause}: a code record came back changed {nanos}"
        );
    }
    for record in customers {
        let found = p.customer(&prog, record.customer.as_str()).await;
        assert_eq!(
            found,
            v1(record),
            "{clause}: a customer record came back changed {nanos}"
        );
    }
    for record in conversions {
        let found = p.conversion(&prog, record.conversion.order.as_str()).await;
        assert_eq!(
            found,
            v1(record),
            "{clause}: a conversion record came back changed {nanos}"
        );
    }
    let found = p.touches(&prog, &visitor, since_ever()).await;
    assert_eq!(
        found,
        touches[..2],
        "{clause}: touch records came back changed {nanos}"
    );
    let found = p.touches(&prog, &customer, since_ever()).await;
    assert_eq!(
        found,
        touches[2..],
        "{clause}: a touch record came back changed {nanos}"
    );
    let found = p.ledger(&prog, "مسوّقة-سارة").await;
    assert_eq!(
        found, entries,
        "{clause}: ledger entries came back changed {nanos}"
    );
}

/// Spawns one task per plan, lets them all commit at once, and returns
/// each plan's result in plan order.
async fn race<S: Store + 'static>(
    store: &Arc<S>,
    clause: &str,
    plans: Vec<CommitPlan>,
) -> Vec<StoreResult<()>> {
    let barrier = Arc::new(Barrier::new(plans.len()));
    let tasks: Vec<_> = plans
        .into_iter()
        .map(|plan| {
            let store = Arc::clone(store);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store.commit(plan).await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        match task.await {
            Ok(result) => results.push(result),
            Err(err) => panic!("{clause}: a committing task failed: {err}"),
        }
    }
    results
}

/// Asserts that exactly one result is `Ok` and all others are conflicts;
/// returns the winner's index.
fn one_winner(clause: &str, what: &str, results: &[StoreResult<()>]) -> usize {
    let mut winner = None;
    for (i, result) in results.iter().enumerate() {
        match result {
            Ok(()) => {
                if let Some(first) = winner {
                    panic!(
                        "{clause}: {what}: tasks {first} and {i} both committed; exactly one \
                         may win"
                    );
                }
                winner = Some(i);
            }
            Err(err) if err.kind() == StoreErrorKind::Conflict => {}
            Err(err) => panic!(
                "{clause}: {what}: task {i} lost with {:?} instead of Conflict: {err}",
                err.kind()
            ),
        }
    }
    winner.unwrap_or_else(|| {
        panic!(
            "{clause}: {what}: all {} tasks failed with Conflict; exactly one must win",
            results.len()
        )
    })
}

/// How many tasks race in each concurrency clause.
const TASKS: usize = 64;

/// How many rounds of races the concurrency clauses run.
const ROUNDS: usize = 6;

/// Many tasks, on a multi-threaded runtime, race to create the same code,
/// to commit the same idempotency key, to give one owner a primary code, to
/// insert the same touch id and ledger entry id, and to update the same
/// record from the same version: exactly one wins each race, every other
/// fails with a conflict and writes nothing. Then they all increment one
/// counter with read-modify-write retries, and no increment is lost.
///
/// # Panics
/// Also when not run on a multi-threaded tokio runtime.
pub async fn concurrent_commits_one_winner<S: Store + 'static>(store: Arc<S>) {
    let clause = "concurrent_commits_one_winner";
    assert_multi_thread(clause);
    let p = Probe::new(&*store, clause);
    let prog = pid(PROGRAM);
    for round in 0..ROUNDS {
        // The same code, for different owners.
        let text = format!("RACE{round}X");
        let owner = |i: usize| format!("racer-{round}-{i}");
        let plans = (0..TASKS)
            .map(|i| {
                plan(vec![put_code(
                    code_record(&prog, &text, &owner(i), CodeOrigin::Vanity),
                    0,
                )])
            })
            .collect();
        let what = format!("round {round}: creating code {text}");
        let w = one_winner(clause, &what, &race(&store, clause, plans).await);
        let found = p.code(&prog, &code(&text)).await;
        let want = v1(code_record(&prog, &text, &owner(w), CodeOrigin::Vanity));
        assert_eq!(
            found, want,
            "{clause}: {what}: the stored code is not the winner's"
        );

        // The same idempotency key, each plan with a customer of its own.
        let event = format!("race-event-{round}");
        let customer = |i: usize| format!("race-customer-{round}-{i}");
        let idem = |i: usize| touch_idempotency(&prog, &event, &format!("visitor-{i}"));
        let plans = (0..TASKS)
            .map(|i| CommitPlan {
                idempotency: Some(idem(i)),
                writes: vec![put_customer(customer_record(&prog, &customer(i)), 0)],
            })
            .collect();
        let what = format!("round {round}: committing idempotency key {event}");
        let w = one_winner(clause, &what, &race(&store, clause, plans).await);
        let found = p.idempotency(&prog, &key(EventKind::Touch, &event)).await;
        assert_eq!(
            found,
            Some(idem(w)),
            "{clause}: {what}: the stored outcome is not the winner's"
        );
        for i in 0..TASKS {
            let found = p.customer(&prog, &customer(i)).await;
            assert_eq!(
                found.is_some(),
                i == w,
                "{clause}: {what}: task {i}'s customer (winner: task {w})"
            );
        }

        // Different primary codes for one owner.
        let owner = format!("primary-owner-{round}");
        let text = |i: usize| format!("P{round}Q{i:02}XYZ");
        let plans = (0..TASKS)
            .map(|i| {
                plan(vec![put_code(
                    code_record(&prog, &text(i), &owner, CodeOrigin::Random),
                    0,
                )])
            })
            .collect();
        let what = format!("round {round}: primary codes for {owner}");
        let w = one_winner(clause, &what, &race(&store, clause, plans).await);
        let found = p.primary_code(&prog, &owner).await;
        let want = v1(code_record(&prog, &text(w), &owner, CodeOrigin::Random));
        assert_eq!(
            found, want,
            "{clause}: {what}: primary_code is not the winner's"
        );
        for i in 0..TASKS {
            let found = p.code(&prog, &code(&text(i))).await;
            assert_eq!(
                found.is_some(),
                i == w,
                "{clause}: {what}: task {i}'s code (winner {w})"
            );
        }

        // The same touch id and the same ledger entry id.
        let touch = format!("race-touch-{round}");
        let actor = |i: usize| Actor::Visitor(vid(&format!("race-visitor-{round}-{i}")));
        let plans = (0..TASKS)
            .map(|i| {
                plan(vec![Write::InsertTouch(touch_record(
                    &prog,
                    &touch,
                    actor(i),
                    at(1),
                ))])
            })
            .collect();
        let what = format!("round {round}: inserting touch {touch}");
        let w = one_winner(clause, &what, &race(&store, clause, plans).await);
        for i in 0..TASKS {
            let found = p.touches(&prog, &actor(i), since_ever()).await;
            assert_eq!(
                found.len(),
                usize::from(i == w),
                "{clause}: {what}: task {i} (winner {w})"
            );
        }
        let entry = format!("race-entry-{round}");
        let earner = |i: usize| format!("race-earner-{round}-{i}");
        let plans = (0..TASKS)
            .map(|i| {
                plan(vec![Write::InsertLedgerEntry(ledger_entry(
                    &prog,
                    &entry,
                    &earner(i),
                    at(1),
                    100,
                ))])
            })
            .collect();
        let what = format!("round {round}: inserting ledger entry {entry}");
        let w = one_winner(clause, &what, &race(&store, clause, plans).await);
        for i in 0..TASKS {
            let found = p.ledger(&prog, &earner(i)).await;
            assert_eq!(
                found.len(),
                usize::from(i == w),
                "{clause}: {what}: task {i} (winner {w})"
            );
        }

        // The same record from the same version.
        let counter = format!("counter-{round}");
        p.commit_ok(
            &format!("round {round}: creating {counter}"),
            plan(vec![put_customer(customer_record(&prog, &counter), 0)]),
        )
        .await;
        let bumped = |i: usize| CustomerRecord {
            rewarded_conversions: i as u32,
            ..customer_record(&prog, &counter)
        };
        let plans = (0..TASKS)
            .map(|i| plan(vec![put_customer(bumped(i), 1)]))
            .collect();
        let what = format!("round {round}: updating {counter} from version 1");
        let w = one_winner(clause, &what, &race(&store, clause, plans).await);
        let found = p.customer(&prog, &counter).await;
        let want = Some(Versioned {
            version: 2,
            record: bumped(w),
        });
        assert_eq!(
            found, want,
            "{clause}: {what}: the stored record is not the winner's"
        );
    }

    // Lost updates: every task adds one with read-modify-write retries.
    let counter = "shared-counter";
    p.commit_ok(
        "creating the shared counter",
        plan(vec![put_customer(customer_record(&prog, counter), 0)]),
    )
    .await;
    let barrier = Arc::new(Barrier::new(TASKS));
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| {
            let store = Arc::clone(&store);
            let barrier = Arc::clone(&barrier);
            let prog = prog.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                increment(&*store, &prog, counter, i).await
            })
        })
        .collect();
    for task in tasks {
        if let Err(err) = task.await {
            panic!("{clause}: an incrementing task failed: {err}");
        }
    }
    let found = p.customer(&prog, counter).await;
    let want = Some(Versioned {
        version: 1 + TASKS as u64,
        record: CustomerRecord {
            rewarded_conversions: TASKS as u32,
            ..customer_record(&prog, counter)
        },
    });
    assert_eq!(
        found, want,
        "{clause}: {TASKS} read-modify-write increments, some lost"
    );
}

/// Adds one to a customer's `rewarded_conversions`, re-reading on conflict
/// as the engine does.
async fn increment<S: Store>(store: &S, prog: &ProgramId, customer: &str, task: usize) {
    let clause = "concurrent_commits_one_winner";
    let p = Probe::new(store, clause);
    // Each conflict means another task won, so TASKS + 1 tries always
    // suffice for a store that keeps the contract; the margin is for
    // stores that also fail spuriously.
    for _ in 0..TASKS * 4 {
        let Some(current) = p.customer(prog, customer).await else {
            panic!("{clause}: task {task}: the counter {customer} vanished");
        };
        let mut record = current.record;
        record.rewarded_conversions += 1;
        match store
            .commit(plan(vec![put_customer(record, current.version)]))
            .await
        {
            Ok(()) => return,
            Err(err) if err.kind() == StoreErrorKind::Conflict => tokio::task::yield_now().await,
            Err(err) => panic!(
                "{clause}: task {task}: incrementing {customer} failed with {:?}: {err}",
                err.kind()
            ),
        }
    }
    panic!(
        "{clause}: task {task}: still conflicting after {} tries: conflicts must mean another \
         writer won",
        TASKS * 4
    );
}

/// Many tasks commit plans with disjoint keys at once, several sharing one
/// actor's touch list and one customer's ledger: every commit succeeds and
/// every write is there, in order, afterwards.
///
/// # Panics
/// Also when not run on a multi-threaded tokio runtime.
pub async fn concurrent_disjoint_commits_all_succeed<S: Store + 'static>(store: Arc<S>) {
    let clause = "concurrent_disjoint_commits_all_succeed";
    assert_multi_thread(clause);
    let p = Probe::new(&*store, clause);
    let prog = pid(PROGRAM);
    let shared_visitor = Actor::Visitor(vid("shared-visitor"));
    for round in 0..ROUNDS {
        let name = |what: &str, i: usize| format!("{what}-{round}-{i:02}");
        // Times descend with i, so commits arrive out of time order.
        let time = |i: usize| at(((TASKS - i) * 10 + round) as i64);
        let plans = (0..TASKS)
            .map(|i| CommitPlan {
                idempotency: Some(touch_idempotency(&prog, &name("event", i), "visitor")),
                writes: vec![
                    put_code(
                        code_record(
                            &prog,
                            &format!("D{round}J{i:02}"),
                            &name("owner", i),
                            CodeOrigin::Random,
                        ),
                        0,
                    ),
                    put_customer(customer_record(&prog, &name("customer", i)), 0),
                    put_conversion(
                        conversion_record(&prog, &name("order", i), &name("customer", i)),
                        0,
                    ),
                    Write::InsertTouch(touch_record(
                        &prog,
                        &name("touch", i),
                        shared_visitor.clone(),
                        time(i),
                    )),
                    Write::InsertLedgerEntry(ledger_entry(
                        &prog,
                        &name("entry", i),
                        "shared-earner",
                        time(i),
                        100,
                    )),
                ],
            })
            .collect();
        for (i, result) in race(&store, clause, plans).await.into_iter().enumerate() {
            if let Err(err) = result {
                panic!(
                    "{clause}: round {round}: task {i}'s plan shares no key with any other, yet \
                     failed with {:?}: {err}",
                    err.kind()
                );
            }
        }
        for i in 0..TASKS {
            let found = p.primary_code(&prog, &name("owner", i)).await;
            assert!(
                found.is_some(),
                "{clause}: round {round}: task {i}'s code is missing"
            );
            let found = p.customer(&prog, &name("customer", i)).await;
            assert!(
                found.is_some(),
                "{clause}: round {round}: task {i}'s customer is missing"
            );
            let found = p.conversion(&prog, &name("order", i)).await;
            assert!(
                found.is_some(),
                "{clause}: round {round}: task {i}'s conversion is missing"
            );
            let k = key(EventKind::Touch, &name("event", i));
            let found = p.idempotency(&prog, &k).await;
            assert!(
                found.is_some(),
                "{clause}: round {round}: task {i}'s outcome is missing"
            );
        }
    }
    let touches = p.touches(&prog, &shared_visitor, since_ever()).await;
    let entries = p.ledger(&prog, "shared-earner").await;
    assert_eq!(
        (touches.len(), entries.len()),
        (TASKS * ROUNDS, TASKS * ROUNDS),
        "{clause}: touches and ledger entries after all rounds: some were lost"
    );
    let sorted_by = |keys: Vec<(DateTime<Utc>, String)>| keys.windows(2).all(|w| w[0] < w[1]);
    assert!(
        sorted_by(
            touches
                .iter()
                .map(|t| (t.touch.at, t.touch.id.to_string()))
                .collect()
        ),
        "{clause}: touches written concurrently are not ascending by (time, id): {:?}",
        ids_of_touches(&touches)
    );
    assert!(
        sorted_by(entries.iter().map(|e| (e.at, e.id.to_string())).collect()),
        "{clause}: ledger entries written concurrently are not ascending by (time, id): {:?}",
        ids_of_entries(&entries)
    );
}

/// Unwraps an engine result, naming the clause, the step and the error.
fn ok<T>(clause: &str, step: &str, result: Result<T, Error>) -> T {
    result.unwrap_or_else(|err| {
        panic!(
            "{clause}: {step}: the engine failed ({:?}): {err}",
            err.kind()
        )
    })
}

fn expect_error<T: Debug>(clause: &str, step: &str, result: Result<T, Error>, kind: ErrorKind) {
    match result {
        Ok(value) => panic!("{clause}: {step}: expected a {kind:?} error, got {value:?}"),
        Err(err) if err.kind() == kind => {}
        Err(err) => panic!(
            "{clause}: {step}: expected {kind:?}, got {:?}: {err}",
            err.kind()
        ),
    }
}

/// The engine over this store, end to end: a vanity code, a visitor's
/// click, the visitor's signup, a second signup with the typed code, an
/// order, a partial and a full refund. Every event replayed returns the
/// same outcome and writes nothing; the ledgers balance to zero after the
/// full refund.
pub async fn engine_end_to_end_over_store<S: Store>(store: &S) {
    let clause = "engine_end_to_end_over_store";
    let program = Program::builder("conformance-engine", "Conformance")
        .currency(Currency::SAR)
        .lookback_days(30)
        .two_sided_reward(sar(1_500), sar(1_000))
        .build()
        .unwrap_or_else(|err| panic!("{clause}: the fixture program is invalid: {err}"));
    let prog = program.id().clone();
    let engine = Engine::new(store, program);
    let p = Probe::new(store, clause);
    let sara = cid("sara");
    let nada = cid("nada");

    let record = ok(
        clause,
        "create_vanity_code",
        engine
            .create_vanity_code(&sara, "SARA2026", VanityOptions::default(), at(0))
            .await,
    );
    let sara_code = code("SARA2026");
    assert_eq!(
        (record.code, &record.owner, record.origin, record.uses),
        (sara_code, &sara, CodeOrigin::Vanity, 0),
        "{clause}: the vanity code"
    );
    let again = engine
        .create_vanity_code(&sara, "SARA2026", VanityOptions::default(), at(5))
        .await;
    assert_eq!(
        ok(clause, "create_vanity_code again", again),
        record,
        "{clause}: vanity replay"
    );

    let click = Touch {
        id: eid("touch-1"),
        actor: Actor::Visitor(vid("visitor-1")),
        code: sara_code,
        channel: Channel::WhatsApp,
        kind: TouchKind::Click,
        at: at(60),
    };
    let self_touch = Touch {
        id: eid("touch-2"),
        actor: Actor::Customer(sara.clone()),
        channel: Channel::Link,
        at: at(61),
        ..click.clone()
    };
    let clicked = ok(clause, "record_touch", engine.record_touch(&click).await);
    assert_eq!(
        clicked,
        TouchOutcome::Recorded {
            referrer: sara.clone()
        },
        "{clause}: the visitor's click"
    );
    let own = ok(
        clause,
        "record_touch (own code)",
        engine.record_touch(&self_touch).await,
    );
    assert_eq!(
        own,
        TouchOutcome::Ignored {
            reason: Reason::SelfReferral
        },
        "{clause}: the owner's own click"
    );

    let signup = Signup {
        id: eid("signup-1"),
        customer: nada.clone(),
        visitor: Some(vid("visitor-1")),
        code: None,
        channel: None,
        at: at(3_600),
    };
    let signed = ok(clause, "record_signup", engine.record_signup(&signup).await);
    let referral = Referral {
        referrer: sara.clone(),
        code: sara_code,
        channel: Channel::WhatsApp,
        touched_at: at(60),
    };
    assert_eq!(
        signed,
        SignupOutcome::Referred {
            referral: referral.clone()
        },
        "{clause}: the visitor's signup"
    );
    let typed = Signup {
        id: eid("signup-2"),
        customer: cid("maha"),
        visitor: None,
        code: Some(sara_code),
        channel: Some(Channel::Instagram),
        at: at(4_000),
    };
    let typed_out = ok(
        clause,
        "record_signup (typed code)",
        engine.record_signup(&typed).await,
    );
    assert_eq!(
        typed_out,
        SignupOutcome::Referred {
            referral: Referral {
                channel: Channel::Instagram,
                touched_at: at(4_000),
                ..referral
            }
        },
        "{clause}: the signup with a typed code"
    );
    let stored = p.code(&prog, &sara_code).await;
    assert_eq!(
        stored.map(|v| (v.version, v.record.uses)),
        Some((3, 2)),
        "{clause}: the code after two referrals (version, uses)"
    );

    let order = Conversion {
        order: oid("order-1"),
        customer: nada.clone(),
        amount: sar(20_000),
        at: at(7_200),
    };
    let converted = ok(
        clause,
        "record_conversion",
        engine.record_conversion(&order).await,
    );
    let ConversionOutcome::Rewarded {
        referrer,
        payouts,
        entries,
        ..
    } = &converted
    else {
        panic!("{clause}: the referee's first order earned nothing: {converted:?}");
    };
    assert_eq!(referrer, &sara, "{clause}: the credited referrer");
    let paid: Vec<(&CustomerId, Role, Money)> = payouts
        .iter()
        .map(|x| (&x.beneficiary, x.role, x.amount))
        .collect();
    assert_eq!(
        paid,
        [
            (&sara, Role::Referrer, sar(1_500)),
            (&nada, Role::Referee, sar(1_000))
        ],
        "{clause}: the payouts"
    );
    assert_eq!(
        entries.len(),
        2,
        "{clause}: the reward entries: {entries:?}"
    );
    let balance = |who: &CustomerId, step: &str| {
        let who = who.clone();
        let step = step.to_owned();
        let engine = &engine;
        async move {
            ok(
                clause,
                &format!("balance {step}"),
                engine.balance(&who).await,
            )
        }
    };
    assert_eq!(
        balance(&sara, "after the order").await,
        sar(1_500),
        "{clause}: sara's balance"
    );
    assert_eq!(
        balance(&nada, "after the order").await,
        sar(1_000),
        "{clause}: nada's balance"
    );

    let partial = Refund {
        id: rid("refund-1"),
        order: oid("order-1"),
        amount: RefundAmount::Partial(sar(5_000)),
        at: at(8_000),
    };
    let refunded = ok(
        clause,
        "record_refund (partial)",
        engine.record_refund(&partial).await,
    );
    let clawed: Vec<Money> = refunded.clawbacks.iter().map(|e| e.amount).collect();
    assert_eq!(
        (refunded.refunded, refunded.remaining, clawed),
        (sar(5_000), sar(15_000), vec![sar(-375), sar(-250)]),
        "{clause}: a quarter of the order refunded claws back a quarter of each reward"
    );
    let full = Refund {
        id: rid("refund-2"),
        order: oid("order-1"),
        amount: RefundAmount::Full,
        at: at(9_000),
    };
    let rest = ok(
        clause,
        "record_refund (full)",
        engine.record_refund(&full).await,
    );
    let clawed: Vec<Money> = rest.clawbacks.iter().map(|e| e.amount).collect();
    assert_eq!(
        (rest.refunded, rest.remaining, clawed),
        (sar(15_000), sar(0), vec![sar(-1_125), sar(-750)]),
        "{clause}: the full refund claws back the rest"
    );
    let once_more = Refund {
        id: rid("refund-3"),
        ..full.clone()
    };
    expect_error(
        clause,
        "a third refund of a fully refunded order",
        engine.record_refund(&once_more).await,
        ErrorKind::InvalidInput,
    );
    let reused = Touch {
        at: at(62),
        ..click.clone()
    };
    expect_error(
        clause,
        "a touch id reused for another touch",
        engine.record_touch(&reused).await,
        ErrorKind::IdempotencyMismatch,
    );

    let before_replay = (
        p.ledger(&prog, "sara").await,
        p.ledger(&prog, "nada").await,
        p.conversion(&prog, "order-1").await,
        p.code(&prog, &sara_code).await,
        p.customer(&prog, "nada").await,
    );
    // Every event again, as a host retrying after a timeout would.
    let step = "replaying";
    assert_eq!(
        ok(clause, step, engine.record_touch(&click).await),
        clicked,
        "{clause}: {step} the click"
    );
    assert_eq!(
        ok(clause, step, engine.record_touch(&self_touch).await),
        own,
        "{clause}: {step} the own click"
    );
    assert_eq!(
        ok(clause, step, engine.record_signup(&signup).await),
        signed,
        "{clause}: {step} the signup"
    );
    assert_eq!(
        ok(clause, step, engine.record_signup(&typed).await),
        typed_out,
        "{clause}: {step} the typed signup"
    );
    assert_eq!(
        ok(clause, step, engine.record_conversion(&order).await),
        converted,
        "{clause}: {step} the order"
    );
    assert_eq!(
        ok(clause, step, engine.record_refund(&partial).await),
        refunded,
        "{clause}: {step} the partial refund"
    );
    assert_eq!(
        ok(clause, step, engine.record_refund(&full).await),
        rest,
        "{clause}: {step} the full refund"
    );
    let after_replay = (
        p.ledger(&prog, "sara").await,
        p.ledger(&prog, "nada").await,
        p.conversion(&prog, "order-1").await,
        p.code(&prog, &sara_code).await,
        p.customer(&prog, "nada").await,
    );
    assert_eq!(
        after_replay, before_replay,
        "{clause}: replaying every event changed the store"
    );

    let (sara_ledger, nada_ledger, conversion, ..) = after_replay;
    let amounts = |l: &[LedgerEntry]| l.iter().map(|e| e.amount).collect::<Vec<_>>();
    assert_eq!(
        amounts(&sara_ledger),
        [sar(1_500), sar(-375), sar(-1_125)],
        "{clause}: sara's ledger, oldest first"
    );
    assert_eq!(
        amounts(&nada_ledger),
        [sar(1_000), sar(-250), sar(-750)],
        "{clause}: nada's ledger, oldest first"
    );
    assert_eq!(
        balance(&sara, "after the refunds").await,
        sar(0),
        "{clause}: sara's final balance"
    );
    assert_eq!(
        balance(&nada, "after the refunds").await,
        sar(0),
        "{clause}: nada's final balance"
    );
    let conversion =
        conversion.unwrap_or_else(|| panic!("{clause}: the conversion record is missing"));
    assert_eq!(
        (
            conversion.version,
            conversion.record.refunded,
            conversion.record.refunds.len()
        ),
        (3, sar(20_000), 2),
        "{clause}: the conversion after two refunds (version, refunded, refunds)"
    );
    assert!(
        conversion
            .record
            .payouts
            .iter()
            .all(|x| x.clawed_back == x.amount),
        "{clause}: every payout is clawed back in full: {:?}",
        conversion.record.payouts
    );
}

#[cfg(test)]
mod tests {
    /// `run_all` must call every clause: a clause missing from it would be
    /// silently skipped by every backend.
    #[test]
    fn run_all_calls_every_public_clause() {
        let source = include_str!("conformance.rs");
        let body_start = source
            .find("pub async fn run_all")
            .expect("run_all is defined");
        let body_end = body_start
            + source[body_start..]
                .find("\n}\n")
                .expect("run_all has a body");
        let body = &source[body_start..body_end];
        let clauses: Vec<&str> = source
            .match_indices("\npub async fn ")
            .map(|(i, m)| {
                let rest = &source[i + m.len()..];
                let end = rest.find(['<', '(']).expect("a signature");
                &rest[..end]
            })
            .filter(|name| *name != "run_all")
            .collect();
        assert!(clauses.len() >= 17, "found only {clauses:?}");
        for clause in clauses {
            assert!(
                body.contains(&format!("    {clause}(")),
                "run_all does not call the clause {clause}"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn memory_store_passes_the_suite() {
        super::run_all(|| async { crate::MemoryStore::new() }).await;
    }

    #[tokio::test(flavor = "current_thread")]
    #[should_panic(expected = "need #[tokio::test(flavor = \"multi_thread\")]")]
    async fn the_concurrency_clauses_refuse_a_single_threaded_runtime() {
        let store = std::sync::Arc::new(crate::MemoryStore::new());
        super::concurrent_commits_one_winner(store).await;
    }
}

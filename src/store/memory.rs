//! [`MemoryStore`]: the embedded, in-process store.

use std::collections::{HashMap as StdHashMap, HashSet as StdHashSet};
use std::future::{Future, ready};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::{
    CodeRecord, CommitPlan, ConversionRecord, CustomerRecord, IdempotencyKey, IdempotencyRecord,
    LedgerEntry, Store, StoreError, StoreResult, TouchRecord, Versioned, Write,
};
use crate::code::Code;
/// Maps with foldhash: several times faster than SipHash on short keys,
/// and seeded per map, so keys chosen by strangers (visitor ids come from
/// cookies) cannot be aimed at one bucket in advance.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = StdHashSet<K, foldhash::fast::RandomState>;

use crate::model::{Actor, CustomerId, EventId, LedgerEntryId, OrderId, ProgramId};

/// One program's records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ProgramState {
    // Large records are boxed: growing a table then moves pointers, not
    // hundreds of bytes per entry (a store with 10^6 events rehashes often).
    idempotency: HashMap<IdempotencyKey, Box<IdempotencyRecord>>,
    codes: HashMap<Code, Box<Versioned<CodeRecord>>>,
    primary: HashMap<CustomerId, Code>,
    customers: HashMap<CustomerId, Box<Versioned<CustomerRecord>>>,
    touch_ids: HashSet<EventId>,
    /// Per actor, ascending by (time, id): the order `Store::touches` promises.
    touches: HashMap<Actor, Vec<TouchRecord>>,
    conversions: HashMap<OrderId, Box<Versioned<ConversionRecord>>>,
    ledger_ids: HashSet<LedgerEntryId>,
    /// Per customer, ascending by (time, id).
    ledger: HashMap<CustomerId, Vec<LedgerEntry>>,
}

/// The whole state of a [`MemoryStore`]: a plain struct with `&mut self`
/// methods, testable without the trait or a lock.
///
/// Two states compare equal when they hold the same records at the same
/// versions, which is how "replay twice, compare" tests check idempotency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryState {
    programs: HashMap<ProgramId, ProgramState>,
}

/// A key a plan writes, to refuse plans that write one key twice.
#[derive(PartialEq, Eq)]
enum PlanKey<'a> {
    Code(&'a ProgramId, Code),
    Customer(&'a ProgramId, &'a CustomerId),
    Conversion(&'a ProgramId, &'a OrderId),
    Touch(&'a ProgramId, &'a EventId),
    Ledger(&'a ProgramId, &'a LedgerEntryId),
}

fn version_of<T>(v: Option<&Versioned<T>>) -> u64 {
    v.map_or(0, |v| v.version)
}

/// `what` names the record, built only on a conflict: commits that succeed
/// format nothing.
fn check_version(what: impl FnOnce() -> String, current: u64, expected: u64) -> StoreResult<()> {
    if current == expected {
        Ok(())
    } else {
        Err(StoreError::conflict(format!(
            "{} is at version {current}, the plan expected {expected}",
            what()
        )))
    }
}

impl MemoryState {
    /// An empty state.
    pub fn new() -> MemoryState {
        MemoryState::default()
    }

    fn program(&self, program: &ProgramId) -> Option<&ProgramState> {
        self.programs.get(program)
    }

    /// See [`Store::idempotency`].
    pub fn idempotency(
        &self,
        program: &ProgramId,
        key: &IdempotencyKey,
    ) -> Option<IdempotencyRecord> {
        self.program(program)?
            .idempotency
            .get(key)
            .map(|r| (**r).clone())
    }

    /// See [`Store::code`].
    pub fn code(&self, program: &ProgramId, code: &Code) -> Option<Versioned<CodeRecord>> {
        self.program(program)?
            .codes
            .get(code)
            .map(|r| (**r).clone())
    }

    /// See [`Store::primary_code`].
    pub fn primary_code(
        &self,
        program: &ProgramId,
        owner: &CustomerId,
    ) -> Option<Versioned<CodeRecord>> {
        let p = self.program(program)?;
        p.primary
            .get(owner)
            .and_then(|c| p.codes.get(c))
            .map(|r| (**r).clone())
    }

    /// See [`Store::customer`].
    pub fn customer(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> Option<Versioned<CustomerRecord>> {
        self.program(program)?
            .customers
            .get(customer)
            .map(|r| (**r).clone())
    }

    /// See [`Store::touches`].
    pub fn touches(
        &self,
        program: &ProgramId,
        actor: &Actor,
        since: DateTime<Utc>,
    ) -> Vec<TouchRecord> {
        let Some(list) = self.program(program).and_then(|p| p.touches.get(actor)) else {
            return Vec::new();
        };
        let start = list.partition_point(|t| t.touch.at < since);
        list[start..].to_vec()
    }

    /// See [`Store::conversion`].
    pub fn conversion(
        &self,
        program: &ProgramId,
        order: &OrderId,
    ) -> Option<Versioned<ConversionRecord>> {
        self.program(program)?
            .conversions
            .get(order)
            .map(|r| (**r).clone())
    }

    /// See [`Store::ledger`].
    pub fn ledger(&self, program: &ProgramId, customer: &CustomerId) -> Vec<LedgerEntry> {
        self.program(program)
            .and_then(|p| p.ledger.get(customer))
            .cloned()
            .unwrap_or_default()
    }

    /// Every ledger entry of every program, for whole-state checks in tests
    /// (ledger balance laws): ascending by program, customer, time, id.
    pub fn all_ledger_entries(&self) -> Vec<LedgerEntry> {
        let mut all: Vec<LedgerEntry> = self
            .programs
            .values()
            .flat_map(|p| p.ledger.values().flatten().cloned())
            .collect();
        all.sort_by(|a, b| {
            (&a.program, &a.customer, a.at, &a.id).cmp(&(&b.program, &b.customer, b.at, &b.id))
        });
        all
    }

    /// Checks every condition of `plan` without changing anything.
    fn validate(&self, plan: &CommitPlan) -> StoreResult<()> {
        let empty = ProgramState::default();
        let state = |p: &ProgramId| self.programs.get(p).unwrap_or(&empty);
        if let Some(idem) = &plan.idempotency {
            if state(&idem.program).idempotency.contains_key(&idem.key) {
                return Err(StoreError::conflict(format!(
                    "idempotency key {:?} {:?} is already stored in program {}",
                    idem.key.kind, idem.key.id, idem.program
                )));
            }
        }
        // Plans hold a handful of writes: a linear scan beats hashing.
        let mut seen: Vec<PlanKey<'_>> = Vec::with_capacity(plan.writes.len());
        let mut new_primaries: Vec<(&ProgramId, &CustomerId)> = Vec::new();
        for write in &plan.writes {
            let key = match write {
                Write::PutCode { record, expected } => {
                    let p = state(&record.program);
                    check_version(
                        || format!("code {} in program {}", record.code, record.program),
                        version_of(p.codes.get(&record.code).map(|b| &**b)),
                        *expected,
                    )?;
                    if record.origin.is_primary() {
                        if let Some(existing) = p.primary.get(&record.owner) {
                            if *existing != record.code {
                                return Err(StoreError::conflict(format!(
                                    "customer {} already has primary code {existing} in program {}",
                                    record.owner, record.program
                                )));
                            }
                        }
                        let owner = (&record.program, &record.owner);
                        if new_primaries.contains(&owner) {
                            return Err(StoreError::conflict(format!(
                                "the plan gives customer {} two primary codes",
                                record.owner
                            )));
                        }
                        new_primaries.push(owner);
                    }
                    PlanKey::Code(&record.program, record.code)
                }
                Write::PutCustomer { record, expected } => {
                    check_version(
                        || format!("customer {} in program {}", record.customer, record.program),
                        version_of(
                            state(&record.program)
                                .customers
                                .get(&record.customer)
                                .map(|b| &**b),
                        ),
                        *expected,
                    )?;
                    PlanKey::Customer(&record.program, &record.customer)
                }
                Write::PutConversion { record, expected } => {
                    let order = &record.conversion.order;
                    check_version(
                        || format!("order {order} in program {}", record.program),
                        version_of(state(&record.program).conversions.get(order).map(|b| &**b)),
                        *expected,
                    )?;
                    PlanKey::Conversion(&record.program, order)
                }
                Write::InsertTouch(t) => {
                    if state(&t.program).touch_ids.contains(&t.touch.id) {
                        return Err(StoreError::conflict(format!(
                            "touch {} is already stored in program {}",
                            t.touch.id, t.program
                        )));
                    }
                    PlanKey::Touch(&t.program, &t.touch.id)
                }
                Write::InsertLedgerEntry(e) => {
                    if state(&e.program).ledger_ids.contains(&e.id) {
                        return Err(StoreError::conflict(format!(
                            "ledger entry {} is already stored in program {}",
                            e.id, e.program
                        )));
                    }
                    PlanKey::Ledger(&e.program, &e.id)
                }
            };
            if seen.contains(&key) {
                // A plan that writes a key twice is an engine bug, not a race:
                // refuse it as final rather than let the last write win.
                return Err(StoreError::new(
                    super::StoreErrorKind::Backend,
                    "the plan writes the same key twice",
                ));
            }
            seen.push(key);
        }
        Ok(())
    }

    /// The program's state, created on first write. Looks up before
    /// inserting so the common case clones no id.
    fn program_mut(&mut self, program: &ProgramId) -> &mut ProgramState {
        if !self.programs.contains_key(program) {
            self.programs
                .insert(program.clone(), ProgramState::default());
        }
        // OK because the entry was inserted just above if it was missing.
        self.programs.get_mut(program).expect("inserted above")
    }

    /// Applies `plan` if all its conditions hold; otherwise changes nothing.
    /// This is [`Store::commit`] without the lock.
    ///
    /// # Errors
    /// [`StoreErrorKind::Conflict`](super::StoreErrorKind::Conflict) when a
    /// condition fails; `Backend` for a plan that writes a key twice.
    pub fn apply(&mut self, plan: CommitPlan) -> StoreResult<()> {
        self.validate(&plan)?;
        if let Some(idem) = plan.idempotency {
            self.program_mut(&idem.program)
                .idempotency
                .insert(idem.key.clone(), Box::new(idem));
        }
        for write in plan.writes {
            match write {
                Write::PutCode { record, expected } => {
                    let p = self.program_mut(&record.program);
                    if record.origin.is_primary() {
                        p.primary.insert(record.owner.clone(), record.code);
                    }
                    p.codes.insert(
                        record.code,
                        Box::new(Versioned {
                            version: expected + 1,
                            record,
                        }),
                    );
                }
                Write::PutCustomer { record, expected } => {
                    let p = self.program_mut(&record.program);
                    p.customers.insert(
                        record.customer.clone(),
                        Box::new(Versioned {
                            version: expected + 1,
                            record,
                        }),
                    );
                }
                Write::PutConversion { record, expected } => {
                    let p = self.program_mut(&record.program);
                    p.conversions.insert(
                        record.conversion.order.clone(),
                        Box::new(Versioned {
                            version: expected + 1,
                            record,
                        }),
                    );
                }
                Write::InsertTouch(t) => {
                    let p = self.program_mut(&t.program);
                    p.touch_ids.insert(t.touch.id.clone());
                    // Look up before inserting so the common case clones no id.
                    if let Some(list) = p.touches.get_mut(&t.touch.actor) {
                        let at = list.partition_point(|x| {
                            (x.touch.at, &x.touch.id) <= (t.touch.at, &t.touch.id)
                        });
                        list.insert(at, t);
                    } else {
                        p.touches.insert(t.touch.actor.clone(), vec![t]);
                    }
                }
                Write::InsertLedgerEntry(e) => {
                    let p = self.program_mut(&e.program);
                    p.ledger_ids.insert(e.id.clone());
                    if let Some(list) = p.ledger.get_mut(&e.customer) {
                        let at = list.partition_point(|x| (x.at, &x.id) <= (e.at, &e.id));
                        list.insert(at, e);
                    } else {
                        p.ledger.insert(e.customer.clone(), vec![e]);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The embedded default [`Store`]: every record in memory, behind one lock.
///
/// Safe to share between threads and tasks. `Clone` shares the state (a
/// clone is another handle to the same store); [`MemoryStore::fork`] copies
/// it. Every method answers with a ready future and never holds the lock
/// across an `.await`.
///
/// # Example: two handles, one store
/// ```
/// use referrals::MemoryStore;
/// let store = MemoryStore::new();
/// let handle = store.clone();
/// assert_eq!(store.snapshot(), handle.snapshot());
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<MemoryState>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A new, independent store holding a copy of this one's records.
    pub fn fork(&self) -> MemoryStore {
        MemoryStore {
            state: Arc::new(Mutex::new(self.snapshot())),
        }
    }

    /// A copy of the whole state, for comparisons in tests.
    pub fn snapshot(&self) -> MemoryState {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, MemoryState> {
        // A panic while holding the lock cannot leave a half-applied plan:
        // `apply` validates before it mutates, and mutation does not panic.
        // So a poisoned lock still guards a consistent state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for MemoryStore {
    fn idempotency(
        &self,
        program: &ProgramId,
        key: &IdempotencyKey,
    ) -> impl Future<Output = StoreResult<Option<IdempotencyRecord>>> + Send {
        ready(Ok(self.lock().idempotency(program, key)))
    }

    fn code(
        &self,
        program: &ProgramId,
        code: &Code,
    ) -> impl Future<Output = StoreResult<Option<Versioned<CodeRecord>>>> + Send {
        ready(Ok(self.lock().code(program, code)))
    }

    fn primary_code(
        &self,
        program: &ProgramId,
        owner: &CustomerId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<CodeRecord>>>> + Send {
        ready(Ok(self.lock().primary_code(program, owner)))
    }

    fn customer(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<CustomerRecord>>>> + Send {
        ready(Ok(self.lock().customer(program, customer)))
    }

    fn touches(
        &self,
        program: &ProgramId,
        actor: &Actor,
        since: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<Vec<TouchRecord>>> + Send {
        ready(Ok(self.lock().touches(program, actor, since)))
    }

    fn conversion(
        &self,
        program: &ProgramId,
        order: &OrderId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<ConversionRecord>>>> + Send {
        ready(Ok(self.lock().conversion(program, order)))
    }

    fn ledger(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Vec<LedgerEntry>>> + Send {
        ready(Ok(self.lock().ledger(program, customer)))
    }

    fn commit(&self, plan: CommitPlan) -> impl Future<Output = StoreResult<()>> + Send {
        ready(self.lock().apply(plan))
    }
}

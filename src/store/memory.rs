//! [`MemoryStore`]: the embedded, in-process store.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap as StdHashMap, HashSet as StdHashSet};
use std::future::{Future, ready};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::{
    AssignmentRecord, Balance, CodeRecord, CommitPlan, ConversionRecord, CounterKey,
    CustomerRecord, Due, IdempotencyKey, IdempotencyRecord, IdentityMatch, IdentityRecord,
    LedgerCursor, LedgerEntry, OutboxCursor, OutboxItem, ReferredCustomer, Reward, RewardCursor,
    Store, StoreError, StoreResult, TouchRecord, Versioned, Write,
};
use crate::code::Code;
use crate::fraud::identity::SignalHash;
use crate::reward::{Label, Unit};
/// Maps with foldhash: several times faster than SipHash on short keys,
/// and seeded per map, so keys chosen by strangers (visitor ids come from
/// cookies) cannot be aimed at one bucket in advance.
type HashMap<K, V> = StdHashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = StdHashSet<K, foldhash::fast::RandomState>;

use crate::model::{
    Actor, CustomerId, DeliveryId, EventId, LedgerEntryId, OrderId, ProgramId, RewardId,
};

/// Customers by a time of theirs, the latest first, ties by customer.
type LatestFirst = BTreeSet<(Reverse<DateTime<Utc>>, CustomerId)>;

/// Conversions per customer (a referrer, a buyer), by (time, order).
type OrdersByCustomer = HashMap<CustomerId, BTreeSet<(DateTime<Utc>, OrderId)>>;

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
    /// Per actor, keyed by (time, id): the order `Store::touches` promises,
    /// and O(log n) inserts whatever order touches arrive in.
    touches: HashMap<Actor, BTreeMap<(DateTime<Utc>, EventId), TouchRecord>>,
    conversions: HashMap<OrderId, Box<Versioned<ConversionRecord>>>,
    ledger_ids: HashSet<LedgerEntryId>,
    /// Per customer, keyed by (time, id).
    ledger: HashMap<CustomerId, BTreeMap<(DateTime<Utc>, LedgerEntryId), LedgerEntry>>,
    /// Per customer, per unit: the fold of their entries, kept as entries
    /// are inserted.
    balances: HashMap<CustomerId, BTreeMap<Unit, Balance>>,
    rewards: HashMap<RewardId, Box<Versioned<Reward>>>,
    /// Per referrer of record, their conversions by (time, order).
    referred: OrdersByCustomer,
    /// Per buyer, their conversions by (time, order).
    bought: OrdersByCustomer,
    assignments: HashMap<(Label, CustomerId), AssignmentRecord>,
    outbox: HashMap<DeliveryId, Box<Versioned<OutboxItem>>>,
    /// Outbox items by when a worker may claim them.
    outbox_due: BTreeSet<(DateTime<Utc>, DeliveryId)>,
    /// Rewards by when their hold ends (pending only).
    holds_due: BTreeSet<(DateTime<Utc>, RewardId)>,
    /// Rewards by when their available rest expires.
    expiries_due: BTreeSet<(DateTime<Utc>, RewardId)>,
    /// Rewards held for review, by when they were earned.
    reviews_due: BTreeSet<(DateTime<Utc>, RewardId)>,
    /// Per referrer, their referees, the latest first.
    referees: HashMap<CustomerId, LatestFirst>,
    identities: HashMap<CustomerId, Box<Versioned<IdentityRecord>>>,
    /// Per hash, the customers holding it, the latest first seen first.
    identity_index: HashMap<SignalHash, LatestFirst>,
    /// Identity records by their oldest signal.
    identity_ages: BTreeSet<(DateTime<Utc>, CustomerId)>,
}

/// Removes `place` from `customer`'s list in `index`, and the list when
/// it is left empty.
fn unlist(index: &mut OrdersByCustomer, customer: &CustomerId, place: &(DateTime<Utc>, OrderId)) {
    if let Some(set) = index.get_mut(customer) {
        set.remove(place);
        if set.is_empty() {
            index.remove(customer);
        }
    }
}

impl ProgramState {
    /// The conversions `index` lists under `customer`, in its order.
    fn listed(&self, index: &OrdersByCustomer, customer: &CustomerId) -> Vec<ConversionRecord> {
        index
            .get(customer)
            .into_iter()
            .flatten()
            .filter_map(|(_, order)| self.conversions.get(order).map(|v| v.record.clone()))
            .collect()
    }

    /// Removes a customer's identity record and its index entries.
    fn drop_identity(&mut self, customer: &CustomerId) {
        let Some(old) = self.identities.remove(customer) else {
            return;
        };
        for signal in &old.record.signals {
            if let Some(set) = self.identity_index.get_mut(&signal.hash) {
                set.remove(&(Reverse(signal.first_seen), customer.clone()));
                if set.is_empty() {
                    self.identity_index.remove(&signal.hash);
                }
            }
        }
        if let Some(at) = old.record.oldest_seen() {
            self.identity_ages.remove(&(at, customer.clone()));
        }
    }
}

/// The whole state of a [`MemoryStore`]: a plain struct with `&mut self`
/// methods, testable without the trait or a lock.
///
/// Two states compare equal when they hold the same records at the same
/// versions, which is how "replay twice, compare" tests check idempotency.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryState {
    programs: HashMap<ProgramId, ProgramState>,
    /// Counters are not scoped by one program: a shared allowance is
    /// counted across programs.
    counters: HashMap<CounterKey, i64>,
}

/// A key a plan writes, to refuse plans that write one key twice.
#[derive(PartialEq, Eq)]
enum PlanKey<'a> {
    Code(&'a ProgramId, Code),
    Customer(&'a ProgramId, &'a CustomerId),
    Conversion(&'a ProgramId, &'a OrderId),
    Touch(&'a ProgramId, &'a EventId),
    Ledger(&'a ProgramId, &'a LedgerEntryId),
    Reward(&'a ProgramId, &'a RewardId),
    Assignment(&'a ProgramId, &'a Label, &'a CustomerId),
    Outbox(&'a ProgramId, &'a DeliveryId),
    Identity(&'a ProgramId, &'a CustomerId),
}

/// The ids of a (due time, id) index after `after`, due at or before
/// `until`, at most `limit`, in order: the due rewards' and due
/// deliveries' pages.
fn due_ids<'a, K: Ord + Clone>(
    index: &'a BTreeSet<(DateTime<Utc>, K)>,
    after: Option<(DateTime<Utc>, &K)>,
    until: DateTime<Utc>,
    limit: usize,
) -> impl Iterator<Item = &'a K> + 'a {
    let range = match after {
        None => index.range(..),
        Some((at, id)) => index.range((
            std::ops::Bound::Excluded((at, id.clone())),
            std::ops::Bound::Unbounded,
        )),
    };
    range
        .take_while(move |(at, _)| *at <= until)
        .take(limit)
        .map(|(_, id)| id)
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

    /// See [`Store::identity`].
    pub fn identity(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> Option<Versioned<IdentityRecord>> {
        self.program(program)?
            .identities
            .get(customer)
            .map(|r| (**r).clone())
    }

    /// See [`Store::identity_matches`].
    pub fn identity_matches(
        &self,
        program: &ProgramId,
        hash: &SignalHash,
        limit: usize,
    ) -> Vec<IdentityMatch> {
        let Some(index) = self
            .program(program)
            .and_then(|p| p.identity_index.get(hash))
        else {
            return Vec::new();
        };
        index
            .iter()
            .take(limit)
            .map(|(Reverse(at), customer)| IdentityMatch {
                customer: customer.clone(),
                first_seen: *at,
            })
            .collect()
    }

    /// See [`Store::stale_identities`].
    pub fn stale_identities(
        &self,
        program: &ProgramId,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Vec<Versioned<IdentityRecord>> {
        let Some(p) = self.program(program) else {
            return Vec::new();
        };
        p.identity_ages
            .iter()
            .take_while(|(at, _)| *at < before)
            .take(limit)
            .filter_map(|(_, c)| p.identities.get(c).map(|r| (**r).clone()))
            .collect()
    }

    /// See [`Store::recent_referees`].
    pub fn recent_referees(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
        limit: usize,
    ) -> Vec<ReferredCustomer> {
        let Some(index) = self.program(program).and_then(|p| p.referees.get(referrer)) else {
            return Vec::new();
        };
        index
            .iter()
            .take(limit)
            .map(|(Reverse(at), c)| ReferredCustomer {
                customer: c.clone(),
                signed_up_at: *at,
            })
            .collect()
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
        list.iter()
            .skip_while(|((at, _), _)| *at < since)
            .map(|(_, t)| t.clone())
            .collect()
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
    pub fn ledger(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
        after: Option<&LedgerCursor>,
        limit: usize,
    ) -> Vec<LedgerEntry> {
        let Some(list) = self.program(program).and_then(|p| p.ledger.get(customer)) else {
            return Vec::new();
        };
        let range = match after {
            None => list.range(..),
            Some(c) => list.range((
                std::ops::Bound::Excluded((c.at, c.id.clone())),
                std::ops::Bound::Unbounded,
            )),
        };
        range.take(limit).map(|(_, e)| e.clone()).collect()
    }

    /// See [`Store::balances`].
    pub fn balances(&self, program: &ProgramId, customer: &CustomerId) -> Vec<Balance> {
        self.program(program)
            .and_then(|p| p.balances.get(customer))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// See [`Store::reward`].
    pub fn reward(&self, program: &ProgramId, reward: &RewardId) -> Option<Versioned<Reward>> {
        self.program(program)?
            .rewards
            .get(reward)
            .map(|r| (**r).clone())
    }

    /// See [`Store::referred_conversions`].
    pub fn referred_conversions(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
    ) -> Vec<ConversionRecord> {
        self.program(program)
            .map(|p| p.listed(&p.referred, referrer))
            .unwrap_or_default()
    }

    /// See [`Store::customer_conversions`].
    pub fn customer_conversions(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> Vec<ConversionRecord> {
        self.program(program)
            .map(|p| p.listed(&p.bought, customer))
            .unwrap_or_default()
    }

    /// See [`Store::assignment`].
    pub fn assignment(
        &self,
        program: &ProgramId,
        experiment: &Label,
        customer: &CustomerId,
    ) -> Option<AssignmentRecord> {
        self.program(program)?
            .assignments
            .get(&(experiment.clone(), customer.clone()))
            .cloned()
    }

    /// See [`Store::outbox_item`].
    pub fn outbox_item(
        &self,
        program: &ProgramId,
        id: &DeliveryId,
    ) -> Option<Versioned<OutboxItem>> {
        self.program(program)?.outbox.get(id).map(|r| (**r).clone())
    }

    /// See [`Store::outbox_due`].
    pub fn outbox_due(
        &self,
        program: &ProgramId,
        now: DateTime<Utc>,
        after: Option<&OutboxCursor>,
        limit: usize,
    ) -> Vec<Versioned<OutboxItem>> {
        let Some(p) = self.program(program) else {
            return Vec::new();
        };
        due_ids(&p.outbox_due, after.map(|c| (c.at, &c.id)), now, limit)
            .filter_map(|id| p.outbox.get(id).map(|r| (**r).clone()))
            .collect()
    }

    /// Every outbox item of every program, for whole-state checks in
    /// tests: ascending by program, then id.
    pub fn all_outbox_items(&self) -> Vec<Versioned<OutboxItem>> {
        let mut all: Vec<Versioned<OutboxItem>> = self
            .programs
            .values()
            .flat_map(|p| p.outbox.values().map(|r| (**r).clone()))
            .collect();
        all.sort_by(|a, b| {
            (&a.record.program, &a.record.id).cmp(&(&b.record.program, &b.record.id))
        });
        all
    }

    /// See [`Store::counter`].
    pub fn counter(&self, key: &CounterKey) -> i64 {
        self.counters.get(key).copied().unwrap_or(0)
    }

    /// See [`Store::due_rewards`].
    pub fn due_rewards(
        &self,
        program: &ProgramId,
        due: Due,
        before: DateTime<Utc>,
        after: Option<&RewardCursor>,
        limit: usize,
    ) -> Vec<Versioned<Reward>> {
        let Some(p) = self.program(program) else {
            return Vec::new();
        };
        let index = match due {
            Due::Release => &p.holds_due,
            Due::Expiry => &p.expiries_due,
            Due::Review => &p.reviews_due,
        };
        due_ids(index, after.map(|c| (c.at, &c.id)), before, limit)
            .filter_map(|id| p.rewards.get(id).map(|r| (**r).clone()))
            .collect()
    }

    /// Every identity record of every program: ascending by program, then
    /// customer.
    pub fn all_identities(&self) -> Vec<Versioned<IdentityRecord>> {
        let mut all: Vec<Versioned<IdentityRecord>> = self
            .programs
            .values()
            .flat_map(|p| p.identities.values().map(|r| (**r).clone()))
            .collect();
        all.sort_by(|a, b| {
            (&a.record.program, &a.record.customer).cmp(&(&b.record.program, &b.record.customer))
        });
        all
    }

    /// Every reward of every program, for whole-state checks in tests:
    /// ascending by program, then reward id.
    pub fn all_rewards(&self) -> Vec<Versioned<Reward>> {
        let mut all: Vec<Versioned<Reward>> = self
            .programs
            .values()
            .flat_map(|p| p.rewards.values().map(|r| (**r).clone()))
            .collect();
        all.sort_by(|a, b| {
            (&a.record.program, &a.record.id).cmp(&(&b.record.program, &b.record.id))
        });
        all
    }

    /// Every kept balance: ((program, customer, unit), balance), for
    /// checking them against the fold of the entries.
    pub fn all_balances(&self) -> Vec<(ProgramId, CustomerId, Balance)> {
        let mut all = Vec::new();
        for (program, p) in &self.programs {
            for (customer, m) in &p.balances {
                for b in m.values() {
                    all.push((program.clone(), customer.clone(), b.clone()));
                }
            }
        }
        all.sort_by(|a, b| (&a.0, &a.1, &a.2.unit).cmp(&(&b.0, &b.1, &b.2.unit)));
        all
    }

    /// Every counter and its value, ascending by key.
    pub fn all_counters(&self) -> Vec<(CounterKey, i64)> {
        let mut all: Vec<(CounterKey, i64)> =
            self.counters.iter().map(|(k, v)| (k.clone(), *v)).collect();
        all.sort();
        all
    }

    /// Every ledger entry of every program, for whole-state checks in tests
    /// (ledger balance laws): ascending by program, customer, time, id.
    pub fn all_ledger_entries(&self) -> Vec<LedgerEntry> {
        let mut all: Vec<LedgerEntry> = self
            .programs
            .values()
            .flat_map(|p| p.ledger.values().flat_map(|m| m.values()).cloned())
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
        let mut counters: Vec<(&CounterKey, i64)> = Vec::new();
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
                Write::PutReward { record, expected } => {
                    check_version(
                        || format!("reward {} in program {}", record.id, record.program),
                        version_of(state(&record.program).rewards.get(&record.id).map(|b| &**b)),
                        *expected,
                    )?;
                    PlanKey::Reward(&record.program, &record.id)
                }
                Write::PutOutboxItem { record, expected } => {
                    check_version(
                        || format!("outbox item {} in program {}", record.id, record.program),
                        version_of(state(&record.program).outbox.get(&record.id).map(|b| &**b)),
                        *expected,
                    )?;
                    PlanKey::Outbox(&record.program, &record.id)
                }
                Write::InsertAssignment(a) => {
                    let key = (a.experiment.clone(), a.customer.clone());
                    if state(&a.program).assignments.contains_key(&key) {
                        return Err(StoreError::conflict(format!(
                            "customer {} already has a variant of experiment {} in program {}",
                            a.customer, a.experiment, a.program
                        )));
                    }
                    PlanKey::Assignment(&a.program, &a.experiment, &a.customer)
                }
                Write::PutIdentity { record, expected } => {
                    // The seam's shape, as the SQL stores' keys enforce it.
                    if record.signals.windows(2).any(|w| w[0].hash >= w[1].hash) {
                        return Err(StoreError::new(
                            super::StoreErrorKind::Backend,
                            format!(
                                "the identity of {} holds a hash twice or out of order",
                                record.customer
                            ),
                        ));
                    }
                    check_version(
                        || {
                            format!(
                                "identity of {} in program {}",
                                record.customer, record.program
                            )
                        },
                        version_of(
                            state(&record.program)
                                .identities
                                .get(&record.customer)
                                .map(|b| &**b),
                        ),
                        *expected,
                    )?;
                    PlanKey::Identity(&record.program, &record.customer)
                }
                Write::DeleteIdentity {
                    program,
                    customer,
                    expected,
                } => {
                    // The record must exist at `expected`: 0 names no
                    // record, so it never matches (not even an absent one).
                    let current = version_of(state(program).identities.get(customer).map(|b| &**b));
                    let what = || format!("identity of {customer} in program {program}");
                    if current == 0 {
                        return Err(StoreError::conflict(format!(
                            "{} does not exist, the plan deletes it at version {expected}",
                            what()
                        )));
                    }
                    check_version(what, current, *expected)?;
                    PlanKey::Identity(program, customer)
                }
                Write::AddToCounter { key, delta, limit } => {
                    // Several writes to one counter apply in order: check
                    // each against the running value.
                    let i = match counters.iter().position(|(k, _)| *k == key) {
                        Some(i) => i,
                        None => {
                            counters.push((key, self.counter(key)));
                            counters.len() - 1
                        }
                    };
                    let running = &mut counters[i].1;
                    let next = running.checked_add(*delta);
                    match next {
                        Some(n) if n >= 0 && limit.is_none_or(|l| n <= l) => *running = n,
                        _ => {
                            return Err(StoreError::conflict(format!(
                                "counter {:?} {:?} is at {running}; adding {delta} leaves 0..={}",
                                key.scope,
                                key.name,
                                limit.map_or("∞".to_owned(), |l| l.to_string())
                            )));
                        }
                    }
                    continue;
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
        self.load(plan);
        Ok(())
    }

    /// Applies `plan` without checking its conditions: each versioned
    /// record lands at `expected + 1` whatever is stored, counters add
    /// without limits. For rebuilding a state read from another store
    /// ([`SqliteStore::snapshot`](super::SqliteStore::snapshot) and the
    /// like), never for deciding.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn load(&mut self, plan: CommitPlan) {
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
                    if let Some(old) = p.customers.get(&record.customer) {
                        if let Some(r) = &old.record.referral {
                            let key = (Reverse(old.record.signed_up_at), record.customer.clone());
                            if let Some(set) = p.referees.get_mut(&r.referrer) {
                                set.remove(&key);
                            }
                        }
                    }
                    if let Some(r) = &record.referral {
                        p.referees
                            .entry(r.referrer.clone())
                            .or_default()
                            .insert((Reverse(record.signed_up_at), record.customer.clone()));
                    }
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
                    // An update may name another referrer, buyer or time:
                    // drop the old places, or the conversion is listed
                    // twice or under a customer it no longer names.
                    // An emptied list goes too: two states holding the
                    // same records compare equal.
                    if let Some(old) = p.conversions.get(&record.conversion.order) {
                        let place = (old.record.conversion.at, record.conversion.order.clone());
                        if let Some(r) = &old.record.referrer {
                            unlist(&mut p.referred, r, &place);
                        }
                        unlist(&mut p.bought, &old.record.conversion.customer, &place);
                    }
                    let place = (record.conversion.at, record.conversion.order.clone());
                    if let Some(referrer) = &record.referrer {
                        p.referred
                            .entry(referrer.clone())
                            .or_default()
                            .insert(place.clone());
                    }
                    p.bought
                        .entry(record.conversion.customer.clone())
                        .or_default()
                        .insert(place);
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
                    let key = (t.touch.at, t.touch.id.clone());
                    // Look up before inserting so the common case clones no actor.
                    if let Some(list) = p.touches.get_mut(&t.touch.actor) {
                        list.insert(key, t);
                    } else {
                        let actor = t.touch.actor.clone();
                        p.touches.insert(actor, BTreeMap::from([(key, t)]));
                    }
                }
                Write::InsertLedgerEntry(e) => {
                    let p = self.program_mut(&e.program);
                    p.ledger_ids.insert(e.id.clone());
                    let balances = p.balances.entry(e.customer.clone()).or_default();
                    match balances.get_mut(&e.unit) {
                        Some(b) => b.add(e.deltas()),
                        None => {
                            let mut b = Balance::zero(e.unit.clone());
                            b.add(e.deltas());
                            balances.insert(e.unit.clone(), b);
                        }
                    }
                    let key = (e.at, e.id.clone());
                    p.ledger
                        .entry(e.customer.clone())
                        .or_default()
                        .insert(key, e);
                }
                Write::PutReward { record, expected } => {
                    let p = self.program_mut(&record.program);
                    if let Some(old) = p.rewards.get(&record.id) {
                        if let Some(at) = old.record.hold_due() {
                            p.holds_due.remove(&(at, record.id.clone()));
                        }
                        if let Some(at) = old.record.expiry_due() {
                            p.expiries_due.remove(&(at, record.id.clone()));
                        }
                    }
                    if let Some(old) = p.rewards.get(&record.id) {
                        if let Some(at) = old.record.review_due() {
                            p.reviews_due.remove(&(at, record.id.clone()));
                        }
                    }
                    if let Some(at) = record.review_due() {
                        p.reviews_due.insert((at, record.id.clone()));
                    }
                    if let Some(at) = record.hold_due() {
                        p.holds_due.insert((at, record.id.clone()));
                    }
                    if let Some(at) = record.expiry_due() {
                        p.expiries_due.insert((at, record.id.clone()));
                    }
                    p.rewards.insert(
                        record.id.clone(),
                        Box::new(Versioned {
                            version: expected + 1,
                            record: *record,
                        }),
                    );
                }
                Write::PutOutboxItem { record, expected } => {
                    let p = self.program_mut(&record.program);
                    if let Some(old) = p.outbox.get(&record.id) {
                        if let Some(at) = old.record.claimable_at() {
                            p.outbox_due.remove(&(at, record.id.clone()));
                        }
                    }
                    if let Some(at) = record.claimable_at() {
                        p.outbox_due.insert((at, record.id.clone()));
                    }
                    p.outbox.insert(
                        record.id.clone(),
                        Box::new(Versioned {
                            version: expected + 1,
                            record: *record,
                        }),
                    );
                }
                Write::InsertAssignment(a) => {
                    let p = self.program_mut(&a.program);
                    p.assignments
                        .insert((a.experiment.clone(), a.customer.clone()), a);
                }
                Write::PutIdentity { record, expected } => {
                    let p = self.program_mut(&record.program);
                    p.drop_identity(&record.customer);
                    for signal in &record.signals {
                        p.identity_index
                            .entry(signal.hash)
                            .or_default()
                            .insert((Reverse(signal.first_seen), record.customer.clone()));
                    }
                    if let Some(at) = record.oldest_seen() {
                        p.identity_ages.insert((at, record.customer.clone()));
                    }
                    p.identities.insert(
                        record.customer.clone(),
                        Box::new(Versioned {
                            version: expected + 1,
                            record,
                        }),
                    );
                }
                Write::DeleteIdentity {
                    program, customer, ..
                } => {
                    self.program_mut(&program).drop_identity(&customer);
                }
                Write::AddToCounter { key, delta, .. } => {
                    // Checked by `validate`: within the limit, no overflow.
                    let v = self.counters.entry(key).or_insert(0);
                    *v = v.saturating_add(delta);
                }
            }
        }
    }

    /// Replaces the kept balance of `customer` in `balance.unit`: what a
    /// snapshot of another store kept, rather than this state's fold.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn set_balance(
        &mut self,
        program: &ProgramId,
        customer: &CustomerId,
        balance: Balance,
    ) {
        self.program_mut(program)
            .balances
            .entry(customer.clone())
            .or_default()
            .insert(balance.unit.clone(), balance);
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
        after: Option<&LedgerCursor>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<LedgerEntry>>> + Send {
        ready(Ok(self.lock().ledger(program, customer, after, limit)))
    }

    fn balances(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Vec<Balance>>> + Send {
        ready(Ok(self.lock().balances(program, customer)))
    }

    fn reward(
        &self,
        program: &ProgramId,
        reward: &RewardId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<Reward>>>> + Send {
        ready(Ok(self.lock().reward(program, reward)))
    }

    fn referred_conversions(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Vec<ConversionRecord>>> + Send {
        ready(Ok(self.lock().referred_conversions(program, referrer)))
    }

    fn customer_conversions(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Vec<ConversionRecord>>> + Send {
        ready(Ok(self.lock().customer_conversions(program, customer)))
    }

    fn assignment(
        &self,
        program: &ProgramId,
        experiment: &Label,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Option<AssignmentRecord>>> + Send {
        ready(Ok(self.lock().assignment(program, experiment, customer)))
    }

    fn outbox_item(
        &self,
        program: &ProgramId,
        id: &DeliveryId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<OutboxItem>>>> + Send {
        ready(Ok(self.lock().outbox_item(program, id)))
    }

    fn outbox_due(
        &self,
        program: &ProgramId,
        now: DateTime<Utc>,
        after: Option<&OutboxCursor>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Versioned<OutboxItem>>>> + Send {
        ready(Ok(self.lock().outbox_due(program, now, after, limit)))
    }

    fn counter(&self, key: &CounterKey) -> impl Future<Output = StoreResult<i64>> + Send {
        ready(Ok(self.lock().counter(key)))
    }

    fn identity(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<IdentityRecord>>>> + Send {
        ready(Ok(self.lock().identity(program, customer)))
    }

    fn identity_matches(
        &self,
        program: &ProgramId,
        hash: &SignalHash,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<IdentityMatch>>> + Send {
        ready(Ok(self.lock().identity_matches(program, hash, limit)))
    }

    fn stale_identities(
        &self,
        program: &ProgramId,
        before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Versioned<IdentityRecord>>>> + Send {
        ready(Ok(self.lock().stale_identities(program, before, limit)))
    }

    fn recent_referees(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<ReferredCustomer>>> + Send {
        ready(Ok(self.lock().recent_referees(program, referrer, limit)))
    }

    fn due_rewards(
        &self,
        program: &ProgramId,
        due: Due,
        before: DateTime<Utc>,
        after: Option<&RewardCursor>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Versioned<Reward>>>> + Send {
        ready(Ok(self
            .lock()
            .due_rewards(program, due, before, after, limit)))
    }

    fn commit(&self, plan: CommitPlan) -> impl Future<Output = StoreResult<()>> + Send {
        ready(self.lock().apply(plan))
    }
}

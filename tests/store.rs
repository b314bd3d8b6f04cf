//! The store conformance suite against `MemoryStore` and every way of
//! holding one, and against deliberately broken stores, to show that each
//! kind of breakage is caught (a suite that passes everything proves
//! nothing).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Timelike, Utc};
use referrals::fraud::identity::SignalHash;
use referrals::model::{Actor, CustomerId, DeliveryId, OrderId, ProgramId, RewardId};
use referrals::reward::{Label, Unit};
use referrals::store::{
    AssignmentRecord, Balance, CodeRecord, CommitPlan, ConversionRecord, CounterKey,
    CustomerRecord, Due, FaultPlan, FaultyStore, IdempotencyKey, IdempotencyRecord, IdentityMatch,
    IdentityRecord, LedgerCursor, LedgerEntry, OutboxCursor, OutboxItem, ReferredCustomer, Reward,
    RewardCursor, StoreError, StoreResult, TouchRecord, Versioned, Write,
};
// The engine's suite runs the store's clauses and then the engine over the
// store: the one call a backend makes.
use referrals::engine::conformance;
use referrals::{Code, MemoryStore, Store};

#[tokio::test(flavor = "multi_thread")]
async fn memory_store_keeps_the_contract() {
    conformance::run_all(|| async { MemoryStore::new() }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn arc_memory_store_keeps_the_contract() {
    conformance::run_all(|| async { Arc::new(MemoryStore::new()) }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn boxed_memory_store_keeps_the_contract() {
    conformance::run_all(|| async { Box::new(MemoryStore::new()) }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn static_memory_store_reference_keeps_the_contract() {
    conformance::run_all(|| async { &*Box::leak(Box::new(MemoryStore::new())) }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn faulty_store_without_faults_keeps_the_contract() {
    conformance::run_all(|| async { FaultyStore::new(MemoryStore::new(), FaultPlan::default()) })
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clone_of_a_memory_store_is_a_handle_to_the_same_store() {
    // Clauses read through the handle they committed through; a clone is
    // another handle, so reads through it must see the same state.
    let store = MemoryStore::new();
    let handle = store.clone();
    conformance::engine_end_to_end_over_store(&store).await;
    assert_eq!(store.snapshot(), handle.snapshot());
    assert_ne!(store.snapshot(), MemoryStore::new().snapshot());
}

#[tokio::test(flavor = "current_thread")]
#[should_panic(expected = "run_all: runs on a CurrentThread tokio runtime")]
async fn run_all_refuses_a_single_threaded_runtime() {
    conformance::run_all(|| async { MemoryStore::new() }).await;
}

#[test]
#[should_panic(expected = "must run inside a multi-threaded tokio runtime")]
fn run_all_refuses_to_run_outside_tokio() {
    referrals::engine::block_on(conformance::run_all(|| async { MemoryStore::new() }));
}

/// How a [`Mutant`] breaks the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    /// Commits the idempotency record and each write separately.
    SplitCommits,
    /// Ignores a stored idempotency key (commits the writes anyway).
    ForgetIdempotency,
    /// Overwrites whatever version is stored ("last writer wins").
    LastWriterWins,
    /// Lists touches newest first.
    ReverseTouches,
    /// Reads customers from one fixed program, whatever is asked.
    IgnoreProgram,
    /// Drops the nanoseconds of a customer's signup time.
    DropNanos,
    /// Checks the conditions, lets other tasks run, then writes as if they
    /// still held: a time-of-check to time-of-use race.
    CheckThenAct,
    /// Reads a customer's ledger ignoring ASCII case (a SQL column with a
    /// case-insensitive collation).
    CaseInsensitiveLedger,
    /// Adds to counters without checking their limits (still never below
    /// zero).
    CounterIgnoresLimit,
    /// Checks a counter's limit by reading it through the trait, lets other
    /// tasks run, then commits the add with no limit: a read-then-write
    /// with no atomic condition across the await.
    NaiveCounter,
    /// Creates a balance with the first entry of its unit and never updates
    /// it (an upsert written `ON CONFLICT DO NOTHING`).
    BalanceNotUpdated,
    /// Lists due rewards by reward id, not by due time (`ORDER BY id`).
    DueRewardsById,
    /// Lists every outbox item that may ever be claimed, whatever `now`
    /// (a forgotten `WHERE claimable_at <= $now`).
    OutboxIgnoresNow,
    /// Lists outbox items by their next attempt, leased or not (`WHERE
    /// next_attempt_at <= $now`): a leased item is claimed again at once,
    /// and one whose worker died waits for a stale time.
    OutboxByNextAttempt,
    /// Records assignments with an upsert: a second insert replaces the
    /// variant instead of failing (`ON CONFLICT DO UPDATE`).
    AssignmentLastWriterWins,
    /// Checks that an assignment is new, waits a millisecond (a round
    /// trip), then upserts it: a check-then-insert race with no unique key.
    AssignmentCheckThenInsert,
    /// Keeps referred conversions in an append-only index (`INSERT` on
    /// every put): an updated conversion is listed once per version.
    ReferredAppendOnly,
    /// Lists referred conversions by order id, not by conversion time.
    ReferredByOrder,
    /// Lists a customer's conversions by the time they were first put: an
    /// index by buyer kept on insert only (a moved conversion stays where
    /// it was).
    BoughtKeptOnInsert,
}

/// Assignments as the assignment mutations keep them.
type Assignments = BTreeMap<(ProgramId, Label, CustomerId), AssignmentRecord>;

/// Balances as [`Mutation::BalanceNotUpdated`] keeps them.
type FirstBalances = BTreeMap<(ProgramId, CustomerId, Unit), Balance>;

/// A `MemoryStore` broken in one way.
#[derive(Debug)]
struct Mutant {
    inner: MemoryStore,
    mutation: Mutation,
    /// The balances of [`Mutation::BalanceNotUpdated`].
    balances: Mutex<FirstBalances>,
    /// The assignments of the assignment mutations.
    assignments: Mutex<Assignments>,
    /// Every put of a referred conversion, for
    /// [`Mutation::ReferredAppendOnly`]; every first put of a conversion,
    /// for [`Mutation::BoughtKeptOnInsert`].
    referred: Mutex<Vec<ConversionRecord>>,
}

fn mutant(mutation: Mutation) -> impl FnMut() -> std::future::Ready<Mutant> {
    move || {
        std::future::ready(Mutant {
            inner: MemoryStore::new(),
            mutation,
            balances: Mutex::new(BTreeMap::new()),
            assignments: Mutex::new(BTreeMap::new()),
            referred: Mutex::new(Vec::new()),
        })
    }
}

impl Mutant {
    /// Rewrites every versioned write to name the version stored now.
    fn overwrite(&self, mut plan: CommitPlan) -> CommitPlan {
        let state = self.inner.snapshot();
        for write in &mut plan.writes {
            match write {
                Write::PutCode { record, expected } => {
                    *expected = state
                        .code(&record.program, &record.code)
                        .map_or(0, |v| v.version);
                }
                Write::PutCustomer { record, expected } => {
                    *expected = state
                        .customer(&record.program, &record.customer)
                        .map_or(0, |v| v.version);
                }
                Write::PutConversion { record, expected } => {
                    *expected = state
                        .conversion(&record.program, &record.conversion.order)
                        .map_or(0, |v| v.version);
                }
                _ => {}
            }
        }
        plan
    }

    /// Commits `plan` with its assignments kept aside and upserted once
    /// the rest committed; with `check`, refuses an assignment already
    /// kept, then waits a millisecond before committing.
    async fn commit_upserting_assignments(&self, plan: CommitPlan, check: bool) -> StoreResult<()> {
        let CommitPlan {
            idempotency,
            writes,
        } = plan;
        let (assignments, rest): (Vec<Write>, Vec<Write>) = writes
            .into_iter()
            .partition(|w| matches!(w, Write::InsertAssignment(_)));
        let assignments: Vec<AssignmentRecord> = assignments
            .into_iter()
            .filter_map(|w| match w {
                Write::InsertAssignment(a) => Some(a),
                _ => None,
            })
            .collect();
        let key =
            |a: &AssignmentRecord| (a.program.clone(), a.experiment.clone(), a.customer.clone());
        if check {
            let taken = {
                let kept = self.assignments.lock().unwrap();
                assignments.iter().any(|a| kept.contains_key(&key(a)))
            };
            if taken {
                return Err(StoreError::conflict("the assignment is already recorded"));
            }
            // A round trip to the database between the check and the
            // insert.
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        self.inner
            .commit(CommitPlan {
                idempotency,
                writes: rest,
            })
            .await?;
        let mut kept = self.assignments.lock().unwrap();
        for a in assignments {
            kept.insert(key(&a), a);
        }
        Ok(())
    }
}

impl Store for Mutant {
    fn idempotency(
        &self,
        program: &ProgramId,
        key: &IdempotencyKey,
    ) -> impl Future<Output = StoreResult<Option<IdempotencyRecord>>> + Send {
        self.inner.idempotency(program, key)
    }

    fn code(
        &self,
        program: &ProgramId,
        code: &Code,
    ) -> impl Future<Output = StoreResult<Option<Versioned<CodeRecord>>>> + Send {
        self.inner.code(program, code)
    }

    fn primary_code(
        &self,
        program: &ProgramId,
        owner: &CustomerId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<CodeRecord>>>> + Send {
        self.inner.primary_code(program, owner)
    }

    fn customer(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<CustomerRecord>>>> + Send {
        let fixed = ProgramId::new("conformance").unwrap();
        async move {
            let program = match self.mutation {
                Mutation::IgnoreProgram => &fixed,
                _ => program,
            };
            let mut found = self.inner.customer(program, customer).await?;
            if let (Mutation::DropNanos, Some(v)) = (self.mutation, found.as_mut()) {
                v.record.signed_up_at = v.record.signed_up_at.with_nanosecond(0).unwrap();
            }
            Ok(found)
        }
    }

    async fn touches(
        &self,
        program: &ProgramId,
        actor: &Actor,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<TouchRecord>> {
        let mut list = self.inner.touches(program, actor, since).await?;
        if self.mutation == Mutation::ReverseTouches {
            list.reverse();
        }
        Ok(list)
    }

    fn conversion(
        &self,
        program: &ProgramId,
        order: &OrderId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<ConversionRecord>>>> + Send {
        self.inner.conversion(program, order)
    }

    fn ledger(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
        after: Option<&LedgerCursor>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<LedgerEntry>>> + Send {
        let folded = (self.mutation == Mutation::CaseInsensitiveLedger).then(|| {
            let mut entries: Vec<LedgerEntry> = self
                .inner
                .snapshot()
                .all_ledger_entries()
                .into_iter()
                .filter(|e| {
                    e.program == *program
                        && e.customer.as_str().eq_ignore_ascii_case(customer.as_str())
                })
                .collect();
            entries.sort_by(|a, b| (a.at, &a.id).cmp(&(b.at, &b.id)));
            entries
        });
        let exact = self.inner.ledger(program, customer, after, limit);
        async move {
            match folded {
                Some(entries) => Ok(entries),
                None => exact.await,
            }
        }
    }

    async fn balances(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Vec<Balance>> {
        if self.mutation != Mutation::BalanceNotUpdated {
            return self.inner.balances(program, customer).await;
        }
        let kept = self.balances.lock().unwrap();
        Ok(kept
            .iter()
            .filter(|((p, c, _), _)| p == program && c == customer)
            .map(|(_, b)| b.clone())
            .collect())
    }

    fn reward(
        &self,
        program: &ProgramId,
        reward: &RewardId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<Reward>>>> + Send {
        self.inner.reward(program, reward)
    }

    fn counter(&self, key: &CounterKey) -> impl Future<Output = StoreResult<i64>> + Send {
        self.inner.counter(key)
    }

    fn outbox_item(
        &self,
        program: &ProgramId,
        id: &DeliveryId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<OutboxItem>>>> + Send {
        self.inner.outbox_item(program, id)
    }

    async fn outbox_due(
        &self,
        program: &ProgramId,
        now: DateTime<Utc>,
        after: Option<&OutboxCursor>,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<OutboxItem>>> {
        match self.mutation {
            Mutation::OutboxIgnoresNow => {
                self.inner
                    .outbox_due(program, DateTime::<Utc>::MAX_UTC, after, limit)
                    .await
            }
            Mutation::OutboxByNextAttempt => {
                let mut all: Vec<Versioned<OutboxItem>> = self
                    .inner
                    .snapshot()
                    .all_outbox_items()
                    .into_iter()
                    .filter(|i| {
                        i.record.program == *program
                            && i.record.claimable_at().is_some()
                            && i.record.next_attempt_at <= now
                    })
                    .collect();
                all.sort_by(|a, b| {
                    (a.record.next_attempt_at, &a.record.id)
                        .cmp(&(b.record.next_attempt_at, &b.record.id))
                });
                Ok(all
                    .into_iter()
                    .filter(|i| {
                        after.is_none_or(|c| {
                            (i.record.next_attempt_at, &i.record.id) > (c.at, &c.id)
                        })
                    })
                    .take(limit)
                    .collect())
            }
            _ => self.inner.outbox_due(program, now, after, limit).await,
        }
    }

    async fn referred_conversions(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
    ) -> StoreResult<Vec<ConversionRecord>> {
        match self.mutation {
            Mutation::ReferredAppendOnly => {
                let mut found: Vec<ConversionRecord> = self
                    .referred
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|c| c.program == *program && c.referrer.as_ref() == Some(referrer))
                    .cloned()
                    .collect();
                found.sort_by(|a, b| {
                    (a.conversion.at, &a.conversion.order)
                        .cmp(&(b.conversion.at, &b.conversion.order))
                });
                Ok(found)
            }
            Mutation::ReferredByOrder => {
                let mut found = self.inner.referred_conversions(program, referrer).await?;
                found.sort_by(|a, b| a.conversion.order.cmp(&b.conversion.order));
                Ok(found)
            }
            _ => self.inner.referred_conversions(program, referrer).await,
        }
    }

    async fn customer_conversions(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Vec<ConversionRecord>> {
        if self.mutation != Mutation::BoughtKeptOnInsert {
            return self.inner.customer_conversions(program, customer).await;
        }
        // The first put of each order names where it is listed; the
        // record read is the latest.
        let first: Vec<ConversionRecord> = self.referred.lock().unwrap().clone();
        let mut found = Vec::new();
        for c in first
            .iter()
            .filter(|c| c.program == *program && c.conversion.customer == *customer)
        {
            if let Some(v) = self.inner.conversion(program, &c.conversion.order).await? {
                found.push((c.conversion.at, v.record));
            }
        }
        found.sort_by(|(a, x), (b, y)| (a, &x.conversion.order).cmp(&(b, &y.conversion.order)));
        Ok(found.into_iter().map(|(_, c)| c).collect())
    }

    async fn assignment(
        &self,
        program: &ProgramId,
        experiment: &Label,
        customer: &CustomerId,
    ) -> StoreResult<Option<AssignmentRecord>> {
        match self.mutation {
            Mutation::AssignmentLastWriterWins | Mutation::AssignmentCheckThenInsert => Ok(self
                .assignments
                .lock()
                .unwrap()
                .get(&(program.clone(), experiment.clone(), customer.clone()))
                .cloned()),
            _ => self.inner.assignment(program, experiment, customer).await,
        }
    }

    fn identity(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> impl Future<Output = StoreResult<Option<Versioned<IdentityRecord>>>> + Send {
        self.inner.identity(program, customer)
    }

    fn identity_matches(
        &self,
        program: &ProgramId,
        hash: &SignalHash,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<IdentityMatch>>> + Send {
        self.inner.identity_matches(program, hash, limit)
    }

    fn stale_identities(
        &self,
        program: &ProgramId,
        before: DateTime<Utc>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<Versioned<IdentityRecord>>>> + Send {
        self.inner.stale_identities(program, before, limit)
    }

    fn recent_referees(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
        limit: usize,
    ) -> impl Future<Output = StoreResult<Vec<ReferredCustomer>>> + Send {
        self.inner.recent_referees(program, referrer, limit)
    }

    async fn due_rewards(
        &self,
        program: &ProgramId,
        due: Due,
        before: DateTime<Utc>,
        after: Option<&RewardCursor>,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<Reward>>> {
        if self.mutation != Mutation::DueRewardsById {
            return self
                .inner
                .due_rewards(program, due, before, after, limit)
                .await;
        }
        let mut all = self
            .inner
            .due_rewards(program, due, before, None, usize::MAX)
            .await?;
        all.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        Ok(all
            .into_iter()
            .filter(|r| after.is_none_or(|c| r.record.id > c.id))
            .take(limit)
            .collect())
    }

    async fn commit(&self, plan: CommitPlan) -> StoreResult<()> {
        match self.mutation {
            Mutation::SplitCommits => {
                let CommitPlan {
                    idempotency,
                    writes,
                } = plan;
                self.inner
                    .commit(CommitPlan {
                        idempotency,
                        writes: Vec::new(),
                    })
                    .await?;
                for write in writes {
                    self.inner
                        .commit(CommitPlan {
                            idempotency: None,
                            writes: vec![write],
                        })
                        .await?;
                }
                Ok(())
            }
            Mutation::ForgetIdempotency => {
                let mut plan = plan;
                if let Some(idem) = &plan.idempotency {
                    if self
                        .inner
                        .idempotency(&idem.program, &idem.key)
                        .await?
                        .is_some()
                    {
                        plan.idempotency = None;
                    }
                }
                self.inner.commit(plan).await
            }
            Mutation::LastWriterWins => self.inner.commit(self.overwrite(plan)).await,
            Mutation::CheckThenAct => {
                self.inner.snapshot().apply(plan.clone())?;
                tokio::task::yield_now().await;
                self.inner.commit(self.overwrite(plan)).await
            }
            Mutation::CounterIgnoresLimit => {
                let mut plan = plan;
                for write in &mut plan.writes {
                    if let Write::AddToCounter { limit, .. } = write {
                        *limit = None;
                    }
                }
                self.inner.commit(plan).await
            }
            Mutation::NaiveCounter => {
                let mut plan = plan;
                let mut running: Vec<(CounterKey, i64)> = Vec::new();
                for write in &mut plan.writes {
                    let Write::AddToCounter { key, delta, limit } = write else {
                        continue;
                    };
                    let current = match running.iter().find(|(k, _)| k == key) {
                        Some((_, v)) => *v,
                        None => self.inner.counter(key).await?,
                    };
                    let next = current
                        .checked_add(*delta)
                        .filter(|n| *n >= 0 && limit.is_none_or(|l| *n <= l))
                        .ok_or_else(|| StoreError::conflict("the counter would pass its limit"))?;
                    running.retain(|(k, _)| k != key);
                    running.push((key.clone(), next));
                    *limit = None;
                }
                tokio::task::yield_now().await;
                self.inner.commit(plan).await
            }
            Mutation::BalanceNotUpdated => {
                let entries: Vec<LedgerEntry> = plan
                    .writes
                    .iter()
                    .filter_map(|w| match w {
                        Write::InsertLedgerEntry(e) => Some(e.clone()),
                        _ => None,
                    })
                    .collect();
                self.inner.commit(plan).await?;
                let mut kept = self.balances.lock().unwrap();
                for e in entries {
                    let key = (e.program.clone(), e.customer.clone(), e.unit.clone());
                    kept.entry(key).or_insert_with(|| {
                        let mut b = Balance::zero(e.unit.clone());
                        b.add(e.deltas());
                        b
                    });
                }
                Ok(())
            }
            Mutation::AssignmentLastWriterWins => {
                self.commit_upserting_assignments(plan, false).await
            }
            Mutation::AssignmentCheckThenInsert => {
                self.commit_upserting_assignments(plan, true).await
            }
            Mutation::ReferredAppendOnly => {
                let referred: Vec<ConversionRecord> = plan
                    .writes
                    .iter()
                    .filter_map(|w| match w {
                        Write::PutConversion { record, .. } if record.referrer.is_some() => {
                            Some(record.clone())
                        }
                        _ => None,
                    })
                    .collect();
                self.inner.commit(plan).await?;
                self.referred.lock().unwrap().extend(referred);
                Ok(())
            }
            Mutation::BoughtKeptOnInsert => {
                let created: Vec<ConversionRecord> = plan
                    .writes
                    .iter()
                    .filter_map(|w| match w {
                        Write::PutConversion {
                            record,
                            expected: 0,
                        } => Some(record.clone()),
                        _ => None,
                    })
                    .collect();
                self.inner.commit(plan).await?;
                self.referred.lock().unwrap().extend(created);
                Ok(())
            }
            _ => self.inner.commit(plan).await,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(expected = "commit_is_atomic: after a plan ending with a code at a stale version")]
async fn the_suite_catches_a_store_that_splits_commits() {
    conformance::run_all(mutant(Mutation::SplitCommits)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "commit_rejects_seen_idempotency_key: another event under the stored key"
)]
async fn the_suite_catches_a_store_that_forgets_idempotency_keys() {
    conformance::run_all(mutant(Mutation::ForgetIdempotency)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(expected = "commit_is_atomic: a plan ending with a code at a stale version")]
async fn the_suite_catches_a_store_that_ignores_versions() {
    conformance::run_all(mutant(Mutation::LastWriterWins)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(expected = "touches_are_ordered_and_filtered_by_since: touches since")]
async fn the_suite_catches_a_store_that_misorders_touches() {
    conformance::run_all(mutant(Mutation::ReverseTouches)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(expected = "programs_are_isolated: the customer in program")]
async fn the_suite_catches_a_store_that_mixes_programs() {
    conformance::run_all(mutant(Mutation::IgnoreProgram)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(expected = "records_round_trip_exactly: a customer record came back changed")]
async fn the_suite_catches_a_store_that_truncates_timestamps() {
    conformance::run_all(mutant(Mutation::DropNanos)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(expected = "committed; exactly one may win")]
async fn the_suite_catches_a_store_that_checks_then_acts() {
    conformance::run_all(mutant(Mutation::CheckThenAct)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(expected = "ids_differing_only_in_case_are_different_keys: the ledger")]
async fn the_suite_catches_a_store_with_case_insensitive_ids() {
    conformance::run_all(mutant(Mutation::CaseInsensitiveLedger)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "counters_stay_within_their_limits: adding 1 (limit 5) to a counter at 5, after a touch: the commit succeeded"
)]
async fn the_suite_catches_a_store_that_ignores_counter_limits() {
    conformance::run_all(mutant(Mutation::CounterIgnoresLimit)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "concurrent_counter_adds_never_pass_the_limit: the counter passed its limit"
)]
async fn the_suite_catches_a_store_that_reads_a_counter_then_writes_it() {
    conformance::run_all(mutant(Mutation::NaiveCounter)).await;
}

/// The naive counter keeps every sequential clause: only racing catches it.
#[tokio::test(flavor = "multi_thread")]
async fn a_naive_counter_passes_the_sequential_counter_clause() {
    let store = mutant(Mutation::NaiveCounter)().await;
    referrals::store::conformance::counters_stay_within_their_limits(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "balances_follow_ledger_entries: after a release, the balances of \"sara\""
)]
async fn the_suite_catches_a_store_that_does_not_update_balances() {
    conformance::run_all(mutant(Mutation::BalanceNotUpdated)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "rewards_are_versioned_and_due_rewards_are_listed_in_order: after creating them: the Release due rewards"
)]
async fn the_suite_catches_a_store_that_lists_due_rewards_unordered() {
    conformance::run_all(mutant(Mutation::DueRewardsById)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "outbox_items_are_versioned_and_listed_when_claimable: after creating them: the outbox items of conformance claimable at"
)]
async fn the_suite_catches_a_store_that_lists_outbox_items_whatever_the_time() {
    conformance::run_all(mutant(Mutation::OutboxIgnoresNow)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "outbox_items_are_versioned_and_listed_when_claimable: after creating them: the outbox items of conformance claimable at"
)]
async fn the_suite_catches_a_store_that_lists_leased_outbox_items_by_next_attempt() {
    conformance::run_all(mutant(Mutation::OutboxByNextAttempt)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "assignments_are_recorded_once: a second assignment of sara to checkout (variant أ, the first was ب), beside a touch and maha's first assignment: the commit succeeded"
)]
async fn the_suite_catches_a_store_that_upserts_assignments() {
    conformance::run_all(mutant(Mutation::AssignmentLastWriterWins)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "concurrent_assignments_have_one_winner: 64 tasks recording one customer's variant of one experiment at once, each another variant (round"
)]
async fn the_suite_catches_a_store_that_checks_an_assignment_then_inserts_it() {
    conformance::run_all(mutant(Mutation::AssignmentCheckThenInsert)).await;
}

/// The check-then-insert store keeps the sequential assignment clause:
/// only racing catches it.
#[tokio::test(flavor = "multi_thread")]
async fn a_check_then_insert_assignment_store_passes_the_sequential_clause() {
    let store = mutant(Mutation::AssignmentCheckThenInsert)().await;
    referrals::store::conformance::assignments_are_recorded_once(&store).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "referred_conversions_are_listed_per_referrer: after refunding order-3 and order-1: the conversions referred by \"sara\" in conformance"
)]
async fn the_suite_catches_a_store_that_lists_an_updated_referred_conversion_twice() {
    conformance::run_all(mutant(Mutation::ReferredAppendOnly)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "referred_conversions_are_listed_per_referrer: after recording [\"order-a\", \"order-B\", \"order-0\", \"order-S\"]: the conversions referred by \"sara\""
)]
async fn the_suite_catches_a_store_that_lists_referred_conversions_by_order_id() {
    conformance::run_all(mutant(Mutation::ReferredByOrder)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[should_panic(
    expected = "customer_conversions_are_listed_per_buyer: after order-h's buyer became nada and order-A's Nada, and order-1 moved to 300 s: the conversions bought by \"nada\" in conformance"
)]
async fn the_suite_catches_a_store_that_lists_a_buyer_s_conversions_where_first_put() {
    conformance::run_all(mutant(Mutation::BoughtKeptOnInsert)).await;
}

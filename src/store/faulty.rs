//! [`FaultyStore`]: a [`Store`] wrapper that fails commits (and optionally
//! reads) on purpose, so tests can check that the engine and its callers
//! survive a flaky database without paying twice or losing an event.
//!
//! Every failure comes from a seeded generator, so a failing run replays
//! exactly from its seed. For tests only (the `testing` feature); outside
//! semver.

use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    AssignmentRecord, Balance, CodeRecord, CommitPlan, ConversionRecord, CounterKey,
    CustomerRecord, Due, IdempotencyKey, IdempotencyRecord, IdentityMatch, IdentityRecord,
    LedgerCursor, LedgerEntry, OutboxCursor, OutboxItem, ReferredCustomer, Reward, RewardCursor,
    Store, StoreError, StoreErrorKind, StoreResult, TouchRecord, Versioned,
};
use crate::code::Code;
use crate::fraud::identity::SignalHash;
use crate::model::{Actor, CustomerId, DeliveryId, OrderId, ProgramId, RewardId};
use crate::reward::Label;

/// Basis points in a whole: a rate of `10_000` fails every call.
const BPS_WHOLE: u64 = 10_000;

/// How an injected commit failure behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// The store could not be reached: the plan is NOT applied and the
    /// commit fails with [`StoreErrorKind::Unavailable`].
    BeforeApply,
    /// The connection dropped after the plan was sent: the plan IS applied
    /// to the inner store, and the commit still fails with
    /// [`StoreErrorKind::Unavailable`]. The caller cannot tell this from
    /// [`Fault::BeforeApply`], which is exactly the ambiguity idempotency
    /// keys exist for.
    AfterApply,
}

/// When a [`FaultyStore`] fails. The default injects no faults.
///
/// Rates are in basis points (1/10 000) and apply to each call
/// independently: `fail_before_bps: 2_000` fails about one commit in five
/// before applying it. When the commit rates add up to more than
/// `10_000`, [`Fault::BeforeApply`] takes precedence.
///
/// # Replaying
///
/// Commit faults and read faults come from two separate generator streams,
/// both derived from `seed`, and each commit (each read) draws exactly one
/// number whether or not it is scheduled. So turning read faults on or
/// adding a `schedule` entry changes no other call's fate. The sequence is
/// a function of the order of calls: it replays exactly when the calls are
/// made in the same order, as they are by a sequential test.
///
/// # Example: fail the first commit, then every fifth on average
/// ```
/// use referrals::store::{Fault, FaultPlan};
///
/// let plan = FaultPlan {
///     seed: 7,
///     fail_before_bps: 1_000,
///     fail_after_bps: 1_000,
///     schedule: vec![(0, Fault::AfterApply)],
///     ..FaultPlan::default()
/// };
/// let json = serde_json::to_string(&plan)?;
/// assert_eq!(serde_json::from_str::<FaultPlan>(&json)?, plan);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// Seeds the fault generator: the same seed and the same calls fail the
    /// same way.
    pub seed: u64,
    /// Rate of commits failing with [`Fault::BeforeApply`], in basis points.
    pub fail_before_bps: u32,
    /// Rate of commits failing with [`Fault::AfterApply`], in basis points.
    pub fail_after_bps: u32,
    /// Rate of reads failing with [`StoreErrorKind::Unavailable`] before
    /// reaching the inner store, in basis points.
    pub fail_reads_bps: u32,
    /// Faults forced at given commits, by 0-based commit index, whatever
    /// the rates draw. The first entry for an index wins.
    pub schedule: Vec<(u64, Fault)>,
}

/// SplitMix64 (Steele, Lea and Flood, 2014): 64 bits of state, one add and
/// a mixing function per number.
///
/// Written out here rather than taken from `rand`, because `rand` does not
/// promise that `StdRng`'s stream stays the same across versions, and a
/// fault seed printed by a failing CI run must replay the same faults after
/// any dependency update.
#[derive(Debug, Clone)]
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..10_000`, by multiply-and-shift (Lemire), which keeps
    /// the high bits and so avoids the modulo's bias towards small values.
    fn next_bps(&mut self) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(BPS_WHOLE)) >> 64) as u64
    }
}

/// Mixed into the seed of the read stream so that it differs from the
/// commit stream (an arbitrary odd constant: the SplitMix64 increment).
const READ_STREAM: u64 = 0x9E37_79B9_7F4A_7C15;

/// What a [`FaultyStore`] counts and draws from; behind a `Mutex` that is
/// never held across an `.await`.
#[derive(Debug)]
struct FaultState {
    commit_rng: SplitMix64,
    read_rng: SplitMix64,
    commits: u64,
    before_apply: u64,
    after_apply: u64,
    reads: u64,
    read_faults: u64,
}

/// A [`Store`] that forwards to `inner` and fails some calls, as a
/// [`FaultPlan`] says.
///
/// - [`Fault::BeforeApply`]: the commit fails with
///   [`StoreErrorKind::Unavailable`] and the inner store is not touched.
/// - [`Fault::AfterApply`]: the plan goes to the inner store, then the
///   commit fails with [`StoreErrorKind::Unavailable`] whether the inner
///   store applied it or refused it with a conflict. A
///   [`StoreErrorKind::Backend`] error from the inner store is passed on
///   unchanged: it is final, and hiding it would hide a real bug.
/// - A read fault fails the read with [`StoreErrorKind::Unavailable`]
///   without reaching the inner store.
///
/// Never panics. Failed calls are counted: see
/// [`commits_attempted`](FaultyStore::commits_attempted) and
/// [`faults_injected`](FaultyStore::faults_injected).
///
/// # Example: a dropped connection after the write
/// ```
/// use referrals::engine::block_on;
/// use referrals::store::{CommitPlan, Fault, FaultPlan, FaultyStore, StoreErrorKind};
/// use referrals::{MemoryStore, Store};
///
/// let store = FaultyStore::new(
///     MemoryStore::new(),
///     FaultPlan { schedule: vec![(0, Fault::AfterApply)], ..FaultPlan::default() },
/// );
/// let err = block_on(store.commit(CommitPlan::default())).unwrap_err();
/// assert_eq!(err.kind(), StoreErrorKind::Unavailable);
/// assert!(block_on(store.commit(CommitPlan::default())).is_ok());
/// assert_eq!(store.commits_attempted(), 2);
/// assert_eq!(store.faults_injected(Fault::AfterApply), 1);
/// assert_eq!(store.faults_injected(Fault::BeforeApply), 0);
/// ```
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    plan: FaultPlan,
    state: Mutex<FaultState>,
}

impl<S> FaultyStore<S> {
    /// Wraps `inner`, failing calls as `plan` says.
    pub fn new(inner: S, plan: FaultPlan) -> FaultyStore<S> {
        let state = FaultState {
            commit_rng: SplitMix64::new(plan.seed),
            read_rng: SplitMix64::new(plan.seed ^ READ_STREAM),
            commits: 0,
            before_apply: 0,
            after_apply: 0,
            reads: 0,
            read_faults: 0,
        };
        FaultyStore {
            inner,
            plan,
            state: Mutex::new(state),
        }
    }

    /// The wrapped store, to inspect what really got written.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The plan this store fails by.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// How many commits were attempted (failed or not).
    pub fn commits_attempted(&self) -> u64 {
        self.lock().commits
    }

    /// How many commits failed with `fault`.
    pub fn faults_injected(&self, fault: Fault) -> u64 {
        let state = self.lock();
        match fault {
            Fault::BeforeApply => state.before_apply,
            Fault::AfterApply => state.after_apply,
        }
    }

    /// How many reads were attempted (failed or not).
    pub fn reads_attempted(&self) -> u64 {
        self.lock().reads
    }

    /// How many reads failed by injection.
    pub fn read_faults_injected(&self) -> u64 {
        self.lock().read_faults
    }

    fn lock(&self) -> MutexGuard<'_, FaultState> {
        // The state is a few counters and a generator, each updated in one
        // step: a panic elsewhere cannot leave it inconsistent, so a
        // poisoned lock is still good (and a test helper must not panic
        // because another test thread did).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Decides the fate of the next commit, and counts it. Returns the
    /// commit's index with the fault, if any.
    fn next_commit_fault(&self) -> (u64, Option<Fault>) {
        let mut state = self.lock();
        let index = state.commits;
        state.commits += 1;
        // Always draw, so a scheduled fault does not shift the stream.
        let roll = state.commit_rng.next_bps();
        let scheduled = self
            .plan
            .schedule
            .iter()
            .find(|(at, _)| *at == index)
            .map(|(_, fault)| *fault);
        let before = u64::from(self.plan.fail_before_bps);
        let after = u64::from(self.plan.fail_after_bps);
        let fault = scheduled.or(if roll < before {
            Some(Fault::BeforeApply)
        } else if roll < before.saturating_add(after) {
            Some(Fault::AfterApply)
        } else {
            None
        });
        match fault {
            Some(Fault::BeforeApply) => state.before_apply += 1,
            Some(Fault::AfterApply) => state.after_apply += 1,
            None => {}
        }
        (index, fault)
    }

    /// Decides whether the next read fails; `Err` if it does.
    fn read_gate(&self, what: &str) -> StoreResult<()> {
        let mut state = self.lock();
        let index = state.reads;
        state.reads += 1;
        let roll = state.read_rng.next_bps();
        if roll < u64::from(self.plan.fail_reads_bps) {
            state.read_faults += 1;
            return Err(StoreError::unavailable(format!(
                "injected read fault: {what} (read #{index}, seed {})",
                self.plan.seed
            )));
        }
        Ok(())
    }
}

#[deny(clippy::missing_trait_methods)]
impl<S: Store> Store for FaultyStore<S> {
    async fn idempotency(
        &self,
        program: &ProgramId,
        key: &IdempotencyKey,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        self.read_gate("idempotency")?;
        self.inner.idempotency(program, key).await
    }

    async fn code(
        &self,
        program: &ProgramId,
        code: &Code,
    ) -> StoreResult<Option<Versioned<CodeRecord>>> {
        self.read_gate("code")?;
        self.inner.code(program, code).await
    }

    async fn primary_code(
        &self,
        program: &ProgramId,
        owner: &CustomerId,
    ) -> StoreResult<Option<Versioned<CodeRecord>>> {
        self.read_gate("primary_code")?;
        self.inner.primary_code(program, owner).await
    }

    async fn customer(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Option<Versioned<CustomerRecord>>> {
        self.read_gate("customer")?;
        self.inner.customer(program, customer).await
    }

    async fn touches(
        &self,
        program: &ProgramId,
        actor: &Actor,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<TouchRecord>> {
        self.read_gate("touches")?;
        self.inner.touches(program, actor, since).await
    }

    async fn conversion(
        &self,
        program: &ProgramId,
        order: &OrderId,
    ) -> StoreResult<Option<Versioned<ConversionRecord>>> {
        self.read_gate("conversion")?;
        self.inner.conversion(program, order).await
    }

    async fn ledger(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
        after: Option<&LedgerCursor>,
        limit: usize,
    ) -> StoreResult<Vec<LedgerEntry>> {
        self.read_gate("ledger")?;
        self.inner.ledger(program, customer, after, limit).await
    }

    async fn balances(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Vec<Balance>> {
        self.read_gate("balances")?;
        self.inner.balances(program, customer).await
    }

    async fn reward(
        &self,
        program: &ProgramId,
        reward: &RewardId,
    ) -> StoreResult<Option<Versioned<Reward>>> {
        self.read_gate("reward")?;
        self.inner.reward(program, reward).await
    }

    async fn referred_conversions(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
    ) -> StoreResult<Vec<ConversionRecord>> {
        self.read_gate("referred_conversions")?;
        self.inner.referred_conversions(program, referrer).await
    }

    async fn customer_conversions(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Vec<ConversionRecord>> {
        self.read_gate("customer_conversions")?;
        self.inner.customer_conversions(program, customer).await
    }

    async fn assignment(
        &self,
        program: &ProgramId,
        experiment: &Label,
        customer: &CustomerId,
    ) -> StoreResult<Option<AssignmentRecord>> {
        self.read_gate("assignment")?;
        self.inner.assignment(program, experiment, customer).await
    }

    async fn outbox_item(
        &self,
        program: &ProgramId,
        id: &DeliveryId,
    ) -> StoreResult<Option<Versioned<OutboxItem>>> {
        self.read_gate("outbox_item")?;
        self.inner.outbox_item(program, id).await
    }

    async fn outbox_due(
        &self,
        program: &ProgramId,
        now: DateTime<Utc>,
        after: Option<&OutboxCursor>,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<OutboxItem>>> {
        self.read_gate("outbox_due")?;
        self.inner.outbox_due(program, now, after, limit).await
    }

    async fn counter(&self, key: &CounterKey) -> StoreResult<i64> {
        self.read_gate("counter")?;
        self.inner.counter(key).await
    }

    async fn identity(
        &self,
        program: &ProgramId,
        customer: &CustomerId,
    ) -> StoreResult<Option<Versioned<IdentityRecord>>> {
        self.read_gate("identity")?;
        self.inner.identity(program, customer).await
    }

    async fn identity_matches(
        &self,
        program: &ProgramId,
        hash: &SignalHash,
        limit: usize,
    ) -> StoreResult<Vec<IdentityMatch>> {
        self.read_gate("identity_matches")?;
        self.inner.identity_matches(program, hash, limit).await
    }

    async fn stale_identities(
        &self,
        program: &ProgramId,
        before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<IdentityRecord>>> {
        self.read_gate("stale_identities")?;
        self.inner.stale_identities(program, before, limit).await
    }

    async fn recent_referees(
        &self,
        program: &ProgramId,
        referrer: &CustomerId,
        limit: usize,
    ) -> StoreResult<Vec<ReferredCustomer>> {
        self.read_gate("recent_referees")?;
        self.inner.recent_referees(program, referrer, limit).await
    }

    async fn due_rewards(
        &self,
        program: &ProgramId,
        due: Due,
        before: DateTime<Utc>,
        after: Option<&RewardCursor>,
        limit: usize,
    ) -> StoreResult<Vec<Versioned<Reward>>> {
        self.read_gate("due_rewards")?;
        self.inner
            .due_rewards(program, due, before, after, limit)
            .await
    }

    async fn commit(&self, plan: CommitPlan) -> StoreResult<()> {
        let (index, fault) = self.next_commit_fault();
        let seed = self.plan.seed;
        match fault {
            None => self.inner.commit(plan).await,
            Some(Fault::BeforeApply) => Err(StoreError::unavailable(format!(
                "injected fault before apply: the plan was not written (commit #{index}, seed {seed})"
            ))),
            Some(Fault::AfterApply) => match self.inner.commit(plan).await {
                Err(e) if e.kind() == StoreErrorKind::Backend => Err(e),
                _ => Err(StoreError::unavailable(format!(
                    "injected fault after apply: the outcome is unknown to the caller (commit #{index}, seed {seed})"
                ))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;
    use crate::MemoryStore;

    /// Drives a future to completion: `MemoryStore`'s are ready at once,
    /// so polling with a no-op waker is enough (and keeps the store's
    /// tests free of the engine).
    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
                return out;
            }
        }
    }
    use crate::model::{Channel, EventId, Touch, TouchKind, VisitorId};
    use crate::store::{TouchRecord, Write};

    fn program() -> ProgramId {
        ProgramId::new("faulty").unwrap()
    }

    /// A plan inserting touch `n` (distinct plans, so each can succeed).
    fn touch_plan(n: u64) -> CommitPlan {
        CommitPlan {
            idempotency: None,
            writes: vec![Write::InsertTouch(TouchRecord {
                program: program(),
                referrer: CustomerId::new("owner").unwrap(),
                touch: Touch {
                    id: EventId::new(format!("t{n}")).unwrap(),
                    actor: Actor::Visitor(VisitorId::new("v").unwrap()),
                    code: Code::from_canonical("SARA2026").unwrap(),
                    channel: Channel::Link,
                    kind: TouchKind::Click,
                    at: DateTime::UNIX_EPOCH,
                },
            })],
        }
    }

    fn stored_touches(store: &FaultyStore<MemoryStore>) -> usize {
        store
            .inner()
            .snapshot()
            .touches(
                &program(),
                &Actor::Visitor(VisitorId::new("v").unwrap()),
                DateTime::UNIX_EPOCH,
            )
            .len()
    }

    /// The fate of `n` commits, as `Some(kind)` for failures.
    fn fates(plan: FaultPlan, n: u64) -> Vec<Option<StoreErrorKind>> {
        let store = FaultyStore::new(MemoryStore::new(), plan);
        (0..n)
            .map(|i| {
                block_on(store.commit(touch_plan(i)))
                    .err()
                    .map(|e| e.kind())
            })
            .collect()
    }

    #[test]
    fn splitmix64_matches_the_reference_stream() {
        // Reference values for seed 1234567 of the published algorithm
        // (Vigna's splitmix64.c), as test suites of other ports use them.
        let mut rng = SplitMix64::new(1_234_567);
        let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [
                6_457_827_717_110_365_317,
                3_203_168_211_198_807_973,
                9_817_491_932_198_370_423,
                4_593_380_528_125_082_431,
                16_408_922_859_458_223_821,
            ]
        );
    }

    #[test]
    fn bps_rolls_are_in_range_and_roughly_uniform() {
        let mut rng = SplitMix64::new(42);
        let mut below_half = 0;
        for _ in 0..10_000 {
            let r = rng.next_bps();
            assert!(r < BPS_WHOLE, "{r}");
            if r < 5_000 {
                below_half += 1;
            }
        }
        assert!((4_700..5_300).contains(&below_half), "{below_half}");
    }

    #[test]
    fn the_default_plan_injects_nothing() {
        let store = FaultyStore::new(MemoryStore::new(), FaultPlan::default());
        for i in 0..100 {
            block_on(store.commit(touch_plan(i))).unwrap();
        }
        assert_eq!(store.commits_attempted(), 100);
        assert_eq!(store.faults_injected(Fault::BeforeApply), 0);
        assert_eq!(store.faults_injected(Fault::AfterApply), 0);
        assert_eq!(stored_touches(&store), 100);
    }

    #[test]
    fn before_apply_writes_nothing_and_after_apply_writes_the_plan() {
        let plan = FaultPlan {
            schedule: vec![(0, Fault::BeforeApply), (1, Fault::AfterApply)],
            ..FaultPlan::default()
        };
        let store = FaultyStore::new(MemoryStore::new(), plan);
        let err = block_on(store.commit(touch_plan(0))).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
        assert!(err.to_string().contains("commit #0"), "{err}");
        assert_eq!(stored_touches(&store), 0);
        let err = block_on(store.commit(touch_plan(1))).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
        assert_eq!(stored_touches(&store), 1);
        // The plan really landed: sending it again is a conflict.
        let err = block_on(store.commit(touch_plan(1))).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Conflict, "{err}");
        assert_eq!(store.commits_attempted(), 3);
        assert_eq!(store.faults_injected(Fault::BeforeApply), 1);
        assert_eq!(store.faults_injected(Fault::AfterApply), 1);
    }

    #[test]
    fn after_apply_hides_a_conflict_but_passes_a_backend_error_on() {
        let plan = FaultPlan {
            fail_after_bps: 10_000,
            ..FaultPlan::default()
        };
        let store = FaultyStore::new(MemoryStore::new(), plan);
        let _ = block_on(store.commit(touch_plan(0)));
        // A conflict inside: the caller still only learns "unknown".
        let err = block_on(store.commit(touch_plan(0))).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
        // A plan writing one key twice is a final error of MemoryStore.
        let mut twice = touch_plan(5);
        twice.writes.extend(touch_plan(5).writes);
        let err = block_on(store.commit(twice)).unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}");
    }

    #[test]
    fn the_same_seed_replays_the_same_faults() {
        let plan = |seed| FaultPlan {
            seed,
            fail_before_bps: 2_500,
            fail_after_bps: 2_500,
            ..FaultPlan::default()
        };
        let a = fates(plan(9), 400);
        assert_eq!(a, fates(plan(9), 400));
        assert_ne!(a, fates(plan(10), 400));
        let failed = a.iter().filter(|f| f.is_some()).count();
        assert!(
            (150..250).contains(&failed),
            "{failed} of 400 failed at 50%"
        );
    }

    #[test]
    fn a_scheduled_fault_changes_only_its_own_commit() {
        let base = FaultPlan {
            seed: 3,
            fail_before_bps: 3_000,
            ..FaultPlan::default()
        };
        let plain = fates(base.clone(), 50);
        let ok_index = plain.iter().position(Option::is_none).unwrap() as u64;
        let scheduled = fates(
            FaultPlan {
                schedule: vec![(ok_index, Fault::BeforeApply)],
                ..base
            },
            50,
        );
        for (i, (a, b)) in plain.iter().zip(&scheduled).enumerate() {
            if i as u64 == ok_index {
                assert_eq!(*b, Some(StoreErrorKind::Unavailable));
            } else {
                assert_eq!(a, b, "commit {i}");
            }
        }
    }

    #[test]
    fn read_faults_fail_reads_and_do_not_shift_commit_faults() {
        let base = FaultPlan {
            seed: 11,
            fail_before_bps: 3_000,
            ..FaultPlan::default()
        };
        let with_reads = FaultPlan {
            fail_reads_bps: 5_000,
            ..base.clone()
        };
        let quiet = FaultyStore::new(MemoryStore::new(), base);
        let noisy = FaultyStore::new(MemoryStore::new(), with_reads);
        let key = IdempotencyKey {
            kind: crate::store::EventKind::Touch,
            id: "k".into(),
        };
        let mut read_errors = 0;
        for i in 0..200 {
            let a = block_on(quiet.commit(touch_plan(i))).map_err(|e| e.kind());
            match block_on(noisy.idempotency(&program(), &key)) {
                Ok(None) => {}
                Ok(Some(r)) => panic!("unexpected record {r:?}"),
                Err(e) => {
                    assert_eq!(e.kind(), StoreErrorKind::Unavailable, "{e}");
                    read_errors += 1;
                }
            }
            let b = block_on(noisy.commit(touch_plan(i))).map_err(|e| e.kind());
            assert_eq!(a, b, "commit {i}");
        }
        assert_eq!(noisy.reads_attempted(), 200);
        assert_eq!(noisy.read_faults_injected(), read_errors);
        assert!((60..140).contains(&read_errors), "{read_errors}");
        assert_eq!(quiet.read_faults_injected(), 0);
    }
}

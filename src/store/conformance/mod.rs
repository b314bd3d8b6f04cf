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

use std::future::Future;
use std::sync::Arc;

use super::Store;

mod commit;
mod concurrency;
pub(crate) mod fixtures;
mod identity;
mod incentives;
mod ledger;
mod outbox;
mod reads;

pub use commit::*;
pub use concurrency::*;
use fixtures::assert_multi_thread;
pub use identity::*;
pub use incentives::*;
pub use ledger::*;
pub use outbox::*;
pub use reads::*;

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
    counters_stay_within_their_limits(&fresh().await).await;
    concurrent_counter_adds_never_pass_the_limit(Arc::new(fresh().await)).await;
    balances_follow_ledger_entries(&fresh().await).await;
    rewards_are_versioned_and_due_rewards_are_listed_in_order(&fresh().await).await;
    ledger_pages_are_ordered_and_complete(&fresh().await).await;
    outbox_items_are_versioned_and_listed_when_claimable(&fresh().await).await;
    assignments_are_recorded_once(&fresh().await).await;
    concurrent_assignments_have_one_winner(Arc::new(fresh().await)).await;
    referred_conversions_are_listed_per_referrer(&fresh().await).await;
    customer_conversions_are_listed_per_buyer(&fresh().await).await;
    identity_records_are_versioned_and_round_trip(&fresh().await).await;
    identity_matches_follow_the_records(&fresh().await).await;
    stale_identities_are_listed_by_oldest_signal(&fresh().await).await;
    recent_referees_are_listed_per_referrer(&fresh().await).await;
    review_queue_lists_rewards_held_for_review(&fresh().await).await;
}

#[cfg(test)]
mod tests {
    /// `run_all` must call every clause: a clause missing from it would be
    /// silently skipped by every backend.
    #[test]
    fn run_all_calls_every_public_clause() {
        let source = concat!(
            include_str!("mod.rs"),
            include_str!("commit.rs"),
            include_str!("reads.rs"),
            include_str!("concurrency.rs"),
            include_str!("ledger.rs"),
            include_str!("outbox.rs"),
            include_str!("incentives.rs"),
            include_str!("identity.rs")
        );
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
        assert!(clauses.len() >= 32, "found only {clauses:?}");
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

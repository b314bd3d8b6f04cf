//! The simulation and the budget race over the durable stores: the same
//! histories and audits as over the in-memory store, with the same faults
//! injected around the database.

use std::sync::LazyLock;

use referrals::store::{Fault, FaultPlan, FaultyStore, MemoryState, StoreResult};

use crate::simulation::sim::{self, Inspect, Mode, Report};
use crate::simulation::{REFERRAL, TASKS, race, strictness};

/// One runtime for every durable history: pools live on the runtime
/// they were opened on.
pub static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});

/// Histories per store when `SIM_DURABLE_HISTORIES` is not set.
const HISTORIES: u64 = 40;

fn histories() -> u64 {
    std::env::var("SIM_DURABLE_HISTORIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(HISTORIES)
}

/// Reads a whole durable store back, from inside or outside the runtime.
fn blocking<F: std::future::Future<Output = StoreResult<MemoryState>>>(f: F) -> MemoryState {
    let state = match tokio::runtime::Handle::try_current() {
        Ok(h) => tokio::task::block_in_place(|| h.block_on(f)),
        Err(_) => RUNTIME.block_on(f),
    };
    state.expect("the durable store reads back whole")
}

macro_rules! inspect_durable {
    ($store:ty) => {
        impl Inspect for $store {
            fn state(&self) -> MemoryState {
                blocking(self.snapshot())
            }
        }

        impl Inspect for FaultyStore<$store> {
            fn state(&self) -> MemoryState {
                blocking(self.inner().snapshot())
            }

            fn faults(&self) -> u64 {
                self.faults_injected(Fault::BeforeApply)
                    + self.faults_injected(Fault::AfterApply)
                    + self.read_faults_injected()
            }
        }
    };
}

#[cfg(feature = "sqlite")]
inspect_durable!(referrals::store::SqliteStore);
#[cfg(feature = "postgres")]
inspect_durable!(referrals::store::PostgresStore);

/// Runs `n` histories, a fifth of their steps concurrent, over the
/// faulty wrapper of the store `open` makes; panics on the first
/// failure with its seed.
fn run<S, O, Fut>(n: u64, open: O) -> Report
where
    S: referrals::Store + Inspect + 'static,
    FaultyStore<S>: Inspect,
    O: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let mode = Mode::Concurrent {
        runtime: &RUNTIME,
        percent: 20,
    };
    let mut total = Report::default();
    for seed in 0..n {
        let store = RUNTIME.block_on(open());
        let report = sim::run_history(
            seed,
            |config| {
                FaultyStore::new(
                    store,
                    FaultPlan {
                        seed,
                        fail_before_bps: config.fail_before_bps,
                        fail_after_bps: config.fail_after_bps,
                        fail_reads_bps: config.fail_reads_bps,
                        ..FaultPlan::default()
                    },
                )
            },
            mode,
            strictness(),
        )
        .unwrap_or_else(|msg| panic!("{msg}"));
        total.add(&report);
    }
    total
}

/// The race of `crate::simulation`, on a fresh store per round.
fn races<S, O, Fut>(open: O)
where
    S: referrals::Store + Inspect + 'static,
    O: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    for round in 0..2 {
        let one_referrer = round % 2 == 0;
        let r = RUNTIME.block_on(async { race(open().await, 25_000, one_referrer).await });
        let n = (25_000 / REFERRAL) as usize;
        assert_eq!(
            (r.full, r.partial, r.exhausted, r.paid, r.used),
            (n, 0, TASKS - n, 25_000, 25_000),
            "round {round}: {r:?}"
        );
        r.audit
            .unwrap_or_else(|msg| panic!("round {round}: audit: {msg}"));
    }
}

#[cfg(feature = "sqlite")]
#[test]
fn simulated_histories_over_sqlite_keep_the_ledger_laws() {
    let report = run(histories(), || crate::durable::lite::fresh_file("sim"));
    println!("sqlite: {}", sim::summary(&report));
    assert!(report.faults > 0 && report.refused > 0, "{report:?}");
}

#[cfg(feature = "sqlite")]
#[test]
fn a_budget_race_of_64_conversions_on_sqlite_pays_exactly_the_budget() {
    races(|| crate::durable::lite::fresh_file("race"));
}

#[cfg(feature = "postgres")]
#[test]
fn simulated_histories_over_postgres_keep_the_ledger_laws() {
    let Some(url) = crate::durable::pg::url() else {
        return crate::durable::pg::skipped(
            "simulated_histories_over_postgres_keep_the_ledger_laws",
        );
    };
    for isolation in [
        referrals::store::Isolation::ReadCommitted,
        referrals::store::Isolation::Serializable,
    ] {
        let report = run(histories() / 2, || {
            crate::durable::pg::fresh(&url, "sim", isolation, 8)
        });
        println!("postgres {isolation:?}: {}", sim::summary(&report));
    }
    RUNTIME.block_on(crate::durable::pg::drop_schemas(&url, "sim"));
}

#[cfg(feature = "postgres")]
#[test]
fn a_budget_race_of_64_conversions_on_postgres_pays_exactly_the_budget() {
    let Some(url) = crate::durable::pg::url() else {
        return crate::durable::pg::skipped(
            "a_budget_race_of_64_conversions_on_postgres_pays_exactly_the_budget",
        );
    };
    for isolation in [
        referrals::store::Isolation::ReadCommitted,
        referrals::store::Isolation::Serializable,
    ] {
        races(|| crate::durable::pg::fresh(&url, "race", isolation, 16));
    }
    RUNTIME.block_on(crate::durable::pg::drop_schemas(&url, "race"));
}

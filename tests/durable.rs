//! The durable stores against the whole conformance suite: SQLite on a
//! file and in memory (feature `sqlite`), PostgreSQL at READ COMMITTED and
//! SERIALIZABLE (feature `postgres`, and `REFERRALS_TEST_POSTGRES_URL` set:
//! without it those tests say they skipped and pass).

#[cfg(feature = "postgres")]
pub mod pg {
    //! A fresh PostgreSQL schema per store, so every clause starts empty.

    use std::sync::atomic::{AtomicU64, Ordering};

    use referrals::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
    use referrals::store::{Isolation, PostgresStore};

    /// The server the PostgreSQL tests use, if the environment names one.
    pub fn url() -> Option<String> {
        std::env::var("REFERRALS_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty())
    }

    /// Says a test skipped, where `cargo test` shows it.
    pub fn skipped(test: &str) {
        use std::io::Write as _;
        // Straight to the process's stderr: `eprintln!` would be captured
        // and hidden by the test harness, and a skip must be seen.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: set REFERRALS_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run it"
        );
    }

    static NEXT: AtomicU64 = AtomicU64::new(0);

    /// Drops every schema this process made, so runs leave nothing behind.
    pub async fn drop_schemas(url: &str, tag: &str) {
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .expect("the test server answers");
        let prefix = format!("referrals\\_test\\_{}\\_{tag}\\_%", std::process::id());
        let names: Vec<(String,)> = referrals::sqlx::query_as(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE $1",
        )
        .bind(prefix)
        .fetch_all(&admin)
        .await
        .expect("list schemas");
        for (name,) in names {
            referrals::sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .execute(&admin)
                .await
                .expect("drop schema");
        }
        admin.close().await;
    }

    /// A store over a new, empty schema of the server at `url`.
    /// Its schema is named after `tag` (letters and digits), which
    /// [`drop_schemas`] drops.
    pub async fn fresh(
        url: &str,
        tag: &str,
        isolation: Isolation,
        connections: u32,
    ) -> PostgresStore {
        let schema = format!(
            "referrals_test_{}_{tag}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let base: PgConnectOptions = url.parse().expect("REFERRALS_TEST_POSTGRES_URL parses");
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(base.clone())
            .await
            .expect("the test server answers");
        referrals::sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&admin)
            .await
            .expect("drop schema");
        referrals::sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .expect("create schema");
        admin.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .connect_with(base.options([("search_path", schema.as_str())]))
            .await
            .expect("the test server answers");
        PostgresStore::with_isolation(pool, isolation)
            .await
            .expect("the store opens on an empty schema")
    }
}

#[cfg(feature = "sqlite")]
pub mod lite {
    //! SQLite databases in a temporary directory, removed when the test
    //! process ends well.

    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};

    use referrals::store::SqliteStore;

    static NEXT: AtomicU64 = AtomicU64::new(0);

    /// A new directory for one test's files.
    pub fn dir(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "referrals-{test}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        dir
    }

    /// A store over a new database file.
    pub async fn fresh_file(test: &str) -> SqliteStore {
        SqliteStore::open(dir(test).join("referrals.db"))
            .await
            .expect("a new SQLite file opens")
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_store_keeps_the_store_and_engine_contract() {
    referrals::engine::conformance::run_all(|| lite::fresh_file("conformance")).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_store_keeps_the_store_and_engine_contract() {
    referrals::engine::conformance::run_all(|| async {
        referrals::store::SqliteStore::in_memory()
            .await
            .expect("an in-memory SQLite store opens")
    })
    .await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_keeps_the_contract_at_read_committed() {
    let Some(url) = pg::url() else {
        return pg::skipped("postgres_store_keeps_the_contract_at_read_committed");
    };
    referrals::engine::conformance::run_all(|| {
        pg::fresh(&url, "rc", referrals::store::Isolation::ReadCommitted, 8)
    })
    .await;
    pg::drop_schemas(&url, "rc").await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_keeps_the_contract_at_serializable() {
    let Some(url) = pg::url() else {
        return pg::skipped("postgres_store_keeps_the_contract_at_serializable");
    };
    referrals::engine::conformance::run_all(|| {
        pg::fresh(&url, "ser", referrals::store::Isolation::Serializable, 8)
    })
    .await;
    pg::drop_schemas(&url, "ser").await;
}

/// The simulation and the budget race over the durable stores: the same
/// histories and audits as over the in-memory store, with the same faults
/// injected around the database.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod histories {
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
}

//! [`PostgresStore`]: the [`Store`] over PostgreSQL, through the host's
//! `sqlx` pool.

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};

use super::{Core, Dialect, Driver, classify_common, impl_session, store_via_core};
use crate::code::Code;
use crate::fraud::identity::SignalHash;
use crate::model::{Actor, CustomerId, DeliveryId, OrderId, ProgramId, RewardId};
use crate::reward::Label;
use crate::store::{
    AssignmentRecord, Balance, CodeRecord, CommitPlan, ConversionRecord, CounterKey,
    CustomerRecord, Due, IdempotencyKey, IdempotencyRecord, IdentityMatch, IdentityRecord,
    LedgerCursor, LedgerEntry, MemoryState, OutboxCursor, OutboxItem, Reward, RewardCursor,
    StoreErrorKind, StoreResult, TouchRecord, Versioned,
};

impl_session!(PgConnection, Postgres);

/// The isolation level of a [`PostgresStore`]'s commits.
///
/// The store is correct at either: every condition of a commit is a
/// conditional statement or a unique constraint the database checks, so
/// nothing depends on what a transaction read earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Isolation {
    /// PostgreSQL's default. Concurrent commits to one counter or record
    /// wait for each other and re-check their conditions: fewest retries.
    #[default]
    ReadCommitted,
    /// What PostgreSQL-compatible distributed databases (CockroachDB,
    /// YugabyteDB) run by default: commits that touch the same rows fail
    /// with a serialization failure, which the store retries (the same
    /// plan, its conditions checked afresh) up to 40 times, and then
    /// reports as a conflict the engine decides again on.
    Serializable,
}

impl Isolation {
    fn begin(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "BEGIN ISOLATION LEVEL READ COMMITTED",
            Isolation::Serializable => "BEGIN ISOLATION LEVEL SERIALIZABLE",
        }
    }
}

#[derive(Debug)]
pub(crate) struct PgDriver {
    pool: PgPool,
    isolation: Isolation,
}

impl Driver for PgDriver {
    type Connection = PgConnection;
    type Read = PoolConnection<Postgres>;
    type Write = Transaction<'static, Postgres>;
    type View = Transaction<'static, Postgres>;
    const BATCHES: bool = false;
    const DIALECT: Dialect = Dialect::Postgres;

    fn read(&self) -> impl Future<Output = Result<Self::Read, sqlx::Error>> + Send {
        self.pool.acquire()
    }

    fn begin(&self) -> impl Future<Output = Result<Self::Write, sqlx::Error>> + Send {
        self.pool.begin_with(self.isolation.begin())
    }

    fn commit(tx: Self::Write) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        tx.commit()
    }

    fn rollback(tx: Self::Write) -> impl Future<Output = Result<(), sqlx::Error>> + Send {
        tx.rollback()
    }

    fn begin_view(&self) -> impl Future<Output = Result<Self::View, sqlx::Error>> + Send {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    }

    fn classify(err: &sqlx::Error) -> StoreErrorKind {
        if let sqlx::Error::Database(db) = err {
            if let Some(code) = db.code() {
                match &*code {
                    // serialization_failure, deadlock_detected: nothing was
                    // written; decide again on fresh reads.
                    "40001" | "40P01" => return StoreErrorKind::Conflict,
                    // Connection exceptions, the server shutting down or
                    // starting, too many connections: try again later.
                    c if c.starts_with("08") => return StoreErrorKind::Unavailable,
                    "57P01" | "57P02" | "57P03" | "53300" => return StoreErrorKind::Unavailable,
                    // Lock or statement timeout, a read-only server (a
                    // standby after failover), an unknown statement
                    // outcome: the transaction is gone, nothing of it
                    // stays; trying again can succeed.
                    "55P03" | "57014" | "25006" | "40003" => return StoreErrorKind::Unavailable,
                    _ => {}
                }
            }
        }
        classify_common(err)
    }

    fn is_transient(err: &sqlx::Error) -> bool {
        matches!(err, sqlx::Error::Database(db)
            if db.code().is_some_and(|c| c == "40001" || c == "40P01"))
    }
}

/// The [`Store`](crate::store::Store) over PostgreSQL (feature
/// `postgres`), on the host's own `PgPool`.
///
/// - **Tables** prefixed `referrals_` in the pool's database and search
///   path, created or migrated on [`PostgresStore::new`]; ids are `TEXT
///   COLLATE "C"`, compared byte by byte as the contract asks.
/// - **Commits** are one transaction at the chosen [`Isolation`]. Budgets
///   and caps are single-row conditional `UPDATE`s (never read, then
///   write), insert-only keys are unique constraints, and serialization
///   failures and deadlocks (40001, 40P01) come back as
///   [`Conflict`](StoreErrorKind::Conflict) so the engine decides again.
/// - **Past one machine**: PostgreSQL-compatible distributed SQL runs the
///   same store at [`Isolation::Serializable`]; see DESIGN.md for what
///   differs.
///
/// # Example
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use referrals::sqlx::postgres::PgPoolOptions;
/// use referrals::store::PostgresStore;
///
/// let pool = PgPoolOptions::new()
///     .max_connections(16)
///     .connect("postgres://app@localhost/app")
///     .await?;
/// let store = PostgresStore::new(pool).await?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct PostgresStore {
    core: Core<PgDriver>,
}

impl PostgresStore {
    /// A store over `pool` at [`Isolation::ReadCommitted`], creating or
    /// migrating the schema.
    ///
    /// # Errors
    /// [`StoreErrorKind::Unavailable`] when the server cannot be reached;
    /// [`StoreErrorKind::Backend`] when the database holds a schema newer
    /// than the crate's, or the role may not create tables.
    pub async fn new(pool: PgPool) -> StoreResult<PostgresStore> {
        PostgresStore::with_isolation(pool, Isolation::default()).await
    }

    /// A store over `pool` whose commits run at `isolation`.
    ///
    /// # Errors
    /// As [`PostgresStore::new`].
    pub async fn with_isolation(pool: PgPool, isolation: Isolation) -> StoreResult<PostgresStore> {
        let driver = PgDriver { pool, isolation };
        super::open_schema(&driver).await?;
        Ok(PostgresStore {
            core: Core { driver },
        })
    }

    /// Connects to `url` with a pool of `max_connections` and opens a
    /// store over it: for tests and tools; services pass their own pool to
    /// [`PostgresStore::new`].
    ///
    /// # Errors
    /// As [`PostgresStore::new`].
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<PostgresStore> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            // A broken connection is an `Unavailable` error the caller
            // retries: no ping (a round trip) before every statement.
            .test_before_acquire(false)
            .connect(url)
            .await
            .map_err(|e| super::store_error::<PgDriver>("connecting to PostgreSQL", e))?;
        PostgresStore::new(pool).await
    }

    /// The pool the store runs on.
    pub fn pool(&self) -> &PgPool {
        &self.core.driver.pool
    }

    /// The isolation level of its commits.
    pub fn isolation(&self) -> Isolation {
        self.core.driver.isolation
    }

    /// A copy of everything stored, as a [`MemoryState`]: for tests,
    /// audits and moving data between stores. Reads every table.
    ///
    /// # Errors
    /// As the reads of [`Store`](crate::store::Store).
    pub async fn snapshot(&self) -> StoreResult<MemoryState> {
        self.core.snapshot().await
    }
}

store_via_core!(PostgresStore);

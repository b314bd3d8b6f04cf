//! [`SqliteStore`]: the [`Store`] over SQLite, through the host's `sqlx`
//! pool or one it opens.

use std::future::Future;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Sqlite, Transaction};

use super::{Core, Dialect, Driver, classify_common, impl_session, store_via_core};
use crate::code::Code;
use crate::fraud::identity::SignalHash;
use crate::model::{Actor, CustomerId, DeliveryId, OrderId, ProgramId, RewardId};
use crate::reward::Label;
use crate::store::{
    AssignmentRecord, Balance, CodeRecord, CommitPlan, ConversionRecord, CounterKey,
    CustomerRecord, Due, IdempotencyKey, IdempotencyRecord, IdentityMatch, IdentityRecord,
    LedgerCursor, LedgerEntry, MemoryState, OutboxCursor, OutboxItem, Reward, RewardCursor,
    StoreError, StoreErrorKind, StoreResult, TouchRecord, Versioned,
};

impl_session!(SqliteConnection, Sqlite);

/// How SQLite makes a commit durable (`PRAGMA synchronous`), in WAL mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// The default. A commit survives the process being killed at any
    /// point; a power loss or OS crash may lose the last commits before
    /// the next checkpoint, never corrupt the database. SQLite's own
    /// recommendation for WAL.
    #[default]
    Normal,
    /// Every commit is synced to disk before it returns: survives power
    /// loss too, at the cost of one `fsync` per commit.
    Full,
}

/// How [`SqliteStore::open_with`] opens a database file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// Durability of a commit; [`Synchronous::Normal`] by default.
    pub synchronous: Synchronous,
    /// How long a commit waits for another writer's lock before it fails
    /// as [`StoreErrorKind::Unavailable`]; 5 s by default.
    pub busy_timeout: Duration,
    /// Connections in the pool (SQLite runs one writer at a time; more
    /// connections let reads run beside it); 8 by default.
    pub max_connections: u32,
    /// Create the file when it does not exist; on by default.
    pub create_if_missing: bool,
}

impl Default for SqliteOptions {
    fn default() -> SqliteOptions {
        SqliteOptions {
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_secs(5),
            max_connections: 8,
            create_if_missing: true,
        }
    }
}

impl SqliteOptions {
    /// The same options with `synchronous`.
    pub fn synchronous(mut self, synchronous: Synchronous) -> SqliteOptions {
        self.synchronous = synchronous;
        self
    }

    /// The same options with `busy_timeout`.
    pub fn busy_timeout(mut self, busy_timeout: Duration) -> SqliteOptions {
        self.busy_timeout = busy_timeout;
        self
    }

    /// The same options with `max_connections` (at least 1).
    pub fn max_connections(mut self, max_connections: u32) -> SqliteOptions {
        self.max_connections = max_connections.max(1);
        self
    }

    /// The same options with `create_if_missing`.
    pub fn create_if_missing(mut self, create_if_missing: bool) -> SqliteOptions {
        self.create_if_missing = create_if_missing;
        self
    }

    /// The sqlx connect options these stand for: WAL, foreign keys on, the
    /// busy timeout and synchronous level. For hosts that build their own
    /// pool with them and pass it to [`SqliteStore::from_pool`].
    pub fn connect_options(&self, path: impl AsRef<Path>) -> SqliteConnectOptions {
        self.connect_options_keeping_journal(path)
            .journal_mode(SqliteJournalMode::Wal)
    }

    /// The same without changing the file's journal mode: what the store
    /// opens with, so that a database it refuses stays byte for byte as
    /// it was; WAL is set once the schema is known to be ours.
    fn connect_options_keeping_journal(&self, path: impl AsRef<Path>) -> SqliteConnectOptions {
        SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(self.create_if_missing)
            .synchronous(match self.synchronous {
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(self.busy_timeout)
            .foreign_keys(true)
    }
}

#[derive(Debug)]
pub(crate) struct SqliteDriver {
    pool: SqlitePool,
    /// Writers of this store take turns here before `BEGIN IMMEDIATE`:
    /// SQLite runs one writer at a time anyway, and a queue in the process
    /// wakes the next writer at once, where SQLite's busy handler sleeps
    /// and polls (milliseconds). Other processes still meet the busy
    /// timeout.
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction and this store's writer turn, released together.
pub(crate) struct SqliteWrite {
    tx: Transaction<'static, Sqlite>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl std::ops::Deref for SqliteWrite {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for SqliteWrite {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

/// SQLite's primary result codes that mean "another connection holds the
/// lock": nothing was written, and trying again can succeed.
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;

impl Driver for SqliteDriver {
    type Connection = SqliteConnection;
    type Read = PoolConnection<Sqlite>;
    type Write = SqliteWrite;
    type View = Transaction<'static, Sqlite>;
    const BATCHES: bool = true;
    const DIALECT: Dialect = Dialect::Sqlite;

    fn read(&self) -> impl Future<Output = Result<Self::Read, sqlx::Error>> + Send {
        self.pool.acquire()
    }

    async fn begin(&self) -> Result<Self::Write, sqlx::Error> {
        let turn = Arc::clone(&self.writer).lock_owned().await;
        // IMMEDIATE takes the write lock first: a deferred transaction that
        // read and then wrote could fail with SQLITE_BUSY whatever the
        // timeout, when another writer committed in between.
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(SqliteWrite { tx, _turn: turn })
    }

    async fn commit(write: Self::Write) -> Result<(), sqlx::Error> {
        write.tx.commit().await
    }

    async fn rollback(write: Self::Write) -> Result<(), sqlx::Error> {
        // Rolled back before the turn (dropped after) passes on.
        write.tx.rollback().await
    }

    fn begin_view(&self) -> impl Future<Output = Result<Self::View, sqlx::Error>> + Send {
        // A deferred transaction: its first read fixes the view (WAL).
        self.pool.begin()
    }

    fn classify(err: &sqlx::Error) -> StoreErrorKind {
        if let sqlx::Error::Database(db) = err {
            let primary = db
                .code()
                .and_then(|c| i64::from_str(&c).ok())
                .map(|c| c & 0xff);
            if matches!(primary, Some(SQLITE_BUSY | SQLITE_LOCKED)) {
                return StoreErrorKind::Unavailable;
            }
        }
        classify_common(err)
    }

    fn is_transient(_: &sqlx::Error) -> bool {
        // Write transactions take the lock first and wait for it (the busy
        // timeout): they never fail for having met another.
        false
    }
}

/// The [`Store`](crate::store::Store) over SQLite (feature `sqlite`): every
/// record in a database file (or the host's pool), so nothing is lost when
/// the process ends.
///
/// - **Durability.** WAL with `synchronous=NORMAL` by default (a commit
///   survives the process being killed; see [`Synchronous`]), `FULL`
///   selectable. Pools the store opens also set a busy timeout and foreign
///   keys on; a host's own pool keeps the host's settings.
/// - **Commits.** Each is one `BEGIN IMMEDIATE` transaction whose every
///   condition is a conditional statement (see the
///   [store contract](crate::store)); SQLite runs one writer at a time, so
///   commits queue for the lock for up to the busy timeout and then fail
///   as [`Unavailable`](StoreErrorKind::Unavailable), which callers retry.
/// - **Schema.** Created on first open and migrated forward in one
///   transaction; a database written by a newer crate is refused, not
///   touched. The tables are documented in the README.
///
/// # Example: a file that outlives the process
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use referrals::store::SqliteStore;
/// use referrals::model::CustomerId;
/// use referrals::{Currency, Engine, Money, Program};
///
/// let dir = std::env::temp_dir().join(format!("referrals-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("referrals.db");
/// let program = Program::builder("bakery", "Bakery friends")
///     .currency(Currency::SAR)
///     .two_sided_reward(Money::new(1500, Currency::SAR), Money::new(1000, Currency::SAR))
///     .build()?;
/// let amira = CustomerId::new("amira")?;
/// let at = chrono::DateTime::from_timestamp(1_772_355_600, 0).unwrap();
///
/// let code = {
///     let engine = Engine::new(SqliteStore::open(&path).await?, program.clone());
///     engine.issue_code(&amira, at).await?.record.code
/// };
/// // Another store over the same file (another process, another day).
/// let engine = Engine::new(SqliteStore::open(&path).await?, program);
/// assert_eq!(engine.issue_code(&amira, at).await?.record.code, code);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    core: Core<SqliteDriver>,
}

impl SqliteStore {
    /// Opens (or creates) the database file at `path` with the default
    /// [`SqliteOptions`], creating or migrating the schema.
    ///
    /// # Errors
    /// [`StoreErrorKind::Backend`] when the file cannot be opened or
    /// created (a read-only directory), is not a SQLite database, or holds
    /// a schema newer than the crate's; [`StoreErrorKind::Unavailable`]
    /// when another connection held the lock past the busy timeout.
    pub async fn open(path: impl AsRef<Path>) -> StoreResult<SqliteStore> {
        SqliteStore::open_with(path, SqliteOptions::default()).await
    }

    /// Opens (or creates) the database file at `path` with `options`.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: SqliteOptions,
    ) -> StoreResult<SqliteStore> {
        let path = path.as_ref();
        // A URL here would become a file named after it (`sqlite:` a
        // directory): say what to do instead.
        if path.to_str().is_some_and(|p| p.starts_with("sqlite:")) {
            return Err(StoreError::new(
                StoreErrorKind::Backend,
                format!(
                    "SqliteStore::open takes a file path, not a URL ({}): pass the path \
                     (e.g. `referrals.db`), use SqliteStore::in_memory() for a database in \
                     memory, or build a pool from the URL and pass it to SqliteStore::from_pool",
                    path.display()
                ),
            ));
        }
        let pool = SqlitePoolOptions::new()
            // The field is public: a 0 set directly must not reach sqlx,
            // whose pool panics on it.
            .max_connections(options.max_connections.max(1))
            // A local file does not drop connections: no ping (a round trip
            // to the connection's worker thread) before every statement.
            .test_before_acquire(false)
            .connect_with(options.connect_options_keeping_journal(path))
            .await
            .map_err(|e| {
                super::store_error::<SqliteDriver>(
                    &format!("opening SQLite database {}", path.display()),
                    e,
                )
            })?;
        let store = SqliteStore::from_pool(pool).await?;
        // Persistent in the file: every connection now and later uses WAL.
        sqlx::query("PRAGMA journal_mode = WAL")
            .execute(store.pool())
            .await
            .map_err(|e| {
                super::store_error::<SqliteDriver>(
                    &format!("switching {} to WAL", path.display()),
                    e,
                )
            })?;
        Ok(store)
    }

    /// A store over a private in-memory database: for tests. One
    /// connection, so every handle sees the same database; gone when the
    /// store is dropped.
    ///
    /// # Errors
    /// As [`SqliteStore::open`] (in practice only when out of memory).
    pub async fn in_memory() -> StoreResult<SqliteStore> {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            // An in-memory database lives as long as its connection.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                SqliteConnectOptions::from_str("sqlite::memory:")
                    .map_err(|e| super::store_error::<SqliteDriver>("opening SQLite in memory", e))?
                    .foreign_keys(true),
            )
            .await
            .map_err(|e| super::store_error::<SqliteDriver>("opening SQLite in memory", e))?;
        SqliteStore::from_pool(pool).await
    }

    /// A store over the host's own pool, creating or migrating the schema
    /// (tables prefixed `referrals_`) in its database. The pool's settings
    /// stay the host's: [`SqliteOptions::connect_options`] gives the ones
    /// this crate recommends. A pool over `sqlite::memory:` must have one
    /// connection (each connection of such a pool is a database of its
    /// own); [`SqliteStore::in_memory`] does that.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub async fn from_pool(pool: SqlitePool) -> StoreResult<SqliteStore> {
        let driver = SqliteDriver {
            pool,
            writer: Arc::default(),
        };
        super::open_schema(&driver).await?;
        Ok(SqliteStore {
            core: Core { driver },
        })
    }

    /// The pool the store runs on.
    pub fn pool(&self) -> &SqlitePool {
        &self.core.driver.pool
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

store_via_core!(SqliteStore);

//! The durable stores' shared core: one implementation of the [`Store`]
//! contract in SQL, run over SQLite ([`SqliteStore`](super::SqliteStore),
//! feature `sqlite`) or PostgreSQL
//! ([`PostgresStore`](super::PostgresStore), feature `postgres`).
//!
//! The statements are written once, in the SQL both databases speak
//! (`$N` parameters, `ON CONFLICT`, row-value comparisons, partial
//! indexes). A backend only says how to open a read connection and a
//! write transaction, how to bind and read the three kinds of values the
//! statements use ([`Arg`], [`Cell`]), and which of its errors mean
//! "conflict" or "try again". Everything else — the schema, migrations,
//! every read and the conditional commit — lives here, so the two stores
//! cannot drift apart.
//!
//! # How a commit keeps the contract
//!
//! Every condition of a plan is a single conditional statement checked by
//! the database itself inside the transaction, never a read followed by
//! a write the database cannot see: an insert that must be new is
//! `INSERT … ON CONFLICT DO NOTHING` and must touch one row; a versioned
//! write is `UPDATE … WHERE version = $expected` and must touch one row;
//! a counter is one upsert (or update) whose `WHERE` keeps `used` within
//! `0..=limit`; a second primary code hits a partial unique index.
//! Balances are one upsert per ledger entry that adds its deltas in the
//! database, saturating as [`Balance::add`](crate::ledger::Balance::add)
//! does; the row lock the upsert takes orders concurrent writers. An
//! identity record's hash rows are deleted (however many its earlier
//! version held: the one statement whose count is not checked) and
//! inserted one by one beside the versioned write of the record, which is
//! their condition. Any failed condition rolls the whole transaction back
//! and answers [`Conflict`](StoreErrorKind::Conflict).

use std::fmt::Debug;
use std::future::Future;
use std::ops::DerefMut;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ConversionRecord, CustomerRecord, Reward, StoreError, StoreErrorKind, StoreResult};
use crate::model::CustomerId;

mod commit;
#[cfg(feature = "postgres")]
pub(super) mod postgres;
mod reads;
mod schema;
mod snapshot;
#[cfg(feature = "sqlite")]
pub(super) mod sqlite;

/// A statement parameter: every column the schema has is a 64-bit
/// integer or text, either possibly null.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(Option<i64>),
    Text(Option<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(Some(v))
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::Int(v)
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(Some(v))
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(Some(v.to_owned()))
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::Text(v)
    }
}

/// The kind of a result column, so a backend knows how to decode it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Col {
    Int,
    Text,
}

/// One decoded result value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
}

/// A result row.
pub(crate) type Row = Vec<Cell>;

/// A connection (or a transaction on one) that runs statements.
pub(crate) trait Session: Send {
    /// Runs a statement; the number of rows it changed.
    fn run(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;

    /// Runs a query; its rows, decoded column by column as `cols` says.
    fn rows(
        &mut self,
        sql: &str,
        args: Vec<Arg>,
        cols: &'static [Col],
    ) -> impl Future<Output = Result<Vec<Row>, sqlx::Error>> + Send;
}

/// Implements [`Session`] for a sqlx connection type: bind each [`Arg`]
/// as `Option<i64>` or `Option<String>`, decode each column as `cols`
/// says.
macro_rules! impl_session {
    ($conn:ty, $db:ty) => {
        impl $crate::store::sql::Session for $conn {
            async fn run(
                &mut self,
                sql: &str,
                args: Vec<$crate::store::sql::Arg>,
            ) -> Result<u64, sqlx::Error> {
                let mut q = sqlx::query::<$db>(sql);
                for a in args {
                    q = match a {
                        $crate::store::sql::Arg::Int(v) => q.bind(v),
                        $crate::store::sql::Arg::Text(v) => q.bind(v),
                    };
                }
                Ok(q.execute(&mut *self).await?.rows_affected())
            }

            async fn rows(
                &mut self,
                sql: &str,
                args: Vec<$crate::store::sql::Arg>,
                cols: &'static [$crate::store::sql::Col],
            ) -> Result<Vec<$crate::store::sql::Row>, sqlx::Error> {
                use sqlx::Row as _;
                let mut q = sqlx::query::<$db>(sql);
                for a in args {
                    q = match a {
                        $crate::store::sql::Arg::Int(v) => q.bind(v),
                        $crate::store::sql::Arg::Text(v) => q.bind(v),
                    };
                }
                let rows = q.fetch_all(&mut *self).await?;
                let mut out = Vec::with_capacity(rows.len());
                for row in rows {
                    let mut cells = Vec::with_capacity(cols.len());
                    for (i, col) in cols.iter().enumerate() {
                        cells.push(match col {
                            $crate::store::sql::Col::Int => {
                                $crate::store::sql::Cell::Int(row.try_get::<Option<i64>, _>(i)?)
                            }
                            $crate::store::sql::Col::Text => {
                                $crate::store::sql::Cell::Text(row.try_get::<Option<String>, _>(i)?)
                            }
                        });
                    }
                    out.push(cells);
                }
                Ok(out)
            }
        }
    };
}
pub(crate) use impl_session;

/// The SQL each database spells its own way.
// A build with one store feature constructs one dialect; the schema's
// tests render both.
#[cfg_attr(not(all(feature = "sqlite", feature = "postgres")), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// What a backend provides to the shared core.
pub(crate) trait Driver: Debug + Send + Sync + 'static {
    /// The connection type statements run on.
    type Connection: Session;
    /// A connection for reads, returned to the pool when dropped.
    type Read: DerefMut<Target = Self::Connection> + Send;
    /// A write transaction, rolled back when dropped uncommitted.
    type Write: DerefMut<Target = Self::Connection> + Send;
    /// A read-only transaction, rolled back when dropped.
    type View: DerefMut<Target = Self::Connection> + Send;

    /// Which SQL to speak.
    const DIALECT: Dialect;
    /// Whether a commit's statements run as one text (SQLite), rather
    /// than one by one (PostgreSQL binds parameters to one statement).
    const BATCHES: bool;

    /// A pooled connection for reads.
    fn read(&self) -> impl Future<Output = Result<Self::Read, sqlx::Error>> + Send;
    /// Begins a write transaction (SQLite: `BEGIN IMMEDIATE`; PostgreSQL:
    /// at the configured isolation level).
    fn begin(&self) -> impl Future<Output = Result<Self::Write, sqlx::Error>> + Send;
    /// Commits a write transaction.
    fn commit(tx: Self::Write) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Rolls a write transaction back now (dropping one only queues the
    /// rollback, and SQLite's write lock would outlive this store's turn).
    fn rollback(tx: Self::Write) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// A read-only transaction over one consistent view, for snapshots.
    fn begin_view(&self) -> impl Future<Output = Result<Self::View, sqlx::Error>> + Send;
    /// Which [`StoreErrorKind`] an error of this database is.
    fn classify(err: &sqlx::Error) -> StoreErrorKind;
    /// Whether the error only says that two transactions met
    /// (serialization failure, deadlock), so the same plan may simply run
    /// again.
    fn is_transient(err: &sqlx::Error) -> bool;
}

/// A driver error as a [`StoreError`], classified by the backend, with
/// what was being done.
pub(crate) fn store_error<D: Driver>(doing: &str, err: sqlx::Error) -> StoreError {
    let kind = D::classify(&err);
    StoreError::new(kind, format!("{doing}: {err}")).with_source(err)
}

/// How the driver errors every backend shares are classified; backends
/// classify their own database error codes first.
pub(crate) fn classify_common(err: &sqlx::Error) -> StoreErrorKind {
    use sqlx::Error as E;
    match err {
        // Unique constraints guard insert-only keys and primary codes.
        E::Database(db) if db.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            StoreErrorKind::Conflict
        }
        // The server or the pool could not be reached, or the connection
        // broke: the outcome of a commit in flight is unknown. (Protocol
        // errors are also sqlx's word for mistakes that never go away, so
        // they are final.)
        E::Io(_) | E::PoolTimedOut | E::WorkerCrashed | E::Tls(_) => StoreErrorKind::Unavailable,
        _ => StoreErrorKind::Backend,
    }
}

/// A time as the two integer columns the schema keeps (`*_s`, `*_ns`):
/// seconds since the epoch and nanoseconds into the second. Exact for every
/// `DateTime<Utc>`, and ordered by the pair as times are.
pub(crate) fn time_cols(t: DateTime<Utc>) -> (i64, i64) {
    (t.timestamp(), i64::from(t.timestamp_subsec_nanos()))
}

/// The time two integer columns hold, or an error naming them: the
/// inverse of [`time_cols`].
pub(crate) fn time_from_cols(s: i64, ns: i64, what: &str) -> StoreResult<DateTime<Utc>> {
    u32::try_from(ns)
        .ok()
        .and_then(|ns| DateTime::from_timestamp(s, ns))
        .ok_or_else(|| {
            StoreError::new(
                StoreErrorKind::Backend,
                format!("{what}: ({s} s, {ns} ns) in the database is not a time"),
            )
        })
}

/// The (seconds, nanoseconds) pair of an optional time, as two args.
pub(crate) fn opt_time_args(t: Option<DateTime<Utc>>) -> [Arg; 2] {
    match t.map(time_cols) {
        Some((s, ns)) => [Arg::from(s), Arg::from(ns)],
        None => [Arg::Int(None), Arg::Int(None)],
    }
}

/// A customer's columns besides its key and record: the referrer and the
/// signup time [`Store::recent_referees`](crate::store::Store::recent_referees)
/// finds and orders them by. Written by every put and by the migration to
/// version 3, so both compute them alike.
pub(crate) fn customer_cols(record: &CustomerRecord) -> [Arg; 3] {
    let (s, ns) = time_cols(record.signed_up_at);
    [
        record
            .referral
            .as_ref()
            .map(|r| r.referrer.as_str().to_owned())
            .into(),
        s.into(),
        ns.into(),
    ]
}

/// The columns of a conversion reads filter and order on: its referrer of
/// record ([`Store::referred_conversions`](crate::store::Store::referred_conversions)),
/// its buyer ([`Store::customer_conversions`](crate::store::Store::customer_conversions))
/// and its time. Written by every put and by the migration to version 4,
/// so both compute them alike.
pub(crate) fn conversion_cols(record: &ConversionRecord) -> [Arg; 4] {
    let (s, ns) = time_cols(record.conversion.at);
    [
        record
            .referrer
            .as_ref()
            .map(|r| r.as_str().to_owned())
            .into(),
        record.conversion.customer.as_str().into(),
        s.into(),
        ns.into(),
    ]
}

/// A reward's place in the review queue ([`Reward::review_due`]), as its
/// two columns; written by every put and by the migration to version 3.
pub(crate) fn review_cols(record: &Reward) -> [Arg; 2] {
    opt_time_args(record.review_due())
}

/// A record as the JSON text kept in its `record` column.
pub(crate) fn to_json<T: Serialize>(what: &str, value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| {
        StoreError::new(
            StoreErrorKind::Backend,
            format!("{what} could not be written as JSON: {e}"),
        )
    })
}

/// A record from its `record` column.
pub(crate) fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::new(
            StoreErrorKind::Backend,
            format!("{what} in the database is not a record this crate can read: {e}"),
        )
    })
}

/// A column's integer, or an error naming the column.
pub(crate) fn int(row: &Row, i: usize, what: &str) -> StoreResult<i64> {
    match row.get(i) {
        Some(Cell::Int(Some(v))) => Ok(*v),
        _ => Err(StoreError::new(
            StoreErrorKind::Backend,
            format!("{what}: column {i} is not an integer"),
        )),
    }
}

/// A column's text, or an error naming the column.
pub(crate) fn text<'r>(row: &'r Row, i: usize, what: &str) -> StoreResult<&'r str> {
    match row.get(i) {
        Some(Cell::Text(Some(v))) => Ok(v),
        _ => Err(StoreError::new(
            StoreErrorKind::Backend,
            format!("{what}: column {i} is not text"),
        )),
    }
}

/// A column's customer id, or an error naming the column or the id's fault.
pub(crate) fn customer_col(row: &Row, i: usize, what: &str) -> StoreResult<CustomerId> {
    CustomerId::new(text(row, i, what)?).map_err(|e| {
        StoreError::new(
            StoreErrorKind::Backend,
            format!("{what}: a customer id in the database: {e}"),
        )
    })
}

/// A version column as the `u64` the contract uses.
pub(crate) fn version(row: &Row, i: usize, what: &str) -> StoreResult<u64> {
    u64::try_from(int(row, i, what)?).map_err(|_| {
        StoreError::new(
            StoreErrorKind::Backend,
            format!("{what}: a negative version in the database"),
        )
    })
}

/// A version as the column's `i64`. Versions count commits, so they never
/// pass `i64::MAX`; one that would is refused rather than wrapped.
pub(crate) fn version_arg(v: u64, what: &str) -> StoreResult<Arg> {
    i64::try_from(v).map(Arg::from).map_err(|_| {
        StoreError::new(
            StoreErrorKind::Backend,
            format!("{what}: version {v} does not fit the database's 64-bit column"),
        )
    })
}

/// The shared core over one backend: what both durable stores are.
#[derive(Debug)]
pub(crate) struct Core<D: Driver> {
    pub(crate) driver: D,
}

/// Implements [`Store`](crate::store::Store) for a durable store type by
/// forwarding every method to its `core` field, with the lint that makes
/// a forgotten method a compile error.
macro_rules! store_via_core {
    ($ty:ty) => {
        #[deny(clippy::missing_trait_methods)]
        impl $crate::store::Store for $ty {
            fn idempotency(
                &self,
                program: &ProgramId,
                key: &IdempotencyKey,
            ) -> impl Future<Output = StoreResult<Option<IdempotencyRecord>>> + Send {
                self.core.idempotency(program, key)
            }
            fn code(
                &self,
                program: &ProgramId,
                code: &Code,
            ) -> impl Future<Output = StoreResult<Option<Versioned<CodeRecord>>>> + Send {
                self.core.code(program, code)
            }
            fn primary_code(
                &self,
                program: &ProgramId,
                owner: &CustomerId,
            ) -> impl Future<Output = StoreResult<Option<Versioned<CodeRecord>>>> + Send {
                self.core.primary_code(program, owner)
            }
            fn customer(
                &self,
                program: &ProgramId,
                customer: &CustomerId,
            ) -> impl Future<Output = StoreResult<Option<Versioned<CustomerRecord>>>> + Send {
                self.core.customer(program, customer)
            }
            fn touches(
                &self,
                program: &ProgramId,
                actor: &Actor,
                since: DateTime<Utc>,
            ) -> impl Future<Output = StoreResult<Vec<TouchRecord>>> + Send {
                self.core.touches(program, actor, since)
            }
            fn conversion(
                &self,
                program: &ProgramId,
                order: &OrderId,
            ) -> impl Future<Output = StoreResult<Option<Versioned<ConversionRecord>>>> + Send {
                self.core.conversion(program, order)
            }
            fn ledger(
                &self,
                program: &ProgramId,
                customer: &CustomerId,
                after: Option<&LedgerCursor>,
                limit: usize,
            ) -> impl Future<Output = StoreResult<Vec<LedgerEntry>>> + Send {
                self.core.ledger(program, customer, after, limit)
            }
            fn balances(
                &self,
                program: &ProgramId,
                customer: &CustomerId,
            ) -> impl Future<Output = StoreResult<Vec<Balance>>> + Send {
                self.core.balances(program, customer)
            }
            fn reward(
                &self,
                program: &ProgramId,
                reward: &RewardId,
            ) -> impl Future<Output = StoreResult<Option<Versioned<Reward>>>> + Send {
                self.core.reward(program, reward)
            }
            fn referred_conversions(
                &self,
                program: &ProgramId,
                referrer: &CustomerId,
            ) -> impl Future<Output = StoreResult<Vec<ConversionRecord>>> + Send {
                self.core.referred_conversions(program, referrer)
            }
            fn customer_conversions(
                &self,
                program: &ProgramId,
                customer: &CustomerId,
            ) -> impl Future<Output = StoreResult<Vec<ConversionRecord>>> + Send {
                self.core.customer_conversions(program, customer)
            }
            fn assignment(
                &self,
                program: &ProgramId,
                experiment: &Label,
                customer: &CustomerId,
            ) -> impl Future<Output = StoreResult<Option<AssignmentRecord>>> + Send {
                self.core.assignment(program, experiment, customer)
            }
            fn outbox_item(
                &self,
                program: &ProgramId,
                id: &DeliveryId,
            ) -> impl Future<Output = StoreResult<Option<Versioned<OutboxItem>>>> + Send {
                self.core.outbox_item(program, id)
            }
            fn outbox_due(
                &self,
                program: &ProgramId,
                now: DateTime<Utc>,
                after: Option<&OutboxCursor>,
                limit: usize,
            ) -> impl Future<Output = StoreResult<Vec<Versioned<OutboxItem>>>> + Send {
                self.core.outbox_due(program, now, after, limit)
            }
            fn counter(&self, key: &CounterKey) -> impl Future<Output = StoreResult<i64>> + Send {
                self.core.counter(key)
            }
            fn identity(
                &self,
                program: &ProgramId,
                customer: &CustomerId,
            ) -> impl Future<Output = StoreResult<Option<Versioned<IdentityRecord>>>> + Send {
                self.core.identity(program, customer)
            }
            fn identity_matches(
                &self,
                program: &ProgramId,
                hash: &SignalHash,
                limit: usize,
            ) -> impl Future<Output = StoreResult<Vec<IdentityMatch>>> + Send {
                self.core.identity_matches(program, hash, limit)
            }
            fn stale_identities(
                &self,
                program: &ProgramId,
                before: DateTime<Utc>,
                limit: usize,
            ) -> impl Future<Output = StoreResult<Vec<Versioned<IdentityRecord>>>> + Send {
                self.core.stale_identities(program, before, limit)
            }
            fn recent_referees(
                &self,
                program: &ProgramId,
                referrer: &CustomerId,
                limit: usize,
            ) -> impl Future<Output = StoreResult<Vec<$crate::store::ReferredCustomer>>> + Send
            {
                self.core.recent_referees(program, referrer, limit)
            }
            fn due_rewards(
                &self,
                program: &ProgramId,
                due: Due,
                before: DateTime<Utc>,
                after: Option<&RewardCursor>,
                limit: usize,
            ) -> impl Future<Output = StoreResult<Vec<Versioned<Reward>>>> + Send {
                self.core.due_rewards(program, due, before, after, limit)
            }
            fn commit(&self, plan: CommitPlan) -> impl Future<Output = StoreResult<()>> + Send {
                self.core.commit(plan)
            }
        }
    };
}
pub(crate) use store_via_core;

/// Creates or migrates the schema in one write transaction, retrying a
/// conflict with another process opening the same database at once.
pub(crate) async fn open_schema<D: Driver>(driver: &D) -> StoreResult<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = async {
            let mut tx = driver
                .begin()
                .await
                .map_err(|e| store_error::<D>("opening the schema", e))?;
            match schema::bring_up(&mut *tx, D::DIALECT).await {
                Ok(Ok(_)) => D::commit(tx)
                    .await
                    .map_err(|e| store_error::<D>("committing the schema", e)),
                // Dropping `tx` rolls back: a refused database is untouched.
                Ok(Err(refused)) => Err(StoreError::new(
                    StoreErrorKind::Backend,
                    refused.to_string(),
                )),
                Err(e) => Err(store_error::<D>("creating or migrating the schema", e)),
            }
        }
        .await;
        match result {
            Err(e) if e.kind() == StoreErrorKind::Conflict && attempt < 3 => continue,
            // Still racing other openers: try opening again later.
            Err(e) if e.kind() == StoreErrorKind::Conflict => {
                return Err(StoreError::new(
                    StoreErrorKind::Unavailable,
                    e.message().to_owned(),
                ));
            }
            other => return other,
        }
    }
}

//! The durable stores' schema, and how a database is brought to it.
//!
//! One template serves both databases: `{text}` is an id column compared
//! byte by byte (SQLite's default `BINARY` collation; PostgreSQL's
//! `COLLATE "C"`), `{int}` a 64-bit integer. Times are two integer columns,
//! `*_s` (seconds since 1970-01-01 UTC) and `*_ns` (nanoseconds into that
//! second): exact for every time the crate accepts, and ordered as the
//! times are. `record` columns hold the whole record as JSON text (what
//! the crate reads back); the other columns are the ones reads filter,
//! order or join on, kept in step by every write.
//!
//! The version the database holds is the crate's
//! [`SCHEMA_VERSION`]; `referrals_schema` records each migration.
//!
//! A new database gets version 2's tables and then every migration, the
//! same steps an old database takes: a fresh and a migrated database
//! cannot differ. A migration is a list of [`Step`]s: statements of the
//! template, and backfills that compute new columns from the records
//! already stored, in Rust, with the helpers every write uses (times in
//! the JSON have nanoseconds that neither database's time functions
//! keep). A backfill reads only the rows that may need a value, chosen by
//! a test of the JSON in each dialect's own spelling ([`Spelled`]).

use std::fmt;

use super::{
    Arg, Col, Dialect, Row, Session, conversion_cols, customer_cols, from_json, int, review_cols,
    text,
};
use crate::store::{ConversionRecord, CustomerRecord, Reward, SCHEMA_VERSION, StoreResult};

/// The first schema version a durable store ever wrote. Earlier versions
/// of [`SCHEMA_VERSION`] existed only in memory.
pub(crate) const FIRST_DURABLE_VERSION: u32 = 2;

/// The tables and indexes of schema version 2, before dialect substitution.
const SCHEMA_V2: &[&str] = &[
    "CREATE TABLE referrals_idempotency (
        program {text} NOT NULL, kind {text} NOT NULL, event_id {text} NOT NULL,
        record {json} NOT NULL,
        PRIMARY KEY (program, kind, event_id))",
    "CREATE TABLE referrals_codes (
        program {text} NOT NULL, code {text} NOT NULL, owner {text} NOT NULL,
        is_primary {int} NOT NULL, version {int} NOT NULL, record {json} NOT NULL,
        PRIMARY KEY (program, code))",
    // At most one primary code per owner: the database refuses a second.
    "CREATE UNIQUE INDEX referrals_codes_primary
        ON referrals_codes (program, owner) WHERE is_primary = 1",
    "CREATE TABLE referrals_customers (
        program {text} NOT NULL, customer {text} NOT NULL,
        version {int} NOT NULL, record {json} NOT NULL,
        PRIMARY KEY (program, customer))",
    "CREATE TABLE referrals_touches (
        program {text} NOT NULL, touch_id {text} NOT NULL,
        actor_kind {text} NOT NULL, actor {text} NOT NULL, referrer {text} NOT NULL,
        at_s {int} NOT NULL, at_ns {int} NOT NULL, record {json} NOT NULL,
        PRIMARY KEY (program, touch_id))",
    "CREATE INDEX referrals_touches_by_actor
        ON referrals_touches (program, actor_kind, actor, at_s, at_ns, touch_id)",
    "CREATE TABLE referrals_conversions (
        program {text} NOT NULL, order_id {text} NOT NULL, referrer {text},
        at_s {int} NOT NULL, at_ns {int} NOT NULL,
        version {int} NOT NULL, record {json} NOT NULL,
        PRIMARY KEY (program, order_id))",
    "CREATE INDEX referrals_conversions_by_referrer
        ON referrals_conversions (program, referrer, at_s, at_ns, order_id)
        WHERE referrer IS NOT NULL",
    "CREATE TABLE referrals_ledger (
        program {text} NOT NULL, entry_id {text} NOT NULL, customer {text} NOT NULL,
        reward_id {text} NOT NULL, kind {text} NOT NULL, unit {text} NOT NULL,
        quantity {int} NOT NULL, at_s {int} NOT NULL, at_ns {int} NOT NULL,
        record {json} NOT NULL,
        PRIMARY KEY (program, entry_id))",
    "CREATE INDEX referrals_ledger_by_customer
        ON referrals_ledger (program, customer, at_s, at_ns, entry_id)",
    "CREATE TABLE referrals_balances (
        program {text} NOT NULL, customer {text} NOT NULL, unit {text} NOT NULL,
        pending {int} NOT NULL, available {int} NOT NULL,
        redeemed {int} NOT NULL, owed {int} NOT NULL,
        PRIMARY KEY (program, customer, unit))",
    "CREATE TABLE referrals_rewards (
        program {text} NOT NULL, reward_id {text} NOT NULL, customer {text} NOT NULL,
        hold_due_s {int}, hold_due_ns {int}, expiry_due_s {int}, expiry_due_ns {int},
        version {int} NOT NULL, record {json} NOT NULL,
        PRIMARY KEY (program, reward_id))",
    "CREATE INDEX referrals_rewards_hold_due
        ON referrals_rewards (program, hold_due_s, hold_due_ns, reward_id)
        WHERE hold_due_s IS NOT NULL",
    "CREATE INDEX referrals_rewards_expiry_due
        ON referrals_rewards (program, expiry_due_s, expiry_due_ns, reward_id)
        WHERE expiry_due_s IS NOT NULL",
    "CREATE TABLE referrals_outbox (
        program {text} NOT NULL, item_id {text} NOT NULL,
        claimable_s {int}, claimable_ns {int},
        version {int} NOT NULL, record {json} NOT NULL,
        PRIMARY KEY (program, item_id))",
    "CREATE INDEX referrals_outbox_due
        ON referrals_outbox (program, claimable_s, claimable_ns, item_id)
        WHERE claimable_s IS NOT NULL",
    "CREATE TABLE referrals_assignments (
        program {text} NOT NULL, experiment {text} NOT NULL, customer {text} NOT NULL,
        variant {text} NOT NULL, record {json} NOT NULL,
        PRIMARY KEY (program, experiment, customer))",
    "CREATE TABLE referrals_counters (
        scope_kind {text} NOT NULL, scope {text} NOT NULL, name {text} NOT NULL,
        used {int} NOT NULL,
        PRIMARY KEY (scope_kind, scope, name))",
];

/// One step of a migration.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// A statement of the template, the same in both dialects.
    Sql(&'static str),
    /// New columns of existing rows, computed from their records.
    Backfill(&'static Backfill),
}

/// New columns of a table's existing rows, computed in Rust from each
/// row's `record` by the function every write uses, so a migrated row
/// holds what a new write would have written. Rows are read a page at a
/// time in key order and updated a page per statement.
#[derive(Debug)]
struct Backfill {
    table: &'static str,
    /// The primary key's two columns.
    key: [&'static str; 2],
    /// Which rows may need a value, per dialect (a cheap test of the JSON
    /// in SQL, so that only those are read and parsed); rows it leaves out
    /// keep nulls. Must never leave out a row that needs one.
    only: Spelled,
    /// The columns `compute` gives values for, in order.
    columns: &'static [&'static str],
    /// The columns' values from a row's record.
    compute: fn(&str) -> StoreResult<Vec<Arg>>,
}

/// A condition as each dialect spells it.
#[derive(Debug, Clone, Copy)]
struct Spelled {
    sqlite: &'static str,
    postgres: &'static str,
}

impl Spelled {
    fn get(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

/// Rows read (and updated) per statement by a backfill: bounded memory
/// whatever the table's size, and few enough parameters for either
/// database.
const BACKFILL_PAGE: usize = 500;

/// Every customer: the referrer and signup time of each
/// ([`customer_cols`]).
const BACKFILL_CUSTOMERS: Backfill = Backfill {
    table: "referrals_customers",
    key: ["program", "customer"],
    only: Spelled {
        sqlite: "TRUE",
        postgres: "TRUE",
    },
    columns: &["referrer", "signed_up_s", "signed_up_ns"],
    compute: |json| {
        let record: CustomerRecord = from_json("a customer", json)?;
        Ok(customer_cols(&record).into())
    },
};

/// Rewards held for review: their place in the review queue
/// ([`review_cols`]). `hold` is `{"review": {…}}` for a review hold and
/// `"hold_period"` or null otherwise; whether some is pending is left to
/// [`Reward::review_due`].
const BACKFILL_REVIEWS: Backfill = Backfill {
    table: "referrals_rewards",
    key: ["program", "reward_id"],
    only: Spelled {
        sqlite: "json_extract(record, '$.hold.review') IS NOT NULL",
        postgres: "(CAST(record AS jsonb) -> 'hold' -> 'review') IS NOT NULL",
    },
    columns: &["review_due_s", "review_due_ns"],
    compute: |json| {
        let record: Reward = from_json("a reward", json)?;
        Ok(review_cols(&record).into())
    },
};

/// Version 2 to 3: identity records and their hash index; customers by
/// referrer; rewards held for review by when they were earned.
const V2_TO_V3: &[Step] = &[
    Step::Sql(
        "CREATE TABLE referrals_identities (
        program {text} NOT NULL, customer {text} NOT NULL,
        oldest_s {int}, oldest_ns {int},
        version {int} NOT NULL, record {json} NOT NULL,
        PRIMARY KEY (program, customer))",
    ),
    // Retention: records by their oldest signal.
    Step::Sql(
        "CREATE INDEX referrals_identities_by_age
        ON referrals_identities (program, oldest_s, oldest_ns, customer)
        WHERE oldest_s IS NOT NULL",
    ),
    // One row per (customer, hash). Keyed by customer first: a write
    // replaces all of one customer's rows.
    Step::Sql(
        "CREATE TABLE referrals_identity_hashes (
        program {text} NOT NULL, customer {text} NOT NULL,
        kind {text} NOT NULL, key_id {int} NOT NULL, digest {text} NOT NULL,
        first_seen_s {int} NOT NULL, first_seen_ns {int} NOT NULL,
        PRIMARY KEY (program, customer, kind, key_id, digest))",
    ),
    // `identity_matches`: one hash's customers, the latest first seen
    // first, read in index order.
    Step::Sql(
        "CREATE INDEX referrals_identity_hashes_matches
        ON referrals_identity_hashes
          (program, kind, key_id, digest, first_seen_s DESC, first_seen_ns DESC, customer)",
    ),
    Step::Sql("ALTER TABLE referrals_customers ADD COLUMN referrer {text}"),
    Step::Sql("ALTER TABLE referrals_customers ADD COLUMN signed_up_s {int}"),
    Step::Sql("ALTER TABLE referrals_customers ADD COLUMN signed_up_ns {int}"),
    Step::Backfill(&BACKFILL_CUSTOMERS),
    // `recent_referees`: a referrer's referees, the latest first.
    Step::Sql(
        "CREATE INDEX referrals_customers_by_referrer
        ON referrals_customers (program, referrer, signed_up_s DESC, signed_up_ns DESC, customer)
        WHERE referrer IS NOT NULL",
    ),
    Step::Sql("ALTER TABLE referrals_rewards ADD COLUMN review_due_s {int}"),
    Step::Sql("ALTER TABLE referrals_rewards ADD COLUMN review_due_ns {int}"),
    Step::Backfill(&BACKFILL_REVIEWS),
    Step::Sql(
        "CREATE INDEX referrals_rewards_review_due
        ON referrals_rewards (program, review_due_s, review_due_ns, reward_id)
        WHERE review_due_s IS NOT NULL",
    ),
];

/// Every conversion: its buyer, with the referrer and time a new write
/// puts beside it ([`conversion_cols`]).
const BACKFILL_CONVERSIONS: Backfill = Backfill {
    table: "referrals_conversions",
    key: ["program", "order_id"],
    only: Spelled {
        sqlite: "TRUE",
        postgres: "TRUE",
    },
    columns: &["referrer", "customer", "at_s", "at_ns"],
    compute: |json| {
        let record: ConversionRecord = from_json("a conversion", json)?;
        Ok(conversion_cols(&record).into())
    },
};

/// Version 3 to 4: conversions by buyer.
const V3_TO_V4: &[Step] = &[
    Step::Sql("ALTER TABLE referrals_conversions ADD COLUMN customer {text}"),
    Step::Backfill(&BACKFILL_CONVERSIONS),
    // `customer_conversions`: a buyer's orders, in time order.
    Step::Sql(
        "CREATE INDEX referrals_conversions_by_customer
        ON referrals_conversions (program, customer, at_s, at_ns, order_id)",
    ),
];

/// Forward migrations: `MIGRATIONS[i]` takes a database from version
/// `FIRST_DURABLE_VERSION + i` to the next, in the opening transaction.
const MIGRATIONS: &[&[Step]] = &[V2_TO_V3, V3_TO_V4];

/// A statement of the template in `dialect`.
pub(crate) fn render(dialect: Dialect, template: &str) -> String {
    let (text, int, json) = match dialect {
        Dialect::Sqlite => ("TEXT", "INTEGER", "TEXT"),
        Dialect::Postgres => ("TEXT COLLATE \"C\"", "BIGINT", "TEXT"),
    };
    template
        .replace("{text}", text)
        .replace("{int}", int)
        .replace("{json}", json)
}

/// Why a database could not be brought to the crate's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SchemaError {
    /// The database was written by a newer crate: refused, not touched.
    Newer { found: u32 },
    /// The database holds a version no durable store wrote.
    Unknown { found: u32 },
    /// `referrals_schema` exists but holds no version this crate can read.
    Unreadable { found: String },
    /// A migration could not read a record it computes columns from.
    Backfill { message: String },
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaError::Newer { found } => write!(
                f,
                "the database holds referrals schema version {found}, newer than this \
                 crate's {SCHEMA_VERSION}; it was left untouched (upgrade the referrals crate)"
            ),
            SchemaError::Unreadable { found } => write!(
                f,
                "the database's referrals_schema table holds {found}, not a schema version; \
                 it was left untouched"
            ),
            SchemaError::Backfill { message } => write!(
                f,
                "migrating the database to referrals schema version {SCHEMA_VERSION}: {message}; \
                 it was left untouched"
            ),
            SchemaError::Unknown { found } => write!(
                f,
                "the database holds referrals schema version {found}, which no durable \
                 store wrote (the first was {FIRST_DURABLE_VERSION}); it was left untouched"
            ),
        }
    }
}

/// What opening did to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Opened {
    Created,
    Current,
    Migrated { from: u32 },
}

/// Brings the database in `tx` (a write transaction) to
/// [`SCHEMA_VERSION`]: creates it when empty, migrates it forward from an
/// older version, and refuses a newer or unknown one. The caller commits
/// on `Ok(Ok(_))` and rolls back otherwise.
pub(crate) async fn bring_up<S: Session>(
    tx: &mut S,
    dialect: Dialect,
) -> Result<Result<Opened, SchemaError>, sqlx::Error> {
    // Look before creating: a role with only data rights (PostgreSQL 15
    // gives ordinary roles no CREATE on `public`) can open a database
    // whose schema is current.
    let exists = match dialect {
        Dialect::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'referrals_schema'"
        }
        Dialect::Postgres => {
            "SELECT COUNT(*) FROM (SELECT to_regclass('referrals_schema') AS t) AS r WHERE t IS NOT NULL"
        }
    };
    let rows = tx.rows(exists, Vec::new(), &[Col::Int]).await?;
    let found = if rows.first().and_then(|r| int(r, 0, "schema table").ok()) == Some(0) {
        tx.run(
            &render(
                dialect,
                "CREATE TABLE referrals_schema (
                    version {int} NOT NULL PRIMARY KEY, migrated_at_s {int} NOT NULL)",
            ),
            Vec::new(),
        )
        .await?;
        None
    } else {
        let rows = tx
            .rows(
                "SELECT MAX(version) FROM referrals_schema",
                Vec::new(),
                &[Col::Int],
            )
            .await?;
        match rows.first().map(|r| r.first()) {
            Some(Some(super::Cell::Int(Some(v)))) => match u32::try_from(*v) {
                Ok(v) => Some(v),
                Err(_) => {
                    return Ok(Err(SchemaError::Unreadable {
                        found: v.to_string(),
                    }));
                }
            },
            // The table exists but records no version: a failed creation
            // by something else; not ours to build on.
            _ => {
                return Ok(Err(SchemaError::Unreadable {
                    found: "no version".to_owned(),
                }));
            }
        }
    };
    let opened = match found {
        None => {
            // Version 2's tables and every migration since (on empty
            // tables): the same schema an old database migrates to.
            for statement in SCHEMA_V2 {
                tx.run(&render(dialect, statement), Vec::new()).await?;
            }
            for migration in MIGRATIONS {
                if let Err(refused) = migrate(tx, dialect, migration).await? {
                    return Ok(Err(refused));
                }
            }
            record_version(tx, dialect, SCHEMA_VERSION).await?;
            Opened::Created
        }
        Some(v) if v == SCHEMA_VERSION => Opened::Current,
        Some(v) if v > SCHEMA_VERSION => return Ok(Err(SchemaError::Newer { found: v })),
        Some(v) if v < FIRST_DURABLE_VERSION => return Ok(Err(SchemaError::Unknown { found: v })),
        Some(v) => {
            let from = (v - FIRST_DURABLE_VERSION) as usize;
            for (migration, to) in MIGRATIONS
                .iter()
                .zip(FIRST_DURABLE_VERSION + 1..)
                .skip(from)
            {
                if let Err(refused) = migrate(tx, dialect, migration).await? {
                    return Ok(Err(refused));
                }
                record_version(tx, dialect, to).await?;
            }
            Opened::Migrated { from: v }
        }
    };
    Ok(Ok(opened))
}

/// Records in `referrals_schema` that the database reached `version`.
async fn record_version<S: Session>(
    tx: &mut S,
    dialect: Dialect,
    version: u32,
) -> Result<(), sqlx::Error> {
    // The database's clock, for people reading the table: the crate reads
    // none (time arrives with each event), and nothing decides by this.
    let now = match dialect {
        Dialect::Sqlite => "CAST(strftime('%s', 'now') AS INTEGER)",
        Dialect::Postgres => "CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)",
    };
    tx.run(
        &format!("INSERT INTO referrals_schema (version, migrated_at_s) VALUES ($1, {now})"),
        vec![Arg::from(i64::from(version))],
    )
    .await?;
    Ok(())
}

/// Runs one migration's steps in `tx`.
async fn migrate<S: Session>(
    tx: &mut S,
    dialect: Dialect,
    steps: &[Step],
) -> Result<Result<(), SchemaError>, sqlx::Error> {
    for step in steps {
        match step {
            Step::Sql(statement) => {
                tx.run(&render(dialect, statement), Vec::new()).await?;
            }
            Step::Backfill(backfill) => {
                if let Err(refused) = run_backfill(tx, dialect, backfill).await? {
                    return Ok(Err(refused));
                }
            }
        }
    }
    Ok(Ok(()))
}

/// The statements a backfill runs: the first page, the next pages (after
/// the key `$1, $2`), and the update of `rows` rows.
fn backfill_sql(b: &Backfill, dialect: Dialect, rows: usize) -> [String; 3] {
    let [k1, k2] = b.key;
    let (table, only) = (b.table, b.only.get(dialect));
    let first =
        format!("SELECT {k1}, {k2}, record FROM {table} WHERE {only} ORDER BY {k1}, {k2} LIMIT $1");
    let next = format!(
        "SELECT {k1}, {k2}, record FROM {table} WHERE ({k1}, {k2}) > ($1, $2) AND {only}
         ORDER BY {k1}, {k2} LIMIT $3"
    );
    // One statement per page: `VALUES` rows named column1, column2, … in
    // both databases, joined to the table on its key.
    let width = 2 + b.columns.len();
    let values: Vec<String> = (0..rows)
        .map(|r| {
            let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let set: Vec<String> = b
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c} = v.column{}", i + 3))
        .collect();
    let update = format!(
        "UPDATE {table} SET {} FROM (VALUES {}) AS v
         WHERE {table}.{k1} = v.column1 AND {table}.{k2} = v.column2",
        set.join(", "),
        values.join(", ")
    );
    [first, next, update]
}

/// Computes and writes a backfill's columns for every row it selects.
async fn run_backfill<S: Session>(
    tx: &mut S,
    dialect: Dialect,
    b: &Backfill,
) -> Result<Result<(), SchemaError>, sqlx::Error> {
    let [first, next, _] = backfill_sql(b, dialect, 0);
    let page = Arg::from(BACKFILL_PAGE as i64);
    let cols: &[Col] = &[Col::Text, Col::Text, Col::Text];
    let mut after: Option<(String, String)> = None;
    loop {
        let rows = match &after {
            None => tx.rows(&first, vec![page.clone()], cols).await?,
            Some((k1, k2)) => {
                let args = vec![k1.as_str().into(), k2.as_str().into(), page.clone()];
                tx.rows(&next, args, cols).await?
            }
        };
        if rows.is_empty() {
            return Ok(Ok(()));
        }
        let mut args = Vec::with_capacity(rows.len() * (2 + b.columns.len()));
        let mut last = None;
        for row in &rows {
            match backfill_row(b, row) {
                Ok((key, values)) => {
                    args.extend([key.0.as_str().into(), key.1.as_str().into()]);
                    args.extend(values);
                    last = Some(key);
                }
                Err(e) => {
                    return Ok(Err(SchemaError::Backfill {
                        message: format!("{}: {}", b.table, e.message()),
                    }));
                }
            }
        }
        let [_, _, update] = backfill_sql(b, dialect, rows.len());
        tx.run(&update, args).await?;
        if rows.len() < BACKFILL_PAGE {
            return Ok(Ok(()));
        }
        after = last;
    }
}

/// One row's key and computed columns.
fn backfill_row(b: &Backfill, row: &Row) -> StoreResult<((String, String), Vec<Arg>)> {
    let key = (
        text(row, 0, b.table)?.to_owned(),
        text(row, 1, b.table)?.to_owned(),
    );
    let values = (b.compute)(text(row, 2, b.table)?)?;
    Ok((key, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_rendered_in_both_dialects() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let steps = MIGRATIONS.iter().flat_map(|m| m.iter());
            let texts = SCHEMA_V2.iter().copied().chain(steps.flat_map(|s| match s {
                Step::Sql(sql) => vec![*sql],
                Step::Backfill(_) => Vec::new(),
            }));
            for statement in texts {
                let sql = render(dialect, statement);
                assert!(!sql.contains('{'), "{dialect:?}: {sql}");
            }
        }
    }

    #[test]
    fn a_backfill_updates_a_page_with_one_statement() {
        let [first, next, update] = backfill_sql(&BACKFILL_REVIEWS, Dialect::Sqlite, 2);
        assert!(first.contains("LIMIT $1"), "{first}");
        assert!(
            next.contains("> ($1, $2)") && next.contains("LIMIT $3"),
            "{next}"
        );
        assert!(
            update.contains("VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)"),
            "{update}"
        );
        assert!(
            update.contains("review_due_s = v.column3, review_due_ns = v.column4"),
            "{update}"
        );
    }

    #[test]
    fn migrations_lead_exactly_to_the_crate_version() {
        assert_eq!(
            FIRST_DURABLE_VERSION as usize + MIGRATIONS.len(),
            SCHEMA_VERSION as usize
        );
    }
}

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

use std::fmt;

use super::{Arg, Col, Dialect, Session, int};
use crate::store::SCHEMA_VERSION;

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

/// Forward migrations: `MIGRATIONS[i]` takes a database from version
/// `FIRST_DURABLE_VERSION + i` to the next, in the opening transaction.
/// Empty while version 2 is the only durable version.
const MIGRATIONS: &[&[&str]] = &[];

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
            for statement in SCHEMA_V2 {
                tx.run(&render(dialect, statement), Vec::new()).await?;
            }
            Opened::Created
        }
        Some(v) if v == SCHEMA_VERSION => return Ok(Ok(Opened::Current)),
        Some(v) if v > SCHEMA_VERSION => return Ok(Err(SchemaError::Newer { found: v })),
        Some(v) if v < FIRST_DURABLE_VERSION => return Ok(Err(SchemaError::Unknown { found: v })),
        Some(v) => {
            let from = (v - FIRST_DURABLE_VERSION) as usize;
            for step in MIGRATIONS.iter().skip(from) {
                for statement in *step {
                    tx.run(&render(dialect, statement), Vec::new()).await?;
                }
            }
            Opened::Migrated { from: v }
        }
    };
    // The database's clock, for people reading the table: the crate reads
    // none (time arrives with each event), and nothing decides by this.
    let now = match dialect {
        Dialect::Sqlite => "CAST(strftime('%s', 'now') AS INTEGER)",
        Dialect::Postgres => "CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)",
    };
    tx.run(
        &format!("INSERT INTO referrals_schema (version, migrated_at_s) VALUES ($1, {now})"),
        vec![Arg::from(i64::from(SCHEMA_VERSION))],
    )
    .await?;
    Ok(Ok(opened))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_rendered_in_both_dialects() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for statement in SCHEMA_V2
                .iter()
                .chain(MIGRATIONS.iter().flat_map(|m| m.iter()))
            {
                let sql = render(dialect, statement);
                assert!(!sql.contains('{'), "{dialect:?}: {sql}");
            }
        }
    }

    #[test]
    fn migrations_lead_exactly_to_the_crate_version() {
        assert_eq!(
            FIRST_DURABLE_VERSION as usize + MIGRATIONS.len(),
            SCHEMA_VERSION as usize
        );
    }
}

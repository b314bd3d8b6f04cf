//! The migration from schema 2 to 3 on both databases: a database of the
//! schema-2 fixture (`tests/fixtures/sqlite-schema-2.sql`), with rows a
//! version-2 crate would have written beside it (a second referee, rewards
//! held for review or not), opens at version 3 with the new columns filled
//! from the records: its referees and its review queue are listed, as the
//! records say. A migration that cannot read a record leaves the database
//! as it was.

use chrono::{DateTime, TimeZone, Utc};
use referrals::ledger::HoldReason;
use referrals::model::ProgramId;
use referrals::store::{CustomerRecord, Due, MemoryState, Reward, SCHEMA_VERSION};

use super::identity::{Durable, cid, customer, pid, review, review_pages, reward};

pub const FIXTURE_V2: &str = include_str!("../fixtures/sqlite-schema-2.sql");

fn program() -> ProgramId {
    pid("fixture")
}

fn at(h: u32, m: u32, s: u32, ns: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, h, m, s).unwrap() + chrono::TimeDelta::nanoseconds(ns.into())
}

/// A text as an SQL string literal.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A time as its two columns' SQL values, or two nulls.
fn time_sql(t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => format!("{}, {}", t.timestamp(), t.timestamp_subsec_nanos()),
        None => "NULL, NULL".to_owned(),
    }
}

/// The customers a version-2 crate kept beside the fixture's: Chadi,
/// referred by Amira after Badr (a time with nanoseconds), and Dina, who
/// came by herself.
fn customers() -> Vec<CustomerRecord> {
    vec![
        customer("fixture", "chadi", Some("amira"), at(9, 30, 0, 123_456_789)),
        customer("fixture", "dina", None, at(11, 0, 0, 0)),
    ]
}

/// The rewards a version-2 crate kept beside the fixture's: two held for
/// review with some pending (the later earned first in key order, to show
/// the queue is by time), one reviewed and paid, one on a hold period, one
/// with an apostrophe in its note.
fn rewards() -> Vec<Reward> {
    vec![
        reward(
            "fixture",
            "rw_review_a",
            at(10, 0, 5, 500),
            1_500,
            review("late"),
        ),
        reward(
            "fixture",
            "rw_review_b",
            at(9, 45, 0, 1),
            700,
            review("Amira's friend"),
        ),
        reward(
            "fixture",
            "rw_reviewed",
            at(9, 0, 0, 0),
            0,
            review("approved"),
        ),
        reward(
            "fixture",
            "rw_held",
            at(9, 0, 0, 0),
            1_500,
            Some(HoldReason::HoldPeriod),
        ),
    ]
}

/// The fixture and the rows above, as SQL both databases run: the
/// columns a version-2 crate wrote, nothing of version 3.
pub fn v2_database(postgres: bool) -> String {
    let mut sql = String::new();
    for line in FIXTURE_V2.lines() {
        // PostgreSQL: 64-bit integers and byte-wise ids, as the store's
        // own tables there have (the data lines hold neither word).
        if postgres && !line.starts_with("INSERT") {
            sql.push_str(
                &line
                    .replace("INTEGER", "BIGINT")
                    .replace("TEXT", "TEXT COLLATE \"C\"")
                    .replace("BEGIN TRANSACTION;", "BEGIN;"),
            );
        } else {
            sql.push_str(line);
        }
        sql.push('\n');
    }
    let mut rows = String::new();
    for c in customers() {
        rows.push_str(&format!(
            "INSERT INTO referrals_customers (program, customer, version, record) \
             VALUES ('fixture', {}, 1, {});\n",
            quoted(c.customer.as_str()),
            quoted(&serde_json::to_string(&c).unwrap()),
        ));
    }
    for r in rewards() {
        rows.push_str(&format!(
            "INSERT INTO referrals_rewards (program, reward_id, customer, hold_due_s, hold_due_ns, \
             expiry_due_s, expiry_due_ns, version, record) \
             VALUES ('fixture', {}, {}, {}, {}, 1, {});\n",
            quoted(r.id.as_str()),
            quoted(r.customer.as_str()),
            time_sql(r.hold_due()),
            time_sql(r.expiry_due()),
            quoted(&serde_json::to_string(&r).unwrap()),
        ));
    }
    // Inside the fixture's transaction.
    let end = sql
        .rfind("COMMIT;")
        .expect("the fixture ends its transaction");
    sql.insert_str(end, &rows);
    sql
}

/// The same with a customer record no crate can read, which the
/// migration's backfill must parse.
pub fn v2_database_with_a_broken_record(postgres: bool) -> String {
    let sql = v2_database(postgres);
    let end = sql.rfind("COMMIT;").unwrap();
    let mut sql = sql;
    sql.insert_str(
        end,
        "INSERT INTO referrals_customers (program, customer, version, record) \
         VALUES ('fixture', 'mangled', 1, '{\"program\":\"fixture\"}');\n",
    );
    sql
}

/// What a migrated store answers: Amira's referees, the review queue and
/// the holds, as the records say, and as the whole state read back from
/// the records answers.
pub async fn lists_what_the_records_say<S: Durable>(store: &S) {
    let p = program();
    let amira = cid("amira");
    let referees: Vec<String> = store
        .recent_referees(&p, &amira, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.customer.to_string())
        .collect();
    assert_eq!(referees, ["chadi", "badr"]);
    let late = chrono::DateTime::<Utc>::MAX_UTC;
    let queue: Vec<Vec<String>> = review_pages(store, &p, late, 1)
        .await
        .into_iter()
        .map(|page| page.into_iter().map(|(id, _)| id.to_string()).collect())
        .collect();
    assert_eq!(queue, [["rw_review_b"], ["rw_review_a"]]);
    // At or before a due time, exactly.
    let due = store
        .due_rewards(&p, Due::Review, at(9, 45, 0, 1), None, 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1, "{due:?}");
    let due = store
        .due_rewards(&p, Due::Review, at(9, 45, 0, 0), None, 10)
        .await
        .unwrap();
    assert!(due.is_empty(), "{due:?}");
    // The version-2 columns are as they were.
    let held = store
        .due_rewards(&p, Due::Release, late, None, 10)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].record.id.as_str(), "rw_held");
    // The columns agree with the records.
    let whole: MemoryState = store.whole().await.unwrap();
    for referrer in ["amira", "badr", "chadi"] {
        assert_eq!(
            store.recent_referees(&p, &cid(referrer), 10).await.unwrap(),
            whole.recent_referees(&p, &cid(referrer), 10),
            "referees of {referrer}"
        );
    }
    for due in [Due::Review, Due::Release, Due::Expiry] {
        assert_eq!(
            store.due_rewards(&p, due, late, None, 10).await.unwrap(),
            whole.due_rewards(&p, due, late, None, 10),
            "{due:?}"
        );
    }
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use referrals::sqlx;
    use referrals::store::{SqliteStore, StoreErrorKind};

    use super::*;
    use crate::durable::lite;

    async fn file_from(sql: &str, path: &std::path::Path) {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true),
            )
            .await
            .unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }

    async fn versions(store: &SqliteStore) -> Vec<i64> {
        sqlx::query_scalar("SELECT version FROM referrals_schema ORDER BY version")
            .fetch_all(store.pool())
            .await
            .unwrap()
    }

    /// Every table and index the store made, with its definition (its
    /// spaces aside: the statements' indentation has changed since the
    /// fixture was written).
    async fn schema(store: &SqliteStore) -> Vec<(String, String, Option<String>)> {
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT type, name, sql FROM sqlite_master
             WHERE name LIKE 'referrals%' OR tbl_name LIKE 'referrals%' ORDER BY name",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        rows.into_iter()
            .map(|(kind, name, sql)| {
                let sql = sql.map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "));
                (kind, name, sql)
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_schema_2_database_migrates_and_lists_referees_and_reviews() {
        let path = lite::dir("migrate").join("v2.db");
        file_from(&v2_database(false), &path).await;
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(versions(&store).await, [2, i64::from(SCHEMA_VERSION)]);
        lists_what_the_records_say(&store).await;
        // The same tables and indexes as a database created at version 3.
        let fresh = lite::fresh_file("migrate-fresh").await;
        assert_eq!(schema(&store).await, schema(&fresh).await);
        assert_eq!(versions(&fresh).await, [i64::from(SCHEMA_VERSION)]);
        // Opening again migrates nothing more.
        store.pool().close().await;
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(versions(&store).await, [2, 3]);
        lists_what_the_records_say(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_migration_that_cannot_read_a_record_leaves_the_file_untouched() {
        let path = lite::dir("migrate-broken").join("v2.db");
        file_from(&v2_database_with_a_broken_record(false), &path).await;
        let before = std::fs::read(&path).unwrap();
        let err = SqliteStore::open(&path).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}");
        assert!(err.to_string().contains("referrals_customers"), "{err}");
        assert!(err.to_string().contains("left untouched"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "the file changed");
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use referrals::sqlx;
    use referrals::store::{PostgresStore, StoreErrorKind};

    use super::*;
    use crate::durable::pg;

    async fn versions(pool: &sqlx::PgPool) -> Vec<i64> {
        sqlx::query_scalar("SELECT version FROM referrals_schema ORDER BY version")
            .fetch_all(pool)
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_a_schema_2_database_migrates_and_lists_referees_and_reviews() {
        let Some(url) = pg::url() else {
            return pg::skipped(
                "postgres_a_schema_2_database_migrates_and_lists_referees_and_reviews",
            );
        };
        let pool = pg::empty(&url, "mig", 2).await;
        sqlx::raw_sql(&v2_database(true))
            .execute(&pool)
            .await
            .unwrap();
        let store = PostgresStore::new(pool.clone()).await.unwrap();
        assert_eq!(versions(&pool).await, [2, i64::from(SCHEMA_VERSION)]);
        lists_what_the_records_say(&store).await;
        // Opening again migrates nothing more.
        let store = PostgresStore::new(pool.clone()).await.unwrap();
        assert_eq!(versions(&pool).await, [2, 3]);
        lists_what_the_records_say(&store).await;
        pool.close().await;
        pg::drop_schemas(&url, "mig").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_a_migration_that_cannot_read_a_record_leaves_the_database_untouched() {
        let Some(url) = pg::url() else {
            return pg::skipped(
                "postgres_a_migration_that_cannot_read_a_record_leaves_the_database_untouched",
            );
        };
        let pool = pg::empty(&url, "migbad", 2).await;
        sqlx::raw_sql(&v2_database_with_a_broken_record(true))
            .execute(&pool)
            .await
            .unwrap();
        let err = PostgresStore::new(pool.clone()).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}");
        assert!(err.to_string().contains("left untouched"), "{err}");
        assert_eq!(versions(&pool).await, [2]);
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = current_schema() AND table_name LIKE 'referrals_identit%'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert!(tables.is_empty(), "{tables:?}");
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'referrals_customers'
             ORDER BY ordinal_position",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(columns, ["program", "customer", "version", "record"]);
        pool.close().await;
        pg::drop_schemas(&url, "migbad").await;
    }
}

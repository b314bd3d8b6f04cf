//! The migrations on both databases. From schema 2: a database of the
//! schema-2 fixture (`tests/fixtures/sqlite-schema-2.sql`), with rows a
//! version-2 crate would have written beside it (a second referee, rewards
//! held for review or not), opens at the crate's version with the new
//! columns filled from the records: its referees and its review queue are
//! listed, as the records say. From schema 3: the schema-3 fixture with
//! orders a version-3 crate wrote beside it opens with each order listed
//! under its buyer. A migration that cannot read a record leaves the
//! database as it was.

use chrono::{DateTime, TimeZone, Utc};
use referrals::ledger::HoldReason;
use referrals::model::{Conversion, OrderId, ProgramId};
use referrals::store::{
    ConversionRecord, CustomerRecord, Due, MemoryState, Reward, SCHEMA_VERSION,
};
use referrals::{Currency, Money};

use super::identity::{Durable, cid, customer, pid, review, review_pages, reward};

pub const FIXTURE_V2: &str = include_str!("../fixtures/sqlite-schema-2.sql");
pub const FIXTURE_V3: &str = include_str!("../fixtures/sqlite-schema-3.sql");

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

/// A fixture as SQL for SQLite or PostgreSQL, with `rows` inserted inside
/// its transaction.
fn fixture_sql(fixture: &str, postgres: bool, rows: &str) -> String {
    let mut sql = String::new();
    for line in fixture.lines() {
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
    // Inside the fixture's transaction.
    let end = sql
        .rfind("COMMIT;")
        .expect("the fixture ends its transaction");
    sql.insert_str(end, rows);
    sql
}

/// The fixture and the rows above, as SQL both databases run: the
/// columns a version-2 crate wrote, nothing of version 3.
pub fn v2_database(postgres: bool) -> String {
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
    fixture_sql(FIXTURE_V2, postgres, &rows)
}

/// The orders a version-3 crate kept beside the schema-3 fixture's
/// (Badr's `order-badr-1`, referred by Amira at 10:00): Badr's second,
/// unreferred, and an earlier one of his in key order but later in time;
/// Chadi's, referred by Badr, a time with nanoseconds.
fn orders() -> Vec<ConversionRecord> {
    let order =
        |id: &str, buyer: &str, referrer: Option<&str>, at: DateTime<Utc>| ConversionRecord {
            program: program(),
            conversion: Conversion {
                order: OrderId::new(id).unwrap(),
                customer: cid(buyer),
                amount: Money::new(4_500, Currency::SAR),
                at,
            },
            referrer: referrer.map(cid),
            credits: Vec::new(),
            payouts: Vec::new(),
            withheld: Vec::new(),
            refund_count: 0,
            refunded: Money::new(0, Currency::SAR),
            fully_refunded_at: None,
            screening: None,
        };
    vec![
        order("order-badr-0", "badr", None, at(12, 0, 0, 0)),
        order("order-badr-2", "badr", None, at(11, 0, 0, 1)),
        order(
            "order-chadi-1",
            "chadi",
            Some("badr"),
            at(10, 0, 0, 123_456_789),
        ),
    ]
}

/// The orders above as a version-3 crate wrote them: no buyer column.
fn order_rows(orders: &[ConversionRecord]) -> String {
    let mut rows = String::new();
    for o in orders {
        rows.push_str(&format!(
            "INSERT INTO referrals_conversions (program, order_id, referrer, at_s, at_ns, \
             version, record) VALUES ('fixture', {}, {}, {}, 1, {});\n",
            quoted(o.conversion.order.as_str()),
            o.referrer
                .as_ref()
                .map_or("NULL".to_owned(), |r| quoted(r.as_str())),
            time_sql(Some(o.conversion.at)),
            quoted(&serde_json::to_string(o).unwrap()),
        ));
    }
    rows
}

/// The schema-3 fixture and the orders above, as SQL both databases run.
pub fn v3_database(postgres: bool) -> String {
    fixture_sql(FIXTURE_V3, postgres, &order_rows(&orders()))
}

/// The same with an order no crate can read, which the migration's
/// backfill must parse.
pub fn v3_database_with_a_broken_record(postgres: bool) -> String {
    let mut rows = order_rows(&orders());
    rows.push_str(
        "INSERT INTO referrals_conversions (program, order_id, referrer, at_s, at_ns, \
         version, record) VALUES ('fixture', 'mangled', NULL, 0, 0, 1, '{\"program\":\"fixture\"}');\n",
    );
    fixture_sql(FIXTURE_V3, postgres, &rows)
}

/// What a store migrated from schema 3 answers: each buyer's orders, in
/// time order, as the records say (and as the whole state read back from
/// the records answers); referred orders are still listed by referrer.
pub async fn lists_orders_by_buyer<S: Durable>(store: &S) {
    let p = program();
    let orders_of = async |buyer: &str| -> Vec<String> {
        store
            .customer_conversions(&p, &cid(buyer))
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.conversion.order.to_string())
            .collect()
    };
    assert_eq!(
        orders_of("badr").await,
        ["order-badr-1", "order-badr-2", "order-badr-0"]
    );
    assert_eq!(orders_of("chadi").await, ["order-chadi-1"]);
    assert!(orders_of("amira").await.is_empty());
    let chadi = store.customer_conversions(&p, &cid("chadi")).await.unwrap();
    assert_eq!(chadi, [orders().remove(2)]);
    let whole: MemoryState = store.whole().await.unwrap();
    for customer in ["amira", "badr", "chadi", "Badr"] {
        assert_eq!(
            store
                .customer_conversions(&p, &cid(customer))
                .await
                .unwrap(),
            whole.customer_conversions(&p, &cid(customer)),
            "orders of {customer}"
        );
        assert_eq!(
            store
                .referred_conversions(&p, &cid(customer))
                .await
                .unwrap(),
            whole.referred_conversions(&p, &cid(customer)),
            "orders referred by {customer}"
        );
    }
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
        lite::database_from_sql(&path, &v2_database(false)).await;
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(versions(&store).await, [2, 3, i64::from(SCHEMA_VERSION)]);
        lists_what_the_records_say(&store).await;
        // The same tables and indexes as a database created at the crate's
        // version.
        let fresh = lite::fresh_file("migrate-fresh").await;
        assert_eq!(schema(&store).await, schema(&fresh).await);
        assert_eq!(versions(&fresh).await, [i64::from(SCHEMA_VERSION)]);
        // Opening again migrates nothing more.
        store.pool().close().await;
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(versions(&store).await, [2, 3, 4]);
        lists_what_the_records_say(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_schema_3_database_migrates_and_lists_orders_by_buyer() {
        let path = lite::dir("migrate3").join("v3.db");
        lite::database_from_sql(&path, &v3_database(false)).await;
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(versions(&store).await, [3, i64::from(SCHEMA_VERSION)]);
        lists_orders_by_buyer(&store).await;
        let fresh = lite::fresh_file("migrate3-fresh").await;
        assert_eq!(schema(&store).await, schema(&fresh).await);
        // Opening again migrates nothing more.
        store.pool().close().await;
        let store = SqliteStore::open(&path).await.unwrap();
        assert_eq!(versions(&store).await, [3, 4]);
        lists_orders_by_buyer(&store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_migration_from_3_that_cannot_read_an_order_leaves_the_file_untouched() {
        let path = lite::dir("migrate3-broken").join("v3.db");
        lite::database_from_sql(&path, &v3_database_with_a_broken_record(false)).await;
        let before = std::fs::read(&path).unwrap();
        let err = SqliteStore::open(&path).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}");
        assert!(err.to_string().contains("referrals_conversions"), "{err}");
        assert!(err.to_string().contains("left untouched"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "the file changed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_migration_that_cannot_read_a_record_leaves_the_file_untouched() {
        let path = lite::dir("migrate-broken").join("v2.db");
        lite::database_from_sql(&path, &v2_database_with_a_broken_record(false)).await;
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
        assert_eq!(versions(&pool).await, [2, 3, i64::from(SCHEMA_VERSION)]);
        lists_what_the_records_say(&store).await;
        // Opening again migrates nothing more.
        let store = PostgresStore::new(pool.clone()).await.unwrap();
        assert_eq!(versions(&pool).await, [2, 3, 4]);
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_a_schema_3_database_migrates_and_lists_orders_by_buyer() {
        let Some(url) = pg::url() else {
            return pg::skipped("postgres_a_schema_3_database_migrates_and_lists_orders_by_buyer");
        };
        let pool = pg::empty(&url, "mig3", 2).await;
        sqlx::raw_sql(&v3_database(true))
            .execute(&pool)
            .await
            .unwrap();
        let store = PostgresStore::new(pool.clone()).await.unwrap();
        assert_eq!(versions(&pool).await, [3, i64::from(SCHEMA_VERSION)]);
        lists_orders_by_buyer(&store).await;
        // Opening again migrates nothing more.
        let store = PostgresStore::new(pool.clone()).await.unwrap();
        assert_eq!(versions(&pool).await, [3, 4]);
        lists_orders_by_buyer(&store).await;
        pool.close().await;
        pg::drop_schemas(&url, "mig3").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_a_migration_from_3_that_cannot_read_an_order_leaves_the_database_untouched() {
        let Some(url) = pg::url() else {
            return pg::skipped(
                "postgres_a_migration_from_3_that_cannot_read_an_order_leaves_the_database_untouched",
            );
        };
        let pool = pg::empty(&url, "mig3bad", 2).await;
        sqlx::raw_sql(&v3_database_with_a_broken_record(true))
            .execute(&pool)
            .await
            .unwrap();
        let err = PostgresStore::new(pool.clone()).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}");
        assert!(err.to_string().contains("referrals_conversions"), "{err}");
        assert!(err.to_string().contains("left untouched"), "{err}");
        assert_eq!(versions(&pool).await, [3]);
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'referrals_conversions'
             ORDER BY ordinal_position",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        assert_eq!(
            columns,
            [
                "program", "order_id", "referrer", "at_s", "at_ns", "version", "record"
            ]
        );
        pool.close().await;
        pg::drop_schemas(&url, "mig3bad").await;
    }
}

//! SQLite files: data outlives the process, a database written by an
//! earlier schema version opens (and migrates), a newer one is refused
//! untouched, and files that are not databases, are cut short or cannot
//! be created fail with typed errors instead of panics.

use std::path::Path;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use referrals::Store;
use referrals::engine::ConversionOutcome;
use referrals::fraud::identity::{IdentityKind, KeyId, SignalHash};
use referrals::model::{Conversion, CustomerId, EventId, OrderId, Signup};
use referrals::sqlx;
use referrals::store::{
    CommitPlan, IdentityRecord, SeenSignal, SqliteStore, StoreErrorKind, Write,
};
use referrals::{Currency, Engine, Money, Program};

use super::lite;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

/// The program the fixture was written with.
fn program() -> Program {
    Program::builder("fixture", "Fixture bakery")
        .currency(Currency::SAR)
        .two_sided_reward(sar(1_500), sar(1_000))
        .build()
        .unwrap()
}

fn cid(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

fn order(referee: &str, n: u32) -> Conversion {
    Conversion {
        order: OrderId::new(format!("order-{referee}-{n}")).unwrap(),
        customer: cid(referee),
        amount: sar(12_000),
        at: t0() + TimeDelta::hours(1),
    }
}

/// Amira refers `referee`, who signs up with her code and buys.
async fn refer(engine: &Engine<SqliteStore>, referee: &str) -> ConversionOutcome {
    let code = engine
        .issue_code(&cid("amira"), t0())
        .await
        .unwrap()
        .record
        .code;
    engine
        .record_signup(&Signup {
            id: EventId::new(format!("signup-{referee}")).unwrap(),
            customer: cid(referee),
            visitor: None,
            code: Some(code),
            channel: None,
            at: t0(),
        })
        .await
        .unwrap();
    engine.record_conversion(&order(referee, 1)).await.unwrap()
}

/// The fixtures: databases written by each durable schema version, as SQL
/// text (`tests/fixtures/sqlite-schema-N.sql`), each kept as its version
/// wrote it. Amira referred Badr, who bought once. A new version's is
/// written by the crate of that version with
/// `REFERRALS_WRITE_FIXTURE=/tmp/f.db cargo test --all-features --test lib write_the_schema_fixture -- --ignored`
/// and `python3 -c "import sqlite3; print('\n'.join(sqlite3.connect('/tmp/f.db').iterdump()))" > tests/fixtures/sqlite-schema-N.sql`.
const FIXTURE_V2: &str = include_str!("../fixtures/sqlite-schema-2.sql");
const FIXTURE_V3: &str = include_str!("../fixtures/sqlite-schema-3.sql");
const FIXTURE_V4: &str = include_str!("../fixtures/sqlite-schema-4.sql");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the schema fixture; run by hand when a new schema version is released"]
async fn write_the_schema_fixture() {
    let path = std::env::var("REFERRALS_WRITE_FIXTURE").expect("REFERRALS_WRITE_FIXTURE=<path>");
    let engine = Engine::new(SqliteStore::open(&path).await.unwrap(), program());
    assert!(matches!(
        refer(&engine, "badr").await,
        ConversionOutcome::Rewarded { .. }
    ));
    // Since version 3: an identity record and its hash rows.
    engine
        .store()
        .commit(CommitPlan {
            idempotency: None,
            writes: vec![Write::PutIdentity {
                record: badr_identity(),
                expected: 0,
            }],
        })
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(engine.store().pool())
        .await
        .unwrap();
}

/// Badr's identity in the fixtures of version 3 on: an e-mail and a
/// network, first seen at signup.
fn badr_identity() -> IdentityRecord {
    let mut signals: Vec<SeenSignal> =
        [(IdentityKind::Email, 0xB0), (IdentityKind::IpPrefix, 0xB1)]
            .into_iter()
            .map(|(kind, byte)| SeenSignal {
                hash: SignalHash {
                    kind,
                    key: KeyId::new(1),
                    digest: [byte; 32],
                },
                first_seen: t0(),
            })
            .collect();
    signals.sort();
    IdentityRecord {
        program: program().id().clone(),
        customer: cid("badr"),
        signals,
        disposable_email: false,
    }
}

/// Each fixture opens (migrating it when older) with what its crate
/// wrote, answers a replay as before and goes on; `referrals_schema`
/// records the versions it went through.
async fn a_fixture_opens_and_goes_on(fixture: &str, versions_after: &[i64]) {
    let path = lite::dir("fixture").join("old.db");
    lite::database_from_sql(&path, fixture).await;
    let engine = Engine::new(SqliteStore::open(&path).await.unwrap(), program());
    // What the earlier crate wrote is read back.
    assert_eq!(engine.balance(&cid("amira")).await.unwrap(), sar(1_500));
    assert_eq!(engine.balance(&cid("badr")).await.unwrap(), sar(1_000));
    // A retried event answers as before and pays nothing more.
    let replay = engine.record_conversion(&order("badr", 1)).await.unwrap();
    assert!(
        matches!(replay, ConversionOutcome::Rewarded { .. }),
        "{replay:?}"
    );
    assert_eq!(engine.balance(&cid("amira")).await.unwrap(), sar(1_500));
    // And the program goes on.
    assert!(matches!(
        refer(&engine, "chadi").await,
        ConversionOutcome::Rewarded { .. }
    ));
    assert_eq!(engine.balance(&cid("amira")).await.unwrap(), sar(3_000));
    let versions: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM referrals_schema ORDER BY version")
            .fetch_all(engine.store().pool())
            .await
            .unwrap();
    let versions: Vec<i64> = versions.into_iter().map(|(v,)| v).collect();
    assert_eq!(versions, versions_after);
    // Amira's referees: Badr from the old database (a backfilled column
    // when it migrated), Chadi from this crate; same signup time, so by
    // id.
    let store = engine.store();
    let p = program().id().clone();
    let referees: Vec<String> = store
        .recent_referees(&p, &cid("amira"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.customer.to_string())
        .collect();
    assert_eq!(referees, ["badr", "chadi"]);
    // Each buyer's orders: Badr's from the old database (a backfilled
    // column when it migrated), Chadi's from this crate.
    for buyer in ["badr", "chadi"] {
        let orders: Vec<String> = store
            .customer_conversions(&p, &cid(buyer))
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.conversion.order.to_string())
            .collect();
        assert_eq!(orders, [format!("order-{buyer}-1")]);
    }
    assert!(
        store
            .customer_conversions(&p, &cid("amira"))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_the_first_schema_version_migrates_and_goes_on() {
    assert_eq!(referrals::store::SCHEMA_VERSION, 4);
    a_fixture_opens_and_goes_on(FIXTURE_V2, &[2, 3, 4]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_schema_version_3_opens_and_goes_on() {
    a_fixture_opens_and_goes_on(FIXTURE_V3, &[3, 4]).await;
    identity_reads_back(FIXTURE_V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_schema_version_4_opens_and_goes_on() {
    a_fixture_opens_and_goes_on(FIXTURE_V4, &[4]).await;
    identity_reads_back(FIXTURE_V4).await;
}

/// Badr's identity record and hash rows in a fixture of version 3 on read
/// back.
async fn identity_reads_back(fixture: &str) {
    let path = lite::dir("fixture-identity").join("old.db");
    lite::database_from_sql(&path, fixture).await;
    let store = SqliteStore::open(&path).await.unwrap();
    let p = program().id().clone();
    let badr = store.identity(&p, &cid("badr")).await.unwrap().unwrap();
    assert_eq!((badr.version, &badr.record), (1, &badr_identity()));
    for signal in &badr.record.signals {
        let matches = store.identity_matches(&p, &signal.hash, 10).await.unwrap();
        assert_eq!(matches.len(), 1, "{matches:?}");
        assert_eq!(matches[0].customer, cid("badr"));
        assert_eq!(matches[0].first_seen, t0());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_story_survives_closing_and_reopening_the_file() {
    let path = lite::dir("reopen").join("referrals.db");
    {
        let engine = Engine::new(SqliteStore::open(&path).await.unwrap(), program());
        refer(&engine, "badr").await;
        engine.store().pool().close().await;
    }
    let engine = Engine::new(SqliteStore::open(&path).await.unwrap(), program());
    assert_eq!(engine.balance(&cid("amira")).await.unwrap(), sar(1_500));
    assert_eq!(engine.balance(&cid("badr")).await.unwrap(), sar(1_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_a_newer_schema_is_refused_and_left_untouched() {
    let path = lite::dir("newer").join("referrals.db");
    {
        let store = SqliteStore::open(&path).await.unwrap();
        // The next version, as the crate that writes it will record it.
        sqlx::query("INSERT INTO referrals_schema (version, migrated_at_s) VALUES ($1, 0)")
            .bind(i64::from(referrals::store::SCHEMA_VERSION) + 1)
            .execute(store.pool())
            .await
            .unwrap();
        store.pool().close().await;
        // `close` can return with a connection still open, left in the
        // closed pool's idle queue (sqlx #3217); dropping the store drops
        // it, closed on sqlx's worker thread a moment later.
        drop(store);
        // As a newer crate (or a host's own pool) might leave it: in
        // rollback-journal mode, which opening must not switch to WAL.
        let one = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
            .await
            .unwrap();
        // Leaving WAL mode needs the file to itself: wait for that last
        // connection (without, this failed about one run in six).
        let mut mode = String::new();
        for _ in 0..500 {
            match sqlx::query_as::<_, (String,)>("PRAGMA journal_mode = DELETE")
                .fetch_one(&one)
                .await
            {
                Ok((m,)) => {
                    mode = m;
                    break;
                }
                Err(e) if e.to_string().contains("database is locked") => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(mode, "delete");
        one.close().await;
    }
    let before = std::fs::read(&path).unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}");
    let newer = format!("version {}", referrals::store::SCHEMA_VERSION + 1);
    assert!(err.to_string().contains(&newer), "{err}");
    assert!(err.to_string().contains("newer"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the refused file changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_database_is_a_typed_error() {
    let path = lite::dir("garbage").join("notes.txt");
    std::fs::write(
        &path,
        "These are not the records you are looking for.\n".repeat(200),
    )
    .unwrap();
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}");
    assert!(err.to_string().contains("not a database"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_database_fails_with_typed_errors_and_no_partial_state() {
    let path = lite::dir("truncated").join("referrals.db");
    {
        let engine = Engine::new(SqliteStore::open(&path).await.unwrap(), program());
        for i in 0..40 {
            refer(&engine, &format!("referee-{i}")).await;
        }
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(engine.store().pool())
            .await
            .unwrap();
        engine.store().pool().close().await;
    }
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);
    // Opening may notice at once, or a later read does: either way an
    // error with a kind, never a panic or a made-up answer.
    match SqliteStore::open(&path).await {
        Err(err) => assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}"),
        Ok(store) => {
            let engine = Engine::new(store, program());
            let mut failed = false;
            for i in 0..40 {
                match engine.balance(&cid(&format!("referee-{i}"))).await {
                    Ok(m) => assert!(m == sar(1_000) || m == sar(0), "{m:?}"),
                    Err(_) => failed = true,
                }
            }
            let err = engine.balance(&cid("amira")).await;
            assert!(failed || err.is_err(), "half a database read back as whole");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_cannot_be_created_is_a_typed_error() {
    // A directory the process may not write in. Root may write anywhere
    // chmod forbids, but not in /proc.
    let dir = lite::dir("readonly");
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let path = if root {
        Path::new("/proc/referrals-cannot-be-here.db").to_path_buf()
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        dir.join("referrals.db")
    };
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}");
    assert!(err.to_string().contains("opening SQLite database"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_url_given_as_a_path_says_what_to_do_instead() {
    for url in ["sqlite://referrals.db", "sqlite::memory:"] {
        let err = SqliteStore::open(url).await.unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Backend, "{err}");
        assert!(
            err.to_string().contains("takes a file path, not a URL"),
            "{err}"
        );
        assert!(
            !Path::new("sqlite:").exists(),
            "a directory named after the URL was made"
        );
    }
}

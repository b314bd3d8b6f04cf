//! The durable stores against the whole conformance suite: SQLite on a
//! file and in memory (feature `sqlite`), PostgreSQL at READ COMMITTED and
//! SERIALIZABLE (feature `postgres`, and `REFERRALS_TEST_POSTGRES_URL` set:
//! without it those tests say they skipped and pass).

#[cfg(feature = "postgres")]
pub mod pg {
    //! A fresh PostgreSQL schema per store, so every clause starts empty.

    use std::sync::atomic::{AtomicU64, Ordering};

    use referrals::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
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
        let pool = empty(url, tag, connections).await;
        PostgresStore::with_isolation(pool, isolation)
            .await
            .expect("the store opens on an empty schema")
    }

    /// A pool over a new, empty schema (no store opened on it yet), named
    /// after `tag` as [`fresh`]'s are.
    pub async fn empty(url: &str, tag: &str, connections: u32) -> PgPool {
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
        PgPoolOptions::new()
            .max_connections(connections)
            .connect_with(base.options([("search_path", schema.as_str())]))
            .await
            .expect("the test server answers")
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

    /// A new database file at `path` holding what `sql` builds (a schema
    /// fixture, an older version's database).
    pub async fn database_from_sql(path: &std::path::Path, sql: &str) {
        use referrals::sqlx;
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

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod histories;

#[cfg(feature = "sqlite")]
mod files;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod identity;

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod migration;

#[cfg(feature = "sqlite")]
mod crash;

#[cfg(feature = "postgres")]
mod outage;

/// A service's role with data rights only (no CREATE, as PostgreSQL 15
/// gives ordinary roles on `public`) opens a database whose schema is
/// current, and runs the program.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_opens_for_a_role_that_may_not_create_tables() {
    use referrals::sqlx;
    let Some(url) = pg::url() else {
        return pg::skipped("postgres_store_opens_for_a_role_that_may_not_create_tables");
    };
    let owner = pg::fresh(&url, "role", referrals::store::Isolation::ReadCommitted, 2).await;
    let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(owner.pool())
        .await
        .unwrap();
    let role = format!("referrals_app_{}", std::process::id());
    for statement in [
        format!("DROP ROLE IF EXISTS {role}"),
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT USAGE ON SCHEMA {schema} TO {role}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"),
    ] {
        sqlx::query(&statement).execute(owner.pool()).await.unwrap();
    }
    let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect_with(
            options
                .username(&role)
                .options([("search_path", schema.as_str())]),
        )
        .await
        .unwrap();
    let store = referrals::store::PostgresStore::new(pool)
        .await
        .expect("a data-only role opens a current schema");
    let sar = |minor| referrals::Money::new(minor, referrals::Currency::SAR);
    let program = referrals::Program::builder("role", "Role bakery")
        .currency(referrals::Currency::SAR)
        .two_sided_reward(sar(1_500), sar(1_000))
        .build()
        .unwrap();
    let engine = referrals::Engine::new(store, program);
    let at = chrono::DateTime::from_timestamp(1_772_355_600, 0).unwrap();
    let amira = referrals::model::CustomerId::new("amira").unwrap();
    engine.issue_code(&amira, at).await.unwrap();
    engine.store().pool().close().await;
    owner.pool().close().await;
    pg::drop_schemas(&url, "role").await;
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    sqlx::query(&format!("DROP ROLE IF EXISTS {role}"))
        .execute(&admin)
        .await
        .unwrap();
}

//! Conversions per second on the durable stores, with 1 and 8 concurrent
//! tasks, beside the databases' own speed on the same machine:
//!
//! - SQLite: a bare loop over the same driver (sqlx) that commits one row
//!   per `BEGIN IMMEDIATE` transaction, with the same WAL and
//!   `synchronous=NORMAL` settings the store uses.
//! - PostgreSQL: compare with `pgbench`'s built-in TPC-B-like transactions
//!   at the same number of clients (`benches/durable/pgbench.sh` runs both
//!   side by side).
//!
//! ```sh
//! cargo run --release --all-features --example store_speed -- sqlite 2000
//! REFERRALS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run --release --all-features --example store_speed -- postgres 2000
//! ```
//!
//! A conversion here is a referee's first order, paying both sides (two
//! rewards, two ledger entries, two balances, the idempotency record, the
//! conversion and the customer), after the signups were recorded.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use referrals::engine::ConversionOutcome;
use referrals::model::{Conversion, CustomerId, EventId, OrderId, Signup};
use referrals::sqlx;
use referrals::store::{PostgresStore, SqliteStore};
use referrals::{Currency, Engine, Money, Program, Store};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn program() -> Program {
    Program::builder("speed", "Speed bakery")
        .currency(Currency::SAR)
        .two_sided_reward(
            Money::new(1_500, Currency::SAR),
            Money::new(1_000, Currency::SAR),
        )
        .build()
        .unwrap()
}

fn conversion(run: &str, i: usize) -> Conversion {
    Conversion {
        order: OrderId::new(format!("{run}-order-{i}")).unwrap(),
        customer: CustomerId::new(format!("{run}-referee-{i}")).unwrap(),
        amount: Money::new(12_000, Currency::SAR),
        at: t0() + TimeDelta::hours(1),
    }
}

/// `referee` of `run` signs up with `referrer`'s code (issued if new).
async fn sign_up<S: Store>(engine: &Engine<S>, run: &str, i: usize, referrer: &CustomerId) {
    let code = engine.issue_code(referrer, t0()).await.unwrap().record.code;
    engine
        .record_signup(&Signup {
            id: EventId::new(format!("{run}-signup-{i}")).unwrap(),
            customer: CustomerId::new(format!("{run}-referee-{i}")).unwrap(),
            visitor: None,
            code: Some(code),
            channel: None,
            at: t0(),
        })
        .await
        .unwrap();
}

/// The referee's first order, which must pay.
async fn convert<S: Store>(engine: &Engine<S>, run: &str, i: usize) {
    let outcome = engine.record_conversion(&conversion(run, i)).await.unwrap();
    assert!(matches!(outcome, ConversionOutcome::Rewarded { .. }));
}

/// Runs `step(i)` for `i` in `0..n`, spread over `tasks` tasks; steps per
/// second.
async fn per_second<F, Fut>(n: usize, tasks: usize, step: F) -> f64
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let step = step.clone();
            tokio::spawn(async move {
                for i in (t..n).step_by(tasks) {
                    step(i).await;
                }
            })
        })
        .collect();
    for h in handles {
        h.await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Signs `n` referees up (100 referrers), untimed; then times their first
/// orders on `tasks` tasks. Conversions per second.
async fn conversions<S: Store + 'static>(
    engine: Arc<Engine<S>>,
    run: &str,
    n: usize,
    tasks: usize,
) -> f64 {
    for i in 0..n {
        let referrer = CustomerId::new(format!("{run}-referrer-{}", i % 100)).unwrap();
        sign_up(&engine, run, i, &referrer).await;
    }
    let run = run.to_owned();
    per_second(n, tasks, move |i| {
        let (engine, run) = (Arc::clone(&engine), run.clone());
        async move { convert(&engine, &run, i).await }
    })
    .await
}

/// Whole referrals on `tasks` tasks: a new referrer's code, the
/// referee's signup with it, and the first order. Referrals per second.
async fn referrals<S: Store + 'static>(
    engine: Arc<Engine<S>>,
    run: &str,
    n: usize,
    tasks: usize,
) -> f64 {
    let run = run.to_owned();
    per_second(n, tasks, move |i| {
        let (engine, run) = (Arc::clone(&engine), run.clone());
        async move {
            let referrer = CustomerId::new(format!("{run}-referrer-{i}")).unwrap();
            sign_up(&engine, &run, i, &referrer).await;
            convert(&engine, &run, i).await;
        }
    })
    .await
}

/// The bare loop: one row per `BEGIN IMMEDIATE` transaction, on `tasks`
/// tasks. Commits per second.
async fn sqlite_bare(pool: &sqlx::SqlitePool, n: usize, tasks: usize) -> f64 {
    sqlx::query("CREATE TABLE IF NOT EXISTS bare (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        .execute(pool)
        .await
        .unwrap();
    let pool = pool.clone();
    per_second(n, tasks, move |i| {
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.unwrap();
            sqlx::query("INSERT INTO bare (body) VALUES ($1)")
                .bind(format!("row {i}"))
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
    })
    .await
}

/// Point reads by primary key through the pool, one after another: what
/// one statement's round trip to sqlx's connection thread costs. Reads per
/// second.
async fn sqlite_point_reads(pool: &sqlx::SqlitePool, n: usize) -> f64 {
    let started = Instant::now();
    for i in 0..n {
        let _: Option<(String,)> = sqlx::query_as("SELECT body FROM bare WHERE id = $1")
            .bind((i % 100 + 1) as i64)
            .fetch_optional(pool)
            .await
            .unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// The same reads on one connection held throughout: what the pool's
/// checkout adds to each.
async fn sqlite_point_reads_held(pool: &sqlx::SqlitePool, n: usize) -> f64 {
    let mut conn = pool.acquire().await.unwrap();
    let started = Instant::now();
    for i in 0..n {
        let _: Option<(String,)> = sqlx::query_as("SELECT body FROM bare WHERE id = $1")
            .bind((i % 100 + 1) as i64)
            .fetch_optional(&mut *conn)
            .await
            .unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "sqlite".to_owned());
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(500);
    match which.as_str() {
        "sqlite" => {
            let dir = std::env::temp_dir().join(format!("referrals-speed-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            for tasks in [1, 8] {
                let store = SqliteStore::open(dir.join(format!("store-{tasks}.db")))
                    .await
                    .unwrap();
                let bare_pool = referrals::store::SqliteOptions::default()
                    .connect_options(dir.join(format!("bare-{tasks}.db")));
                let bare_pool = sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(bare_pool)
                    .await
                    .unwrap();
                let bare = sqlite_bare(&bare_pool, n, tasks).await;
                if tasks == 1 {
                    let reads = sqlite_point_reads(&bare_pool, n).await;
                    let held = sqlite_point_reads_held(&bare_pool, n).await;
                    println!(
                        "sqlite: {reads:.0} point reads/s through the pool, {held:.0}/s on one held connection"
                    );
                }
                let ours =
                    conversions(Arc::new(Engine::new(store, program())), "s", n, tasks).await;
                println!(
                    "sqlite, {tasks} task(s): {ours:.0} conversions/s; bare one-row commits {bare:.0}/s; ratio {:.2}",
                    ours / bare
                );
            }
            let _ = std::fs::remove_dir_all(&dir);
        }
        "postgres" => {
            let url = std::env::var("REFERRALS_TEST_POSTGRES_URL")
                .expect("set REFERRALS_TEST_POSTGRES_URL to a database this may write to");
            // A schema of its own, emptied first: nothing else is touched.
            let admin = sqlx::postgres::PgPoolOptions::new()
                .max_connections(1)
                .connect(&url)
                .await
                .unwrap();
            sqlx::raw_sql(
                "DROP SCHEMA IF EXISTS referrals_speed CASCADE; CREATE SCHEMA referrals_speed",
            )
            .execute(&admin)
            .await
            .unwrap();
            let options: sqlx::postgres::PgConnectOptions = url.parse().unwrap();
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(8)
                // As the README recommends: a broken connection is an
                // `Unavailable` error the caller retries, so no ping (a
                // round trip) before every read.
                .test_before_acquire(false)
                .connect_with(options.options([("search_path", "referrals_speed")]))
                .await
                .unwrap();
            let store = Arc::new(Engine::new(
                PostgresStore::new(pool).await.unwrap(),
                program(),
            ));
            for tasks in [1, 8] {
                let whole = referrals(Arc::clone(&store), &format!("w{tasks}"), n, tasks).await;
                let ours = conversions(Arc::clone(&store), &format!("p{tasks}"), n, tasks).await;
                println!(
                    "postgres, {tasks} client(s): {whole:.0} whole referrals/s, {ours:.0} conversions/s"
                );
            }
            sqlx::query("DROP SCHEMA referrals_speed CASCADE")
                .execute(&admin)
                .await
                .unwrap();
        }
        other => panic!("unknown store {other}: sqlite or postgres"),
    }
}
